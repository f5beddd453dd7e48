// Irreps without failures: closed forms (cyclic, dihedral, Young's orthogonal form, restrictions to
// A_n, tensor products) against character theory; decompositions of big regular stacks rebuilt on every
// element; laziness of permutation representations; order limits; supplied irreps checked completely;
// group-theory caches keyed by full content.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/irreps.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/error.hpp"
#include "scoped_env.hpp"
#include "support.hpp"

using eqnn::Group;
using eqnn::GroupPtr;
using eqnn::Matrix;
using eqnn::Permutation;
using eqnn::Representation;
using eqnn::testing::error_text;
using eqnn::testing::group;
using eqnn::testing::ScopedEnv;

namespace {

// Character-theory facts computed from the irreps' own matrices: ⟨χ_a, χ_b⟩ = S_a δ_ab with S_a from
// the type, Σ d²/S = |G|, one irrep per real class (counted from the Cayley table).
void expect_character_theory(const GroupPtr& g) {
  const auto& irr = g->irreps();
  const int n = g->order();
  ASSERT_EQ(static_cast<int>(irr.size()), g->num_real_classes()) << g->name();
  const int r = static_cast<int>(irr.size());
  Matrix chi(r, n);  // traces of the matrices, not the stored characters
  double completeness = 0;
  for (const auto& a : irr) {
    completeness += double(a.dim) * a.dim / a.S();
    for (int e = 0; e < n; ++e) chi(a.index, e) = a.matrices[e].trace();
  }
  const Matrix gram = chi * chi.transpose() / double(n);
  for (int a = 0; a < r; ++a)
    for (int b = 0; b < r; ++b)
      EXPECT_NEAR(gram(a, b), a == b ? irr[a].S() : 0.0, 1e-9) << g->name() << " " << a << " " << b;
  EXPECT_NEAR(completeness, n, 1e-9) << g->name();
}

// ρ(g) Q = Q (⊕ψ(g)) on every element, using the permutation structure (no dense ρ(g)), and QᵀQ = I.
void expect_decomposition_rebuilds(const eqnn::RepPtr& rep) {
  const auto& G = rep->group();
  const auto& irr = G.irreps();
  const Matrix& Q = rep->Q();
  const int D = rep->size();
  EXPECT_LT((Q.transpose() * Q - Matrix::Identity(D, D)).cwiseAbs().maxCoeff(), 1e-10);
  double err = 0;
  for (int x = 0; x < G.order(); ++x) {
    const Permutation p = rep->permutation(x);
    int o = 0;
    for (int k : rep->irreps()) {
      const int d = irr[k].dim;
      const Matrix QP = Q.middleCols(o, d) * irr[k].matrices[x];
      for (int i = 0; i < D; ++i)
        err = std::max(err, (Q.block(i, o, 1, d) - QP.row(p[i])).cwiseAbs().maxCoeff());
      o += d;
    }
    ASSERT_EQ(o, D);
  }
  EXPECT_LT(err, 1e-10) << rep->describe() << " of " << G.name();
}

}  // namespace

TEST(ClosedFormIrreps, CyclicAndDihedralSweep) {
  for (int n = 1; n <= 200; ++n)
    for (const char* family : {"C", "D"}) {
      auto g = group(family + std::to_string(n));
      ASSERT_TRUE(g->has_supplied_irreps());
      expect_character_theory(g);
      // Type C exactly for the 2-dimensional irreps of C_n; dihedral irreps are all real.
      for (const auto& ir : g->irreps())
        EXPECT_EQ(ir.type, family[0] == 'C' && ir.dim == 2 ? eqnn::IrrepType::C : eqnn::IrrepType::R)
            << g->name();
      if (HasFailure()) return;
    }
}

TEST(ClosedFormIrreps, SymmetricAndAlternatingHaveTextbookDimensions) {
  auto dims = [](const GroupPtr& g) {
    std::vector<int> d;
    for (const auto& ir : g->irreps()) {
      EXPECT_EQ(ir.type, eqnn::IrrepType::R) << g->name();
      d.push_back(ir.dim);
    }
    std::sort(d.begin(), d.end());
    return d;
  };
  auto s6 = group("S6");
  EXPECT_EQ(dims(s6), (std::vector<int>{1, 1, 5, 5, 5, 5, 9, 9, 10, 10, 16}));
  expect_character_theory(s6);
  auto a6 = group("A6");
  EXPECT_EQ(dims(a6), (std::vector<int>{1, 5, 5, 8, 8, 9, 10}));
  expect_character_theory(a6);
  for (const char* spec : {"S1", "S2", "S3", "A1", "A2", "A3", "A4", "A5"})
    expect_character_theory(group(spec));
  // A3 ≅ C3 and A4: the restriction of the self-conjugate partition stays irreducible, of type C.
  EXPECT_EQ(group("A3")->irreps()[1].type, eqnn::IrrepType::C);
}

