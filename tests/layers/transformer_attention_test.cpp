// The transformer layers and stacks with every attention option (mha, additive_pos, additive_rel, rope):
// exact equivariance on every element of C4, D4, C5 and Ico for the encoder layer, the decoder layer and both
// stacks, with shared (L) and per-batch (N, L) positions, position masks, attention masks and key padding
// (float64 <= 1e-10, float32 <= 1e-5; the worst errors are printed); an oracle composed in the test from the
// attention sub-module's own attend() and the layer's linear/norm sub-modules (<= 1e-12, pre- and
// post-norm, both sequence layouts); the stacks equal to their layers in turn; mha unchanged (the stock
// composition through EMultiheadAttention::forward, bit for bit); and the errors (additive_pos without
// max_len, additive_rel without max_distance, an unknown attention with did-you-mean located at its YAML key,
// RoPE with an odd number of copies per head, positions to an mha layer).
#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "e_multihead_attention.hpp"
#include "e_positional_attention.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

const std::vector<std::string> kAttentions = {"mha", "additive_pos", "additive_rel", "rope"};

// The attention keywords of a kind (max_len 12 covers every position below).
std::string attention_kwargs(const std::string& kind) {
  if (kind == "additive_pos") return "attention: additive_pos, max_len: 12";
  if (kind == "additive_rel") return "attention: additive_rel, max_distance: 3";
  if (kind == "rope") return "attention: rope, rope_base: 100.0";
  return "attention: mha";
}

// Regular copies and heads per group: RoPE needs an even number of copies per head.
struct GroupSetup {
  std::string group;
  int copies, heads;
};
std::vector<GroupSetup> setups() { return {{"C4", 4, 2}, {"D4", 2, 1}, {"C5", 4, 2}, {"Ico", 2, 1}}; }

constexpr int64_t kN = 2, kT = 3, kS = 4;

// The inputs besides the sequences, for one case: masks (bool) and positions.
struct Extras {
  std::string label;
  at::Tensor tgt_mask, memory_mask, tgt_padding, memory_padding;
  SequencePositions tgt, memory;
};

std::vector<Extras> extras_for(const std::string& kind) {
  std::vector<Extras> out;
  Extras none;
  none.label = "plain";
  out.push_back(none);
  Extras masks;
  masks.label = "masks";
  masks.tgt_mask = at::ones({kT, kT}, at::kBool).triu(1);
  masks.memory_mask = at::zeros({kT, kS}, at::kBool);
  masks.memory_mask[0][3] = true;
  masks.memory_mask[2][0] = true;
  masks.tgt_padding = at::zeros({kN, kT}, at::kBool);
  masks.tgt_padding[1][2] = true;
  masks.memory_padding = at::zeros({kN, kS}, at::kBool);
  masks.memory_padding[0][1] = true;
  out.push_back(masks);
  if (kind == "mha") return out;
  Extras shared = masks;
  shared.label = "shared positions";
  shared.tgt.positions = at::tensor({0, 2, 5}, at::kLong);
  shared.memory.positions = at::tensor({1, 3, 4, 9}, at::kLong);
  out.push_back(shared);
  Extras batch = masks;
  batch.label = "per-batch positions and position masks";
  batch.tgt.positions = at::tensor({4, 1, 7, 0, 3, 11}, at::kLong).view({kN, kT});
  batch.tgt.mask = at::tensor({1, 1, 0, 1, 0, 1}, at::kInt).ne(0).view({kN, kT});
  batch.memory.positions = at::tensor({2, 8, 5, 6, 10, 0, 3, 1}, at::kLong).view({kN, kS});
  batch.memory.mask = at::tensor({1, 0, 1, 1, 1, 1, 1, 0}, at::kInt).ne(0).view({kN, kS});
  out.push_back(batch);
  return out;
}

DecoderMasks decoder_masks(const Extras& e) {
  DecoderMasks m{e.tgt_mask, e.memory_mask, e.tgt_padding, e.memory_padding};
  m.tgt_positions = e.tgt;
  m.memory_positions = e.memory;
  return m;
}

template <typename Impl>
std::shared_ptr<Impl> build(const char* type, const RepPtr& rep, const std::string& kwargs) {
  auto layer = std::dynamic_pointer_cast<Impl>(make_layer(type, rep, kwargs));
  EXPECT_TRUE(layer) << type;
  return layer;
}

