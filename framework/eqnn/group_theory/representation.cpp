// Representations: constructors, matrices, permutation structure, projectors, content hashing, and the
// lazy decomposition of permutation structures (cached by content).
#include "eqnn/group_theory/representation.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <utility>

#include <fmt/format.h>
#include <Eigen/Dense>
#include <unsupported/Eigen/KroneckerProduct>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/decomposition.hpp"
#include "eqnn/group_theory/generator_matrices.hpp"
#include "eqnn/group_theory/isotypic.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/hash.hpp"
#include "eqnn/util/internal/content_cache.hpp"
#include "eqnn/util/limits.hpp"

namespace eqnn {

struct Representation::Decomposition {
  std::once_flag once;
  std::atomic<bool> ready{false};
  std::vector<int> irreps;
  // Q = I: then Q may stay empty until Q() is first asked for (a sum of identity-basis parts, such as
  // 16x regular(4) of SO(3), never builds its 2640² identity unless a caller needs it dense).
  bool identity = false;
  std::once_flag dense_once;
  std::atomic<bool> ready_dense{false};
  Matrix Q;
};

namespace {

bool near(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || (a - b).cwiseAbs().maxCoeff() <= 1e-9);
}

// Throws unless M is n x n and orthogonal to 1e-8; returns max |MᵀM - I|.
double check_orthogonal(const Matrix& M, Eigen::Index n, const std::string& what) {
  if (M.rows() != n || M.cols() != n)
    throw GroupError(fmt::format("{}: the matrix is {}x{}, expected {}x{} (the representation's size)", what,
                                 M.rows(), M.cols(), n, n));
  double err = n == 0 ? 0.0 : (M.transpose() * M - Matrix::Identity(n, n)).cwiseAbs().maxCoeff();
  if (!(err < 1e-8))
    throw GroupError(
        fmt::format("{}: the change of basis must be orthogonal, but max |MᵀM - I| = {:.3g}", what, err));
  return err;
}

// Process-wide cache of decompositions of permutation structures. A hit needs the same group content
// (table, generators, supplied irreps) and the same permutations, never the hash alone.
struct PermKey {
  GroupPtr group;
  std::vector<Permutation> generators;
};
struct PermDecomposition {
  std::vector<int> irreps;
  Matrix Q;
};
detail::ContentCache<PermKey, PermDecomposition>& perm_cache() {
  static auto* c = new detail::ContentCache<PermKey, PermDecomposition>(64, size_t(512) << 20);
  return *c;
}

std::shared_ptr<const PermDecomposition> cached_permutation_decomposition(
    const GroupPtr& G, const std::vector<Permutation>& gens, int points) {
  const uint64_t key =
      hash::mix_permutations(hash::mix(G->content_hash(), static_cast<uint64_t>(points)), gens);
  auto same = [&](const PermKey& k) {
    return k.generators == gens && (k.group == G || k.group->same_content(*G));
  };
  if (auto hit = perm_cache().find(key, same)) return hit;
  auto [ids, Q] = decompose_permutation(*G, gens, points);
  auto d = std::make_shared<const PermDecomposition>(PermDecomposition{std::move(ids), std::move(Q)});
  perm_cache().insert(key, PermKey{G, gens}, d, static_cast<size_t>(d->Q.size()) * sizeof(double));
  return d;
}

// m as a signed permutation (column j = sign[j] · e_{perm[j]}), or false when it is not one.
bool as_signed_permutation(const Matrix& m, SignedPermutation* p) {
  const auto n = m.rows();
  p->perm.assign(n, -1);
  p->sign.assign(n, 0);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) {
      const double v = m(i, j);
      if (std::abs(std::abs(v) - 1) < 1e-12) {
        if (p->perm[j] >= 0) return false;
        p->perm[j] = static_cast<int>(i);
        p->sign[j] = v > 0 ? 1 : -1;
      } else if (std::abs(v) > 1e-12) {
        return false;
      }
    }
    if (p->perm[j] < 0) return false;
  }
  return true;
}

