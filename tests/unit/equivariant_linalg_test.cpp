// eqnn::linalg: the exact equivariance-constrained least squares against oracles that share none of its code
// (the closed-form C4 counterexample, dense normal equations in a basis of the Reynolds operator's
// eigenvectors, unconstrained least squares on G-augmented data, the KKT condition), and the projections.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <Eigen/Eigenvalues>

#include "eqnn/group_theory/equivariant_linalg.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "support.hpp"

using eqnn::Matrix;
using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::group;
using eqnn::testing::rep_matrices;
using eqnn::testing::to_tensor;
namespace linalg = eqnn::linalg;

namespace {

double max_abs(const at::Tensor& t) { return t.numel() ? t.abs().max().item<double>() : 0.0; }
double loss(const at::Tensor& x, const at::Tensor& y, const at::Tensor& W) {
  return (at::matmul(x, W.t()) - y).pow(2).sum().item<double>();
}

// The index of the first irrep of dimension `dim`.
int irrep_of_dim(const eqnn::Group& g, int dim) {
  for (const auto& ir : g.irreps())
    if (ir.dim == dim) return ir.index;
  ADD_FAILURE() << g.name() << " has no irrep of dimension " << dim;
  return 0;
}

// Solve then project (symm_learning's lstsq): Π(Syx Sxx⁻¹).
at::Tensor solve_then_project(const at::Tensor& x, const at::Tensor& y, const RepPtr& rx, const RepPtr& ry) {
  at::Tensor A = at::matmul(at::matmul(y.t(), x), at::linalg_inv(at::matmul(x.t(), x)));
  return linalg::equivariant_projection(A, rx, ry);
}

// The counterexample of the design note: C4, ρx = ρy = ψ (the 2-dim irrep, type C). Constrained optimum 0.2·I
// (loss 0.80); solve-then-project gives 0.5·I (loss 1.25).
TEST(EquivariantLstsq, C4CounterexampleClosedForm) {
  auto g = group("C4");
  const int k = irrep_of_dim(*g, 2);
  RepPtr psi = Representation::irrep(g, k);
  at::Tensor x = at::tensor({1.0, 0.0, 0.0, 2.0}, at::kDouble).reshape({2, 2});
  at::Tensor y = at::tensor({1.0, 0.0, 0.0, 0.0}, at::kDouble).reshape({2, 2});
  at::Tensor W = linalg::lstsq(x, y, psi, psi);
  at::Tensor I = at::eye(2, at::kDouble);
  EXPECT_LE(max_abs(W - 0.2 * I), 1e-14) << W;
  EXPECT_NEAR(loss(x, y, W), 0.80, 1e-14);
  at::Tensor Wp = solve_then_project(x, y, psi, psi);
  EXPECT_LE(max_abs(Wp - 0.5 * I), 1e-14) << Wp;
  EXPECT_NEAR(loss(x, y, Wp), 1.25, 1e-14);
  EXPECT_LT(loss(x, y, W), loss(x, y, Wp));

  // With the whole orbit of the data, both agree on 0.2·I (Sxx = 10·I commutes with ρ).
  at::Tensor rho = rep_matrices(*psi);
  std::vector<at::Tensor> xs, ys;
  for (int h = 0; h < g->order(); ++h) {
    xs.push_back(at::matmul(x, rho[h].t()));
    ys.push_back(at::matmul(y, rho[h].t()));
  }
  at::Tensor xa = at::cat(xs), ya = at::cat(ys);
  EXPECT_LE(max_abs(linalg::lstsq(xa, ya, psi, psi) - 0.2 * I), 1e-14);
  EXPECT_LE(max_abs(solve_then_project(xa, ya, psi, psi) - 0.2 * I), 1e-14);
}

// The same numbers inside C4's regular representation, through the ψ columns of its Q; the min-norm solution
// is 0 on the components the data do not reach.
TEST(EquivariantLstsq, C4CounterexampleInsideRegular) {
  auto g = group("C4");
  const int k = irrep_of_dim(*g, 2);
  RepPtr reg = Representation::regular(g);
  auto cols = reg->columns_of_irrep(k);
  ASSERT_EQ(cols.size(), 2u);
  Matrix q(reg->size(), 2);
  q.col(0) = reg->Q().col(cols[0]);
  q.col(1) = reg->Q().col(cols[1]);
  at::Tensor qt = to_tensor(q);
  at::Tensor x = at::matmul(at::tensor({1.0, 0.0, 0.0, 2.0}, at::kDouble).reshape({2, 2}), qt.t());
  at::Tensor y = at::matmul(at::tensor({1.0, 0.0, 0.0, 0.0}, at::kDouble).reshape({2, 2}), qt.t());
  at::Tensor W = linalg::lstsq(x, y, reg, reg);
  EXPECT_LE(max_abs(W - 0.2 * at::matmul(qt, qt.t())), 1e-14) << W;
  EXPECT_NEAR(loss(x, y, W), 0.80, 1e-14);
}

struct Case {
  std::string group, x, y;
  bool rotate_x = false, rotate_y = false;
  bool reynolds = true;  // the dense Reynolds oracle needs (D_x·D_y)² entries
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.group << ": " << c.x << (c.rotate_x ? " (rotated)" : "") << " -> " << c.y
      << (c.rotate_y ? " (rotated)" : "");
}

std::vector<Case> cases() {
  const std::string q8 = eqnn::testing::kQ8;
  return {
      {"C4", "regular", "regular"},
      {"C4", "2x regular + trivial + irrep(2)", "regular + irrep(2)", false, true},
      {"C4", "regular", "2x regular + trivial + irrep(2)", true, false},
      {"D4", "regular", "regular", true, true},
      {"D4", "2x regular + trivial + irrep(4)", "regular + irrep(4)"},
      {"C5", "regular", "regular"},
      {"C5", "2x regular + trivial + irrep(1)", "regular + irrep(2)", true, true},
      {"Ico", "standard + trivial", "permutation(vertices)", false, true},
      {"Ico", "regular", "regular", false, false, false},
      {"Ico", "regular + trivial + irrep(3)", "regular", true, false, false},
      {"A5", "2x trivial + irrep(4)", "irrep(4) + irrep(1)", true, false},
      {q8, "standard + trivial", "2x standard", true, false},
  };
}

class LstsqOracles : public ::testing::TestWithParam<Case> {};

// Σ over elements of (ρy ⊗ ρx)/|G|, acting on row-major vec(W): the Reynolds operator, a symmetric projector.
Matrix reynolds(const Representation& rx, const Representation& ry) {
  const int Dx = rx.size(), Dy = ry.size(), n = rx.group().order();
  Matrix R = Matrix::Zero(Dx * Dy, Dx * Dy);
  for (int g = 0; g < n; ++g) {
    Matrix a = ry.matrix(g), b = rx.matrix(g);
    for (int i = 0; i < Dy; ++i)
      for (int k = 0; k < Dy; ++k) R.block(i * Dx, k * Dx, Dx, Dx) += a(i, k) * b;
  }
  return R / n;
}

TEST_P(LstsqOracles, MatchesEveryOracle) {
  const Case& c = GetParam();
  auto g = group(c.group);
  RepPtr rx = eqnn::parse_rep(g, c.x), ry = eqnn::parse_rep(g, c.y);
  if (c.rotate_x) rx = eqnn::testing::random_basis(rx, 11);
  if (c.rotate_y) ry = eqnn::testing::random_basis(ry, 12);
  const int Dx = rx->size(), Dy = ry->size();
  const int N = 2 * Dx + 3;
  at::Tensor x = to_tensor(eqnn::testing::random_matrix(N, Dx, 1));
  at::Tensor y = to_tensor(eqnn::testing::random_matrix(N, Dy, 2));
  at::Tensor W = linalg::lstsq(x, y, rx, ry);
  ASSERT_EQ(W.dim(), 2);
  ASSERT_EQ(W.size(0), Dy);
  ASSERT_EQ(W.size(1), Dx);
  const double scale = std::max(1.0, max_abs(W));

  // W ∈ Hom_G: ρy(g) W = W ρx(g) on every element.
  at::Tensor RX = rep_matrices(*rx), RY = rep_matrices(*ry);
  EXPECT_LE(max_abs(at::matmul(RY, W) - at::matmul(W, RX)), 1e-10 * scale);

  // KKT: the gradient (W Sxx − Syx) is orthogonal to Hom_G, checked with the group average.
  at::Tensor grad = at::matmul(W, at::matmul(x.t(), x)) - at::matmul(y.t(), x);
  at::Tensor avg = at::matmul(at::matmul(RY, grad), RX.transpose(1, 2)).mean(0);
  EXPECT_LE(max_abs(avg), 1e-10 * std::max(1.0, max_abs(grad)));

  // Unconstrained least squares on the G-augmented data (L_aug = |G| L on Hom_G).
  at::Tensor xa = at::matmul(x, RX.transpose(1, 2)).reshape({-1, Dx});
  at::Tensor ya = at::matmul(y, RY.transpose(1, 2)).reshape({-1, Dy});
  at::Tensor Waug = at::linalg_solve(at::matmul(xa.t(), xa), at::matmul(xa.t(), ya)).t();
  EXPECT_LE(max_abs(W - Waug), 1e-10 * scale);

  // Transforming the whole data set by one element leaves the solution unchanged.
  for (int h = 0; h < g->order(); h += std::max(1, g->order() / 7))
    EXPECT_LE(max_abs(linalg::lstsq(at::matmul(x, RX[h].t()), at::matmul(y, RY[h].t()), rx, ry) - W),
              1e-10 * scale)
        << "element " << h;

  // Dense normal equations in an orthonormal basis of Hom_G: eigenvectors of the Reynolds operator for 1.
  if (c.reynolds) {
    Eigen::SelfAdjointEigenSolver<Matrix> eig(reynolds(*rx, *ry));
    std::vector<at::Tensor> basis;
    for (int i = 0; i < eig.eigenvalues().size(); ++i)
      if (eig.eigenvalues()(i) > 0.5) {
        Matrix v = eig.eigenvectors().col(i);
        basis.push_back(
            to_tensor(Eigen::Map<Eigen::Matrix<double, -1, -1, Eigen::RowMajor>>(v.data(), Dy, Dx)));
      }
    ASSERT_FALSE(basis.empty());
    at::Tensor B = at::stack(basis);  // (S, Dy, Dx)
    at::Tensor Sxx = at::matmul(x.t(), x), Syx = at::matmul(y.t(), x);
    at::Tensor G = at::einsum("sij,tij->st", {B, at::matmul(B, Sxx)});
    at::Tensor r = at::einsum("sij,ij->s", {B, Syx});
    at::Tensor theta = at::linalg_solve(G, r);
    at::Tensor Wn = at::einsum("s,sij->ij", {theta, B});
    EXPECT_LE(max_abs(W - Wn), 1e-10 * scale);
    // and never worse than solve-then-project
    EXPECT_LE(loss(x, y, W), loss(x, y, solve_then_project(x, y, rx, ry)) + 1e-10);
  }

  // float32 gives the same map to float32 accuracy, still equivariant.
  at::Tensor W32 = linalg::lstsq(x.to(at::kFloat), y.to(at::kFloat), rx, ry);
  EXPECT_EQ(W32.scalar_type(), at::kFloat);
  EXPECT_LE(max_abs(W32.to(at::kDouble) - W), 1e-4 * scale);
  at::Tensor RX32 = RX.to(at::kFloat), RY32 = RY.to(at::kFloat);
  EXPECT_LE(max_abs(at::matmul(RY32, W32) - at::matmul(W32, RX32)), 1e-5 * scale);
}

INSTANTIATE_TEST_SUITE_P(Groups, LstsqOracles, ::testing::ValuesIn(cases()));

// Raw (not G-closed) data: the exact solution is strictly better than solve-then-project on a rep with a
// multi-dimensional irrep, and they agree on G-closed data.
TEST(EquivariantLstsq, StrictlyBetterThanSolveThenProjectOnRawData) {
  auto g = group("D4");
  RepPtr r = eqnn::parse_rep(g, "regular + irrep(4)");
  at::Tensor x = to_tensor(eqnn::testing::random_matrix(20, r->size(), 5));
  at::Tensor y = to_tensor(eqnn::testing::random_matrix(20, r->size(), 6));
  const double exact = loss(x, y, linalg::lstsq(x, y, r, r));
  const double projected = loss(x, y, solve_then_project(x, y, r, r));
  EXPECT_LT(exact, projected - 1e-6) << exact << " vs " << projected;
}

// Fewer samples than unknowns: the minimum-norm solution (the Reynolds basis's pseudo-inverse solution).
TEST(EquivariantLstsq, UnderdeterminedGivesMinimumNorm) {
  auto g = group("C4");
  RepPtr r = eqnn::parse_rep(g, "3x regular");
  at::Tensor x = to_tensor(eqnn::testing::random_matrix(2, r->size(), 7));
  at::Tensor y = to_tensor(eqnn::testing::random_matrix(2, r->size(), 8));
  at::Tensor W = linalg::lstsq(x, y, r, r);
  Eigen::SelfAdjointEigenSolver<Matrix> eig(reynolds(*r, *r));
  std::vector<at::Tensor> basis;
  const int D = r->size();
  for (int i = 0; i < eig.eigenvalues().size(); ++i)
    if (eig.eigenvalues()(i) > 0.5) {
      Matrix v = eig.eigenvectors().col(i);
      basis.push_back(to_tensor(Eigen::Map<Eigen::Matrix<double, -1, -1, Eigen::RowMajor>>(v.data(), D, D)));
    }
  at::Tensor B = at::stack(basis);
  at::Tensor G = at::einsum("sij,tij->st", {B, at::matmul(B, at::matmul(x.t(), x))});
  at::Tensor rr = at::einsum("sij,ij->s", {B, at::matmul(y.t(), x)});
  at::Tensor theta = at::matmul(at::linalg_pinv(G, 1e-10, /*hermitian=*/true), rr);
  EXPECT_LE(max_abs(W - at::einsum("s,sij->ij", {theta, B})), 1e-9);
}

TEST(EquivariantLinalg, ProjectionsAgreeWithGroupAverages) {
  auto g = group("D4");
  RepPtr rx = eqnn::testing::random_basis(eqnn::parse_rep(g, "regular + trivial"), 3);
  RepPtr ry = eqnn::parse_rep(g, "2x irrep(4) + irrep(1)");
  at::Tensor RX = rep_matrices(*rx), RY = rep_matrices(*ry);
  at::Tensor W =
      to_tensor(eqnn::testing::random_matrix(3 * ry->size(), rx->size(), 4)).reshape({3, ry->size(), -1});
  at::Tensor P = linalg::equivariant_projection(W, rx, ry);
  at::Tensor avg =
      at::matmul(at::matmul(RY.unsqueeze(1), W.unsqueeze(0)), RX.transpose(1, 2).unsqueeze(1)).mean(0);
  EXPECT_LE(max_abs(P - avg), 1e-12);
  at::Tensor Pinv = linalg::invariant_projector(rx, at::kFloat);
  EXPECT_EQ(Pinv.scalar_type(), at::kFloat);
  EXPECT_LE(max_abs(Pinv.to(at::kDouble) - RX.mean(0)), 1e-6);
  EXPECT_LE(max_abs(linalg::invariant_projector(rx) - RX.mean(0)), 1e-12);
}

TEST(EquivariantLinalg, RefusesBadInputsWithClearMessages) {
  using eqnn::ConfigError;
  using eqnn::GroupError;
  using eqnn::testing::error_text;
  auto g = group("C4");
  RepPtr r = eqnn::parse_rep(g, "regular");
  RepPtr other = eqnn::parse_rep(group("D4"), "regular");
  at::Tensor x = at::randn({5, 4}, at::kDouble);
  EXPECT_HAS(error_text<GroupError>([&] { linalg::lstsq(x, x, r, other); }), "different groups (C4 and D4)");
  EXPECT_HAS(error_text<ConfigError>([&] {
               linalg::lstsq(x, at::randn({4, 4}, at::kDouble), r, r);
             }),
             "expected x of shape (N, 4) and y of shape (N, 4), got [5, 4] and [4, 4]");
  EXPECT_HAS(error_text<ConfigError>([&] {
               linalg::lstsq(at::randn({5, 3}, at::kDouble), x, r, r);
             }),
             "expected x of shape (N, 4) or (N, 4, T) for the representation regular (size 4), got (5, 3)");
  EXPECT_HAS(error_text<ConfigError>([&] { linalg::lstsq(x.to(at::kLong), x, r, r); }),
             "x must be a floating-point tensor, got Long");
  EXPECT_HAS(error_text<ConfigError>([&] { linalg::equivariant_projection(x.narrow(1, 0, 3), r, r); }),
             "expected a floating-point W of shape (..., 4, 4)");
  EXPECT_HAS(error_text<GroupError>([&] { linalg::equivariant_projection(x, r, other); }),
             "different groups");
}

}  // namespace
