// The registry: named group types, constraint factories and layer factories, filled by plugins through
// a Registrar. Lookups by name, "did you mean" suggestions and group specs ("C8", "C2xD4",
// "{type: DihedralGroup, n: 4}") live here; opening libraries is plugin_loader.cpp's job.
#include "eqnn/registry/registry.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"
#include "eqnn/registry/internal/plugin_loader.hpp"

namespace eqnn {
namespace fs = std::filesystem;

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

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string join_names(const std::vector<std::string>& names) {
  return names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", "));
}

std::string suggestion(const std::string& name, const std::vector<std::string>& candidates) {
  auto nearest = did_you_mean(name, candidates);
  return nearest ? fmt::format("; did you mean '{}'?", *nearest) : std::string();
}

std::string trim(const std::string& s) {
  size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  size_t end = s.find_last_not_of(" \t\r\n");
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t at = s.find(separator, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

}  // namespace

std::optional<std::string> did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const std::string key = lower(name);
  std::optional<std::string> best;
  size_t best_distance = std::max<size_t>(2, key.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    size_t d = edit_distance(key, lower(candidate));
    if (d < best_distance && d < std::max<size_t>(key.size(), 1)) {
      best = candidate;
      best_distance = d;
    }
  }
  if (best || key.size() < 3) return best;
  // "Commuting" → "CommutingConstraint": a unique candidate containing the name.
  std::vector<std::string> containing;
  for (const auto& candidate : candidates) {
    if (lower(candidate).find(key) != std::string::npos) containing.push_back(candidate);
  }
  if (containing.size() == 1) return containing.front();
  return std::nullopt;
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
                                  suggestion(name, known).empty() ? "." : suggestion(name, known),
                                  plural(kind), join_names(known)));
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

// ---- group specs ----

namespace {

[[noreturn]] void spec_error(const YAML::Node* node, const std::string& file, const std::string& message) {
  if (!file.empty() && node != nullptr && !node->Mark().is_null()) {
    throw ConfigError(file, node->Mark().line + 1, node->Mark().column + 1, message);
  }
  if (!file.empty()) throw ConfigError(file, 0, 0, message);
  throw ConfigError(message);
}

}  // namespace

GroupPtr Registry::make_group(const std::string& spec) const { return make_group(YAML::Node(spec), ""); }

GroupPtr Registry::make_group(const YAML::Node& spec) const { return make_group(spec, ""); }

GroupPtr Registry::make_group(const YAML::Node& spec, const std::string& file) const {
  const auto types = names(Kind::group);
  if (spec.IsScalar()) {
    const std::string text = trim(spec.Scalar());
    if (text.empty()) {
      spec_error(
          &spec, file,
          "empty group spec; give a short name such as C8 or a mapping such as {type: CyclicGroup, n: 8}");
    }
    if (text.front() == '{') {
      // A mapping written as a string: errors inside it are located in the string, then moved to the
      // string's place in the file (when the spec came from one).
      const size_t lead = spec.Scalar().find_first_not_of(" \t\r\n");
      const bool in_file = !file.empty() && !spec.Mark().is_null();
      auto position = [&](int line, int column) -> std::pair<int, int> {
        if (!in_file || line <= 0) return {line, column};
        const int quote = spec.Tag() == "!" ? 1 : 0;  // yaml-cpp tags quoted scalars "!"
        return {spec.Mark().line + line,
                line == 1 ? spec.Mark().column + quote + static_cast<int>(lead) + column : column};
      };
      auto relocate = [&](int line, int column, const std::string& message) {
        auto [at_line, at_column] = position(line, column);
        return ConfigError(file, at_line, at_column, message);
      };
      YAML::Node parsed;
      try {
        parsed = YAML::Load(text);
      } catch (const YAML::Exception& e) {
        const std::string message =
            fmt::format("group spec '{}' is not a valid YAML mapping: {}", text, e.msg);
        if (file.empty() || spec.Mark().is_null())
          throw ConfigError(fmt::format("{} (at column {})", message, e.mark.column + 1));
        throw relocate(e.mark.line + 1, e.mark.column + 1, message);
      }
      try {
        yaml::check_unique_keys(parsed, position);
        return make_group(parsed, "");
      } catch (const ConfigError& e) {
        if (e.line() > 0) throw relocate(e.line(), e.column(), e.message());
        spec_error(&spec, file, e.message());
      }
    }
    for (const auto& name : types) {
      const GroupType& type = impl_->groups.at(name).value;
      if (!type.parse_short_name) continue;
      if (auto params = type.parse_short_name(text)) return type.make(*params, *this);
    }
    if (text.find('x') != std::string::npos && try_get_group_type("DirectProduct") != nullptr) {
      YAML::Node product;
      product["type"] = "DirectProduct";
      for (const auto& part : split(text, 'x')) {
        if (trim(part).empty()) {
          spec_error(&spec, file,
                     fmt::format("group spec '{}' has an empty factor; write a product as C2xD4", text));
        }
        product["factors"].push_back(trim(part));
      }
      return make_group(product, file);
    }
    std::vector<std::string> examples;
    for (const auto& name : types) {
      for (const auto& example : impl_->groups.at(name).value.short_names) examples.push_back(example);
    }
    std::vector<std::string> candidates = examples;
    candidates.insert(candidates.end(), types.begin(), types.end());
    std::string hint = suggestion(text, candidates);
    spec_error(&spec, file,
               fmt::format("unknown group '{}'{} Short names look like: {}; group types: {}; or give a "
                           "mapping such as {{type: {}, ...}}",
                           text, hint.empty() ? "." : hint, join_names(examples), join_names(types),
                           types.empty() ? "CyclicGroup" : types.front()));
  }
  if (!spec.IsMap()) {
    spec_error(&spec, file,
               "a group spec must be a short name (C8) or a mapping ({type: CyclicGroup, n: 8})");
  }
  try {
    yaml::check_unique_keys(spec);
  } catch (const ConfigError& e) {
    if (!file.empty() && e.line() > 0) throw ConfigError(file, e.line(), e.column(), e.message());
    throw;
  }
  const YAML::Node type_node = spec["type"];
  if (!type_node || !type_node.IsScalar()) {
    spec_error(&spec, file,
               fmt::format("a group mapping needs 'type: NAME' with a group type; known group types: {}",
                           join_names(types)));
  }
  const std::string type_name = type_node.Scalar();
  const GroupType* type = try_get_group_type(type_name);
  if (type == nullptr) {
    std::string hint = suggestion(type_name, types);
    spec_error(&type_node, file,
               fmt::format("unknown group type '{}'{} Known group types: {}", type_name,
                           hint.empty() ? "." : hint, join_names(types)));
  }
  if (!type->make) spec_error(&spec, file, fmt::format("group type '{}' has no make function", type_name));
  YAML::Node params(YAML::NodeType::Map);
  for (const auto& item : spec) {
    if (item.first.Scalar() != "type") params[item.first] = item.second;
  }
  return type->make(params, *this);
}

}  // namespace eqnn
