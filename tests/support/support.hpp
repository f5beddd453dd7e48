// Test-only helpers shared by every test binary: the real registry with the shipped plugins, the Q8
// group spec, random orthogonal matrices and bases, dense reference computations and error texts.
// Tensor-level equivariance checks are in equivariance.hpp, layer construction and sweeps in layers.hpp,
// temporary directories and files in temp_dir.hpp, running the eqnn command in command.hpp.
#pragma once

#include <cmath>
#include <exception>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/ops/isfinite.h>

#include <c10/util/Exception.h>
#include <c10/util/Type.h>

#include <gtest/gtest.h>
#include <Eigen/Dense>

#include "eqnn/group_theory/representation.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"

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
// C2 mirroring a robot's 6 joints: the left/right pairs swap, some with a sign flip, some joints only flip
// (a signed permutation rep; Hom to itself has dead orbits).
inline RepPtr robot_joints(const GroupPtr& c2) {
  Matrix m = Matrix::Zero(6, 6);
  m(1, 0) = -1;
  m(0, 1) = -1;
  m(3, 2) = 1;
  m(2, 3) = 1;
  m(4, 4) = -1;
  m(5, 5) = 1;
  return Representation::from_generator_matrices(c2, {m}, "joints");
}

inline RepPtr random_basis(const RepPtr& rep, uint64_t seed) {
  return Representation::change_basis(rep, random_orthogonal(rep->size(), seed));
}

/// ρ(s) for each generator s of the group, in the group's generator order (from_generator_matrices' input).
inline std::vector<Matrix> generator_matrices(const RepPtr& rep) {
  std::vector<Matrix> out;
  for (int s : rep->group().generators()) out.push_back(rep->matrix(s));
  return out;
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

/// True when `s` contains `part`.
inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// The message of an exception as a test compares it: LibTorch errors without their backtrace.
inline std::string message_of(const std::exception& e) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&e))
    return torch_error->what_without_backtrace();
  return e.what();
}

/// Runs `body` and returns the message of what it throws ("" when it throws nothing). Given a type,
/// `error_text<PluginError>(body)` also fails the test when `body` throws nothing or another type.
///
///   EXPECT_HAS(error_text<ConfigError>([&] { load_model(registry(), path); }), "unknown layer");
template <class Expected = void, class F>
std::string error_text(F&& body) {
  if constexpr (std::is_void_v<Expected>) {
    try {
      body();
    } catch (const std::exception& e) {
      return message_of(e);
    }
  } else {
    try {
      body();
    } catch (const Expected& e) {
      return message_of(e);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected " << c10::demangle(typeid(Expected).name()) << ", got: " << message_of(e);
      return "";
    }
    ADD_FAILURE() << "expected " << c10::demangle(typeid(Expected).name()) << ", nothing thrown";
  }
  return "";
}

}  // namespace eqnn::testing

/// Expects the string `haystack` to contain `needle`, printing the haystack otherwise.
#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)
