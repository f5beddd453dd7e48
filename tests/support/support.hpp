// Test-only helpers shared by the unit tests: the real registry with the shipped plugins, random
// orthogonal matrices, dense reference computations and the equivariance check.
#pragma once

#include <random>

#include <Eigen/Dense>
#include <gtest/gtest.h>

#include "eqnn/registry.hpp"
#include "eqnn/representation.hpp"

namespace eqnn::testing {

/// The registry with the shipped plugins, loaded once per test binary.
inline const Registry& registry() {
  static Registry* r = [] {
    auto* reg = new Registry();
    reg->load_default_plugins();
    return reg;
  }();
  return *r;
}

inline GroupPtr group(const std::string& spec) { return registry().make_group(spec); }

inline Matrix random_orthogonal(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> N(0, 1);
  Matrix a(n, n);
  for (int i = 0; i < a.size(); ++i) a.data()[i] = N(rng);
  Eigen::HouseholderQR<Matrix> qr(a);
  return qr.householderQ();
}

inline Matrix random_matrix(int r, int c, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> N(0, 1);
  Matrix a(r, c);
  for (int i = 0; i < a.size(); ++i) a.data()[i] = N(rng);
  return a;
}

/// (1/|G|) Σ_g χ_a(g) χ_b(g), from the representations' own matrices (trace), not their irreps.
inline double character_inner(const Representation& a, const Representation& b) {
  double s = 0;
  for (int g = 0; g < a.group().order(); ++g) s += a.matrix(g).trace() * b.matrix(g).trace();
  return s / a.group().order();
}

}  // namespace eqnn::testing
