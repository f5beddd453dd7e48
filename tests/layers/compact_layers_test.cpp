// Layers on compact groups (SO2, O2, SO3, O3): built by the real registry from rep strings, checked on
// 256 Haar-random elements and elements near the identity in float64 and float32 (eqnn check's compact
// path), against a map that is not equivariant (the check must fail it), and against the dense product of
// the same weight. Layers that need a finite group's Cayley table refuse with an error naming the group.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/nn/modules/linear.h>

#include "e_fourier_pointwise.hpp"
#include "e_tensor_product.hpp"
#include "e_transformer_decoder_layer.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/nn/extra_inputs.hpp"

#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/util/error.hpp"
#include "layers.hpp"

using eqnn::testing::error_text;
using eqnn::testing::group;
using eqnn::testing::make_layer;

namespace {

const std::vector<std::pair<std::string, std::string>>& compact_cases() {
  static const std::vector<std::pair<std::string, std::string>> cases = {
      {"SO2", "2x regular(3) + standard"},
      {"O2", "regular(2) + irrep(1, 0) + 2x standard"},
      {"SO3", "2x regular(2) + standard + irrep(3)"},
      {"O3", "regular(1) + irrep(1, 1) + 2x irrep(2, -1)"},
  };
  return cases;
}

TEST(CompactLayers, LinearIsEquivariantOnHaarSamples) {
  for (const auto& [name, text] : compact_cases()) {
    const auto g = group(name);
    const auto in = eqnn::parse_rep(g, text);
    const auto layer = make_layer("eLinear", in, fmt::format("{{out_rep: '{}', bias: true}}", text));
    for (auto dtype : {at::kDouble, at::kFloat}) {
      layer->to(dtype);
      const auto r = eqnn::equivariance_error([&](const at::Tensor& x) { return layer->forward(x); }, in,
                                              layer->out_rep(), dtype, 3, 11);
      EXPECT_TRUE(eqnn::within_tolerance(r, eqnn::equivariance_tolerance(dtype)))
          << name << " " << text << " " << at::toString(dtype) << ": " << r.max_error;
      EXPECT_HAS(r.note, "256 Haar-random elements");
    }
  }
}

// Every layer whose construction needs only a representation's decomposition, on each compact group, in
// float64 (1e-10) and float32 (1e-5), in eval mode (dropout off, batch statistics frozen).
TEST(CompactLayers, EveryDecompositionOnlyLayerIsEquivariant) {
  const std::vector<std::pair<std::string, std::string>> layers = {
      {"eAffine", "{}"},
      {"eInvariantBias", "{}"},
      {"eNormNonlinearity", "{}"},
      {"eGatedNonlinearity", "{}"},
      {"eLayerNorm", "{}"},
      {"eRMSNorm", "{}"},
      {"eBatchNorm1d", "{channels_last: true}"},
      {"eInvariantPool", "{}"},
      {"eNormPool", "{}"},
      {"eIsotypicBasis", "{}"},
      {"eConv1d", ""},
      {"eMultiheadAttention", "{num_heads: 2}"},
      {"eAdditivePosMultiheadAttention", "{num_heads: 2, max_len: 8}"},
      {"eAdditiveRelMultiheadAttention", "{num_heads: 2, max_distance: 4}"},
      {"eTransformerEncoderLayer", "{num_heads: 2, dim_feedforward: 24, activation: gated}"},
      {"eTransformerEncoderLayer",
       "{num_heads: 2, dim_feedforward: 24, activation: gated, norm_first: true, "
       "norm: rms_norm, norm_normalize: per_copy}"},
      {"eTransformerEncoder", "{num_layers: 2, num_heads: 2, dim_feedforward: 24, activation: gated}"},
  };
  // Every irrep multiplicity even (two heads), trivial copies enough to gate every other copy.
  const std::vector<std::pair<std::string, std::string>> reps = {
      {"SO2", "2x regular(2) + 2x standard + 6x trivial"},
      {"O2", "2x regular(1) + 2x irrep(1, 2) + 2x irrep(1, 0) + 8x trivial"},
      {"SO3", "2x regular(1) + 2x irrep(2) + 8x trivial"},
      {"O3", "2x regular(1) + 2x irrep(1, -1) + 2x irrep(2, 1) + 16x trivial"},
  };
  for (const auto& [name, text] : reps) {
    const auto in = eqnn::parse_rep(group(name), text);
    for (const auto& [type, kwargs_template] : layers) {
      // eConv1d maps the representation to itself: its out_rep is the same string.
      const std::string kwargs = type == "eConv1d"
                                     ? fmt::format("{{out_rep: '{}', kernel_size: 3, padding: 1}}", text)
                                     : kwargs_template;
      const auto layer = make_layer(type, in, kwargs);
      layer->eval();
      for (auto dtype : {at::kDouble, at::kFloat}) {
        layer->to(dtype);
        const auto r = eqnn::equivariance_error([&](const at::Tensor& x) { return layer->forward(x); }, in,
                                                layer->out_rep(), dtype, 4, 3);
        EXPECT_TRUE(eqnn::within_tolerance(r, eqnn::equivariance_tolerance(dtype)))
            << name << " " << type << " " << at::toString(dtype) << ": " << r.max_error;
      }
    }
  }
}

// The decoder layer and stack with a gated feed-forward: tgt and memory rotated together, with a causal
// tgt_mask, on each compact group in float64 and float32.
TEST(CompactLayers, GatedDecoderIsEquivariant) {
  const std::vector<std::pair<std::string, std::string>> reps = {
      {"SO2", "2x standard + 2x irrep(2) + 2x trivial"},
      {"O2", "2x irrep(1, 1) + 2x irrep(1, 0) + 2x trivial"},
      {"SO3", "2x irrep(1) + 2x irrep(2) + 2x trivial"},
      {"O3", "2x irrep(1, -1) + 2x irrep(0, -1) + 2x trivial"},
  };
  const int64_t tgt = 3;
  const at::Tensor causal = at::ones({tgt, tgt}, at::kBool).triu(1);
  for (const auto& [name, text] : reps) {
    const auto in = eqnn::parse_rep(group(name), text);
    for (const char* type : {"eTransformerDecoderLayer", "eTransformerDecoder"}) {
      const std::string kwargs = std::string(type) == "eTransformerDecoder"
                                     ? "{num_layers: 2, num_heads: 2, dim_feedforward: 20, activation: gated}"
                                     : "{num_heads: 2, dim_feedforward: 20, activation: gated}";
      const auto layer = make_layer(type, in, kwargs);
      layer->eval();
      for (auto dtype : {at::kDouble, at::kFloat}) {
        layer->to(dtype);
        // (batch, tgt + memory, D): the first tgt tokens are the target, the rest the memory.
        auto f = [&](const at::Tensor& x) {
          const at::Tensor t = x.narrow(1, 0, tgt), m = x.narrow(1, tgt, x.size(1) - tgt);
          if (auto one = std::dynamic_pointer_cast<eqnn::ETransformerDecoderLayerImpl>(layer))
            return one->forward(t, m, {causal});
          return std::dynamic_pointer_cast<eqnn::ETransformerDecoderImpl>(layer)->forward(t, m, {causal});
        };
        const auto r = eqnn::equivariance_error(f, in, in, dtype, tgt + 4, 5);
        EXPECT_TRUE(eqnn::within_tolerance(r, eqnn::equivariance_tolerance(dtype)))
            << name << " " << type << " " << at::toString(dtype) << ": " << r.max_error;
      }
    }
  }
}

TEST(CompactLayers, LayersThatNeedACayleyTableSayWhatWorks) {
  const auto in = eqnn::parse_rep(group("SO3"), "2x regular(1) + 8x trivial");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eReLU", in); }), "eGatedNonlinearity");
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eTransformerEncoderLayer", in, "{num_heads: 2, dim_feedforward: 16}"); }),
             "SO3 is compact: use activation 'gated'");
  EXPECT_HAS(
      error_text<eqnn::ConfigError>([&] { make_layer("eRoPEMultiheadAttention", in, "{num_heads: 2}"); }),
      "eMultiheadAttention serves compact groups");
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eMLP", in, "{out_rep: 'standard', hidden_units: [8]}"); }),
             "eGatedNonlinearity or eNormNonlinearity");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eConditionalUnet1D", in, "{down_dims: [8]}"); }),
             "eConditionalUnet1D: its hidden layers apply the pointwise activation");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eMultiheadAttention", in, "{num_heads: 4}"); }),
             "valid head counts: 1, 2");
}

