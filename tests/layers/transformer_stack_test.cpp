// eTransformerEncoder / eTransformerDecoder through the real registry (flat YAML keywords) and constructed
// directly: exact equivariance on every element of C4, D4, C5 and Ico (the decoder with the group acting on
// the target and the memory), the structure (layers.i initialised independently, norm), the forward equal
// to its layers applied in turn and the final norm, with masks, and the errors. The stock stacks with the
// effective weights are the oracle in tests/python/test_transformer_decoder.py.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "e_transformer_stack.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;

template <typename Impl>
std::shared_ptr<Impl> make_stack(const char* type, const RepPtr& in, const std::string& kwargs) {
  auto layer = eqnn::testing::make_layer(type, in, kwargs);
  auto stack = std::dynamic_pointer_cast<Impl>(layer);
  EXPECT_TRUE(stack) << layer->name();
  return stack;
}

struct GroupCase {
  std::string label;
  std::string spec;
};
void PrintTo(const GroupCase& c, std::ostream* os) { *os << c.label; }

class StackEquivariance : public ::testing::TestWithParam<GroupCase> {};

int copies_for(const eqnn::GroupPtr& g) { return g->order() >= 60 ? 1 : 2; }

TEST_P(StackEquivariance, EncoderAndDecoderOnEveryElement) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = copies_for(g);
  RepPtr rep = eqnn::testing::make_kind(g, "rotated", copies);
  if (!rep) rep = eqnn::testing::make_kind(g, "regular", copies);
  int round = 0;
  for (const char* final_norm : {"layer_norm", "rms_norm"}) {
    const bool norm_first = round++ % 2 == 0;
    const std::string kwargs = fmt::format(
        "{{num_layers: 2, num_heads: {}, dim_feedforward: {}, dropout: 0.0, norm_first: {}, final_norm: {}}}",
        copies, g->order(), norm_first, final_norm);
    const std::string what = GetParam().label + " final_norm=" + final_norm;
    auto encoder = make_stack<eqnn::ETransformerEncoderImpl>("eTransformerEncoder", rep, kwargs);
    auto decoder = make_stack<eqnn::ETransformerDecoderImpl>("eTransformerDecoder", rep, kwargs);
    eqnn::testing::randomise(*encoder, 3, /*stddev=*/0.3);
    eqnn::testing::randomise(*decoder, 4, /*stddev=*/0.3);
    encoder->eval();
    const at::Tensor causal = at::ones({3, 3}, at::kBool).triu(1);
    eqnn::testing::EquivarianceSweep sweep;
    sweep.min_scale = eqnn::testing::kRelativeToOutput;
    // float32: two whole blocks and a final norm. On Ico's 60-dim rep in a random orthogonal basis with
    // rms_norm (post-norm) float32 rounding alone reaches 2.4e-4 (2e-6 to 1.3e-5 on the permutation basis);
    // float64 is exact (1e-10) and a broken symmetry shows as 1e-2 and more.
    sweep.float32_tolerance = 5e-4;
    sweep.prepare = [&](at::ScalarType dtype) {
      encoder->to(dtype);
      decoder->to(dtype);
    };
    sweep.inputs = [&](at::ScalarType dtype) {
      return std::vector<at::Tensor>{at::randn({2, 3, rep->size()}, at::TensorOptions().dtype(dtype))};
    };
    sweep.also = [&](const at::Tensor& x) {
      at::NoGradGuard no_grad;
      EXPECT_TRUE(eqnn::testing::all_finite(encoder->forward(x, causal))) << what;
    };
    eqnn::testing::ExpectEquivariant([&](const at::Tensor& x) { return encoder->forward(x, causal); }, *rep,
                                     *rep, sweep, "encoder " + what);
    // The decoder on (target, memory) packed along the sequence.
    sweep.inputs = [&](at::ScalarType dtype) {
      return std::vector<at::Tensor>{at::randn({2, 7, rep->size()}, at::TensorOptions().dtype(dtype))};
    };
    sweep.also = nullptr;
    eqnn::testing::ExpectEquivariant(
        [&](const at::Tensor& x) {
          const at::Tensor tgt = x.slice(1, 0, 3), memory = x.slice(1, 3);
          return at::cat({decoder->forward(tgt, memory, {causal}), memory}, 1);
        },
        *rep, *rep, sweep, "decoder " + what);
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, StackEquivariance,
                         ::testing::Values(GroupCase{"C4", "C4"}, GroupCase{"D4", "D4"},
                                           GroupCase{"C5", "C5"}, GroupCase{"Ico", "Ico"}),
                         [](const auto& info) { return info.param.label; });

