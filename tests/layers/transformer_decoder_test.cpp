// eTransformerDecoderLayer through the real registry and constructed directly: exact equivariance on every
// element of C4, D4, C5 and Ico for every representation kind, with the group acting on every target and
// memory token (post-norm in train mode with dropout 0, pre-norm in eval mode, with and without masks); the
// stock torch::nn::TransformerDecoderLayer with this layer's effective weights as the oracle (bool, float,
// causal and per-batch masks, key padding); the forward recomputed from the children with the stock formulas
// (pre- and post-norm); and the errors: forward(x), bad shapes, bad options, a registry attention that
// cannot take a memory.
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/transformerlayer.h>

#include "e_multihead_attention.hpp"
#include "e_transformer_decoder_layer.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;

std::shared_ptr<eqnn::ETransformerDecoderLayerImpl> make_decoder(const RepPtr& in,
                                                                 const std::string& kwargs) {
  auto layer = eqnn::testing::make_layer("eTransformerDecoderLayer", in, kwargs);
  auto decoder = std::dynamic_pointer_cast<eqnn::ETransformerDecoderLayerImpl>(layer);
  EXPECT_TRUE(decoder) << layer->name();
  return decoder;
}

std::shared_ptr<eqnn::Layer> child(torch::nn::Module& m, const std::string& name) {
  auto c = std::dynamic_pointer_cast<eqnn::Layer>(m.named_children()[name]);
  EXPECT_TRUE(c) << name;
  return c;
}

struct GroupCase {
  std::string label;
  std::string spec;
};
void PrintTo(const GroupCase& c, std::ostream* os) { *os << c.label; }

class DecoderEquivariance : public ::testing::TestWithParam<GroupCase> {};

// One regular copy for the order-60 group (a block of 120 features), else two.
int copies_for(const eqnn::GroupPtr& g) { return g->order() >= 60 ? 1 : 2; }

// The target and the memory packed along the sequence: x (batch, T + S, D) → (tgt, memory), so that
// ExpectEquivariant's action on every token acts on both.
constexpr int64_t kBatch = 2, kTgt = 3, kMem = 4;

TEST_P(DecoderEquivariance, EveryElementEveryKindWithAndWithoutMasks) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = copies_for(g);
  bool norm_first = false;
  for (const auto& kind : eqnn::testing::test_kinds()) {
    RepPtr rep = eqnn::testing::make_kind(g, kind, copies);
    if (!rep) continue;  // no action of a fitting size
    norm_first = !norm_first;
    const std::string what = GetParam().label + " " + kind + " norm_first=" + std::to_string(norm_first);
    auto layer =
        make_decoder(rep, fmt::format("{{num_heads: {}, dim_feedforward: {}, dropout: 0.0, norm_first: {}}}",
                                      copies, g->order() + 1, norm_first));
    eqnn::testing::randomise(*layer, 3, /*stddev=*/0.5);
    if (norm_first) layer->eval();  // post-norm in train mode (dropout 0), pre-norm in eval mode
    const at::Tensor causal = at::ones({kTgt, kTgt}, at::kBool).triu(1);
    const at::Tensor memory_mask =
        at::tensor({0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, at::kInt).ne(0).view({kTgt, kMem});
    const at::Tensor tgt_padding = at::tensor({0, 0, 0, 0, 0, 1}, at::kInt).ne(0).view({kBatch, kTgt});
    const at::Tensor memory_padding =
        at::tensor({0, 0, 0, 0, 0, 0, 1, 1}, at::kInt).ne(0).view({kBatch, kMem});
    for (bool masked : {false, true}) {
      auto f = [&](const at::Tensor& x) {
        const at::Tensor tgt = x.slice(1, 0, kTgt), memory = x.slice(1, kTgt);
        if (!masked) return layer->forward(tgt, memory);
        return layer->forward(tgt, memory, {causal, memory_mask, tgt_padding, memory_padding});
      };
      auto packed = [&](const at::Tensor& x) { return at::cat({f(x), x.slice(1, kTgt)}, 1); };
      eqnn::testing::EquivarianceSweep sweep;
      sweep.min_scale = eqnn::testing::kRelativeToOutput;
      // A whole block of softmax attentions, three norms and a feed-forward rounds more than one layer in
      // float32 (see the encoder layer's test); exactly equivariant in float64 (1e-10).
      sweep.float32_tolerance = 3e-5;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&](at::ScalarType dtype) {
        return std::vector<at::Tensor>{
            at::randn({kBatch, kTgt + kMem, rep->size()}, at::TensorOptions().dtype(dtype))};
      };
      sweep.also = [&](const at::Tensor& x) {
        at::NoGradGuard no_grad;
        const at::Tensor y = f(x);
        EXPECT_EQ(y.sizes(), x.slice(1, 0, kTgt).sizes());
        EXPECT_TRUE(eqnn::testing::all_finite(y)) << what;
        // The masks take effect: they move the output. Checked in float64 against a floor rounding cannot
        // reach (1e-7), not against a size: how far masks move a 3-dim rotated rep under post-norm depends
        // on the draw (the encoder's twin of this check moved 4e-2 here and 4e-4 on another machine).
        if (masked && x.scalar_type() == at::kDouble) {
          EXPECT_GT((y - layer->forward(x.slice(1, 0, kTgt), x.slice(1, kTgt))).abs().max().item<double>(),
                    1e-7)
              << what;
        }
      };
      eqnn::testing::ExpectEquivariant(packed, *rep, *rep, sweep, what + (masked ? " masked" : ""));
    }
  }
}

