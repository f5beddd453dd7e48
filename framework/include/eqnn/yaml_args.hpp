// Reading keyword arguments from YAML for plugins (group parameters, layer options) with errors that
// point at the YAML node: ConfigError carries the line and column; the model builder adds the file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace eqnn::yaml {

/// Throws ConfigError at the node's position (line/column 1-based; file filled in by the caller).
[[noreturn]] void fail(const YAML::Node& at, const std::string& message);
/// Throws ConfigError for every key of `map` not in `allowed`, suggesting the nearest allowed key.
void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what);
/// Required / optional scalars of a mapping, with type errors naming the key and what was found.
int64_t get_int(const YAML::Node& map, const std::string& key, std::optional<int64_t> fallback = std::nullopt,
                std::optional<int64_t> min = std::nullopt);
double get_double(const YAML::Node& map, const std::string& key, std::optional<double> fallback = std::nullopt);
bool get_bool(const YAML::Node& map, const std::string& key, std::optional<bool> fallback = std::nullopt);
std::string get_string(const YAML::Node& map, const std::string& key,
                       std::optional<std::string> fallback = std::nullopt);
/// Kind of node for messages: "a mapping", "a sequence", "the string 'abc'", ...
std::string describe(const YAML::Node& node);

}  // namespace eqnn::yaml
