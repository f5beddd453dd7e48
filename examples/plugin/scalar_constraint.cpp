// An example out-of-tree plugin: "ScalarConstraint", the maps ρ → ρ that are multiples of the identity.
// They commute with every group action, so this is the smallest correct constraint; a layer asks for
// it by name exactly as it asks for CommutingConstraint.
#include <ATen/core/Tensor.h>
#include <ATen/ops/eye.h>

#include <cmath>
#include <memory>
#include <string>

#include <eqnn/registry/plugin.hpp>
#include <eqnn/util/error.hpp>

namespace {

class ScalarConstraint final : public eqnn::Constraint {
 public:
  explicit ScalarConstraint(int64_t size) : size_(size) {}
  std::string name() const override { return "ScalarConstraint"; }
  std::string method() const override { return "scalar"; }
  std::vector<int64_t> shape() const override { return {size_, size_}; }
  int64_t dim() const override { return 1; }
  // (..., 1) → (..., n, n): θ·I/√n, in the Frobenius-orthonormal basis {I/√n}.
  at::Tensor expand(const at::Tensor& coefficients) const override {
    return coefficients.unsqueeze(-1)
        .mul(at::eye(size_, coefficients.options()))
        .div(std::sqrt(double(size_)));
  }
  // Adjoint of expand: (..., n, n) → (..., 1), tr(W)/√n; expand ∘ analyse is idempotent.
  at::Tensor analyse(const at::Tensor& constrained) const override {
    return constrained.diagonal(0, -2, -1).sum(-1, /*keepdim=*/true).div(std::sqrt(double(size_)));
  }
  at::Tensor sample(eqnn::InitScheme, const at::TensorOptions& options) const override {
    return at::eye(1, options).reshape({1});
  }

 private:
  int64_t size_;
};

void register_all(eqnn::Registrar& registrar) {
  registrar.add_constraint(
      "ScalarConstraint", [](const eqnn::ConstraintRequest& request) -> eqnn::ConstraintPtr {
        if (!request.in_rep || !request.out_rep || request.in_rep->size() != request.out_rep->size()) {
          throw eqnn::ConfigError("ScalarConstraint maps a representation to one of the same size");
        }
        return std::make_shared<ScalarConstraint>(request.in_rep->size());
      });
}

}  // namespace

EQNN_PLUGIN("example_scalar_constraint", "0.1.0", register_all)
