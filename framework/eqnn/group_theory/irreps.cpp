// Real irreps of a finite group: checked when a plugin supplies them, otherwise computed from the
// character table (class sums), one isotypic component of the regular representation at a time; and
// irreducible_subspaces for plugins that build their own. Decomposing a representation into the irreps
// is decomposition.cpp's job.
#include <algorithm>
#include <cmath>
#include <complex>
#include <map>
#include <numeric>
#include <random>

#include <fmt/format.h>
#include <Eigen/Dense>
#include <Eigen/Eigenvalues>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/internal/characters.hpp"
#include "eqnn/group_theory/irreps.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/internal/content_cache.hpp"

namespace eqnn {
namespace {

using Rng = std::mt19937_64;
using characters::character_of;
using characters::inner;

Matrix random_matrix(Rng& rng, Eigen::Index r, Eigen::Index c) {
  std::normal_distribution<double> n(0.0, 1.0);
  Matrix m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = n(rng);
  return m;
}

// Eigen-decomposes a symmetric matrix and groups eigenvectors whose eigenvalues agree to `rel_tol` of
// the spectrum's scale. `min_gap` reports the smallest relative distance between distinct clusters.
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

// A basis of End_G(ψ) found by averaging random matrices over the group, Gram–Schmidt against the
// identity and each other, each scaled to ‖E‖² = d. Returns as many as are independent (at most 4;
// `tries` random draws), so the count is dim End as computed from the matrices.
std::vector<Matrix> commutant_basis(const std::vector<Matrix>& psi, int tries, Rng& rng) {
  const auto d = psi[0].rows();
  std::vector<Matrix> basis{Matrix::Identity(d, d)};
  for (int attempt = 0; attempt < tries && basis.size() < 5; ++attempt) {
    Matrix Y = random_matrix(rng, d, d);
    Matrix Z = Matrix::Zero(d, d);
    for (const auto& m : psi) Z.noalias() += m * Y * m.transpose();
    Z /= static_cast<double>(psi.size());
    const double before = Z.norm();
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& E : basis) Z -= (Z.cwiseProduct(E).sum() / E.squaredNorm()) * E;
    const double nz = Z.norm();
    if (!(nz > 1e-8 * std::max(before, 1.0))) continue;
    Z *= std::sqrt(static_cast<double>(d)) / nz;
    basis.push_back(Z);
  }
  return basis;
}

// Irreducibility of real matrices ψ with character norm ν: End_G(ψ) must have dimension ν ∈ {1,2,4}
// (computed from the matrices) and be a division algebra: every non-identity basis element squares
// to -I. Returns an empty string when irreducible, else why not.
std::string irreducibility_problem(const std::vector<Matrix>& psi, double nu, Rng& rng, IrrepType* type) {
  const int d = static_cast<int>(psi[0].rows());
  const int S = static_cast<int>(std::lround(nu));
  if (!(std::abs(nu - S) < 1e-6) || (S != 1 && S != 2 && S != 4))
    return fmt::format(
        "its character norm (1/|G|) Σ χ(g)² = {:.6g} is not 1, 2 or 4, so it is a sum of several "
        "irreps",
        nu);
  if (d % S != 0)
    return fmt::format("its character norm is {} but its dimension {} is not divisible by {}", S, d, S);
  auto basis = commutant_basis(psi, S + 2, rng);
  if (static_cast<int>(basis.size()) != S)
    return fmt::format(
        "its commutant End_G computed from the matrices has dimension {}, but the character norm "
        "is {}",
        basis.size(), S);
  for (size_t i = 1; i < basis.size(); ++i) {
    const double err = (basis[i] * basis[i] + Matrix::Identity(d, d)).cwiseAbs().maxCoeff();
    if (!(err < 1e-6))
      return fmt::format(
          "End_G has dimension {} but is not a division algebra: a commuting matrix E ⟂ I has "
          "max |E² + I| = {:.3g} (E² = -I for an irrep of type {}), so it splits into smaller "
          "irreps",
          S, err, S == 2 ? 'C' : 'H');
  }
  *type = static_cast<IrrepType>(S);
  return "";
}

std::vector<Matrix> endomorphism_basis(const std::vector<Matrix>& psi, int S, Rng& rng,
                                       const std::string& what) {
  auto basis = commutant_basis(psi, S + 8, rng);
  if (static_cast<int>(basis.size()) != S)
    throw GroupError(fmt::format("{}: found {} independent endomorphisms, expected {} (type {})", what,
                                 basis.size(), S, type_letter(static_cast<IrrepType>(S))));
  return basis;
}

// ---------------------------------------------------------------------------------------------------
// Supplied irreps: every check of issue 11 part 3.

std::vector<Irrep> check_supplied(const Group& G, const std::vector<std::vector<Matrix>>& gens,
                                  const std::vector<std::string>& names) {
  std::vector<Irrep> out;
  Rng rng(0xabcdefu);
  const int expected = G.num_real_classes();
  if (static_cast<int>(gens.size()) != expected)
    throw GroupError(
        fmt::format("the supplied irreps of {} are {}: {} given, but {} has {} real conjugacy classes "
                    "(g ~ hgh⁻¹ ~ hg⁻¹h⁻¹), so it has exactly {} real irreps",
                    G.name(), gens.size() < size_t(expected) ? "incomplete" : "too many", gens.size(),
                    G.name(), expected, expected));
  double total = 0;
  for (size_t k = 0; k < gens.size(); ++k) {
    Irrep ir;
    ir.index = static_cast<int>(k);
    ir.name = k < names.size() ? names[k] : fmt::format("irrep({})", k);
    const std::string what = fmt::format("supplied irrep {} ('{}') of {}", k, ir.name, G.name());
    ir.matrices = G.extend_matrices(gens[k], what);
    ir.dim = static_cast<int>(ir.matrices[0].rows());
    if (ir.dim == 0) throw GroupError(fmt::format("{} has dimension 0", what));
    ir.character = character_of(ir.matrices);
    if (k == 0 && !(ir.dim == 1 && std::all_of(ir.character.begin(), ir.character.end(),
                                               [](double x) { return std::abs(x - 1) < 1e-9; })))
      throw GroupError(fmt::format(
          "supplied irrep 0 of {} must be the trivial irrep (1-dimensional, every matrix [1])", G.name()));
    const double nu = inner(G, ir.character, ir.character);
    auto problem = irreducibility_problem(ir.matrices, nu, rng, &ir.type);
    if (!problem.empty()) throw GroupError(fmt::format("{} is not irreducible: {}", what, problem));
    ir.endomorphism_basis = endomorphism_basis(ir.matrices, ir.S(), rng, what);
    total += static_cast<double>(ir.dim) * ir.dim / ir.S();
    out.push_back(std::move(ir));
  }
  // Pairwise non-isomorphic: the Gram matrix of the characters must be diagonal.
  const int n = G.order(), r = static_cast<int>(out.size());
  Matrix X(r, n);
  for (int k = 0; k < r; ++k)
    for (int g = 0; g < n; ++g) X(k, g) = out[k].character[g];
  Matrix gram = (X * X.transpose()) / static_cast<double>(n);
  for (int a = 0; a < r; ++a)
    for (int b = 0; b < a; ++b)
      if (std::abs(gram(a, b)) > 1e-6)
        throw GroupError(
            fmt::format("supplied irrep {} ('{}') of {} is isomorphic to (or shares constituents with) "
                        "supplied irrep {} ('{}'): character inner product {:.6g}, expected 0",
                        a, out[a].name, G.name(), b, out[b].name, gram(a, b)));
  if (std::abs(total - n) > 1e-6)
    throw GroupError(fmt::format(
        "the supplied irreps of {} are incomplete: Σ d²/S = {:.6g}, expected |G| = {}", G.name(), total, n));
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Computed irreps: character table from class sums, then one isotypic component of the regular
// representation at a time.

struct RealCharacter {
  std::vector<double> chi;  // per element
  int dim = 0;
  IrrepType type = IrrepType::R;
};

// Real irreducible characters from the class sums (Burnside's method, kept real): multiplication by a
// random self-adjoint central element z = Σ c_i C_i (c_i = c_i* for the inverse class i*) on the
// centre of the group algebra has the primitive central idempotents as eigenvectors, coordinates
// conj(χ(C_j)). With S = diag(|C_j|) the matrix S^½ M S^-½ is symmetric, so a symmetric eigensolver
// suffices; χ and χ̄ share an eigenvalue, and in that 2-dimensional eigenspace the real character
// χ + χ̄ is the vector that takes equal values on C_j and C_j*. A real χ has a 1-dimensional
// eigenspace and its Frobenius–Schur indicator says R (+1) or H (-1, real character 2χ).
std::vector<RealCharacter> real_characters(const Group& G, Rng& rng) {
  const int n = G.order();
  const auto classes = G.conjugacy_classes();
  const int r = static_cast<int>(classes.size());
  std::vector<int> cls(n);
  for (int c = 0; c < r; ++c)
    for (int e : classes[c]) cls[e] = c;
  std::vector<int> inv_class(r);
  for (int c = 0; c < r; ++c) inv_class[c] = cls[G.inv(classes[c][0])];
  Eigen::VectorXd size(r);
  for (int c = 0; c < r; ++c) size[c] = static_cast<double>(classes[c].size());
  const int expected = G.num_real_classes();
  std::string last_problem;
  for (int attempt = 0; attempt < 12; ++attempt) {
    std::normal_distribution<double> nd(0.0, 1.0);
    std::vector<double> coef(r);
    for (int c = 0; c < r; ++c) coef[c] = nd(rng);
    for (int c = 0; c < r; ++c)
      if (inv_class[c] > c) coef[inv_class[c]] = coef[c];  // self-adjoint z
    Matrix M = Matrix::Zero(r, r);                         // M(k, j) = coefficient of C_k in z·C_j
    for (int k = 0; k < r; ++k) {
      const int gk = classes[k][0];
      for (int x = 0; x < n; ++x) M(k, cls[G.mul(G.inv(x), gk)]) += coef[cls[x]];
    }
    const Eigen::VectorXd sq = size.cwiseSqrt();
    Matrix N = sq.asDiagonal() * M * sq.cwiseInverse().asDiagonal();
    const double asym = (N - N.transpose()).cwiseAbs().maxCoeff();
    N = 0.5 * (N + N.transpose()).eval();
    double gap = 1;
    auto clusters = eigen_clusters(N, 1e-9, &gap);
    if (asym > 1e-8 * std::max(1.0, N.cwiseAbs().maxCoeff()) || (clusters.size() > 1 && gap < 1e-7) ||
        static_cast<int>(clusters.size()) != expected) {
      last_problem = fmt::format("{} eigenvalue clusters for {} real classes, relative gap {:.2g}",
                                 clusters.size(), expected, gap);
      continue;
    }
    std::vector<RealCharacter> out;
    bool ok = true;
    for (const Matrix& Ucl : clusters) {
      Matrix W = sq.cwiseInverse().asDiagonal() * Ucl;  // eigenvectors of M
      Eigen::VectorXd w;
      if (W.cols() == 1) {
        w = W.col(0);
      } else if (W.cols() == 2) {
        Matrix A(r, 2);  // w_j - w_j*
        for (int j = 0; j < r; ++j) A.row(j) = W.row(j) - W.row(inv_class[j]);
        Eigen::JacobiSVD<Matrix> svd(A, Eigen::ComputeFullV);
        w = W * svd.matrixV().col(1);
      } else {
        ok = false;
        last_problem = fmt::format("an eigenspace of dimension {}", W.cols());
        break;
      }
      if (std::abs(w[0]) < 1e-9 * w.norm()) {
        ok = false;
        last_problem = "a class function vanishes at the identity";
        break;
      }
      w /= w[0];
      double norm = 0;
      for (int c = 0; c < r; ++c) norm += size[c] * w[c] * w[c];
      RealCharacter rc;
      rc.chi.resize(n);
      // A real character χ (or χ + χ̄) with ⟨ψ, ψ⟩ = 1 (or 2): ψ(1)² = ⟨ψ,ψ⟩ |G| / Σ |C_j| w_j².
      const int S_pair = W.cols() == 2 ? 2 : 1;
      const double degree = std::sqrt(S_pair * n / norm);
      const long dr = std::lround(degree);
      if (dr < 1 || std::abs(degree - dr) > 1e-6 || (S_pair == 2 && dr % 2 != 0)) {
        ok = false;
        last_problem = fmt::format("a character degree came out as {:.9g}", degree);
        break;
      }
      for (int g = 0; g < n; ++g) rc.chi[g] = static_cast<double>(dr) * w[cls[g]];
      if (S_pair == 2) {
        rc.dim = static_cast<int>(dr);
        rc.type = IrrepType::C;
      } else {
        double fs = 0;
        for (int g = 0; g < n; ++g) fs += rc.chi[G.mul(g, g)];
        fs /= n;
        if (std::abs(std::abs(fs) - 1) > 1e-6) {
          ok = false;
          last_problem = fmt::format("a Frobenius–Schur indicator came out as {:.6g}", fs);
          break;
        }
        const bool quaternionic = fs < 0;
        if (quaternionic)
          for (auto& x : rc.chi) x *= 2;
        rc.dim = static_cast<int>(quaternionic ? 2 * dr : dr);
        rc.type = quaternionic ? IrrepType::H : IrrepType::R;
      }
      out.push_back(std::move(rc));
    }
    if (!ok) continue;
    // Orthogonality of the real characters, ⟨ψ_a, ψ_b⟩ = S_a δ_ab (a check independent of the solver).
    double worst = 0;
    for (size_t a = 0; a < out.size(); ++a)
      for (size_t b = 0; b <= a; ++b) {
        double s = 0;
        for (int c = 0; c < r; ++c) s += size[c] * out[a].chi[classes[c][0]] * out[b].chi[classes[c][0]];
        worst = std::max(worst, std::abs(s / n - (a == b ? static_cast<double>(out[a].type) : 0.0)));
      }
    if (worst > 1e-6) {
      last_problem = fmt::format("the computed characters are orthogonal only to {:.2g}", worst);
      continue;
    }
    return out;
  }
  throw GroupError(
      fmt::format("could not compute the character table of {} (order {}) from its class sums: {}. "
                  "Supply the irreps from the group's plugin (Group::set_irreps)",
                  G.name(), n, last_problem));
}

// One irreducible copy of the real irrep with character χ inside the regular representation: an
// orthonormal basis B (|G| × d) with R(g) B = B ψ(g).
Matrix irreducible_copy(const Group& G, const RealCharacter& rc, Rng& rng) {
  const int n = G.order(), d = rc.dim, S = static_cast<int>(rc.type);
  const int md = d * d / S;
  // The isotypic component of the regular representation is the range of P, P[h, k] ∝ χ(h k⁻¹)
  // (exact class data); its columns are O(|G|) each. Random combinations of a few columns, then an
  // orthonormal basis, growing the number of columns until the rank is md.
  const double c = static_cast<double>(d) / (S * static_cast<double>(n));
  std::uniform_int_distribution<int> pick(0, n - 1);
  std::normal_distribution<double> nd(0.0, 1.0);
  Matrix U;
  for (int terms = 3;; terms *= 2) {
    Matrix X = Matrix::Zero(n, md);
    for (int col = 0; col < md; ++col)
      for (int t = 0; t < std::min(terms, n); ++t) {
        const int ki = G.inv(pick(rng));
        const double w = nd(rng);
        for (int h = 0; h < n; ++h) X(h, col) += w * c * rc.chi[G.mul(h, ki)];
      }
    Eigen::ColPivHouseholderQR<Matrix> qr(X);
    qr.setThreshold(1e-9);
    if (qr.rank() == md) {
      U = qr.householderQ() * Matrix::Identity(n, md);
      break;
    }
    if (terms > 4 * n)
      throw GroupError(
          fmt::format("internal: the isotypic component of an irrep of {} of dimension {} has rank {}, "
                      "expected {}",
                      G.name(), d, qr.rank(), md));
  }
  if (md == d) return U;
  const int m = md / d;
  // Split with a random symmetric element of the commutant: right translations (f ↦ f(· x)) commute
  // with the left regular action; A = Σ c_x (T_x + T_x⁻¹) restricted to the component.
  std::string last;
  for (int attempt = 0; attempt < 24; ++attempt) {
    const int terms = std::min(n, 8 << (attempt / 2));
    Matrix AU = Matrix::Zero(n, md);
    for (int t = 0; t < terms; ++t) {
      const int x = terms == n ? t : pick(rng);
      const double cx = nd(rng);
      const int xi = G.inv(x);
      for (int h = 0; h < n; ++h) AU.row(h) += cx * (U.row(G.mul(h, x)) + U.row(G.mul(h, xi)));
    }
    Matrix A = U.transpose() * AU;
    A = 0.5 * (A + A.transpose()).eval();
    double gap = 1;
    auto clusters = eigen_clusters(A, 1e-8, &gap);
    if (static_cast<int>(clusters.size()) != m || gap < 1e-6) {
      last =
          fmt::format("{} eigenvalue clusters (expected {}), relative gap {:.2g}", clusters.size(), m, gap);
      continue;
    }
    bool sizes = true;
    for (const auto& V : clusters) sizes = sizes && V.cols() == d;
    if (!sizes) {
      last = "a cluster of the wrong size";
      continue;
    }
    return U * clusters[0];
  }
  throw GroupError(
      fmt::format("could not split the isotypic component of an irrep of {} of dimension {} (type {}) "
                  "into its {} copies: {} after 24 random commutant elements. Supply the irreps from "
                  "the group's plugin (Group::set_irreps)",
                  G.name(), d, type_letter(rc.type), m, last));
}

std::vector<Irrep> compute_irreps(const Group& G) {
  const int n = G.order();
  Rng rng(0x5eed0000u + static_cast<uint64_t>(n));
  auto chars = real_characters(G, rng);
  const int expected = G.num_real_classes();
  if (static_cast<int>(chars.size()) != expected)
    throw GroupError(fmt::format("internal: {} real characters for {} but {} real classes", chars.size(),
                                 G.name(), expected));
  // Canonical order: trivial first, then by dimension, type and character (deterministic).
  auto is_trivial = [](const RealCharacter& c) {
    return c.dim == 1 &&
           std::all_of(c.chi.begin(), c.chi.end(), [](double x) { return std::abs(x - 1) < 1e-6; });
  };
  std::stable_sort(chars.begin(), chars.end(), [&](const RealCharacter& a, const RealCharacter& b) {
    if (is_trivial(a) != is_trivial(b)) return is_trivial(a);
    if (a.dim != b.dim) return a.dim < b.dim;
    if (a.type != b.type) return a.type < b.type;
    for (int g = 0; g < n; ++g)
      if (std::abs(a.chi[g] - b.chi[g]) > 1e-6) return a.chi[g] > b.chi[g];
    return false;
  });
  std::vector<Irrep> out;
  for (auto& rc : chars) {
    Irrep ir;
    ir.index = static_cast<int>(out.size());
    ir.name = fmt::format("irrep({})", ir.index);
    ir.dim = rc.dim;
    ir.type = rc.type;
    const std::string what = fmt::format("{} of {}", ir.name, G.name());
    if (ir.index == 0) {
      ir.matrices.assign(n, Matrix::Identity(1, 1));
    } else {
      Matrix B = irreducible_copy(G, rc, rng);
      std::vector<Matrix> gens;
      for (int s : G.generators()) {
        Matrix RB(n, ir.dim);  // (R(s) B)[s·h] = B[h]
        for (int h = 0; h < n; ++h) RB.row(G.mul(s, h)) = B.row(h);
        gens.push_back(B.transpose() * RB);
      }
      ir.matrices = G.extend_matrices(gens, what, 1e-7);
    }
    ir.character = character_of(ir.matrices);
    double err = 0;
    for (int g = 0; g < n; ++g) err = std::max(err, std::abs(ir.character[g] - rc.chi[g]));
    if (!(err < 1e-6))
      throw GroupError(
          fmt::format("internal: {} has character error {:.3g} against the character table", what, err));
    for (auto& m : ir.matrices)
      for (Eigen::Index i = 0; i < m.size(); ++i)
        if (std::abs(m.data()[i]) < 1e-13) m.data()[i] = 0.0;
    ir.character = character_of(ir.matrices);
    ir.endomorphism_basis = endomorphism_basis(ir.matrices, ir.S(), rng, what);
    out.push_back(std::move(ir));
  }
  return out;
}

// Process-wide cache of irreps by group content (table, generators, supplied irreps and names).
struct IrrepKey {
  std::shared_ptr<const Group> group;
};
detail::ContentCache<IrrepKey, std::vector<Irrep>>& irrep_cache() {
  static auto* c = new detail::ContentCache<IrrepKey, std::vector<Irrep>>(32, size_t(512) << 20);
  return *c;
}

size_t irrep_bytes(const std::vector<Irrep>& irr) {
  size_t b = 0;
  for (const auto& ir : irr)
    b += ir.matrices.size() * (static_cast<size_t>(ir.dim) * ir.dim + 1) * sizeof(double);
  return b;
}

}  // namespace

bool Group::irreps_ready() const { return irreps_ready_.load(); }

const std::vector<Irrep>& Group::irreps() const {
  if (compact_) return *irreps_;  // made by from_compact
  std::call_once(irreps_once_, [this] {
    auto self = shared_from_this();
    auto same = [&](const IrrepKey& k) { return k.group->same_content(*this); };
    if (auto hit = irrep_cache().find(hash_, same)) {
      irreps_ = hit;
    } else {
      auto computed = std::make_shared<const std::vector<Irrep>>(
          supplied_irreps_ ? check_supplied(*this, *supplied_irreps_, supplied_names_)
                           : compute_irreps(*this));
      irrep_cache().insert(hash_, IrrepKey{self}, computed, irrep_bytes(*computed));
      irreps_ = computed;
    }
    irreps_ready_ = true;
  });
  return *irreps_;
}

std::vector<Matrix> irreducible_subspaces(const Group& G, const std::vector<Matrix>& rho) {
  const int n = G.order();
  if (static_cast<int>(rho.size()) != n)
    throw GroupError(
        fmt::format("irreducible_subspaces: {} matrices given for {} of order {}", rho.size(), G.name(), n));
  const auto D = rho[0].rows();
  Rng rng(0x5b117u + static_cast<uint64_t>(D));
  std::vector<Matrix> out;
  std::vector<Matrix> todo{Matrix::Identity(D, D)};
  while (!todo.empty()) {
    Matrix V = std::move(todo.back());
    todo.pop_back();
    const auto c = V.cols();
    std::vector<Matrix> phi(n);
    for (int g = 0; g < n; ++g) phi[g] = V.transpose() * rho[g] * V;
    bool split = false;
    std::string last;
    for (int attempt = 0; attempt < 24 && !split; ++attempt) {
      Matrix X = random_matrix(rng, c, c);
      X = (X + X.transpose()).eval();
      Matrix A = Matrix::Zero(c, c);
      for (const auto& m : phi) A.noalias() += m * X * m.transpose();
      A /= static_cast<double>(n);
      const double mean = A.trace() / c;
      if ((A - mean * Matrix::Identity(c, c)).norm() <= 1e-9 * A.norm()) {
        // Only scalars among the symmetric commuting matrices: irreducible, if End is a division algebra.
        IrrepType type;
        auto chi = character_of(phi);
        auto problem = irreducibility_problem(phi, inner(G, chi, chi), rng, &type);
        if (!problem.empty())
          throw GroupError(
              fmt::format("irreducible_subspaces: the matrices are not an orthogonal representation of {} "
                          "(a subspace with only scalar symmetric endomorphisms is not irreducible: {})",
                          G.name(), problem));
        out.push_back(V);
        split = true;
        break;
      }
      double gap = 1;
      auto clusters = eigen_clusters(A, 1e-8, &gap);
      if (clusters.size() < 2 || gap < 1e-6) {
        last = fmt::format("relative eigenvalue gap {:.2g}", gap);
        continue;
      }
      for (auto& W : clusters) todo.push_back(V * W);
      split = true;
    }
    if (!split)
      throw GroupError(
          fmt::format("irreducible_subspaces: could not split a {}-dimensional subspace of a "
                      "representation of {} ({} after 24 random commutant elements)",
                      c, G.name(), last));
  }
  return out;
}

}  // namespace eqnn
