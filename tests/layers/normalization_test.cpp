// eLayerNorm and eRMSNorm through the real registry: exact equivariance on every element of several
// groups and representations (permutation or not), float64 and float32, batched and unbatched; the
// stock layer_norm as an oracle where the two must agree; initialisation; errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include "eqnn/error.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/rep_parser.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::equivariance_error;
using eqnn::testing::error_text;
using eqnn::testing::kQ8;
using eqnn::testing::make_layer;
using eqnn::testing::randomise;
using eqnn::testing::to_tensor;

class NormEquivariance
    : public ::testing::TestWithParam<std::tuple<std::string, eqnn::testing::GroupCase>> {};

TEST_P(NormEquivariance, EveryElementEveryRepFloat64AndFloat32) {
  const auto& [type, group_case] = GetParam();
  const auto g = eqnn::testing::group(group_case.spec);
  for (const auto& [label, rep] : eqnn::testing::mixed_reps(g)) {
    for (bool affine : {true, false}) {
      auto layer = make_layer(type, rep, affine ? "{}" : "{elementwise_affine: false}");
      randomise(*layer, 11);
      eqnn::testing::EquivarianceSweep sweep;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&](at::ScalarType dtype) { return eqnn::testing::random_inputs(rep->size(), dtype, 3); };
      sweep.also = [&](const at::Tensor& x) { EXPECT_EQ(layer->forward(x).sizes(), x.sizes()); };
      eqnn::testing::ExpectEquivariant(
          *layer, sweep, type + " on " + g->name() + " " + label + " affine=" + std::to_string(affine));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, NormEquivariance,
                         ::testing::Combine(::testing::Values("eLayerNorm", "eRMSNorm"),
                                            ::testing::ValuesIn(eqnn::testing::test_groups())),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param).label;
                         });

// One regular copy: the invariant component is the mean, so without the affine map eLayerNorm is
// exactly the stock layer_norm (an oracle that shares no code with the layer). (With it, the initial
// A = I holds to float32 rounding only: θ = analyse(I) was stored when the module was built in float32.)
TEST(ELayerNorm, MatchesStockLayerNormOnOneRegularCopy) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "regular");
  auto layer = make_layer("eLayerNorm", rep, "{eps: 1.0e-3, elementwise_affine: false}");
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({4, 5, rep->size()}, at::kDouble) * 3 + 1;
  const at::Tensor expected = at::layer_norm(x, {rep->size()}, {}, {}, 1e-3);
  EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12);
}

// Several regular copies: each copy's mean is removed (the whole invariant part), not only the global
// mean; the output has no invariant component and unit mean square.
TEST(ELayerNorm, RemovesTheWholeInvariantPartAndNormalises) {
  auto g = eqnn::testing::group("C5");
  RepPtr rt = eqnn::parse_rep(g, "3x regular + 2x trivial");
  RepPtr rep = eqnn::testing::random_basis(rt, 3);
  auto layer = make_layer("eLayerNorm", rep, "{eps: 0.0, elementwise_affine: false}");
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({6, rep->size()}, at::kDouble) + 2;
  const at::Tensor y = layer->forward(x);
  const at::Tensor B = to_tensor(rep->invariant_basis(), at::kDouble);
  ASSERT_EQ(B.size(1), 5);
  EXPECT_LE(at::matmul(y, B).abs().max().item<double>(), 1e-12);
  EXPECT_LE((y.pow(2).mean(-1) - 1).abs().max().item<double>(), 1e-12);
  // Oracle with dense linear algebra: (x − x P_inv) / rms.
  const at::Tensor c = x - at::matmul(at::matmul(x, B), B.t());
  const at::Tensor expected = c / c.pow(2).mean(-1, true).sqrt();
  EXPECT_LE((y - expected).abs().max().item<double>(), 1e-12);
}

TEST(ERMSNorm, MatchesFormula) {
  auto g = eqnn::testing::group("Ico");
  RepPtr rep = eqnn::parse_rep(g, "irrep(1) + irrep(2) + trivial");
  auto layer = make_layer("eRMSNorm", rep, "{eps: 0.5, elementwise_affine: false}");
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({3, 2, rep->size()}, at::kDouble);
  const at::Tensor expected = x / (x.pow(2).mean(-1, true) + 0.5).sqrt();
  EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12);
}

