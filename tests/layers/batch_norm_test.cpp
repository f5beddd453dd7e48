// eBatchNorm1d: exact equivariance on every element (training with batch statistics, eval with the running
// ones) for C4, D4 and Ico on regular, mixed and randomly rotated reps; torch::nn::BatchNorm1d as the oracle
// on all-invariant reps (outputs and running statistics over several steps, momentum and cumulative, (N, D)
// and (N, D, L)); a dense reference written here (group-averaged mean, per-copy variance in Q's basis) for
// the other reps; the layouts; errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/batchnorm.h>

#include "e_batch_norm.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::error_text;
using eqnn::testing::make_layer;
using eqnn::testing::randomise;
using eqnn::testing::to_tensor;

std::vector<std::pair<std::string, RepPtr>> test_reps(const eqnn::GroupPtr& g) {
  return {
      {"regular", eqnn::parse_rep(g, "regular")},
      {"2x regular + trivial + irrep(1)", eqnn::parse_rep(g, "2x regular + trivial + irrep(1)")},
      {"random basis", eqnn::testing::random_basis(eqnn::parse_rep(g, "regular + trivial + irrep(1)"), 9)}};
}

std::vector<at::Tensor> batches(int64_t D, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto o = at::TensorOptions().dtype(dtype);
  // Shifted and scaled, so that the mean and the variances matter.
  return {at::normal(0, 1, {6, D}, gen, o) * 2 + 1, at::normal(0, 1, {17, D}, gen, o) * 0.5 - 3};
}

TEST(EBatchNorm1d, EquivariantInTrainingAndEval) {
  for (const std::string spec : {"C4", "D4", "Ico"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : test_reps(g))
      for (bool affine : {true, false}) {
        auto layer = make_layer("eBatchNorm1d", rep, affine ? "{}" : "{affine: false}");
        randomise(*layer, 5);
        const std::string what =
            "eBatchNorm1d on " + spec + " " + label + " affine=" + std::to_string(affine);
        // Training: batch statistics (f(ρ(g) X) = ρ(g) f(X) for the whole batch).
        layer->train();
        eqnn::testing::EquivarianceSweep sweep;
        sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
        sweep.inputs = [&, D = rep->size()](at::ScalarType dtype) { return batches(D, dtype, 3); };
        eqnn::testing::ExpectEquivariant(*layer, sweep, what + " train");
        // The running statistics the training steps left are invariant: eval is equivariant.
        auto* bn = dynamic_cast<eqnn::EBatchNorm1dImpl*>(layer.get());
        ASSERT_NE(bn, nullptr);
        EXPECT_GT(bn->named_buffers()["num_batches_tracked"].item<int64_t>(), 0);
        const at::Tensor rm = bn->named_buffers()["running_mean"].to(at::kDouble);
        const at::Tensor rho = eqnn::testing::rep_matrices(*rep);
        EXPECT_LE((at::matmul(rho, rm) - rm).abs().max().item<double>(), 1e-5) << what;
        EXPECT_GT(rm.abs().max().item<double>(), 1e-3) << what;  // something was tracked
        layer->eval();
        eqnn::testing::ExpectEquivariant(*layer, sweep, what + " eval");
      }
  }
}

// A dense reference written here: mean projected with the group average (1/|G|) Σ ρ(g), the variance per
// irreducible copy of Q's columns (loops), y = Q diag(α/sqrt(v + eps)) Qᵀ (x − m) + b.
at::Tensor reference(const Representation& rep, const at::Tensor& x, const at::Tensor& alpha,
                     const at::Tensor& b, double eps) {
  const at::Tensor P = eqnn::testing::rep_matrices(rep).mean(0);
  const at::Tensor m = at::matmul(P, x.mean(0));
  const at::Tensor Q = to_tensor(rep.Q());
  const at::Tensor z = at::matmul(x - m, Q);
  at::Tensor factor = at::empty({rep.size()}, at::kDouble);
  int64_t col = 0, copy = 0;
  for (int k : rep.irreps()) {
    const int d = rep.group().irreps()[static_cast<size_t>(k)].dim;
    double v = 0;
    for (int64_t n = 0; n < x.size(0); ++n)
      for (int c = 0; c < d; ++c) v += std::pow(z[n][col + c].item<double>(), 2);
    v /= static_cast<double>(x.size(0) * d);
    for (int c = 0; c < d; ++c) factor[col + c] = alpha[copy].item<double>() / std::sqrt(v + eps);
    col += d;
    ++copy;
  }
  return at::matmul(z * factor, Q.t()) + b;
}

