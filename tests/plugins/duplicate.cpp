// Registers a constraint name that test_good registers too.
#include "eqnn/registry/plugin.hpp"

namespace {

void register_all(eqnn::Registrar& registrar) {
  registrar.add_constraint("Unique", [](const eqnn::ConstraintRequest&) { return eqnn::ConstraintPtr(); });
  registrar.add_constraint("TestConstraint",
                           [](const eqnn::ConstraintRequest&) { return eqnn::ConstraintPtr(); });
}

}  // namespace

EQNN_PLUGIN("test_duplicate", "1.0.0", register_all)
