// Test-only helpers shared by every test binary: the real registry with the shipped plugins, the Q8
// group spec, random orthogonal matrices and bases, dense reference computations and error texts.
// Tensor-level equivariance checks are in equivariance.hpp, layer construction and sweeps in layers.hpp.
#pragma once

#include <cmath>
#include <exception>
#include <limits>
#include <random>
#include <string>

#include <ATen/core/Tensor.h>
#include <ATen/ops/isfinite.h>

#include <c10/util/Exception.h>

#include <gtest/gtest.h>
#include <Eigen/Dense>

#include "eqnn/util/error.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/group_theory/representation.hpp"

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

/// The quaternion group by generators: left multiplication by i and j on H = R^4 (a registry spec).
inline const char* const kQ8 =
    "{type: FiniteGroup, name: Q8, generators: [[[0,-1,0,0],[1,0,0,0],[0,0,0,-1],[0,0,1,0]], "
    "[[0,0,-1,0],[0,0,0,1],[1,0,0,0],[0,-1,0,0]]]}";

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

/// `rep` in a random orthogonal basis (no permutation structure visible in the basis).
inline RepPtr random_basis(const RepPtr& rep, uint64_t seed) {
  return Representation::change_basis(rep, random_orthogonal(rep->size(), seed));
}

/// (1/|G|) Σ_g χ_a(g) χ_b(g), from the representations' own matrices (trace), not their irreps.
inline double character_inner(const Representation& a, const Representation& b) {
  double s = 0;
  for (int g = 0; g < a.group().order(); ++g) s += a.matrix(g).trace() * b.matrix(g).trace();
  return s / a.group().order();
}

/// What error helpers return when a value is NaN or Inf: NaN, so every `EXPECT_LE(err, tol)` fails.
inline constexpr double kNotFinite = std::numeric_limits<double>::quiet_NaN();

/// max(a, b) that keeps NaN and Inf: std::max(worst, NaN) would silently drop the NaN.
inline double nan_max(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return kNotFinite;
  return a < b ? b : a;
}

/// True when every entry of `t` is finite (no NaN, no Inf).
inline bool all_finite(const at::Tensor& t) { return at::isfinite(t).all().item<bool>(); }

/// Runs `body` and returns the exception text ("" when nothing was thrown); LibTorch errors without
/// their backtrace.
template <typename F>
std::string error_text(F&& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace eqnn::testing

/// Expects the string `haystack` to contain `needle`, printing the haystack otherwise.
#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)
