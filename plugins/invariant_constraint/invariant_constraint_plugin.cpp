// Plugin entry point: registers "InvariantConstraint".
#include "eqnn/registry/plugin.hpp"
#include "invariant_constraint.hpp"

namespace {

void register_all(eqnn::Registrar& r) {
  r.add_constraint(eqnn::InvariantConstraint::kName, &eqnn::make_invariant_constraint);
}

}  // namespace

EQNN_PLUGIN("invariant_constraint", "0.1.0", register_all)
