// Groups and irreps against textbook tables; characters, completeness and real classes.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

using eqnn::Group;
using eqnn::Matrix;
using eqnn::testing::group;

namespace {

struct Textbook {
  std::string spec;
  int order;
  // (dim, type letter) of every real irrep, sorted.
  std::vector<std::pair<int, char>> irreps;
};
void PrintTo(const Textbook& t, std::ostream* os) { *os << t.spec << " (order " << t.order << ")"; }

std::vector<std::pair<int, char>> rep(std::initializer_list<std::pair<int, char>> l) { return l; }

const std::vector<Textbook>& textbook() {
  static const std::vector<Textbook> t = {
      {"C1", 1, rep({{1, 'R'}})},
      {"C2", 2, rep({{1, 'R'}, {1, 'R'}})},
      {"C5", 5, rep({{1, 'R'}, {2, 'C'}, {2, 'C'}})},
      {"C8", 8, rep({{1, 'R'}, {1, 'R'}, {2, 'C'}, {2, 'C'}, {2, 'C'}})},
      {"D1", 2, rep({{1, 'R'}, {1, 'R'}})},
      {"D2", 4, rep({{1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}})},
      {"D3", 6, rep({{1, 'R'}, {1, 'R'}, {2, 'R'}})},
      {"D4", 8, rep({{1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}, {2, 'R'}})},
      {"D5", 10, rep({{1, 'R'}, {1, 'R'}, {2, 'R'}, {2, 'R'}})},
      {"D6", 12, rep({{1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}, {2, 'R'}, {2, 'R'}})},
      {"S3", 6, rep({{1, 'R'}, {1, 'R'}, {2, 'R'}})},
      {"S4", 24, rep({{1, 'R'}, {1, 'R'}, {2, 'R'}, {3, 'R'}, {3, 'R'}})},
      {"S5", 120, rep({{1, 'R'}, {1, 'R'}, {4, 'R'}, {4, 'R'}, {5, 'R'}, {5, 'R'}, {6, 'R'}})},
      {"A4", 12, rep({{1, 'R'}, {2, 'C'}, {3, 'R'}})},
      {"A5", 60, rep({{1, 'R'}, {3, 'R'}, {3, 'R'}, {4, 'R'}, {5, 'R'}})},
      {"Ico", 60, rep({{1, 'R'}, {3, 'R'}, {3, 'R'}, {4, 'R'}, {5, 'R'}})},
      {"Octa", 24, rep({{1, 'R'}, {1, 'R'}, {2, 'R'}, {3, 'R'}, {3, 'R'}})},
      {"C2xD4", 16,
       rep({{1, 'R'},
            {1, 'R'},
            {1, 'R'},
            {1, 'R'},
            {1, 'R'},
            {1, 'R'},
            {1, 'R'},
            {1, 'R'},
            {2, 'R'},
            {2, 'R'}})},
      {"C3xC3", 9, rep({{1, 'R'}, {2, 'C'}, {2, 'C'}, {2, 'C'}, {2, 'C'}})},
      // The quaternion group by generators: left multiplication by i and j on H = R^4.
      {eqnn::testing::kQ8, 8, rep({{1, 'R'}, {1, 'R'}, {1, 'R'}, {1, 'R'}, {4, 'H'}})},
  };
  return t;
}

class TextbookGroups : public ::testing::TestWithParam<Textbook> {};

}  // namespace

TEST_P(TextbookGroups, IrrepsMatchTheTable) {
  const auto& tb = GetParam();
  auto g = group(tb.spec);
  ASSERT_EQ(g->order(), tb.order);
  const auto& irr = g->irreps();
  std::vector<std::pair<int, char>> got;
  for (const auto& ir : irr) got.emplace_back(ir.dim, eqnn::type_letter(ir.type));
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, tb.irreps);
  // Irrep 0 is trivial.
  ASSERT_FALSE(irr.empty());
  EXPECT_EQ(irr[0].dim, 1);
  for (int e = 0; e < g->order(); ++e) EXPECT_NEAR(irr[0].matrices[e](0, 0), 1.0, 1e-12);
  // The number of real irreps equals the number of real conjugacy classes.
  EXPECT_EQ(static_cast<int>(irr.size()), g->num_real_classes());
}

TEST_P(TextbookGroups, IrrepsAreOrthogonalHomomorphismsWithOrthogonalCharacters) {
  auto g = group(GetParam().spec);
  const auto& irr = g->irreps();
  double completeness = 0;
  for (const auto& a : irr) {
    completeness += double(a.dim) * a.dim / a.S();
    for (int x = 0; x < g->order(); ++x) {
      EXPECT_LT((a.matrices[x] * a.matrices[x].transpose() - Matrix::Identity(a.dim, a.dim)).norm(), 1e-10);
      for (int y = 0; y < g->order(); ++y)
        ASSERT_LT((a.matrices[x] * a.matrices[y] - a.matrices[g->mul(x, y)]).norm(), 1e-10)
            << a.name << " at " << x << "," << y;
    }
    for (const auto& b : irr) {
      double ip = 0;
      for (int x = 0; x < g->order(); ++x) ip += a.matrices[x].trace() * b.matrices[x].trace();
      ip /= g->order();
      EXPECT_NEAR(ip, a.index == b.index ? a.S() : 0.0, 1e-9) << a.name << " vs " << b.name;
    }
    // End_G(ψ): S Frobenius-orthogonal matrices, each commuting with every ψ(g).
    ASSERT_EQ(static_cast<int>(a.endomorphism_basis.size()), a.S());
    for (size_t s = 0; s < a.endomorphism_basis.size(); ++s) {
      const Matrix& E = a.endomorphism_basis[s];
      for (int x = 0; x < g->order(); ++x) EXPECT_LT((a.matrices[x] * E - E * a.matrices[x]).norm(), 1e-9);
      for (size_t t = 0; t < s; ++t) EXPECT_NEAR(E.cwiseProduct(a.endomorphism_basis[t]).sum(), 0.0, 1e-9);
    }
  }
  EXPECT_NEAR(completeness, g->order(), 1e-9);
}

