// The registry: named group types, constraint factories and layer factories, filled by plugins through
// a Registrar, and lookups by name. Group specs are group_spec.cpp's job, opening libraries
// plugin_loader.cpp's.
#include "eqnn/registry/registry.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/registry/group_spec.hpp"
#include "eqnn/registry/internal/plugin_loader.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/strings.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace fs = std::filesystem;
using strings::join_names;
using strings::split;

namespace {

template <class T>
struct Entry {
  T value;
  std::string file;
  std::string plugin;
};

// Thrown by the Registrar; its message is complete, so the loader does not wrap it.
class DuplicateError : public PluginError {
 public:
  using PluginError::PluginError;
};

std::string singular(Kind kind) { return kind == Kind::group ? "group type" : to_string(kind); }
std::string plural(Kind kind) { return singular(kind) + "s"; }

}  // namespace

std::string to_string(Kind kind) {
  switch (kind) {
    case Kind::group:
      return "group";
    case Kind::constraint:
      return "constraint";
    case Kind::layer:
      return "layer";
  }
  return "unknown";
}

struct Registry::Impl {
  std::map<std::string, Entry<GroupType>> groups;
  std::map<std::string, Entry<ConstraintFactory>> constraints;
  std::map<std::string, Entry<LayerFactory>> layers;
  std::vector<PluginRecord> plugins;
  std::set<std::string> loaded_files;
  std::vector<std::string> searched;

  template <class T>
  static std::vector<std::string> keys(const std::map<std::string, Entry<T>>& map) {
    std::vector<std::string> out;
    for (const auto& [name, entry] : map) out.push_back(name);
    return out;
  }

  template <class T>
  void add(std::map<std::string, Entry<T>>& map, Kind kind, const std::string& name, T value,
           PluginRecord& record) {
    if (name.empty()) {
      throw DuplicateError(fmt::format("plugin '{}' ('{}') registers a {} with an empty name", record.name,
                                       record.file, singular(kind)));
    }
    auto found = map.find(name);
    if (found != map.end()) {
      const auto& other = found->second;
      if (other.file == record.file && other.plugin == record.name) {
        throw DuplicateError(fmt::format("plugin '{}' ('{}') registers the {} '{}' twice", record.name,
                                         record.file, singular(kind), name));
      }
      throw DuplicateError(fmt::format(
          "{} '{}' is registered by two plugins: '{}' ('{}') and '{}' ('{}'); remove one of them from "
          "the plugin path",
          singular(kind), name, other.plugin, other.file, record.name, record.file));
    }
    map.emplace(name, Entry<T>{std::move(value), record.file, record.name});
    record.registered.emplace_back(kind, name);
  }

  void forget(const PluginRecord& record) {
    for (const auto& [kind, name] : record.registered) {
      if (kind == Kind::group) groups.erase(name);
      if (kind == Kind::constraint) constraints.erase(name);
      if (kind == Kind::layer) layers.erase(name);
    }
  }

  template <class T>
  const T* try_get(const std::map<std::string, Entry<T>>& map, const std::string& name) const {
    auto found = map.find(name);
    return found == map.end() ? nullptr : &found->second.value;
  }

  template <class T>
  const T& get(const std::map<std::string, Entry<T>>& map, Kind kind, const std::string& name) const {
    if (const T* value = try_get(map, name)) return *value;
    auto known = keys(map);
    if (known.empty()) {
      throw LookupError(
          fmt::format("unknown {} '{}': no {} are registered; load a plugin that provides one (searched: {})",
                      singular(kind), name, plural(kind), join_names(searched)));
    }
    throw LookupError(fmt::format("unknown {} '{}'{} Known {}: {}", singular(kind), name,
                                  did_you_mean_sentence_end(name, known), plural(kind), join_names(known)));
  }

  void run(Registry& registry, PluginRecord record, const std::function<void(Registrar&)>& register_all) {
    Registrar registrar(registry, record);
    try {
      register_all(registrar);
    } catch (const DuplicateError&) {
      forget(record);
      throw;
    } catch (const std::exception& e) {
      forget(record);
      throw PluginError(
          fmt::format("plugin '{}' ('{}') failed while registering: {}", record.name, record.file, e.what()));
    } catch (...) {
      forget(record);
      throw PluginError(fmt::format("plugin '{}' ('{}') failed while registering: a non-standard exception",
                                    record.name, record.file));
    }
    plugins.push_back(std::move(record));
  }
};

namespace {

// A factory that returns null would be dereferenced far from the plugin that broke the contract: wrap
// each one so a null result is an error naming the plugin, its file and the name it registered.
template <class Result, class... Args>
std::function<Result(Args...)> non_null(std::function<Result(Args...)> factory, const PluginRecord& record,
                                        Kind kind, const std::string& name) {
  if (!factory) {
    throw PluginError(fmt::format("plugin '{}' ('{}') registered {} '{}' without a factory function",
                                  record.name, record.file, singular(kind), name));
  }
  return [factory = std::move(factory), plugin = record.name, file = record.file, kind,
          name](Args... args) -> Result {
    Result made = factory(std::forward<Args>(args)...);
    if (made == nullptr) {
      throw PluginError(fmt::format(
          "plugin '{}' ('{}'): the factory it registered for {} '{}' returned null; a factory must "
          "return an object or throw an eqnn::Error that says why it cannot",
          plugin, file, singular(kind), name));
    }
    return made;
  };
}

}  // namespace

