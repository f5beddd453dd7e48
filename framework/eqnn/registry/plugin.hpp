// The plugin ABI: every plugin library exports one C entry point, `eqnn_plugin_info`, returning a plain
// struct. The loader checks abi_version and fingerprint before calling anything else.
//
// Although the entry point is extern "C", this is a C++ ABI, not a C one: register_all and every factory
// it registers are C++ functions called by libeqnn, and C++ exceptions cross that boundary in both
// directions (a factory throws eqnn::ConfigError, libeqnn catches it; libeqnn's Registrar throws into
// register_all). That is sound only because the fingerprint makes plugin and host agree on compiler,
// C++ runtime ABI and every library whose types cross (LibTorch, Eigen, yaml-cpp), and because the
// eqnn::Error classes have their typeinfo in libeqnn only (error.hpp). A factory must return an object
// or throw; a null result is reported as an error naming the plugin and the registered name.
//
// The loader refuses plugin files and directories that others could write (see plugin_loader.hpp):
// owned by root or you, not group/other-writable, all the way up to "/"; directories above the plugin's
// own may be world-writable only with the sticky bit (as /tmp is).
#pragma once

#include <cstdint>

#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"

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
#define EQNN_PLUGIN(NAME, VERSION, REGISTER_ALL)                                                     \
  extern "C" __attribute__((visibility("default"))) const EqnnPluginInfo* eqnn_plugin_info() {       \
    static const EqnnPluginInfo info{EQNN_PLUGIN_ABI_VERSION, NAME, VERSION, EQNN_BUILD_FINGERPRINT, \
                                     &REGISTER_ALL};                                                 \
    return &info;                                                                                    \
  }
