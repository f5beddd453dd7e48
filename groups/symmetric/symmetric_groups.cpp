// SymmetricGroup(n) and AlternatingGroup(n) acting on n points. Short names "S<n>", "A<n>".
// Irreps without numerics on |G|-sized matrices: Young's orthogonal form for S_n (one irrep per
// partition), and for A_n the restrictions, split with the small-commutant tool where a self-conjugate
// partition's restriction is reducible.
#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/group_theory/irreps.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::Matrix;
using Partition = std::vector<int>;

eqnn::Permutation cycle_of(int n, int first) {  // first → first+1 → ... → n-1 → first
  eqnn::Permutation p(n);
  std::iota(p.begin(), p.end(), 0);
  for (int i = first; i < n; ++i) p[i] = i + 1 < n ? i + 1 : first;
  return p;
}

void partitions(int n, int max_part, Partition& cur, std::vector<Partition>& out) {
  if (n == 0) {
    out.push_back(cur);
    return;
  }
  for (int p = std::min(n, max_part); p >= 1; --p) {
    cur.push_back(p);
    partitions(n - p, p, cur, out);
    cur.pop_back();
  }
}

Partition conjugate(const Partition& l) {
  Partition c(l.empty() ? 0 : l[0], 0);
  for (int row : l)
    for (int j = 0; j < row; ++j) ++c[j];
  return c;
}

// Young's orthogonal form: basis = standard Young tableaux of shape λ (entries 0..n-1, each a cell
// (row, column)); the adjacent transposition s_i = (i i+1) acts by
//   s_i T = T / r + sqrt(1 - 1/r²) (T with i, i+1 swapped),   r = content(i+1) - content(i),
// content = column - row; the second term is absent when the swapped tableau is not standard (|r| = 1).
class YoungForm {
 public:
  YoungForm(const Partition& shape, int n) : n_(n) {
    std::vector<int> fill(shape.size(), 0);
    std::vector<std::pair<int, int>> cells(n);
    enumerate(shape, fill, 0, cells);
    for (size_t t = 0; t < tableaux_.size(); ++t) index_[tableaux_[t]] = static_cast<int>(t);
    for (int i = 0; i + 1 < n; ++i) adjacent_.push_back(adjacent(i));
  }
  int dim() const { return static_cast<int>(tableaux_.size()); }

  /// ρ(p) for a permutation p (p[i] = image of i), via bubble sort: sorting the array p by swaps of
  /// neighbours i, i+1 (p ← p ∘ s_i) until it is the identity writes p = s_ik ∘ ... ∘ s_i1.
  Matrix matrix(eqnn::Permutation p) const {
    Matrix m = Matrix::Identity(dim(), dim());
    for (bool swapped = true; swapped;) {
      swapped = false;
      for (int i = 0; i + 1 < n_; ++i)
        if (p[i] > p[i + 1]) {
          std::swap(p[i], p[i + 1]);
          m = adjacent_[i] * m;
          swapped = true;
        }
    }
    return m;
  }

 private:
  using Tableau = std::vector<std::pair<int, int>>;  // cell of each entry

  void enumerate(const Partition& shape, std::vector<int>& fill, int k, Tableau& cells) {
    if (k == n_) {
      tableaux_.push_back(cells);
      return;
    }
    for (size_t row = 0; row < shape.size(); ++row)
      if (fill[row] < shape[row] && (row == 0 || fill[row - 1] > fill[row])) {
        cells[k] = {static_cast<int>(row), fill[row]};
        ++fill[row];
        enumerate(shape, fill, k + 1, cells);
        --fill[row];
      }
  }

  Matrix adjacent(int i) const {
    Matrix m = Matrix::Zero(dim(), dim());
    for (int t = 0; t < dim(); ++t) {
      const auto& T = tableaux_[t];
      const int r = (T[i + 1].second - T[i + 1].first) - (T[i].second - T[i].first);
      m(t, t) = 1.0 / r;
      if (std::abs(r) > 1) {
        Tableau swapped = T;
        std::swap(swapped[i], swapped[i + 1]);
        m(index_.at(swapped), t) = std::sqrt(1.0 - 1.0 / (double(r) * r));
      }
    }
    return m;
  }

  int n_;
  std::vector<Tableau> tableaux_;
  std::map<Tableau, int> index_;
  std::vector<Matrix> adjacent_;
};

void check_order(const YAML::Node& node, const std::string& family, int64_t n, bool alternating) {
  long double order = 1;
  for (int64_t k = 2; k <= n && order <= 1e30L; ++k) order *= static_cast<long double>(k);
  if (alternating && n >= 2) order /= 2;
  const std::string text =
      n <= 20 ? fmt::format("{}{}! = {:.0f}", alternating ? "½·" : "", n, static_cast<double>(order))
              : fmt::format("{}{}! > 10^30", alternating ? "½·" : "", n);
  eqnn::group_helpers::check_family_order(node, fmt::format("{}(n: {})", family, n), order, text);
}