TEST(ClosedFormIrreps, ProductsSplitTensorProducts) {
  // C⊗C splits into two type-C irreps; H⊗H into four copies of one type-R irrep.
  auto c4c4 = group("C4xC4");
  expect_character_theory(c4c4);
  auto q8q8 = group(std::string("{type: DirectProduct, factors: [") + eqnn::testing::kQ8 + ", " +
                    eqnn::testing::kQ8 + "]}");
  EXPECT_EQ(q8q8->order(), 64);
  expect_character_theory(q8q8);
  int dim16 = 0;
  for (const auto& ir : q8q8->irreps()) dim16 += ir.dim == 16;
  EXPECT_EQ(dim16, 0);  // 4⊗4 of type H⊗H is 4 copies of a 4-dimensional type-R irrep
}

TEST(ComputedIrreps, GroupsGivenOnlyByGeneratorsThatUsedToFail) {
  // C128 and D48 as permutation groups (no closed form): the character-table path.
  Permutation r128(128), r48(48), f48(48);
  for (int i = 0; i < 128; ++i) r128[i] = (i + 1) % 128;
  for (int i = 0; i < 48; ++i) {
    r48[i] = (i + 1) % 48;
    f48[i] = (48 - i) % 48;
  }
  for (const auto& g : {Group::from_generator_permutations("C128 by a cycle", {r128}),
                        Group::from_generator_permutations("D48 by permutations", {r48, f48})}) {
    ASSERT_FALSE(g->has_supplied_irreps());
    expect_character_theory(g);
    expect_decomposition_rebuilds(eqnn::parse_rep(g, "2x regular"));
  }
}

TEST(Decompositions, TwoRegularCopiesRebuildEveryElement) {
  for (const char* spec : {"C128", "D48"}) {
    auto g = group(spec);
    expect_decomposition_rebuilds(eqnn::parse_rep(g, "2x regular"));
    auto m = eqnn::parse_rep(g, "2x regular")->multiplicities();
    for (const auto& ir : g->irreps()) EXPECT_EQ(m[ir.index], 2 * ir.dim / ir.S()) << spec;
  }
  expect_decomposition_rebuilds(eqnn::parse_rep(group("S5"), "regular + permutation(points)"));
}

TEST(Decompositions, DenseMatricesAndTheirOwnBasis) {
  // A representation given by matrices (a random basis of 2x vertices of D6) decomposes and rebuilds.
  auto g = group("D6");
  auto perm = eqnn::parse_rep(g, "2x permutation(vertices)");
  const Matrix B = eqnn::testing::random_orthogonal(perm->size(), 7);
  std::vector<Matrix> gens;
  for (int s : g->generators()) gens.push_back(B * perm->matrix(s) * B.transpose());
  auto rep = Representation::from_generator_matrices(g, gens, "dense");
  const auto& irr = g->irreps();
  for (int x = 0; x < g->order(); ++x) {
    Matrix block = Matrix::Zero(rep->size(), rep->size());
    int o = 0;
    for (int k : rep->irreps()) {
      block.block(o, o, irr[k].dim, irr[k].dim) = irr[k].matrices[x];
      o += irr[k].dim;
    }
    EXPECT_LT(
        (rep->Q() * block * rep->Q().transpose() - B * perm->matrix(x) * B.transpose()).cwiseAbs().maxCoeff(),
        1e-10);
  }
}

TEST(Laziness, OrbitPathNeverDecomposes) {
  auto g = group("D48");
  auto in = eqnn::parse_rep(g, "regular"), out = eqnn::parse_rep(g, "2x regular");
  auto hom = eqnn::HomSpace::get(in, out);
  EXPECT_EQ(hom->method(), eqnn::HomSpace::Method::orbit);
  EXPECT_EQ(hom->dim(), 2 * 96);
  EXPECT_EQ(in->character(0), 96);  // characters of permutation structures need no irreps
  EXPECT_FALSE(in->is_decomposed());
  EXPECT_FALSE(out->is_decomposed());
  EXPECT_FALSE(g->irreps_ready());
  // A consumer that needs the irreps decomposes on first use.
  EXPECT_EQ(out->multiplicities()[0], 2);
  EXPECT_TRUE(out->is_decomposed());
  EXPECT_TRUE(g->irreps_ready());
}

