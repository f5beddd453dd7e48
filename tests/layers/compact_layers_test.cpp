// Layers on compact groups (SO2, O2, SO3, O3): built by the real registry from rep strings, checked on
// 256 Haar-random elements and elements near the identity in float64 and float32 (eqnn check's compact
// path), against a map that is not equivariant (the check must fail it), and against the dense product of
// the same weight. Layers that need a finite group's Cayley table refuse with an error naming the group.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "eqnn/group_theory/rep_parser.hpp"
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

TEST(CompactLayers, LayersThatNeedACayleyTableSayWhatWorks) {
  const auto in = eqnn::parse_rep(group("SO3"), "2x regular(1) + 8x trivial");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eReLU", in); }), "eGatedNonlinearity");
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { make_layer("eTransformerEncoderLayer", in, "{num_heads: 2, dim_feedforward: 16}"); }),
             "SO3 is compact");
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

}  // namespace
