// eTransformerEncoderLayer through the real registry (its sub-layers come from the registry too) and
// constructed directly (ETransformerEncoderLayer, built-in sub-layers): exact equivariance on every element
// for every representation kind (post-norm in train mode with dropout 0, pre-norm in eval mode), the direct
// layer equal to the registry's with the same parameters, the stock layer's structure, defaults and
// parameter count as oracles, and errors. The norm options (EncoderNorms): rms_norm with per-field and
// per-copy scales and the per-copy LayerNorm statistic equivariant on every element of C4 and D4, the RMS
// norm against its formula inside torch's pre-/post-norm arithmetic (with masks), the options reaching the
// sub-layers (direct and registry), bad values named at their key.
#include <functional>
#include <limits>
#include <sstream>
#include <variant>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/transformerlayer.h>
#include <torch/nn/options/normalization.h>

#include "e_activation.hpp"
#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "e_norm.hpp"
#include "e_transformer_encoder_layer.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
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

// torch.nn.TransformerEncoderLayer's arithmetic from the children: pre-norm x + attn(n1(x)), then h +
// ff(n2(h)); post-norm n1(x + attn(x)), then n2(h + ff(h)).
at::Tensor stock_encoder_arithmetic(const at::Tensor& x, bool norm_first, eqnn::Layer& attn, eqnn::Layer& n1,
                                    eqnn::Layer& n2, const std::function<at::Tensor(const at::Tensor&)>& ff) {
  if (norm_first) {
    const at::Tensor h = x + attn.forward(n1.forward(x));
    return h + ff(n2.forward(h));
  }
  const at::Tensor h = n1.forward(x + attn.forward(x));
  return n2.forward(h + ff(h));
}

class EncoderEquivariance : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

// Regular copies per representation: one for the order-60 group (a block of 120 features), else two.
int encoder_copies(const eqnn::GroupPtr& g) { return g->order() >= 60 ? 1 : 2; }

// Every representation kind of the test group (those with a fitting action), post-norm and pre-norm
// alternating over them, named for failure messages.
struct EncoderCase {
  RepPtr rep;
  bool norm_first;
  std::string what;
};
std::vector<EncoderCase> alternating_cases(const eqnn::testing::GroupCase& param, const eqnn::GroupPtr& g) {
  std::vector<EncoderCase> cases;
  bool norm_first = false;
  for (const auto& kind : eqnn::testing::test_kinds()) {
    RepPtr rep = eqnn::testing::make_kind(g, kind, encoder_copies(g));
    if (!rep) continue;  // no action of a fitting size
    norm_first = !norm_first;
    cases.push_back(
        {rep, norm_first, param.label + " " + kind + " norm_first=" + std::to_string(norm_first)});
  }
  return cases;
}

TEST_P(EncoderEquivariance, EveryElementEveryKindTrainAndEval) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = encoder_copies(g);
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
      // A whole block (softmax attention, two norms, a feed-forward of width |G| + 1) rounds more than one
      // layer, and MKL's float32 GEMM sums in a thread-dependent order: Ico reached 1.05e-5 on a clean clone
      // (below 1e-5 in other runs). Exactly equivariant in float64 (1e-10); float32 within 3e-5.
      sweep.float32_tolerance = 3e-5;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&](at::ScalarType dtype) {
        auto o = at::TensorOptions().dtype(dtype);
        return std::vector<at::Tensor>{at::randn({2, 3, rep->size()}, o), at::randn({4, rep->size()}, o)};
      };
      sweep.also = [&](const at::Tensor& x) { EXPECT_EQ(layer->forward(x).sizes(), x.sizes()); };
      eqnn::testing::ExpectEquivariant(
          [&](const at::Tensor& t) { return layer->forward(t); }, *rep, *rep, sweep,
          GetParam().label + " " + kind + " norm_first=" + std::to_string(norm_first));
    }
  }
}