TEST_P(TextbookGroups, RegularRepresentationDecomposes) {
  auto g = group(GetParam().spec);
  auto reg = eqnn::Representation::regular(g);
  ASSERT_TRUE(reg->is_permutation());
  const auto& irr = g->irreps();
  const Matrix& Q = reg->Q();
  EXPECT_LT((Q.transpose() * Q - Matrix::Identity(g->order(), g->order())).norm(), 1e-10);
  for (int x = 0; x < g->order(); ++x) {
    Matrix block = Matrix::Zero(g->order(), g->order());
    int off = 0;
    for (int k : reg->irreps()) {
      block.block(off, off, irr[k].dim, irr[k].dim) = irr[k].matrices[x];
      off += irr[k].dim;
    }
    Matrix perm = Matrix::Zero(g->order(), g->order());
    for (int h = 0; h < g->order(); ++h) perm(g->mul(x, h), h) = 1;
    EXPECT_LT((Q * block * Q.transpose() - perm).cwiseAbs().maxCoeff(), 1e-10);
  }
  // Multiplicity of each irrep in the regular rep is d/S.
  auto m = reg->multiplicities();
  for (const auto& ir : irr) EXPECT_EQ(m[ir.index], ir.dim / ir.S());
}

INSTANTIATE_TEST_SUITE_P(Textbook, TextbookGroups, ::testing::ValuesIn(textbook()), [](const auto& info) {
  std::string s = info.param.spec.rfind("{", 0) == 0 ? "Q8" : info.param.spec;
  return s;
});

TEST(GroupErrors, SetThatDoesNotClose) {
  // Rotation by an irrational multiple of π never closes.
  Matrix r(2, 2);
  r << std::cos(1.0), -std::sin(1.0), std::sin(1.0), std::cos(1.0);
  try {
    Group::from_generator_matrices("bad", {r}, 100);
    FAIL();
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 100 elements"), std::string::npos) << e.what();
  }
}

TEST(GroupErrors, NonOrthogonalAndSingularMatrices) {
  Matrix a(2, 2);
  a << 2, 0, 0, 1;
  EXPECT_THROW(
      {
        try {
          Group::from_generator_matrices("bad", {a});
        } catch (const eqnn::GroupError& e) {
          EXPECT_NE(std::string(e.what()).find("not orthogonal"), std::string::npos) << e.what();
          throw;
        }
      },
      eqnn::GroupError);
  Matrix z = Matrix::Zero(2, 2);
  try {
    Group::from_generator_matrices("bad", {z});
    FAIL();
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("not invertible"), std::string::npos) << e.what();
  }
}

TEST(GroupErrors, TablesThatAreNotGroups) {
  auto expect_msg = [](std::vector<std::vector<int>> t, const std::string& needle) {
    try {
      Group::from_cayley_table("t", t);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const eqnn::GroupError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_msg({{0, 1}, {1, 1}}, "not a Latin square");
  expect_msg({{1, 0}, {0, 1}}, "element 0 is not the identity");
  expect_msg({{0, 1, 2}, {1, 2}, {2, 0, 1}}, "row 1 has 2 entries");
  expect_msg({{0, 1, 2}, {1, 0, 5}, {2, 1, 0}}, "is not an element index");
  // A Latin square with identity that is not associative (order 5 loop).
  expect_msg({{0, 1, 2, 3, 4}, {1, 0, 3, 4, 2}, {2, 4, 0, 1, 3}, {3, 2, 4, 0, 1}, {4, 3, 1, 2, 0}},
             "not associative");
}

TEST(GroupErrors, BadPermutations) {
  try {
    Group::from_generator_permutations("bad", {{0, 0, 1}});
    FAIL();
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("is not a permutation of 0..2"), std::string::npos) << e.what();
  }
}

TEST(GroupErrors, SuppliedIrrepsAreChecked) {
  auto g = Group::from_generator_permutations("C2", {{1, 0}});
  Matrix one = Matrix::Identity(1, 1), minus = -Matrix::Identity(1, 1);
  g->set_irreps({{one}});  // missing the sign irrep
  try {
    g->irreps();
    FAIL();
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("incomplete"), std::string::npos) << e.what();
  }
  auto g2 = Group::from_generator_permutations("C2", {{1, 0}});
  g2->set_irreps({{one}, {one}});
  try {
    g2->irreps();
    FAIL();
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("isomorphic"), std::string::npos) << e.what();
  }
  auto g3 = Group::from_generator_permutations("C2", {{1, 0}});
  g3->set_irreps({{one}, {minus}});
  EXPECT_EQ(g3->irreps().size(), 2u);
}
