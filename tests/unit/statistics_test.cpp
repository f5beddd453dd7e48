// eqnn::stats: mean and covariance against group (Reynolds) averages, the variance against the per-copy
// formula written here with loops, invariance under transforming the whole data set, the (N, D, T) fold, and
// the unbiased/biased divisors against ATen's own var and cov on trivial representations.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/statistics.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "support.hpp"

using eqnn::Matrix;
using eqnn::RepPtr;
using eqnn::testing::group;
using eqnn::testing::rep_matrices;
using eqnn::testing::to_tensor;
namespace stats = eqnn::stats;

namespace {

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

struct Case {
  std::string group, rep;
  bool rotate = false;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.group << ": " << c.rep << (c.rotate ? " (rotated)" : "");
}

std::vector<Case> cases() {
  return {{"C2", "regular"},
          {"C4", "regular"},
          {"C4", "2x regular + trivial + irrep(2)", true},
          {"D4", "2x regular + trivial + irrep(4)"},
          {"D4", "regular", true},
          {"C5", "2x regular + trivial + irrep(1)", true},
          {"Ico", "regular"},
          {"Ico", "regular + trivial + irrep(3)", true}};
}

RepPtr make(const Case& c, uint64_t seed) {
  RepPtr r = eqnn::parse_rep(group(c.group), c.rep);
  return c.rotate ? eqnn::testing::random_basis(r, seed) : r;
}

// Data with a non-zero mean, so centring matters.
at::Tensor data(int64_t N, int64_t D, uint64_t seed) {
  return to_tensor(eqnn::testing::random_matrix(static_cast<int>(N), static_cast<int>(D), seed)) +
         at::linspace(-1.0, 2.0, D, at::kDouble);
}

class Stats : public ::testing::TestWithParam<Case> {};

TEST_P(Stats, MeanAndCovAreGroupAverages) {
  RepPtr rx = make(GetParam(), 21);
  RepPtr ry = eqnn::parse_rep(rx->group_ptr(), "regular + trivial");
  const int64_t N = 17, Dx = rx->size(), Dy = ry->size();
  at::Tensor x = data(N, Dx, 1), y = data(N, Dy, 2);
  at::Tensor RX = rep_matrices(*rx), RY = rep_matrices(*ry);
  at::Tensor mu = stats::mean(x, rx);
  EXPECT_LE(max_abs(mu - at::matmul(RX, x.mean(0)).mean(0)), 1e-12);

  for (bool unbiased : {true, false}) {
    const double n = unbiased ? N - 1 : N;
    at::Tensor xc = x - at::matmul(RX, x.mean(0)).mean(0), yc = y - at::matmul(RY, y.mean(0)).mean(0);
    at::Tensor C = at::matmul(yc.t(), xc) / n;
    at::Tensor avg = at::matmul(at::matmul(RY, C), RX.transpose(1, 2)).mean(0);
    EXPECT_LE(max_abs(stats::cov(x, y, rx, ry, false, unbiased) - avg), 1e-12) << "unbiased " << unbiased;
  }
  at::Tensor M = at::matmul(y.t(), x) / static_cast<double>(N);  // uncentred: always / N
  at::Tensor avg = at::matmul(at::matmul(RY, M), RX.transpose(1, 2)).mean(0);
  EXPECT_LE(max_abs(stats::cov(x, y, rx, ry, true, true) - avg), 1e-12);
}

TEST_P(Stats, VarIsTheCopyAverageInTheBasisQ) {
  RepPtr r = make(GetParam(), 22);
  const int64_t N = 13, D = r->size();
  at::Tensor x = data(N, D, 3);
  const auto& irreps = r->group().irreps();
  for (bool unbiased : {true, false}) {
    at::Tensor mu = stats::mean(x, r);
    at::Tensor v = stats::var(x, r, std::nullopt, unbiased);
    // Loops: z = Qᵀ(x − μ); s_j = Σ z_j² / n; per copy the average; back with Q∘Q.
    Matrix X(N, D);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t j = 0; j < D; ++j) X(i, j) = x[i][j].item<double>() - mu[j].item<double>();
    Matrix Z = X * r->Q();
    std::vector<double> s(static_cast<size_t>(D), 0.0);
    int offset = 0;
    for (int k : r->irreps()) {
      const int d = irreps[static_cast<size_t>(k)].dim;
      double sum = 0;
      for (int j = offset; j < offset + d; ++j)
        for (int64_t i = 0; i < N; ++i) sum += Z(i, j) * Z(i, j);
      for (int j = offset; j < offset + d; ++j) s[static_cast<size_t>(j)] = sum / d / (unbiased ? N - 1 : N);
      offset += d;
    }
    for (int64_t i = 0; i < D; ++i) {
      double want = 0;
      for (int64_t j = 0; j < D; ++j) want += r->Q()(i, j) * r->Q()(i, j) * s[static_cast<size_t>(j)];
      EXPECT_NEAR(v[i].item<double>(), want, 1e-12) << "unbiased " << unbiased << ", dim " << i;
    }
    auto [v2, m2] = stats::var_mean(x, r, unbiased);
    EXPECT_LE(max_abs(v2 - v), 1e-15);
    EXPECT_LE(max_abs(m2 - mu), 1e-15);
  }
  // A given centre is used as is.
  at::Tensor c = at::zeros({D}, at::kDouble);
  at::Tensor v0 = stats::var(x, r, c, false);
  EXPECT_LE(max_abs(v0 - stats::var(at::cat({x, -x}), r, std::nullopt, false)), 1e-12);
}