// The worst error per (module, attention, dtype) over every group and case, printed at the end.
std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}
void record(const std::string& key, double err) { worst()[key] = std::max(worst()[key], err); }

TEST(TransformerAttention, EveryKindEquivariantOnEveryElement) {
  at::manual_seed(0);
  for (const GroupSetup& s : setups()) {
    const auto g = group(s.group);
    const RepPtr rep = parse_rep(g, fmt::format("{}x regular", s.copies));
    for (const std::string& kind : kAttentions) {
      const std::string common = fmt::format("num_heads: {}, dim_feedforward: {}, dropout: 0.0, {}", s.heads,
                                             g->order(), attention_kwargs(kind));
      auto enc = build<ETransformerEncoderLayerImpl>("eTransformerEncoderLayer", rep, "{" + common + "}");
      auto dec = build<ETransformerDecoderLayerImpl>("eTransformerDecoderLayer", rep,
                                                     "{" + common + ", norm_first: true}");
      auto enc_stack = build<ETransformerEncoderImpl>(
          "eTransformerEncoder", rep,
          "{" + common + ", num_layers: 2, final_norm: rms_norm, norm_first: true}");
      auto dec_stack = build<ETransformerDecoderImpl>(
          "eTransformerDecoder", rep, "{" + common + ", num_layers: 2, final_norm: layer_norm}");
      std::vector<torch::nn::Module*> modules = {enc.get(), dec.get(), enc_stack.get(), dec_stack.get()};
      uint64_t seed = 1;
      for (auto* m : modules) {
        randomise(*m, seed++, /*stddev=*/0.3);
        m->eval();
      }
      for (const Extras& e : extras_for(kind)) {
        const std::string what = fmt::format("{} {} {}", s.group, kind, e.label);
        auto encode = [&](const at::Tensor& x) { return enc->forward(x, e.tgt_mask, e.tgt_padding, e.tgt); };
        auto encode_stack = [&](const at::Tensor& x) {
          return enc_stack->forward(x, e.tgt_mask, e.tgt_padding, e.tgt);
        };
        // The decoders on (target, memory) packed along the sequence, so that the group acts on both.
        auto decode = [&](const at::Tensor& x) {
          const at::Tensor tgt = x.slice(1, 0, kT), memory = x.slice(1, kT);
          return at::cat({dec->forward(tgt, memory, decoder_masks(e)), memory}, 1);
        };
        auto decode_stack = [&](const at::Tensor& x) {
          const at::Tensor tgt = x.slice(1, 0, kT), memory = x.slice(1, kT);
          return at::cat({dec_stack->forward(tgt, memory, decoder_masks(e)), memory}, 1);
        };
        const std::vector<std::pair<std::string, TensorFn>> cases = {{"encoder layer", encode},
                                                                     {"decoder layer", decode},
                                                                     {"encoder stack", encode_stack},
                                                                     {"decoder stack", decode_stack}};
        at::NoGradGuard no_grad;
        for (auto dtype : {at::kDouble, at::kFloat}) {
          for (auto* m : modules) m->to(dtype);
          const auto opt = at::TensorOptions().dtype(dtype);
          for (const auto& [name, f] : cases) {
            const int64_t len = name.rfind("decoder", 0) == 0 ? kT + kS : kT;
            const at::Tensor x = at::randn({kN, len, rep->size()}, opt);
            const at::Tensor y = f(x);
            ASSERT_TRUE(all_finite(y)) << what << " " << name;
            const double err = equivariance_error(f, *rep, *rep, x);
            record(fmt::format("{} {} {}", name, kind, c10::toString(dtype)), err);
            record(fmt::format("{} {} {} {}", s.group, name, kind, c10::toString(dtype)), err);
            EXPECT_LE(err, tolerance(dtype)) << what << " " << name << " " << c10::toString(dtype);
          }
        }
        // The positions take effect: moving them changes the output.
        if (e.tgt.positions.defined()) {
          for (auto* m : modules) m->to(at::kDouble);
          const at::Tensor x = at::randn({kN, kT + kS, rep->size()}, at::kDouble);
          Extras moved = e;
          moved.tgt.positions = (e.tgt.positions.flip(-1) + 1).clamp_max(11);
          moved.memory.positions = (e.memory.positions.flip(-1) + 1).clamp_max(11);
          const at::Tensor tgt = x.slice(1, 0, kT), memory = x.slice(1, kT);
          const double moved_enc = (enc->forward(tgt, e.tgt_mask, e.tgt_padding, e.tgt) -
                                    enc->forward(tgt, e.tgt_mask, e.tgt_padding, moved.tgt))
                                       .abs()
                                       .max()
                                       .item<double>();
          const double moved_dec =
              (dec->forward(tgt, memory, decoder_masks(e)) - dec->forward(tgt, memory, decoder_masks(moved)))
                  .abs()
                  .max()
                  .item<double>();
          EXPECT_GT(moved_enc, 1e-6) << what;
          EXPECT_GT(moved_dec, 1e-6) << what;
        }
      }
    }
  }
  for (const auto& [key, err] : worst()) std::printf("[ worst    ] %-60s %.3g\n", key.c_str(), err);
}