// The generator images of the rep given by (irreps, Q), ρ(gen) = Q (⊕ψ_k(gen)) Qᵀ, as signed permutations
// (column j = sign[j] · e_{perm[j]}) when every one is; nullopt otherwise. O(size²) per generator, never the
// dense product: with A = QΨ, ρ(gen) has column j = s·e_i exactly when row i of A is s times row j of Q (then
// row i of ρ(gen) = s·(row j of Q)Qᵀ = s·e_jᵀ, Q orthogonal). Rows are paired through one fixed projection v
// (candidates with |A_i·v| ≈ |Q_j·v|), then compared entry by entry (1e-12, as as_signed_permutation).
std::optional<std::vector<SignedPermutation>> signed_permutation_images(const Group& G,
                                                                        const std::vector<int>& irreps,
                                                                        const Matrix& Q) {
  const Eigen::Index n = Q.rows();
  const auto& irr = G.irreps();
  std::vector<std::pair<int, Eigen::Index>> blocks;  // (irrep, column offset)
  Eigen::Index off = 0;
  for (int k : irreps) {
    blocks.emplace_back(k, off);
    off += irr[k].dim;
  }
  Eigen::VectorXd v(n);
  for (Eigen::Index i = 0; i < n; ++i) v(i) = std::sin(1.0 + 0.7548776662 * static_cast<double>(i)) + 1.5;
  const Eigen::VectorXd q = Q * v;
  std::vector<SignedPermutation> out;
  for (int gen : G.generators()) {
    auto psi = [&](int k) -> const Matrix& { return irr[k].matrices[gen]; };
    Eigen::VectorXd u(n);
    for (const auto& [k, o] : blocks) u.segment(o, irr[k].dim) = psi(k) * v.segment(o, irr[k].dim);
    const Eigen::VectorXd p = Q * u;  // A v
    std::vector<std::pair<double, Eigen::Index>> sorted;
    for (Eigen::Index i = 0; i < n; ++i) sorted.emplace_back(std::abs(p(i)), i);
    std::sort(sorted.begin(), sorted.end());
    auto row_of_A = [&](Eigen::Index i) {
      Eigen::RowVectorXd r(n);
      for (const auto& [k, o] : blocks) r.segment(o, irr[k].dim) = Q.row(i).segment(o, irr[k].dim) * psi(k);
      return r;
    };
    SignedPermutation sp;
    sp.perm.assign(n, -1);
    sp.sign.assign(n, 0);
    std::vector<char> used(n, 0);
    for (Eigen::Index j = 0; j < n; ++j) {
      const double target = std::abs(q(j));
      auto it =
          std::lower_bound(sorted.begin(), sorted.end(), std::make_pair(target - 1e-9, Eigen::Index(-1)));
      for (; it != sorted.end() && it->first <= target + 1e-9 && sp.perm[j] < 0; ++it) {
        const Eigen::Index i = it->second;
        if (used[i]) continue;
        const Eigen::RowVectorXd a = row_of_A(i);
        for (int s : {1, -1}) {
          if ((a - s * Q.row(j)).cwiseAbs().maxCoeff() < 1e-12) {
            sp.perm[j] = static_cast<int>(i);
            sp.sign[j] = s;
            used[i] = 1;
            break;
          }
        }
      }
      if (sp.perm[j] < 0) return std::nullopt;
    }
    out.push_back(std::move(sp));
  }
  return out;
}

// "g0·g1·g1" for element e (generator indices along its word), "e" for the identity.
std::string word_of(const Group& G, int e) {
  if (e == 0) return "e";
  std::string w;
  for (int x = e; x != 0; x = G.word_parent(x))
    w += fmt::format("{}g{}", w.empty() ? "" : "·", G.word_generator(x));
  return w;
}

}  // namespace

std::optional<GeneratorMatrixProblem> check_generator_matrices(const Group& G,
                                                               const std::vector<Matrix>& gens,
                                                               std::vector<Matrix>* all) {
  const size_t k = G.generators().size();
  auto generator_list = [&] {
    std::string s;
    for (size_t i = 0; i < k; ++i)
      s += fmt::format("{}g{} = element {}", i ? ", " : "", i, G.generators()[i]);
    return s;
  };
  if (gens.size() != k)
    return GeneratorMatrixProblem{
        -1, fmt::format("{} matrices given, but {} has {} generators ({}); give one matrix per generator, in "
                        "that order",
                        gens.size(), G.name(), k, generator_list())};
  if (k == 0)
    return GeneratorMatrixProblem{
        -1, fmt::format("{} has no generators, so matrices cannot define a representation of it; use "
                        "\"Nx trivial\"",
                        G.name())};
  const Eigen::Index d = gens[0].rows();
  const double tol = 1e-9 * std::max<double>(1.0, static_cast<double>(d));
  for (size_t s = 0; s < k; ++s) {
    const Matrix& M = gens[s];
    if (M.rows() != M.cols() || M.rows() != d || d == 0)
      return GeneratorMatrixProblem{
          static_cast<int>(s),
          fmt::format("matrix {} (generator g{}) is {}x{}; every matrix must be square, of one size ({}x{} "
                      "as matrix 0{})",
                      s, s, M.rows(), M.cols(), d, d, d == 0 ? ", which must not be empty" : "")};
    if (!M.allFinite())
      return GeneratorMatrixProblem{static_cast<int>(s),
                                    fmt::format("matrix {} (generator g{}) has a non-finite entry", s, s)};
    const double err = (M.transpose() * M - Matrix::Identity(d, d)).cwiseAbs().maxCoeff();
    if (!(err <= tol))
      return GeneratorMatrixProblem{
          static_cast<int>(s),
          fmt::format(
              "matrix {} (generator g{}) is not orthogonal: max |MᵀM − I| = {:.3g} (tolerance {:.3g}); "
              "eqnn represents groups by orthogonal matrices (give enough digits, e.g. "
              "0.7071067811865476)",
              s, s, err, tol)};
  }
  check_matrix_entries(static_cast<int64_t>(G.order()) * d, d, "the matrices of every element",
                       "representation matrices");
  std::vector<Matrix> rho(G.order());
  rho[0] = Matrix::Identity(d, d);
  for (int e : G.bfs_order())
    if (e != 0) rho[e] = gens[G.word_generator(e)] * rho[G.word_parent(e)];
  for (size_t s = 0; s < k; ++s)
    for (int e : G.bfs_order()) {
      const int se = G.mul(G.generators()[s], e);
      const double err = (gens[s] * rho[e] - rho[se]).cwiseAbs().maxCoeff();
      if (!(err <= tol))
        return GeneratorMatrixProblem{
            static_cast<int>(s),
            fmt::format("the matrices are not a representation of {}: the relation g{}·({}) = {} of the "
                        "group fails for matrix {} (max |ρ(g{})ρ({}) − ρ({})| = {:.3g}, tolerance {:.3g}; "
                        "elements as words in the generators, in the order of the group's generators)",
                        G.name(), s, word_of(G, e), word_of(G, se), s, s, word_of(G, e), word_of(G, se), err,
                        tol)};
    }
  if (all) *all = std::move(rho);
  return std::nullopt;
}

