// eConditionalResidualBlock1D and eConditionalUnet1D (layers/models/e_conditional_unet1d.*): exact
// equivariance on every element of C2, C5, D4 and Ico acting on (x, local_cond, global_cond) (the step is
// invariant) in float64 and float32, both layouts and both downsampling modes; the block against an oracle
// assembled here from the single layers it composes (EConv1d, ERMSNorm, EPointwise, ENormPool, a stock
// Linear, EAffine in FiLM mode) with copied parameters (≤ 1e-12); sinusoidal_embedding against its closed
// form; the lengths of both layouts (the diffusion_policy one keeps the length; the symm_learning_0.8.1 one
// gives symm_learning 0.8.1's lengths, recorded from it: 13 -> 7, 14 -> 7, 16 fails (stride); 13 -> 6,
// 14 fails, 16 -> 8 (pooling), for 3 levels); symm_learning's child names; the YAML layer equal to the
// direct one; residual_conv "always" (the block and the U-Net keep a learned residual convolution between
// equal reps: equivariance on C2, C5, D4 and Ico, the block against the stock 1x1 convolution); and every
// error message.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include "e_activation.hpp"
#include "e_affine.hpp"
#include "e_conditional_unet1d.hpp"
#include "e_conv.hpp"
#include "e_norm.hpp"
#include "e_pooling.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "sinusoidal_embedding.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::testing::contains;
using eqnn::testing::error_text;
using Unet = eqnn::EConditionalUnet1DImpl;
using Options = eqnn::EConditionalUnet1DOptions;

// The largest |f(g·x, g·l, g·c, t) − g·f(x, l, c, t)| over every element, relative to max |f|; x (N, L, D)
// and l features last.
double unet_error(Unet& unet, at::ScalarType dtype, int64_t length, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto& o = unet.options;
  const int64_t n = 3;
  const at::Tensor x = at::randn({n, length, o.in_rep()->size()}, gen, at::TensorOptions().dtype(dtype));
  const at::Tensor t = at::rand({n}, gen, at::TensorOptions().dtype(dtype)) * 100;
  at::Tensor local, global;
  if (o.local_cond_rep())
    local = at::randn({n, length, o.local_cond_rep()->size()}, gen, at::TensorOptions().dtype(dtype));
  if (o.global_cond_rep())
    global = at::randn({n, o.global_cond_rep()->size()}, gen, at::TensorOptions().dtype(dtype));
  const at::Tensor y = unet.forward(x, t, local, global);
  EXPECT_TRUE(at::isfinite(y).all().item<bool>());
  const double scale = y.abs().max().item<double>();
  EXPECT_GT(scale, 1e-3);
  const at::Tensor rin = eqnn::testing::rep_matrices(*o.in_rep(), dtype);
  at::Tensor rl, rg;
  if (local.defined()) rl = eqnn::testing::rep_matrices(*o.local_cond_rep(), dtype);
  if (global.defined()) rg = eqnn::testing::rep_matrices(*o.global_cond_rep(), dtype);
  double worst = 0;
  for (int64_t g = 0; g < rin.size(0); ++g) {
    const at::Tensor fgx = unet.forward(eqnn::testing::act(rin[g], x), t,
                                        local.defined() ? eqnn::testing::act(rl[g], local) : local,
                                        global.defined() ? eqnn::testing::act(rg[g], global) : global);
    worst = std::max(worst, (fgx - eqnn::testing::act(rin[g], y)).abs().max().item<double>() / scale);
  }
  return worst;
}

struct UnetCase {
  std::string group;
  std::vector<int64_t> down_dims;
  int64_t embed;
};

class UnetEquivariance : public ::testing::TestWithParam<UnetCase> {};

