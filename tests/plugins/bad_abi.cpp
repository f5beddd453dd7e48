// Claims a plugin ABI version this eqnn does not support; register_all must never run.
#include <cstdlib>

#include "eqnn/registry/plugin.hpp"

namespace {
void register_all(eqnn::Registrar&) { std::abort(); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const EqnnPluginInfo* eqnn_plugin_info() {
  static const EqnnPluginInfo info{EQNN_PLUGIN_ABI_VERSION + 998, "test_bad_abi", "1.0.0",
                                   EQNN_BUILD_FINGERPRINT, &register_all};
  return &info;
}