// Constructed without a registry, with the registry layer's parameters: the same function.
TEST_P(DecoderEquivariance, DirectConstructionEqualsRegistryLayer) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = copies_for(g);
  RepPtr rep = eqnn::testing::make_kind(g, "rotated", copies);
  if (!rep) rep = eqnn::testing::make_kind(g, "regular", copies);
  auto via_registry = make_decoder(
      rep, fmt::format("{{num_heads: {}, dim_feedforward: {}, dropout: 0.0}}", copies, g->order() + 1));
  eqnn::ETransformerDecoderLayer direct(eqnn::ETransformerDecoderLayerOptions(rep, copies)
                                            .dim_feedforward(g->order() + 1)
                                            .dropout(0.0)
                                            .batch_first(true));
  eqnn::testing::randomise(*via_registry, 5, /*stddev=*/0.5);
  eqnn::testing::copy_parameters(*via_registry, *direct, GetParam().label);
  const at::Tensor tgt = at::randn({2, 3, rep->size()}), memory = at::randn({2, 5, rep->size()});
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(direct->forward(tgt, memory), via_registry->forward(tgt, memory)));
  EXPECT_EQ(direct->unconstrained_parameter_count(), via_registry->unconstrained_parameter_count());
}

INSTANTIATE_TEST_SUITE_P(Groups, DecoderEquivariance,
                         ::testing::Values(GroupCase{"C4", "C4"}, GroupCase{"D4", "D4"},
                                           GroupCase{"C5", "C5"}, GroupCase{"Ico", "Ico"}),
                         [](const auto& info) { return info.param.label; });

