// The process-wide plugin registry of the extension: loaded with the shipped plugins on first use and never
// destroyed (plugins are never unloaded, and plugin code must outlive every module built from it).
#pragma once

#include "eqnn/registry/registry.hpp"

namespace eqnn::python {

/// The registry every group, representation, layer and model of the extension is made with.
Registry& registry();

}  // namespace eqnn::python
