// The isotypic (disentangled) basis of a representation: Q's irrep copies grouped by irrep, in a fixed
// order of the components, with the slices of each component (eIsotypicBasis and
// Representation.isotypic_slices use it).
#pragma once

#include <vector>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// One isotypic component in the isotypic basis: the copies of irrep `irrep` occupy [start, stop).
struct IsotypicSlice {
  int irrep = 0;
  int start = 0;
  int stop = 0;
};

/// The isotypic (disentangled) basis of a representation, as symm_learning's isotypic_decomp_rep: the
/// columns of Q reordered so that the copies of each irrep are contiguous. Order of the components: the
/// trivial one first, then by ascending size m_k·d_k, ties by ascending irrep index (symm_learning sorts
/// stably in its group.irreps() order); within a component the copies keep their order in Q.
struct IsotypicBasis {
  std::vector<IsotypicSlice> slices;  ///< one per irrep present, in the isotypic order
  std::vector<int> irreps;            ///< the irrep of each copy in the isotypic order
  Matrix Q_iso;                       ///< size × size orthogonal: ρ(g) = Q_iso (⊕ ψ(g)) Q_isoᵀ
  /// The same ρ as the input, decomposed as (irreps, Q_iso): symm_learning's "NAME-Iso".
  RepPtr iso_rep;
  /// ρ expressed in the isotypic basis: ρ̂(g) = Q_isoᵀ ρ(g) Q_iso = ⊕ ψ(g) (block-diagonal, Q = I).
  RepPtr spectral_rep;
};

/// The isotypic basis of `rep` (decomposes it when it is not yet).
IsotypicBasis isotypic_basis(const RepPtr& rep);

}  // namespace eqnn
