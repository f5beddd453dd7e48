// Representations: constructors, matrices, permutation structure, projectors, content hashing.
#include "eqnn/representation.hpp"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numeric>
#include <unordered_map>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "eqnn/error.hpp"

namespace eqnn {
namespace {

uint64_t mix(uint64_t h, uint64_t v) { return h ^ (v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)); }

uint64_t hash_matrix(uint64_t h, const Matrix& m) {
  h = mix(h, static_cast<uint64_t>(m.rows()));
  h = mix(h, static_cast<uint64_t>(m.cols()));
  for (Eigen::Index i = 0; i < m.size(); ++i) h = mix(h, static_cast<uint64_t>(std::llround(m.data()[i] * 1e9)));
  return h;
}

void check_orthogonal(const Matrix& M, Eigen::Index n, const std::string& what) {
  if (M.rows() != n || M.cols() != n)
    throw GroupError(fmt::format("{}: the matrix is {}x{}, expected {}x{} (the representation's size)", what,
                                 M.rows(), M.cols(), n, n));
  double err = n == 0 ? 0.0 : (M.transpose() * M - Matrix::Identity(n, n)).cwiseAbs().maxCoeff();
  if (!(err < 1e-8))
    throw GroupError(fmt::format("{}: the change of basis must be orthogonal, but max |MᵀM - I| = {:.3g}", what, err));
}

// Process-wide cache of decompositions of permutation representations, keyed by content.
struct PermDecomposition {
  std::vector<int> irreps;
  Matrix Q;
};
std::mutex cache_mutex;
std::unordered_map<uint64_t, std::shared_ptr<const PermDecomposition>>& perm_cache() {
  static auto* c = new std::unordered_map<uint64_t, std::shared_ptr<const PermDecomposition>>();
  return *c;
}

std::shared_ptr<const PermDecomposition> decompose_permutation(const Group& G, const std::vector<Permutation>& gens,
                                                               int points) {
  uint64_t key = mix(G.content_hash(), static_cast<uint64_t>(points));
  for (const auto& p : gens)
    for (int x : p) key = mix(key, static_cast<uint64_t>(x));
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = perm_cache().find(key);
    if (it != perm_cache().end()) return it->second;
  }
  auto all = G.extend_permutations(gens, "permutation action");
  std::vector<Matrix> rho(G.order(), Matrix::Zero(points, points));
  for (int g = 0; g < G.order(); ++g)
    for (int i = 0; i < points; ++i) rho[g](all[g][i], i) = 1.0;
  auto [ids, Q] = decompose(G, rho);
  auto d = std::make_shared<PermDecomposition>(PermDecomposition{std::move(ids), std::move(Q)});
  std::lock_guard<std::mutex> lock(cache_mutex);
  perm_cache().emplace(key, d);
  return d;
}

bool as_permutation(const Matrix& m, Permutation* p) {
  const auto n = m.rows();
  p->assign(n, -1);
  for (Eigen::Index j = 0; j < n; ++j) {
    for (Eigen::Index i = 0; i < n; ++i) {
      double v = m(i, j);
      if (std::abs(v - 1) < 1e-12) {
        if ((*p)[j] >= 0) return false;
        (*p)[j] = static_cast<int>(i);
      } else if (std::abs(v) > 1e-12) {
        return false;
      }
    }
    if ((*p)[j] < 0) return false;
  }
  return true;
}

}  // namespace

void Representation::finish() {
  size_ = static_cast<int>(Q_.rows());
  uint64_t h = mix(group_->content_hash(), 0x7e9u);
  for (int k : irreps_) h = mix(h, static_cast<uint64_t>(k) + 1);
  h = hash_matrix(h, Q_);
  if (perm_generators_) {
    h = mix(h, 0x9e7);
    for (const auto& p : *perm_generators_)
      for (int x : p) h = mix(h, static_cast<uint64_t>(x));
  }
  if (perm_basis_) h = hash_matrix(mix(h, 0xba5e), *perm_basis_);
  hash_ = h;
}

bool Representation::same_content(const Representation& o) const {
  if (hash_ != o.hash_ || group_->content_hash() != o.group_->content_hash() || irreps_ != o.irreps_) return false;
  if (Q_.rows() != o.Q_.rows() || (Q_ - o.Q_).cwiseAbs().maxCoeff() > 1e-9) return false;
  if (perm_generators_.has_value() != o.perm_generators_.has_value()) return false;
  if (perm_generators_ && *perm_generators_ != *o.perm_generators_) return false;
  return true;
}