std::vector<Partition> partitions_of(int n) {
  std::vector<Partition> all;
  Partition cur;
  partitions(n, n, cur, all);
  return all;
}

eqnn::GroupPtr make_symmetric(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"n"}, "SymmetricGroup");
  const int64_t n64 = eqnn::yaml::get_int(params, "n", std::nullopt, 1);
  check_order(params["n"], "SymmetricGroup", n64, false);
  const int n = static_cast<int>(n64);
  eqnn::Permutation swap(n);
  std::iota(swap.begin(), swap.end(), 0);
  if (n >= 2) std::swap(swap[0], swap[1]);
  std::vector<eqnn::Permutation> gens{swap};
  if (n >= 3) gens.push_back(cycle_of(n, 0));
  auto g = eqnn::Group::from_generator_permutations("S" + std::to_string(n), gens);
  // One irrep per partition; trivial (n) first, then by dimension.
  std::vector<std::pair<int, std::vector<Matrix>>> irreps;
  for (const auto& shape : partitions_of(n)) {
    YoungForm y(shape, n);
    std::vector<Matrix> mats;
    for (const auto& p : gens) mats.push_back(y.matrix(p));
    irreps.emplace_back(y.dim(), std::move(mats));
  }
  std::stable_sort(irreps.begin() + 1, irreps.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::vector<Matrix>> supplied;
  for (auto& ir : irreps) supplied.push_back(std::move(ir.second));
  g->set_irreps(std::move(supplied));
  return g;
}

eqnn::GroupPtr make_alternating(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"n"}, "AlternatingGroup");
  const int64_t n64 = eqnn::yaml::get_int(params, "n", std::nullopt, 1);
  check_order(params["n"], "AlternatingGroup", n64, true);
  const int n = static_cast<int>(n64);
  std::vector<eqnn::Permutation> gens;
  if (n < 3) {
    eqnn::Permutation id(n);
    std::iota(id.begin(), id.end(), 0);
    gens.push_back(id);
  } else {
    gens.push_back(cycle_of(3, 0));  // (0 1 2), padded below
    gens[0].resize(n);
    std::iota(gens[0].begin() + 3, gens[0].end(), 3);
    // A_n is generated by (0 1 2) and an (n-1)- or n-cycle of even parity.
    if (n > 3) gens.push_back(n % 2 == 1 ? cycle_of(n, 0) : cycle_of(n, 1));
  }
  auto g = eqnn::Group::from_generator_permutations("A" + std::to_string(n), gens);
  // Restrictions of S_n's irreps: λ and its conjugate restrict to the same irrep (taken once); a
  // self-conjugate λ restricts to two non-isomorphic irreps of type R or one of type C, which the
  // small-commutant split tells apart.
  std::vector<std::pair<int, std::vector<Matrix>>> irreps;
  for (const auto& shape : partitions_of(n)) {
    const Partition conj = conjugate(shape);
    if (conj > shape) continue;  // the conjugate partition (larger) stands for both
    YoungForm y(shape, n);
    std::vector<Matrix> mats;
    for (const auto& p : gens) mats.push_back(y.matrix(p));
    if (conj != shape || n < 2) {
      irreps.emplace_back(y.dim(), std::move(mats));
      continue;
    }
    auto all =
        g->extend_matrices(mats, fmt::format("the restriction of S{}'s irrep {}", n, fmt::join(shape, ",")));
    for (const Matrix& V : eqnn::irreducible_subspaces(*g, all)) {
      std::vector<Matrix> part;
      for (const auto& m : mats) part.push_back(V.transpose() * m * V);
      irreps.emplace_back(static_cast<int>(V.cols()), std::move(part));
    }
  }
  std::stable_sort(irreps.begin() + 1, irreps.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::vector<Matrix>> supplied;
  for (auto& ir : irreps) supplied.push_back(std::move(ir.second));
  g->set_irreps(std::move(supplied));
  return g;
}

std::optional<YAML::Node> short_name(const std::string& s, const char* prefix) {
  auto n = eqnn::group_helpers::parse_prefixed_int(s, prefix);
  if (!n) return std::nullopt;
  YAML::Node p;
  p["n"] = *n;
  return p;
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"SymmetricGroup",
                    "n: integer >= 1 (order n!)",
                    {"S3", "S5"},
                    make_symmetric,
                    [](const std::string& s) { return short_name(s, "S"); }});
  r.add_group_type({"AlternatingGroup",
                    "n: integer >= 1 (order n!/2)",
                    {"A4", "A5"},
                    make_alternating,
                    [](const std::string& s) { return short_name(s, "A"); }});
}

}  // namespace

EQNN_PLUGIN("symmetric_groups", "0.1.0", register_all)