// ---- the oracle: the layers composed by hand from their sub-modules -------------------------------------

// The stock arithmetic (torch's TransformerEncoderLayer/DecoderLayer), with the attention sub-module's own
// attend() (batch-first) and the layer's linear, activation and norm sub-modules; dropout 0.
at::Tensor attend(torch::nn::Module& layer, const char* name, const at::Tensor& q, const at::Tensor& kv,
                  const at::Tensor& attn_mask, const at::Tensor& padding, const SequencePositions& qp,
                  const SequencePositions& kp) {
  auto attention = std::dynamic_pointer_cast<PositionalAttentionImpl>(layer.named_children()[name]);
  EXPECT_TRUE(attention) << name;
  AttentionCall call;
  call.q = qp;
  call.k = kp;
  call.attn_mask = attn_mask;
  call.key_padding_mask = padding;
  return std::get<0>(attention->attend(q, kv, kv, call));
}

at::Tensor sub(torch::nn::Module& layer, const char* name, const at::Tensor& x) {
  auto child = std::dynamic_pointer_cast<Layer>(layer.named_children()[name]);
  EXPECT_TRUE(child) << name;
  return child->forward(x);
}

at::Tensor feed_forward(torch::nn::Module& layer, const at::Tensor& x) {
  return sub(layer, "linear2", sub(layer, "activation", sub(layer, "linear1", x)));
}

at::Tensor encoder_oracle(torch::nn::Module& layer, bool norm_first, const at::Tensor& x, const Extras& e) {
  auto sa = [&](const at::Tensor& h) {
    return attend(layer, "self_attn", h, h, e.tgt_mask, e.tgt_padding, e.tgt, e.tgt);
  };
  if (norm_first) {
    at::Tensor h = x + sa(sub(layer, "norm1", x));
    return h + feed_forward(layer, sub(layer, "norm2", h));
  }
  at::Tensor h = sub(layer, "norm1", x + sa(x));
  return sub(layer, "norm2", h + feed_forward(layer, h));
}

at::Tensor decoder_oracle(torch::nn::Module& layer, bool norm_first, const at::Tensor& x,
                          const at::Tensor& mem, const Extras& e) {
  auto sa = [&](const at::Tensor& h) {
    return attend(layer, "self_attn", h, h, e.tgt_mask, e.tgt_padding, e.tgt, e.tgt);
  };
  auto ca = [&](const at::Tensor& h) {
    return attend(layer, "multihead_attn", h, mem, e.memory_mask, e.memory_padding, e.tgt, e.memory);
  };
  if (norm_first) {
    at::Tensor h = x + sa(sub(layer, "norm1", x));
    h = h + ca(sub(layer, "norm2", h));
    return h + feed_forward(layer, sub(layer, "norm3", h));
  }
  at::Tensor h = sub(layer, "norm1", x + sa(x));
  h = sub(layer, "norm2", h + ca(h));
  return sub(layer, "norm3", h + feed_forward(layer, h));
}

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

