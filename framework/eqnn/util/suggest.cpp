// Suggestions for mistyped names: Levenshtein distance on lower-cased names, with a threshold that grows
// with the name's length, then a unique-substring fallback ("Commuting" → "CommutingConstraint").
#include "eqnn/util/suggest.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace eqnn {
namespace {

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

std::string did_you_mean_clause(const std::string& name, const std::vector<std::string>& candidates) {
  auto nearest = did_you_mean(name, candidates);
  return nearest ? fmt::format(" (did you mean '{}'?)", *nearest) : std::string();
}

std::string did_you_mean_sentence_end(const std::string& name, const std::vector<std::string>& candidates) {
  auto nearest = did_you_mean(name, candidates);
  return nearest ? fmt::format("; did you mean '{}'?", *nearest) : std::string(".");
}

}  // namespace eqnn
