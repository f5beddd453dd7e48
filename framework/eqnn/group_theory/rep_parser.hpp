// The representation-string language: terms joined by '+', each `[N x] NAME` with NAME one of
// regular, trivial, irrep(k), permutation(ACTION), standard — e.g. "4x regular + 2x trivial + irrep(3)".
#pragma once

#include <string>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// Parses a representation string for group `g`. Errors are ConfigError whose column (1-based)
/// points into the string; callers embedding the string in a file shift it to the file position.
RepPtr parse_rep(const GroupPtr& g, const std::string& text);

}  // namespace eqnn
