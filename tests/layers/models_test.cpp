// eMLP, iMLP and eTimeCNNEncoder (layers/models): exact equivariance / invariance on every element of C5, D4
// and Ico in float64 and float32 for regular, rotated and irrep-sum inputs; an oracle stack built here from
// eqnn's single layers (ELinear, EPointwise, ENormPool) and a stock torch Linear with the same parameters (≤
// 1e-12); the registry's (YAML) layer equal to the direct one; symm_learning's structure (net.{i} names,
// hidden sizes, dropout indices); the stock MLP's parameter count; the head's initialisation; and the errors.
#include <cmath>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>

#include "e_activation.hpp"
#include "e_conv.hpp"
#include "e_linear.hpp"
#include "e_mlp.hpp"
#include "e_norm.hpp"
#include "e_pooling.hpp"
#include "e_time_cnn_encoder.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::testing::contains;
using eqnn::testing::error_text;

class ModelsEquivariance : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

// Hidden widths per group: two hidden layers, the second not a multiple of |G| (rounded up).
std::vector<int64_t> widths(const eqnn::GroupPtr& g) {
  const int64_t n = g->order();
  return n >= 60 ? std::vector<int64_t>{n, n / 2} : std::vector<int64_t>{2 * n, n + 1};
}

eqnn::testing::EquivarianceSweep sweep(torch::nn::Module& m, int64_t d, bool invariant) {
  eqnn::testing::EquivarianceSweep s;
  s.inputs = [d](at::ScalarType t) { return eqnn::testing::random_inputs(d, t, 11); };
  s.prepare = [&m](at::ScalarType t) { m.to(t); };
  s.invariant = invariant;
  return s;
}

TEST_P(ModelsEquivariance, EMLPEveryElementEveryKind) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const RepPtr out = eqnn::parse_rep(g, "regular + trivial + irrep(1)");
  for (const std::string kind : {"regular", "rotated", "irreps"}) {
    const RepPtr in = eqnn::testing::make_kind(g, kind, 1);
    for (const std::string act : {"relu", "gelu", "tanh"}) {
      eqnn::EMLP mlp(eqnn::EMLPOptions(in, out, widths(g)).activation(act));
      eqnn::testing::randomise(*mlp, 3, 0.5);
      mlp->eval();
      eqnn::testing::ExpectEquivariant(*mlp, sweep(*mlp, in->size(), false),
                                       "eMLP " + GetParam().label + " " + kind + " " + act);
    }
  }
}

TEST_P(ModelsEquivariance, IMLPEveryElementEveryKind) {
  const auto g = eqnn::testing::group(GetParam().spec);
  for (const std::string kind : {"regular", "rotated", "irreps"}) {
    const RepPtr in = eqnn::testing::make_kind(g, kind, 1);
    eqnn::IMLP mlp(eqnn::IMLPOptions(in, 3, widths(g)).activation("silu"));
    eqnn::testing::randomise(*mlp, 5, 0.5);
    mlp->eval();
    EXPECT_EQ(mlp->out_rep()->size(), 3);
    eqnn::testing::ExpectEquivariant(*mlp, sweep(*mlp, in->size(), true),
                                     "iMLP " + GetParam().label + " " + kind);
  }
}

// A permutation hidden_rep other than the regular one (a named action of the group) keeps the stack exact.
TEST_P(ModelsEquivariance, PermutationHiddenRep) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const std::string spec =
      g->actions().empty() ? "regular + trivial" : "permutation(" + g->actions().front().name + ") + trivial";
  const RepPtr hidden = eqnn::parse_rep(g, spec);
  const RepPtr in = eqnn::testing::make_kind(g, "rotated", 1);
  eqnn::EMLP mlp(eqnn::EMLPOptions(in, in, {3 * hidden->size()}).hidden_rep(hidden));
  ASSERT_EQ(mlp->hidden_reps().size(), 1u);
  EXPECT_EQ(mlp->hidden_reps()[0]->size(), 3 * hidden->size());
  eqnn::testing::randomise(*mlp, 9, 0.5);
  eqnn::testing::ExpectEquivariant(*mlp, sweep(*mlp, in->size(), false),
                                   "eMLP hidden_rep " + GetParam().label);
}

