// Decomposition of a representation into the group's irreps by intertwiners: no |G|-dimensional
// eigendecomposition, and no dense per-element matrices for permutation representations.
#include "eqnn/group_theory/decomposition.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>

#include <fmt/format.h>
#include <Eigen/Dense>

#include "eqnn/group_theory/internal/characters.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

using Rng = std::mt19937_64;
using characters::character_of;
using characters::inner;

// Decomposition by intertwiners. For each irrep ψ of multiplicity m, random intertwiners
// T = Σ_g ρ(g) e_p (ψ(g) r)ᵀ (so ρ(g) T = T ψ(g)), with the copies already found projected out, give
// the next copy; TᵀT is a positive multiple of I (a symmetric element of End_G(ψ)), so T/√λ is an
// orthonormal copy already aligned to ψ. Random draws first; then every (p, e_j) in turn, which spans
// all intertwiners, so it cannot miss a copy that exists.

// add_column(g, p, w, T): T += ρ(g)[:, p] wᵀ.
template <class AddColumn>
std::pair<std::vector<int>, Matrix> decompose_by_intertwiners(const Group& G, int D,
                                                              const std::vector<double>& chi,
                                                              AddColumn add_column, const std::string& what) {
  const auto& irreps = G.irreps();
  const int n = G.order();
  Rng rng(0x6ec0u + static_cast<uint64_t>(D));
  std::uniform_int_distribution<int> pick_point(0, std::max(D - 1, 0));
  std::vector<int> ids;
  Matrix Q(D, D);
  Eigen::Index filled = 0;
  for (const auto& ir : irreps) {
    const double mreal = inner(G, chi, ir.character) / ir.S();
    const int m = static_cast<int>(std::lround(mreal));
    if (std::abs(mreal - m) > 1e-6 || m < 0)
      throw GroupError(
          fmt::format("{} is not a representation of {}: the multiplicity of {} comes out as {:.6g}, "
                      "not an integer",
                      what, G.name(), ir.name, mreal));
    if (m == 0) continue;
    if (filled + static_cast<Eigen::Index>(m) * ir.dim > D)
      throw GroupError(
          fmt::format("{} is not a representation of {}: its irreps add up to more than its dimension {}",
                      what, G.name(), D));
    const int d = ir.dim;
    const Eigen::Index first = filled;
    int found = 0;
    auto try_copy = [&](int p, const Eigen::VectorXd& r) {
      Matrix T = Matrix::Zero(D, d);
      for (int g = 0; g < n; ++g) add_column(g, p, ir.matrices[g] * r, T);
      const double before = T.squaredNorm();
      if (!(before > 1e-18)) return false;
      if (filled > first) {
        auto F = Q.middleCols(first, filled - first);
        for (int pass = 0; pass < 2; ++pass) T -= F * (F.transpose() * T);
      }
      const Matrix TT = T.transpose() * T;
      const double lambda = TT.trace() / d;
      if (!(lambda > 1e-8 * before / d)) return false;
      if ((TT - lambda * Matrix::Identity(d, d)).cwiseAbs().maxCoeff() > 1e-6 * lambda) return false;
      Q.middleCols(filled, d) = T / std::sqrt(lambda);
      filled += d;
      ids.push_back(ir.index);
      ++found;
      return true;
    };
    std::normal_distribution<double> nd(0.0, 1.0);
    for (int attempt = 0; found < m && attempt < 4 * m + 8; ++attempt) {
      Eigen::VectorXd r(d);
      for (int j = 0; j < d; ++j) r[j] = nd(rng);
      try_copy(pick_point(rng), r);
    }
    for (int p = 0; p < D && found < m; ++p)
      for (int j = 0; j < d && found < m; ++j) try_copy(p, Eigen::VectorXd::Unit(d, j));
    if (found < m)
      throw GroupError(
          fmt::format("could not find the {} copies of {} (dimension {}, type {}) in {} of {}: found {}. "
                      "The matrices are probably not an orthogonal representation; check them (or report "
                      "this group and representation as a bug)",
                      m, ir.name, d, type_letter(ir.type), what, G.name(), found));
  }
  if (filled != D)
    throw GroupError(
        fmt::format("{} is not a representation of {}: the irreps found add up to dimension {}, but "
                    "it has dimension {}",
                    what, G.name(), filled, D));
  return {ids, Q};
}

}  // namespace

