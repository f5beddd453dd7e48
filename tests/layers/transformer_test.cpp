// eTransformerEncoderLayer through the real registry (its sub-layers come from the registry too): exact
// equivariance on every element for every representation kind (post-norm in train mode with dropout 0,
// pre-norm in eval mode), the stock layer's structure and parameter count as oracles, and errors.
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/transformerlayer.h>

#include "eqnn/error.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/rep_parser.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;

eqnn::LayerPtr make_encoder(const RepPtr& in, const std::string& kwargs) {
  return eqnn::testing::make_layer("eTransformerEncoderLayer", in, kwargs);
}

std::shared_ptr<eqnn::Layer> child(torch::nn::Module& m, const std::string& name) {
  auto c = std::dynamic_pointer_cast<eqnn::Layer>(m.named_children()[name]);
  EXPECT_TRUE(c) << name;
  return c;
}

class EncoderEquivariance : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

TEST_P(EncoderEquivariance, EveryElementEveryKindTrainAndEval) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = g->order() >= 60 ? 1 : 2;
  for (const auto& kind : eqnn::testing::test_kinds()) {
    RepPtr rep = eqnn::testing::make_kind(g, kind, copies);
    if (!rep) continue;  // no action of a fitting size
    for (bool norm_first : {false, true}) {
      const std::string kwargs =
          fmt::format("{{num_heads: {}, dim_feedforward: {}, dropout: 0.0, norm_first: {}}}", copies,
                      g->order() + 1, norm_first);
      auto layer = make_encoder(rep, kwargs);
      eqnn::testing::randomise(*layer, 3, /*stddev=*/0.5);
      // Post-norm checked in train mode (dropout 0), pre-norm in eval mode under no-grad (cached weights).
      if (norm_first) layer->eval();
      eqnn::testing::EquivarianceSweep sweep;
      sweep.min_scale = eqnn::testing::kRelativeToOutput;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&](at::ScalarType dtype) {
        auto o = at::TensorOptions().dtype(dtype);
        return std::vector<at::Tensor>{at::randn({2, 3, rep->size()}, o), at::randn({4, rep->size()}, o)};
      };
      sweep.also = [&](const at::Tensor& x) { EXPECT_EQ(layer->forward(x).sizes(), x.sizes()); };
      eqnn::testing::ExpectEquivariant([&](const at::Tensor& t) { return layer->forward(t); }, *rep, *rep, sweep,
                                       GetParam().label + " " + kind + " norm_first=" + std::to_string(norm_first));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, EncoderEquivariance, ::testing::ValuesIn(eqnn::testing::test_groups()),
                         [](const auto& info) { return info.param.label; });

// Structure of torch.nn.TransformerEncoderLayer: submodule names, and the forward recomputed from the
// children with the stock formulas (post-norm and pre-norm), for a rep that is not a permutation rep.
TEST(EncoderLayer, StockStructureAndArithmetic) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rep = eqnn::testing::make_kind(g, "rotated", 2);
  for (bool norm_first : {false, true}) {
    auto layer =
        make_encoder(rep, fmt::format("{{num_heads: 2, dim_feedforward: 12, dropout: 0.0, activation: "
                                      "gelu, norm_first: {}}}",
                                      norm_first));
    std::vector<std::string> names;
    for (const auto& item : layer->named_children()) names.push_back(item.key());
    EXPECT_EQ(names, (std::vector<std::string>{"self_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
                                               "dropout1", "dropout2", "activation"}));
    eqnn::testing::randomise(*layer, 9, /*stddev=*/0.5);
    layer->to(at::kDouble);
    auto attn = child(*layer, "self_attn"), l1 = child(*layer, "linear1"), l2 = child(*layer, "linear2");
    auto n1 = child(*layer, "norm1"), n2 = child(*layer, "norm2"), act = child(*layer, "activation");
    EXPECT_NE(attn->name().find("MultiheadAttention"), std::string::npos) << attn->name();
    EXPECT_EQ(n1->name(), "eLayerNorm");
    EXPECT_EQ(act->name(), "eGELU");
    EXPECT_EQ(l1->out_rep()->size(), 16);  // dim_feedforward 12 rounded up to 2 whole copies of regular (8)
    EXPECT_TRUE(l1->out_rep()->is_permutation());
    const at::Tensor x = at::randn({2, 5, rep->size()}, at::kDouble);
    auto ff = [&](const at::Tensor& t) { return l2->forward(act->forward(l1->forward(t))); };
    at::Tensor expected;
    if (norm_first) {
      at::Tensor h = x + attn->forward(n1->forward(x));
      expected = h + ff(n2->forward(h));
    } else {
      at::Tensor h = n1->forward(x + attn->forward(x));
      expected = n2->forward(h + ff(h));
    }
    EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12)
        << "norm_first=" << norm_first;
  }
}

TEST(EncoderLayer, HiddenSizeRoundedUpToWholeRegularCopies) {
  const auto g = eqnn::testing::group("C5");
  RepPtr rep = eqnn::parse_rep(g, "2x regular");
  for (auto [dff, hidden] : std::vector<std::pair<int, int>>{{1, 5}, {5, 5}, {12, 15}, {2048, 2050}}) {
    auto layer = make_encoder(rep, fmt::format("{{num_heads: 1, dim_feedforward: {}}}", dff));
    EXPECT_EQ(child(*layer, "linear1")->out_rep()->size(), hidden) << dff;
    std::ostringstream os;
    layer->pretty_print(os);
    EXPECT_NE(
        os.str().find(fmt::format("dim_feedforward={} -> hidden {} ({}x regular)", dff, hidden, hidden / 5)),
        std::string::npos)
        << os.str();
  }
}

