// Union-find over 0..n-1 with path halving: orbits of points or index pairs under generators, classes
// merged under an equivalence. Each component is represented by its smallest element, so the labels
// components() gives are in order of each component's smallest element, whatever the merge order.
#pragma once

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace eqnn {

/// Disjoint sets of 0..n-1.
///
///   UnionFind sets(4);
///   sets.unite(0, 2);
///   auto [label, count] = sets.components();  // label = {0, 1, 0, 2}, count = 3
class UnionFind {
 public:
  explicit UnionFind(int64_t n) : parent_(static_cast<size_t>(n)) {
    std::iota(parent_.begin(), parent_.end(), int64_t{0});
  }

  int64_t size() const { return static_cast<int64_t>(parent_.size()); }

  /// The smallest element of x's set.
  int64_t find(int64_t x) {
    while (parent_[x] != x) x = parent_[x] = parent_[parent_[x]];
    return x;
  }

  /// Merges the sets of a and b; returns false when they were already one set.
  bool unite(int64_t a, int64_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return false;
    if (a < b) std::swap(a, b);
    parent_[a] = b;
    return true;
  }

  /// label[x] = the index of x's set, sets numbered 0, 1, ... by their smallest element; and the count.
  std::pair<std::vector<int64_t>, int64_t> components() {
    std::vector<int64_t> id(parent_.size(), -1), label(parent_.size());
    int64_t count = 0;
    for (int64_t x = 0; x < size(); ++x) {
      const int64_t r = find(x);
      if (id[r] < 0) id[r] = count++;
      label[x] = id[r];
    }
    return {std::move(label), count};
  }

 private:
  std::vector<int64_t> parent_;
};

}  // namespace eqnn