TEST(TransformerAttention, LayersAreTheHandCompositionOfTheirSubModules) {
  at::manual_seed(1);
  const RepPtr rep = random_basis(parse_rep(group("C4"), "4x regular"), 3);  // a change of basis too
  for (const std::string& kind : {"additive_pos", "additive_rel", "rope"}) {
    for (bool norm_first : {false, true}) {
      for (bool batch_first : {true, false}) {
        const std::string what =
            fmt::format("{} norm_first={} batch_first={}", kind, norm_first, batch_first);
        const std::string kwargs = fmt::format(
            "{{num_heads: 2, dim_feedforward: 12, dropout: 0.0, norm_first: {}, batch_first: {}, "
            "activation: gelu, norm: rms_norm, {}}}",
            norm_first, batch_first, attention_kwargs(kind));
        auto enc = build<ETransformerEncoderLayerImpl>("eTransformerEncoderLayer", rep, kwargs);
        auto dec = build<ETransformerDecoderLayerImpl>("eTransformerDecoderLayer", rep, kwargs);
        randomise(*enc, 11, 0.4);
        randomise(*dec, 12, 0.4);
        enc->eval();
        dec->eval();
        enc->to(at::kDouble);
        dec->to(at::kDouble);
        at::NoGradGuard no_grad;
        for (const Extras& e : extras_for(kind)) {
          const at::Tensor x = at::randn({kN, kT, rep->size()}, at::kDouble);
          const at::Tensor mem = at::randn({kN, kS, rep->size()}, at::kDouble);
          // The layer in its layout; the oracle batch-first (the sub-modules' own layout).
          auto in = [&](const at::Tensor& t) { return batch_first ? t : t.transpose(0, 1); };
          const at::Tensor y_enc = in(enc->forward(in(x), e.tgt_mask, e.tgt_padding, e.tgt));
          EXPECT_LE(max_abs(y_enc, encoder_oracle(*enc, norm_first, x, e)), 1e-12) << what << " " << e.label;
          const at::Tensor y_dec = in(dec->forward(in(x), in(mem), decoder_masks(e)));
          EXPECT_LE(max_abs(y_dec, decoder_oracle(*dec, norm_first, x, mem, e)), 1e-12)
              << what << " " << e.label;
        }
        // A 2-D (batch, D) input is a batch of single tokens.
        const at::Tensor x2 = at::randn({5, rep->size()}, at::kDouble);
        EXPECT_LE(
            max_abs(enc->forward(x2), encoder_oracle(*enc, norm_first, x2.unsqueeze(1), Extras()).squeeze(1)),
            1e-12)
            << what;
      }
    }
  }
}

// The stacks are their layers in turn (with the same masks and positions) and then the final norm.
TEST(TransformerAttention, StacksAreTheirLayersInTurn) {
  at::manual_seed(2);
  const RepPtr rep = parse_rep(group("D4"), "2x regular");
  for (const std::string& kind : {"additive_pos", "additive_rel", "rope"}) {
    const std::string kwargs = fmt::format(
        "{{num_heads: 1, dim_feedforward: 8, dropout: 0.0, num_layers: 3, final_norm: layer_norm, {}}}",
        attention_kwargs(kind));
    auto enc = build<ETransformerEncoderImpl>("eTransformerEncoder", rep, kwargs);
    auto dec = build<ETransformerDecoderImpl>("eTransformerDecoder", rep, kwargs);
    randomise(*enc, 21, 0.4);
    randomise(*dec, 22, 0.4);
    enc->eval();
    dec->eval();
    enc->to(at::kDouble);
    dec->to(at::kDouble);
    at::NoGradGuard no_grad;
    for (const Extras& e : extras_for(kind)) {
      const at::Tensor x = at::randn({kN, kT, rep->size()}, at::kDouble);
      const at::Tensor mem = at::randn({kN, kS, rep->size()}, at::kDouble);
      at::Tensor a = x, b = x;
      for (size_t i = 0; i < 3; ++i) {
        a = enc->layers->ptr<ETransformerEncoderLayerImpl>(i)->forward(a, e.tgt_mask, e.tgt_padding, e.tgt);
        b = dec->layers->ptr<ETransformerDecoderLayerImpl>(i)->forward(b, mem, decoder_masks(e));
      }
      EXPECT_TRUE(at::equal(enc->forward(x, e.tgt_mask, e.tgt_padding, e.tgt), enc->norm->forward(a)))
          << kind << " " << e.label;
      EXPECT_TRUE(at::equal(dec->forward(x, mem, decoder_masks(e)), dec->norm->forward(b)))
          << kind << " " << e.label;
    }
  }
}