// Constructed without a registry: with the registry layer's parameters it computes the same, and it is
// exactly equivariant on every element (post-norm and pre-norm alternate over the kinds).
TEST_P(EncoderEquivariance, DirectConstructionEqualsRegistryLayer) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = encoder_copies(g);
  for (const auto& c : alternating_cases(GetParam(), g)) {
    // Named references, not a structured binding: clang 14 cannot capture those in the lambdas below.
    const RepPtr& rep = c.rep;
    const bool norm_first = c.norm_first;
    const std::string& what = c.what;
    auto via_registry =
        make_encoder(rep, fmt::format("{{num_heads: {}, dim_feedforward: {}, dropout: 0.0, norm_first: {}}}",
                                      copies, g->order() + 1, norm_first));
    eqnn::ETransformerEncoderLayer direct(eqnn::ETransformerEncoderLayerOptions(rep, copies)
                                              .dim_feedforward(g->order() + 1)
                                              .dropout(0.0)
                                              .norm_first(norm_first)
                                              .batch_first(true));
    eqnn::testing::randomise(*via_registry, 3, /*stddev=*/0.5);  // as EveryElementEveryKindTrainAndEval
    eqnn::testing::copy_parameters(*via_registry, *direct, what);
    std::vector<std::string> names;
    for (const auto& item : direct->named_children()) names.push_back(item.key());
    EXPECT_EQ(names, (std::vector<std::string>{"self_attn", "linear1", "dropout", "linear2", "norm1", "norm2",
                                               "dropout1", "dropout2", "activation"}));
    EXPECT_EQ(direct->activation->name(), "eReLU");
    EXPECT_TRUE(direct->hidden_rep()->same_content(
        *std::dynamic_pointer_cast<eqnn::Layer>(via_registry->named_children()["linear1"])->out_rep()));
    EXPECT_EQ(direct->unconstrained_parameter_count(), via_registry->unconstrained_parameter_count());
    eqnn::testing::EquivarianceSweep sweep;
    sweep.min_scale = eqnn::testing::kRelativeToOutput;
    sweep.float32_tolerance = 3e-5;  // as EveryElementEveryKindTrainAndEval
    sweep.prepare = [&](at::ScalarType dtype) {
      direct->to(dtype);
      via_registry->to(dtype);
    };
    sweep.inputs = [&](at::ScalarType dtype) {
      auto o = at::TensorOptions().dtype(dtype);
      return std::vector<at::Tensor>{at::randn({2, 3, rep->size()}, o), at::randn({4, rep->size()}, o)};
    };
    sweep.also = [&](const at::Tensor& x) {
      at::NoGradGuard no_grad;
      EXPECT_TRUE(at::equal(direct->forward(x), via_registry->forward(x))) << what << " " << x.sizes();
    };
    eqnn::testing::ExpectEquivariant([&](const at::Tensor& t) { return direct->forward(t); }, *rep, *rep,
                                     sweep, "direct " + what);
  }
}

// With a causal src_mask and a src_key_padding_mask (the masks only choose which tokens attend to which),
// on every element, in both layouts, post-norm in train mode (dropout 0) and pre-norm in eval mode.
TEST_P(EncoderEquivariance, MasksKeepEveryElementEquivariant) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const int copies = encoder_copies(g);
  for (const auto& c : alternating_cases(GetParam(), g)) {
    const RepPtr& rep = c.rep;
    const bool norm_first = c.norm_first, batch_first = c.norm_first;
    const std::string& what = c.what;
    eqnn::ETransformerEncoderLayer layer(eqnn::ETransformerEncoderLayerOptions(rep, copies)
                                             .dim_feedforward(g->order() + 1)
                                             .dropout(0.0)
                                             .norm_first(norm_first)
                                             .batch_first(batch_first));
    eqnn::testing::randomise(*layer, 4, /*stddev=*/0.5);
    if (norm_first) layer->eval();
    const int64_t batch = 2, seq = 4;
    const at::Tensor causal = at::ones({seq, seq}, at::kBool).triu(1);
    const at::Tensor padding = at::tensor({0, 0, 0, 0, 0, 0, 1, 1}, at::kInt).ne(0).view({batch, seq});
    eqnn::testing::EquivarianceSweep sweep;
    sweep.min_scale = eqnn::testing::kRelativeToOutput;
    sweep.float32_tolerance = 3e-5;  // as EveryElementEveryKindTrainAndEval
    sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
    sweep.inputs = [&](at::ScalarType dtype) {
      auto o = at::TensorOptions().dtype(dtype);
      return std::vector<at::Tensor>{batch_first ? at::randn({batch, seq, rep->size()}, o)
                                                 : at::randn({seq, batch, rep->size()}, o)};
    };
    // The masks take effect, checked by what they mean rather than by how much they move the output (a
    // 3-dim rotated rep under post-norm moves it by 4e-4 on one machine's draw, 4e-2 on another's): with
    // them, the first token's output does not depend on the later tokens (causal), nor the second sequence's
    // first two tokens on its two padded ones (padding alone); without them both do (checked in float64,
    // where rounding cannot pass for a dependency).
    sweep.also = [&](const at::Tensor& x) {
      at::NoGradGuard no_grad;
      const int64_t seq_dim = batch_first ? 1 : 0, batch_dim = batch_first ? 0 : 1;
      const bool f64 = x.scalar_type() == at::kDouble;
      const double tol = (f64 ? 1e-10 : 1e-5) * std::max(1.0, layer(x).abs().max().item<double>());
      auto moved = [](const at::Tensor& a, const at::Tensor& b) {
        return (a - b).abs().max().item<double>();
      };
      at::Tensor later = x.clone();
      later.narrow(seq_dim, 1, seq - 1).normal_();
      auto first = [&](const at::Tensor& y) { return y.narrow(seq_dim, 0, 1); };
      EXPECT_LE(moved(first(layer(later, causal, padding)), first(layer(x, causal, padding))), tol) << what;
      at::Tensor padded = x.clone();
      padded.select(batch_dim, 1).narrow(0, 2, 2).normal_();  // (seq, D) of the second sequence
      auto kept = [&](const at::Tensor& y) { return y.select(batch_dim, 1).narrow(0, 0, 2); };
      EXPECT_LE(moved(kept(layer(padded, {}, padding)), kept(layer(x, {}, padding))), tol) << what;
      if (f64) {
        EXPECT_GT(moved(first(layer(later)), first(layer(x))), 1e3 * tol) << what;
        EXPECT_GT(moved(kept(layer(padded)), kept(layer(x))), 1e3 * tol) << what;
      }
    };
    eqnn::testing::ExpectEquivariant([&](const at::Tensor& t) { return layer(t, causal, padding); }, *rep,
                                     *rep, sweep, "masked " + what);
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
    const at::Tensor expected = stock_encoder_arithmetic(x, norm_first, *attn, *n1, *n2, ff);
    EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12)
        << "norm_first=" << norm_first;
  }
}