TEST_P(Stats, InvariantUnderTransformingTheWholeDataSet) {
  RepPtr rx = make(GetParam(), 23);
  RepPtr ry = eqnn::parse_rep(rx->group_ptr(), "regular");
  at::Tensor x = data(11, rx->size(), 4), y = data(11, ry->size(), 5);
  at::Tensor RX = rep_matrices(*rx), RY = rep_matrices(*ry);
  at::Tensor mu = stats::mean(x, rx), v = stats::var(x, rx), C = stats::cov(x, y, rx, ry);
  const int n = rx->group().order();
  for (int g = 0; g < n; g += std::max(1, n / 9)) {
    at::Tensor xg = at::matmul(x, RX[g].t()), yg = at::matmul(y, RY[g].t());
    EXPECT_LE(max_abs(stats::mean(xg, rx) - mu), 1e-12) << "element " << g;
    EXPECT_LE(max_abs(stats::var(xg, rx) - v), 1e-12) << "element " << g;
    EXPECT_LE(max_abs(stats::cov(xg, yg, rx, ry) - C), 1e-12) << "element " << g;
  }
}

TEST_P(Stats, TimeAxisFoldsIntoSamples) {
  RepPtr rx = make(GetParam(), 24);
  RepPtr ry = eqnn::parse_rep(rx->group_ptr(), "regular");
  const int64_t N = 5, T = 4;
  at::Tensor x = data(N * T, rx->size(), 6).reshape({N, T, -1}).permute({0, 2, 1});  // (N, D, T)
  at::Tensor y = data(N * T, ry->size(), 7).reshape({N, T, -1}).permute({0, 2, 1});
  at::Tensor xf = x.permute({0, 2, 1}).reshape({-1, rx->size()});
  at::Tensor yf = y.permute({0, 2, 1}).reshape({-1, ry->size()});
  EXPECT_LE(max_abs(stats::mean(x, rx) - stats::mean(xf, rx)), 1e-15);
  EXPECT_LE(max_abs(stats::var(x, rx) - stats::var(xf, rx)), 1e-15);
  EXPECT_LE(max_abs(stats::cov(x, y, rx, ry) - stats::cov(xf, yf, rx, ry)), 1e-15);
  // The fold without the permutation (symm_learning's reshape) mixes features and times. On a transitive
  // permutation rep (regular) the variance is the pooled one, the same for any arrangement of the entries; on
  // the other reps it differs.
  at::Tensor wrong = x.reshape({-1, rx->size()});
  const double moved = max_abs(stats::var(x, rx) - stats::var(wrong, rx));
  if (GetParam().rep == "regular" && !GetParam().rotate)
    EXPECT_LE(moved, 1e-12);
  else
    EXPECT_GT(moved, 1e-3);
}

