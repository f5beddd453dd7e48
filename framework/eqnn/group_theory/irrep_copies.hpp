// The irreducible copies of a representation: the column blocks of its change of basis Q, in the order of
// rep.irreps() (copy c is irrep irreps()[c], with dim[c] columns of Q starting at start[c]). Every layer
// that acts per copy (eAffine, the per-copy norms, eBatchNorm1d, eNormNonlinearity, eGatedNonlinearity,
// eNormPool) reads the copies from here, so they all mean the same thing by "copy c".
#pragma once

#include <cstdint>
#include <vector>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// Index lists describing the copies of one representation (plain vectors: layers turn them into tensors).
struct IrrepCopies {
  std::vector<int> irrep;                // irrep index of each copy
  std::vector<int64_t> dim;              // dimension of each copy
  std::vector<int64_t> start;            // first column of Q of each copy
  std::vector<int64_t> copy_of_column;   // (rep.size()): the copy each column of Q belongs to
  std::vector<int64_t> trivial_columns;  // the columns of Q that are trivial copies, in order
  int64_t count() const { return static_cast<int64_t>(irrep.size()); }
};

/// The copies of `rep` (decomposes it on first use, as rep.irreps() does).
///
///   auto copies = irrep_copies(*parse_rep(g, "regular + trivial"));   // D4: 5 + 1 copies
///   copies.count();                                                    // 6
IrrepCopies irrep_copies(const Representation& rep);

/// The copies grouped by dimension, so that a per-copy reduction (a norm) takes one call per dimension:
/// the dimensions present (ascending), per dimension the columns of its copies (copy after copy), and for
/// copy c its position in the concatenation of the per-dimension results.
struct CopiesByDimension {
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> columns;
  std::vector<int64_t> position;
};
CopiesByDimension group_by_dimension(const IrrepCopies& copies);

}  // namespace eqnn
