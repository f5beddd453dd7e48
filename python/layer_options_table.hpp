// A layer's options as a Python dict, read from its C++ Options (the one source of every default): the
// defaults Python signatures show (eqnn.layer_defaults) and the options a built layer holds (Handle.options),
// for every layer type Python exposes as a class.
#pragma once

#include <optional>
#include <string>

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace eqnn {
class Layer;
}  // namespace eqnn

namespace eqnn::python {

/// The defaults of a default-constructed `type` Options object (required options left out); an unknown
/// type is a LookupError naming the known ones.
py::dict layer_defaults(const std::string& type);

/// The options a built layer holds, read from its C++ Options (None for a layer without a table entry).
std::optional<py::dict> layer_options(const Layer& layer);

}  // namespace eqnn::python