TEST(OrderLimit, RefusedBeforeAllocationWithTheOrderAndTheLimit) {
  auto text = error_text([] { group("C100xC100xC100"); });
  EXPECT_HAS(text, "C100xC100xC100 would have order 100·100·100 = 1000000, more than the limit 5000");
  EXPECT_HAS(text, "EQNN_MAX_GROUP_ORDER");
  // Parameters that do not fit an int are refused as such, before any group is built.
  EXPECT_HAS(error_text([] { group("{type: CyclicGroup, n: 4294967297}"); }),
             "'n' must be an integer between 1 and 2147483647, found 4294967297 (too large)");
  EXPECT_HAS(error_text([] { group("C4294967297"); }), "found 4294967297 (too large)");
  EXPECT_HAS(error_text([] { group("{type: DihedralGroup, n: 9223372036854775807}"); }),
             "found 9223372036854775807 (too large)");
  EXPECT_HAS(error_text([] { group("{type: CyclicGroup, n: 5001}"); }),
             "CyclicGroup(n: 5001) would have order 5001, more than the limit 5000");
  EXPECT_HAS(error_text([] { group("{type: DihedralGroup, n: 2501}"); }), "would have order 2·2501");
  EXPECT_HAS(error_text([] { group("S7"); }),
             "SymmetricGroup(n: 7) would have order 7! = 5040, more than the limit");
  EXPECT_HAS(error_text([] { group("S40"); }), "would have order 40! > 10^30");
  EXPECT_HAS(error_text([] {
               group("{type: FiniteGroup, generators: [[1, 0, 2, 3, 4, 5, 6, 7], [1, 2, 3, 4, 5, 6, 7, 0]]}");
             }),
             "generate a group of more than 5000 elements, the limit on group orders");
  {
    ScopedEnv limit("EQNN_MAX_GROUP_ORDER", "10");
    EXPECT_HAS(error_text([] { group("C11"); }), "more than the limit 10");
    EXPECT_HAS(error_text([] { group("C2xC3xC2"); }),
               "C2xC3xC2 would have order 2·3·2 = 12, more than the limit 10");
    std::vector<std::vector<int>> table(11, std::vector<int>(11));
    for (int a = 0; a < 11; ++a)
      for (int b = 0; b < 11; ++b) table[a][b] = (a + b) % 11;
    EXPECT_HAS(error_text([&] { Group::from_cayley_table("T11", table); }),
               "the group T11 given by its Cayley table would have order 11, more than the limit 10");
    EXPECT_EQ(group("C10")->order(), 10);
  }
  {
    ScopedEnv limit("EQNN_MAX_GROUP_ORDER", "lots");
    EXPECT_HAS(error_text([] { group("C3"); }), "EQNN_MAX_GROUP_ORDER='lots' is not a group-order limit");
  }
  {
    ScopedEnv limit("EQNN_MAX_GROUP_ORDER", "24");
    EXPECT_EQ(group("S4")->order(), 24);
    EXPECT_HAS(error_text([] { group("S5"); }),
               "SymmetricGroup(n: 5) would have order 5! = 120, more than the limit 24");
  }
}

namespace {
Matrix one() { return Matrix::Identity(1, 1); }
Matrix rot(double t) { return eqnn::group_helpers::rotation2d(t); }
Matrix direct_sum(const Matrix& a, const Matrix& b) {
  Matrix m = Matrix::Zero(a.rows() + b.rows(), a.cols() + b.cols());
  m.topLeftCorner(a.rows(), a.cols()) = a;
  m.bottomRightCorner(b.rows(), b.cols()) = b;
  return m;
}
std::string supplied_error(GroupPtr g, std::vector<std::vector<Matrix>> irreps) {
  auto mut = std::const_pointer_cast<Group>(g);
  mut->set_irreps(std::move(irreps));
  return error_text([&] { mut->irreps(); });
}
std::shared_ptr<Group> cyclic_by_perm(int n) {
  Permutation p(n);
  for (int i = 0; i < n; ++i) p[i] = (i + 1) % n;
  return Group::from_generator_permutations("C" + std::to_string(n), {p});
}
}  // namespace

