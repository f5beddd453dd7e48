// Finite groups: closure of generating sets, Cayley-table validation, words, classes.
#include "eqnn/group_theory/group.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <functional>
#include <numeric>
#include <unordered_map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/hash.hpp"
#include "eqnn/util/union_find.hpp"

namespace eqnn {

char type_letter(IrrepType t) {
  switch (t) {
    case IrrepType::R:
      return 'R';
    case IrrepType::C:
      return 'C';
    case IrrepType::H:
      return 'H';
  }
  return '?';
}

namespace {

struct VectorHash {
  size_t operator()(const std::vector<int64_t>& v) const { return hash::mix_all(v.size(), v); }
};

bool is_permutation_of(const Permutation& p, int n) {
  if (static_cast<int>(p.size()) != n) return false;
  std::vector<char> seen(n, 0);
  for (int x : p) {
    if (x < 0 || x >= n || seen[x]) return false;
    seen[x] = 1;
  }
  return true;
}

// Closes a generating set given as opaque elements with a product and a key; returns the elements in
// BFS order (identity first), the BFS tree, and the Cayley table.
template <class Elem, class Mul, class Key>
void close_set(const std::vector<Elem>& gens, const Elem& identity, Mul mul, Key key, int64_t max_order,
               const std::string& what, std::vector<Elem>& elements, std::vector<int>& table,
               std::vector<int>& word_gen, std::vector<int>& word_parent) {
  std::unordered_map<std::vector<int64_t>, int, VectorHash> index;
  elements.clear();
  elements.push_back(identity);
  index.emplace(key(identity), 0);
  word_gen.assign(1, -1);
  word_parent.assign(1, -1);
  for (size_t head = 0; head < elements.size(); ++head) {
    for (size_t s = 0; s < gens.size(); ++s) {
      Elem e = mul(gens[s], elements[head]);
      auto k = key(e);
      if (index.count(k)) continue;
      if (static_cast<int64_t>(elements.size()) >= max_order) {
        throw GroupError(fmt::format(
            "the {} generate a group of more than {} elements, the limit on group orders (closure stopped "
            "there, before the Cayley table was allocated); check the generators, or raise the limit with "
            "the environment variable EQNN_MAX_GROUP_ORDER{}",
            what, max_order, max_order == Group::max_order() ? "" : " or the group's max_order"));
      }
      index.emplace(std::move(k), static_cast<int>(elements.size()));
      elements.push_back(std::move(e));
      word_gen.push_back(static_cast<int>(s));
      word_parent.push_back(static_cast<int>(head));
    }
  }
  const size_t n = elements.size();
  table.assign(n * n, -1);
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b) {
      auto it = index.find(key(mul(elements[a], elements[b])));
      if (it == index.end())
        throw GroupError(
            fmt::format("the {} do not close: a product of two generated elements was not "
                        "generated (numerically inconsistent matrices?)",
                        what));
      table[a * n + b] = it->second;
    }
}

}  // namespace

int64_t Group::max_order() { return max_group_order(); }

void Group::check_order(int64_t order, const std::string& what, int64_t limit) {
  if (limit <= 0) limit = max_order();
  if (order < 1)
    throw GroupError(fmt::format("{} would have order {}; a group has at least one element", what, order));
  if (order > limit)
    throw GroupError(
        fmt::format("{} would have order {}, more than the limit {} on group orders (refused before "
                    "anything of size |G| or |G|² was allocated); use a smaller group, or raise the "
                    "limit with the environment variable EQNN_MAX_GROUP_ORDER",
                    what, order, limit));
}

