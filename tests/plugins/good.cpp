// A well-formed test plugin: one constraint, one group type and one layer name. Built with
// -fno-gnu-unique; the lifetime test keeps its objects after the registry is destroyed.
#include <memory>
#include <string>

#include "eqnn/registry/plugin.hpp"

namespace {

class TestConstraint final : public eqnn::Constraint {
 public:
  explicit TestConstraint(int64_t size)
      : label_("TestConstraint of size " + std::to_string(size)), size_(size) {}
  std::string name() const override { return label_; }
  std::string method() const override { return "test"; }
  std::vector<int64_t> shape() const override { return {size_, size_}; }
  int64_t dim() const override { return size_; }
  at::Tensor expand(const at::Tensor& coefficients) const override { return coefficients; }
  at::Tensor analyse(const at::Tensor& constrained) const override { return constrained; }
  at::Tensor sample(eqnn::InitScheme, const at::TensorOptions&) const override { return at::Tensor(); }

 private:
  std::string label_;
  int64_t size_;
};

void register_all(eqnn::Registrar& registrar) {
  registrar.add_constraint("TestConstraint", [](const eqnn::ConstraintRequest&) -> eqnn::ConstraintPtr {
    return std::make_shared<TestConstraint>(3);
  });
  eqnn::GroupType type;
  type.name = "TestGroup";
  type.parameters = "n: integer";
  type.short_names = {"T3"};
  type.make = [](const YAML::Node&, const eqnn::Registry&) { return eqnn::GroupPtr(); };
  registrar.add_group_type(std::move(type));
  registrar.add_layer("TestLayer", [](const eqnn::LayerArgs&) { return std::shared_ptr<eqnn::Layer>(); });
}

}  // namespace

EQNN_PLUGIN("test_good", "1.2.3", register_all)