TEST(SuppliedIrreps, EveryWayToBeWrongIsNamed) {
  const double t = 2 * M_PI / 5;
  // Reducible with ⟨χ,χ⟩ = 2 and even dimension: diag(1, -1) for C2 (End = R ⊕ R, not C).
  EXPECT_HAS(
      supplied_error(cyclic_by_perm(2), {{one()}, {direct_sum(one(), -one())}}),
      "supplied irrep 1 ('irrep(1)') of C2 is not irreducible: End_G has dimension 2 but is not a division "
      "algebra");
  // Reducible with ⟨χ,χ⟩ = 4, dimension 4: two non-isomorphic type-C irreps of C5 (End = C ⊕ C, not H).
  EXPECT_HAS(supplied_error(cyclic_by_perm(5), {{one()}, {direct_sum(rot(t), rot(2 * t))}, {rot(2 * t)}}),
             "is not irreducible: End_G has dimension 4 but is not a division algebra");
  // Character norm not in {1, 2, 4}.
  EXPECT_HAS(
      supplied_error(cyclic_by_perm(4), {{one()}, {-one()}, {direct_sum(rot(M_PI / 2), rot(M_PI / 2))}}),
      "its character norm (1/|G|) Σ χ(g)² = 8 is not 1, 2 or 4");
  // Isomorphic pair.
  EXPECT_HAS(
      supplied_error(cyclic_by_perm(5), {{one()}, {rot(t)}, {rot(-t)}}),
      "supplied irrep 2 ('irrep(2)') of C5 is isomorphic to (or shares constituents with) supplied irrep 1");
  // Too few and too many, against the number of real classes.
  EXPECT_HAS(supplied_error(cyclic_by_perm(5), {{one()}, {rot(t)}}),
             "the supplied irreps of C5 are incomplete: 2 given, but C5 has 3 real conjugacy classes");
  EXPECT_HAS(supplied_error(cyclic_by_perm(2), {{one()}, {-one()}, {-one()}}),
             "the supplied irreps of C2 are too many: 3 given");
  // Irrep 0 not trivial; not a homomorphism; not orthogonal.
  EXPECT_HAS(supplied_error(cyclic_by_perm(2), {{-one()}, {one()}}),
             "supplied irrep 0 of C2 must be the trivial irrep");
  EXPECT_HAS(supplied_error(cyclic_by_perm(5), {{one()}, {rot(t)}, {rot(1.0)}}),
             "do not define a representation of C5");
  EXPECT_HAS(supplied_error(cyclic_by_perm(2), {{one()}, {2 * one()}}), "is not orthogonal");
  // The correct ones pass, in any orthogonal basis.
  EXPECT_EQ(supplied_error(cyclic_by_perm(5), {{one()}, {rot(t)}, {rot(2 * t)}}), "");
}

TEST(Caches, SameTableDifferentSuppliedIrrepsGetDifferentAnswers) {
  // C5 twice with the same table: irreps rot(2π/5), rot(4π/5) in one, the transposed (conjugate basis)
  // in the other. Neither may receive the other's irreps or decompositions.
  const double t = 2 * M_PI / 5;
  auto a = cyclic_by_perm(5), b = cyclic_by_perm(5), c = cyclic_by_perm(5);
  a->set_irreps({{one()}, {rot(t)}, {rot(2 * t)}});
  b->set_irreps({{one()}, {rot(-t)}, {rot(-2 * t)}});
  c->set_irreps({{one()}, {rot(t)}, {rot(2 * t)}});
  EXPECT_FALSE(a->same_content(*b));
  EXPECT_NE(a->content_hash(), b->content_hash());
  EXPECT_TRUE(a->same_content(*c));
  EXPECT_LT((a->irreps()[1].matrices[1] - rot(t)).norm(), 1e-12);
  EXPECT_LT((b->irreps()[1].matrices[1] - rot(-t)).norm(), 1e-12);
  EXPECT_EQ(&a->irreps(), &c->irreps());  // equal content: one cached result
  auto ra = Representation::regular(a), rb = Representation::regular(b);
  EXPECT_FALSE(ra->same_content(*rb));
  expect_decomposition_rebuilds(ra);
  expect_decomposition_rebuilds(rb);
  EXPECT_GT((ra->Q() - rb->Q()).cwiseAbs().maxCoeff(), 1e-3);
  // The same for computed irreps: a group without supplied irreps is different content again.
  auto d = cyclic_by_perm(5);
  EXPECT_FALSE(d->same_content(*a));
  expect_decomposition_rebuilds(Representation::regular(d));
  // Supplying irreps after they were used is refused (the content would change under a cache).
  EXPECT_HAS(error_text([&] { d->set_irreps({{one()}, {rot(t)}, {rot(2 * t)}}); }), "already in use");
}

TEST(IrreducibleSubspaces, SplitsATensorSquareAndRefusesNonRepresentations) {
  auto g = group("C5");
  std::vector<Matrix> rho;
  for (int x = 0; x < g->order(); ++x) {
    const Matrix& m = g->irreps()[1].matrices[x];
    Matrix k(4, 4);
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) k.block(2 * i, 2 * j, 2, 2) = m(i, j) * m;
    rho.push_back(k);
  }
  auto parts = eqnn::irreducible_subspaces(*g, rho);
  int total = 0;
  for (const auto& V : parts) total += static_cast<int>(V.cols());
  EXPECT_EQ(total, 4);
  EXPECT_EQ(parts.size(), 3u);  // ψ⊗ψ = 2·trivial + ψ₂ for ψ the rotation by 2π/5
  std::vector<Matrix> bad(g->order(), Matrix::Identity(2, 2));
  bad[1] = rot(0.3);
  EXPECT_HAS(error_text([&] { eqnn::irreducible_subspaces(*g, bad); }), "irreducible_subspaces");
}
