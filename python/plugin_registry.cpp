// The process-wide plugin registry (plugin_registry.hpp) and what Python reads from it: eqnn's version, the
// loaded plugins, the shipped plugin directory and the registered layer and group types.
#include "plugin_registry.hpp"

#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"

namespace eqnn::python {
namespace {

std::mutex registry_mutex;
Registry* registry_instance = nullptr;

}  // namespace

Registry& registry() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (!registry_instance) {
    auto* r = new Registry;  // deliberately leaked: plugin code must outlive every module
    r->load_default_plugins();
    registry_instance = r;
  }
  return *registry_instance;
}

void bind_registry(py::module_& m) {
  m.def("version", [] { return std::string(EQNN_VERSION_STRING); });
  m.def("plugins", [] {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& p : registry().plugins()) out.emplace_back(p.name, p.version, p.file);
    return out;
  });
  m.def("shipped_plugin_directory", &Registry::shipped_plugin_directory);
  m.def("layer_types", [] { return registry().names(Kind::layer); });
  m.def("group_types", [] { return registry().names(Kind::group); });
}

}  // namespace eqnn::python
