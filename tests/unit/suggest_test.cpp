// "Did you mean" (util/suggest.hpp) against an independent Levenshtein distance: the full dynamic-programming
// table, written here, and the acceptance rule spelled out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

TEST(DidYouMean, PicksTheNearestPlausibleName) {
  std::vector<std::string> names{"eLinear", "eMultiheadAttention", "eLayerNorm"};
  EXPECT_EQ(did_you_mean("eLiner", names), "eLinear");
  EXPECT_EQ(did_you_mean("elinear", names), "eLinear");
  EXPECT_EQ(did_you_mean("eMultiHeadAtention", names), "eMultiheadAttention");
  EXPECT_EQ(did_you_mean("Attention", names), "eMultiheadAttention");
  EXPECT_EQ(did_you_mean("xyz", names), std::nullopt);
  EXPECT_EQ(did_you_mean("anything", {}), std::nullopt);
}

// The textbook table D[i][j] = distance of the first i characters of a to the first j of b.
size_t levenshtein(const std::string& a, const std::string& b) {
  std::vector<std::vector<size_t>> D(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) D[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) D[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = D[i - 1][j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
      D[i][j] = std::min({D[i - 1][j] + 1, D[i][j - 1] + 1, substitute});
    }
  return D[a.size()][b.size()];
}

TEST(DidYouMean, HandComputedDistancesAtTheThreshold) {
  // A name of n letters accepts distance < max(2, n / 3) + 1, and < n.
  EXPECT_EQ(did_you_mean("abcdefghi", {"abcdefxyz"}), "abcdefxyz");  // n = 9: 3 < 4
  EXPECT_EQ(did_you_mean("abcdefgh", {"abcdexyz"}), std::nullopt);   // n = 8: 3 is not < 3
  EXPECT_EQ(did_you_mean("abcdefgh", {"abcdefyz"}), "abcdefyz");     // 2 < 3
  EXPECT_EQ(did_you_mean("ab", {"xy"}), std::nullopt);               // 2 is not < n = 2
  EXPECT_EQ(did_you_mean("ab", {"xb"}), "xb");                       // 1 < 2
  EXPECT_EQ(did_you_mean("a", {"b"}), std::nullopt);                 // 1 is not < 1
  EXPECT_EQ(did_you_mean("a", {"A"}), "A");                          // case does not count
  EXPECT_EQ(did_you_mean("hat", {"cat", "bat"}), "cat");             // a tie: the first
  EXPECT_EQ(did_you_mean("hat", {"cart", "bat"}), "bat");            // 2 vs 1: the nearer
}

TEST(DidYouMean, AUniqueContainingNameIsSuggestedWhenNoneIsNear) {
  EXPECT_EQ(did_you_mean("Commuting", {"CommutingConstraint", "InvariantConstraint"}), "CommutingConstraint");
  EXPECT_EQ(did_you_mean("Constraint", {"CommutingConstraint", "InvariantConstraint"}), std::nullopt);
  EXPECT_EQ(did_you_mean("Co", {"CommutingConstraint"}), std::nullopt);  // two letters are too few
}

TEST(DidYouMean, AgreesWithAnIndependentDistanceOnRandomNames) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> letter(0, 3), length(1, 9);
  auto word = [&] {
    std::string w(static_cast<size_t>(length(rng)), 'a');
    for (char& c : w) c = static_cast<char>("abAB"[letter(rng)]);
    return w;
  };
  for (int trial = 0; trial < 2000; ++trial) {
    const std::string name = word();
    std::vector<std::string> candidates{word(), word(), word()};
    // Expected: the first candidate of least distance, if that distance passes the rule; else a unique
    // candidate containing the name (case-insensitively), for names of three letters or more.
    std::optional<std::string> expected;
    size_t best = std::max<size_t>(2, name.size() / 3) + 1;
    for (const auto& c : candidates) {
      const size_t d = levenshtein(name, c);
      if (d < best && d < name.size()) best = d, expected = c;
    }
    if (!expected && name.size() >= 3) {
      auto lower = [](std::string s) {
        for (char& c : s) c = static_cast<char>(std::tolower(c));
        return s;
      };
      std::vector<std::string> containing;
      for (const auto& c : candidates)
        if (lower(c).find(lower(name)) != std::string::npos) containing.push_back(c);
      if (containing.size() == 1) expected = containing[0];
    }
    EXPECT_EQ(did_you_mean(name, candidates), expected)
        << name << " among " << candidates[0] << ", " << candidates[1] << ", " << candidates[2];
  }
}

TEST(DidYouMean, TheTwoClauses) {
  const std::vector<std::string> keys{"out_rep", "bias"};
  EXPECT_EQ(did_you_mean_clause("biass", keys), " (did you mean 'bias'?)");
  EXPECT_EQ(did_you_mean_clause("weight", keys), "");
  EXPECT_EQ(did_you_mean_sentence_end("biass", keys), "; did you mean 'bias'?");
  EXPECT_EQ(did_you_mean_sentence_end("weight", keys), ".");
  EXPECT_EQ(did_you_mean_clause("x", {}), "");
  EXPECT_EQ(did_you_mean_sentence_end("x", {}), ".");
}

}  // namespace
}  // namespace eqnn
