// irrep_copies / group_by_dimension: the copies every per-copy layer uses. Oracles: textbook multiplicities
// (a real irrep of real type appears d times in the regular representation, so D4's regular rep has
// 4·1 + 2 = 6 copies and C8's 2 + 3 = 5), and the columns of Q: copy c of irrep k spans the columns that
// Q's block c occupies, so Qᵀ ρ(g) Q restricted to them is irrep k's matrix for every element.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "support.hpp"

using eqnn::testing::group;

namespace {

struct Case {
  std::string group, rep;
  int64_t copies, trivial;
};

class IrrepCopiesOf : public ::testing::TestWithParam<Case> {};

TEST_P(IrrepCopiesOf, CountsColumnsAndBlocksAgreeWithTheDecomposition) {
  const Case& c = GetParam();
  const auto rep = eqnn::parse_rep(group(c.group), c.rep);
  const eqnn::IrrepCopies copies = eqnn::irrep_copies(*rep);
  EXPECT_EQ(copies.count(), c.copies);
  EXPECT_EQ(static_cast<int64_t>(copies.trivial_columns.size()), c.trivial);
  ASSERT_EQ(static_cast<int64_t>(copies.copy_of_column.size()), rep->size());
  const auto& G = rep->group();
  const eqnn::Matrix& Q = rep->Q();
  for (int64_t k = 0; k < copies.count(); ++k) {
    const auto i = static_cast<size_t>(k);
    EXPECT_EQ(copies.irrep[i], rep->irreps()[i]);
    EXPECT_EQ(copies.dim[i], G.irreps()[static_cast<size_t>(copies.irrep[i])].dim);
    for (int64_t j = 0; j < copies.dim[i]; ++j)
      EXPECT_EQ(copies.copy_of_column[static_cast<size_t>(copies.start[i] + j)], k);
    // Block k of Qᵀ ρ(g) Q is irrep k's matrix on every element.
    const auto block = Q.middleCols(copies.start[i], copies.dim[i]);
    for (int g = 0; g < G.order(); ++g) {
      const eqnn::Matrix restricted = block.transpose() * rep->matrix(g) * block;
      const eqnn::Matrix& expected = G.irreps()[static_cast<size_t>(copies.irrep[i])].matrices[g];
      EXPECT_LT((restricted - expected).cwiseAbs().maxCoeff(), 1e-10)
          << c.group << " copy " << k << " g " << g;
    }
  }
  for (int64_t column : copies.trivial_columns)
    EXPECT_EQ(copies.irrep[static_cast<size_t>(copies.copy_of_column[static_cast<size_t>(column)])], 0);
}

TEST_P(IrrepCopiesOf, GroupingByDimensionPartitionsTheColumns) {
  const Case& c = GetParam();
  const auto rep = eqnn::parse_rep(group(c.group), c.rep);
  const eqnn::IrrepCopies copies = eqnn::irrep_copies(*rep);
  const eqnn::CopiesByDimension grouped = eqnn::group_by_dimension(copies);
  EXPECT_TRUE(std::is_sorted(grouped.dims.begin(), grouped.dims.end()));
  std::vector<int64_t> all;
  for (const auto& columns : grouped.columns) all.insert(all.end(), columns.begin(), columns.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(static_cast<size_t>(rep->size()));
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(all, expected);
  // position is a permutation; copy c's columns are the block at its position within its dimension's list.
  std::vector<int64_t> positions = grouped.position;
  std::sort(positions.begin(), positions.end());
  std::vector<int64_t> ids(static_cast<size_t>(copies.count()));
  std::iota(ids.begin(), ids.end(), 0);
  EXPECT_EQ(positions, ids);
  int64_t before = 0;  // copies in the dimensions before this one
  for (size_t d = 0; d < grouped.dims.size(); ++d) {
    const int64_t dim = grouped.dims[d];
    for (int64_t k = 0; k < copies.count(); ++k) {
      const auto i = static_cast<size_t>(k);
      if (copies.dim[i] != dim) continue;
      const int64_t slot = grouped.position[i] - before;
      for (int64_t j = 0; j < dim; ++j)
        EXPECT_EQ(grouped.columns[d][static_cast<size_t>(slot * dim + j)], copies.start[i] + j);
    }
    before += static_cast<int64_t>(grouped.columns[d].size()) / dim;
  }
}

INSTANTIATE_TEST_SUITE_P(Reps, IrrepCopiesOf,
                         ::testing::Values(Case{"D4", "regular", 6, 1}, Case{"C8", "regular", 5, 1},
                                           Case{"D4", "regular + trivial", 7, 2},
                                           Case{"Ico", "regular", 1 + 3 + 3 + 4 + 5, 1},
                                           Case{"C4", "2x irrep(1) + 3x trivial", 5, 3}),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

}  // namespace
