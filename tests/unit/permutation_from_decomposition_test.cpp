// Representations built from a decomposition (irreps + change of basis Q) whose generators ρ(s) = Q(⊕ψ)Qᵀ are
// (signed) permutation matrices are permutation representations (the orbit path, pointwise activations) that
// keep the given Q (per-copy norms cut the rep into the copies Q names); any other Q stays a rep without
// permutation structure, refused by eReLU.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

using eqnn::HomSpace;
using eqnn::Matrix;
using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::group;
using eqnn::testing::to_tensor;

namespace {

// Q·U with U mixing the copies of each irrep by a random orthogonal matrix (O ⊗ I_d on its multiplicity
// space): U commutes with ⊕ψ, so ρ is unchanged but the cut into irreducible copies is another one.
Matrix mix_copies(const RepPtr& rep, uint64_t seed) {
  const auto& irr = rep->group().irreps();
  const Matrix& Q = rep->Q();
  Matrix out = Q;
  for (int k = 0; k < static_cast<int>(irr.size()); ++k) {
    std::vector<int> offsets;
    int off = 0;
    for (int j : rep->irreps()) {
      if (j == k) offsets.push_back(off);
      off += irr[j].dim;
    }
    const int m = static_cast<int>(offsets.size()), d = irr[k].dim;
    if (m < 2) continue;
    const Matrix O = eqnn::testing::random_orthogonal(m, seed + static_cast<uint64_t>(k));
    for (int a = 0; a < m; ++a) {
      Matrix block = Matrix::Zero(Q.rows(), d);
      for (int c = 0; c < m; ++c) block += O(c, a) * Q.middleCols(offsets[c], d);
      out.middleCols(offsets[a], d) = block;
    }
  }
  return out;
}

// The permutation matrix P with P e_i = e_{perm[i]}.
Matrix permutation_matrix(const std::vector<int>& perm) {
  Matrix P = Matrix::Zero(static_cast<Eigen::Index>(perm.size()), static_cast<Eigen::Index>(perm.size()));
  for (size_t i = 0; i < perm.size(); ++i) P(perm[i], static_cast<Eigen::Index>(i)) = 1;
  return P;
}

double max_diff(const Matrix& a, const Matrix& b) { return (a - b).cwiseAbs().maxCoeff(); }

// The orbit and the isotypic path of Hom(in, out) give the same projections and equivariant expansions.
void expect_paths_agree(const RepPtr& in, const RepPtr& out, const std::string& what) {
  auto orbit = HomSpace::get(in, out);
  ASSERT_EQ(orbit->method(), HomSpace::Method::orbit) << what;
  auto dense = HomSpace::build(in, out, HomSpace::Method::isotypic);
  ASSERT_EQ(orbit->dim(), dense->dim()) << what;
  at::Tensor A = to_tensor(eqnn::testing::random_matrix(out->size(), in->size(), 3));
  at::Tensor PA = orbit->project(A);
  EXPECT_LT((PA - dense->project(A)).abs().max().item<double>(), 1e-12) << what;
  at::Tensor W = orbit->expand(at::randn({orbit->dim()}, at::kDouble));
  EXPECT_LT((dense->project(W) - W).abs().max().item<double>(), 1e-12) << what;
}

class FromDecomposition : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(FromDecomposition, RegularWithAnotherCutIsAPermutationRepKeepingItsQ) {
  auto g = group(GetParam());
  auto regular = eqnn::parse_rep(g, "regular");
  const Matrix Q = mix_copies(regular, 11);
  auto rebuilt = Representation::from_decomposition(g, regular->irreps(), Q, "regular, mixed copies");
  ASSERT_TRUE(rebuilt->is_permutation());
  EXPECT_EQ(rebuilt->permutation_generators(), regular->permutation_generators());
  EXPECT_LT(max_diff(rebuilt->Q(), Q), 1e-15);  // the given cut, not the permutation decomposition's
  EXPECT_EQ(rebuilt->irreps(), regular->irreps());
  for (int e = 0; e < g->order(); ++e)
    ASSERT_LT(max_diff(rebuilt->matrix(e), regular->matrix(e)), 1e-12) << "element " << e;

  // A permuted Q (ρ conjugated by a permutation) is a permutation rep with the conjugated generators.
  std::vector<int> perm(regular->size());
  for (int i = 0; i < regular->size(); ++i) perm[i] = (3 * i + 1) % regular->size();
  if (std::set<int>(perm.begin(), perm.end()).size() != perm.size())
    for (int i = 0; i < regular->size(); ++i) perm[i] = regular->size() - 1 - i;
  const Matrix P = permutation_matrix(perm);
  auto permuted = Representation::from_decomposition(g, regular->irreps(), P * Q);
  ASSERT_TRUE(permuted->is_permutation());
  for (int e = 0; e < g->order(); ++e)
    ASSERT_LT(max_diff(permuted->matrix(e), P * regular->matrix(e) * P.transpose()), 1e-12)
        << "element " << e;