// activation "gated": the feed-forward's hidden rep is k blocks of the trivial irrep and each distinct irrep
// of in_rep; linear1 adds one gate per non-trivial copy in front, and the forward recomputed from the
// children with the gating written out here (the i-th non-trivial copy times sigmoid(gate i), a kept
// trivial copy t times sigmoid(t)) equals the layer's, post-norm and pre-norm, on a finite group and on
// SO(3) (which takes no other activation).
TEST(EncoderLayer, GatedFeedForwardStructureAndArithmetic) {
  struct Case {
    std::string group, rep;
    int64_t dim_feedforward, heads, block, copies;
  };
  for (const Case& c : {Case{"SO3", "2x trivial + 2x irrep(1) + irrep(2)", 20, 1, 9, 3},
                        Case{"D4", "2x regular", 12, 2, 6, 2}}) {
    const auto g = eqnn::testing::group(c.group);
    const RepPtr rep = eqnn::parse_rep(g, c.rep);
    for (bool norm_first : {false, true}) {
      const std::string what = c.group + (norm_first ? " pre-norm" : " post-norm");
      auto layer = make_encoder(rep, fmt::format("{{num_heads: {}, dim_feedforward: {}, dropout: 0.0, "
                                                 "activation: gated, norm_first: {}}}",
                                                 c.heads, c.dim_feedforward, norm_first));
      eqnn::testing::randomise(*layer, 12, /*stddev=*/0.5);
      layer->to(at::kDouble);
      auto attn = child(*layer, "self_attn"), l1 = child(*layer, "linear1"), l2 = child(*layer, "linear2");
      auto n1 = child(*layer, "norm1"), n2 = child(*layer, "norm2"), act = child(*layer, "activation");
      EXPECT_EQ(act->name(), "eGatedNonlinearity") << what;
      // Irreps per block in index order (trivial first); each non-trivial one has a gate.
      const std::vector<int> kinds = l2->in_rep()->irreps();
      ASSERT_EQ(l2->in_rep()->size(), c.copies * c.block) << what;
      const int64_t per_block = static_cast<int64_t>(kinds.size()) / c.copies;
      int64_t gates = 0;
      for (int64_t i = 0; i < per_block; ++i) gates += kinds[i] != 0;
      gates *= c.copies;
      ASSERT_EQ(l1->out_rep()->size(), gates + c.copies * c.block) << what;
      ASSERT_TRUE(l1->out_rep()->Q().isIdentity(0)) << what;
      const at::Tensor x = at::randn({2, 5, rep->size()}, at::kDouble);
      auto ff = [&](const at::Tensor& t) {
        const at::Tensor y = l1->forward(t);
        std::vector<at::Tensor> parts;
        int64_t gate = 0, at_col = gates;
        for (int k : kinds) {
          const int64_t d = g->irreps()[k].dim;
          const at::Tensor v = y.narrow(-1, at_col, d);
          parts.push_back(k == 0 ? v * at::sigmoid(v) : v * at::sigmoid(y.narrow(-1, gate++, 1)));
          at_col += d;
        }
        EXPECT_EQ(gate, gates) << what;
        return l2->forward(at::cat(parts, -1));
      };
      const at::Tensor expected = stock_encoder_arithmetic(x, norm_first, *attn, *n1, *n2, ff);
      EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12) << what;
    }
  }
  // A pointwise activation on a compact group is refused, naming the one that works.
  const RepPtr so3 = eqnn::parse_rep(eqnn::testing::group("SO3"), "2x trivial + irrep(1)");
  const std::string message = eqnn::testing::error_text<eqnn::ConfigError>(
      [&] { make_encoder(so3, "{num_heads: 1, activation: gelu}"); });
  EXPECT_HAS(message, "activation 'gelu' applies a pointwise function");
  EXPECT_HAS(message, "use activation 'gated'");
  EXPECT_HAS(eqnn::testing::error_text<eqnn::ConfigError>(
                 [&] { make_encoder(so3, "{num_heads: 1, activation: gatd}"); }),
             "did you mean 'gated'");
}

