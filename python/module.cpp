// The extension module eqnn._C: the Python binding of the C++ core (use the eqnn package, not this module).
// Only the module definition is here; each concern binds itself (bindings.hpp lists them, in the order the
// module adds them).
#include <pybind11/pybind11.h>

#include "bindings.hpp"

PYBIND11_MODULE(_C, m) {
  using namespace eqnn::python;
  m.doc() = "The C++ core of eqnn (use the eqnn package, not this module)";
  bind_errors(m);
  bind_registry(m);
  bind_group_theory(m);
  bind_module_handle(m);
  bind_layer_factories(m);
  bind_models(m);
  bind_datasets(m);
  bind_stats(m);
}