// eTimeCNNEncoder: both heads, both downsampling modes, with and without the norm and the last frame; the
// group acts on the channels of (N, C, H).
TEST_P(ModelsEquivariance, TimeCNNEveryElement) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int64_t n = g->order();
  const RepPtr in = eqnn::testing::make_kind(g, "rotated", 1, 5);
  struct Case {
    std::string out, downsample;
    bool batch_norm, last;
  };
  for (const Case& c :
       {Case{"regular + irrep(1)", "stride", true, true}, Case{"2x trivial", "pooling", false, true},
        Case{"2x trivial", "stride", true, false}, Case{"regular", "pooling", true, false}}) {
    const RepPtr out = eqnn::parse_rep(g, c.out);
    const int64_t horizon = n >= 60 ? 4 : 7;
    eqnn::ETimeCNNEncoder enc(eqnn::ETimeCNNEncoderOptions(in, out, {n, n + 1}, horizon)
                                  .batch_norm(c.batch_norm)
                                  .downsample(c.downsample)
                                  .append_last_frame(c.last)
                                  .mlp_hidden({n})
                                  .activation("gelu"));
    eqnn::testing::randomise(*enc, 13, 0.5);
    enc->eval();
    EXPECT_EQ(enc->invariant_head(), c.out == "2x trivial");
    // f(ρ_in(g) x) over the channels of (N, C, H): the support's act on the last dimension, applied to the
    // transposed (N, H, C) input.
    eqnn::testing::EquivarianceSweep s;
    s.inputs = [&](at::ScalarType t) {
      return std::vector<at::Tensor>{at::randn({3, horizon, in->size()}, at::TensorOptions().dtype(t))};
    };
    s.prepare = [&](at::ScalarType t) { enc->to(t); };
    s.invariant = enc->invariant_head();
    auto f = [&](const at::Tensor& x) {
      at::NoGradGuard no_grad;
      return enc(x.transpose(1, 2));
    };
    eqnn::testing::ExpectEquivariant(
        f, *in, *out, s, "eTimeCNNEncoder " + GetParam().label + " " + c.out + " " + c.downsample);
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, ModelsEquivariance,
                         ::testing::Values(eqnn::testing::GroupCase{"C5", "C5"},
                                           eqnn::testing::GroupCase{"D4", "D4"},
                                           eqnn::testing::GroupCase{"Ico", "Ico"}),
                         [](const auto& info) { return info.param.label; });

// The oracle: the same stack composed here from the single layers, parameters copied by position.
TEST(Models, OracleStackFromSingleLayers) {
  for (const std::string spec : {"C5", "D4", "Ico"}) {
    const auto g = eqnn::testing::group(spec);
    const RepPtr in = eqnn::testing::make_kind(g, "rotated", 1, 3);
    const RepPtr out = eqnn::parse_rep(g, "2x regular");
    const std::vector<int64_t> units = widths(g);
    const RepPtr h0 =
        eqnn::parse_rep(g, std::to_string((units[0] + g->order() - 1) / g->order()) + "x regular");
    const RepPtr h1 =
        eqnn::parse_rep(g, std::to_string((units[1] + g->order() - 1) / g->order()) + "x regular");

    eqnn::EMLP mlp(eqnn::EMLPOptions(in, out, units).activation("elu"));
    eqnn::testing::randomise(*mlp, 21);
    mlp->to(at::kDouble);
    eqnn::ELinear l0(in, h0), l1(h0, h1), l2(h1, out);
    eqnn::EPointwise a0(eqnn::EPointwiseOptions(h0, "elu")), a1(eqnn::EPointwiseOptions(h1, "elu"));
    for (auto* l : {&l0, &l1, &l2}) (*l)->to(at::kDouble);
    eqnn::testing::copy_parameters(*mlp->net[0], *l0, spec + " net.0");
    eqnn::testing::copy_parameters(*mlp->net[2], *l1, spec + " net.2");
    eqnn::testing::copy_parameters(*mlp->net[4], *l2, spec + " net.4");
    const at::Tensor x = at::randn({7, in->size()}, at::kDouble);
    const at::Tensor expected = l2(a1(l1(a0(l0(x)))));
    EXPECT_LE((mlp(x) - expected).abs().max().item<double>(), 1e-12) << spec;

    eqnn::IMLP imlp(eqnn::IMLPOptions(in, 4, units));
    eqnn::testing::randomise(*imlp, 22);
    imlp->to(at::kDouble);
    eqnn::ELinear m0(in, h0), m1(h0, h1), m2(h1, h1);
    eqnn::EReLU r0{eqnn::EReLUOptions(h0)}, r1{eqnn::EReLUOptions(h1)};
    eqnn::ENormPool pool{eqnn::ENormPoolOptions(h1)};
    torch::nn::Linear head(torch::nn::LinearOptions(pool->out_rep()->size(), 4));
    for (auto* l : {&m0, &m1, &m2}) (*l)->to(at::kDouble);
    head->to(at::kDouble);
    eqnn::testing::copy_parameters(*imlp->net[0], *m0, spec + " imlp net.0");
    eqnn::testing::copy_parameters(*imlp->net[2], *m1, spec + " imlp net.2");
    eqnn::testing::copy_parameters(*imlp->net[4], *m2, spec + " imlp net.4");
    eqnn::testing::copy_parameters(*imlp->net[7], *head, spec + " imlp net.7");
    const at::Tensor inv = head(pool(r1(m2(r1(m1(r0(m0(x))))))));
    EXPECT_LE((imlp(x) - inv).abs().max().item<double>(), 1e-12) << spec;
    // The norm pool by its formula too: one norm per irreducible copy (here regular copies of h1).
    EXPECT_EQ(pool->out_rep()->size(), static_cast<int64_t>(h1->irreps().size()));
  }
}

