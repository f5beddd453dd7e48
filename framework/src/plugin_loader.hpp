// Internal to libeqnn: opens one plugin library, checks it is safe and compatible, and returns its
// EqnnPluginInfo without calling anything else in it. Libraries are never unloaded.
#pragma once

#include <string>

#include "eqnn/plugin.hpp"

namespace eqnn::detail {

/// Throws PluginError (naming `dir` and why) when `dir` is writable by group or others: loading a
/// plugin runs its code. open_plugin checks the file and its directory itself.
void check_directory_not_writable_by_others(const std::string& dir);

/// Loads the library at the absolute `path` (rtld_now | rtld_local), finds `eqnn_plugin_info`, checks
/// the ABI version and the fingerprint. The library stays loaded for the life of the process.
const EqnnPluginInfo& open_plugin(const std::string& path);

/// Directory of the shared object that contains libeqnn's code.
std::string libeqnn_directory();

}  // namespace eqnn::detail
