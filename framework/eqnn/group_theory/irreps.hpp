// Tools for group plugins that build their own irreps: split a small representation into irreducible
// invariant subspaces (random symmetric elements of its commutant, which is small when ρ is).
#pragma once

#include <vector>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

/// Orthonormal bases (D × d_i) of irreducible invariant subspaces of ρ, given on every element;
/// mutually orthogonal and spanning R^D. Cost O(|G| D³) per split; meant for D up to a few dozen
/// (a tensor product of two irreps, a restriction to a subgroup). Throws GroupError naming the group
/// when ρ is not an orthogonal representation.
///
///   auto parts = irreducible_subspaces(*g, g->extend_matrices(gens, "ψ⊗φ"));
std::vector<Matrix> irreducible_subspaces(const Group& g, const std::vector<Matrix>& rho);

}  // namespace eqnn