std::shared_ptr<Group> Group::from_cayley_table(std::string name, std::vector<std::vector<int>> table,
                                                std::vector<int> generators) {
  const int n = static_cast<int>(table.size());
  if (n == 0) throw GroupError("a Cayley table needs at least one row (the identity)");
  check_order(static_cast<int64_t>(table.size()),
              fmt::format("the group {} given by its Cayley table", name));
  auto g = std::shared_ptr<Group>(new Group());
  g->name_ = std::move(name);
  g->order_ = n;
  g->table_.resize(static_cast<size_t>(n) * n);
  for (int a = 0; a < n; ++a) {
    if (static_cast<int>(table[a].size()) != n)
      throw GroupError(
          fmt::format("Cayley table row {} has {} entries, expected {} (the table must be "
                      "square)",
                      a, table[a].size(), n));
    for (int b = 0; b < n; ++b) {
      int v = table[a][b];
      if (v < 0 || v >= n)
        throw GroupError(
            fmt::format("Cayley table entry [{}][{}] = {} is not an element index 0..{}", a, b, v, n - 1));
      g->table_[static_cast<size_t>(a) * n + b] = v;
    }
  }
  for (int a = 0; a < n; ++a)
    if (g->mul(0, a) != a || g->mul(a, 0) != a)
      throw GroupError(fmt::format("element 0 is not the identity of the Cayley table: 0·{} = {}, {}·0 = {}",
                                   a, g->mul(0, a), a, g->mul(a, 0)));
  for (int a = 0; a < n; ++a) {
    std::vector<char> row(n, 0), col(n, 0);
    for (int b = 0; b < n; ++b) {
      row[g->mul(a, b)] = 1;
      col[g->mul(b, a)] = 1;
    }
    if (std::count(row.begin(), row.end(), 1) != n || std::count(col.begin(), col.end(), 1) != n)
      throw GroupError(
          fmt::format("the Cayley table is not a group: row or column {} repeats an element "
                      "(not a Latin square)",
                      a));
  }
  if (generators.empty()) {
    generators.resize(n > 1 ? n - 1 : 0);
    std::iota(generators.begin(), generators.end(), 1);
  }
  for (int s : generators)
    if (s < 0 || s >= n)
      throw GroupError(fmt::format("generator {} is not an element index 0..{}", s, n - 1));
  // Associativity: (s·b)·c = s·(b·c) for every generator s suffices once the generators generate
  // (checked below): for a = s·a', ((s·a')·b)·c = (s·(a'·b))·c = s·((a'·b)·c) = s·(a'·(b·c)) = (s·a')·(b·c)
  // by induction on the word length of a. O(|gens|·n²) instead of O(n³).
  for (int a : generators)
    for (int b = 0; b < n; ++b)
      for (int c = 0; c < n; ++c)
        if (g->mul(g->mul(a, b), c) != g->mul(a, g->mul(b, c)))
          throw GroupError(
              fmt::format("the Cayley table is not associative: ({}·{})·{} = {} but {}·({}·{}) = {}", a, b, c,
                          g->mul(g->mul(a, b), c), a, b, c, g->mul(a, g->mul(b, c))));
  g->generators_ = std::move(generators);
  // BFS words over the generators (left multiplication), checking they generate.
  g->word_gen_.assign(n, -1);
  g->word_parent_.assign(n, -1);
  std::vector<char> seen(n, 0);
  seen[0] = 1;
  g->bfs_order_ = {0};
  for (size_t head = 0; head < g->bfs_order_.size(); ++head) {
    int e = g->bfs_order_[head];
    for (size_t s = 0; s < g->generators_.size(); ++s) {
      int f = g->mul(g->generators_[s], e);
      if (seen[f]) continue;
      seen[f] = 1;
      g->word_gen_[f] = static_cast<int>(s);
      g->word_parent_[f] = e;
      g->bfs_order_.push_back(f);
    }
  }
  if (static_cast<int>(g->bfs_order_.size()) != n)
    throw GroupError(fmt::format("the generators {} generate only {} of the {} elements of the Cayley table",
                                 g->generators_, g->bfs_order_.size(), n));
  g->finish();
  return g;
}