void Registrar::add_group_type(GroupType type) {
  std::string name = type.name;
  type.make = non_null(std::move(type.make), record_, Kind::group, name);
  registry_.impl_->add(registry_.impl_->groups, Kind::group, name, std::move(type), record_);
}

void Registrar::add_constraint(const std::string& name, ConstraintFactory factory) {
  registry_.impl_->add(registry_.impl_->constraints, Kind::constraint, name,
                       non_null(std::move(factory), record_, Kind::constraint, name), record_);
}

void Registrar::add_layer(const std::string& name, LayerFactory factory) {
  registry_.impl_->add(registry_.impl_->layers, Kind::layer, name,
                       non_null(std::move(factory), record_, Kind::layer, name), record_);
}

Registry::Registry() : impl_(std::make_unique<Impl>()) {}
// Plugins stay loaded (see plugin_loader.cpp): objects they made outlive the registry safely.
Registry::~Registry() = default;

std::string Registry::shipped_plugin_directory() {
  std::string dir = detail::libeqnn_directory();
  return dir.empty() ? std::string() : (fs::path(dir) / "eqnn" / "plugins").string();
}

void Registry::load_default_plugins(const std::vector<std::string>& extra_paths) {
  const std::string shipped = shipped_plugin_directory();
  if (!shipped.empty()) {
    impl_->searched.push_back(shipped);
    std::error_code ec;
    if (fs::is_directory(shipped, ec)) load_directory(shipped);
  }
  auto load_path = [this](const std::string& path, const std::string& origin) {
    if (!fs::path(path).is_absolute()) {
      throw PluginError(
          fmt::format("plugin path '{}' ({}) is not absolute; give the full path", path, origin));
    }
    std::error_code ec;
    if (!fs::exists(path, ec)) {
      throw PluginError(fmt::format("plugin path '{}' ({}) does not exist", path, origin));
    }
    if (fs::is_directory(path, ec)) {
      impl_->searched.push_back(path);
      load_directory(path);
    } else {
      load_plugin(path);
    }
  };
  if (const char* env = std::getenv("EQNN_PLUGIN_PATH")) {
    for (const auto& entry : split(env, ':')) {
      if (!entry.empty()) load_path(entry, fmt::format("from EQNN_PLUGIN_PATH={}", env));
    }
  }
  for (const auto& path : extra_paths) load_path(path, "given explicitly, e.g. with --plugin-path");
}

void Registry::load_directory(const std::string& dir) {
  if (!fs::path(dir).is_absolute()) {
    throw PluginError(fmt::format("plugin directory '{}' is not absolute; give the full path", dir));
  }
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw PluginError(fmt::format("plugin directory '{}' does not exist or is not a directory", dir));
  }
  detail::check_plugin_directory(dir);
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".so" && entry.is_regular_file(ec))
      files.push_back(entry.path().string());
  }
  if (ec) throw PluginError(fmt::format("cannot read plugin directory '{}': {}", dir, ec.message()));
  std::sort(files.begin(), files.end());
  for (const auto& file : files) load_plugin(file);
}

void Registry::load_plugin(const std::string& file) {
  if (!fs::path(file).is_absolute()) {
    throw PluginError(fmt::format("plugin path '{}' is not absolute; give the full path", file));
  }
  std::error_code ec;
  fs::path canonical = fs::canonical(file, ec);
  const std::string path = ec ? file : canonical.string();
  if (impl_->loaded_files.count(path) != 0) return;
  const EqnnPluginInfo& info = detail::open_plugin(path);
  PluginRecord record{path, info.name, info.version != nullptr ? info.version : "", {}};
  auto register_all = info.register_all;
  impl_->run(*this, std::move(record), [register_all](Registrar& r) { register_all(r); });
  impl_->loaded_files.insert(path);
}

void Registry::register_builtin(const std::string& name,
                                const std::function<void(Registrar&)>& register_all) {
  impl_->run(*this, PluginRecord{"<builtin>", name, version(), {}}, register_all);
}

const GroupType& Registry::get_group_type(const std::string& name) const {
  return impl_->get(impl_->groups, Kind::group, name);
}
const GroupType* Registry::try_get_group_type(const std::string& name) const {
  return impl_->try_get(impl_->groups, name);
}
const ConstraintFactory& Registry::get_constraint(const std::string& name) const {
  return impl_->get(impl_->constraints, Kind::constraint, name);
}
const ConstraintFactory* Registry::try_get_constraint(const std::string& name) const {
  return impl_->try_get(impl_->constraints, name);
}
const LayerFactory& Registry::get_layer(const std::string& name) const {
  return impl_->get(impl_->layers, Kind::layer, name);
}
const LayerFactory* Registry::try_get_layer(const std::string& name) const {
  return impl_->try_get(impl_->layers, name);
}

std::vector<std::string> Registry::names(Kind kind) const {
  switch (kind) {
    case Kind::group:
      return Impl::keys(impl_->groups);
    case Kind::constraint:
      return Impl::keys(impl_->constraints);
    case Kind::layer:
      return Impl::keys(impl_->layers);
  }
  return {};
}

const std::vector<PluginRecord>& Registry::plugins() const { return impl_->plugins; }
const std::vector<std::string>& Registry::searched_directories() const { return impl_->searched; }

GroupPtr Registry::make_group(const std::string& spec) const {
  return group_from_spec(*this, YAML::Node(spec), "");
}

GroupPtr Registry::make_group(const YAML::Node& spec) const { return group_from_spec(*this, spec, ""); }

GroupPtr Registry::make_group(const YAML::Node& spec, const std::string& file) const {
  return group_from_spec(*this, spec, file);
}

}  // namespace eqnn