TEST(EBatchNorm1d, DenseReferenceOnRegularAndMixedReps) {
  for (const std::string spec : {"C4", "D4"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : test_reps(g)) {
      eqnn::EBatchNorm1d bn(eqnn::EBatchNorm1dOptions(rep).eps(1e-3));
      randomise(*bn, 8);
      bn->to(at::kDouble);
      const at::Tensor x = at::randn({9, rep->size()}, at::kDouble) * 1.5 + 0.7;
      const at::Tensor alpha = bn->named_parameters()["weight"].detach();
      const at::Tensor expected = reference(*rep, x, alpha, bn->bias().detach(), 1e-3);
      EXPECT_LE((bn(x) - expected).abs().max().item<double>(), 1e-10) << spec << " " << label;
      // (N, D, L): the statistics over N and L, the same as the (N·L, D) batch.
      const at::Tensor x3 = at::randn({4, rep->size(), 3}, at::kDouble) + 0.3;
      const at::Tensor flat = x3.transpose(1, 2).reshape({-1, rep->size()});
      const at::Tensor expected3 = reference(*rep, flat, alpha, bn->bias().detach(), 1e-3)
                                       .reshape({4, 3, rep->size()})
                                       .transpose(1, 2);
      EXPECT_LE((bn(x3) - expected3).abs().max().item<double>(), 1e-10) << spec << " " << label;
    }
  }
}

// All-invariant reps: torch::nn::BatchNorm1d with the same weights, outputs and buffers after every step
// (training and eval), momentum 0.1, 0.3 and cumulative (unset), track_running_stats on and off.
TEST(EBatchNorm1d, EqualsStockBatchNorm1dOnAllInvariantReps) {
  for (const auto& [spec, rs] : std::vector<std::pair<std::string, std::string>>{
           {"C4", "3x trivial"}, {"C1", "regular + 4x trivial"}}) {
    auto rep = eqnn::parse_rep(eqnn::testing::group(spec), rs);
    const int64_t D = rep->size();
    for (std::optional<double> momentum :
         {std::optional<double>(0.1), std::optional<double>(0.3), std::optional<double>()})
      for (bool track : {true, false}) {
        const std::string what = rs + " momentum=" + (momentum ? std::to_string(*momentum) : "None") +
                                 " track=" + std::to_string(track);
        eqnn::EBatchNorm1d bn(eqnn::EBatchNorm1dOptions(rep).momentum(momentum).track_running_stats(track));
        torch::nn::BatchNorm1d stock(
            torch::nn::BatchNormOptions(D).momentum(momentum).track_running_stats(track));
        EXPECT_TRUE(bn->is_stock());
        randomise(*bn, 4);
        bn->to(at::kDouble);
        stock->to(at::kDouble);
        {
          at::NoGradGuard no_grad;
          stock->weight.copy_(bn->named_parameters()["weight"]);
          stock->bias.copy_(bn->bias());
        }
        for (int step = 0; step < 4; ++step) {
          const at::Tensor x = step % 2 == 0 ? at::randn({8, D}, at::kDouble) * (step + 1) + step
                                             : at::randn({3, D, 5}, at::kDouble) - step;
          EXPECT_LE((bn(x) - stock(x)).abs().max().item<double>(), 1e-12) << what << " step " << step;
          if (track) {
            EXPECT_LE((bn->named_buffers()["running_mean"] - stock->running_mean).abs().max().item<double>(),
                      1e-12)
                << what;
            EXPECT_LE((bn->named_buffers()["running_var"] - stock->running_var).abs().max().item<double>(),
                      1e-12)
                << what;
            EXPECT_EQ(bn->named_buffers()["num_batches_tracked"].item<int64_t>(),
                      stock->num_batches_tracked.item<int64_t>());
          }
        }
        bn->eval();
        stock->eval();
        const at::Tensor x = at::randn({5, D, 2}, at::kDouble) * 3;
        EXPECT_LE((bn(x) - stock(x)).abs().max().item<double>(), 1e-12) << what << " eval";
        // Export: the stock state_dict under its names.
        auto params = bn->effective_parameters();
        ASSERT_EQ(params.size(), track ? 5u : 2u);
        for (const auto& [name, t] : params) {
          // The dicts are kept: named_parameters() / named_buffers() return temporaries.
          const auto stock_parameters = stock->named_parameters();
          const auto stock_buffers = stock->named_buffers();
          at::Tensor s;
          if (const at::Tensor* p = stock_parameters.find(name)) s = *p;
          if (const at::Tensor* p = stock_buffers.find(name)) s = *p;
          ASSERT_TRUE(s.defined()) << name;
          EXPECT_TRUE(at::allclose(t.to(s.scalar_type()), s, 0, 1e-12)) << name;
        }
      }
  }
}

