// The pieces of the extension eqnn._C, one concern each: every bind_* function adds its classes and
// functions to the module, and module.cpp calls them in this order (a signature names a class only if the
// class is bound before it, so the order shows in the docstrings and the stub).
#pragma once

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace eqnn::python {

void bind_errors(py::module_& m);           // error_translation.cpp: eqnn.Error and its kinds
void bind_registry(py::module_& m);         // plugin_registry.cpp: version, plugins, layer and group types
void bind_group_theory(py::module_& m);     // group_theory_bindings.cpp: Group, Representation, HomSpace
void bind_module_handle(py::module_& m);    // module_handle.cpp: Handle, the C++ module behind eqnn.nn
void bind_layer_factories(py::module_& m);  // layer_factories.cpp: make_* and layer_defaults
void bind_models(py::module_& m);           // model_bindings.cpp: load_model
void bind_datasets(py::module_& m);         // dataset_bindings.cpp: ring_task
void bind_stats(py::module_& m);            // stats_bindings.cpp: eqnn.stats and eqnn.linalg functions

}  // namespace eqnn::python
