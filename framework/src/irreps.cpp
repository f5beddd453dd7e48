// Real irreps of a finite group, found numerically from the regular representation (or checked when a
// plugin supplies them), and the decomposition of any representation into them.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "eqnn/error.hpp"
#include "eqnn/group.hpp"
#include "eqnn/representation.hpp"

namespace eqnn {
namespace {

using Rng = std::mt19937_64;

Matrix random_matrix(Rng& rng, Eigen::Index r, Eigen::Index c) {
  std::normal_distribution<double> n(0.0, 1.0);
  Matrix m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
  return m;
}

std::vector<double> character_of(const std::vector<Matrix>& mats) {
  std::vector<double> chi(mats.size());
  for (size_t g = 0; g < mats.size(); ++g) chi[g] = mats[g].trace();
  return chi;
}

double inner(const Group& G, const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (int g = 0; g < G.order(); ++g) s += a[g] * b[g];
  return s / G.order();
}

// Eigen-decomposes a symmetric matrix and groups eigenvectors whose eigenvalues agree to `rel_tol`
// of the spectrum's scale. Returns orthonormal column blocks; `min_gap` reports the smallest
// relative distance between distinct clusters.
std::vector<Matrix> eigen_clusters(const Matrix& A, double rel_tol, double* min_gap) {
  Eigen::SelfAdjointEigenSolver<Matrix> es(A);
  const auto& ev = es.eigenvalues();
  const Eigen::Index n = ev.size();
  double scale = std::max(ev.cwiseAbs().maxCoeff(), 1e-300);
  std::vector<Matrix> out;
  Eigen::Index start = 0;
  *min_gap = 1.0;
  for (Eigen::Index i = 1; i <= n; ++i) {
    if (i == n || (ev[i] - ev[i - 1]) > rel_tol * scale) {
      if (i < n) *min_gap = std::min(*min_gap, (ev[i] - ev[i - 1]) / scale);
      out.push_back(es.eigenvectors().middleCols(start, i - start));
      start = i;
    }
  }
  return out;
}

// Frobenius-orthogonal basis of the commutant of ψ (End_G(ψ)), S matrices, first the identity,
// each scaled to ‖E‖² = d. Found by group-averaging random matrices.
std::vector<Matrix> endomorphism_basis(const std::vector<Matrix>& psi, int S, Rng& rng) {
  const auto d = psi[0].rows();
  std::vector<Matrix> basis{Matrix::Identity(d, d)};
  for (int attempt = 0; static_cast<int>(basis.size()) < S && attempt < 64; ++attempt) {
    Matrix Y = random_matrix(rng, d, d);
    Matrix Z = Matrix::Zero(d, d);
    for (const auto& m : psi) Z += m * Y * m.transpose();
    Z /= static_cast<double>(psi.size());
    for (const auto& E : basis) Z -= (Z.cwiseProduct(E).sum() / E.squaredNorm()) * E;
    double nz = Z.norm();
    if (nz < 1e-6) continue;
    Z *= std::sqrt(static_cast<double>(d)) / nz;
    basis.push_back(Z);
  }
  if (static_cast<int>(basis.size()) != S)
    throw GroupError(fmt::format("internal: found {} endomorphisms of an irrep of type S={}", basis.size(), S));
  return basis;
}

IrrepType type_from_norm(double nu, int d, bool* ok) {
  *ok = true;
  if (std::abs(nu - 1) < 1e-6) return IrrepType::R;
  if (std::abs(nu - 2) < 1e-6 && d % 2 == 0) return IrrepType::C;
  if (std::abs(nu - 4) < 1e-6 && d % 4 == 0) return IrrepType::H;
  *ok = false;
  return IrrepType::R;
}

// Dense matrices of the regular representation: R(g) e_h = e_{g·h}.
std::vector<Matrix> regular_matrices(const Group& G) {
  const int n = G.order();
  std::vector<Matrix> R(n, Matrix::Zero(n, n));
  for (int g = 0; g < n; ++g)
    for (int h = 0; h < n; ++h) R[g](G.mul(g, h), h) = 1.0;
  return R;
}

std::vector<Irrep> compute_irreps(const Group& G) {
  const int n = G.order();
  const int expected = G.num_real_classes();
  Rng rng(0x5eed0000u + static_cast<uint64_t>(n));
  for (int attempt = 0; attempt < 30; ++attempt) {
    // A random symmetric element of the commutant of the regular rep: A[g·i, g·j] += X[i, j].
    Matrix X = random_matrix(rng, n, n);
    X = (X + X.transpose()).eval();
    Matrix A = Matrix::Zero(n, n);
    for (int g = 0; g < n; ++g)
      for (int j = 0; j < n; ++j) {
        const int gj = G.mul(g, j);
        for (int i = 0; i < n; ++i) A(G.mul(g, i), gj) += X(i, j);
      }
    double gap = 1;
    auto clusters = eigen_clusters(A, 1e-9, &gap);
    if (gap < 1e-7) continue;  // eigenvalues nearly coincide: try another X
    struct Cand {
      std::vector<Matrix> mats;
      std::vector<double> chi;
      int count = 0;
    };
    std::vector<Cand> cands;
    bool ok = true;
    for (const Matrix& V : clusters) {
      const auto c = V.cols();
      std::vector<Matrix> phi(n);
      Matrix RV(n, c);
      for (int g = 0; g < n; ++g) {
        for (int h = 0; h < n; ++h) RV.row(G.mul(g, h)) = V.row(h);
        phi[g] = V.transpose() * RV;
      }
      auto chi = character_of(phi);
      bool type_ok = false;
      type_from_norm(inner(G, chi, chi), static_cast<int>(c), &type_ok);
      if (!type_ok) {
        ok = false;
        break;
      }
      bool found = false;
      for (auto& cand : cands) {
        double diff = 0;
        for (int g = 0; g < n; ++g) diff = std::max(diff, std::abs(cand.chi[g] - chi[g]));
        if (diff < 1e-6) {
          ++cand.count;
          found = true;
          break;
        }
      }
      if (!found) cands.push_back(Cand{std::move(phi), std::move(chi), 1});
    }
    if (!ok || static_cast<int>(cands.size()) != expected) continue;
    double total = 0;
    bool counts_ok = true;
    for (auto& c : cands) {
      const int d = static_cast<int>(c.mats[0].rows());
      const double S = std::round(inner(G, c.chi, c.chi));
      total += d * d / S;
      if (std::abs(c.count - d / S) > 1e-9) counts_ok = false;
    }
    if (!counts_ok || std::abs(total - n) > 1e-6) continue;
    // Canonical order: trivial first, then by dimension, type, and character (deterministic).
    auto is_trivial = [&](const Cand& c) {
      return c.mats[0].rows() == 1 && std::all_of(c.chi.begin(), c.chi.end(), [](double x) { return std::abs(x - 1) < 1e-6; });
    };
    std::sort(cands.begin(), cands.end(), [&](const Cand& a, const Cand& b) {
      if (is_trivial(a) != is_trivial(b)) return is_trivial(a);
      if (a.mats[0].rows() != b.mats[0].rows()) return a.mats[0].rows() < b.mats[0].rows();
      double sa = inner(G, a.chi, a.chi), sb = inner(G, b.chi, b.chi);
      if (std::abs(sa - sb) > 0.5) return sa < sb;
      for (int g = 0; g < n; ++g)
        if (std::abs(a.chi[g] - b.chi[g]) > 1e-6) return a.chi[g] > b.chi[g];
      return false;
    });
    std::vector<Irrep> out;
    for (auto& c : cands) {
      Irrep ir;
      ir.index = static_cast<int>(out.size());
      ir.name = fmt::format("irrep({})", ir.index);
      ir.dim = static_cast<int>(c.mats[0].rows());
      bool t_ok = false;
      ir.type = type_from_norm(inner(G, c.chi, c.chi), ir.dim, &t_ok);
      // Clean rounding noise so exact entries (0, ±1, ±1/2) print as such.
      for (auto& m : c.mats)
        for (Eigen::Index i = 0; i < m.size(); ++i)
          if (std::abs(m.data()[i]) < 1e-13) m.data()[i] = 0.0;
      ir.matrices = std::move(c.mats);
      ir.character = std::move(c.chi);
      ir.endomorphism_basis = endomorphism_basis(ir.matrices, ir.S(), rng);
      out.push_back(std::move(ir));
    }
    return out;
  }
  throw GroupError(fmt::format("could not compute the irreps of {} (order {}): the numerical decomposition "
                               "of the regular representation did not converge",
                               G.name(), n));
}

std::vector<Irrep> check_supplied(const Group& G, const std::vector<std::vector<Matrix>>& gens,
                                  const std::vector<std::string>& names) {
  std::vector<Irrep> out;
  Rng rng(0xabcdefu);
  double total = 0;
  for (size_t k = 0; k < gens.size(); ++k) {
    Irrep ir;
    ir.index = static_cast<int>(k);
    ir.name = k < names.size() ? names[k] : fmt::format("irrep({})", k);
    const std::string what = fmt::format("supplied irrep {} ('{}')", k, ir.name);
    ir.matrices = G.extend_matrices(gens[k], what);
    ir.dim = static_cast<int>(ir.matrices[0].rows());
    ir.character = character_of(ir.matrices);
    const double nu = inner(G, ir.character, ir.character);
    bool ok = false;
    ir.type = type_from_norm(nu, ir.dim, &ok);
    if (!ok)
      throw GroupError(fmt::format("{} is not irreducible: (1/|G|) Σ χ(g)² = {:.6g}, expected 1, 2 or 4 "
                                   "(with dimension divisible by 2 or 4)",
                                   what, nu));
    if (k == 0 && !(ir.dim == 1 && std::all_of(ir.character.begin(), ir.character.end(),
                                                 [](double x) { return std::abs(x - 1) < 1e-9; })))
      throw GroupError("supplied irrep 0 must be the trivial irrep (1-dimensional, every matrix [1])");
    for (const auto& prev : out) {
      double ip = inner(G, prev.character, ir.character);
      if (std::abs(ip) > 1e-6)
        throw GroupError(fmt::format("{} is isomorphic to (or shares constituents with) supplied irrep {}: "
                                     "character inner product {:.6g}, expected 0",
                                     what, prev.index, ip));
    }
    ir.endomorphism_basis = endomorphism_basis(ir.matrices, ir.S(), rng);
    total += static_cast<double>(ir.dim) * ir.dim / ir.S();
    out.push_back(std::move(ir));
  }
  if (std::abs(total - G.order()) > 1e-6)
    throw GroupError(fmt::format("the supplied irreps of {} are incomplete: Σ d²/S = {:.6g}, expected |G| = {}",
                                 G.name(), total, G.order()));
  return out;
}

}  // namespace

const std::vector<Irrep>& Group::irreps() const {
  std::call_once(irreps_once_, [this] {
    irreps_ = supplied_irreps_ ? check_supplied(*this, *supplied_irreps_, supplied_names_) : compute_irreps(*this);
  });
  return irreps_;
}

std::pair<std::vector<int>, Matrix> decompose(const Group& G, const std::vector<Matrix>& rho) {
  const auto& irreps = G.irreps();
  const int n = G.order();
  if (static_cast<int>(rho.size()) != n)
    throw GroupError(fmt::format("decompose: {} matrices given, expected one per element ({})", rho.size(), n));
  const auto D = rho[0].rows();
  auto chi = character_of(rho);
  Rng rng(0x6ec0u + static_cast<uint64_t>(D));
  std::vector<int> ids;
  std::vector<Matrix> blocks;
  Eigen::Index filled = 0;
  for (const auto& ir : irreps) {
    const double mreal = inner(G, chi, ir.character) / ir.S();
    const int m = static_cast<int>(std::lround(mreal));
    if (std::abs(mreal - m) > 1e-6 || m < 0)
      throw GroupError(fmt::format("the matrices are not a representation of {}: the multiplicity of {} "
                                   "comes out as {:.6g}, not an integer",
                                   G.name(), ir.name, mreal));
    if (m == 0) continue;
    const int d = ir.dim;
    // Orthonormal basis of the isotypic component: range of P_k.
    Matrix P = Matrix::Zero(D, D);
    for (int g = 0; g < n; ++g) P += ir.character[g] * rho[g];
    P *= static_cast<double>(d) / (ir.S() * n);
    Eigen::SelfAdjointEigenSolver<Matrix> es(0.5 * (P + P.transpose()));
    const Eigen::Index nk = static_cast<Eigen::Index>(m) * d;
    Matrix U = es.eigenvectors().rightCols(nk);
    bool done = false;
    for (int attempt = 0; attempt < 30 && !done; ++attempt) {
      std::vector<Matrix> copies;
      if (m == 1) {
        copies.push_back(Matrix::Identity(nk, nk));
      } else {
        Matrix X = random_matrix(rng, nk, nk);
        X = (X + X.transpose()).eval();
        Matrix A = Matrix::Zero(nk, nk);
        for (int g = 0; g < n; ++g) {
          Matrix r = U.transpose() * rho[g] * U;
          A += r * X * r.transpose();
        }
        double gap = 1;
        copies = eigen_clusters(A, 1e-9, &gap);
        if (gap < 1e-7) continue;
        bool sizes_ok = static_cast<int>(copies.size()) == m;
        for (const auto& V : copies) sizes_ok = sizes_ok && V.cols() == d;
        if (!sizes_ok) continue;
      }
      std::vector<Matrix> aligned;
      bool ok = true;
      for (const auto& V : copies) {
        Matrix B = U * V;  // D × d, one irreducible copy
        std::vector<Matrix> phi(n);
        for (int g = 0; g < n; ++g) phi[g] = B.transpose() * rho[g] * B;
        // T with φ(g) T = T ψ(g): average a random matrix; rescale to orthogonal.
        Matrix T;
        double c = 0;
        for (int t = 0; t < 8 && c < 1e-6; ++t) {
          Matrix Y = random_matrix(rng, d, d);
          T = Matrix::Zero(d, d);
          for (int g = 0; g < n; ++g) T += phi[g] * Y * ir.matrices[g].transpose();
          T /= static_cast<double>(n);
          c = (T * T.transpose()).trace() / d;
        }
        if (c < 1e-6) {
          ok = false;
          break;
        }
        T /= std::sqrt(c);
        aligned.push_back(B * T);
      }
      if (!ok) continue;
      for (auto& b : aligned) {
        blocks.push_back(std::move(b));
        ids.push_back(ir.index);
        filled += d;
      }
      done = true;
    }
    if (!done)
      throw GroupError(fmt::format("could not split the {} copies of {} apart numerically", m, ir.name));
  }
  if (filled != D)
    throw GroupError(fmt::format("the matrices are not a representation of {}: the irreps found add up to "
                                 "dimension {}, but the matrices are {}x{}",
                                 G.name(), filled, D, D));
  Matrix Q(D, D);
  Eigen::Index col = 0;
  for (const auto& b : blocks) {
    Q.middleCols(col, b.cols()) = b;
    col += b.cols();
  }
  // Verify ρ(g) = Q (⊕ψ) Qᵀ on the generators (both sides are homomorphisms, so this is enough).
  for (int g : G.generators()) {
    Matrix blockdiag = Matrix::Zero(D, D);
    Eigen::Index o = 0;
    for (int k : ids) {
      const auto d = irreps[k].dim;
      blockdiag.block(o, o, d, d) = irreps[k].matrices[g];
      o += d;
    }
    double err = (Q * blockdiag * Q.transpose() - rho[g]).cwiseAbs().maxCoeff();
    if (!(err < 1e-8))
      throw GroupError(fmt::format("the matrices are not a representation of {} (decomposition residual {:.3g} "
                                   "at element {})",
                                   G.name(), err, g));
  }
  return {ids, Q};
}

}  // namespace eqnn
