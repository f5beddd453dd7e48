// Reading keyword arguments from YAML for plugins (group parameters, layer options) with errors that
// point at the YAML node: ConfigError carries the line and column; the model builder adds the file.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace eqnn::yaml {

/// Throws ConfigError at the node's position (line/column 1-based; file filled in by the caller).
[[noreturn]] void fail(const YAML::Node& at, const std::string& message);
/// Throws ConfigError for every key of `map` not in `allowed`, suggesting the nearest allowed key.
void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what);
/// Throws ConfigError at the second occurrence of a key given twice in any mapping inside `node`
/// (yaml-cpp keeps both and `map[key]` silently returns the first): "duplicate key 'out_rep' ...".
/// `locate` maps a 1-based (line, column) of `node`'s text to the one to name in the message (for YAML
/// parsed from a string inside a file); identity by default.
void check_unique_keys(const YAML::Node& node,
                       const std::function<std::pair<int, int>(int, int)>& locate = nullptr);

/// The largest integer get_int accepts unless told otherwise: sizes, counts and indices are `int` in
/// the group theory, so anything larger would be truncated.
inline constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

/// Required / optional scalars of a mapping, with type errors naming the key and what was found.
/// Integers outside [min, max] are errors at the value (never truncated).
int64_t get_int(const YAML::Node& map, const std::string& key, std::optional<int64_t> fallback = std::nullopt,
                std::optional<int64_t> min = std::nullopt, int64_t max = kMaxInt);
/// A finite number (NaN and Inf are errors).
double get_double(const YAML::Node& map, const std::string& key,
                  std::optional<double> fallback = std::nullopt);
bool get_bool(const YAML::Node& map, const std::string& key, std::optional<bool> fallback = std::nullopt);
std::string get_string(const YAML::Node& map, const std::string& key,
                       std::optional<std::string> fallback = std::nullopt);
/// Kind of node for messages: "a mapping", "a sequence", "the string 'abc'", ...
std::string describe(const YAML::Node& node);

}  // namespace eqnn::yaml