TEST(CompactLayers, TheCheckFailsAMapThatIsNotEquivariant) {
  // A dense map that commutes with the rotations about z only: the Haar samples must catch it.
  const auto g = group("SO3");
  const auto in = eqnn::parse_rep(g, "standard");
  at::Tensor w = at::zeros({3, 3}, at::kDouble);
  w[2][2] = 1;
  const auto r = eqnn::equivariance_error([&](const at::Tensor& x) { return at::matmul(x, w.t()); }, in, in,
                                          at::kDouble, 3, 11);
  EXPECT_GT(r.max_error, 0.1);
}

TEST(CompactLayers, IsotypicAndDenseExecutionAgree) {
  const auto g = group("SO3");
  const auto in = eqnn::parse_rep(g, "8x regular(2)");
  const auto iso = make_layer("eLinear", in, "{out_rep: '4x regular(2) + standard', execution: isotypic}");
  const auto dense = make_layer("eLinear", in, "{out_rep: '4x regular(2) + standard', execution: dense}");
  iso->to(at::kDouble);
  dense->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    auto p = iso->named_parameters(), q = dense->named_parameters();
    for (const auto& item : p) q[item.key()].copy_(item.value());
  }
  const at::Tensor x = at::randn({5, 7, in->size()}, at::kDouble);
  EXPECT_TRUE(at::allclose(iso->forward(x), dense->forward(x), 1e-12, 1e-12));
}

