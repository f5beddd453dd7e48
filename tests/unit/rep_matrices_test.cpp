// Representations given by matrices on the generators (check_generator_matrices, from_generator_matrices)
// and the isotypic basis (isotypic_basis): oracles are rep strings built another way (permutation actions,
// the group's standard rep) and character theory computed here from the representations' own traces.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "eqnn/group_theory/generator_matrices.hpp"
#include "eqnn/group_theory/isotypic.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

using eqnn::Matrix;
using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::generator_matrices;
using eqnn::testing::group;

namespace {

double max_diff(const Matrix& a, const Matrix& b) { return (a - b).cwiseAbs().maxCoeff(); }

// m_k = ⟨χ, χ_k⟩ / ⟨χ_k, χ_k⟩ from traces (⟨χ_k, χ_k⟩ = dim End = 1, 2 or 4 for a real irrep).
std::vector<int> character_multiplicities(const Representation& rep) {
  const auto& G = rep.group();
  std::vector<int> m;
  for (const auto& ir : G.irreps()) {
    double a = 0, b = 0;
    for (int g = 0; g < G.order(); ++g) {
      a += rep.matrix(g).trace() * ir.matrices[g].trace();
      b += ir.matrices[g].trace() * ir.matrices[g].trace();
    }
    m.push_back(static_cast<int>(std::lround(a / b)));
  }
  return m;
}

std::string problem_of(const eqnn::GroupPtr& g, const std::vector<Matrix>& ms, int* generator) {
  auto p = eqnn::check_generator_matrices(*g, ms);
  if (!p) return "";
  *generator = p->generator;
  return p->message;
}

}  // namespace

TEST(RepFromMatrices, EqualsTheRepStringWithTheSameMatrices) {
  for (const char* spec : {"D4", "Ico", "C5"}) {
    auto g = group(spec);
    std::vector<std::string> texts = {"regular"};
    for (const auto& a : g->actions()) texts.push_back("permutation(" + a.name + ")");
    if (g->standard()) texts.push_back("standard");
    for (const auto& text : texts) {
      RepPtr ref = eqnn::parse_rep(g, text);
      // In a random basis too, so no permutation fast path can hide a mistake.
      for (RepPtr base : {ref, eqnn::testing::random_basis(ref, 3)}) {
        RepPtr r = Representation::from_generator_matrices(g, generator_matrices(base));
        double err = 0;
        for (int e = 0; e < g->order(); ++e) err = std::max(err, max_diff(r->matrix(e), base->matrix(e)));
        EXPECT_LT(err, 1e-10) << spec << " " << text;
        EXPECT_EQ(r->multiplicities(), character_multiplicities(*base)) << spec << " " << text;
      }
    }
  }
}