void Representation::finish() {
  if (!decomposition_) decomposition_ = std::make_shared<Decomposition>();
  uint64_t h = hash::mix(group_->content_hash(), 0x7e9u + static_cast<uint64_t>(kind_));
  h = hash::mix(h, static_cast<uint64_t>(size_));
  switch (kind_) {
    case Kind::eager: {
      Decomposition& d = *decomposition_;
      d.ready = true;
      if (!d.identity) {
        size_ = static_cast<int>(d.Q.rows());
        d.identity = d.Q.rows() == d.Q.cols() && d.Q.isIdentity(0);
      }
      for (int k : d.irreps) h = hash::mix(h, static_cast<uint64_t>(k) + 1);
      // Q = I hashes by its size, whether it is held dense or not.
      h = d.identity ? hash::mix(h, 0x1d0000ULL + static_cast<uint64_t>(size_)) : hash::mix_matrix(h, d.Q);
      break;
    }
    case Kind::permutation:
      break;
    case Kind::sum:
      for (const auto& p : parts_) h = hash::mix(h, p->content_hash());
      break;
    case Kind::basis:
      h = hash::mix_matrix(hash::mix(h, parts_[0]->content_hash()), change_);
      break;
  }
  if (perm_generators_) h = hash::mix_permutations(hash::mix(h, 0x9e7), *perm_generators_);
  if (perm_basis_ && kind_ == Kind::eager) h = hash::mix_matrix(hash::mix(h, 0xba5e), *perm_basis_);
  if (signed_generators_) {
    h = hash::mix(h, 0x5167);
    for (const auto& p : *signed_generators_) h = hash::mix_all(hash::mix_all(h, p.perm), p.sign);
  }
  hash_ = h;
}

const Representation::Decomposition& Representation::decomposition() const {
  Decomposition& d = *decomposition_;
  if (d.ready) return d;
  std::call_once(d.once, [&] {
    switch (kind_) {
      case Kind::eager:
        break;
      case Kind::permutation: {
        auto p = cached_permutation_decomposition(group_, *perm_generators_, size_);
        d.irreps = p->irreps;
        d.Q = p->Q;
        break;
      }
      case Kind::sum:
        sum_decomposition(parts_, size_, d);
        break;
      case Kind::basis:
        d.irreps = parts_[0]->irreps();
        d.Q = change_ * parts_[0]->Q();
        break;
    }
    d.ready = true;
  });
  return d;
}

const std::vector<int>& Representation::irreps() const { return decomposition().irreps; }
const Matrix& Representation::Q() const {
  Decomposition& d = *decomposition_;
  decomposition();
  // Held implicitly, Q = I may be larger than eqnn builds dense: said here, before anything is allocated.
  if (d.identity && !d.ready_dense) check_matrix_entries(size_, size_, describe(), "dense change of basis");
  if (d.identity)
    std::call_once(d.dense_once, [&] {
      if (d.Q.rows() != size_) d.Q = Matrix::Identity(size_, size_);
      d.ready_dense = true;
    });
  return d.Q;
}
bool Representation::q_is_identity() const { return decomposition().identity; }

void Representation::sum_decomposition(const std::vector<RepPtr>& parts, int size, Decomposition& d) {
  d.identity = true;
  for (const auto& r : parts) {
    d.irreps.insert(d.irreps.end(), r->irreps().begin(), r->irreps().end());
    d.identity = d.identity && r->q_is_identity();
  }
  if (d.identity) return;
  check_matrix_entries(size, size, fmt::format("direct sum of {} representations", parts.size()),
                       "dense change of basis");
  d.Q = Matrix::Zero(size, size);
  int off = 0;
  for (const auto& r : parts) {
    d.Q.block(off, off, r->size(), r->size()) = r->Q();
    off += r->size();
  }
}
bool Representation::is_decomposed() const { return decomposition_->ready; }

bool Representation::same_recipe(const Representation& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::eager: {
      const auto &a = *decomposition_, &b = *o.decomposition_;
      if (a.irreps != b.irreps || (!(a.identity && b.identity) && !near(Q(), o.Q()))) return false;
      if (perm_basis_.has_value() != o.perm_basis_.has_value()) return false;
      return !perm_basis_ || near(*perm_basis_, *o.perm_basis_);
    }
    case Kind::permutation:
      return true;  // the permutations are compared by the caller
    case Kind::sum:
      if (parts_.size() != o.parts_.size()) return false;
      for (size_t i = 0; i < parts_.size(); ++i)
        if (!parts_[i]->same_content(*o.parts_[i])) return false;
      return true;
    case Kind::basis:
      return near(change_, o.change_) && parts_[0]->same_content(*o.parts_[0]);
  }
  return false;
}

bool Representation::same_content(const Representation& o) const {
  if (this == &o) return true;
  if (size_ != o.size_ || !(group_ == o.group_ || group_->same_content(*o.group_))) return false;
  if (perm_generators_.has_value() != o.perm_generators_.has_value()) return false;
  if (perm_generators_ && *perm_generators_ != *o.perm_generators_) return false;
  if (signed_generators_ != o.signed_generators_) return false;
  if (same_recipe(o)) return true;
  // Built differently: compare what they decompose to (both basis and permutation structure).
  if (irreps() != o.irreps()) return false;
  if (!(q_is_identity() && o.q_is_identity()) && !near(Q(), o.Q())) return false;
  if (perm_basis_.has_value() != o.perm_basis_.has_value()) return false;
  return !perm_basis_ || near(*perm_basis_, *o.perm_basis_);
}

