// Plugin entry point: registers "CommutingConstraint".
#include "commuting_constraint.hpp"
#include "eqnn/registry/plugin.hpp"

namespace {

void register_all(eqnn::Registrar& r) {
  r.add_constraint(eqnn::CommutingConstraint::kName, &eqnn::make_commuting_constraint);
}

}  // namespace

EQNN_PLUGIN("commuting_constraint", "0.1.0", register_all)