// The oracle of eTimeCNNEncoder: the blocks, the flattening and the head composed here.
TEST(Models, TimeCNNOracleFromSingleLayers) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr in = eqnn::parse_rep(g, "regular + trivial");
  const RepPtr h0 = eqnn::parse_rep(g, "2x regular"), h1 = eqnn::parse_rep(g, "regular");
  const RepPtr out = eqnn::parse_rep(g, "irrep(4) + trivial");
  for (const std::string downsample : {"stride", "pooling"}) {
    eqnn::ETimeCNNEncoder enc(eqnn::ETimeCNNEncoderOptions(in, out, {16, 3}, 9)
                                  .batch_norm(true)
                                  .append_last_frame(true)
                                  .downsample(downsample)
                                  .mlp_hidden({12}));
    eqnn::testing::randomise(*enc, 31);
    enc->to(at::kDouble);
    const bool stride = downsample == "stride";
    eqnn::EConv1d c0(eqnn::EConv1dOptions(in, h0, 3).stride(stride ? 2 : 1).padding(1));
    eqnn::EConv1d c1(eqnn::EConv1dOptions(h0, h1, 3).stride(stride ? 2 : 1).padding(1));
    eqnn::ERMSNorm n0(eqnn::ERMSNormOptions(h0).eps(1e-6).affine("per_copy"));
    eqnn::ERMSNorm n1(eqnn::ERMSNormOptions(h1).eps(1e-6).affine("per_copy"));
    const int64_t frames = stride ? 3 : 2;  // 9 → 5 → 3, or 9 → 4 → 2
    EXPECT_EQ(enc->time_horizon_out(), frames);
    std::vector<RepPtr> parts(static_cast<size_t>(frames), h1);
    parts.push_back(in);
    const RepPtr head_rep = eqnn::Representation::direct_sum(parts);
    EXPECT_TRUE(enc->head_rep()->same_content(*head_rep));
    eqnn::EMLP head(eqnn::EMLPOptions(head_rep, out, {12}));
    for (torch::nn::Module* m :
         std::vector<torch::nn::Module*>{c0.get(), c1.get(), n0.get(), n1.get(), head.get()})
      m->to(at::kDouble);
    const size_t step = stride ? 3 : 4;  // conv, norm, act (, pool)
    eqnn::testing::copy_parameters(*enc->feature_layers[0], *c0, "conv 0");
    eqnn::testing::copy_parameters(*enc->feature_layers[1], *n0, "norm 0");
    eqnn::testing::copy_parameters(*enc->feature_layers[step], *c1, "conv 1");
    eqnn::testing::copy_parameters(*enc->feature_layers[step + 1], *n1, "norm 1");
    eqnn::testing::copy_parameters(*enc->head, *head, "head");
    const at::Tensor x = at::randn({4, in->size(), 9}, at::kDouble);
    auto block = [&](eqnn::EConv1d& conv, eqnn::ERMSNorm& norm, const at::Tensor& t) {
      at::Tensor y = norm(conv(t).transpose(1, 2)).transpose(1, 2);  // the norm on the channels
      y = at::relu(y);
      if (!stride) y = at::max_pool1d(y, {2}, {2});
      return y;
    };
    const at::Tensor f = block(c1, n1, block(c0, n0, x));
    const at::Tensor z = at::cat({f.permute({0, 2, 1}).reshape({4, -1}), x.select(2, -1)}, 1);
    EXPECT_LE((enc(x) - head(z)).abs().max().item<double>(), 1e-12) << downsample;
  }
}

