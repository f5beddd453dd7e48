// UnionFind (util/union_find.hpp) against connectivity computed independently: a breadth-first search
// over the same edges, labelling components in order of their smallest element.
#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <random>
#include <utility>
#include <vector>

#include "eqnn/util/union_find.hpp"

namespace eqnn {
namespace {

std::vector<int64_t> bfs_labels(int64_t n, const std::vector<std::pair<int64_t, int64_t>>& edges,
                                int64_t& count) {
  std::vector<std::vector<int64_t>> adjacent(static_cast<size_t>(n));
  for (const auto& [a, b] : edges) {
    adjacent[a].push_back(b);
    adjacent[b].push_back(a);
  }
  std::vector<int64_t> label(static_cast<size_t>(n), -1);
  count = 0;
  for (int64_t start = 0; start < n; ++start) {  // increasing: each component is met at its smallest element
    if (label[start] >= 0) continue;
    std::deque<int64_t> queue{start};
    label[start] = count;
    while (!queue.empty()) {
      const int64_t x = queue.front();
      queue.pop_front();
      for (int64_t y : adjacent[x])
        if (label[y] < 0) label[y] = count, queue.push_back(y);
    }
    ++count;
  }
  return label;
}

TEST(UnionFind, TheExampleInTheHeader) {
  UnionFind sets(4);
  EXPECT_TRUE(sets.unite(0, 2));
  EXPECT_FALSE(sets.unite(2, 0));
  auto [label, count] = sets.components();
  EXPECT_EQ(label, (std::vector<int64_t>{0, 1, 0, 2}));
  EXPECT_EQ(count, 3);
}

TEST(UnionFind, FindIsTheSmallestElementOfTheSet) {
  UnionFind sets(6);
  sets.unite(5, 3);
  sets.unite(3, 4);
  for (int64_t x : {3, 4, 5}) EXPECT_EQ(sets.find(x), 3);
  sets.unite(4, 1);
  for (int64_t x : {1, 3, 4, 5}) EXPECT_EQ(sets.find(x), 1);
  EXPECT_EQ(sets.find(0), 0);
  EXPECT_EQ(sets.find(2), 2);
}

TEST(UnionFind, EmptyAndSingletons) {
  UnionFind none(0);
  EXPECT_EQ(none.components().second, 0);
  UnionFind three(3);
  auto [label, count] = three.components();
  EXPECT_EQ(label, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(count, 3);
}

TEST(UnionFind, AgreesWithBreadthFirstSearchOnRandomGraphs) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t n = std::uniform_int_distribution<int64_t>(1, 60)(rng);
    const int m = std::uniform_int_distribution<int>(0, static_cast<int>(n))(rng);
    std::uniform_int_distribution<int64_t> vertex(0, n - 1);
    std::vector<std::pair<int64_t, int64_t>> edges;
    UnionFind sets(n);
    for (int e = 0; e < m; ++e) {
      const int64_t a = vertex(rng), b = vertex(rng);
      const bool joined_before = sets.find(a) == sets.find(b);
      EXPECT_EQ(sets.unite(a, b), !joined_before);
      edges.emplace_back(a, b);
    }
    int64_t expected_count = 0;
    const auto expected = bfs_labels(n, edges, expected_count);
    auto [label, count] = sets.components();
    EXPECT_EQ(count, expected_count) << "trial " << trial;
    EXPECT_EQ(label, expected) << "trial " << trial;
  }
}

}  // namespace
}  // namespace eqnn