RepPtr Representation::trivial(GroupPtr g, int copies) {
  if (copies < 0) throw GroupError(fmt::format("trivial: {} copies requested; must be >= 0", copies));
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = copies == 1 ? "trivial" : fmt::format("{}x trivial", copies);
  r->irreps_.assign(copies, 0);
  r->Q_ = Matrix::Identity(copies, copies);
  Permutation id(copies);
  std::iota(id.begin(), id.end(), 0);
  r->perm_generators_ = std::vector<Permutation>(r->group_->generators().size(), id);
  r->finish();
  return r;
}

RepPtr Representation::regular(GroupPtr g) {
  const Group& G = *g;
  std::vector<Permutation> gens;
  for (int s : G.generators()) {
    Permutation p(G.order());
    for (int h = 0; h < G.order(); ++h) p[h] = G.mul(s, h);
    gens.push_back(std::move(p));
  }
  auto d = decompose_permutation(G, gens, G.order());
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = "regular";
  r->irreps_ = d->irreps;
  r->Q_ = d->Q;
  r->perm_generators_ = std::move(gens);
  r->finish();
  return r;
}

RepPtr Representation::irrep(GroupPtr g, int k) {
  const auto& irreps = g->irreps();
  if (k < 0 || k >= static_cast<int>(irreps.size()))
    throw GroupError(fmt::format("irrep({}) does not exist: {} has {} irreps, irrep(0) .. irrep({})", k, g->name(),
                                 irreps.size(), irreps.size() - 1));
  if (k == 0) return trivial(std::move(g), 1);
  auto r = std::shared_ptr<Representation>(new Representation());
  r->name_ = irreps[k].name;
  r->irreps_ = {k};
  r->Q_ = Matrix::Identity(irreps[k].dim, irreps[k].dim);
  r->group_ = std::move(g);
  r->finish();
  return r;
}

RepPtr Representation::permutation(GroupPtr g, const PermutationAction& action) {
  auto d = decompose_permutation(*g, action.generator_images, action.num_points);
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = fmt::format("permutation({})", action.name);
  r->irreps_ = d->irreps;
  r->Q_ = d->Q;
  r->perm_generators_ = action.generator_images;
  r->finish();
  return r;
}

RepPtr Representation::from_generator_matrices(GroupPtr g, const std::vector<Matrix>& gens, const std::string& name) {
  auto all = g->extend_matrices(gens, name);
  std::vector<Permutation> perms;
  bool is_perm = true;
  for (const auto& m : gens) {
    Permutation p;
    if (!as_permutation(m, &p)) {
      is_perm = false;
      break;
    }
    perms.push_back(std::move(p));
  }
  auto [ids, Q] = decompose(*g, all);
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->name_ = name;
  r->irreps_ = std::move(ids);
  r->Q_ = std::move(Q);
  if (is_perm) r->perm_generators_ = std::move(perms);
  r->finish();
  return r;
}

RepPtr Representation::direct_sum(const std::vector<RepPtr>& reps) {
  if (reps.empty()) throw GroupError("direct_sum: no representations given");
  const auto& g0 = reps[0]->group_ptr();
  int total = 0;
  for (const auto& r : reps) {
    if (r->group().content_hash() != g0->content_hash())
      throw GroupError(fmt::format("direct_sum: representations of different groups ({} and {})", g0->name(),
                                   r->group().name()));
    total += r->size();
  }
  if (reps.size() == 1) return reps[0];
  auto out = std::shared_ptr<Representation>(new Representation());
  out->group_ = g0;
  out->Q_ = Matrix::Zero(total, total);
  bool perm = true, any_basis = false;
  for (const auto& r : reps) {
    perm = perm && r->has_permutation_structure();
    any_basis = any_basis || r->permutation_basis().has_value();
  }
  std::vector<Permutation> pg(g0->generators().size());
  Matrix B = any_basis ? Matrix(Matrix::Zero(total, total)) : Matrix();
  int off = 0;
  std::vector<std::string> names;
  for (const auto& r : reps) {
    out->Q_.block(off, off, r->size(), r->size()) = r->Q();
    out->irreps_.insert(out->irreps_.end(), r->irreps().begin(), r->irreps().end());
    if (perm) {
      for (size_t s = 0; s < pg.size(); ++s)
        for (int x : r->permutation_generators()[s]) pg[s].push_back(x + off);
      if (any_basis)
        B.block(off, off, r->size(), r->size()) =
            r->permutation_basis() ? *r->permutation_basis() : Matrix(Matrix::Identity(r->size(), r->size()));
    }
    names.push_back(r->name());
    off += r->size();
  }
  // Run-length name: "2x regular + trivial".
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
  out->finish();
  return out;
}