TEST(Models, TimeCNNRegistryLayerIsFeaturesLast) {
  const auto g = eqnn::testing::group("C5");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  auto yaml = eqnn::testing::make_layer("eTimeCNNEncoder", in,
                                        "{out_rep: '3x trivial', hidden_channels: [10], time_horizon: 6, "
                                        "mlp_hidden: [5, 5], batch_norm: true}");
  eqnn::ETimeCNNEncoder direct(eqnn::ETimeCNNEncoderOptions(in, eqnn::parse_rep(g, "3x trivial"), {10}, 6)
                                   .mlp_hidden({5, 5})
                                   .batch_norm(true));
  eqnn::testing::copy_parameters(*direct, *yaml, "eTimeCNNEncoder");
  const at::Tensor x = at::randn({2, 5, 6});
  EXPECT_TRUE(at::allclose(yaml->forward(x.transpose(1, 2)), direct(x), 0, 1e-6));
  EXPECT_EQ(direct(x).sizes(), (std::vector<int64_t>{2, 3}));
  // symm_learning's names.
  std::vector<std::string> names;
  for (const auto& p : direct->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names.front(), "feature_layers.0.weight_coefficients");
  EXPECT_EQ(names[2], "feature_layers.1.weight");
  EXPECT_EQ(names.back(), "head.net.7.bias");
  // Unconstrained count: Conv1d(5, 10, 3) + RMSNorm scales (10) + the stock iMLP head on 3 frames x 10.
  EXPECT_EQ(direct->unconstrained_parameter_count(),
            (5 * 10 * 3 + 10) + 10 + (30 * 5 + 5) + (5 * 5 + 5) + (5 * 5 + 5) + (3 * 3 + 3));
}

TEST(Models, TimeCNNErrors) {
  const auto g = eqnn::testing::group("C5");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  auto make = [&](eqnn::ETimeCNNEncoderOptions o) {
    return error_text<eqnn::ConfigError>([&] { eqnn::ETimeCNNEncoder m(o); });
  };
  const eqnn::ETimeCNNEncoderOptions base(in, in, {8, 8}, 4);
  EXPECT_PRED2(contains, make(eqnn::ETimeCNNEncoderOptions(in, in, {8, 8, 8, 8}, 4).downsample("pooling")),
               "time_horizon 4 is too short for 4 'pooling' blocks");
  EXPECT_PRED2(contains, make(eqnn::ETimeCNNEncoderOptions(in, in, {8, 8, 8, 8}, 4).downsample("pooling")),
               "leaving 0 frames");
  EXPECT_PRED2(contains, make(eqnn::ETimeCNNEncoderOptions(base).downsample("pool")),
               "'downsample' must be 'stride'");
  EXPECT_PRED2(contains, make(eqnn::ETimeCNNEncoderOptions(in, in, {}, 4)), "'hidden_channels' must list");
  EXPECT_PRED2(contains, make(eqnn::ETimeCNNEncoderOptions(base).mlp_hidden({})),
               "eTimeCNNEncoder: 'mlp_hidden' must list at least one");
  EXPECT_PRED2(contains, make(eqnn::ETimeCNNEncoderOptions(base).activation("rel")),
               "unknown activation 'rel'");
  eqnn::ETimeCNNEncoder ok(base);
  EXPECT_PRED2(contains, error_text([&] {
                 ok(at::randn({2, 4, 5}));
               }),
               "expected input of shape (N, C, time_horizon) = (N, 5, 4)");
  EXPECT_PRED2(contains, error_text<eqnn::ConfigError>([&] {
                 eqnn::testing::make_layer("eTimeCNNEncoder", in, "{out_rep: regular, hidden_channels: [8]}");
               }),
               "time_horizon");
}

TEST(Models, RegistryLayerEqualsDirect) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr in = eqnn::parse_rep(g, "regular + trivial");
  auto yaml = eqnn::testing::make_layer(
      "eMLP", in,
      "{out_rep: '2x regular', hidden_units: [16, 9], activation: leaky_relu, init_scheme: xavier_uniform}");
  eqnn::EMLP direct(eqnn::EMLPOptions(in, eqnn::parse_rep(g, "2x regular"), {16, 9})
                        .activation("leaky_relu")
                        .init_scheme("xavier_uniform"));
  eqnn::testing::copy_parameters(*direct, *yaml, "eMLP");
  const at::Tensor x = at::randn({5, in->size()});
  EXPECT_TRUE(at::equal(yaml->forward(x), direct(x)));

  auto iyaml = eqnn::testing::make_layer("iMLP", in, "{out_dim: 2, hidden_units: [8], bias: false}");
  eqnn::IMLP idirect(eqnn::IMLPOptions(in, 2, {8}).bias(false));
  eqnn::testing::copy_parameters(*idirect, *iyaml, "iMLP");
  EXPECT_TRUE(at::equal(iyaml->forward(x), idirect(x)));
  EXPECT_FALSE(idirect->head->bias.defined());
}