// The stock layer's children, and the forward recomputed from them with the stock formulas, for a rep that
// is not a permutation rep, post- and pre-norm (torch's C++ decoder layer has no norm_first).
TEST(DecoderLayer, StockStructureAndArithmetic) {
  RepPtr rep = eqnn::testing::make_kind(eqnn::testing::group("D4"), "rotated", 2);
  for (bool norm_first : {false, true}) {
    auto layer =
        make_decoder(rep, fmt::format("{{num_heads: 2, dim_feedforward: 12, dropout: 0.0, activation: gelu, "
                                      "norm_first: {}}}",
                                      norm_first));
    std::vector<std::string> names;
    for (const auto& item : layer->named_children()) names.push_back(item.key());
    EXPECT_EQ(names, (std::vector<std::string>{"self_attn", "multihead_attn", "linear1", "dropout", "linear2",
                                               "norm1", "norm2", "norm3", "dropout1", "dropout2", "dropout3",
                                               "activation"}));
    eqnn::testing::randomise(*layer, 9, /*stddev=*/0.5);
    layer->to(at::kDouble);
    auto sa = std::dynamic_pointer_cast<eqnn::EMultiheadAttentionImpl>(layer->self_attn);
    auto mha = std::dynamic_pointer_cast<eqnn::EMultiheadAttentionImpl>(layer->multihead_attn);
    ASSERT_TRUE(sa && mha);
    EXPECT_EQ(layer->activation->name(), "eGELU");
    EXPECT_EQ(layer->linear1->out_rep()->size(), 16);  // 12 rounded up to 2 whole regular copies of D4
    const at::Tensor x = at::randn({2, 5, rep->size()}, at::kDouble),
                     m = at::randn({2, 4, rep->size()}, at::kDouble);
    // x is batch-first (the YAML layer's layout); transpose around an attention that is sequence-first.
    auto attn = [](eqnn::EMultiheadAttentionImpl& a, const at::Tensor& q, const at::Tensor& kv) {
      if (a.options.batch_first()) return std::get<0>(a.forward(q, kv, kv));
      return std::get<0>(a.forward(q.transpose(0, 1), kv.transpose(0, 1), kv.transpose(0, 1)))
          .transpose(0, 1);
    };
    auto ff = [&](const at::Tensor& t) {
      return layer->linear2->forward(layer->activation->forward(layer->linear1->forward(t)));
    };
    at::Tensor h;
    if (norm_first) {
      h = x + attn(*sa, layer->norm1->forward(x), layer->norm1->forward(x));
      h = h + attn(*mha, layer->norm2->forward(h), m);
      h = h + ff(layer->norm3->forward(h));
    } else {
      h = layer->norm1->forward(x + attn(*sa, x, x));
      h = layer->norm2->forward(h + attn(*mha, h, m));
      h = layer->norm3->forward(h + ff(h));
    }
    at::NoGradGuard no_grad;
    EXPECT_LE((layer->forward(x, m) - h).abs().max().item<double>(), 1e-12) << "norm_first=" << norm_first;
  }
}

