// Registers one name, then throws: the registry must forget the partial registration.
#include <stdexcept>

#include "eqnn/registry/plugin.hpp"

namespace {

void register_all(eqnn::Registrar& registrar) {
  registrar.add_constraint("HalfRegistered",
                           [](const eqnn::ConstraintRequest&) { return eqnn::ConstraintPtr(); });
  throw std::runtime_error("cannot find the table of icosahedral irreps");
}

}  // namespace

EQNN_PLUGIN("test_throws", "1.0.0", register_all)