TEST(Models, SymmLearningStructure) {
  const auto g = eqnn::testing::group("C5");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  // Hidden copies max(1, ceil(u / 5)): 64 → 13 copies (65), 3 → 1 copy (5).
  eqnn::EMLP mlp(eqnn::EMLPOptions(in, eqnn::parse_rep(g, "2x regular"), {64, 3}).dropout(0.25));
  ASSERT_EQ(mlp->hidden_reps().size(), 2u);
  EXPECT_EQ(mlp->hidden_reps()[0]->size(), 65);
  EXPECT_EQ(mlp->hidden_reps()[1]->size(), 5);
  // [lin, act, drop] x 2, lin: 7 entries; the parameters at net.0, net.3, net.6 as symm_learning's.
  EXPECT_EQ(mlp->net->size(), 7u);
  std::vector<std::string> names;
  for (const auto& p : mlp->named_parameters()) names.push_back(p.key());
  EXPECT_EQ(names, (std::vector<std::string>{"net.0.weight_coefficients", "net.0.bias_coefficients",
                                             "net.3.weight_coefficients", "net.3.bias_coefficients",
                                             "net.6.weight_coefficients", "net.6.bias_coefficients"}));
  // Dropout acts in train mode only.
  const at::Tensor x = at::randn({64, 5});
  mlp->eval();
  EXPECT_TRUE(at::equal(mlp(x), mlp(x)));
  mlp->train();
  EXPECT_FALSE(at::equal(mlp(x), mlp(x)));

  // iMLP: [lin, act] x 2, lin(h, h), act, pool, head: net.0 .. net.7.
  eqnn::IMLP imlp(eqnn::IMLPOptions(in, 3, {64, 64}));
  EXPECT_EQ(imlp->net->size(), 8u);
  EXPECT_EQ(imlp->head->weight.sizes(), (std::vector<int64_t>{3, 13 * 3}));  // C5 regular: 3 irreps per copy
  EXPECT_EQ(imlp->out_rep()->describe(), eqnn::Representation::trivial(g, 3)->describe());
}

TEST(Models, UnconstrainedParameterCountIsTheStockMLP) {
  const auto g = eqnn::testing::group("C5");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  eqnn::EMLP mlp(eqnn::EMLPOptions(in, eqnn::parse_rep(g, "2x regular"), {64, 64}));
  // 5 → 65 → 65 → 10 with biases.
  EXPECT_EQ(mlp->unconstrained_parameter_count(), (5 * 65 + 65) + (65 * 65 + 65) + (65 * 10 + 10));
  eqnn::IMLP imlp(eqnn::IMLPOptions(in, 2, {64, 64}));
  // 5 → 65 → 65 → 65, then the head 39 → 2.
  EXPECT_EQ(imlp->unconstrained_parameter_count(), (5 * 65 + 65) + 2 * (65 * 65 + 65) + (39 * 2 + 2));
}

TEST(Models, HeadInitialisation) {
  const auto g = eqnn::testing::group("C5");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  at::manual_seed(0);
  // zeros: every eLinear starts at zero, the head keeps torch's default (as symm_learning).
  eqnn::IMLP zeros(eqnn::IMLPOptions(in, 4, {200}).init_scheme("zeros"));
  for (size_t i : {0u, 2u})
    for (const auto& p : zeros->net[i]->parameters()) EXPECT_EQ(p.abs().max().item<double>(), 0.0);
  const double bound = 1.0 / std::sqrt(static_cast<double>(zeros->head->weight.size(1)));
  EXPECT_LE(zeros->head->weight.abs().max().item<double>(), bound);
  EXPECT_GT(zeros->head->weight.abs().max().item<double>(), 0.0);
  // xavier_normal: the head's weight has variance 2 / (fan_in + fan_out).
  eqnn::IMLP xavier(eqnn::IMLPOptions(in, 40, {1000}).init_scheme("xavier_normal"));
  const auto& w = xavier->head->weight;
  const double expected = 2.0 / static_cast<double>(w.size(0) + w.size(1));
  EXPECT_NEAR(w.pow(2).mean().item<double>(), expected, 0.15 * expected);
}