// Every element, float64 and float32, both layouts and downsampling modes, local and global conditioning on
// mixed reps (a sum of irreps with trivial parts, a rotated regular rep), randomised parameters.
TEST_P(UnetEquivariance, EveryElement) {
  const auto& c = GetParam();
  const auto g = eqnn::testing::group(c.group);
  const RepPtr in = eqnn::testing::make_kind(g, "rotated", 1);
  const RepPtr local = eqnn::testing::make_kind(g, "irreps", 1);
  const RepPtr global = eqnn::Representation::direct_sum(
      {eqnn::parse_rep(g, "2x regular"), eqnn::Representation::trivial(g, 1)});
  const auto n = static_cast<int64_t>(c.down_dims.size());
  for (const std::string layout : {"diffusion_policy", "symm_learning_0.8.1"}) {
    for (const std::string down : {"stride", "pooling"}) {
      const bool dp = layout == "diffusion_policy";
      Options o(in, dp ? local : nullptr, global);
      o.diffusion_step_embed_dim(c.embed)
          .down_dims(c.down_dims)
          .downsample(down)
          .layout(layout)
          .activation("mish");
      Unet unet(o);
      eqnn::testing::randomise(unet, 5, 0.3);
      // Lengths that run: a multiple of 2^(n−1) (diffusion_policy); symm_learning's valid ones.
      const int64_t length = dp ? (int64_t{1} << (n - 1)) * 3 : (down == "stride" ? 13 : 16);
      if (!dp) ASSERT_EQ(unet.length_problem(length), "") << layout << " " << down;
      for (const auto dtype : eqnn::testing::float_dtypes()) {
        unet.to(dtype);
        for (const bool train : {false, true}) {
          unet.train(train);
          const double err = unet_error(unet, dtype, length, 3);
          EXPECT_LE(err, eqnn::testing::tolerance(dtype))
              << c.group << " " << layout << " " << down << " " << c10::toString(dtype) << " train " << train;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, UnetEquivariance,
                         ::testing::Values(UnetCase{"C2", {4, 8, 12}, 8}, UnetCase{"C5", {5, 10, 10}, 8},
                                           UnetCase{"D4", {8, 16}, 6}, UnetCase{"Ico", {60}, 4}),
                         [](const auto& info) { return info.param.group; });

// The block: equivariant on every element of D4 for a rotated input, a sum-of-irreps output (so
// residual_conv is used) and a conditioning vector with trivial and non-trivial parts.
TEST(UnetBlock, EquivariantEveryElement) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr in = eqnn::testing::make_kind(g, "rotated", 1);
  const RepPtr out = eqnn::parse_rep(g, "2x regular");
  const RepPtr cond = eqnn::parse_rep(g, "regular + 2x trivial + irrep(1)");
  eqnn::EConditionalResidualBlock1D block(
      eqnn::EConditionalResidualBlock1DOptions(in, out, cond).kernel_size(5));
  eqnn::testing::randomise(*block, 9, 0.5);
  for (const auto dtype : eqnn::testing::float_dtypes()) {
    block->to(dtype);
    at::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(4);
    const at::Tensor x = at::randn({2, 7, in->size()}, gen, at::TensorOptions().dtype(dtype));
    const at::Tensor c = at::randn({2, cond->size()}, gen, at::TensorOptions().dtype(dtype));
    const at::Tensor y = block->forward(x, c);
    const at::Tensor ri = eqnn::testing::rep_matrices(*in, dtype),
                     ro = eqnn::testing::rep_matrices(*out, dtype),
                     rc = eqnn::testing::rep_matrices(*cond, dtype);
    double worst = 0;
    for (int64_t e = 0; e < ri.size(0); ++e) {
      const at::Tensor fg = block->forward(eqnn::testing::act(ri[e], x), eqnn::testing::act(rc[e], c));
      worst = std::max(worst, (fg - eqnn::testing::act(ro[e], y)).abs().max().item<double>());
    }
    EXPECT_LE(worst / y.abs().max().item<double>(), eqnn::testing::tolerance(dtype)) << c10::toString(dtype);
  }
  EXPECT_TRUE(block->residual_conv != nullptr);
  eqnn::EConditionalResidualBlock1D same(eqnn::EConditionalResidualBlock1DOptions(out, out, cond));
  EXPECT_TRUE(same->residual_conv == nullptr);
}

// residual_conv "always" (symm_learning's learned residual convolution between reps with the same matrices):
// the block from a rep to itself (a permutation rep: regular, 2x regular, a permutation action + trivial, as
// the pointwise activation needs) keeps a learned 1x1 convolution,
// is equivariant on every element in float64 and float32, and differs from the "auto" block with the same
// other parameters by exactly conv1x1(x) − x (the stock convolution with the layer's effective weight).
struct BlockCase {
  std::string group;
  std::string rep;
};
class UnetBlockResidualAlways : public ::testing::TestWithParam<BlockCase> {};

TEST_P(UnetBlockResidualAlways, EquivariantAndOracle) {
  const auto& bc = GetParam();
  const auto g = eqnn::testing::group(bc.group);
  const RepPtr rep = eqnn::parse_rep(g, bc.rep);
  const RepPtr cond = eqnn::parse_rep(g, "regular + trivial");
  using BlockOptions = eqnn::EConditionalResidualBlock1DOptions;
  eqnn::EConditionalResidualBlock1D always(BlockOptions(rep, rep, cond).residual_conv("always"));
  eqnn::EConditionalResidualBlock1D plain(BlockOptions(rep, rep, cond));
  ASSERT_TRUE(always->residual_conv != nullptr);
  ASSERT_TRUE(plain->residual_conv == nullptr);
  eqnn::testing::randomise(*always, 11, 0.5);
  // The "auto" block gets every parameter of the "always" one but the residual convolution.
  {
    at::NoGradGuard no_grad;
    const auto from = always->named_parameters();
    for (auto& p : plain->named_parameters()) p.value().copy_(from[p.key()]);
  }
  EXPECT_EQ(always->unconstrained_parameter_count(),
            plain->unconstrained_parameter_count() + always->residual_conv->unconstrained_parameter_count());
  for (const auto dtype : eqnn::testing::float_dtypes()) {
    always->to(dtype);
    plain->to(dtype);
    at::NoGradGuard no_grad;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    const at::Tensor x = at::randn({2, 6, rep->size()}, gen, at::TensorOptions().dtype(dtype));
    const at::Tensor c = at::randn({2, cond->size()}, gen, at::TensorOptions().dtype(dtype));
    const at::Tensor y = always->forward(x, c);
    const double scale = y.abs().max().item<double>();
    const at::Tensor r = eqnn::testing::rep_matrices(*rep, dtype),
                     rc = eqnn::testing::rep_matrices(*cond, dtype);
    double worst = 0;
    for (int64_t e = 0; e < r.size(0); ++e) {
      const at::Tensor fg = always->forward(eqnn::testing::act(r[e], x), eqnn::testing::act(rc[e], c));
      worst = std::max(worst, (fg - eqnn::testing::act(r[e], y)).abs().max().item<double>() / scale);
    }
    EXPECT_LE(worst, eqnn::testing::tolerance(dtype))
        << bc.group << " " << bc.rep << " " << c10::toString(dtype);
    // Oracle: the stock 1x1 convolution with the layer's effective weight, on (N, C, L).
    at::Tensor weight, bias;
    for (const auto& [name, t] : always->residual_conv->effective_parameters()) {
      if (name == "weight") weight = t;
      if (name == "bias") bias = t;
    }
    ASSERT_TRUE(weight.defined());
    ASSERT_EQ(weight.sizes(), (std::vector<int64_t>{rep->size(), rep->size(), 1}));
    const at::Tensor res = at::conv1d(x.transpose(1, 2), weight, bias).transpose(1, 2);
    const double diff = (y - plain->forward(x, c) - (res - x)).abs().max().item<double>() / scale;
    EXPECT_LE(diff, eqnn::testing::tolerance(dtype))
        << bc.group << " " << bc.rep << " " << c10::toString(dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, UnetBlockResidualAlways,
                         ::testing::Values(BlockCase{"C2", "regular"}, BlockCase{"C5", "2x regular"},
                                           BlockCase{"D4", "permutation(vertices) + trivial"},
                                           BlockCase{"Ico", "regular"}),
                         [](const auto& info) { return info.param.group; });

// The U-Net with residual_conv "always" and down_dims[0] = in_rep's size (a regular sample, so the first
// block maps a rep to the same one) and a local conditioning rep equal to the first hidden rep: the blocks
// that change representation (local_cond_encoder's, each res1) hold a residual convolution, res2 and the mid
// blocks do not; equivariant on every element of C2, C5, D4 and Ico in float64 and float32, both layouts.
class UnetResidualAlways : public ::testing::TestWithParam<UnetCase> {};

TEST_P(UnetResidualAlways, EveryElement) {
  const auto& c = GetParam();
  const auto g = eqnn::testing::group(c.group);
  const auto n = static_cast<int64_t>(c.down_dims.size());
  const int64_t copies = c.down_dims[0] / g->order();
  const RepPtr in = eqnn::parse_rep(g, std::to_string(copies) + "x regular");
  const RepPtr global = eqnn::parse_rep(g, "regular + trivial");
  for (const std::string layout : {"diffusion_policy", "symm_learning_0.8.1"}) {
    const bool dp = layout == "diffusion_policy";
    Options o(in, dp ? in : nullptr, global);
    o.diffusion_step_embed_dim(c.embed).down_dims(c.down_dims).layout(layout).residual_conv("always");
    Unet unet(o);
    Unet plain(Options(o).residual_conv("auto"));
    ASSERT_TRUE(unet.hidden_reps()[1]->same_content(*in));
    EXPECT_TRUE(plain.hidden_reps()[1]->same_content(*in));
    std::vector<std::string> with, without;
    for (const auto& m : unet.named_modules("", /*include_self=*/false)) {
      auto* b = dynamic_cast<eqnn::EConditionalResidualBlock1DImpl*>(m.value().get());
      if (b) (b->residual_conv ? with : without).push_back(m.key());
    }
    std::vector<std::string> want_with, want_without;
    if (dp) want_with = {"local_cond_encoder.0", "local_cond_encoder.1"};
    for (int64_t i = 0; i < n; ++i) {
      want_with.push_back("down_modules." + std::to_string(i) + ".0");
      want_without.push_back("down_modules." + std::to_string(i) + ".1");
    }
    want_without.insert(want_without.end(), {"mid_modules.0", "mid_modules.1"});
    for (int64_t j = 0; j + 1 < n; ++j) {
      want_with.push_back("up_modules." + std::to_string(j) + ".0");
      want_without.push_back("up_modules." + std::to_string(j) + ".1");
    }
    std::sort(with.begin(), with.end());
    std::sort(want_with.begin(), want_with.end());
    std::sort(without.begin(), without.end());
    std::sort(want_without.begin(), want_without.end());
    EXPECT_EQ(with, want_with) << c.group << " " << layout;
    EXPECT_EQ(without, want_without) << c.group << " " << layout;
    for (const auto& m :
         plain.named_modules("", /*include_self=*/false))  // "auto": x itself where the reps are equal
      if (m.key() == "down_modules.0.0")
        EXPECT_EQ(dynamic_cast<eqnn::EConditionalResidualBlock1DImpl&>(*m.value()).residual_conv, nullptr);
    EXPECT_GT(unet.unconstrained_parameter_count(), plain.unconstrained_parameter_count());
    eqnn::testing::randomise(unet, 6, 0.3);
    const int64_t length = dp ? (int64_t{1} << (n - 1)) * 3 : 13;
    ASSERT_EQ(unet.length_problem(length), "") << layout;
    for (const auto dtype : eqnn::testing::float_dtypes()) {
      unet.to(dtype);
      const double err = unet_error(unet, dtype, length, 8);
      EXPECT_LE(err, eqnn::testing::tolerance(dtype))
          << c.group << " " << layout << " " << c10::toString(dtype);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, UnetResidualAlways,
                         ::testing::Values(UnetCase{"C2", {2, 4, 4}, 8}, UnetCase{"C5", {5, 10}, 8},
                                           UnetCase{"D4", {8, 16}, 6}, UnetCase{"Ico", {60}, 4}),
                         [](const auto& info) { return info.param.group; });

// The block against an oracle built here from the single layers with the block's parameters copied in:
// o = act(n1(conv1 x)); f = mish(Linear(ENormPool(c))); o = FiLM(o, f[:copies], f[copies:]);
// o = act(n2(conv2 o)); y = o + residual_conv x.
TEST(UnetBlock, MatchesOracleOfSingleLayers) {
  const auto g = eqnn::testing::group("C5");
  const RepPtr in = eqnn::parse_rep(g, "regular + trivial");
  const RepPtr out = eqnn::parse_rep(g, "2x regular");
  const RepPtr cond = eqnn::parse_rep(g, "regular + 3x trivial");
  for (const bool normalize : {true, false}) {
    eqnn::EConditionalResidualBlock1D block(
        eqnn::EConditionalResidualBlock1DOptions(in, out, cond).activation("gelu").normalize(normalize));
    block->to(at::kDouble);
    eqnn::testing::randomise(*block, 2, 0.5);
    eqnn::EConv1d conv1(eqnn::EConv1dOptions(in, out, 3).padding(1)),
        conv2(eqnn::EConv1dOptions(out, out, 3).padding(1)), res(eqnn::EConv1dOptions(in, out, 1));
    eqnn::ERMSNorm n1(eqnn::ERMSNormOptions(out).eps(1e-6).affine("per_copy")),
        n2(eqnn::ERMSNormOptions(out).eps(1e-6).affine("per_copy"));
    eqnn::EPointwise act(eqnn::EPointwiseOptions(out, "gelu"));
    eqnn::ENormPool pool{eqnn::ENormPoolOptions(cond)};
    eqnn::EAffine film(eqnn::EAffineOptions(out).learnable(false));
    torch::nn::Linear lin(pool->out_rep()->size(), film->num_copies() + film->num_trivial());
    for (torch::nn::Module* m :
         std::vector<torch::nn::Module*>{conv1.get(), conv2.get(), res.get(), n1.get(), n2.get(), lin.get()})
      m->to(at::kDouble);
    eqnn::testing::copy_parameters(*block->conv1, *conv1, "conv1");
    eqnn::testing::copy_parameters(*block->conv2, *conv2, "conv2");
    eqnn::testing::copy_parameters(*block->residual_conv, *res, "residual_conv");
    if (normalize) {
      eqnn::testing::copy_parameters(*block->norm1, *n1, "norm1");
      eqnn::testing::copy_parameters(*block->norm2, *n2, "norm2");
    }
    eqnn::testing::copy_parameters(*block->cond_encoder[1], *lin, "cond_encoder.1");
    at::NoGradGuard no_grad;
    const at::Tensor x = at::randn({3, 6, in->size()}, at::kDouble);
    const at::Tensor c = at::randn({3, cond->size()}, at::kDouble);
    const auto channels = [](auto& layer, const at::Tensor& v) {  // the conv on (N, C, L)
      return layer->forward(v.transpose(1, 2)).transpose(1, 2);
    };
    at::Tensor o = channels(conv1, x);
    if (normalize) o = n1->forward(o);
    o = act->forward(o);
    const at::Tensor f = at::mish(lin->forward(pool->forward(c)));
    const int64_t k = film->num_copies();
    o = film->forward(o, f.slice(1, 0, k).unsqueeze(1), f.slice(1, k).unsqueeze(1));
    o = channels(conv2, o);
    if (normalize) o = n2->forward(o);
    o = act->forward(o) + channels(res, x);
    EXPECT_LE((block->forward(x, c) - o).abs().max().item<double>(), 1e-12) << "normalize " << normalize;
  }
}

// diffusion_policy's SinusoidalPosEmb in closed form: [sin(t f_i)]_i ++ [cos(t f_i)]_i, f_i = 10⁴^(−i/(h−1)).
TEST(UnetStepEmbedding, ClosedForm) {
  const std::vector<double> steps{0.0, 1.0, 7.5, 99.0};
  for (const int64_t dim : {2, 4, 16}) {
    const at::Tensor emb = eqnn::sinusoidal_embedding(at::tensor(steps, at::kDouble), dim);
    ASSERT_EQ(emb.sizes(), (std::vector<int64_t>{4, dim}));
    const int64_t half = dim / 2;
    double worst = 0;
    for (size_t s = 0; s < steps.size(); ++s)
      for (int64_t i = 0; i < half; ++i) {
        const double f =
            std::pow(10000.0, -static_cast<double>(i) / static_cast<double>(std::max<int64_t>(half - 1, 1)));
        worst = std::max(worst, std::abs(emb[s][i].item<double>() - std::sin(steps[s] * f)));
        worst = std::max(worst, std::abs(emb[s][half + i].item<double>() - std::cos(steps[s] * f)));
      }
    EXPECT_LE(worst, 1e-12) << dim;
  }
  EXPECT_TRUE(contains(error_text<c10::Error>([] { eqnn::sinusoidal_embedding(at::ones({2}), 5); }), "even"));
}

// diffusion_policy layout: the output has the input's length for every multiple of 2^(n−1); the
// symm_learning layout reproduces symm_learning 0.8.1's lengths (recorded from it).
TEST(UnetLengths, BothLayouts) {
  const auto g = eqnn::testing::group("C2");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  for (const std::string down : {"stride", "pooling"}) {
    Unet unet(Options(in).diffusion_step_embed_dim(4).down_dims({2, 4, 4}).downsample(down));
    EXPECT_EQ(unet.sequence_length_multiple(), 4);
    for (const int64_t length : {4, 8, 12, 16}) {
      EXPECT_EQ(unet.output_length(length), length);
      const at::Tensor y = unet.forward_with(at::randn({2, length, 2}), {at::scalar_tensor(3)});
      EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, length, 2})) << down << " " << length;
    }
    for (const int64_t length : {13, 14}) {
      const std::string e = error_text<c10::Error>([&] {
        unet.forward_with(at::randn({2, length, 2}), {at::scalar_tensor(3)});
      });
      EXPECT_TRUE(contains(e, "multiple of 2^(levels - 1) = 4")) << e;
      EXPECT_TRUE(contains(e, "got " + std::to_string(length) + "; pad it to 16")) << e;
    }
    Unet sl(Options(in).diffusion_step_embed_dim(4).down_dims({2, 4, 4}).downsample(down).layout(
        "symm_learning_0.8.1"));
    EXPECT_EQ(sl.sequence_length_multiple(), 1);
    const std::vector<std::pair<int64_t, int64_t>> ok =
        down == "stride" ? std::vector<std::pair<int64_t, int64_t>>{{13, 7}, {14, 7}}
                         : std::vector<std::pair<int64_t, int64_t>>{{13, 6}, {16, 8}};
    for (const auto& [length, out] : ok) {
      const at::Tensor y = sl.forward_with(at::randn({2, length, 2}), {at::scalar_tensor(3)});
      EXPECT_EQ(y.size(1), out) << down << " " << length;
    }
    const int64_t bad = down == "stride" ? 16 : 14;
    const std::string e = error_text<c10::Error>([&] {
      sl.forward_with(at::randn({2, bad, 2}), {at::scalar_tensor(3)});
    });
    EXPECT_TRUE(contains(e, "layout 'symm_learning_0.8.1' cannot take length " + std::to_string(bad))) << e;
    EXPECT_TRUE(contains(e, down == "stride" ? "upsampled length 7 does not match the skip's 8"
                                             : "upsampled length 6 does not match the skip's 7"))
        << e;
  }
}

// symm_learning's child names (the converter maps its state dicts by name) and the hidden sizes.
TEST(UnetStructure, SymmLearningNames) {
  const auto g = eqnn::testing::group("C5");
  Unet unet(
      Options(eqnn::parse_rep(g, "regular"), eqnn::parse_rep(g, "irrep(1)"), eqnn::parse_rep(g, "regular"))
          .diffusion_step_embed_dim(4)
          .down_dims({5, 7}));
  std::vector<std::string> names;
  for (const auto& p : unet.named_parameters()) names.push_back(p.key());
  for (const std::string want :
       {"diffusion_step_encoder.1.weight", "diffusion_step_encoder.3.bias",
        "local_cond_encoder.0.conv1.weight_coefficients",
        "local_cond_encoder.1.residual_conv.weight_coefficients", "down_modules.0.0.cond_encoder.1.weight",
        "down_modules.0.0.norm1.weight", "down_modules.0.2.weight_coefficients",
        "mid_modules.1.conv2.bias_coefficients", "up_modules.0.0.residual_conv.weight_coefficients",
        "up_modules.0.2.weight_coefficients", "final_conv.0.weight_coefficients", "final_conv.1.weight",
        "final_conv.3.weight_coefficients"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  EXPECT_EQ(unet.hidden_reps()[2]->size(), 10);  // ⌈7/5⌉ copies of the regular rep
  EXPECT_EQ(unet.cond_rep()->size(), 5 + 4);
}

// The YAML layer equals the direct one with the same parameters; Layer::forward(x) alone is refused.
TEST(UnetYaml, MatchesDirectLayer) {
  const auto g = eqnn::testing::group("C2");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  auto layer = eqnn::testing::make_layer(
      "eConditionalUnet1D", in,
      "{global_cond_rep: '2x regular', local_cond_rep: 'regular + trivial', diffusion_step_embed_dim: 8, "
      "down_dims: [4, 8], kernel_size: 5, activation: mish, downsample: pooling}");
  Unet direct(Options(in, eqnn::parse_rep(g, "regular + trivial"), eqnn::parse_rep(g, "2x regular"))
                  .diffusion_step_embed_dim(8)
                  .down_dims({4, 8})
                  .kernel_size(5)
                  .activation("mish")
                  .downsample("pooling"));
  eqnn::testing::randomise(direct, 1, 0.5);
  eqnn::testing::copy_parameters(direct, *layer, "yaml");
  auto* yaml = dynamic_cast<Unet*>(layer.get());
  ASSERT_NE(yaml, nullptr);
  const at::Tensor x = at::randn({2, 6, 2}), t = at::tensor({3.0F, 40.0F}), l = at::randn({2, 6, 3}),
                   c = at::randn({2, 4});
  EXPECT_TRUE(at::equal(yaml->forward_with(x, {t, l, c}), direct.forward_with(x, {t, l, c})));
  const auto spec = yaml->extra_inputs();
  ASSERT_EQ(spec.size(), 3U);
  EXPECT_EQ(spec[0].name, "timestep");
  EXPECT_EQ(spec[1].name, "local_cond");
  EXPECT_EQ(spec[2].name, "global_cond");
  EXPECT_TRUE(
      contains(error_text<c10::Error>([&] { layer->forward(x); }),
               "call forward_with(x, {timestep, local_cond, global_cond}) (Python: model(x, timestep, "
               "local_cond, global_cond))"));
  EXPECT_TRUE(contains(error_text<eqnn::ConfigError>(
                           [&] { eqnn::testing::make_layer("eConditionalUnet1D", in, "{down_dim: [4]}"); }),
                       "down_dim"));
  // residual_conv through YAML: the U-Net's first res1 (regular → 1x regular) and the block's own.
  auto always = eqnn::testing::make_layer(
      "eConditionalUnet1D", in, "{diffusion_step_embed_dim: 4, down_dims: [2, 4], residual_conv: always}");
  auto* yaml_always = dynamic_cast<Unet*>(always.get());
  ASSERT_NE(yaml_always, nullptr);
  EXPECT_EQ(yaml_always->options.residual_conv(), "always");
  Unet direct_always(Options(in).diffusion_step_embed_dim(4).down_dims({2, 4}).residual_conv("always"));
  eqnn::testing::randomise(direct_always, 2, 0.5);
  eqnn::testing::copy_parameters(direct_always, *always, "yaml residual_conv");
  EXPECT_TRUE(at::equal(yaml_always->forward_with(x, {t}), direct_always.forward_with(x, {t})));
  auto block = eqnn::testing::make_layer("eConditionalResidualBlock1D", in,
                                         "{out_rep: regular, cond_rep: regular, residual_conv: always}");
  auto* yaml_block = dynamic_cast<eqnn::EConditionalResidualBlock1DImpl*>(block.get());
  ASSERT_NE(yaml_block, nullptr);
  EXPECT_NE(yaml_block->residual_conv, nullptr);
  EXPECT_TRUE(contains(error_text<eqnn::ConfigError>([&] {
                         eqnn::testing::make_layer(
                             "eConditionalResidualBlock1D", in,
                             "{out_rep: regular, cond_rep: regular, residual_conv: never}");
                       }),
                       "'residual_conv' must be 'auto'"));
}

std::string option_error(const Options& o) {
  return error_text<eqnn::ConfigError>([&] { Unet u(o); });
}

TEST(UnetErrors, Messages) {
  const auto g = eqnn::testing::group("C2");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  const auto base = [&] { return Options(in).diffusion_step_embed_dim(4).down_dims({2, 4}); };
  EXPECT_TRUE(contains(option_error(base().diffusion_step_embed_dim(5)),
                       "'diffusion_step_embed_dim' must be even and >= 2, found 5"));
  EXPECT_TRUE(contains(option_error(base().diffusion_step_embed_dim(5)), "gives 4 features for an odd 5"));
  EXPECT_TRUE(contains(option_error(base().kernel_size(4)), "'kernel_size' must be odd and >= 1, found 4"));
  EXPECT_TRUE(contains(option_error(base().cond_predict_scale(false)),
                       "cond_predict_scale = false is not supported"));
  EXPECT_TRUE(contains(option_error(base().down_dims({})), "'down_dims' must list at least one level"));
  EXPECT_TRUE(
      contains(option_error(base().down_dims({4, 0})), "'down_dims' must be >= 1 each, found 0 at index 1"));
  EXPECT_TRUE(contains(option_error(base().downsample("avg")), "'downsample' must be 'stride'"));
  EXPECT_TRUE(contains(option_error(base().layout("ddpm")), "'layout' must be 'diffusion_policy'"));
  EXPECT_TRUE(
      contains(option_error(base().residual_conv("yes")),
               "eConditionalUnet1D: 'residual_conv' must be 'auto' (a learned 1x1 residual convolution"));
  EXPECT_TRUE(contains(option_error(base().residual_conv("yes")), "found 'yes'"));
  EXPECT_TRUE(contains(error_text<eqnn::ConfigError>([&] {
                         eqnn::EConditionalResidualBlock1D b(
                             eqnn::EConditionalResidualBlock1DOptions(in, in, in).residual_conv("true"));
                       }),
                       "eConditionalResidualBlock1D: 'residual_conv' must be 'auto'"));
  EXPECT_TRUE(contains(option_error(base().activation("swish")), "'activation' must be one of"));
  EXPECT_TRUE(contains(option_error(base().hidden_rep(eqnn::parse_rep(g, "irrep(1)"))),
                       "must be a permutation representation"));
  EXPECT_TRUE(contains(error_text<eqnn::ConfigError>([&] {
                         eqnn::EConditionalResidualBlock1D b(
                             eqnn::EConditionalResidualBlock1DOptions(in, in, in).cond_predict_scale(false));
                       }),
                       "eConditionalResidualBlock1D: cond_predict_scale = false"));

  Unet global(
      Options(in, nullptr, eqnn::parse_rep(g, "regular")).diffusion_step_embed_dim(4).down_dims({2, 4}));
  const at::Tensor x = at::randn({2, 4, 2});
  EXPECT_TRUE(contains(error_text<c10::Error>([&] { global.forward_with(x, {at::scalar_tensor(1)}); }),
                       "takes x and 2 more input(s) (timestep, global_cond), got 1"));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         global.forward_with(x, {at::scalar_tensor(1), at::Tensor()});
                       }),
                       "the input 'global_cond' is required"));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         global.forward_with(x, {at::scalar_tensor(1), at::randn({2, 3})});
                       }),
                       "the input 'global_cond' must be (2, 2), got (2, 3)"));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         global.forward_with(x, {at::ones({3}), at::randn({2, 2})});
                       }),
                       "the input 'timestep' must be a scalar or (2)"));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         global.forward(x, at::scalar_tensor(1), at::randn({2, 4, 2}), at::randn({2, 2}));
                       }),
                       "got local_cond, but the model has no local_cond_rep"));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         global.forward_with(at::randn({2, 4, 3}), {at::scalar_tensor(1), at::randn({2, 2})});
                       }),
                       "expected the sample of shape (N, L, 2)"));
  Unet local(Options(in, eqnn::parse_rep(g, "regular")).diffusion_step_embed_dim(4).down_dims({2, 4}));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         local.forward_with(x, {at::scalar_tensor(1), at::randn({2, 3, 2})});
                       }),
                       "the input 'local_cond' must be (2, 4, 2), got (2, 3, 2)"));
  Unet sl_local(Options(in, eqnn::parse_rep(g, "regular"))
                    .diffusion_step_embed_dim(4)
                    .down_dims({2, 4})
                    .layout("symm_learning_0.8.1"));
  EXPECT_TRUE(
      contains(error_text<c10::Error>([&] {
                 sl_local.forward_with(x, {at::scalar_tensor(1), at::randn({2, 4, 2})});
               }),
               "adds local_cond_encoder.1(local_cond) (length 4) after the last up level's res1, whose "
               "length is 2"));
  eqnn::EConditionalResidualBlock1D block(eqnn::EConditionalResidualBlock1DOptions(in, in, in));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] { block->forward(x); }), "takes a conditioning vector"));
  EXPECT_TRUE(contains(error_text<c10::Error>([&] {
                         block->forward(x, at::randn({2, 3}));
                       }),
                       "expected cond of shape (2, 2)"));
}

}  // namespace
