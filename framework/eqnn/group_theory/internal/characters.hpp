// Characters as vectors over the group's elements, and their inner product: shared by the irreps
// computation and the decomposition, private to libeqnn.
#pragma once

#include <vector>

#include "eqnn/group_theory/group.hpp"

namespace eqnn::characters {

/// χ(g) = tr ρ(g) for matrices given on every element.
inline std::vector<double> character_of(const std::vector<Matrix>& mats) {
  std::vector<double> chi(mats.size());
  for (size_t g = 0; g < mats.size(); ++g) chi[g] = mats[g].trace();
  return chi;
}

/// ⟨a, b⟩ = (1/|G|) Σ_g a(g) b(g) (real characters).
inline double inner(const Group& G, const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (int g = 0; g < G.order(); ++g) s += a[g] * b[g];
  return s / G.order();
}

}  // namespace eqnn::characters