// attention = mha is the layer as it was: EMultiheadAttention::forward in the stock arithmetic, bit for bit,
// and no positional sub-module.
TEST(TransformerAttention, MhaIsUnchanged) {
  const RepPtr rep = parse_rep(group("C5"), "2x regular");
  auto enc = build<ETransformerEncoderLayerImpl>(
      "eTransformerEncoderLayer", rep, "{num_heads: 2, dim_feedforward: 10, dropout: 0.0, attention: mha}");
  auto dec = build<ETransformerDecoderLayerImpl>(
      "eTransformerDecoderLayer", rep, "{num_heads: 2, dim_feedforward: 10, dropout: 0.0, norm_first: true}");
  EXPECT_EQ(dec->options.attention(), "mha");
  randomise(*enc, 31, 0.4);
  randomise(*dec, 32, 0.4);
  EXPECT_TRUE(std::dynamic_pointer_cast<EMultiheadAttentionImpl>(enc->self_attn));
  EXPECT_TRUE(std::dynamic_pointer_cast<EMultiheadAttentionImpl>(dec->multihead_attn));
  auto mha = [](const LayerPtr& l) { return std::dynamic_pointer_cast<EMultiheadAttentionImpl>(l); };
  enc->eval();
  dec->eval();
  const Extras e = extras_for("mha")[1];
  const at::Tensor x = at::randn({kN, kT, rep->size()}), mem = at::randn({kN, kS, rep->size()});
  at::NoGradGuard no_grad;
  // The YAML layers are batch-first; their attentions take (seq, batch, D) (EMultiheadAttention's default).
  auto t = [](const at::Tensor& a) { return a.transpose(0, 1); };
  // Post-norm encoder (the stock layer's default).
  const at::Tensor xt = t(x);
  at::Tensor h = enc->norm1->forward(
      x + t(std::get<0>(mha(enc->self_attn)->forward(xt, xt, xt, e.tgt_padding, false, e.tgt_mask))));
  h = enc->norm2->forward(h + feed_forward(*enc, h));
  EXPECT_TRUE(at::equal(enc->forward(x, e.tgt_mask, e.tgt_padding), h));
  // Pre-norm decoder.
  at::Tensor n1 = t(dec->norm1->forward(x));
  at::Tensor d =
      x + t(std::get<0>(mha(dec->self_attn)->forward(n1, n1, n1, e.tgt_padding, false, e.tgt_mask)));
  at::Tensor n2 = t(dec->norm2->forward(d));
  const at::Tensor memt = t(mem);
  d = d + t(std::get<0>(
              mha(dec->multihead_attn)->forward(n2, memt, memt, e.memory_padding, false, e.memory_mask)));
  d = d + feed_forward(*dec, dec->norm3->forward(d));
  EXPECT_TRUE(at::equal(dec->forward(x, mem, decoder_masks(e)), d));
}

// ---- errors ---------------------------------------------------------------------------------------------

TEST(TransformerAttention, OptionErrors) {
  const RepPtr rep = parse_rep(group("C5"), "2x regular");
  struct Bad {
    std::string kwargs, key, value, message;
  };
  const std::vector<Bad> bads = {
      {"{num_heads: 1, attention: rpoe}", "attention", "rpoe",
       "eTransformerEncoderLayer: unknown attention 'rpoe' (did you mean 'rope'?); known: mha, additive_pos, "
       "additive_rel, rope ("},
      {"{num_heads: 1, attention: additive_pos}", "attention", "",
       "eTransformerEncoderLayer: attention 'additive_pos' needs 'max_len' > 0 (the size of its table of "
       "absolute positions: positions lie in [0, max_len)), found 0"},
      {"{num_heads: 1, attention: additive_rel, max_distance: 0}", "max_distance", "0",
       "eTransformerEncoderLayer: attention 'additive_rel' needs 'max_distance' > 0 (relative distances are "
       "clipped to [-max_distance, max_distance]), found 0"},
      {"{num_heads: 1, max_len: -2}", "max_len", "-2",
       "eTransformerEncoderLayer: 'max_len' must be >= 0 (0: not used), found -2"}};
  for (const Bad& bad : bads) {
    const std::string yaml = error_text([&] { make_layer("eTransformerEncoderLayer", rep, bad.kwargs); });
    // Located at the key's value where the file gives it, else at the layer's arguments.
    const size_t column = bad.value.empty() ? 1 : bad.kwargs.find(": " + bad.value) + 3;
    EXPECT_HAS(yaml, fmt::format("1:{}: error: {}", column, bad.message));
  }
  // Direct construction: validate names the key.
  ETransformerDecoderLayerOptions o(rep, 1);
  o.attention("additive_rel");
  auto error = validate(o);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "max_distance");
  EXPECT_HAS(error->message, "eTransformerDecoderLayer: attention 'additive_rel' needs 'max_distance' > 0");
  EXPECT_THROW(ETransformerDecoderLayer{o}, ConfigError);
  o.attention("additve_pos");
  EXPECT_HAS(validate(o)->message, "unknown attention 'additve_pos' (did you mean 'additive_pos'?)");
  // The stacks take the same keys, flat.
  EXPECT_HAS(error_text([&] {
               make_layer("eTransformerEncoder", rep,
                          "{num_heads: 1, num_layers: 2, attention: "
                          "additive_pos}");
             }),
             "eTransformerEncoder: attention 'additive_pos' needs 'max_len' > 0");
}

