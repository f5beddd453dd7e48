// Models from Python: eqnn.load_model reads a YAML model file with the process-wide registry and returns
// the model's module handle (a missing or unreadable file is a FileNotFoundError or OSError, as open()
// gives).
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "eqnn/model/model.hpp"
#include "module_handle.hpp"
#include "plugin_registry.hpp"

namespace eqnn::python {
namespace {

std::shared_ptr<Handle> load_model_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    py::object exc = err == ENOENT ? py::module_::import("builtins").attr("FileNotFoundError")
                                   : py::module_::import("builtins").attr("OSError");
    PyErr_SetObject(
        exc.ptr(),
        py::make_tuple(err, path + ": cannot open the model file: " + std::strerror(err), path).ptr());
    throw py::error_already_set();
  }
  const Registry& reg = registry();
  std::shared_ptr<Model> model;
  {
    py::gil_scoped_release no_gil;
    model = eqnn::load_model(reg, path);
  }
  auto h = std::make_shared<Handle>(
      model, [model](const at::Tensor& x) { return model->forward(x); }, model->input_rep(),
      model->output_rep(), "Model");
  h->model = model;
  return h;
}

}  // namespace

void bind_models(py::module_& m) { m.def("load_model", &load_model_file, py::arg("path")); }

}  // namespace eqnn::python
