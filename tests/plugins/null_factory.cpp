// Registers a constraint, a group type and a layer whose factories return null: each use must be an
// error naming this plugin and the registered name, never a null pointer handed to the caller. And a
// layer whose factory throws eqnn::ConfigError, which the host must catch as that very type.
#include <memory>

#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"

namespace {

void register_all(eqnn::Registrar& registrar) {
  registrar.add_constraint("NullConstraint",
                           [](const eqnn::ConstraintRequest&) { return eqnn::ConstraintPtr(); });
  eqnn::GroupType type;
  type.name = "NullGroup";
  type.parameters = "none";
  type.make = [](const YAML::Node&, const eqnn::Registry&) { return eqnn::GroupPtr(); };
  registrar.add_group_type(std::move(type));
  registrar.add_layer("NullLayer", [](const eqnn::LayerArgs&) { return std::shared_ptr<eqnn::Layer>(); });
  registrar.add_layer("RefusingLayer", [](const eqnn::LayerArgs&) -> std::shared_ptr<eqnn::Layer> {
    throw eqnn::ConfigError("model.yaml", 3, 5, "RefusingLayer: refuses every argument");
  });
}

}  // namespace

EQNN_PLUGIN("test_null_factory", "0.0.1", register_all)