// Children layers.0..n-1 and norm, each layer with its own weights; the forward is the layers in turn
// (with the masks, the memory) and then the norm.
TEST(TransformerStack, StructureAndComposition) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular");
  eqnn::ETransformerEncoder encoder(
      eqnn::ETransformerEncoderOptions(
          eqnn::ETransformerEncoderLayerOptions(rep, 2).dim_feedforward(16).dropout(0.0).batch_first(true), 3)
          .final_norm("rms_norm"));
  eqnn::ETransformerDecoder decoder(eqnn::ETransformerDecoderOptions(
      eqnn::ETransformerDecoderLayerOptions(rep, 2).dim_feedforward(16).dropout(0.0).norm_first(true), 2));
  std::vector<std::string> names;
  for (const auto& item : encoder->named_children()) names.push_back(item.key());
  EXPECT_EQ(names, (std::vector<std::string>{"layers", "norm"}));
  EXPECT_EQ(encoder->layers->size(), 3u);
  EXPECT_EQ(encoder->norm->name(), "eRMSNorm");
  EXPECT_EQ(decoder->norm, nullptr);
  EXPECT_EQ(decoder->named_children().size(), 1u);
  // Initialised independently: the layers' weights differ.
  auto weight = [](torch::nn::Module& m, const std::string& name) { return m.named_parameters()[name]; };
  EXPECT_FALSE(at::equal(weight(*encoder, "layers.0.linear1.weight_coefficients"),
                         weight(*encoder, "layers.1.linear1.weight_coefficients")));
  EXPECT_EQ(
      encoder->unconstrained_parameter_count(),
      3 * encoder->layers[0]->as<eqnn::ETransformerEncoderLayerImpl>()->unconstrained_parameter_count() +
          encoder->norm->unconstrained_parameter_count());
  eqnn::testing::randomise(*encoder, 1, 0.5);
  eqnn::testing::randomise(*decoder, 2, 0.5);
  encoder->to(at::kDouble);
  decoder->to(at::kDouble);
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, 4, 16}, at::kDouble);
  const at::Tensor causal = at::ones({4, 4}, at::kBool).triu(1);
  const at::Tensor padding = at::tensor({0, 0, 0, 1, 0, 0, 0, 0}, at::kInt).ne(0).view({2, 4});
  at::Tensor expected = x;
  for (size_t i = 0; i < 3; ++i)
    expected =
        encoder->layers[i]->as<eqnn::ETransformerEncoderLayerImpl>()->forward(expected, causal, padding);
  expected = encoder->norm->forward(expected);
  EXPECT_LE((encoder->forward(x, causal, padding) - expected).abs().max().item<double>(), 1e-14);
  // Without masks, the Layer interface.
  expected = x;
  for (size_t i = 0; i < 3; ++i)
    expected = encoder->layers[i]->as<eqnn::ETransformerEncoderLayerImpl>()->forward(expected);
  EXPECT_LE((encoder->forward(x) - encoder->norm->forward(expected)).abs().max().item<double>(), 1e-14);
  // The decoder (sequence-first, its default).
  const at::Tensor tgt = at::randn({4, 2, 16}, at::kDouble), memory = at::randn({5, 2, 16}, at::kDouble);
  expected = tgt;
  for (size_t i = 0; i < 2; ++i)
    expected =
        decoder->layers[i]->as<eqnn::ETransformerDecoderLayerImpl>()->forward(expected, memory, {causal});
  EXPECT_LE((decoder->forward(tgt, memory, {causal}) - expected).abs().max().item<double>(), 1e-14);
}

TEST(TransformerStack, Errors) {
  using eqnn::testing::error_text;
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C4"), "2x regular");
  EXPECT_HAS(error_text([&] {
               make_stack<eqnn::ETransformerEncoderImpl>("eTransformerEncoder", rep, "{num_heads: 2}");
             }),
             "missing required key 'num_layers'");
  EXPECT_HAS(error_text([&] {
               make_stack<eqnn::ETransformerEncoderImpl>("eTransformerEncoder", rep,
                                                         "{num_heads: 2, num_layers: 0}");
             }),
             "eTransformerEncoder: 'num_layers' must be >= 1, found 0");
  EXPECT_HAS(error_text([&] {
               make_stack<eqnn::ETransformerDecoderImpl>(
                   "eTransformerDecoder", rep, "{num_heads: 2, num_layers: 2, final_norm: rmsnorm}");
             }),
             "eTransformerDecoder: unknown final_norm 'rmsnorm' (did you mean 'rms_norm'?); known: none, "
             "layer_norm, "
             "rms_norm");
  EXPECT_HAS(error_text([&] {
               make_stack<eqnn::ETransformerDecoderImpl>("eTransformerDecoder", rep,
                                                         "{num_heads: 2, num_layers: 2, "
                                                         "activaton: relu}");
             }),
             "eTransformerDecoder: unknown key 'activaton'");
  EXPECT_HAS(error_text([&] {
               make_stack<eqnn::ETransformerEncoderImpl>("eTransformerEncoder", rep,
                                                         "{num_heads: 3, num_layers: 1}");
             }),
             "eTransformerEncoder: eTransformerEncoderLayer: eMultiheadAttention");
  auto decoder =
      make_stack<eqnn::ETransformerDecoderImpl>("eTransformerDecoder", rep, "{num_heads: 2, num_layers: 1}");
  EXPECT_HAS(
      error_text<eqnn::ConfigError>([&] {
        decoder->forward(at::randn({2, 3, 8}));
      }),
      "eTransformerDecoder: forward(x) is not defined: a decoder attends to a memory; call forward(tgt, "
      "memory, masks)");
  EXPECT_HAS(error_text([&] {
               decoder->forward(at::randn({2, 3, 8}), at::randn({2, 3, 9}));
             }),
             "eTransformerDecoder: expected memory of shape (batch, seq, D) with D = 8");
}

}  // namespace