RepPtr Representation::trivial(GroupPtr g, int copies) {
  if (copies < 0) throw GroupError(fmt::format("trivial: {} copies requested; must be >= 0", copies));
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = copies == 1 ? "trivial" : fmt::format("{}x trivial", copies);
  r->decomposition_ = std::make_shared<Decomposition>();
  r->decomposition_->irreps.assign(copies, 0);
  r->decomposition_->Q = Matrix::Identity(copies, copies);
  if (!r->group_->is_compact()) {  // a compact group has no generators to permute on
    Permutation id(copies);
    std::iota(id.begin(), id.end(), 0);
    r->perm_generators_ = std::vector<Permutation>(r->group_->generators().size(), id);
  }
  r->finish();
  return r;
}

RepPtr Representation::regular(GroupPtr g) {
  const Group& G = *g;
  if (G.is_compact())
    throw GroupError(
        fmt::format("{} is a compact group: its regular representation is infinite; use the "
                    "band-limited regular(L) (every irrep of band <= L), e.g. regular(2)",
                    G.name()));
  std::vector<Permutation> gens;
  for (int s : G.generators()) {
    Permutation p(G.order());
    for (int h = 0; h < G.order(); ++h) p[h] = G.mul(s, h);
    gens.push_back(std::move(p));
  }
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = "regular";
  r->kind_ = Kind::permutation;
  r->size_ = G.order();
  r->perm_generators_ = std::move(gens);
  r->finish();
  return r;
}

RepPtr Representation::band_limited_regular(GroupPtr g, int L) {
  const CompactGroupDefinition* def = g->compact();
  if (!def)
    throw GroupError(
        fmt::format("regular({}): {} is finite; its regular representation is 'regular'", L, g->name()));
  if (L < 0 || L > g->band_limit())
    throw GroupError(
        fmt::format("regular({}): {} holds the irreps of band 0..{} (raise it with "
                    "{{type: {}, band_limit: {}}})",
                    L, g->name(), g->band_limit(), def->name(), std::max(L, 0)));
  const auto& irr = g->irreps();
  std::vector<int> irreps;
  int size = 0;
  for (int k = 0; k < def->num_irreps(L); ++k) {
    const int copies = irr[k].dim / irr[k].S();
    irreps.insert(irreps.end(), copies, k);
    size += copies * irr[k].dim;
  }
  check_rep_size(size, fmt::format("regular({}) of {}", L, g->name()));
  check_matrix_entries(size, size, fmt::format("regular({}) of {}", L, g->name()), "dense change of basis");
  // Q = I by construction: no orthogonality check of a size² matrix (from_decomposition's O(size³)).
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = fmt::format("regular({})", L);
  r->decomposition_ = std::make_shared<Decomposition>();
  r->decomposition_->irreps = std::move(irreps);
  r->decomposition_->Q = Matrix::Identity(size, size);
  r->finish();
  return r;
}

RepPtr Representation::standard(GroupPtr g) {
  if (const CompactGroupDefinition* def = g->compact()) {
    auto [irreps, Q] = def->standard();
    return from_decomposition(std::move(g), std::move(irreps), std::move(Q), "standard");
  }
  if (!g->standard())
    throw GroupError(
        fmt::format("the group {} has no standard representation (it was not given by matrices)", g->name()));
  const auto gens = *g->standard();
  return from_generator_matrices(std::move(g), gens, "standard");
}

RepPtr Representation::irrep(GroupPtr g, int k) {
  const auto& irreps = g->irreps();
  if (k < 0 || k >= static_cast<int>(irreps.size()))
    throw GroupError(fmt::format("irrep({}) does not exist: {} has {} irreps, irrep(0) .. irrep({})", k,
                                 g->name(), irreps.size(), irreps.size() - 1));
  if (k == 0) return trivial(std::move(g), 1);
  auto r = std::shared_ptr<Representation>(new Representation());
  r->name_ = irreps[k].name;
  r->decomposition_ = std::make_shared<Decomposition>();
  r->decomposition_->irreps = {k};
  r->decomposition_->Q = Matrix::Identity(irreps[k].dim, irreps[k].dim);
  r->group_ = std::move(g);
  r->finish();
  return r;
}

RepPtr Representation::permutation(GroupPtr g, const PermutationAction& action) {
  g->extend_permutations(action.generator_images, fmt::format("permutation({})", action.name));
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = fmt::format("permutation({})", action.name);
  r->kind_ = Kind::permutation;
  r->size_ = action.num_points;
  r->perm_generators_ = action.generator_images;
  r->finish();
  return r;
}

RepPtr Representation::from_generator_matrices(GroupPtr g, const std::vector<Matrix>& gens,
                                               const std::string& name) {
  std::vector<Matrix> all;
  if (auto problem = check_generator_matrices(*g, gens, &all))
    throw GroupError(fmt::format("{}: {}", name, problem->message));
  // Signed permutation matrices on every generator give the orbit fast path (all signs +1: a permutation
  // rep). Orthogonal matrices with one nonzero per column and integer entries are exactly these.
  std::vector<SignedPermutation> signed_perms;
  bool is_signed = true, any_minus = false;
  for (const auto& m : gens) {
    SignedPermutation p;
    if (!as_signed_permutation(m, &p)) {
      is_signed = false;
      break;
    }
    any_minus = any_minus || std::count(p.sign.begin(), p.sign.end(), -1) > 0;
    signed_perms.push_back(std::move(p));
  }
  auto [ids, Q] = decompose(*g, all);
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = name;
  r->decomposition_ = std::make_shared<Decomposition>();
  r->decomposition_->irreps = std::move(ids);
  r->decomposition_->Q = std::move(Q);
  if (is_signed && any_minus) {
    r->signed_generators_ = std::move(signed_perms);
  } else if (is_signed) {
    std::vector<Permutation> perms;
    for (auto& p : signed_perms) perms.push_back(std::move(p.perm));
    r->perm_generators_ = std::move(perms);
  }
  r->finish();
  return r;
}

