// Signed permutation representations (ρ(g) e_i = ±e_{π_g(i)}, how robot symmetries act on joints): detected
// from generator matrices, kept by direct sums, and served by the orbit path of Hom_G with signs. Oracles:
// the isotypic path (the irreps' End bases, no orbits) to 1e-12, character inner products for dimensions
// and the representations' own matrices for equivariance on every element.
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "support.hpp"

using eqnn::GroupPtr;
using eqnn::HomSpace;
using eqnn::Matrix;
using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::generator_matrices;
using eqnn::testing::group;
using eqnn::testing::robot_joints;
using eqnn::testing::to_tensor;

namespace {

// χ ⊗ P: a permutation rep twisted by the nth non-trivial one-dimensional irrep χ (values ±1): a signed
// permutation rep.
RepPtr twisted(const GroupPtr& g, const std::string& permutation_rep, int nth) {
  int k = 1, seen = 0;
  for (; k < static_cast<int>(g->irreps().size()); ++k)
    if (g->irreps()[k].dim == 1 && ++seen == nth) break;
  if (seen != nth) throw std::logic_error(g->name() + " has fewer one-dimensional irreps than asked");
  auto p = eqnn::parse_rep(g, permutation_rep);
  std::vector<Matrix> m;
  for (int s : g->generators()) m.push_back(g->irreps()[k].matrices[s](0, 0) * p->matrix(s));
  return Representation::from_generator_matrices(g, m, "sign(" + permutation_rep + ")");
}

struct Case {
  std::string name;
  std::function<std::pair<RepPtr, RepPtr>()> make;
};

std::vector<Case> cases() {
  return {
      {"C2_joints_joints",
       [] {
         auto g = group("C2");
         return std::pair{robot_joints(g), robot_joints(g)};
       }},
      {"C2_joints_to_regular_plus_trivial",
       [] {
         auto g = group("C2");
         return std::pair{robot_joints(g), eqnn::parse_rep(g, "2x regular + trivial")};
       }},
      {"C2_sum_of_joints_and_regular",
       [] {
         auto g = group("C2");
         auto j = robot_joints(g);
         return std::pair{Representation::direct_sum({j, eqnn::parse_rep(g, "regular"), j}), j};
       }},
      {"C4_rotation_plane_to_regular",
       [] {
         auto g = group("C4");
         return std::pair{Representation::from_generator_matrices(
                              g, generator_matrices(Representation::irrep(g, 1)), "plane"),
                          eqnn::parse_rep(g, "regular")};
       }},
      {"D4_sign_regular_to_sign_vertices",
       [] {
         auto g = group("D4");
         return std::pair{twisted(g, "regular", 1), twisted(g, "permutation(vertices)", 2)};
       }},
      {"D4_sign_vertices_twice",
       [] {
         auto g = group("D4");
         auto a = twisted(g, "permutation(vertices)", 3);
         return std::pair{Representation::direct_sum({a, eqnn::parse_rep(g, "trivial"), a}), a};
       }},
      {"D4_sign_regular_to_regular",
       [] {
         auto g = group("D4");
         return std::pair{twisted(g, "regular", 1), eqnn::parse_rep(g, "regular + 2x trivial")};
       }},
      {"S4_sign_points_to_sign_regular",
       [] {
         auto g = group("S4");
         return std::pair{twisted(g, "permutation(points)", 1), twisted(g, "regular", 1)};
       }},
  };
}

class SignedPairs : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST(SignedPermutation, DetectedFromGeneratorMatricesAndKeptBySums) {
  auto g = group("C2");
  auto j = robot_joints(g);
  EXPECT_TRUE(j->has_signed_permutation_structure());
  EXPECT_FALSE(j->has_permutation_structure());
  const auto sg = j->signed_permutation_generators();
  ASSERT_EQ(sg.size(), 1u);
  EXPECT_EQ(sg[0].perm, (eqnn::Permutation{1, 0, 3, 2, 4, 5}));
  EXPECT_EQ(sg[0].sign, (std::vector<int>{-1, -1, 1, 1, -1, 1}));
  // Plain permutation matrices stay a permutation rep (all signs +1).
  auto plain = Representation::from_generator_matrices(g, generator_matrices(eqnn::parse_rep(g, "regular")));
  EXPECT_TRUE(plain->is_permutation());
  EXPECT_EQ(plain->signed_permutation_generators()[0].sign, (std::vector<int>{1, 1}));
  // A sum with permutation reps is signed; the signs and offsets follow the parts.
  auto sum = Representation::direct_sum({eqnn::parse_rep(g, "trivial"), j});
  ASSERT_TRUE(sum->has_signed_permutation_structure());
  EXPECT_EQ(sum->signed_permutation_generators()[0].perm, (eqnn::Permutation{0, 2, 1, 4, 3, 5, 6}));
  EXPECT_EQ(sum->signed_permutation_generators()[0].sign, (std::vector<int>{1, -1, -1, 1, 1, -1, 1}));
  for (int e = 0; e < g->order(); ++e) {
    Matrix expected = Matrix::Zero(7, 7);
    const auto s = e == 0 ? eqnn::SignedPermutation{{0, 1, 2, 3, 4, 5, 6}, std::vector<int>(7, 1)}
                          : sum->signed_permutation_generators()[0];
    for (int i = 0; i < 7; ++i) expected(s.perm[i], i) = s.sign[i];
    EXPECT_LT((sum->matrix(e) - expected).cwiseAbs().maxCoeff(), 1e-12) << "element " << e;
  }
  // A change of basis, or a sum with a non-permutation part, has no signed permutation structure.
  EXPECT_FALSE(eqnn::testing::random_basis(j, 3)->has_signed_permutation_structure());
  auto g4 = group("D4");
  EXPECT_FALSE(Representation::direct_sum({twisted(g4, "regular", 1), Representation::irrep(g4, 4)})
                   ->has_signed_permutation_structure());
  EXPECT_HAS(eqnn::testing::error_text<eqnn::GroupError>(
                 [&] { Representation::irrep(g4, 4)->signed_permutation_generators(); }),
             "is not a signed permutation representation");
  // The content distinguishes signed from unsigned structure (the Hom cache keys on it).
  EXPECT_FALSE(j->same_content(*Representation::change_basis(j, Matrix::Identity(6, 6))));
  // Rebuilt from its decomposition, it is detected as the same signed permutation rep.
  EXPECT_TRUE(j->same_content(*Representation::from_decomposition(g, j->irreps(), j->Q())));
  EXPECT_TRUE(j->same_content(*robot_joints(g)));
  EXPECT_EQ(j->content_hash(), robot_joints(g)->content_hash());
}

TEST(SignedPermutation, DeadOrbitsGiveZero) {
  // C2 acting on R by -1: Hom(sign, trivial) = 0 (every pair meets both signs), Hom(sign, sign) = R.
  auto g = group("C2");
  Matrix minus = -Matrix::Identity(1, 1);
  auto sign = Representation::from_generator_matrices(g, {minus}, "sign");
  auto triv = eqnn::parse_rep(g, "trivial");
  auto dead = HomSpace::get(sign, triv);
  EXPECT_EQ(dead->method(), HomSpace::Method::orbit);
  EXPECT_EQ(dead->dim(), 0);
  EXPECT_LT(dead->project(at::ones({1, 1}, at::kDouble)).abs().max().item<double>(), 1e-15);
  auto live = HomSpace::get(sign, sign);
  EXPECT_EQ(live->dim(), 1);
  EXPECT_EQ(live->expand(at::full({1}, 2.5, at::kDouble)).item<double>(), 2.5);
}

TEST_P(SignedPairs, OrbitPathEqualsIsotypicPathOnEveryElement) {
  auto [in, out] = GetParam().make();
  ASSERT_TRUE(in->has_signed_permutation_structure());
  ASSERT_TRUE(out->has_signed_permutation_structure());
  auto hom = HomSpace::get(in, out);
  ASSERT_EQ(hom->method(), HomSpace::Method::orbit);
  auto dense = HomSpace::build(in, out, HomSpace::Method::isotypic);
  // Dimension: character theory and the isotypic path.
  EXPECT_NEAR(double(hom->dim()), eqnn::testing::character_inner(*in, *out), 1e-9);
  EXPECT_EQ(hom->dim(), dense->dim());
  const int Do = out->size(), Di = in->size();
  for (auto dtype : {at::kDouble, at::kFloat}) {
    const double tol = dtype == at::kDouble ? 1e-12 : 1e-5;
    at::Tensor A = to_tensor(eqnn::testing::random_matrix(Do, Di, 7)).to(dtype);
    at::Tensor PA = hom->project(A);
    EXPECT_LT((PA - dense->project(A)).abs().max().item<double>(), tol);
    EXPECT_LT((hom->project(PA) - PA).abs().max().item<double>(), tol);
    at::Tensor theta = at::randn({hom->dim()}, dtype);
    at::Tensor W = hom->expand(theta);
    EXPECT_LT((hom->analyse(W) - theta).abs().max().item<double>(), tol);
    for (int g = 0; g < in->group().order(); ++g) {
      at::Tensor ro = to_tensor(out->matrix(g)).to(dtype), ri = to_tensor(in->matrix(g)).to(dtype);
      ASSERT_LT((at::matmul(ro, W) - at::matmul(W, ri)).abs().max().item<double>(), tol) << "element " << g;
    }
  }
  // Optimiser-fair: Frobenius-orthogonal elements whose squared norms add up to D_out·D_in, each a signed
  // orbit indicator times one scale (dead pairs are zero in every element).
  at::Tensor basis = hom->expand(at::eye(hom->dim(), at::kDouble)).reshape({hom->dim(), Do * Di});
  at::Tensor gram = at::matmul(basis, basis.t());
  EXPECT_LT((gram - at::diag(at::diagonal(gram))).abs().max().item<double>(), 1e-10);
  EXPECT_NEAR(at::trace(gram).item<double>(), double(Do) * Di, 1e-8 * Do * Di);
  const double scale = basis.abs().max().item<double>();
  EXPECT_LT((basis.abs() * (basis.abs() - scale)).abs().max().item<double>(), 1e-12);
  EXPECT_LE((basis.abs() > 0).sum(0).max().item<int64_t>(), 1);
}

INSTANTIATE_TEST_SUITE_P(Signed, SignedPairs, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(SignedPermutation, MixedWithABasisOrAnIrrepTakesTheIsotypicPath) {
  auto g = group("D4");
  auto s = twisted(g, "regular", 1);
  EXPECT_EQ(HomSpace::get(s, eqnn::testing::random_basis(eqnn::parse_rep(g, "regular"), 5))->method(),
            HomSpace::Method::isotypic);
  EXPECT_EQ(HomSpace::get(Representation::irrep(g, 4), s)->method(), HomSpace::Method::isotypic);
  EXPECT_HAS(eqnn::testing::error_text<eqnn::GroupError>(
                 [&] { HomSpace::build(Representation::irrep(g, 4), s, HomSpace::Method::orbit); }),
             "the orbit method needs two representations with a permutation structure or two signed "
             "permutation representations");
}