// eTensorProduct on every compact group and two finite ones: f(ρ_1(g)x, ρ_2(g)y) = ρ_out(g) f(x, y) on the
// check's elements (256 Haar-random ones and near the identity; every element of a finite group), in float64
// and float32, with y a second input and with x ⊗ x; a sequence x takes one y per sample.
TEST(CompactLayers, TensorProductIsEquivariant) {
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> cases = {
      {"SO2", "standard + irrep(2) + trivial", "irrep(1) + irrep(3)", "regular(4) + trivial"},
      {"O2", "irrep(1, 1) + irrep(1, 0)", "irrep(1, 2) + irrep(0, 0)", "regular(3)"},
      {"SO3", "2x irrep(1) + trivial", "irrep(1) + irrep(2)", "2x trivial + irrep(1) + irrep(2) + irrep(3)"},
      {"O3", "irrep(1, -1) + irrep(0, -1)", "irrep(1, -1) + irrep(2, 1)",
       "irrep(0, 1) + irrep(1, 1) + irrep(1, -1) + irrep(2, -1) + irrep(3, -1)"},
      {"D4", "regular", "irrep(1) + irrep(4)", "regular + trivial"},
      {"C5", "regular", "regular", "2x regular"},
  };
  for (const auto& [name, a, b, c] : cases) {
    const auto g = group(name);
    const auto in = eqnn::parse_rep(g, a), in2 = eqnn::parse_rep(g, b);
    const auto pair = make_layer("eTensorProduct", in, fmt::format("{{out_rep: '{}', in2_rep: '{}'}}", c, b));
    const auto self = make_layer("eTensorProduct", in, fmt::format("{{out_rep: '{}'}}", c));
    auto* multi = dynamic_cast<eqnn::ExtraInputs*>(pair.get());
    ASSERT_NE(multi, nullptr);
    for (auto dtype : {at::kDouble, at::kFloat}) {
      pair->to(dtype);
      self->to(dtype);
      for (const std::vector<int64_t>& leading : {std::vector<int64_t>{4}, std::vector<int64_t>{2, 3}}) {
        const auto r = eqnn::equivariance_error(
            [&](const at::Tensor& x, const std::vector<at::Tensor>& e) { return multi->forward_with(x, e); },
            in, multi->extra_inputs(), pair->out_rep(), dtype, leading, 5);
        EXPECT_TRUE(eqnn::within_tolerance(r, eqnn::equivariance_tolerance(dtype)))
            << name << " " << a << " ⊗ " << b << " " << at::toString(dtype) << ": " << r.max_error;
      }
      const auto r = eqnn::equivariance_error([&](const at::Tensor& x) { return self->forward(x); }, in,
                                              self->out_rep(), dtype, 3, 6);
      EXPECT_TRUE(eqnn::within_tolerance(r, eqnn::equivariance_tolerance(dtype)))
          << name << " " << a << " ⊗ itself " << at::toString(dtype) << ": " << r.max_error;
    }
  }
}