RepPtr Representation::direct_sum(const std::vector<RepPtr>& reps) {
  if (reps.empty()) throw GroupError("direct_sum: no representations given");
  const auto& g0 = reps[0]->group_ptr();
  int64_t total = 0;
  for (const auto& r : reps) {
    if (!(r->group_ptr() == g0 || r->group().same_content(*g0)))
      throw GroupError(fmt::format("direct_sum: representations of different groups ({} and {})", g0->name(),
                                   r->group().name()));
    total += r->size();
  }
  check_rep_size(total, fmt::format("the direct sum of {} representations", reps.size()));
  if (reps.size() == 1) return reps[0];
  auto out = std::shared_ptr<Representation>(new Representation());
  out->group_ = g0;
  out->size_ = static_cast<int>(total);
  // Flatten nested sums: block-diagonal Q is associative, so "2x (regular + trivial)" and
  // "regular + trivial + regular + trivial" are the same recipe.
  for (const auto& r : reps) {
    if (r->kind_ == Kind::sum)
      out->parts_.insert(out->parts_.end(), r->parts_.begin(), r->parts_.end());
    else
      out->parts_.push_back(r);
  }
  bool lazy = false, perm = true, any_basis = false, signed_perm = true, any_signed = false;
  for (const auto& r : out->parts_) {
    lazy = lazy || !r->is_decomposed();
    perm = perm && r->has_permutation_structure();
    any_basis = any_basis || r->permutation_basis().has_value();
    signed_perm = signed_perm && r->has_signed_permutation_structure();
    any_signed = any_signed || r->signed_generators_.has_value();
  }
  if (signed_perm && any_signed) {
    // Signed permutation parts (and permutation parts without a basis): the sum is one too.
    std::vector<SignedPermutation> sg(g0->generators().size());
    int at = 0;
    for (const auto& r : out->parts_) {
      auto parts = r->signed_permutation_generators();
      for (size_t s = 0; s < sg.size(); ++s) {
        for (int x : parts[s].perm) sg[s].perm.push_back(x + at);
        sg[s].sign.insert(sg[s].sign.end(), parts[s].sign.begin(), parts[s].sign.end());
      }
      at += r->size();
    }
    out->signed_generators_ = std::move(sg);
  }
  std::vector<Permutation> pg(g0->generators().size());
  // A sum in a basis is held as one dense total x total matrix (and a sum of decomposed parts, unless
  // every part's Q is the identity: see sum_decomposition).
  if (perm && any_basis) {
    check_matrix_entries(total, total, fmt::format("direct sum of {} representations", reps.size()),
                         "dense change of basis");
  }
  Matrix B = (perm && any_basis) ? Matrix(Matrix::Zero(total, total)) : Matrix();
  int off = 0;
  for (const auto& r : out->parts_) {
    if (perm) {
      for (size_t s = 0; s < pg.size(); ++s)
        for (int x : r->permutation_generators()[s]) pg[s].push_back(x + off);
      if (any_basis)
        B.block(off, off, r->size(), r->size()) =
            r->permutation_basis() ? *r->permutation_basis() : Matrix(Matrix::Identity(r->size(), r->size()));
    }
    off += r->size();
  }
  // Run-length name: "2x regular + trivial".
  std::vector<std::string> names;
  for (const auto& r : reps) names.push_back(r->name());
  std::string name;
  for (size_t i = 0; i < names.size();) {
    size_t j = i;
    while (j < names.size() && names[j] == names[i]) ++j;
    if (!name.empty()) name += " + ";
    name += (j - i > 1) ? fmt::format("{}x {}", j - i, names[i]) : names[i];
    i = j;
  }
  out->name_ = name;
  if (perm) {
    out->perm_generators_ = std::move(pg);
    if (any_basis) out->perm_basis_ = std::move(B);
  }
  if (lazy) {
    out->kind_ = Kind::sum;
  } else {
    // Every part is decomposed: the sum is too (cheap), and compares by its Q as before.
    out->kind_ = Kind::eager;
    out->decomposition_ = std::make_shared<Decomposition>();
    sum_decomposition(out->parts_, static_cast<int>(total), *out->decomposition_);
    out->parts_.clear();
  }
  out->finish();
  return out;
}

RepPtr Representation::change_basis(const RepPtr& rep, const Matrix& M) {
  check_orthogonal(M, rep->size(), "change_basis");
  auto out = std::shared_ptr<Representation>(new Representation());
  out->group_ = rep->group_;
  out->size_ = rep->size_;
  out->name_ = fmt::format("({} in another basis)", rep->name());
  out->perm_generators_ = rep->perm_generators_;
  if (rep->perm_generators_) out->perm_basis_ = rep->perm_basis_ ? Matrix(M * *rep->perm_basis_) : M;
  if (rep->is_decomposed()) {
    out->decomposition_ = std::make_shared<Decomposition>();
    out->decomposition_->irreps = rep->irreps();
    out->decomposition_->Q = M * rep->Q();
  } else {
    out->kind_ = Kind::basis;
    out->parts_ = {rep};
    out->change_ = M;
  }
  out->finish();
  return out;
}