// The affine weight starts as the identity of End_G (whatever the representation) and the bias as 0.
TEST(ENorm, AffineStartsAsIdentityAndZeroAndTrains) {
  auto g = eqnn::testing::group(kQ8);
  RepPtr rep = eqnn::parse_rep(g, "regular + irrep(4)");
  for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
    auto layer = make_layer(type, rep);
    auto names = layer->named_parameters().keys();
    const std::vector<std::string> expected_names =
        type == "eLayerNorm" ? std::vector<std::string>{"weight_coefficients", "bias_coefficients"}
                             : std::vector<std::string>{"weight_coefficients"};
    EXPECT_EQ(names, expected_names) << type;
    const at::Tensor x = at::randn({5, rep->size()});
    // At init y = x̂ (A = I, b = 0), in the float32 the module was built in.
    auto plain = make_layer(type, rep, "{elementwise_affine: false}");
    EXPECT_LE((layer->forward(x) - plain->forward(x)).abs().max().item<double>(), 1e-6) << type;
    layer->to(at::kDouble);
    EXPECT_TRUE(plain->parameters().empty());
    // Gradients reach every coefficient and are finite.
    layer->train();
    layer->forward(x.to(at::kDouble)).pow(3).sum().backward();
    for (const auto& p : layer->parameters()) {
      ASSERT_TRUE(p.grad().defined()) << type;
      EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << type;
      EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << type;
    }
  }
}

// A representation with no trivial irrep has no invariant bias: eLayerNorm then has only the weight.
TEST(ELayerNorm, NoBiasWithoutInvariants) {
  auto g = eqnn::testing::group("C5");
  auto layer = make_layer("eLayerNorm", eqnn::parse_rep(g, "2x irrep(1) + irrep(2)"));
  EXPECT_EQ(layer->named_parameters().keys(), std::vector<std::string>{"weight_coefficients"});
  layer->to(at::kDouble);
  EXPECT_LE(equivariance_error(*layer, at::randn({4, 6}, at::kDouble)), 1e-10);
}

TEST(ENorm, StockExportAndParameterCount) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular");
  auto ln = make_layer("eLayerNorm", rep);
  auto rms = make_layer("eRMSNorm", rep);
  // No stock equivalent (full commuting affine, invariant-part centring): an empty export list.
  EXPECT_TRUE(ln->effective_parameters().empty());
  EXPECT_TRUE(rms->effective_parameters().empty());
  EXPECT_EQ(ln->unconstrained_parameter_count(), 32);
  EXPECT_EQ(rms->unconstrained_parameter_count(), 16);
  EXPECT_EQ(make_layer("eLayerNorm", rep, "{elementwise_affine: false}")->unconstrained_parameter_count(), 0);
  EXPECT_TRUE(ln->in_rep()->same_content(*rep));
  EXPECT_TRUE(ln->out_rep()->same_content(*rep));
}

TEST(ENorm, EvalModeUnderNoGradMatchesTrainMode) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C2xD4"), "regular + trivial");
  auto layer = make_layer("eLayerNorm", rep);
  randomise(*layer, 5);
  const at::Tensor x = at::randn({3, rep->size()});
  const at::Tensor train_out = layer->forward(x).detach();
  layer->eval();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(layer->forward(x), train_out));
  EXPECT_TRUE(at::equal(layer->forward(x), train_out));  // from the cache
}

TEST(ENorm, Errors) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C5"), "regular");
  EXPECT_NE(
      error_text([&] {
        make_layer("eLayerNorm", rep, "{epz: 1.0}");
      }).find("eLayerNorm: unknown key 'epz' (did you mean 'eps'?); allowed keys: eps, elementwise_affine"),
      std::string::npos);
  EXPECT_NE(error_text([&] {
              make_layer("eRMSNorm", rep, "{eps: -1}");
            }).find("eRMSNorm: 'eps' must be >= 0, found -1"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              make_layer("eRMSNorm", rep, "{elementwise_affine: maybe}");
            }).find("elementwise_affine"),
            std::string::npos);
  auto layer = make_layer("eLayerNorm", rep);
  EXPECT_NE(error_text([&] {
              layer->forward(at::randn({2, 4}));
            }).find("eLayerNorm: expected input of shape (..., 5) for in_rep regular (size 5), got [2, 4]"),
            std::string::npos);
}

}  // namespace