// The masks against the stock layer: torch::nn::TransformerEncoderLayer (post-norm, sequence first, as
// this layer's defaults) given this layer's effective weights computes the same with every kind of mask.
TEST(EncoderLayer, MasksAsTheStockLayerWithTheSameWeights) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular");  // D = 16, a permutation rep
  eqnn::ETransformerEncoderLayer ours(
      eqnn::ETransformerEncoderLayerOptions(rep, 2).dim_feedforward(16).dropout(0.0));
  torch::nn::TransformerEncoderLayer stock(
      torch::nn::TransformerEncoderLayerOptions(16, 2).dim_feedforward(16).dropout(0.0));
  eqnn::testing::randomise(*ours, 6, /*stddev=*/0.5);
  ours->to(at::kDouble);
  stock->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    auto stock_parameters = stock->named_parameters();
    int copied = 0;
    for (const char* name : {"self_attn", "linear1", "linear2", "norm1", "norm2"}) {
      for (const auto& [key, value] : child(*ours, name)->effective_parameters()) {
        at::Tensor* slot = stock_parameters.find(std::string(name) + "." + key);
        ASSERT_NE(slot, nullptr) << name << "." << key;
        slot->copy_(value);
        ++copied;
      }
    }
    ASSERT_EQ(copied, static_cast<int>(stock_parameters.size()));  // every stock parameter is set
  }
  const int64_t seq = 5, batch = 3, heads = 2;
  const at::Tensor x = at::randn({seq, batch, 16}, at::kDouble);
  const at::Tensor causal = at::ones({seq, seq}, at::kBool).triu(1);
  const at::Tensor padding =
      at::tensor({0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, at::kInt).ne(0).view({batch, seq});
  auto additive = [](const at::Tensor& mask) {
    return at::zeros(mask.sizes(), at::kDouble).masked_fill(mask, -std::numeric_limits<double>::infinity());
  };
  at::NoGradGuard no_grad;
  auto close = [&](const at::Tensor& a, const at::Tensor& b, const char* what) {
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-12) << what;
  };
  close(ours(x), stock(x), "no masks");
  close(ours(x, additive(causal)), stock(x, additive(causal)), "additive causal mask");
  close(ours(x, causal), stock(x, additive(causal)), "bool causal mask");
  close(ours(x, {}, padding), stock(x, at::Tensor(), padding), "key padding");
  close(ours(x, causal, padding), stock(x, additive(causal), padding), "causal and key padding");
  // A 3-D mask (batch·heads, seq, seq): the stock C++ layer fails on one in LibTorch 2.11 ("output with
  // shape [6, 5, 5] doesn't match the broadcast shape [1, 6, 5, 5]"), so the oracle runs each batch element
  // alone with its 2-D mask, the same for both heads (the attention's own tests check per-head masks
  // against Python's functional). Key 0 is never masked, so no row is all masked.
  at::Tensor per_batch = (at::rand({batch, seq, seq}) < 0.4) & ~at::eye(seq, at::kBool);
  per_batch.select(2, 0).fill_(false);
  const at::Tensor ours_3d = ours(x, per_batch.repeat_interleave(heads, 0), padding);
  for (int64_t n = 0; n < batch; ++n) {
    close(ours_3d.slice(1, n, n + 1),
          stock(x.slice(1, n, n + 1), additive(per_batch[n]), padding.slice(0, n, n + 1)),
          "3-D mask and key padding");
  }
  close(ours(x, causal, additive(padding)), stock(x, additive(causal), padding), "additive key padding");
  // All-false masks change nothing; and the masks take effect.
  close(ours(x, at::zeros({seq, seq}, at::kBool), at::zeros({batch, seq}, at::kBool)), ours(x),
        "all-false masks");
  EXPECT_GT((ours(x, causal) - ours(x)).abs().max().item<double>(), 1e-3);
}

// Independent of any attention code: with a causal mask token t sees only tokens 0..t, so its output is
// the output for the sequence cut after t; with padding, the unpadded tokens' outputs are those of the
// sequence without the padded ones. Both layouts, a 2-D input (single tokens), pre- and post-norm.
TEST(EncoderLayer, MasksMeanWhatTheySay) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C4"), "3x regular");
  for (bool norm_first : {false, true}) {
    eqnn::ETransformerEncoderLayer layer(eqnn::ETransformerEncoderLayerOptions(rep, 3)
                                             .dim_feedforward(8)
                                             .dropout(0.0)
                                             .norm_first(norm_first)
                                             .batch_first(true));
    eqnn::testing::randomise(*layer, 7, /*stddev=*/0.5);
    layer->to(at::kDouble);
    at::NoGradGuard no_grad;
    const int64_t seq = 6;
    const at::Tensor x = at::randn({2, seq, 12}, at::kDouble);
    const at::Tensor causal = at::ones({seq, seq}, at::kBool).triu(1);
    const at::Tensor y = layer(x, causal);
    for (int64_t t = 0; t < seq; ++t) {
      const at::Tensor prefix = layer(x.slice(1, 0, t + 1)).select(1, t);
      EXPECT_LE((y.select(1, t) - prefix).abs().max().item<double>(), 1e-12) << "token " << t;
    }
    // Sample 0 keeps 4 tokens (positions 1 and 4 padded), sample 1 all 6.
    const at::Tensor padding =
        at::tensor({0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, at::kInt).ne(0).view({2, seq});
    const at::Tensor kept = at::tensor({0, 2, 3, 5}, at::kLong);
    const at::Tensor padded_out = layer(x, {}, padding);
    EXPECT_LE((padded_out[0].index_select(0, kept) - layer(x[0].index_select(0, kept).unsqueeze(0))[0])
                  .abs()
                  .max()
                  .item<double>(),
              1e-12);
    EXPECT_LE((padded_out[1] - layer(x.slice(0, 1, 2))[0]).abs().max().item<double>(), 1e-12);
    // Sequence-first layout: the same numbers transposed.
    eqnn::ETransformerEncoderLayer seq_first(
        eqnn::ETransformerEncoderLayerOptions(rep, 3).dim_feedforward(8).dropout(0.0).norm_first(norm_first));
    seq_first->to(at::kDouble);
    eqnn::testing::copy_parameters(*layer, *seq_first, "seq_first");
    EXPECT_LE((seq_first(x.transpose(0, 1), causal, padding).transpose(0, 1) - layer(x, causal, padding))
                  .abs()
                  .max()
                  .item<double>(),
              1e-12);
    // A 2-D input is a batch of single tokens: a (1, 1) mask, a (batch, 1) padding mask.
    const at::Tensor tokens = x.select(1, 0);
    EXPECT_LE((layer(tokens, at::zeros({1, 1}, at::kBool), at::zeros({2, 1}, at::kBool)) - layer(tokens))
                  .abs()
                  .max()
                  .item<double>(),
              1e-12);
  }
}