namespace {

// A plugin's Clebsch–Gordan decomposition of ψ_a ⊗ ψ_b, checked: irreps within the band limit, dimensions
// adding up to d_a·d_b, Q orthogonal.
std::pair<std::vector<int>, Matrix> checked_tensor_product(const Group& g, int a, int b) {
  const auto& irr = g.irreps();
  auto [irreps, Q] = g.compact()->tensor_product(a, b);
  const int n = irr[a].dim * irr[b].dim;
  int total = 0;
  for (int c : irreps) {
    if (c < 0) throw GroupError(fmt::format("{}: tensor_product({}, {}) names irrep {}", g.name(), a, b, c));
    if (c >= static_cast<int>(irr.size()))
      throw GroupError(fmt::format(
          "{} ⊗ {} holds an irrep beyond the band limit {} of {} (raise it with {{type: {}, band_limit: "
          "...}}, "
          "at most {})",
          irr[a].name, irr[b].name, g.band_limit(), g.name(), g.compact()->name(), Group::kMaxBandLimit));
    total += irr[c].dim;
  }
  if (total != n || Q.rows() != n || Q.cols() != n)
    throw GroupError(
        fmt::format("{}: tensor_product({}, {}) gives irreps of total dimension {} and a {}x{} Q "
                    "for a product of dimension {}",
                    g.name(), a, b, total, Q.rows(), Q.cols(), n));
  check_orthogonal(Q, n, fmt::format("{}: tensor_product({}, {})", g.name(), a, b));
  // Q must intertwine, (ψ_a(g) ⊗ ψ_b(g)) Q = Q (⊕ ψ_c(g)), or the product would be a representation only in
  // name. Probed with a random vector v on two Haar-random elements (O(n²) each, as reading Q): with
  // M = Q v read as a d_a × d_b matrix (row i·d_b + j), the left side is ψ_a M ψ_bᵀ.
  const CompactGroupDefinition& def = *g.compact();
  std::mt19937_64 rng(0x7e45e2);
  std::normal_distribution<double> normal;
  const int da = irr[a].dim, db = irr[b].dim;
  for (int trial = 0; trial < 2; ++trial) {
    const Matrix x = def.sample(rng);
    Eigen::VectorXd v(n), w(n);
    for (int i = 0; i < n; ++i) v(i) = normal(rng);
    int offset = 0;
    for (int c : irreps) {
      const int d = irr[c].dim;
      w.segment(offset, d) = def.irrep_matrix(c, x) * v.segment(offset, d);
      offset += d;
    }
    const Eigen::VectorXd qv = Q * v, right = Q * w;
    const Matrix m = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
        qv.data(), da, db);
    const Matrix left = def.irrep_matrix(a, x) * m * def.irrep_matrix(b, x).transpose();
    double err = 0;
    for (int i = 0; i < da; ++i)
      for (int j = 0; j < db; ++j) err = std::max(err, std::abs(left(i, j) - right(i * db + j)));
    if (!(err <= 1e-8 * (1 + v.norm())))
      throw GroupError(fmt::format(
          "{}: tensor_product({}, {}) is not a decomposition of {} ⊗ {}: its Q does not intertwine the "
          "product with the irreps it names (error {:.3g} on a Haar-random element)",
          g.name(), a, b, irr[a].name, irr[b].name, err));
  }
  return {std::move(irreps), std::move(Q)};
}

// ψ_a ⊗ ψ_b as (irreps, Q): the plugin's Clebsch–Gordan decomposition (compact), or the numerical one of the
// Kronecker products on the generators (finite).
std::pair<std::vector<int>, Matrix> irrep_product(const GroupPtr& g, int a, int b) {
  if (g->is_compact()) return checked_tensor_product(*g, a, b);
  const auto& irr = g->irreps();
  std::vector<Matrix> gens;
  for (int s : g->generators())
    gens.push_back(Eigen::kroneckerProduct(irr[a].matrices[s], irr[b].matrices[s]).eval());
  const RepPtr r =
      Representation::from_generator_matrices(g, gens, fmt::format("{} ⊗ {}", irr[a].name, irr[b].name));
  return {r->irreps(), r->Q()};
}

}  // namespace