// torch::nn::TransformerDecoderLayer (post-norm, sequence first: this layer's defaults) with this layer's
// effective weights computes the same with every kind of mask (float64, 1e-12).
TEST(DecoderLayer, MasksAsTheStockLayerWithTheSameWeights) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular");  // a permutation rep: stock norms
  eqnn::ETransformerDecoderLayer ours(
      eqnn::ETransformerDecoderLayerOptions(rep, 2).dim_feedforward(16).dropout(0.0));
  torch::nn::TransformerDecoderLayer stock(
      torch::nn::TransformerDecoderLayerOptions(16, 2).dim_feedforward(16).dropout(0.0));
  eqnn::testing::randomise(*ours, 6, /*stddev=*/0.5);
  ours->to(at::kDouble);
  stock->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    auto stock_parameters = stock->named_parameters();
    int copied = 0;
    for (const char* name :
         {"self_attn", "multihead_attn", "linear1", "linear2", "norm1", "norm2", "norm3"}) {
      for (const auto& [key, value] : child(*ours, name)->effective_parameters()) {
        at::Tensor* slot = stock_parameters.find(std::string(name) + "." + key);
        ASSERT_NE(slot, nullptr) << name << "." << key;
        slot->copy_(value);
        ++copied;
      }
    }
    ASSERT_EQ(copied, static_cast<int>(stock_parameters.size()));  // every stock parameter is set
  }
  const int64_t tgt_len = 5, mem_len = 4, batch = 3;
  const at::Tensor tgt = at::randn({tgt_len, batch, 16}, at::kDouble);
  const at::Tensor memory = at::randn({mem_len, batch, 16}, at::kDouble);
  const at::Tensor causal = at::ones({tgt_len, tgt_len}, at::kBool).triu(1);
  at::Tensor memory_mask = at::rand({tgt_len, mem_len}) < 0.4;
  memory_mask.select(1, 0).fill_(false);  // no row all masked
  const at::Tensor tgt_padding =
      at::tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, at::kInt).ne(0).view({batch, tgt_len});
  const at::Tensor memory_padding =
      at::tensor({0, 0, 0, 1, 0, 0, 1, 1, 0, 0, 0, 0}, at::kInt).ne(0).view({batch, mem_len});
  auto additive = [](const at::Tensor& mask) {
    return at::zeros(mask.sizes(), at::kDouble).masked_fill(mask, -std::numeric_limits<double>::infinity());
  };
  at::NoGradGuard no_grad;
  auto close = [&](const at::Tensor& a, const at::Tensor& b, const char* what) {
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-12) << what;
  };
  const at::Tensor none;
  close(ours->forward(tgt, memory), stock(tgt, memory), "no masks");
  close(ours->forward(tgt, memory, {causal}), stock(tgt, memory, additive(causal)), "bool causal tgt_mask");
  close(ours->forward(tgt, memory, {additive(causal)}), stock(tgt, memory, additive(causal)), "float causal");
  close(ours->forward(tgt, memory, {none, memory_mask}), stock(tgt, memory, none, additive(memory_mask)),
        "memory_mask");
  close(ours->forward(tgt, memory, {causal, memory_mask, tgt_padding, memory_padding}),
        stock(tgt, memory, additive(causal), additive(memory_mask), tgt_padding, memory_padding),
        "all masks");
  close(ours->forward(tgt, memory, {none, none, additive(tgt_padding), additive(memory_padding)}),
        stock(tgt, memory, none, none, tgt_padding, memory_padding), "additive key padding");
  // A 3-D (batch·heads, T, T) target mask, the oracle run per batch element with its 2-D mask (LibTorch's
  // stock layer refuses 3-D masks; see the encoder layer's test).
  at::Tensor per_batch = (at::rand({batch, tgt_len, tgt_len}) < 0.4) & ~at::eye(tgt_len, at::kBool);
  per_batch.select(2, 0).fill_(false);
  const at::Tensor ours_3d = ours->forward(tgt, memory, {per_batch.repeat_interleave(2, 0)});
  for (int64_t n = 0; n < batch; ++n)
    close(ours_3d.slice(1, n, n + 1),
          stock(tgt.slice(1, n, n + 1), memory.slice(1, n, n + 1), additive(per_batch[n])), "3-D tgt_mask");
  EXPECT_GT((ours->forward(tgt, memory, {causal}) - ours->forward(tgt, memory)).abs().max().item<double>(),
            1e-3);
  EXPECT_GT((ours->forward(tgt, memory, {none, memory_mask}) - ours->forward(tgt, memory))
                .abs()
                .max()
                .item<double>(),
            1e-3);
}

// Independent of the attention code: with a causal mask target token t sees only tokens 0..t, so its
// output is that of the last token of the target cut after t (unmasked); padded memory tokens are as if
// absent.
TEST(DecoderLayer, MasksMeanWhatTheySay) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C4"), "3x regular");
  for (bool norm_first : {false, true}) {
    eqnn::ETransformerDecoderLayer layer(eqnn::ETransformerDecoderLayerOptions(rep, 3)
                                             .dim_feedforward(8)
                                             .dropout(0.0)
                                             .norm_first(norm_first)
                                             .batch_first(true));
    eqnn::testing::randomise(*layer, 2, /*stddev=*/0.5);
    layer->to(at::kDouble);
    at::NoGradGuard no_grad;
    const at::Tensor tgt = at::randn({2, 4, 12}, at::kDouble), memory = at::randn({2, 5, 12}, at::kDouble);
    const at::Tensor causal = at::ones({4, 4}, at::kBool).triu(1);
    const at::Tensor y = layer->forward(tgt, memory, {causal});
    for (int64_t t = 0; t < 4; ++t) {  // the last token of the unmasked cut sees tokens 0..t, as token t does
      const at::Tensor cut = layer->forward(tgt.slice(1, 0, t + 1), memory);
      EXPECT_LE((y.select(1, t) - cut.select(1, t)).abs().max().item<double>(), 1e-12) << "t=" << t;
    }
    at::Tensor padding = at::zeros({2, 5}, at::kBool);
    padding.slice(1, 3).fill_(true);
    EXPECT_LE((layer->forward(tgt, memory, {at::Tensor(), at::Tensor(), at::Tensor(), padding}) -
               layer->forward(tgt, memory.slice(1, 0, 3)))
                  .abs()
                  .max()
                  .item<double>(),
              1e-12);
  }
}