TEST(EncoderLayer, MaskErrors) {
  using eqnn::testing::error_text;
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  eqnn::ETransformerEncoderLayer layer(eqnn::ETransformerEncoderLayerOptions(rep, 2).batch_first(true));
  const at::Tensor x = at::randn({2, 3, 10});
  EXPECT_HAS(error_text([&] {
               layer(x, at::zeros({4, 4}, at::kBool));
             }),
             "eMultiheadAttention: the 2-D attn_mask has shape [4, 4]");
  EXPECT_HAS(error_text([&] {
               layer(x, {}, at::zeros({3, 2}, at::kBool));
             }),
             "eMultiheadAttention: key_padding_mask has shape [3, 2]");
  EXPECT_HAS(error_text([&] { layer(x, at::zeros({3, 3}, at::kInt)); }), "attn_mask");
  EXPECT_HAS(
      error_text([&] {
        layer(at::randn({10}), at::zeros({1, 1}, at::kBool));
      }),
      "eTransformerEncoderLayer: with masks the input must be (batch, seq, D) or (batch, D), got [10]");
  EXPECT_HAS(error_text([&] {
               layer(at::randn({2, 3, 7}), at::zeros({3, 3}, at::kBool));
             }),
             "eTransformerEncoderLayer: expected input of shape (..., 10)");

  // A registry whose "eMultiheadAttention" is some other layer (here an eLinear): the layer works without
  // masks, and refuses masks naming what it got instead of silently dropping them.
  eqnn::Registry registry;
  registry.register_builtin("sub_layers", [](eqnn::Registrar& r) {
    auto linear = [](const eqnn::LayerArgs& a) -> eqnn::LayerPtr {
      const eqnn::RepPtr out = a.kwargs["out_rep"] ? a.resolve_rep(a.kwargs["out_rep"]) : a.in_rep;
      return std::make_shared<eqnn::ELinearImpl>(eqnn::ELinearOptions(a.in_rep, out));
    };
    r.add_layer("eMultiheadAttention", linear);
    r.add_layer("eLinear", linear);
    r.add_layer("eLayerNorm", [](const eqnn::LayerArgs& a) -> eqnn::LayerPtr {
      return std::make_shared<eqnn::ELayerNormImpl>(eqnn::ELayerNormOptions(a.in_rep));
    });
    r.add_layer("eReLU", [](const eqnn::LayerArgs& a) -> eqnn::LayerPtr {
      return std::make_shared<eqnn::EReLUImpl>(eqnn::EReLUOptions(a.in_rep));
    });
  });
  eqnn::ETransformerEncoderLayer other(
      eqnn::ETransformerEncoderLayerOptions(rep, 2).batch_first(true).registry(&registry));
  EXPECT_EQ(other(x).sizes(), x.sizes());
  EXPECT_HAS(error_text([&] {
               other(x, at::zeros({3, 3}, at::kBool));
             }),
             "eTransformerEncoderLayer: src_mask and src_key_padding_mask need self_attn to be an "
             "EMultiheadAttention; the registry supplied eqnn::ELinear");
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

// The C++ options default as the stock layer's (torch::nn::TransformerEncoderLayerOptions, and Python's
// batch_first = false, norm_first = false, bias = true); the YAML layer alone defaults to batch_first: true.
TEST(EncoderLayer, DirectOptionsDefaultAsTheStockLayer) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "4x regular");
  const eqnn::ETransformerEncoderLayerOptions ours(rep, 2);
  const torch::nn::TransformerEncoderLayerOptions stock(20, 2);
  EXPECT_EQ(ours.dim_feedforward(), stock.dim_feedforward());
  EXPECT_EQ(ours.dropout(), stock.dropout());
  EXPECT_EQ(ours.layer_norm_eps(),
            torch::nn::LayerNormOptions({20}).eps());  // what the stock layer's norms use
  EXPECT_TRUE(std::holds_alternative<torch::enumtype::kReLU>(stock.activation()));
  EXPECT_EQ(ours.activation(), "relu");
  EXPECT_FALSE(ours.batch_first());
  EXPECT_FALSE(ours.norm_first());
  EXPECT_TRUE(ours.bias());
  EXPECT_EQ(ours.registry(), nullptr);
  // Sequence-first by default: the YAML (batch-first) layer's answer on the transposed input. With the
  // registry the sub-layers come from it and compute the same.
  auto via_registry = make_encoder(rep, "{num_heads: 2, dim_feedforward: 10, dropout: 0.0}");
  eqnn::testing::randomise(*via_registry, 2, /*stddev=*/0.5);
  eqnn::ETransformerEncoderLayer seq_first(
      eqnn::ETransformerEncoderLayerOptions(rep, 2).dim_feedforward(10).dropout(0.0));
  eqnn::ETransformerEncoderLayer with_registry(
      eqnn::ETransformerEncoderLayerOptions(rep, 2).dim_feedforward(10).dropout(0.0).registry(
          &eqnn::testing::registry()));
  eqnn::testing::copy_parameters(*via_registry, *seq_first, "seq_first");
  eqnn::testing::copy_parameters(*via_registry, *with_registry, "with_registry");
  const at::Tensor x = at::randn({3, 4, 20});  // (batch 3, seq 4)
  const at::Tensor expected = via_registry->forward(x);
  EXPECT_TRUE(at::allclose(seq_first(x.transpose(0, 1)).transpose(0, 1), expected, 1e-5, 1e-6));
  EXPECT_TRUE(at::equal(with_registry(x.transpose(0, 1)), seq_first(x.transpose(0, 1))));
  EXPECT_GT((seq_first(x) - expected).abs().max().item<double>(), 1e-3);
  EXPECT_EQ(seq_first->effective_parameters().size(), 0u);
}

