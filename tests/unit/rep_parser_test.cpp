// The representation language ("4x regular + 2x trivial", "permutation(vertices)"): sizes, and errors
// located at the column of the mistake with what would work.
#include <gtest/gtest.h>

#include <string>

#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

using eqnn::testing::group;

TEST(RepStrings, ParseSizesAndErrorsPointAtTheColumn) {
  auto g = group("D4");
  EXPECT_EQ(eqnn::parse_rep(g, "4x regular + 2x trivial + irrep(4)")->size(), 4 * 8 + 2 + 2);
  EXPECT_EQ(eqnn::parse_rep(g, " permutation( vertices ) ")->size(), 4);
  EXPECT_EQ(eqnn::parse_rep(g, "standard")->size(), 2);
  auto expect_error = [&](const std::string& text, int column, const std::string& needle) {
    try {
      eqnn::parse_rep(g, text);
      ADD_FAILURE() << "no error for " << text;
    } catch (const eqnn::ConfigError& e) {
      EXPECT_EQ(e.column(), column) << text << ": " << e.what();
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.message();
    }
  };
  expect_error("4x regulr", 4, "did you mean 'regular'");
  expect_error("regular +", 10, "expected a representation name");
  expect_error("4 regular", 3, "expected 'x'");
  expect_error("irrep(9)", 7, "irrep(9) does not exist: D4 has irreps 0..4");
  expect_error("permutation(vertics)", 13, "did you mean 'vertices'");
  expect_error("regular trivial", 9, "expected '+' or the end");
  expect_error("irrep(x)", 7, "takes an irrep index");
  expect_error("0x regular", 1, "at least 1");
  // A group given by permutations has no standard (matrix) representation.
  auto s3 = group("S3");
  try {
    eqnn::parse_rep(s3, "trivial + standard");
    ADD_FAILURE();
  } catch (const eqnn::ConfigError& e) {
    EXPECT_EQ(e.column(), 11);
    EXPECT_NE(e.message().find("has no standard representation"), std::string::npos) << e.message();
  }
}