TEST(TransformerAttention, RoPEWithAnOddNumberOfCopiesPerHeadIsTheAttentionsMessage) {
  const RepPtr rep = parse_rep(group("C5"), "2x regular");
  const std::string attention =
      "eRoPEMultiheadAttention: num_heads = 2 leaves 1 regular copy per head (m = 2, in_rep 2x regular (size "
      "10)); RoPE "
      "rotates pairs of whole regular copies, so m/num_heads must be even; valid num_heads: 1";
  EXPECT_HAS(error_text([&] {
               ETransformerEncoderLayer layer(ETransformerEncoderLayerOptions(rep, 2).attention("rope"));
             }),
             "eTransformerEncoderLayer: " + attention);
  EXPECT_HAS(
      error_text([&] { make_layer("eTransformerDecoderLayer", rep, "{num_heads: 2, attention: rope}"); }),
      "eTransformerDecoderLayer: " + attention);
  EXPECT_HAS(error_text([&] {
               make_layer("eTransformerDecoder", rep, "{num_heads: 2, num_layers: 2, attention: rope}");
             }),
             "eTransformerDecoderLayer: " + attention);
}

TEST(TransformerAttention, PositionsToAnMhaLayerAreRefused) {
  const RepPtr rep = parse_rep(group("C4"), "2x regular");
  ETransformerEncoderLayer enc(ETransformerEncoderLayerOptions(rep, 1).dim_feedforward(8).batch_first(true));
  ETransformerDecoderLayer dec(ETransformerDecoderLayerOptions(rep, 1).dim_feedforward(8).batch_first(true));
  ETransformerEncoder enc_stack(ETransformerEncoderOptions(
      ETransformerEncoderLayerOptions(rep, 1).dim_feedforward(8).batch_first(true), 2));
  ETransformerDecoder dec_stack(ETransformerDecoderOptions(
      ETransformerDecoderLayerOptions(rep, 1).dim_feedforward(8).batch_first(true), 2));
  const at::Tensor x = at::randn({2, 3, rep->size()}), mem = at::randn({2, 4, rep->size()});
  const std::string tail =
      "given, but the layer's attention is 'mha' (eMultiheadAttention), which has no positions "
      "(symm_learning's "
      "layers drop them silently; eqnn refuses); positions are used by attention 'additive_pos', "
      "'additive_rel' "
      "or 'rope'";
  EXPECT_HAS(error_text([&] {
               enc->forward(x, {}, {}, {at::arange(3), {}});
             }),
             "eTransformerEncoderLayer: src_positions/src_position_mask " + tail);
  EXPECT_HAS(error_text([&] {
               enc_stack->forward(x, {}, {}, {{}, at::ones({3}, at::kBool)});
             }),
             "eTransformerEncoder: positions (src_positions/src_position_mask) " + tail);
  DecoderMasks m;
  m.memory_positions.positions = at::arange(4);
  EXPECT_HAS(
      error_text([&] { dec->forward(x, mem, m); }),
      "eTransformerDecoderLayer: tgt_positions/tgt_position_mask/memory_positions/memory_position_mask " +
          tail);
  EXPECT_HAS(
      error_text([&] { dec_stack->forward(x, mem, m); }),
      "eTransformerDecoder: tgt_positions/tgt_position_mask/memory_positions/memory_position_mask " + tail);
  // Without positions, the mha layers run.
  EXPECT_EQ(dec_stack->forward(x, mem).sizes(), x.sizes());
}

}  // namespace
}  // namespace eqnn::testing
