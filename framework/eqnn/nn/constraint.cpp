// Constraint's key function: its vtable and type_info live in libeqnn, so a constraint a plugin makes is
// the same type in every library that sees it.
#include "eqnn/nn/constraint.hpp"

namespace eqnn {

Constraint::~Constraint() = default;

}  // namespace eqnn
