// Internal to the activation layers: the one check of a `function` option against the names a layer knows,
// with the "did you mean" clause and the list of known names (ePointwise, eNormNonlinearity,
// eGatedNonlinearity).
#pragma once

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn::detail {

/// Nothing when `function` is one of `known`; otherwise the error at key "function", e.g.
/// "eNormNonlinearity: unknown function 'sigmod' (did you mean 'sigmoid'?); known functions: relu, ...".
inline std::optional<OptionError> check_function(const std::string& what, const std::string& function,
                                                 const std::vector<std::string>& known) {
  if (std::find(known.begin(), known.end(), function) != known.end()) return std::nullopt;
  return OptionError{"function",
                     fmt::format("{}: unknown function '{}'{}; known functions: {}", what, function,
                                 did_you_mean_clause(function, known), fmt::join(known, ", "))};
}

}  // namespace eqnn::detail
