// Layer's key function: its vtable and type_info live in libeqnn, so a layer a plugin makes is the same
// type in every library that sees it.
#include "eqnn/nn/layer.hpp"

namespace eqnn {

Layer::~Layer() = default;

}  // namespace eqnn
