// Content hashing (util/hash.hpp): the mix step against values worked out by hand, and what each helper
// does and does not tell apart.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <Eigen/Core>

#include "eqnn/util/hash.hpp"

namespace eqnn {
namespace {

TEST(Hash, MixStepByHand) {
  // h ^ (v + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2))
  EXPECT_EQ(hash::mix(0, 0), 0x9e3779b97f4a7c15ULL);
  EXPECT_EQ(hash::mix(1, 2), 0x9e3779b97f4a7c56ULL);  // 1 ^ (2 + 0x…7c15 + 64 + 0) = 1 ^ 0x…7c57
  EXPECT_EQ(hash::mix(4, 0), 0x9e3779b97f4a7d12ULL);  // 4 ^ (0x…7c15 + 256 + 1) = 4 ^ 0x…7d16
}

TEST(Hash, MixAllIsMixInOrder) {
  const std::vector<int> v{3, 1, 4};
  EXPECT_EQ(hash::mix_all(9, v), hash::mix(hash::mix(hash::mix(9, 3), 1), 4));
  EXPECT_EQ(hash::mix_all(9, std::vector<int>{}), 9u);
  EXPECT_NE(hash::mix_all(9, v), hash::mix_all(9, std::vector<int>{1, 3, 4}));
}

TEST(Hash, RoundedValuesOnTheGridHashEqual) {
  const double a[] = {0.5, -0.25}, b[] = {0.5 + 1e-12, -0.25 - 1e-12}, c[] = {0.5 + 1e-8, -0.25};
  EXPECT_EQ(hash::mix_rounded(1, a, 2), hash::mix_rounded(1, b, 2));
  EXPECT_NE(hash::mix_rounded(1, a, 2), hash::mix_rounded(1, c, 2));
  // llround(0.5 · 1e9) = 500000000, llround(-0.25 · 1e9) = -250000000.
  EXPECT_EQ(hash::mix_rounded(1, a, 2),
            hash::mix(hash::mix(1, 500000000ULL), static_cast<uint64_t>(-250000000LL)));
}

TEST(Hash, MatricesHashTheirShape) {
  Eigen::MatrixXd wide(2, 3), tall(3, 2);
  wide << 1, 2, 3, 4, 5, 6;
  tall = Eigen::Map<Eigen::MatrixXd>(wide.data(), 3, 2);  // same entries in memory, other shape
  EXPECT_NE(hash::mix_matrix(0, wide), hash::mix_matrix(0, tall));
  Eigen::MatrixXd copy = wide;
  EXPECT_EQ(hash::mix_matrix(0, wide), hash::mix_matrix(0, copy));
}

TEST(Hash, PermutationListsHashTheirLengths) {
  using Perms = std::vector<std::vector<int>>;
  EXPECT_NE(hash::mix_permutations(0, Perms{{0, 1}}), hash::mix_permutations(0, Perms{{0}, {1}}));
  EXPECT_NE(hash::mix_permutations(0, Perms{{1, 0}, {0, 1}}),
            hash::mix_permutations(0, Perms{{0, 1}, {1, 0}}));
  EXPECT_EQ(hash::mix_permutations(0, Perms{}), hash::mix(0, 0));
}

}  // namespace
}  // namespace eqnn