RepPtr Representation::tensor(const RepPtr& a, const RepPtr& b) {
  const GroupPtr& g = a->group_ptr();
  if (!(b->group_ptr() == g || b->group().same_content(*g)))
    throw GroupError(
        fmt::format("tensor: representations of different groups ({} and {})", g->name(), b->group().name()));
  const int na = a->size(), nb = b->size();
  const std::string name = fmt::format("tensor({}, {})", a->name(), b->name());
  check_rep_size(static_cast<int64_t>(na) * nb, name);
  const int n = na * nb;
  check_matrix_entries(n, n, name, "dense change of basis");
  // ρ_a ⊗ ρ_b = (Q_a ⊗ Q_b) (⊕ψ ⊗ ⊕ψ) (Q_a ⊗ Q_b)ᵀ; every pair of copies (p, q) is decomposed by its
  // Clebsch–Gordan Q_pq, once per pair of irreps: a compact group's from its definition, a finite group's
  // numerically from ψ_i ⊗ ψ_j on the generators (small: the irreps' dimensions, not the product's). M places
  // Q_pq's rows at the Kronecker coordinates of the pair's block.
  const auto& irr = g->irreps();
  const auto &ia = a->irreps(), &ib = b->irreps();
  std::vector<int> oa, ob;
  for (int k = 0, off = 0; k < static_cast<int>(ia.size()); off += irr[ia[k]].dim, ++k) oa.push_back(off);
  for (int k = 0, off = 0; k < static_cast<int>(ib.size()); off += irr[ib[k]].dim, ++k) ob.push_back(off);
  std::map<std::pair<int, int>, std::pair<std::vector<int>, Matrix>> products;
  std::vector<int> irreps;
  Matrix M = Matrix::Zero(n, n);
  int col = 0;
  for (size_t p = 0; p < ia.size(); ++p)
    for (size_t q = 0; q < ib.size(); ++q) {
      auto it = products.find({ia[p], ib[q]});
      if (it == products.end())
        it = products.emplace(std::make_pair(ia[p], ib[q]), irrep_product(g, ia[p], ib[q])).first;
      const auto& [cs, C] = it->second;
      const int dp = irr[ia[p]].dim, dq = irr[ib[q]].dim;
      for (int s = 0; s < dp; ++s)
        for (int t = 0; t < dq; ++t)
          M.block((oa[p] + s) * nb + ob[q] + t, col, 1, C.cols()) = C.row(s * dq + t);
      irreps.insert(irreps.end(), cs.begin(), cs.end());
      col += static_cast<int>(C.cols());
    }
  // (Q_a ⊗ Q_b) v = vec(Q_a V Q_bᵀ) for v = vec(V) (row-major: V(i, j) = v(i·nb + j)): O(n² (na + nb)).
  const Matrix &Qa = a->Q(), &Qb = b->Q();
  const bool ia_identity = Qa.isIdentity(0), ib_identity = Qb.isIdentity(0);
  Matrix Q(n, n);
  for (int c = 0; c < n; ++c) {
    Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> V(M.col(c).data(), na,
                                                                                         nb);
    Matrix W = ia_identity ? Matrix(V) : Matrix(Qa * V);
    if (!ib_identity) W = W * Qb.transpose();
    for (int i = 0; i < na; ++i) Q.block(i * nb, c, nb, 1) = W.row(i).transpose();
  }
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = g;
  r->name_ = name;
  r->decomposition_ = std::make_shared<Decomposition>();
  r->decomposition_->irreps = std::move(irreps);
  r->decomposition_->Q = std::move(Q);
  r->finish();
  return r;
}

RepPtr Representation::from_decomposition(GroupPtr g, std::vector<int> irreps, Matrix Q, std::string name) {
  const auto& irr = g->irreps();
  int total = 0;
  for (int k : irreps) {
    if (k < 0 || k >= static_cast<int>(irr.size()))
      throw GroupError(fmt::format("irrep({}) does not exist: {} has irrep(0) .. irrep({})", k, g->name(),
                                   irr.size() - 1));
    total += irr[k].dim;
  }
  const double orthogonality = check_orthogonal(Q, total, "from_decomposition");
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->decomposition_ = std::make_shared<Decomposition>();
  r->decomposition_->irreps = std::move(irreps);
  r->decomposition_->Q = std::move(Q);
  r->name_ = name.empty() ? "custom" : std::move(name);
  // Signed permutation matrices on every generator: the orbit fast path, keeping the given Q (so per-copy
  // operations cut the rep into the copies this Q names), as from_generator_matrices does. Only for a Q
  // orthogonal to 1e-10, so that the exact permutations differ from Q(⊕ψ)Qᵀ by no more than that.
  // (A compact group has no generators: no structure to find, and none may be claimed vacuously.)
  auto images = orthogonality < 1e-10 && !r->group_->is_compact()
                    ? signed_permutation_images(*r->group_, r->decomposition_->irreps, r->decomposition_->Q)
                    : std::nullopt;
  if (images) {
    bool any_minus = false;
    for (const auto& p : *images) any_minus = any_minus || std::count(p.sign.begin(), p.sign.end(), -1) > 0;
    if (any_minus) {
      r->signed_generators_ = std::move(*images);
    } else {
      std::vector<Permutation> perms;
      for (auto& p : *images) perms.push_back(std::move(p.perm));
      r->perm_generators_ = std::move(perms);
    }
  }
  r->finish();
  return r;
}

std::vector<int> Representation::multiplicities() const {
  std::vector<int> m(group_->irreps().size(), 0);
  for (int k : irreps()) ++m[k];
  return m;
}

std::vector<int> Representation::columns_of_irrep(int k) const {
  const auto& irr = group_->irreps();
  std::vector<int> cols;
  int off = 0;
  for (int j : irreps()) {
    if (j == k)
      for (int c = 0; c < irr[j].dim; ++c) cols.push_back(off + c);
    off += irr[j].dim;
  }
  return cols;
}

Permutation Representation::permutation(int g) const {
  if (!perm_generators_)
    throw GroupError(
        fmt::format("permutation: the representation {} has no permutation structure", describe()));
  if (g < 0 || g >= group_->order())
    throw GroupError(fmt::format("element {} does not exist: {} has elements 0..{}", g, group_->name(),
                                 group_->order() - 1));
  // Extend along the BFS word: π_g = π_s ∘ π_parent.
  std::vector<int> word;
  for (int e = g; e != 0; e = group_->word_parent(e)) word.push_back(group_->word_generator(e));
  Permutation p(size_);
  std::iota(p.begin(), p.end(), 0);
  for (auto it = word.rbegin(); it != word.rend(); ++it) {
    const auto& s = (*perm_generators_)[*it];
    for (auto& x : p) x = s[x];
  }
  return p;
}

std::vector<SignedPermutation> Representation::signed_permutation_generators() const {
  if (signed_generators_) return *signed_generators_;
  if (!is_permutation())
    throw GroupError(fmt::format(
        "signed_permutation_generators: the representation {} is not a signed permutation representation",
        describe()));
  std::vector<SignedPermutation> out;
  for (const auto& p : *perm_generators_) out.push_back({p, std::vector<int>(p.size(), 1)});
  return out;
}