std::shared_ptr<Group> Group::from_generator_permutations(std::string name, std::vector<Permutation> gens,
                                                          int64_t max_order) {
  if (gens.empty())
    throw GroupError("a group needs at least one generator (use [[0]] for the trivial group)");
  if (max_order <= 0) max_order = Group::max_order();
  const int n = static_cast<int>(gens[0].size());
  for (size_t s = 0; s < gens.size(); ++s)
    if (!is_permutation_of(gens[s], n))
      throw GroupError(
          fmt::format("generator {} = {} is not a permutation of 0..{} (each of 0..{} must "
                      "appear exactly once, and all generators must have the same length {})",
                      s, gens[s], n - 1, n - 1, n));
  Permutation id(n);
  std::iota(id.begin(), id.end(), 0);
  auto mul = [](const Permutation& a, const Permutation& b) {  // (a·b)(x) = a(b(x))
    Permutation c(b.size());
    for (size_t i = 0; i < b.size(); ++i) c[i] = a[b[i]];
    return c;
  };
  auto key = [](const Permutation& p) { return std::vector<int64_t>(p.begin(), p.end()); };
  auto g = std::shared_ptr<Group>(new Group());
  std::vector<Permutation> elements;
  close_set(gens, id, mul, key, max_order, "generator permutations", elements, g->table_, g->word_gen_,
            g->word_parent_);
  g->name_ = std::move(name);
  g->order_ = static_cast<int>(elements.size());
  g->generators_.clear();
  for (size_t s = 0; s < gens.size(); ++s) {
    int idx = -1;
    for (int e = 0; e < g->order_; ++e)
      if (elements[e] == gens[s]) idx = e;
    g->generators_.push_back(idx);
  }
  g->bfs_order_.resize(g->order_);
  std::iota(g->bfs_order_.begin(), g->bfs_order_.end(), 0);
  g->finish();
  g->add_action(PermutationAction{"points", n, std::move(gens)});
  return g;
}

std::shared_ptr<Group> Group::from_generator_matrices(std::string name, std::vector<Matrix> gens,
                                                      int64_t max_order) {
  if (gens.empty()) throw GroupError("a group needs at least one generator matrix");
  if (max_order <= 0) max_order = Group::max_order();
  const auto n = gens[0].rows();
  for (size_t s = 0; s < gens.size(); ++s) {
    const Matrix& m = gens[s];
    if (m.rows() != n || m.cols() != n)
      throw GroupError(
          fmt::format("generator matrix {} is {}x{}; all generator matrices must be square and "
                      "of the same size {}x{}",
                      s, m.rows(), m.cols(), n, n));
    double err = (m.transpose() * m - Matrix::Identity(n, n)).cwiseAbs().maxCoeff();
    if (!(err < 1e-6)) {
      double det = m.determinant();
      throw GroupError(fmt::format(
          "generator matrix {} is not orthogonal: max |MᵀM - I| = {:.3g}{} (generators must be orthogonal "
          "matrices, e.g. rotations and reflections)",
          s, err, std::abs(det) < 1e-12 ? " and it is not invertible (det = 0)" : ""));
    }
  }
  // Round to a grid before hashing so products that differ by rounding error hash equal.
  auto key = [](const Matrix& m) {
    std::vector<int64_t> k(static_cast<size_t>(m.size()));
    for (Eigen::Index i = 0; i < m.size(); ++i) k[i] = std::llround(m.data()[i] * 1e6);
    return k;
  };
  auto mul = [](const Matrix& a, const Matrix& b) -> Matrix { return a * b; };
  auto g = std::shared_ptr<Group>(new Group());
  std::vector<Matrix> elements;
  close_set(gens, Matrix(Matrix::Identity(n, n)), mul, key, max_order, "generator matrices", elements,
            g->table_, g->word_gen_, g->word_parent_);
  g->name_ = std::move(name);
  g->order_ = static_cast<int>(elements.size());
  for (size_t s = 0; s < gens.size(); ++s) {
    int idx = -1;
    for (int e = 0; e < g->order_ && idx < 0; ++e)
      if (key(elements[e]) == key(gens[s])) idx = e;
    g->generators_.push_back(idx);
  }
  g->bfs_order_.resize(g->order_);
  std::iota(g->bfs_order_.begin(), g->bfs_order_.end(), 0);
  g->finish();
  g->standard_ = std::move(gens);
  return g;
}

void Group::finish() {
  const int n = order_;
  inverse_.assign(n, -1);
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      if (mul(a, b) == 0) {
        inverse_[a] = b;
        break;
      }
  rehash();
}

