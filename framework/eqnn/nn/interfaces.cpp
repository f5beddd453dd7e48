// Key functions of the interface classes: their vtables and type_info live in libeqnn, so a plugin's
// objects are the same types in every library that sees them.
#include "eqnn/nn/constraint.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"

namespace eqnn {

Constraint::~Constraint() = default;
Layer::~Layer() = default;

std::string to_string(Kind kind) {
  switch (kind) {
    case Kind::group:
      return "group";
    case Kind::constraint:
      return "constraint";
    case Kind::layer:
      return "layer";
  }
  return "unknown";
}

}  // namespace eqnn
