// Built as if for another LibTorch; register_all must never run.
#include <cstdlib>

#include "eqnn/registry/plugin.hpp"

namespace {
void register_all(eqnn::Registrar&) { std::abort(); }
}  // namespace

extern "C" __attribute__((visibility("default"))) const EqnnPluginInfo* eqnn_plugin_info() {
  static const EqnnPluginInfo info{EQNN_PLUGIN_ABI_VERSION, "test_bad_fingerprint", "1.0.0",
                                   "eqnn 0.1; torch 0.4; compiler gcc 4.8; cxx11abi 0", &register_all};
  return &info;
}