RepPtr Representation::change_basis(const RepPtr& rep, const Matrix& M) {
  check_orthogonal(M, rep->size(), "change_basis");
  auto out = std::shared_ptr<Representation>(new Representation(*rep));
  out->Q_ = M * rep->Q();
  out->name_ = fmt::format("({} in another basis)", rep->name());
  if (rep->perm_generators_) out->perm_basis_ = rep->perm_basis_ ? Matrix(M * *rep->perm_basis_) : M;
  out->finish();
  return out;
}

RepPtr Representation::from_decomposition(GroupPtr g, std::vector<int> irreps, Matrix Q, std::string name) {
  const auto& irr = g->irreps();
  int total = 0;
  for (int k : irreps) {
    if (k < 0 || k >= static_cast<int>(irr.size()))
      throw GroupError(fmt::format("irrep({}) does not exist: {} has irrep(0) .. irrep({})", k, g->name(), irr.size() - 1));
    total += irr[k].dim;
  }
  check_orthogonal(Q, total, "from_decomposition");
  auto r = std::shared_ptr<Representation>(new Representation());
  r->group_ = std::move(g);
  r->irreps_ = std::move(irreps);
  r->Q_ = std::move(Q);
  r->name_ = name.empty() ? "custom" : std::move(name);
  r->finish();
  return r;
}

std::vector<int> Representation::multiplicities() const {
  std::vector<int> m(group_->irreps().size(), 0);
  for (int k : irreps_) ++m[k];
  return m;
}

std::vector<int> Representation::columns_of_irrep(int k) const {
  const auto& irr = group_->irreps();
  std::vector<int> cols;
  int off = 0;
  for (int j : irreps_) {
    if (j == k)
      for (int c = 0; c < irr[j].dim; ++c) cols.push_back(off + c);
    off += irr[j].dim;
  }
  return cols;
}

Matrix Representation::matrix(int g) const {
  if (g < 0 || g >= group_->order())
    throw GroupError(fmt::format("element {} does not exist: {} has elements 0..{}", g, group_->name(), group_->order() - 1));
  if (is_permutation()) {
    // Extend along the BFS word: π_g = π_s ∘ π_parent.
    std::vector<int> word;
    for (int e = g; e != 0; e = group_->word_parent(e)) word.push_back(group_->word_generator(e));
    Permutation p(size_);
    std::iota(p.begin(), p.end(), 0);
    for (auto it = word.rbegin(); it != word.rend(); ++it) {
      const auto& s = (*perm_generators_)[*it];
      for (auto& x : p) x = s[x];
    }
    Matrix m = Matrix::Zero(size_, size_);
    for (int i = 0; i < size_; ++i) m(p[i], i) = 1.0;
    return m;
  }
  const auto& irr = group_->irreps();
  Matrix block = Matrix::Zero(size_, size_);
  int off = 0;
  for (int k : irreps_) {
    block.block(off, off, irr[k].dim, irr[k].dim) = irr[k].matrices[g];
    off += irr[k].dim;
  }
  return Q_ * block * Q_.transpose();
}

double Representation::character(int g) const {
  const auto& irr = group_->irreps();
  double c = 0;
  for (int k : irreps_) c += irr[k].character[g];
  return c;
}

Matrix Representation::invariant_basis() const {
  auto cols = columns_of_irrep(0);
  Matrix B(size_, static_cast<Eigen::Index>(cols.size()));
  for (size_t c = 0; c < cols.size(); ++c) B.col(static_cast<Eigen::Index>(c)) = Q_.col(cols[c]);
  return B;
}

Matrix Representation::invariant_projector() const {
  Matrix B = invariant_basis();
  return B * B.transpose();
}

Matrix Representation::isotypic_projector(int k) const {
  const auto& ir = group_->irreps().at(k);
  Matrix P = Matrix::Zero(size_, size_);
  for (int g = 0; g < group_->order(); ++g) P += ir.character[g] * matrix(g);
  return P * (static_cast<double>(ir.dim) / (ir.S() * group_->order()));
}

std::string Representation::describe() const { return fmt::format("{} (size {})", name_, size_); }

}  // namespace eqnn
