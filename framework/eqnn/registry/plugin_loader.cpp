// Opening plugin libraries with Boost.DLL. Handles go to a process-lifetime list that is never
// destroyed: unloading a library that registered LibTorch operators or GCC unique symbols is unsafe,
// and objects a plugin created must stay valid after the Registry that loaded it is gone.
#include "eqnn/registry/internal/plugin_loader.hpp"

#include <dlfcn.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <boost/dll/shared_library.hpp>

#include "eqnn/registry/version.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::detail {
namespace fs = std::filesystem;

namespace {

std::mutex& handles_mutex() {
  static auto* mutex = new std::mutex;
  return *mutex;
}

// Leaked on purpose (see the top of this file).
std::vector<boost::dll::shared_library>& loaded_libraries() {
  static auto* libraries = new std::vector<boost::dll::shared_library>;
  return *libraries;
}

std::string mode_string(mode_t mode) { return fmt::format("{:04o}", mode & 07777); }

std::string user_name(uid_t uid) {
  passwd entry{};
  passwd* found = nullptr;
  char buffer[4096];
  if (::getpwuid_r(uid, &entry, buffer, sizeof buffer, &found) == 0 && found != nullptr) {
    return fmt::format("uid {} ({})", uid, found->pw_name);
  }
  return fmt::format("uid {}", uid);
}

// How far up the trust rules are strict: the plugin file and the directory it is loaded from must be
// writable by their owner only; a directory further up may also be writable by others when its sticky
// bit is set (as /tmp is): there nobody but the owner of an entry (and root) can rename or remove it,
// so the entries on the way down to the plugin, owned by root or you, cannot be swapped.
enum class Level { plugin_file, plugin_directory, ancestor };

// `subject` completes "refusing to load ...", e.g. "plugin '/a/b.so'"; `role` names the entry checked,
// e.g. "its directory '/a'".
void check_entry(const std::string& path, Level level, const std::string& subject, const std::string& role,
                 uid_t user) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    throw PluginError(
        fmt::format("cannot load {}: {} cannot be examined: {}", subject, role, std::strerror(errno)));
  }
  if (st.st_uid != 0 && st.st_uid != user) {
    throw PluginError(fmt::format(
        "refusing to load {}: {} is owned by {}, not by root or you ({}); loading a plugin runs its code, "
        "so the owner of any directory on its path could run code as you; keep plugins under directories "
        "owned by root or you (chown, or move the plugin)",
        subject, role, user_name(st.st_uid), user_name(user)));
  }
  if ((st.st_mode & 022) == 0) return;
  if (level == Level::ancestor && S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) != 0) return;
  const char* who = (st.st_mode & 002) ? "other users" : "its group";
  throw PluginError(fmt::format(
      "refusing to load {}: {} is writable by {} (mode {}); loading a plugin runs its code, so anyone who "
      "can write there could run code as you; fix it with: chmod go-w '{}'",
      subject, role, who, mode_string(st.st_mode), path));
}

// Checks every directory above `dir`, from "/" down, so the message names the topmost problem.
void check_ancestors(const fs::path& dir, const std::string& subject, uid_t user) {
  std::vector<fs::path> above;
  for (fs::path p = dir; p.has_parent_path() && p.parent_path() != p;) {
    p = p.parent_path();
    above.push_back(p);
  }
  for (auto it = above.rbegin(); it != above.rend(); ++it) {
    check_entry(it->string(), Level::ancestor, subject,
                fmt::format("the directory '{}' above it", it->string()), user);
  }
}

fs::path resolved(const std::string& path, const std::string& subject) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) throw PluginError(fmt::format("cannot load {}: {}", subject, ec.message()));
  return real;
}

bool has_elf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic,
                                         "\x7f"
                                         "ELF",
                                         4) == 0;
}

// Boost.DLL clears dlerror(); ask dlopen again for the loader's own text.
std::string dlopen_error_text(const std::string& path) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle != nullptr) return "unknown error";  // never closed: see the top of this file
  const char* text = dlerror();
  return text != nullptr ? text : "unknown error";
}

}  // namespace

