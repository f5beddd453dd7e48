// C++ errors as Python exceptions: eqnn's own classes (eqnn.Error and its kinds, each also subclassing the
// builtin that fits: eqnn.ConfigError is a ValueError, eqnn.UnknownNameError a KeyError, ...) with the C++
// text; c10 errors keep their Python types without the C++ backtrace.
#include <cstddef>
#include <exception>
#include <string>
#include <vector>

#include <c10/util/Exception.h>
#include <pybind11/pybind11.h>
#include <yaml-cpp/exceptions.h>

#include "bindings.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::python {
namespace {

// The Python classes of eqnn's errors, made once by add_error_classes (the module keeps them alive).
struct ErrorClasses {
  PyObject* error = nullptr;         // eqnn::Error
  PyObject* config = nullptr;        // ConfigError
  PyObject* group = nullptr;         // GroupError
  PyObject* unknown_name = nullptr;  // LookupError (a registry lookup of an unknown name)
  PyObject* plugin = nullptr;        // PluginError
};
ErrorClasses error_classes;

py::object add_error_class(py::module_& m, const char* name, const std::vector<py::handle>& bases,
                           const char* doc) {
  py::tuple base_tuple(bases.size());
  for (size_t i = 0; i < bases.size(); ++i) base_tuple[i] = py::reinterpret_borrow<py::object>(bases[i]);
  py::dict ns;
  ns["__doc__"] = doc;
  const std::string qualified = std::string("eqnn.") + name;
  auto cls =
      py::reinterpret_steal<py::object>(PyErr_NewException(qualified.c_str(), base_tuple.ptr(), ns.ptr()));
  if (!cls) throw py::error_already_set();
  m.attr(name) = cls;
  return cls;
}

// eqnn.Error is a RuntimeError, as torch's errors are; each kind with a more fitting builtin subclasses it
// too, so `except KeyError` and `except ValueError` work as a Python user expects.
void add_error_classes(py::module_& m) {
  auto builtins = py::module_::import("builtins");
  py::object error =
      add_error_class(m, "Error", {PyExc_RuntimeError},
                      "Base of every eqnn error (a RuntimeError): files, checkpoints, training.");
  py::object config = add_error_class(m, "ConfigError", {error, PyExc_ValueError},
                                      "A model file, representation string or option that is not valid "
                                      "(a ValueError); the text is FILE:LINE:COL: error: ... when located.");
  py::object group = add_error_class(m, "GroupError", {error, PyExc_ValueError},
                                     "Group-theory input that is not valid (a ValueError): not a group, not "
                                     "orthogonal, representations of different groups.");
  py::object unknown =
      add_error_class(m, "UnknownNameError", {error, PyExc_KeyError},
                      "An unknown layer, group or constraint name (a KeyError, so a LookupError); "
                      "the text lists the known names and the nearest one.");
  // KeyError's str() is the repr() of its argument (quotes, escaped newlines): keep the message as it is.
  unknown.attr("__str__") = builtins.attr("BaseException").attr("__str__");
  py::object plugin = add_error_class(m, "PluginError", {error, PyExc_ImportError},
                                      "A plugin that could not be loaded or registered (an ImportError); the "
                                      "text names the file and the cause.");
  error_classes = {error.ptr(), config.ptr(), group.ptr(), unknown.ptr(), plugin.ptr()};
}

}  // namespace

void bind_errors(py::module_& m) {
  add_error_classes(m);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ConfigError& e) {
      PyErr_SetString(error_classes.config, e.what());
    } catch (const GroupError& e) {
      PyErr_SetString(error_classes.group, e.what());
    } catch (const LookupError& e) {
      PyErr_SetString(error_classes.unknown_name, e.what());
    } catch (const PluginError& e) {
      PyErr_SetString(error_classes.plugin, e.what());
    } catch (const Error& e) {
      PyErr_SetString(error_classes.error, e.what());
    } catch (const c10::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what_without_backtrace());
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what_without_backtrace());
    } catch (const c10::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    } catch (const YAML::Exception& e) {
      PyErr_SetString(error_classes.config, e.what());
    }
  });
}

}  // namespace eqnn::python
