// Test helpers for layer and constraint tests: representation matrices as tensors, the equivariance error
// of a function over every group element, tolerances per dtype, and the representation kinds the layer
// tests sweep (regular stacks, the same in a random basis, sums of irreps, permutation actions).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/rep_parser.hpp"
#include "eqnn/representation.hpp"
#include "support.hpp"

namespace eqnn::testing {

/// ρ(g) for every element g, shape (|G|, D, D), in `dtype`.
inline at::Tensor rep_matrices(const Representation& rep, at::ScalarType dtype = at::kDouble) {
  const int n = rep.group().order(), d = rep.size();
  at::Tensor out = at::empty({n, d, d}, at::kDouble);
  auto* p = out.data_ptr<double>();
  for (int g = 0; g < n; ++g) {
    Matrix m = rep.matrix(g);
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) p[(static_cast<int64_t>(g) * d + i) * d + j] = m(i, j);
  }
  return out.to(dtype);
}

/// The group acting on features (last dimension): x ρ(g)ᵀ.
inline at::Tensor act(const at::Tensor& rho_g, const at::Tensor& x) { return at::matmul(x, rho_g.t()); }

/// Tolerance of an equivariance error relative to the output scale.
inline double tolerance(at::ScalarType dtype) { return dtype == at::kDouble ? 1e-10 : 1e-5; }

/// max over every g of max|f(x ρ_in(g)ᵀ) − f(x) ρ_out(g)ᵀ|, divided by max|f(x)|.
inline double equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f,
                                 const Representation& in, const Representation& out, const at::Tensor& x) {
  const at::Tensor rin = rep_matrices(in, x.scalar_type()), rout = rep_matrices(out, x.scalar_type());
  const at::Tensor y = f(x);
  const double scale = std::max(y.abs().max().item<double>(), 1e-30);
  double worst = 0;
  for (int g = 0; g < in.group().order(); ++g) {
    at::Tensor diff = f(act(rin[g], x)) - act(rout[g], y);
    worst = std::max(worst, diff.abs().max().item<double>() / scale);
  }
  return worst;
}

/// A direct sum of irreps (Q = I) of exactly `size` coordinates: the non-trivial irreps in turn while they
/// fit, the rest trivial copies. E.g. Ico, 60: "irrep(1) + irrep(2) + irrep(3) + irrep(4) + ...".
inline RepPtr irrep_sum(const GroupPtr& g, int size) {
  const auto& irreps = g->irreps();
  std::vector<RepPtr> parts;
  int used = 0;
  bool added = true;
  while (added) {
    added = false;
    for (size_t k = 1; k < irreps.size(); ++k)
      if (used + irreps[k].dim <= size) {
        parts.push_back(Representation::irrep(g, static_cast<int>(k)));
        used += irreps[k].dim;
        added = true;
      }
  }
  if (used < size) parts.push_back(Representation::trivial(g, size - used));
  return Representation::direct_sum(parts);
}

/// `rep` in a random orthogonal basis (no permutation structure visible in the basis).
inline RepPtr random_basis(const RepPtr& rep, uint64_t seed) {
  return Representation::change_basis(rep, random_orthogonal(rep->size(), seed));
}

/// The representation kinds the layer tests sweep, each of `copies`·|G| coordinates:
/// "regular" (copies x regular), "rotated" (the same in a random basis), "irreps" (a sum of irreps),
/// "permutation" (copies·|G| / |action| copies of the group's first named action; empty if none fits).
inline RepPtr make_kind(const GroupPtr& g, const std::string& kind, int copies, uint64_t seed = 7) {
  const int n = g->order();
  if (kind == "regular") return parse_rep(g, fmt::format("{}x regular", copies));
  if (kind == "rotated") return random_basis(parse_rep(g, fmt::format("{}x regular", copies)), seed);
  if (kind == "irreps") return irrep_sum(g, copies * n);
  if (kind == "permutation") {
    for (const auto& action : g->actions())
      if ((copies * n) % action.num_points == 0)
        return parse_rep(g, fmt::format("{}x permutation({})", copies * n / action.num_points, action.name));
    return nullptr;
  }
  throw std::invalid_argument("make_kind: unknown kind " + kind);
}

/// The groups the layer tests sweep (registry specs) and a short label for test names.
struct GroupCase {
  std::string label;
  std::string spec;
};
inline std::vector<GroupCase> test_groups() {
  return {{"C5", "C5"},
          {"D4", "D4"},
          {"Ico", "Ico"},
          {"C2xD4", "C2xD4"},
          {"Q8",
           "{type: FiniteGroup, name: Q8, generators: [[[0,-1,0,0],[1,0,0,0],[0,0,0,-1],[0,0,1,0]], "
           "[[0,0,-1,0],[0,0,0,1],[1,0,0,0],[0,-1,0,0]]]}"}};
}

inline std::vector<std::string> test_kinds() { return {"regular", "rotated", "irreps", "permutation"}; }

/// Runs `body` and returns the exception text ("" when nothing was thrown).
template <typename F>
std::string error_text(F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace eqnn::testing