TEST(DecoderLayer, DirectOptionsDefaultAsTheStockLayer) {
  const eqnn::ETransformerDecoderLayerOptions o(nullptr, 2);
  const torch::nn::TransformerDecoderLayerOptions stock(16, 2);
  EXPECT_EQ(o.dim_feedforward(), stock.dim_feedforward());
  EXPECT_EQ(o.dropout(), stock.dropout());
  EXPECT_EQ(o.activation(), "relu");
  EXPECT_EQ(o.layer_norm_eps(), 1e-5);
  EXPECT_FALSE(o.batch_first());
  EXPECT_FALSE(o.norm_first());
  EXPECT_TRUE(o.bias());
  // The YAML layer is batch-first (a model's layout).
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C4"), "2x regular");
  EXPECT_TRUE(make_decoder(rep, "{num_heads: 2}")->options.batch_first());
}

TEST(DecoderLayer, Errors) {
  using eqnn::testing::error_text;
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  EXPECT_HAS(error_text([&] { make_decoder(rep, "{num_heads: 2, activation: rleu}"); }),
             "eTransformerDecoderLayer: unknown activation 'rleu' (did you mean 'relu'?)");
  EXPECT_HAS(error_text([&] { make_decoder(rep, "{num_heads: 2, norm: rmsnorm}"); }),
             "eTransformerDecoderLayer: unknown norm 'rmsnorm' (did you mean 'rms_norm'?)");
  EXPECT_HAS(error_text([&] { make_decoder(rep, "{num_heads: 2, nhead: 2}"); }),
             "eTransformerDecoderLayer: unknown key 'nhead'");
  EXPECT_HAS(error_text([&] { make_decoder(rep, "{num_heads: 2, dropout: -0.5}"); }),
             "eTransformerDecoderLayer: 'dropout' must be in [0, 1], found -0.5");
  EXPECT_HAS(error_text([&] { make_decoder(rep, "{num_heads: 3}"); }),
             "eTransformerDecoderLayer: eMultiheadAttention");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] {
               auto bad = eqnn::ETransformerDecoderLayer(eqnn::ETransformerDecoderLayerOptions(rep, 0));
               (void)bad;
             }),
             "eTransformerDecoderLayer: 'num_heads' must be >= 1, found 0");
  auto layer = make_decoder(rep, "{num_heads: 2}");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] {
               layer->forward(at::randn({2, 3, 10}));
             }),
             "eTransformerDecoderLayer: forward(x) is not defined: a decoder layer attends to a memory; call "
             "forward(tgt, memory, masks)");
  EXPECT_HAS(
      error_text([&] {
        layer->forward(at::randn({2, 3, 10}), at::randn({2, 4, 7}));
      }),
      "eTransformerDecoderLayer: expected memory of shape (batch, seq, D) with D = 10 (the memory lives in "
      "in_rep 2x regular (size 10)), got [2, 4, 7]");
  EXPECT_HAS(error_text([&] {
               layer->forward(at::randn({2, 10}), at::randn({2, 4, 10}));
             }),
             "eTransformerDecoderLayer: expected tgt of shape (batch, seq, D) with D = 10");
  EXPECT_HAS(error_text([&] {
               layer->forward(at::randn({2, 3, 10}), at::randn({3, 4, 10}));
             }),
             "eTransformerDecoderLayer: tgt and memory have different batch sizes (2 and 3)");
}

}  // namespace