TEST(CompactLayers, TensorProductIsABilinearWithE3nnPaths) {
  // torch::nn::Bilinear with the effective weight and bias computes the same function (float64).
  const auto g = group("SO3");
  const auto in = eqnn::parse_rep(g, "2x irrep(1) + trivial"),
             in2 = eqnn::parse_rep(g, "irrep(1) + irrep(2)");
  const auto out = eqnn::parse_rep(g, "2x trivial + irrep(1) + irrep(2) + irrep(3)");
  eqnn::ETensorProduct tp(eqnn::ETensorProductOptions(in, out).in2_rep(in2));
  tp->to(at::kDouble);
  const auto p = tp->effective_parameters();
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].second.sizes(), (std::vector<int64_t>{out->size(), in->size(), in2->size()}));
  torch::nn::Bilinear stock(torch::nn::BilinearOptions(in->size(), in2->size(), out->size()));
  stock->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    stock->weight.copy_(p[0].second);
    stock->bias.copy_(p[1].second);
  }
  const at::Tensor x = at::randn({6, in->size()}, at::kDouble), y = at::randn({6, in2->size()}, at::kDouble);
  EXPECT_TRUE(at::allclose(tp->forward_with(x, {y}), stock->forward(x, y), 1e-12, 1e-12));
  // One weight per path l1 ⊗ l2 → l3 and per triple of copies, as e3nn's FullyConnectedTensorProduct:
  // x = 2x1 + 0, y = 1 + 2, z = 2x0 + 1 + 2 + 3. Paths (mul_x · mul_y · mul_z): 1⊗1→0 (2·1·2), 1⊗1→1 (2),
  // 1⊗1→2 (2), 1⊗2→1 (2), 1⊗2→2 (2), 1⊗2→3 (2), 0⊗1→1 (1), 0⊗2→2 (1): 4 + 10 + 2 = 16.
  EXPECT_EQ(tp->linear->weight_parameter().constraint()->dim(), 16);
  // Without y the inputs must be the same representation; shapes are checked.
  EXPECT_HAS(error_text<c10::Error>([&] { tp->forward(x); }), "y is required");
  EXPECT_HAS(error_text<c10::Error>([&] {
               tp->forward_with(x, {at::randn({5, in2->size()}, at::kDouble)});
             }),
             "expected y of shape (6, 8)");
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eTensorProduct", in, "{out_rep: 'irrep(5)', in2_rep: 'irrep(2)'}"); }),
             "no path from");
  const auto small = eqnn::testing::registry().make_group(YAML::Load("{type: SO3, band_limit: 2}"));
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] {
               make_layer("eTensorProduct", eqnn::parse_rep(small, "irrep(2)"), "{out_rep: 'irrep(1)'}");
             }),
             "beyond the band limit 2");
}

