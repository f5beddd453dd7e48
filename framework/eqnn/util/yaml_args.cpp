// Keyword-argument readers for YAML with located errors.
#include "eqnn/util/yaml_args.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn::yaml {

void fail(const YAML::Node& at, const std::string& message) {
  if (at.IsDefined() && at.Mark().line >= 0 && !at.Mark().is_null())
    throw ConfigError("", at.Mark().line + 1, at.Mark().column + 1, message);
  throw ConfigError(message);
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing (null)";
  if (n.IsMap()) return "a mapping";
  if (n.IsSequence()) return "a list";
  return fmt::format("'{}'", n.Scalar());
}

void check_keys(const YAML::Node& map, const std::vector<std::string>& allowed, const std::string& what) {
  if (!map.IsDefined() || map.IsNull()) return;
  if (!map.IsMap())
    fail(map, fmt::format("{}: expected a mapping of keyword arguments, found {}", what, describe(map)));
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (!it->first.IsScalar()) {
      fail(it->first, fmt::format("{}: keys must be names, found {} as a key", what, describe(it->first)));
    }
    const std::string key = it->first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    fail(it->first,
         fmt::format("{}: unknown key '{}'{}; allowed keys: {}", what, key, did_you_mean_clause(key, allowed),
                     allowed.empty() ? "none" : fmt::format("{}", fmt::join(allowed, ", "))));
  }
}

void check_unique_keys(const YAML::Node& node, const std::function<std::pair<int, int>(int, int)>& locate) {
  if (node.IsSequence()) {
    for (const auto& item : node) check_unique_keys(item, locate);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, YAML::Mark> seen;
  for (auto it = node.begin(); it != node.end(); ++it) {
    if (it->first.IsScalar()) {
      const std::string key = it->first.Scalar();
      auto [first, fresh] = seen.emplace(key, it->first.Mark());
      if (!fresh) {
        const YAML::Mark& m = first->second;
        if (m.is_null()) fail(it->first, fmt::format("duplicate key '{}'; give each key once", key));
        auto [line, column] =
            locate ? locate(m.line + 1, m.column + 1) : std::pair<int, int>{m.line + 1, m.column + 1};
        fail(it->first,
             fmt::format("duplicate key '{}' (first given at line {}, column {}); give each key once", key,
                         line, column));
      }
    }
    check_unique_keys(it->second, locate);
  }
}

namespace {
// A missing key is nullopt (YAML::Node() would be a defined null node).
std::optional<YAML::Node> lookup(const YAML::Node& map, const std::string& key, bool required) {
  if (!map.IsDefined() || map.IsNull() || !map.IsMap() || !map[key]) {
    if (required) fail(map, fmt::format("missing required key '{}'", key));
    return std::nullopt;
  }
  return map[key];
}
}  // namespace

int64_t get_int(const YAML::Node& map, const std::string& key, std::optional<int64_t> fallback,
                std::optional<int64_t> min, int64_t max) {
  auto found = lookup(map, key, !fallback);
  if (!found) return *fallback;
  const YAML::Node& n = *found;
  const std::string range =
      min ? fmt::format("between {} and {}", *min, max) : fmt::format("at most {}", max);
  int64_t v = 0;
  if (!n.IsScalar() || !YAML::convert<int64_t>::decode(n, v)) {
    // Digits that do not fit in 64 bits get a message about the size, not the type.
    std::string text = n.IsScalar() ? n.Scalar() : "";
    size_t digits = text.empty() || (text[0] != '-' && text[0] != '+') ? 0 : 1;
    const bool integral = digits < text.size() &&
                          std::all_of(text.begin() + static_cast<std::ptrdiff_t>(digits), text.end(),
                                      [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (integral) fail(n, fmt::format("'{}' must be an integer {}, found {} (too large)", key, range, text));
    fail(n, fmt::format("'{}' must be an integer, found {}", key, describe(n)));
  }
  if (min && v < *min) fail(n, fmt::format("'{}' must be >= {}, found {}", key, *min, v));
  if (v > max) fail(n, fmt::format("'{}' must be an integer {}, found {} (too large)", key, range, v));
  return v;
}

double get_double(const YAML::Node& map, const std::string& key, std::optional<double> fallback) {
  auto found = lookup(map, key, !fallback);
  if (!found) return *fallback;
  const YAML::Node& n = *found;
  double v = 0;
  if (!n.IsScalar() || !YAML::convert<double>::decode(n, v))
    fail(n, fmt::format("'{}' must be a number, found {}", key, describe(n)));
  if (!std::isfinite(v)) fail(n, fmt::format("'{}' must be a finite number, found {}", key, n.Scalar()));
  return v;
}

bool get_bool(const YAML::Node& map, const std::string& key, std::optional<bool> fallback) {
  auto found = lookup(map, key, !fallback);
  if (!found) return *fallback;
  const YAML::Node& n = *found;
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
    fail(n, fmt::format("'{}' must be true or false, found {}", key, describe(n)));
  return v;
}

std::string get_string(const YAML::Node& map, const std::string& key, std::optional<std::string> fallback) {
  auto found = lookup(map, key, !fallback);
  if (!found) return *fallback;
  const YAML::Node& n = *found;
  if (!n.IsScalar()) fail(n, fmt::format("'{}' must be a string, found {}", key, describe(n)));
  return n.Scalar();
}

}  // namespace eqnn::yaml