TEST(EncoderLayer, DirectConstructionErrors) {
  using eqnn::ETransformerEncoderLayer;
  using eqnn::ETransformerEncoderLayerOptions;
  using eqnn::testing::error_text;
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  EXPECT_THROW(ETransformerEncoderLayer(ETransformerEncoderLayerOptions(rep, 3)), eqnn::ConfigError);
  EXPECT_HAS(error_text([&] { ETransformerEncoderLayer(ETransformerEncoderLayerOptions(rep, 3)); }),
             "eTransformerEncoderLayer: eMultiheadAttention: num_heads = 3 does not divide m = 2");
  EXPECT_HAS(
      error_text(
          [&] { ETransformerEncoderLayer(ETransformerEncoderLayerOptions(rep, 2).activation("rleu")); }),
      "eTransformerEncoderLayer: unknown activation 'rleu' (did you mean 'relu'?); known: relu, gelu, silu, "
      "tanh, gated (or their layer names eReLU, eGELU, eSiLU, eTanh, eGatedNonlinearity)");
  EXPECT_HAS(
      error_text([&] { ETransformerEncoderLayer(ETransformerEncoderLayerOptions(rep, 2).dropout(1.5)); }),
      "eTransformerEncoderLayer: 'dropout' must be in [0, 1], found 1.5");
  EXPECT_HAS(error_text([&] {
               ETransformerEncoderLayer(ETransformerEncoderLayerOptions(rep, 2).dim_feedforward(0));
             }),
             "eTransformerEncoderLayer: 'dim_feedforward' must be >= 1, found 0");
  EXPECT_HAS(
      error_text([&] {
        ETransformerEncoderLayer(ETransformerEncoderLayerOptions(rep, 2).init_scheme("xavier_norma"));
      }),
      "eTransformerEncoderLayer: eMultiheadAttention: unknown init_scheme 'xavier_norma' (did you mean "
      "'xavier_normal'?)");
  EXPECT_HAS(error_text([&] { ETransformerEncoderLayer(ETransformerEncoderLayerOptions(nullptr, 1)); }),
             "eTransformerEncoderLayer: in_rep is required");
  auto error = eqnn::validate(ETransformerEncoderLayerOptions(rep, 2).activation("swish"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "activation");
  EXPECT_FALSE(eqnn::validate(ETransformerEncoderLayerOptions(rep, 2).activation("eSiLU")));
  ETransformerEncoderLayer layer(ETransformerEncoderLayerOptions(rep, 2).activation("eTanh"));
  EXPECT_EQ(layer->activation->name(), "eTanh");
  EXPECT_HAS(
      error_text([&] {
        layer(at::randn({2, 3, 7}));
      }),
      "eTransformerEncoderLayer: expected input of shape (..., 10) for in_rep 2x regular (size 10), got "
      "[2, 3, 7]");
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
      "tanh, gated (or their layer names eReLU, eGELU, eSiLU, eTanh, eGatedNonlinearity)");
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

// ---- norm: layer_norm | rms_norm, norm_affine: per_field | per_copy, norm_normalize: all | per_copy ----

// Exactly equivariant on every element for rms_norm with both scale layouts, post- and pre-norm (eval
// mode, dropout off), on every representation kind of C4 and D4; and layer_norm with symm_learning's
// per-copy scales and statistic.
TEST(EncoderNorms, EveryElementEveryKind) {
  struct Variant {
    const char* norm;
    const char* affine;
    const char* normalize;
    double eps;
  };
  // The per-copy statistic maps a 1-dim copy z to z / sqrt(z² + eps), of slope up to 1/sqrt(eps) near 0: with
  // eps 1e-5 it multiplies float32 rounding by ~300 (D4 reached 1.6e-4). That variant runs with eps 1e-2 and
  // a float32 tolerance of 1e-4 (post-norm on D4's sum of irreps reached 2.3e-5: a 1-dim copy's rounding from
  // the attention and the feed-forward, times 10); float64 stays at 1e-10.
  const std::vector<Variant> variants = {{"rms_norm", "per_field", "all", 1e-5},
                                         {"rms_norm", "per_copy", "all", 1e-5},
                                         {"layer_norm", "per_copy", "per_copy", 1e-2}};
  for (const std::string spec : {"C4", "D4"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& kind : eqnn::testing::test_kinds()) {
      RepPtr rep = eqnn::testing::make_kind(g, kind, 2);
      if (!rep) continue;
      for (const auto& v : variants)
        for (bool norm_first : {false, true}) {
          auto layer = make_encoder(
              rep, fmt::format("{{num_heads: 2, dim_feedforward: {}, dropout: 0.1, norm: {}, norm_affine: "
                               "{}, norm_normalize: {}, norm_first: {}, layer_norm_eps: {}}}",
                               g->order() + 1, v.norm, v.affine, v.normalize, norm_first, v.eps));
          EXPECT_EQ(child(*layer, "norm1")->name(),
                    std::string(v.norm) == "rms_norm" ? "eRMSNorm" : "eLayerNorm");
          eqnn::testing::randomise(*layer, 5, /*stddev=*/0.5);
          layer->eval();
          const std::string what = fmt::format("{} {} norm={} affine={} normalize={} norm_first={}", spec,
                                               kind, v.norm, v.affine, v.normalize, norm_first);
          eqnn::testing::EquivarianceSweep sweep;
          sweep.min_scale = eqnn::testing::kRelativeToOutput;
          if (std::string(v.normalize) == "per_copy") sweep.float32_tolerance = 1e-4;
          sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
          sweep.inputs = [&](at::ScalarType dtype) {
            auto o = at::TensorOptions().dtype(dtype);
            return std::vector<at::Tensor>{at::randn({2, 3, rep->size()}, o), at::randn({4, rep->size()}, o)};
          };
          eqnn::testing::ExpectEquivariant([&](const at::Tensor& t) { return layer->forward(t); }, *rep, *rep,
                                           sweep, what);
        }
    }
  }
}

// The layer against torch's TransformerEncoderLayer arithmetic written out here, with the RMS norm as a
// formula (x / sqrt(mean(x²) + eps), then Q diag(α expanded per copy) Qᵀ, or α per field for per_field on
// a regular rep), the feed-forward from the linear maps' dense matrices (x Wᵀ + b, gelu), and only the
// attention taken from the sub-layer. A rep in a random orthogonal basis (per_copy: Q ≠ I) and a regular
// one (per_field: one scale per orbit); post- and pre-norm; with a causal mask and a key-padding mask.
TEST(EncoderNorms, RMSNormIsTheStockArithmeticWithTheFormula) {
  const auto g = eqnn::testing::group("D4");
  const double eps = 1e-3;
  for (const std::string affine : {"per_copy", "per_field"}) {
    RepPtr rep =
        affine == "per_copy" ? eqnn::testing::make_kind(g, "rotated", 2) : eqnn::parse_rep(g, "2x regular");
    for (bool norm_first : {false, true}) {
      eqnn::ETransformerEncoderLayer layer(eqnn::ETransformerEncoderLayerOptions(rep, 2)
                                               .dim_feedforward(12)
                                               .dropout(0.0)
                                               .activation("gelu")
                                               .layer_norm_eps(eps)
                                               .batch_first(true)
                                               .norm_first(norm_first)
                                               .norm("rms_norm")
                                               .norm_affine(affine));
      eqnn::testing::randomise(*layer, 13, /*stddev=*/0.5);
      layer->to(at::kDouble);
      layer->eval();
      at::NoGradGuard no_grad;
      auto rms = [&](const eqnn::LayerPtr& norm, const at::Tensor& x) {
        const at::Tensor alpha = norm->named_parameters()["weight"].detach();
        const at::Tensor xhat = x / at::sqrt(x.pow(2).mean(-1, true) + eps);
        if (affine == "per_field") {  // 2x regular of D4: orbit o = features 8o .. 8o + 7
          EXPECT_EQ(alpha.numel(), 2);
          return xhat * alpha.repeat_interleave(8);
        }
        const at::Tensor Q = eqnn::testing::to_tensor(rep->Q());
        const at::Tensor a = alpha.index_select(0, eqnn::testing::copy_of_column(*rep));
        return at::matmul(xhat, at::matmul(Q * a, Q.t()).t());
      };
      auto dense = [](const eqnn::LayerPtr& linear, const at::Tensor& x) {
        auto p = linear->effective_parameters();
        at::Tensor w, b;
        for (const auto& [name, t] : p) (name == "weight" ? w : b) = t;
        return at::matmul(x, w.t()) + b;
      };
      const at::Tensor x = at::randn({2, 5, rep->size()}, at::kDouble) * 2;
      const at::Tensor causal = at::ones({5, 5}, at::kBool).triu(1);
      const at::Tensor pad = at::tensor({0, 0, 1, 0, 1, 0, 0, 0, 0, 0}, at::kLong).view({2, 5}).to(at::kBool);
      auto* mha = dynamic_cast<eqnn::EMultiheadAttentionImpl*>(layer->self_attn.get());
      ASSERT_TRUE(mha);
      auto attn = [&](const at::Tensor& t) {
        at::Tensor q = mha->options.batch_first() ? t : t.transpose(0, 1);
        at::Tensor y = std::get<0>(mha->forward(q, q, q, pad, false, causal));
        return mha->options.batch_first() ? y : y.transpose(0, 1);
      };
      auto ff = [&](const at::Tensor& t) {
        return dense(layer->linear2, at::gelu(dense(layer->linear1, t)));
      };
      at::Tensor expected;
      if (norm_first) {
        const at::Tensor h = x + attn(rms(layer->norm1, x));
        expected = h + ff(rms(layer->norm2, h));
      } else {
        const at::Tensor h = rms(layer->norm1, x + attn(x));
        expected = rms(layer->norm2, h + ff(h));
      }
      EXPECT_LE((layer(x, causal, pad) - expected).abs().max().item<double>(), 1e-12)
          << affine << " norm_first=" << norm_first;
    }
  }
}

// The norm options reach the sub-layers, directly and through the registry (which picks eLayerNorm or
// eRMSNorm by name); the parameter count drops the stock LayerNorm biases with rms_norm; pretty_print says
// it.
TEST(EncoderNorms, OptionsReachTheNorms) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "4x regular");
  eqnn::ETransformerEncoderLayer direct(eqnn::ETransformerEncoderLayerOptions(rep, 2)
                                            .dim_feedforward(12)
                                            .norm("rms_norm")
                                            .norm_affine("per_copy"));
  auto via_registry =
      make_encoder(rep, "{num_heads: 2, dim_feedforward: 12, norm: rms_norm, norm_affine: per_copy}");
  for (const eqnn::LayerPtr& layer : {direct->norm1, direct->norm2, child(*via_registry, "norm2")}) {
    auto* n = dynamic_cast<eqnn::ERMSNormImpl*>(layer.get());
    ASSERT_TRUE(n);
    EXPECT_EQ(n->options.affine(), "per_copy");
    EXPECT_EQ(n->options.normalize(), "all");
    EXPECT_EQ(n->options.eps(), 1e-5);  // layer_norm_eps, not ERMSNorm's own default 1e-6
    EXPECT_EQ(n->named_parameters()["weight"].numel(), 4 * 3);  // C5 regular: 3 irreducible copies
  }
  auto ln = make_encoder(
      rep, "{num_heads: 2, dim_feedforward: 12, norm_affine: per_copy, norm_normalize: per_copy}");
  auto* n = dynamic_cast<eqnn::ELayerNormImpl*>(child(*ln, "norm1").get());
  ASSERT_TRUE(n);
  EXPECT_EQ(n->options.affine(), "per_copy");
  EXPECT_EQ(n->options.normalize(), "per_copy");
  torch::nn::TransformerEncoderLayer stock(
      torch::nn::TransformerEncoderLayerOptions(20, 2).dim_feedforward(15));
  int64_t count = 0;
  for (const auto& p : stock->parameters()) count += p.numel();
  EXPECT_EQ(direct->unconstrained_parameter_count(), count - 2 * 20);  // RMSNorm: no bias
  EXPECT_EQ(via_registry->unconstrained_parameter_count(), count - 2 * 20);
  EXPECT_EQ(ln->unconstrained_parameter_count(), count);
  std::ostringstream os;
  direct->pretty_print(os);
  EXPECT_HAS(os.str(), "norm=rms_norm (affine per_copy, normalize all)");
  // Default: today's eLayerNorm with per-field scales.
  eqnn::ETransformerEncoderLayer plain(eqnn::ETransformerEncoderLayerOptions(rep, 2));
  auto* d = dynamic_cast<eqnn::ELayerNormImpl*>(plain->norm1.get());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->options.affine(), "per_field");
  EXPECT_EQ(d->options.normalize(), "all");
}