std::pair<std::vector<int>, Matrix> decompose(const Group& G, const std::vector<Matrix>& rho) {
  const int n = G.order();
  if (static_cast<int>(rho.size()) != n)
    throw GroupError(
        fmt::format("decompose: {} matrices given, expected one per element ({})", rho.size(), n));
  const auto D = static_cast<int>(rho[0].rows());
  auto add = [&](int g, int p, const Eigen::VectorXd& w, Matrix& T) {
    T.noalias() += rho[g].col(p) * w.transpose();
  };
  auto [ids, Q] = decompose_by_intertwiners(G, D, character_of(rho), add, "the matrices");
  // Verify ρ(s) Q = Q (⊕ψ(s)) on the generators (both sides are homomorphisms, so this is enough).
  const auto& irreps = G.irreps();
  for (int s : G.generators()) {
    Eigen::Index o = 0;
    double err = 0;
    const Matrix RQ = rho[s] * Q;
    for (int k : ids) {
      const auto d = irreps[k].dim;
      err = std::max(
          err, (RQ.middleCols(o, d) - Q.middleCols(o, d) * irreps[k].matrices[s]).cwiseAbs().maxCoeff());
      o += d;
    }
    if (!(err < 1e-8))
      throw GroupError(
          fmt::format("the matrices are not a representation of {} (decomposition residual {:.3g} at "
                      "element {})",
                      G.name(), err, s));
  }
  return {ids, Q};
}

std::pair<std::vector<int>, Matrix> decompose_permutation(const Group& G,
                                                          const std::vector<Permutation>& gens, int points) {
  const int n = G.order();
  // π_g for every element: the regular action reads the table, others extend along words.
  bool regular = points == n && gens.size() == G.generators().size();
  for (size_t s = 0; regular && s < gens.size(); ++s)
    for (int h = 0; h < n && regular; ++h) regular = gens[s][h] == G.mul(G.generators()[s], h);
  std::vector<Permutation> all;
  if (!regular) all = G.extend_permutations(gens, "permutation representation");
  auto image = [&](int g, int p) { return regular ? G.mul(g, p) : all[g][p]; };
  std::vector<double> chi(n, 0.0);
  for (int g = 0; g < n; ++g)
    for (int p = 0; p < points; ++p) chi[g] += image(g, p) == p;
  auto add = [&](int g, int p, const Eigen::VectorXd& w, Matrix& T) { T.row(image(g, p)) += w.transpose(); };
  auto [ids, Q] = decompose_by_intertwiners(G, points, chi, add, "the permutation representation");
  const auto& irreps = G.irreps();
  for (size_t s = 0; s < gens.size(); ++s) {
    Eigen::Index o = 0;
    double err = 0;
    const int gs = G.generators()[s];
    for (int k : ids) {
      const auto d = irreps[k].dim;
      const Matrix QP = Q.middleCols(o, d) * irreps[k].matrices[gs];
      for (int p = 0; p < points; ++p)  // (ρ(s) Q)[π_s(p)] = Q[p]
        err = std::max(err, (Q.block(p, o, 1, d) - QP.row(gens[s][p])).cwiseAbs().maxCoeff());
      o += d;
    }
    if (!(err < 1e-8))
      throw GroupError(
          fmt::format("internal: the decomposition of a permutation representation of {} has residual "
                      "{:.3g} at generator {}",
                      G.name(), err, s));
  }
  return {ids, Q};
}

}  // namespace eqnn