// eFourierPointwise: not exact, so its error is measured, not assumed. Oracles: A⁺A = I (a function that is
// positive on the grid passes relu unchanged), the exact equivariance of SO(2) under the grid's own
// rotations, and an error that falls as the grid grows.
TEST(CompactLayers, FourierPointwiseResolvesAndApproachesEquivariance) {
  const auto so3 = group("SO3");
  const auto rep = eqnn::parse_rep(so3, "2x regular(2)");
  eqnn::EFourierPointwise relu(eqnn::EFourierPointwiseOptions(rep).function("relu"));
  relu->to(at::kDouble);
  EXPECT_EQ(relu->band(), 2);
  EXPECT_EQ(relu->copies(), 2);
  EXPECT_EQ(relu->grid_size(), 16 * 35);
  at::Tensor x = 0.001 * at::randn({3, rep->size()}, at::kDouble);
  x.select(1, 0).fill_(1);  // the trivial coefficient of each copy: f ≈ 1 > 0 everywhere
  x.select(1, 35).fill_(1);
  EXPECT_TRUE(at::allclose(relu->forward(x), x, 1e-12, 1e-12));
  // The equivariance error falls with the grid (ELU, the default).
  std::vector<double> errors;
  for (int64_t n : {40, 140, 560}) {
    eqnn::EFourierPointwise act(eqnn::EFourierPointwiseOptions(rep).grid_size(n));
    act->to(at::kDouble);
    errors.push_back(eqnn::equivariance_error([&](const at::Tensor& t) { return act->forward(t); }, rep, rep,
                                              at::kDouble, 0, 3)
                         .max_error);
    std::printf("[ info ] eFourierPointwise SO3 2x regular(2), N = %ld: error %.3g\n", static_cast<long>(n),
                errors.back());
  }
  EXPECT_LT(errors[2], errors[0]);
  // SO(2) on N evenly spaced angles: exact under the rotations by 2π k/N, which map the grid to itself.
  const auto so2 = group("SO2");
  const auto circle = eqnn::parse_rep(so2, "3x regular(4)");
  eqnn::EFourierPointwise act(eqnn::EFourierPointwiseOptions(circle).grid_size(24));
  act->to(at::kDouble);
  const at::Tensor y = at::randn({4, circle->size()}, at::kDouble);
  for (int k : {1, 5, 17}) {
    const double theta = 2 * M_PI * k / 24;
    eqnn::Matrix r(2, 2);
    r << std::cos(theta), -std::sin(theta), std::sin(theta), std::cos(theta);
    const at::Tensor m = eqnn::to_tensor(circle->matrix(r));
    EXPECT_TRUE(
        at::allclose(act->forward(at::matmul(y, m.t())), at::matmul(act->forward(y), m.t()), 1e-12, 1e-12))
        << k;
  }
  // Refusals name what works.
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eFourierPointwise", eqnn::parse_rep(so3, "standard")); }),
             "m copies of regular(L)");
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eFourierPointwise", eqnn::parse_rep(group("D4"), "regular")); }),
             "ePointwise");
  // (regular(30) itself is larger than eqnn builds: the check must not build it.)
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eFourierPointwise", eqnn::parse_rep(so3, "irrep(30)")); }),
             "m copies of regular(L)");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eFourierPointwise", rep, "{grid_size: 10}"); }),
             "cannot resolve regular(2)");
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { eqnn::EFourierPointwise(eqnn::EFourierPointwiseOptions(rep).grid_size(-1)); }),
             "grid_size must be 0 (automatic) or 1..1000000, found -1");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eFourierPointwise", rep, "{function: elo}"); }),
             "did you mean 'elu'");
}

}  // namespace
