// The representation-string language: terms joined by '+', each `[N x] NAME (⊗ NAME)*` with NAME one of
// regular, trivial, irrep(k), permutation(ACTION), standard, tensor(REP, REP, ...) — e.g.
// "4x regular + 2x trivial + irrep(3)", "tensor(irrep(1), 2x irrep(2))", "irrep(1) ⊗ irrep(1)". A compact
// group spells regular(L) and its irreps' arguments (see its plugin).
#pragma once

#include <string>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// Parses a representation string for group `g`. Errors are ConfigError whose column (1-based)
/// points into the string; callers embedding the string in a file shift it to the file position.
RepPtr parse_rep(const GroupPtr& g, const std::string& text);

}  // namespace eqnn