TEST(EncoderNorms, BadValuesNameTheKey) {
  using eqnn::ETransformerEncoderLayerOptions;
  using eqnn::testing::error_text;
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "2x regular");
  struct Bad {
    const char* key;
    const char* value;
    const char* message;
  };
  for (const Bad& bad :
       {Bad{"norm", "rmsnorm",
            "eTransformerEncoderLayer: unknown norm 'rmsnorm' (did you mean 'rms_norm'?); known: layer_norm, "
            "rms_norm"},
        Bad{"norm_affine", "per_cpy",
            "eTransformerEncoderLayer: unknown norm_affine 'per_cpy' (did you mean 'per_copy'?); known: "
            "per_field, per_copy"},
        Bad{"norm_normalize", "everything",
            "eTransformerEncoderLayer: unknown norm_normalize 'everything'; known: all, per_copy"}}) {
    ETransformerEncoderLayerOptions o(rep, 2);
    if (std::string(bad.key) == "norm") o.norm(bad.value);
    if (std::string(bad.key) == "norm_affine") o.norm_affine(bad.value);
    if (std::string(bad.key) == "norm_normalize") o.norm_normalize(bad.value);
    auto error = eqnn::validate(o);
    ASSERT_TRUE(error) << bad.key;
    EXPECT_EQ(error->key, bad.key);
    EXPECT_HAS(error->message, bad.message);
    EXPECT_THROW(eqnn::ETransformerEncoderLayer{o}, eqnn::ConfigError);
    // In a model file the error is located at the value (line 1, its column).
    const std::string text = fmt::format("{{num_heads: 2, {}: {}}}", bad.key, bad.value);
    const std::string yaml = error_text([&] { make_encoder(rep, text); });
    EXPECT_HAS(yaml, fmt::format("1:{}: error: {}", text.find(bad.value) + 1, bad.message));
  }
}

}  // namespace
