// The plugin ABI: every plugin library exports one C entry point, `eqnn_plugin_info`, returning a plain
// struct. The loader checks abi_version and fingerprint before calling anything else.
#pragma once

#include <cstdint>

#include "eqnn/registry.hpp"
#include "eqnn/version.hpp"

extern "C" {

/// Layout frozen for a given EQNN_PLUGIN_ABI_VERSION; abi_version stays the first member forever.
struct EqnnPluginInfo {
  uint32_t abi_version;
  const char* name;
  const char* version;
  const char* fingerprint;
  void (*register_all)(eqnn::Registrar& registrar);
};

typedef const EqnnPluginInfo* (*EqnnPluginInfoFunction)();
}

#define EQNN_PLUGIN_ENTRY_POINT "eqnn_plugin_info"

/// Defines the entry point of a plugin. Use once per plugin library:
///
///   static void register_all(eqnn::Registrar& r) { r.add_group_type(...); }
///   EQNN_PLUGIN("my_groups", "1.0.0", register_all)
#define EQNN_PLUGIN(NAME, VERSION, REGISTER_ALL)                                           \
  extern "C" __attribute__((visibility("default"))) const EqnnPluginInfo* eqnn_plugin_info() { \
    static const EqnnPluginInfo info{EQNN_PLUGIN_ABI_VERSION, NAME, VERSION,              \
                                     EQNN_BUILD_FINGERPRINT, &REGISTER_ALL};              \
    return &info;                                                                         \
  }
