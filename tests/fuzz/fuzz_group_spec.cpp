// Fuzz target: the group spec parser (Registry::make_group on a string: a short name such as "C2xD4" or a
// flow mapping such as "{type: FiniteGroup, generators: [...]}"). A group that builds must be one (the
// Cayley table a Latin square with identity 0 and the listed inverses), and its irreps must be real
// irreducible representations that exhaust it: Σ d²/S = |G|, ψ(a)ψ(b) = ψ(ab) on sampled pairs.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/util/error.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  eqnn::fuzz::limit_sizes();
  eqnn::fuzz::registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  eqnn::GroupPtr g;
  try {
    g = eqnn::fuzz::registry().make_group(eqnn::fuzz::text_of(data, size));
  } catch (const eqnn::Error&) {
    return 0;
  }
  if (const eqnn::CompactGroupDefinition* def = g->compact()) {
    // A compact group (SO2, O2, SO3, O3 with a band limit): its first irreps are homomorphisms on
    // Haar-random pairs, of the dimension they declare.
    std::mt19937_64 rng(size);
    const auto& irreps = g->irreps();
    if (irreps.empty() || irreps.size() != static_cast<size_t>(def->num_irreps(g->band_limit())))
      __builtin_trap();
    for (size_t k = 0; k < std::min<size_t>(irreps.size(), 6); ++k) {
      const eqnn::Matrix a = def->sample(rng), b = def->sample(rng);
      const eqnn::Matrix pa = def->irrep_matrix(int(k), a), pb = def->irrep_matrix(int(k), b);
      if (pa.rows() != irreps[k].dim) __builtin_trap();
      if ((pa * pb - def->irrep_matrix(int(k), eqnn::Matrix(a * b))).cwiseAbs().maxCoeff() > 1e-9)
        __builtin_trap();
    }
    return 0;
  }
  const int n = g->order();
  if (n < 1) __builtin_trap();
  for (int a = 0; a < n; ++a) {
    std::vector<bool> row(n), column(n);
    for (int b = 0; b < n; ++b) {
      const int ab = g->mul(a, b), ba = g->mul(b, a);
      if (ab < 0 || ab >= n || ba < 0 || ba >= n || row[ab] || column[ba]) __builtin_trap();
      row[ab] = column[ba] = true;
    }
    if (g->mul(0, a) != a || g->mul(a, 0) != a || g->mul(a, g->inv(a)) != 0) __builtin_trap();
  }
  double sum = 0;
  for (const eqnn::Irrep& irrep : g->irreps()) {
    sum += static_cast<double>(irrep.dim) * irrep.dim / irrep.S();
    for (int i = 0; i < std::min(n, 6); ++i) {
      const int a = (i * 7 + 1) % n, b = (i * 11 + 2) % n;
      const eqnn::Matrix err = irrep.matrices[a] * irrep.matrices[b] - irrep.matrices[g->mul(a, b)];
      if (err.cwiseAbs().maxCoeff() > 1e-8) __builtin_trap();
    }
  }
  if (std::abs(sum - n) > 1e-6) __builtin_trap();
  return 0;
}