  // The orbit path serves them and agrees with the isotypic path.
  expect_paths_agree(rebuilt, rebuilt, "rebuilt -> rebuilt");
  expect_paths_agree(rebuilt, eqnn::parse_rep(g, "2x regular"), "rebuilt -> 2x regular");
  expect_paths_agree(Representation::direct_sum({permuted, eqnn::parse_rep(g, "trivial")}), rebuilt,
                     "permuted + trivial -> rebuilt");

  // eReLU accepts it and is equivariant; eNormPool cuts it by the given Q.
  auto relu = eqnn::testing::make_layer("eReLU", rebuilt);
  at::Tensor x = at::randn({5, rebuilt->size()}, at::kDouble);
  EXPECT_LT(eqnn::testing::equivariance_error(*relu, x), 1e-12);
  auto pool = eqnn::testing::make_layer("eNormPool", rebuilt);
  at::Tensor y = at::matmul(x, to_tensor(Q));  // coordinates in the copies of Q
  std::vector<at::Tensor> norms;
  int off = 0;
  for (int k : rebuilt->irreps()) {
    const int d = g->irreps()[k].dim;
    norms.push_back(y.narrow(1, off, d).norm(2, {1}, /*keepdim=*/true));
    off += d;
  }
  EXPECT_LT((pool->forward(x) - at::cat(norms, 1)).abs().max().item<double>(), 1e-12);
}

TEST_P(FromDecomposition, AnyOtherBasisIsNoPermutationRepAndERelURefusesIt) {
  auto g = group(GetParam());
  auto regular = eqnn::parse_rep(g, "regular");
  const Matrix M = eqnn::testing::random_orthogonal(regular->size(), 5);
  auto rotated = Representation::from_decomposition(g, regular->irreps(), M * regular->Q(), "rotated");
  EXPECT_FALSE(rotated->has_permutation_structure());
  EXPECT_FALSE(rotated->has_signed_permutation_structure());
  EXPECT_EQ(HomSpace::get(rotated, rotated)->method(), HomSpace::Method::isotypic);
  const std::string message =
      eqnn::testing::error_text<eqnn::ConfigError>([&] { eqnn::testing::make_layer("eReLU", rotated); });
  EXPECT_PRED2(
      eqnn::testing::contains, message,
      "a pointwise nonlinearity is equivariant only on a permutation representation in its own basis, "
      "but in_rep rotated (size");
  EXPECT_PRED2(eqnn::testing::contains, message, "its matrices are not permutations");
  // A Q orthogonal only to ~1e-9 (accepted: < 1e-8) is not taken for exact permutations, although its rows
  // still pair up exactly: each copy's columns scaled by its own 1 + ε_c (which commutes with ⊕ψ).
  Matrix scaled = regular->Q();
  int off = 0, copy = 0;
  for (int k : regular->irreps()) {
    const int d = g->irreps()[k].dim;
    scaled.middleCols(off, d) *= 1 + 1e-9 * (++copy) / static_cast<double>(regular->irreps().size());
    off += d;
  }
  EXPECT_FALSE(Representation::from_decomposition(g, regular->irreps(), scaled)->has_permutation_structure());
}

INSTANTIATE_TEST_SUITE_P(Groups, FromDecomposition, ::testing::Values("C4", "D4", "D10", "Ico"));

TEST(FromDecompositionSigned, SignedPermutationGeneratorsAreDetected) {
  // C2 acting on R^3 by swapping the first two coordinates with a sign flip and negating the third.
  auto g = group("C2");
  Matrix m = Matrix::Zero(3, 3);
  m(1, 0) = -1;
  m(0, 1) = -1;
  m(2, 2) = -1;
  auto given = Representation::from_generator_matrices(g, {m}, "flip");
  ASSERT_TRUE(given->has_signed_permutation_structure());
  auto rebuilt = Representation::from_decomposition(g, given->irreps(), given->Q());
  ASSERT_TRUE(rebuilt->has_signed_permutation_structure());
  EXPECT_FALSE(rebuilt->is_permutation());
  EXPECT_EQ(rebuilt->signed_permutation_generators(), given->signed_permutation_generators());
  EXPECT_TRUE(rebuilt->same_content(*given));
  expect_paths_agree(rebuilt, eqnn::parse_rep(g, "2x regular"), "signed -> 2x regular");
}
