// Content hashing for cache keys: a 64-bit mix step and helpers that feed it integer sequences, matrices
// (entries rounded to a grid, so values that differ by rounding error hash equal) and permutations. A hash
// only picks a bucket: every cache still compares content on a hit.
#pragma once

#include <cmath>
#include <cstdint>

namespace eqnn::hash {

/// Folds v into h (the boost::hash_combine step, 64-bit golden-ratio constant).
inline uint64_t mix(uint64_t h, uint64_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }

/// Folds every element of an integer sequence into h, in order (not its length).
template <class Sequence>
uint64_t mix_all(uint64_t h, const Sequence& values) {
  for (const auto& v : values) h = mix(h, static_cast<uint64_t>(v));
  return h;
}

/// Folds n doubles into h, each rounded to a multiple of 1/scale first.
inline uint64_t mix_rounded(uint64_t h, const double* data, int64_t n, double scale = 1e9) {
  for (int64_t i = 0; i < n; ++i) h = mix(h, static_cast<uint64_t>(std::llround(data[i] * scale)));
  return h;
}

/// Folds a dense matrix (anything with rows(), cols(), size() and column-major data(), e.g. an Eigen
/// matrix) into h: its shape, then its entries rounded to 1e-9.
template <class DenseMatrix>
uint64_t mix_matrix(uint64_t h, const DenseMatrix& m) {
  h = mix(h, static_cast<uint64_t>(m.rows()));
  h = mix(h, static_cast<uint64_t>(m.cols()));
  return mix_rounded(h, m.data(), static_cast<int64_t>(m.size()));
}

/// Folds a list of permutations (each a sequence of point images) into h: the count, then each one's
/// length and images.
template <class Permutations>
uint64_t mix_permutations(uint64_t h, const Permutations& perms) {
  h = mix(h, static_cast<uint64_t>(perms.size()));
  for (const auto& p : perms) h = mix_all(mix(h, static_cast<uint64_t>(p.size())), p);
  return h;
}

}  // namespace eqnn::hash