Matrix Representation::matrix(int g) const {
  if (g < 0 || g >= group_->order())
    throw GroupError(fmt::format("element {} does not exist: {} has elements 0..{}", g, group_->name(),
                                 group_->order() - 1));
  if (perm_generators_) {
    Permutation p = permutation(g);
    Matrix m = Matrix::Zero(size_, size_);
    for (int i = 0; i < size_; ++i) m(p[i], i) = 1.0;
    if (perm_basis_) return *perm_basis_ * m * perm_basis_->transpose();
    return m;
  }
  const auto& irr = group_->irreps();
  const Matrix& Qm = Q();
  Matrix block = Matrix::Zero(size_, size_);
  int off = 0;
  for (int k : irreps()) {
    block.block(off, off, irr[k].dim, irr[k].dim) = irr[k].matrices[g];
    off += irr[k].dim;
  }
  return Qm * block * Qm.transpose();
}

Matrix Representation::matrix(const Matrix& element) const {
  const CompactGroupDefinition* def = group_->compact();
  if (!def)
    throw GroupError(
        fmt::format("{} is finite: give its elements by index 0..{}", group_->name(), group_->order() - 1));
  if (element.rows() != def->defining_dim() || element.cols() != def->defining_dim())
    throw GroupError(fmt::format("an element of {} is its {}x{} defining matrix; got {}x{}", group_->name(),
                                 def->defining_dim(), def->defining_dim(), element.rows(), element.cols()));
  if (const double d = def->distance_from_group(element); !(d <= 1e-8))
    throw GroupError(
        fmt::format("the matrix is not an element of {} (off by {:.3g}: it must be orthogonal{})",
                    group_->name(), d, def->name().rfind("SO", 0) == 0 ? " with determinant 1" : ""));
  Matrix block = Matrix::Zero(size_, size_);
  std::map<int, Matrix> psi;  // ψ_k(g) once per distinct irrep, not once per copy
  int off = 0;
  for (int k : irreps()) {
    auto it = psi.find(k);
    if (it == psi.end()) it = psi.emplace(k, def->irrep_matrix(k, element)).first;
    block.block(off, off, it->second.rows(), it->second.cols()) = it->second;
    off += static_cast<int>(it->second.rows());
  }
  const Matrix& Qm = Q();
  return Qm * block * Qm.transpose();
}

double Representation::character(int g) const {
  if (perm_generators_) {
    Permutation p = permutation(g);
    int fixed = 0;
    for (int i = 0; i < size_; ++i) fixed += p[i] == i;
    return fixed;
  }
  const auto& irr = group_->irreps();
  double c = 0;
  for (int k : irreps()) c += irr[k].character[g];
  return c;
}

Matrix Representation::invariant_basis() const {
  auto cols = columns_of_irrep(0);
  Matrix B = Matrix::Zero(size_, static_cast<Eigen::Index>(cols.size()));
  if (q_is_identity()) {
    for (size_t c = 0; c < cols.size(); ++c) B(cols[c], static_cast<Eigen::Index>(c)) = 1;
    return B;
  }
  const Matrix& Qm = Q();
  for (size_t c = 0; c < cols.size(); ++c) B.col(static_cast<Eigen::Index>(c)) = Qm.col(cols[c]);
  return B;
}

Matrix Representation::invariant_projector() const {
  Matrix B = invariant_basis();
  return B * B.transpose();
}

Matrix Representation::isotypic_projector(int k) const {
  if (k < 0 || k >= static_cast<int>(group_->irreps().size()))
    throw GroupError(fmt::format("irrep({}) does not exist: {} has irrep(0) .. irrep({})", k, group_->name(),
                                 group_->irreps().size() - 1));
  // Q is orthogonal and block-diagonalises ρ, so P_k = Q_k Q_kᵀ over the columns of irrep k.
  auto cols = columns_of_irrep(k);
  const Matrix& Qm = Q();
  Matrix B(size_, static_cast<Eigen::Index>(cols.size()));
  for (size_t c = 0; c < cols.size(); ++c) B.col(static_cast<Eigen::Index>(c)) = Qm.col(cols[c]);
  return B * B.transpose();
}

std::string Representation::describe() const { return fmt::format("{} (size {})", name_, size_); }

IsotypicBasis isotypic_basis(const RepPtr& rep) {
  if (!rep) throw GroupError("isotypic_basis: no representation given");
  const auto& irr = rep->group().irreps();
  const auto m = rep->multiplicities();
  std::vector<int> order;
  for (int k = 0; k < static_cast<int>(m.size()); ++k)
    if (m[k] > 0) order.push_back(k);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    if ((a == 0) != (b == 0)) return a == 0;
    return m[a] * irr[a].dim < m[b] * irr[b].dim;
  });
  IsotypicBasis out;
  const Matrix& Q = rep->Q();
  out.Q_iso.resize(rep->size(), rep->size());
  int col = 0;
  for (int k : order) {
    const int start = col;
    for (int c : rep->columns_of_irrep(k)) out.Q_iso.col(col++) = Q.col(c);
    out.slices.push_back({k, start, col});
    out.irreps.insert(out.irreps.end(), m[k], k);
  }
  out.iso_rep =
      Representation::from_decomposition(rep->group_ptr(), out.irreps, out.Q_iso, rep->name() + "-Iso");
  out.spectral_rep = Representation::from_decomposition(
      rep->group_ptr(), out.irreps, Matrix::Identity(rep->size(), rep->size()),
      fmt::format("{}-Iso in its isotypic basis", rep->name()));
  return out;
}

}  // namespace eqnn