// The parameter count of the stock layer with the same sizes (an oracle from LibTorch itself).
TEST(EncoderLayer, UnconstrainedParameterCountIsTheStockLayers) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "4x regular");
  auto layer = make_encoder(rep, "{num_heads: 2, dim_feedforward: 12}");
  torch::nn::TransformerEncoderLayer stock(
      torch::nn::TransformerEncoderLayerOptions(20, 2).dim_feedforward(15));
  int64_t count = 0;
  for (const auto& p : stock->parameters()) count += p.numel();
  EXPECT_EQ(layer->unconstrained_parameter_count(), count);
  // eLayerNorm has no stock equivalent, so neither has the block: an honest empty export.
  EXPECT_TRUE(layer->effective_parameters().empty());
  // Far fewer trainable entries than the stock layer, and every one receives a gradient.
  int64_t trainable = 0;
  for (const auto& p : layer->parameters()) trainable += p.numel();
  EXPECT_LT(trainable, count);
  layer->forward(at::randn({2, 3, 20})).pow(2).sum().backward();
  for (const auto& p : layer->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(at::isfinite(p.value().grad()).all().item<bool>()) << p.key();
  }
}

TEST(EncoderLayer, BatchFirstFalseTakesSequenceFirst) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  auto a = make_encoder(rep, "{num_heads: 2, dim_feedforward: 10, dropout: 0.0}");
  auto b = make_encoder(rep, "{num_heads: 2, dim_feedforward: 10, dropout: 0.0, batch_first: false}");
  eqnn::testing::randomise(*a, 1, /*stddev=*/0.5);
  {
    at::NoGradGuard no_grad;
    auto pa = a->named_parameters(), pb = b->named_parameters();
    for (const auto& p : pa) pb[p.key()].copy_(p.value());
  }
  const at::Tensor x = at::randn({3, 4, 10});  // (batch 3, seq 4)
  EXPECT_LE((b->forward(x.transpose(0, 1)).transpose(0, 1) - a->forward(x)).abs().max().item<double>(), 1e-5);
  // Tokens interact: not the same as treating each (batch, seq) position independently.
  EXPECT_GT((b->forward(x) - a->forward(x)).abs().max().item<double>(), 1e-3);
}

TEST(EncoderLayer, DropoutActsInTrainModeOnly) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  auto layer = make_encoder(rep, "{num_heads: 2, dim_feedforward: 10, dropout: 0.5}");
  const at::Tensor x = at::randn({2, 3, 10});
  EXPECT_FALSE(at::allclose(layer->forward(x), layer->forward(x)));
  layer->eval();
  EXPECT_TRUE(at::equal(layer->forward(x), layer->forward(x)));
}

TEST(EncoderLayer, Errors) {
  using eqnn::testing::error_text;
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  EXPECT_HAS(
      error_text([&] { make_encoder(rep, "{num_heads: 2, activation: rleu}"); }),
      "eTransformerEncoderLayer: unknown activation 'rleu' (did you mean 'relu'?); known: relu, gelu, silu, "
      "tanh (or their layer names eReLU, eGELU, eSiLU, eTanh)");
  EXPECT_HAS(error_text([&] { make_encoder(rep, "{dim_feedforward: 8}"); }),
             "missing required key 'num_heads'");
  EXPECT_HAS(error_text([&] { make_encoder(rep, "{num_heads: 2, nhead: 2}"); }),
             "eTransformerEncoderLayer: unknown key 'nhead'");
  EXPECT_HAS(error_text([&] { make_encoder(rep, "{num_heads: 2, dropout: 1.5}"); }),
             "eTransformerEncoderLayer: 'dropout' must be in [0, 1], found 1.5");
  EXPECT_HAS(error_text([&] { make_encoder(rep, "{num_heads: 0}"); }), "'num_heads' must be >= 1, found 0");
  EXPECT_HAS(error_text([&] { make_encoder(rep, "{num_heads: 2, init_scheme: xavier_norma}"); }),
             "eTransformerEncoderLayer: ");
  // Attention's own check (heads split whole regular copies), reported as this layer's error.
  const std::string heads = error_text([&] { make_encoder(rep, "{num_heads: 3}"); });
  EXPECT_HAS(heads, "eTransformerEncoderLayer: eMultiheadAttention");
  EXPECT_HAS(heads, "3");
  // Sizes that are not whole regular copies are refused by the attention block.
  EXPECT_HAS(error_text([&] {
               make_encoder(eqnn::parse_rep(rep->group_ptr(), "regular + trivial"), "{num_heads: 1}");
             }),
             "eTransformerEncoderLayer: eMultiheadAttention");
  auto layer = make_encoder(rep, "{num_heads: 2}");
  EXPECT_HAS(error_text([&] {
               layer->forward(at::randn({2, 3, 7}));
             }),
             "eTransformerEncoderLayer: expected input of shape (..., 10) for in_rep 2x regular (size 10), "
             "got [2, 3, 7]");
}

}  // namespace