// Running statistics on a non-trivial rep: the mean projected, the per-copy variance unbiased only for the
// trivial copies (their mean was estimated), as written in the header.
TEST(EBatchNorm1d, RunningStatisticsOnAMixedRep) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "regular + trivial + irrep(1)");
  eqnn::EBatchNorm1d bn(eqnn::EBatchNorm1dOptions(rep).momentum(0.25));
  bn->to(at::kDouble);
  const at::Tensor x = at::randn({10, rep->size()}, at::kDouble) + 1;
  bn(x);
  const at::Tensor P = eqnn::testing::rep_matrices(*rep).mean(0);
  const at::Tensor m = at::matmul(P, x.mean(0));
  EXPECT_LE((bn->named_buffers()["running_mean"] - 0.25 * m).abs().max().item<double>(), 1e-12);
  const at::Tensor z = at::matmul(x - m, to_tensor(rep->Q()));
  const at::Tensor rv = bn->named_buffers()["running_var"];
  ASSERT_EQ(rv.numel(), static_cast<int64_t>(rep->irreps().size()));
  int64_t col = 0;
  for (size_t c = 0; c < rep->irreps().size(); ++c) {
    const int k = rep->irreps()[c];
    const int d = rep->group().irreps()[static_cast<size_t>(k)].dim;
    double v = z.narrow(1, col, d).pow(2).mean().item<double>();
    if (k == 0) v *= 10.0 / 9.0;
    EXPECT_NEAR(rv[static_cast<int64_t>(c)].item<double>(), 0.75 + 0.25 * v, 1e-12) << "copy " << c;
    col += d;
  }
  EXPECT_TRUE(bn->effective_parameters().empty());  // no stock form: export refuses it by name
  EXPECT_EQ(bn->unconstrained_parameter_count(), 2 * rep->size());
}

// In a model file a layer gets (batch, [seq,] features): channels_last normalises over every leading dim.
TEST(EBatchNorm1d, ChannelsLastIsTheFlattenedBatch) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular + trivial");
  auto last = make_layer("eBatchNorm1d", rep, "{channels_last: true}");
  auto plain = make_layer("eBatchNorm1d", rep);
  randomise(*last, 3);
  eqnn::testing::copy_parameters(*last, *plain, "channels_last");
  last->to(at::kDouble);
  plain->to(at::kDouble);
  const at::Tensor x = at::randn({4, 5, rep->size()}, at::kDouble) + 0.5;
  EXPECT_LE(
      (last->forward(x) - plain->forward(x.reshape({20, -1})).reshape({4, 5, -1})).abs().max().item<double>(),
      1e-12);
  eqnn::testing::EquivarianceSweep sweep;
  sweep.prepare = [&](at::ScalarType dtype) { last->to(dtype); };
  sweep.inputs = [&](at::ScalarType dtype) { return std::vector<at::Tensor>{x.to(dtype)}; };
  eqnn::testing::ExpectEquivariant(*last, sweep, "channels_last");
}

TEST(EBatchNorm1d, Errors) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C4"), "regular");
  auto layer = make_layer("eBatchNorm1d", rep);
  std::string text = error_text([&] { layer->forward(at::randn({2, 3, 4})); });
  EXPECT_NE(
      text.find("eBatchNorm1d: expected input of shape (N, D) or (N, D, L) with D = 4 at dim 1 "
                "(torch.nn.BatchNorm1d's layout) for in_rep regular (size 4), got [2, 3, 4]; for features "
                "last (..., D), as in a model file, set channels_last: true"),
      std::string::npos)
      << text;
  text = error_text([&] { layer->forward(at::randn({4})); });
  EXPECT_NE(text.find("expected input of shape (N, D) or (N, D, L)"), std::string::npos) << text;
  text = error_text([&] { layer->forward(at::randn({1, 4})); });
  EXPECT_NE(text.find("eBatchNorm1d: expected more than 1 value per feature when training"),
            std::string::npos)
      << text;
  layer->eval();
  EXPECT_EQ(layer->forward(at::randn({1, 4})).sizes(), (std::vector<int64_t>{1, 4}));  // running stats: fine
  text = error_text([&] { make_layer("eBatchNorm1d", rep, "{eps: 0}"); });
  EXPECT_NE(text.find("1:7: error: eBatchNorm1d: 'eps' must be a finite number > 0"), std::string::npos)
      << text;
  text = error_text([&] { make_layer("eBatchNorm1d", rep, "{momentum: 1.5}"); });
  EXPECT_NE(text.find("error: eBatchNorm1d: 'momentum' must be a number in [0, 1]"), std::string::npos)
      << text;
  text = error_text([&] { make_layer("eBatchNorm1d", rep, "{momentum: fast}"); });
  EXPECT_NE(text.find("momentum"), std::string::npos) << text;
  text = error_text([&] { make_layer("eBatchNorm1d", rep, "{num_features: 4}"); });
  EXPECT_NE(text.find("eBatchNorm1d: unknown key 'num_features'"), std::string::npos) << text;
  EXPECT_NE(error_text([&] {
              eqnn::EBatchNorm1d(eqnn::EBatchNorm1dOptions(nullptr));
            }).find("eBatchNorm1d: in_rep is required"),
            std::string::npos);
  // momentum: null (and "cumulative") is torch's momentum=None.
  auto cumulative = make_layer("eBatchNorm1d", rep, "{momentum: null}");
  EXPECT_FALSE(dynamic_cast<eqnn::EBatchNorm1dImpl&>(*cumulative).options.momentum().has_value());
  auto named = make_layer("eBatchNorm1d", rep, "{momentum: cumulative}");
  EXPECT_FALSE(dynamic_cast<eqnn::EBatchNorm1dImpl&>(*named).options.momentum().has_value());
}

}  // namespace