TEST(RepFromMatrices, RefusesNonHomomorphismsNamingTheMatrix) {
  auto g = group("D4");
  ASSERT_EQ(g->generators().size(), 2u);
  const auto std2 = *g->standard();
  int gen = -2;
  EXPECT_EQ(problem_of(g, std2, &gen), "");
  // Swapped generators of a non-abelian group: the relations fail.
  std::string msg = problem_of(g, {std2[1], std2[0]}, &gen);
  EXPECT_NE(msg.find("are not a representation of D4: the relation g"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tolerance"), std::string::npos) << msg;
  EXPECT_GE(gen, 0);
  // Not orthogonal.
  msg = problem_of(g, {std2[0], 2.0 * std2[1]}, &gen);
  EXPECT_NE(msg.find("matrix 1 (generator g1) is not orthogonal: max |MᵀM − I| = 3"), std::string::npos)
      << msg;
  EXPECT_EQ(gen, 1);
  // Wrong count.
  msg = problem_of(g, {std2[0]}, &gen);
  EXPECT_NE(msg.find("1 matrices given, but D4 has 2 generators (g0 = element"), std::string::npos) << msg;
  EXPECT_EQ(gen, -1);
  // Wrong size.
  msg = problem_of(g, {std2[0], Matrix::Identity(3, 3)}, &gen);
  EXPECT_NE(msg.find("matrix 1 (generator g1) is 3x3; every matrix must be square, of one size (2x2"),
            std::string::npos)
      << msg;
  EXPECT_EQ(gen, 1);
  msg = problem_of(g, {std2[0], Matrix::Identity(2, 3)}, &gen);
  EXPECT_NE(msg.find("is 2x3"), std::string::npos) << msg;
  // Not finite.
  Matrix nan = std2[1];
  nan(0, 0) = std::nan("");
  msg = problem_of(g, {std2[0], nan}, &gen);
  EXPECT_NE(msg.find("matrix 1 (generator g1) has a non-finite entry"), std::string::npos) << msg;
  // A rotation by 60° for the rotation by 90° keeps s r s = r⁻¹ but breaks r⁴ = e.
  Matrix r6(2, 2);
  r6 << 0.5, -std::sqrt(3.0) / 2, std::sqrt(3.0) / 2, 0.5;
  msg = problem_of(g, {r6, std2[1]}, &gen);
  EXPECT_NE(msg.find("are not a representation"), std::string::npos) << msg;
  // Both generators to the same reflection is a representation (D4 → C2), so it is accepted.
  EXPECT_EQ(problem_of(g, {std2[1], std2[1]}, &gen), "");
  // from_generator_matrices throws the same message as a GroupError.
  try {
    Representation::from_generator_matrices(g, {std2[1], std2[0]});
    ADD_FAILURE() << "no error";
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("matrices: the matrices are not a representation of D4"),
              std::string::npos)
        << e.what();
  }
}

TEST(IsotypicBasis, OrderSlicesAndCharacterProjectors) {
  for (const char* spec : {"C8", "D4", "Ico"}) {
    auto g = group(spec);
    const auto& irr = g->irreps();
    for (RepPtr rep : {eqnn::parse_rep(g, "regular"),
                       eqnn::testing::random_basis(eqnn::parse_rep(g, "regular + 2x trivial"), 5)}) {
      auto b = eqnn::isotypic_basis(rep);
      const auto m = character_multiplicities(*rep);
      // Every irrep present exactly once; trivial first; then ascending m·d, ties by ascending index.
      int present = 0;
      for (size_t k = 0; k < m.size(); ++k) present += m[k] > 0;
      ASSERT_EQ(static_cast<int>(b.slices.size()), present) << spec;
      EXPECT_EQ(b.slices[0].irrep, 0);
      int at = 0;
      for (size_t i = 0; i < b.slices.size(); ++i) {
        const auto& s = b.slices[i];
        EXPECT_EQ(s.start, at);
        EXPECT_EQ(s.stop - s.start, m[s.irrep] * irr[s.irrep].dim) << spec << " irrep " << s.irrep;
        at = s.stop;
        if (i >= 2) {
          const auto& p = b.slices[i - 1];
          const int sp = p.stop - p.start, ss = s.stop - s.start;
          EXPECT_TRUE(sp < ss || (sp == ss && p.irrep < s.irrep)) << spec << " slices " << i - 1 << ", " << i;
        }
      }
      EXPECT_EQ(at, rep->size());
      // Q_iso orthogonal, ρ̂ = Q_isoᵀ ρ Q_iso block-diagonal, the -Iso rep equals ρ.
      const int D = rep->size();
      EXPECT_LT(max_diff(b.Q_iso.transpose() * b.Q_iso, Matrix::Identity(D, D)), 1e-10);
      double err = 0;
      for (int e = 0; e < g->order(); ++e) {
        const Matrix rho = rep->matrix(e);
        err = std::max(err, max_diff(b.Q_iso.transpose() * rho * b.Q_iso, b.spectral_rep->matrix(e)));
        err = std::max(err, max_diff(b.iso_rep->matrix(e), rho));
        const Matrix hat = b.spectral_rep->matrix(e);
        for (const auto& s : b.slices)  // ρ̂(g) has no entries between different components
          if (s.start > 0)
            err = std::max(err, hat.block(s.start, 0, s.stop - s.start, s.start).cwiseAbs().maxCoeff());
      }
      EXPECT_LT(err, 1e-10) << spec;
      // The projector onto each component equals the character projector d_k/(S_k|G|) Σ χ_k(g) ρ(g).
      for (const auto& s : b.slices) {
        Matrix P = Matrix::Zero(D, D);
        for (int e = 0; e < g->order(); ++e) P += irr[s.irrep].matrices[e].trace() * rep->matrix(e);
        P *= static_cast<double>(irr[s.irrep].dim) / (irr[s.irrep].S() * g->order());
        const Matrix B = b.Q_iso.middleCols(s.start, s.stop - s.start);
        EXPECT_LT(max_diff(B * B.transpose(), P), 1e-10) << spec << " irrep " << s.irrep;
      }
    }
  }
}

TEST(IsotypicBasis, CyclicRegularOrderMatchesSymmLearning) {
  // C8 regular: trivial, then the other 1-d irrep (the sign), then the three 2-d rotations by index.
  auto g = group("C8");
  auto b = eqnn::isotypic_basis(eqnn::parse_rep(g, "regular"));
  std::vector<int> sizes;
  for (const auto& s : b.slices) sizes.push_back(s.stop - s.start);
  EXPECT_EQ(sizes, (std::vector<int>{1, 1, 2, 2, 2}));
  for (size_t i = 2; i < b.slices.size(); ++i) EXPECT_LT(b.slices[i - 1].irrep, b.slices[i].irrep);
}

TEST(RepTensor, FiniteGroupsTensorIsTheKroneckerProductOnEveryElement) {
  // Every element of each group, against kron of the factors' matrices; multiplicities from characters.
  for (const char* spec : {"D4", "C5", "A4", "D3xC2"}) {
    auto g = group(spec);
    for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
             {"regular", "irrep(1)"}, {"irrep(1) + trivial", "irrep(1)"}, {"standard", "standard"}}) {
      if (a.find("standard") != std::string::npos && !g->standard()) continue;
      const RepPtr ra = eqnn::parse_rep(g, a), rb = eqnn::parse_rep(g, b);
      const RepPtr t = eqnn::parse_rep(g, "tensor(" + a + ", " + b + ")");
      ASSERT_EQ(t->size(), ra->size() * rb->size());
      double err = 0;
      for (int x = 0; x < g->order(); ++x) {
        const Matrix ma = ra->matrix(x), mb = rb->matrix(x);
        Matrix k(t->size(), t->size());
        for (int i = 0; i < ma.rows(); ++i)
          for (int j = 0; j < ma.cols(); ++j)
            k.block(i * mb.rows(), j * mb.cols(), mb.rows(), mb.cols()) = ma(i, j) * mb;
        err = std::max(err, max_diff(t->matrix(x), k));
      }
      EXPECT_LT(err, 1e-12) << spec << ": " << a << " ⊗ " << b;
      EXPECT_EQ(t->multiplicities(), character_multiplicities(*t)) << spec;
    }
  }
}