void Group::rehash() {
  uint64_t h = hash::mix_all(hash::mix(0x1234, static_cast<uint64_t>(order_)), table_);
  for (int s : generators_) h = hash::mix(h, static_cast<uint64_t>(s) + 77);
  if (supplied_irreps_) {
    h = hash::mix(h, 0x1ee7);
    for (const auto& irrep : *supplied_irreps_)
      for (const auto& m : irrep)
        h = hash::mix_rounded(hash::mix(h, static_cast<uint64_t>(m.rows())), m.data(), m.size());
    for (const auto& name : supplied_names_) h = hash::mix(h, std::hash<std::string>()(name));
  }
  hash_ = h;
}

bool Group::same_content(const Group& o) const {
  if (this == &o) return true;
  if (is_compact() || o.is_compact())  // the definition's name and the band limit say everything
    return hash_ == o.hash_ && is_compact() && o.is_compact() && band_limit_ == o.band_limit_ &&
           name_ == o.name_;
  if (hash_ != o.hash_ || order_ != o.order_ || generators_ != o.generators_ || table_ != o.table_)
    return false;
  if (supplied_irreps_.has_value() != o.supplied_irreps_.has_value()) return false;
  if (!supplied_irreps_) return true;
  if (supplied_names_ != o.supplied_names_ || supplied_irreps_->size() != o.supplied_irreps_->size())
    return false;
  for (size_t k = 0; k < supplied_irreps_->size(); ++k) {
    const auto &a = (*supplied_irreps_)[k], &b = (*o.supplied_irreps_)[k];
    if (a.size() != b.size()) return false;
    for (size_t s = 0; s < a.size(); ++s)
      if (a[s].rows() != b[s].rows() || a[s].cols() != b[s].cols() || a[s] != b[s]) return false;
  }
  return true;
}

std::vector<Permutation> Group::extend_permutations(const std::vector<Permutation>& gen_images,
                                                    const std::string& what) const {
  if (compact_) throw_compact("permutations on generators");
  if (gen_images.size() != generators_.size())
    throw GroupError(fmt::format("{}: {} generator images given, but the group {} has {} generators", what,
                                 gen_images.size(), name_, generators_.size()));
  const int n = gen_images.empty() ? 0 : static_cast<int>(gen_images[0].size());
  for (size_t s = 0; s < gen_images.size(); ++s)
    if (!is_permutation_of(gen_images[s], n))
      throw GroupError(fmt::format("{}: image of generator {} = {} is not a permutation of 0..{}", what, s,
                                   gen_images[s], n - 1));
  std::vector<Permutation> out(order_);
  out[0].resize(n);
  std::iota(out[0].begin(), out[0].end(), 0);
  for (int e : bfs_order_) {
    if (e == 0) continue;
    const Permutation& s = gen_images[word_gen_[e]];
    const Permutation& p = out[word_parent_[e]];
    out[e].resize(n);
    for (int i = 0; i < n; ++i) out[e][i] = s[p[i]];
  }
  for (size_t s = 0; s < generators_.size(); ++s)
    for (int e = 0; e < order_; ++e) {
      const Permutation& lhs_s = gen_images[s];
      const Permutation& rhs = out[mul(generators_[s], e)];
      for (int i = 0; i < n; ++i)
        if (lhs_s[out[e][i]] != rhs[i])
          throw GroupError(
              fmt::format("{}: the generator images do not define an action of {} (they violate "
                          "a relation of the group: generator {} times element {})",
                          what, name_, s, e));
    }
  return out;
}