TEST(Models, Errors) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  auto emlp = [&](eqnn::EMLPOptions o) { return error_text<eqnn::ConfigError>([&] { eqnn::EMLP m(o); }); };
  const eqnn::EMLPOptions base(in, in, {16});
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(in, in, {})), "'hidden_units' must list at least one");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(in, in, {8, 0})), "found 0 at index 1");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(base).activation("rleu")), "unknown activation 'rleu'");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(base).activation("rleu")), "did you mean 'relu'");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(base).dropout(1.5)), "'dropout' must be in [0, 1]");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(base).init_scheme("xavier")), "eMLP: ");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(in, nullptr, {8})), "out_rep is required");
  const std::string irreps =
      emlp(eqnn::EMLPOptions(base).hidden_rep(eqnn::parse_rep(g, "irrep(4) + irrep(1)")));
  EXPECT_PRED2(contains, irreps, "is not a permutation representation");
  EXPECT_PRED2(contains, irreps, "eNormNonlinearity or eGatedNonlinearity");
  const std::string rotated =
      emlp(eqnn::EMLPOptions(base).hidden_rep(eqnn::testing::random_basis(eqnn::parse_rep(g, "regular"), 4)));
  EXPECT_PRED2(contains, rotated, "is not a permutation representation");
  const auto c4 = eqnn::testing::group("C4");
  EXPECT_PRED2(contains, emlp(eqnn::EMLPOptions(in, eqnn::parse_rep(c4, "regular"), {8})),
               "out_rep is a representation of C4");
  EXPECT_PRED2(contains, error_text<eqnn::ConfigError>([&] { eqnn::IMLP m(eqnn::IMLPOptions(in, 0, {8})); }),
               "iMLP: 'out_dim' must be >= 1, found 0");

  // YAML: errors located at the key.
  auto yaml = [&](const std::string& type, const std::string& kwargs) {
    return error_text<eqnn::ConfigError>([&] { eqnn::testing::make_layer(type, in, kwargs); });
  };
  EXPECT_PRED2(contains, yaml("eMLP", "{out_rep: regular}"), "missing required key 'hidden_units'");
  EXPECT_PRED2(contains, yaml("eMLP", "{hidden_units: [8]}"), "missing required key 'out_rep'");
  EXPECT_PRED2(contains, yaml("eMLP", "{out_rep: regular, hidden_units: 8}"), "must be a list of widths");
  EXPECT_PRED2(contains, yaml("eMLP", "{out_rep: regular, hidden_units: [8, x]}"), "at index 1");
  EXPECT_PRED2(contains, yaml("eMLP", "{out_rep: regular, hidden_units: [8], activaton: relu}"), "activaton");
  const std::string located = yaml("iMLP", "{out_dim: 2,\n hidden_units: [8],\n activation: sigmod}");
  EXPECT_PRED2(contains, located, "unknown activation 'sigmod'");
  EXPECT_EQ(eqnn::testing::error_text([&] {
              try {
                eqnn::testing::make_layer("iMLP", in,
                                          "{out_dim: 2,\n hidden_units: [8],\n activation: sigmod}");
              } catch (const eqnn::ConfigError& e) {
                throw std::runtime_error(std::to_string(e.line()));
              }
            }),
            "3");
  EXPECT_PRED2(contains, yaml("iMLP", "{out_dim: 0, hidden_units: [8]}"), "out_dim");
  EXPECT_PRED2(contains, yaml("iMLP", "{out_dim: 2, hidden_units: [8], hidden_rep: 'irrep(1)'}"),
               "is not a permutation representation");
}

TEST(Models, ForwardShapeErrorNamesTheLayer) {
  const auto g = eqnn::testing::group("C5");
  eqnn::EMLP mlp(eqnn::EMLPOptions(eqnn::parse_rep(g, "regular"), eqnn::parse_rep(g, "regular"), {5}));
  EXPECT_PRED2(contains, error_text([&] {
                 mlp(at::randn({2, 6}));
               }),
               "eMLP: expected input of shape (..., 5)");
  // Batched (2, 3, D) and unbatched (D) inputs as every eqnn layer.
  EXPECT_EQ(mlp(at::randn({2, 3, 5})).sizes(), (std::vector<int64_t>{2, 3, 5}));
  EXPECT_EQ(mlp(at::randn({5})).sizes(), (std::vector<int64_t>{5}));
}

}  // namespace
