// Internal to libeqnn: opens one plugin library, checks it is safe and compatible, and returns its
// EqnnPluginInfo without calling anything else in it. Libraries are never unloaded.
#pragma once

#include <sys/types.h>

#include <string>

#include "eqnn/registry/plugin.hpp"

namespace eqnn::detail {

/// Trust rules for plugin paths, as OpenSSH's StrictModes (loading a plugin runs its code). After
/// resolving symlinks, the plugin file, the directory it is loaded from and every directory above up to
/// "/" must be owned by root or `user` (default: the effective user), and must not be writable by group
/// or others; a directory above the plugin's own may be, when its sticky bit is set (e.g. /tmp, 1777
/// root): then only root and the owner of an entry can rename or remove it. Each throws PluginError
/// naming the offending path, its owner or mode, and the fix. The check and the dlopen are separate
/// steps: it guards against other users, not against your own processes racing the loader.
void check_plugin_directory(const std::string& dir);
void check_plugin_directory(const std::string& dir, uid_t user);
void check_plugin_file(const std::string& path);
void check_plugin_file(const std::string& path, uid_t user);

/// Loads the library at the absolute `path` (rtld_now | rtld_local), finds `eqnn_plugin_info`, checks
/// the ABI version and the fingerprint. The library stays loaded for the life of the process.
const EqnnPluginInfo& open_plugin(const std::string& path);

/// Directory of the shared object that contains libeqnn's code.
std::string libeqnn_directory();

}  // namespace eqnn::detail