INSTANTIATE_TEST_SUITE_P(Groups, Stats, ::testing::ValuesIn(cases()));

// On trivial representations nothing is projected: ATen's var and cov, with both divisors.
TEST(Stats, TrivialRepresentationsGiveAtenVarAndCov) {
  auto g = group("C4");
  RepPtr r = eqnn::parse_rep(g, "3x trivial"), s = eqnn::parse_rep(g, "2x trivial");
  at::Tensor x = data(9, 3, 8), y = data(9, 2, 9);
  for (bool unbiased : {true, false}) {
    const int64_t correction = unbiased ? 1 : 0;
    EXPECT_LE(
        max_abs(stats::var(x, r, std::nullopt, unbiased) - at::var(x, at::IntArrayRef{0}, unbiased, false)),
        1e-13);
    at::Tensor full = at::cov(at::cat({y, x}, 1).t(), correction);  // rows y then x
    EXPECT_LE(max_abs(stats::cov(x, y, r, s, false, unbiased) - full.narrow(0, 0, 2).narrow(1, 2, 3)), 1e-13);
  }
  EXPECT_LE(max_abs(stats::mean(x, r) - x.mean(0)), 1e-15);
}

TEST(Stats, DtypeFollowsTheInputPerCall) {
  auto g = group("D4");
  RepPtr r = eqnn::parse_rep(g, "regular + irrep(4)");
  at::Tensor x = data(7, r->size(), 10);
  at::Tensor v64 = stats::var(x, r);
  at::Tensor v32 = stats::var(x.to(at::kFloat), r);
  EXPECT_EQ(v32.scalar_type(), at::kFloat);
  EXPECT_LE(max_abs(v32.to(at::kDouble) - v64), 1e-5);
  EXPECT_EQ(stats::var(x, r).scalar_type(), at::kDouble);  // a float32 call first does not pin float32
}

TEST(Stats, RefusesBadInputsWithClearMessages) {
  using eqnn::ConfigError;
  using eqnn::testing::error_text;
  auto g = group("C4");
  RepPtr r = eqnn::parse_rep(g, "regular");
  RepPtr other = eqnn::parse_rep(group("D4"), "regular");
  at::Tensor x = at::randn({5, 4}, at::kDouble);
  EXPECT_HAS(
      error_text<ConfigError>([&] {
        stats::mean(at::randn({5, 3}, at::kDouble), r);
      }),
      "eqnn.stats.mean: expected x of shape (N, 4) or (N, 4, T) for the representation regular (size 4), got "
      "(5, 3)");
  EXPECT_HAS(error_text<ConfigError>([&] { stats::mean(at::randn({4}, at::kDouble), r); }), "got (4,)");
  EXPECT_HAS(error_text<ConfigError>([&] {
               stats::mean(at::randn({0, 4}, at::kDouble), r);
             }),
             "has no samples");
  EXPECT_HAS(error_text<ConfigError>([&] { stats::var(x.narrow(0, 0, 1), r); }),
             "unbiased=True divides by N - 1 and needs at least 2 samples, got 1");
  EXPECT_HAS(error_text<ConfigError>([&] { stats::var(x, r, at::zeros({3}, at::kDouble)); }),
             "expected center of shape (4,), got (3,)");
  EXPECT_HAS(error_text<ConfigError>([&] {
               stats::cov(x, at::randn({6, 4}, at::kDouble), r, r);
             }),
             "x (5, 4) and y (6, 4) do not pair their samples");
  EXPECT_HAS(error_text<eqnn::GroupError>([&] { stats::cov(x, x, r, other); }),
             "different groups (C4 and D4)");
  // one sample is fine without Bessel's correction
  EXPECT_NO_THROW(stats::var(x.narrow(0, 0, 1), r, std::nullopt, false));
}

}  // namespace
