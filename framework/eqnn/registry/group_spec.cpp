// Group specs: a short name ("C8", "C2xD4", tried against every group type's parse_short_name, then split
// at 'x' into a DirectProduct) or a YAML mapping ("{type: DihedralGroup, n: 4}"), possibly written as a
// string; errors located in the file the spec came from.
#include "eqnn/registry/group_spec.hpp"

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/strings.hpp"
#include "eqnn/util/suggest.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace eqnn {

using strings::join_names;
using strings::split;
using strings::trim;

namespace {

[[noreturn]] void spec_error(const YAML::Node* node, const std::string& file, const std::string& message) {
  if (!file.empty() && node != nullptr && !node->Mark().is_null()) {
    throw ConfigError(file, node->Mark().line + 1, node->Mark().column + 1, message);
  }
  if (!file.empty()) throw ConfigError(file, 0, 0, message);
  throw ConfigError(message);
}

}  // namespace

GroupPtr group_from_spec(const Registry& registry, const YAML::Node& spec, const std::string& file) {
  const auto types = registry.names(Kind::group);
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
        return group_from_spec(registry, parsed, "");
      } catch (const ConfigError& e) {
        if (e.line() > 0) throw relocate(e.line(), e.column(), e.message());
        spec_error(&spec, file, e.message());
      }
    }
    for (const auto& name : types) {
      const GroupType& type = registry.get_group_type(name);
      if (!type.parse_short_name) continue;
      if (auto params = type.parse_short_name(text)) return type.make(*params, registry);
    }
    if (text.find('x') != std::string::npos && registry.try_get_group_type("DirectProduct") != nullptr) {
      YAML::Node product;
      product["type"] = "DirectProduct";
      for (const auto& part : split(text, 'x')) {
        if (trim(part).empty()) {
          spec_error(&spec, file,
                     fmt::format("group spec '{}' has an empty factor; write a product as C2xD4", text));
        }
        product["factors"].push_back(trim(part));
      }
      return group_from_spec(registry, product, file);
    }
    std::vector<std::string> examples;
    for (const auto& name : types) {
      for (const auto& example : registry.get_group_type(name).short_names) examples.push_back(example);
    }
    std::vector<std::string> candidates = examples;
    candidates.insert(candidates.end(), types.begin(), types.end());
    spec_error(&spec, file,
               fmt::format("unknown group '{}'{} Short names look like: {}; group types: {}; or give a "
                           "mapping such as {{type: {}, ...}}",
                           text, did_you_mean_sentence_end(text, candidates), join_names(examples),
                           join_names(types), types.empty() ? "CyclicGroup" : types.front()));
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
  const GroupType* type = registry.try_get_group_type(type_name);
  if (type == nullptr) {
    spec_error(&type_node, file,
               fmt::format("unknown group type '{}'{} Known group types: {}", type_name,
                           did_you_mean_sentence_end(type_name, types), join_names(types)));
  }
  if (!type->make) spec_error(&spec, file, fmt::format("group type '{}' has no make function", type_name));
  YAML::Node params(YAML::NodeType::Map);
  for (const auto& item : spec) {
    if (item.first.Scalar() != "type") params[item.first] = item.second;
  }
  return type->make(params, registry);
}

}  // namespace eqnn
