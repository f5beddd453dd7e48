// Decomposition of a representation into the group's irreps: the irrep of each copy and an orthogonal Q
// with ρ(g) = Q (⊕ ψ_k(g)) Qᵀ. Representation uses it lazily (cached by content); plugins may call it too.
#pragma once

#include <utility>
#include <vector>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

/// Decomposes matrices ρ(g) (one per element, orthogonal) into irreps: returns (irrep indices, Q) with
/// ρ(g) = Q (⊕ ψ_k(g)) Qᵀ. Throws GroupError if the matrices are not a representation.
std::pair<std::vector<int>, Matrix> decompose(const Group& g, const std::vector<Matrix>& rho);
/// The same for a permutation representation given on the generators (p[i] = image of point i), without
/// any dense per-element matrix: O(|G| · points · Σ d) work, O(points²) memory for Q.
std::pair<std::vector<int>, Matrix> decompose_permutation(const Group& g,
                                                          const std::vector<Permutation>& generators,
                                                          int points);

}  // namespace eqnn
