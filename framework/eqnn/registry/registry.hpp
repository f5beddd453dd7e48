// The registry of named factories that plugins fill: group types, constraints and layers. It loads
// plugins from the shipped directory, EQNN_PLUGIN_PATH and explicit paths, and never unloads them.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/nn/constraint.hpp"

namespace eqnn {

class Registry;
struct LayerArgs;
class Layer;
using LayerFactory = std::function<std::shared_ptr<Layer>(const LayerArgs&)>;

enum class Kind { group, constraint, layer };
std::string to_string(Kind kind);

/// A family of groups: `make` builds one from its YAML parameters, `parse_short_name` recognises short
/// names such as "C8" (returning the parameters) or returns nullopt.
struct GroupType {
  std::string name;                      ///< registry key, e.g. "CyclicGroup"
  std::string parameters;                ///< e.g. "n: integer >= 1"
  std::vector<std::string> short_names;  ///< examples for `eqnn groups`, e.g. {"C8"}
  std::function<GroupPtr(const YAML::Node& params, const Registry& registry)> make;
  std::function<std::optional<YAML::Node>(const std::string& short_name)> parse_short_name;
};

/// What one loaded plugin is and what it registered.
struct PluginRecord {
  std::string file;  ///< absolute path ("<builtin>" for registrations made in-process)
  std::string name;
  std::string version;
  std::vector<std::pair<Kind, std::string>> registered;
};

/// Handed to a plugin's register_all; every registration is attributed to that plugin.
class Registrar {
 public:
  Registrar(Registry& registry, PluginRecord& record) : registry_(registry), record_(record) {}
  void add_group_type(GroupType type);
  void add_constraint(const std::string& name, ConstraintFactory factory);
  void add_layer(const std::string& name, LayerFactory factory);

 private:
  Registry& registry_;
  PluginRecord& record_;
};

/// Named factories of three kinds. `get_*` throws LookupError naming the known names and the nearest
/// one; `try_get_*` returns null.
///
///   eqnn::Registry registry;
///   registry.load_default_plugins();
///   auto g = registry.get_group_type("CyclicGroup").make(params, registry);
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Loads the shipped plugin directory (next to libeqnn), then every directory in EQNN_PLUGIN_PATH,
  /// then `extra_paths` (directories or plugin files). Throws PluginError on the first bad plugin.
  void load_default_plugins(const std::vector<std::string>& extra_paths = {});
  /// Loads every plugin (`*.so`) in a directory, in name order.
  void load_directory(const std::string& dir);
  /// Loads one plugin file. The path must be absolute.
  void load_plugin(const std::string& file);
  /// Registers in-process (tests, embedding programs): `register_all` is called with a Registrar.
  void register_builtin(const std::string& name, const std::function<void(Registrar&)>& register_all);

  /// The directory where the build or install put the shipped plugins.
  static std::string shipped_plugin_directory();

  const GroupType& get_group_type(const std::string& name) const;
  const GroupType* try_get_group_type(const std::string& name) const;
  const ConstraintFactory& get_constraint(const std::string& name) const;
  const ConstraintFactory* try_get_constraint(const std::string& name) const;
  const LayerFactory& get_layer(const std::string& name) const;
  const LayerFactory* try_get_layer(const std::string& name) const;
  /// Registered names of one kind, sorted.
  std::vector<std::string> names(Kind kind) const;
  const std::vector<PluginRecord>& plugins() const;
  /// Directories load_default_plugins looked in, in order (the shipped one even when it is missing).
  const std::vector<std::string>& searched_directories() const;

  /// Builds a group from a SPEC: a short name ("C8", "C2xD4") or a YAML mapping
  /// ("{type: DihedralGroup, n: 4}"). Errors are ConfigError.
  GroupPtr make_group(const YAML::Node& spec) const;
  GroupPtr make_group(const std::string& spec) const;
  /// As above; errors carry `file` and the node's line:column (`FILE:LINE:COL: error: ...`).
  GroupPtr make_group(const YAML::Node& spec, const std::string& file) const;

 private:
  friend class Registrar;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace eqnn