std::vector<Matrix> Group::extend_matrices(const std::vector<Matrix>& gen_images, const std::string& what,
                                           double tol) const {
  if (compact_) throw_compact("generators to extend matrices from");
  if (gen_images.size() != generators_.size())
    throw GroupError(fmt::format("{}: {} generator matrices given, but the group {} has {} generators", what,
                                 gen_images.size(), name_, generators_.size()));
  const auto d = gen_images.empty() ? 0 : gen_images[0].rows();
  for (size_t s = 0; s < gen_images.size(); ++s) {
    if (gen_images[s].rows() != d || gen_images[s].cols() != d)
      throw GroupError(fmt::format("{}: generator matrix {} is {}x{}, expected {}x{}", what, s,
                                   gen_images[s].rows(), gen_images[s].cols(), d, d));
    double err = (gen_images[s].transpose() * gen_images[s] - Matrix::Identity(d, d)).cwiseAbs().maxCoeff();
    if (!(err < 1e-6))
      throw GroupError(
          fmt::format("{}: generator matrix {} is not orthogonal (max |MᵀM - I| = {:.3g})", what, s, err));
  }
  std::vector<Matrix> out(order_);
  out[0] = Matrix::Identity(d, d);
  for (int e : bfs_order_) {
    if (e == 0) continue;
    out[e] = gen_images[word_gen_[e]] * out[word_parent_[e]];
  }
  for (size_t s = 0; s < generators_.size(); ++s)
    for (int e = 0; e < order_; ++e) {
      double err = (gen_images[s] * out[e] - out[mul(generators_[s], e)]).cwiseAbs().maxCoeff();
      if (!(err < tol))
        throw GroupError(
            fmt::format("{}: the generator matrices do not define a representation of {} (they "
                        "violate a relation of the group: generator {} times element {}, error {:.3g})",
                        what, name_, s, e, err));
    }
  return out;
}

void Group::add_action(PermutationAction action) {
  if (compact_) throw_compact("permutation actions");
  extend_permutations(action.generator_images, fmt::format("action '{}'", action.name));
  for (auto& a : actions_)
    if (a.name == action.name) {
      a = std::move(action);
      return;
    }
  actions_.push_back(std::move(action));
}

const PermutationAction* Group::find_action(const std::string& name) const {
  for (const auto& a : actions_)
    if (a.name == name) return &a;
  return nullptr;
}

void Group::set_standard(std::vector<Matrix> generator_matrices) {
  if (compact_) throw_compact("generators for a standard representation");
  extend_matrices(generator_matrices, "standard representation");
  standard_ = std::move(generator_matrices);
}

void Group::set_irreps(std::vector<std::vector<Matrix>> generator_matrices, std::vector<std::string> names) {
  if (compact_) throw_compact("generators to supply irreps on");
  if (irreps_ready())
    throw GroupError(
        fmt::format("set_irreps: the irreps of {} are already in use; supply irreps before the group "
                    "is shared",
                    name_));
  supplied_irreps_ = std::move(generator_matrices);
  supplied_names_ = std::move(names);
  rehash();
}

std::vector<int> Group::class_of() const {
  std::vector<int> cls(order_, -1);
  auto classes = conjugacy_classes();
  for (size_t c = 0; c < classes.size(); ++c)
    for (int e : classes[c]) cls[e] = static_cast<int>(c);
  return cls;
}

std::vector<std::vector<int>> Group::conjugacy_classes() const {
  if (compact_) throw_compact("conjugacy_classes()");
  std::vector<int> cls(order_, -1);
  std::vector<std::vector<int>> out;
  for (int a = 0; a < order_; ++a) {
    if (cls[a] >= 0) continue;
    std::vector<int> members;
    for (int h = 0; h < order_; ++h) {
      int c = mul(mul(h, a), inv(h));
      if (cls[c] < 0) {
        cls[c] = static_cast<int>(out.size());
        members.push_back(c);
      }
    }
    std::sort(members.begin(), members.end());
    out.push_back(std::move(members));
  }
  return out;
}

int Group::num_real_classes() const {
  // Union of each conjugacy class with the class of the inverses.
  auto classes = conjugacy_classes();
  std::vector<int> cls(order_);
  for (size_t c = 0; c < classes.size(); ++c)
    for (int e : classes[c]) cls[e] = static_cast<int>(c);
  UnionFind real_classes(static_cast<int64_t>(classes.size()));
  for (size_t c = 0; c < classes.size(); ++c)
    real_classes.unite(static_cast<int64_t>(c), cls[inv(classes[c][0])]);
  return static_cast<int>(real_classes.components().second);
}

}  // namespace eqnn