void check_plugin_directory(const std::string& dir, uid_t user) {
  const std::string subject = fmt::format("plugins from '{}'", dir);
  const fs::path real = resolved(dir, subject);
  check_ancestors(real, subject, user);
  check_entry(real.string(), Level::plugin_directory, subject, "the directory", user);
}

void check_plugin_directory(const std::string& dir) { check_plugin_directory(dir, ::geteuid()); }

void check_plugin_file(const std::string& path, uid_t user) {
  const std::string subject = fmt::format("plugin '{}'", path);
  const fs::path real = resolved(path, subject);
  const fs::path dir = real.parent_path();
  check_ancestors(dir, subject, user);
  check_entry(dir.string(), Level::plugin_directory, subject, fmt::format("its directory '{}'", dir.string()),
              user);
  check_entry(real.string(), Level::plugin_file, subject, "the file", user);
}

void check_plugin_file(const std::string& path) { check_plugin_file(path, ::geteuid()); }

const EqnnPluginInfo& open_plugin(const std::string& path) {
  if (!fs::path(path).is_absolute()) {
    throw PluginError(fmt::format("plugin path '{}' is not absolute; give the full path", path));
  }
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw PluginError(fmt::format("plugin '{}' does not exist or is not a regular file", path));
  }
  check_plugin_file(path);
  if (!has_elf_magic(path)) {
    throw PluginError(fmt::format(
        "cannot load plugin '{}': not a shared library (no ELF header); a plugin directory should hold "
        "only plugins built with eqnn_add_plugin",
        path));
  }

  boost::dll::shared_library library;
  boost::dll::fs::error_code load_error;
  library.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local, load_error);
  if (load_error || !library.is_loaded()) {
    throw PluginError(fmt::format("cannot load plugin '{}': {}", path, dlopen_error_text(path)));
  }
  if (!library.has(EQNN_PLUGIN_ENTRY_POINT)) {
    throw PluginError(fmt::format(
        "'{}' is a shared library but not an eqnn plugin: it does not export '{}'; define it with "
        "EQNN_PLUGIN(name, version, register_all) in one source file of the plugin",
        path, EQNN_PLUGIN_ENTRY_POINT));
  }
  auto& entry = library.get<const EqnnPluginInfo*()>(EQNN_PLUGIN_ENTRY_POINT);
  {
    std::lock_guard<std::mutex> lock(handles_mutex());
    loaded_libraries().push_back(library);
  }
  const EqnnPluginInfo* info = entry();
  if (info == nullptr) {
    throw PluginError(fmt::format("plugin '{}': {}() returned null", path, EQNN_PLUGIN_ENTRY_POINT));
  }
  // abi_version is the first member in every ABI version, so reading it is always safe.
  if (info->abi_version != EQNN_PLUGIN_ABI_VERSION) {
    throw PluginError(fmt::format(
        "plugin '{}' was built for plugin ABI version {}, this eqnn {} supports version {}; rebuild the "
        "plugin against eqnn {}",
        path, info->abi_version, version(), EQNN_PLUGIN_ABI_VERSION, version()));
  }
  const std::string fingerprint = info->fingerprint != nullptr ? info->fingerprint : "";
  if (fingerprint != build_fingerprint()) {
    throw PluginError(fmt::format(
        "plugin '{}' was built as '{}' but libeqnn is '{}'; rebuild the plugin with the same eqnn, "
        "LibTorch and compiler",
        path, fingerprint, build_fingerprint()));
  }
  if (info->name == nullptr || *info->name == '\0' || info->register_all == nullptr) {
    throw PluginError(fmt::format("plugin '{}' has no name or no register_all function", path));
  }
  return *info;
}

std::string libeqnn_directory() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<const void*>(&libeqnn_directory), &info) == 0 || info.dli_fname == nullptr) {
    return {};
  }
  std::error_code ec;
  fs::path file = fs::canonical(info.dli_fname, ec);
  if (ec) file = fs::absolute(info.dli_fname, ec);
  return file.parent_path().string();
}

}  // namespace eqnn::detail
