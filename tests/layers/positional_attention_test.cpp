// The positional attention layers (eRoPEMultiheadAttention, eAdditivePosMultiheadAttention,
// eAdditiveRelMultiheadAttention): exact equivariance on every element of C4, D4, C5 and Ico in float64 and
// float32 with per-batch positions, position masks, key padding and an attention mask, on regular, rotated
// and mixed reps; RoPE's shift invariance, a dense kron(R_p, I_n) oracle, not-a-no-op, and equality with
// eMultiheadAttention at position 0; dense oracles for the additive layers; the registry factories; every
// option and input error.
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "e_multihead_attention.hpp"
#include "e_positional_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

// Inputs of one positional call, batch-first: q (N, L, D), k/v (N, S, D).
struct Call {
  at::Tensor q, k, v;
  AttentionCall call;
};

Call random_call(int64_t d, at::ScalarType dtype, bool masks, bool float_positions) {
  const auto opt = at::TensorOptions().dtype(dtype);
  const int64_t N = 2, L = 3, S = 4;
  Call c{at::randn({N, L, d}, opt), at::randn({N, S, d}, opt), at::randn({N, S, d}, opt), {}};
  if (float_positions) {
    c.call.q.positions = at::rand({N, L}, at::kDouble) * 9;
    c.call.k.positions = at::rand({N, S}, at::kDouble) * 9;
  } else {
    c.call.q.positions = at::randint(0, 8, {N, L}, at::kLong);
    c.call.k.positions = at::randint(0, 8, {1, S}, at::kLong);
  }
  if (masks) {
    c.call.q.mask = at::ones({N, L}, at::kBool);
    c.call.q.mask[1][0] = false;
    c.call.k.mask = at::ones({S}, at::kBool);
    c.call.k.mask[2] = false;
    c.call.key_padding_mask = at::zeros({N, S}, at::kBool);
    c.call.key_padding_mask[0][3] = true;
    c.call.attn_mask = at::randn({L, S}, opt);
  }
  c.call.need_weights = true;
  c.call.average_attn_weights = false;
  return c;
}

// Worst (relative output equivariance error, weight invariance error) over every group element.
std::pair<double, double> errors(PositionalAttentionImpl& layer, const Representation& rep, const Call& c) {
  const at::Tensor rho = rep_matrices(rep, c.q.scalar_type());
  auto [y, w] = layer.attend(c.q, c.k, c.v, c.call);
  const double scale = y.abs().max().item<double>();
  double out = 0, weight = 0;
  for (int g = 0; g < rep.group().order(); ++g) {
    auto [yg, wg] = layer.attend(act(rho[g], c.q), act(rho[g], c.k), act(rho[g], c.v), c.call);
    out = nan_max(out, (yg - act(rho[g], y)).abs().max().item<double>() / scale);
    weight = nan_max(weight, (wg - w).abs().max().item<double>());
  }
  return {out, weight};
}

struct Case {
  std::string group;
  int copies;
  int heads;
};

std::vector<Case> rope_cases() {
  return {{"C4", 4, 1}, {"C4", 4, 2}, {"D4", 2, 1}, {"C5", 2, 1}, {"Ico", 2, 1}};
}

std::vector<std::shared_ptr<PositionalAttentionImpl>> all_layers(const RepPtr& rep, int heads) {
  std::vector<std::shared_ptr<PositionalAttentionImpl>> out;
  out.push_back(std::make_shared<ERoPEMultiheadAttentionImpl>(ERoPEMultiheadAttentionOptions(rep, heads)));
  if (rep->multiplicities()[0] > 0)
    out.push_back(std::make_shared<EAdditivePosMultiheadAttentionImpl>(
        EAdditivePosMultiheadAttentionOptions(rep, heads, 10)));
  out.push_back(std::make_shared<EAdditiveRelMultiheadAttentionImpl>(
      EAdditiveRelMultiheadAttentionOptions(rep, heads, 3)));
  return out;
}

TEST(PositionalAttention, EquivariantOnEveryElement) {
  at::manual_seed(0);
  for (const auto& c : rope_cases()) {
    auto g = group(c.group);
    for (const std::string kind : {"regular", "rotated", "irreps"}) {
      RepPtr rep = make_kind(g, kind, c.copies);
      for (auto& layer : all_layers(rep, c.heads)) {
        randomise(*layer, 3,
                  0.2);  // moderate logits: float32 rounding stays below 1e-5 on Ico (120 features)
        layer->eval();
        at::NoGradGuard no_grad;
        for (auto dtype : {at::kDouble, at::kFloat}) {
          layer->to(dtype);
          for (bool masks : {false, true}) {
            const std::string what = fmt::format("{} {} {} heads={} {} masks={}", layer->name(), c.group,
                                                 kind, c.heads, c10::toString(dtype), masks);
            auto [out, weight] = errors(*layer, *rep, random_call(rep->size(), dtype, masks, false));
            EXPECT_LT(out, tolerance(dtype)) << what;
            EXPECT_LT(weight, tolerance(dtype)) << what;
          }
          // The Layer interface (self-attention, default positions).
          auto f = [&](const at::Tensor& x) { return layer->forward(x); };
          EXPECT_LT(equivariance_error(f, *rep, *rep, at::randn({2, 3, rep->size()}, dtype)),
                    tolerance(dtype))
              << layer->name() << " " << c.group << " layer";
        }
      }
    }
  }
}

// ---- RoPE ----------------------------------------------------------------------------------------------

std::shared_ptr<ERoPEMultiheadAttentionImpl> rope(const std::string& spec, int copies, int heads) {
  auto layer = std::make_shared<ERoPEMultiheadAttentionImpl>(
      ERoPEMultiheadAttentionOptions(parse_rep(group(spec), fmt::format("{}x regular", copies)), heads));
  randomise(*layer, 5, 0.3);
  layer->to(at::kDouble);
  layer->eval();
  return layer;
}

TEST(RoPEAttention, ShiftInvariant) {
  at::manual_seed(1);
  auto layer = rope("C4", 4, 2);
  at::NoGradGuard no_grad;
  Call c = random_call(16, at::kDouble, true, true);
  auto [y, w] = layer->attend(c.q, c.k, c.v, c.call);
  for (double t : {7.0, -3.0, 0.5}) {
    Call shifted = c;
    shifted.call.q.positions = c.call.q.positions + t;
    shifted.call.k.positions = c.call.k.positions + t;
    shifted.call.q.mask = shifted.call.k.mask = at::Tensor();  // masked tokens sit at 0, which a shift moves
    Call base = c;
    base.call.q.mask = base.call.k.mask = at::Tensor();
    auto [y0, w0] = layer->attend(base.q, base.k, base.v, base.call);
    auto [yt, wt] = layer->attend(shifted.q, shifted.k, shifted.v, shifted.call);
    EXPECT_LT((wt - w0).abs().max().item<double>(), 1e-12) << "t=" << t;
    EXPECT_LT((yt - y0).abs().max().item<double>(), 1e-12) << "t=" << t;
  }
  (void)y;
  (void)w;
}

TEST(RoPEAttention, NotANoOpAndPositionZeroIsEMHA) {
  at::manual_seed(2);
  auto layer = rope("D4", 4, 2);
  EMultiheadAttention mha(layer->attn->options);
  copy_parameters(*layer->attn, *mha, "attn");
  mha->to(at::kDouble);
  mha->eval();
  at::NoGradGuard no_grad;
  Call c = random_call(32, at::kDouble, true, false);
  auto [ym, wm] = mha->forward(c.q, c.k, c.v, c.call.key_padding_mask, true, c.call.attn_mask, false);
  // All positions 0, or every position masked: eMultiheadAttention exactly.
  Call zero = c;
  zero.call.q.positions = at::zeros({3}, at::kLong);
  zero.call.k.positions = at::zeros({2, 4}, at::kLong);
  zero.call.q.mask = zero.call.k.mask = at::Tensor();
  auto [yz, wz] = layer->attend(zero.q, zero.k, zero.v, zero.call);
  EXPECT_LE((yz - ym).abs().max().item<double>(), 1e-14);
  EXPECT_LE((wz - wm).abs().max().item<double>(), 1e-14);
  Call masked = c;
  masked.call.q.mask = at::zeros({3}, at::kBool);
  masked.call.k.mask = at::zeros({2, 4}, at::kBool);
  auto [yk, wk] = layer->attend(masked.q, masked.k, masked.v, masked.call);
  EXPECT_LE((yk - ym).abs().max().item<double>(), 1e-14);
  // Moving one key changes its logits.
  Call moved = zero;
  moved.call.k.positions = at::zeros({2, 4}, at::kLong);
  moved.call.k.positions[0][1] = 5;
  auto [y1, w1] = layer->attend(moved.q, moved.k, moved.v, moved.call);
  const at::Tensor logit0 = wz.log(), logit1 = w1.log();
  // log-weights differ by a per-row constant elsewhere; compare the moved key against key 0.
  const at::Tensor d0 = logit0.select(-1, 1) - logit0.select(-1, 0),
                   d1 = logit1.select(-1, 1) - logit1.select(-1, 0);
  EXPECT_GT((d1 - d0)[0].abs().max().item<double>(), 1e-3);
  EXPECT_LE((d1 - d0)[1].abs().max().item<double>(), 1e-12);  // the other batch item did not move
}

// R_p ∈ SO(c): ⊕_i R(p·θ_i) on copies (2i, 2i+1).
at::Tensor rotation(double p, int64_t c, double base) {
  at::Tensor r = at::zeros({c, c}, at::kDouble);
  for (int64_t i = 0; i < c / 2; ++i) {
    const double a = p * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(c));
    r[2 * i][2 * i] = std::cos(a);
    r[2 * i][2 * i + 1] = -std::sin(a);
    r[2 * i + 1][2 * i] = std::sin(a);
    r[2 * i + 1][2 * i + 1] = std::cos(a);
  }
  return r;
}

TEST(RoPEAttention, DenseKroneckerOracle) {
  at::manual_seed(3);
  for (const auto& [spec, copies, heads] :
       std::vector<std::tuple<std::string, int, int>>{{"C4", 4, 2}, {"D4", 4, 1}, {"C5", 2, 1}}) {
    auto layer = rope(spec, copies, heads);
    at::NoGradGuard no_grad;
    std::map<std::string, at::Tensor> p;
    for (const auto& [name, t] : layer->attn->effective_parameters()) p[name] = t;
    const int64_t n = group(spec)->order(), D = copies * n, hd = D / heads, c = copies / heads;
    Call call = random_call(D, at::kDouble, true, true);
    auto [y, w] = layer->attend(call.q, call.k, call.v, call.call);
    const at::Tensor Wq = p["in_proj_weight"].narrow(0, 0, D), Wk = p["in_proj_weight"].narrow(0, D, D),
                     Wv = p["in_proj_weight"].narrow(0, 2 * D, D);
    const at::Tensor bq = p["in_proj_bias"].narrow(0, 0, D), bk = p["in_proj_bias"].narrow(0, D, D),
                     bv = p["in_proj_bias"].narrow(0, 2 * D, D);
    for (int64_t b = 0; b < 2; ++b) {
      const int64_t L = 3, S = 4;
      at::Tensor out = at::zeros({L, D}, at::kDouble);
      for (int64_t h = 0; h < heads; ++h) {
        at::Tensor logits = at::zeros({L, S}, at::kDouble);
        std::vector<at::Tensor> qs, ks;
        for (int64_t l = 0; l < L; ++l) {
          const bool valid = call.call.q.mask[b][l].item<bool>();
          const double pos = valid ? call.call.q.positions[b][l].item<double>() : 0.0;
          at::Tensor q = (at::matmul(Wq, call.q[b][l]) + bq).narrow(0, h * hd, hd);
          qs.push_back(at::matmul(at::kron(rotation(pos, c, 10000.0), at::eye(n, at::kDouble)), q));
        }
        for (int64_t s = 0; s < S; ++s) {
          const bool valid = call.call.k.mask[s].item<bool>();
          const double pos = valid ? call.call.k.positions[b][s].item<double>() : 0.0;
          at::Tensor k = (at::matmul(Wk, call.k[b][s]) + bk).narrow(0, h * hd, hd);
          ks.push_back(at::matmul(at::kron(rotation(pos, c, 10000.0), at::eye(n, at::kDouble)), k));
        }
        for (int64_t l = 0; l < L; ++l)
          for (int64_t s = 0; s < S; ++s)
            logits[l][s] = at::dot(qs[l], ks[s]) / std::sqrt(static_cast<double>(hd)) +
                           call.call.attn_mask[l][s] +
                           (call.call.key_padding_mask[b][s].item<bool>() ? -INFINITY : 0.0);
        at::Tensor weights = at::softmax(logits, -1);
        EXPECT_LE((weights - w[b][h]).abs().max().item<double>(), 1e-12) << spec;
        at::Tensor v = (at::matmul(call.v[b], Wv.t()) + bv).narrow(1, h * hd, hd);
        out.narrow(1, h * hd, hd).copy_(at::matmul(weights, v));
      }
      at::Tensor expected = at::matmul(out, p["out_proj.weight"].t()) + p["out_proj.bias"];
      EXPECT_LE((expected - y[b]).abs().max().item<double>(), 1e-12) << spec;
    }
  }
}

TEST(RoPEAttention, FusedPathAndLayoutsAgree) {
  at::manual_seed(4);
  auto layer = rope("C4", 4, 2);
  at::NoGradGuard no_grad;
  Call c = random_call(16, at::kDouble, true, false);
  auto [y, w] = layer->attend(c.q, c.k, c.v, c.call);
  AttentionCall fused = c.call;
  fused.need_weights = false;
  auto [yf, wf] = layer->attend(c.q, c.k, c.v, fused);
  EXPECT_FALSE(wf.defined());
  EXPECT_LE((yf - y).abs().max().item<double>(), 1e-12);
  // Sequence-first.
  layer->attn->options.batch_first(false);
  auto [ys, ws] = layer->attend(c.q.transpose(0, 1), c.k.transpose(0, 1), c.v.transpose(0, 1), c.call);
  EXPECT_LE((ys.transpose(0, 1) - y).abs().max().item<double>(), 1e-12);
  layer->attn->options.batch_first(true);
  // Unbatched: batch item 0 alone.
  AttentionCall one;
  one.q.positions = c.call.q.positions[0];
  one.k.positions = c.call.k.positions[0];
  one.q.mask = c.call.q.mask[0];
  one.k.mask = c.call.k.mask;
  one.key_padding_mask = c.call.key_padding_mask[0];
  one.attn_mask = c.call.attn_mask;
  one.need_weights = true;
  one.average_attn_weights = false;
  auto [yu, wu] = layer->attend(c.q[0], c.k[0], c.v[0], one);
  EXPECT_LE((yu - y[0]).abs().max().item<double>(), 1e-12);
}

TEST(RoPEAttention, Errors) {
  auto g = group("C4");
  auto message = [&](const std::string& rep, int heads) {
    return error_text<ConfigError>(
        [&] { ERoPEMultiheadAttention(ERoPEMultiheadAttentionOptions(parse_rep(g, rep), heads)); });
  };
  EXPECT_HAS(message("2x regular", 2),
             "eRoPEMultiheadAttention: num_heads = 2 leaves 1 regular copy per head (m = 2");
  EXPECT_HAS(message("2x regular", 2), "m/num_heads must be even; valid num_heads: 1");
  EXPECT_HAS(message("6x regular", 2), "valid num_heads: 1, 3");
  EXPECT_HAS(message("3x regular", 1), "valid num_heads: none");
  EXPECT_HAS(message("regular + trivial", 1), "eRoPEMultiheadAttention: in_rep");
  EXPECT_HAS(message("regular + trivial", 1), "not a multiple of |G| = 4");
  EXPECT_HAS(message("4x regular", 3), "eRoPEMultiheadAttention: num_heads = 3 does not divide m = 4");
  EXPECT_HAS(
      error_text<ConfigError>([&] {
        ERoPEMultiheadAttention(ERoPEMultiheadAttentionOptions(parse_rep(g, "2x regular"), 1).rope_base(0));
      }),
      "rope_base must be a finite number > 0, got 0");
  auto layer = rope("C4", 2, 1);
  at::Tensor x = at::randn({2, 3, 8}, at::kDouble);
  AttentionCall call;
  call.q.positions = at::zeros({4}, at::kLong);
  EXPECT_HAS(error_text([&] { layer->attend(x, x, x, call); }),
             "eRoPEMultiheadAttention: q_positions has shape [1, 4], expected (3), (1, 3) or (2, 3)");
  call.q.positions = at::zeros({3}, at::kLong);
  call.k.mask = at::ones({3}, at::kLong);
  EXPECT_HAS(error_text([&] { layer->attend(x, x, x, call); }), "k_position_mask must be bool");
  call.k.mask = at::Tensor();
  call.k.positions = at::zeros({3, 3}, at::kLong);
  EXPECT_HAS(error_text([&] { layer->attend(x, x, x, call); }), "k_positions has shape [3, 3]");
  call.k.positions = at::full({3}, std::numeric_limits<double>::infinity(), at::kDouble);
  EXPECT_HAS(error_text([&] { layer->attend(x, x, x, call); }), "k_positions must be finite");
}

// ---- additive layers -----------------------------------------------------------------------------------

TEST(AdditivePosAttention, DenseOracleAndErrors) {
  at::manual_seed(5);
  auto g = group("D4");
  RepPtr rep = random_basis(parse_rep(g, "2x regular"), 3);
  EAdditivePosMultiheadAttention layer(EAdditivePosMultiheadAttentionOptions(rep, 2, 8));
  randomise(*layer, 9, 0.3);
  layer->to(at::kDouble);
  layer->eval();
  EMultiheadAttention mha(layer->attn->options);
  copy_parameters(*layer->attn, *mha, "attn");
  mha->to(at::kDouble);
  at::NoGradGuard no_grad;
  const at::Tensor table = layer->pos_emb();
  // Rows invariant: ρ(g) e = e.
  const at::Tensor rho = rep_matrices(*rep);
  for (int e = 0; e < g->order(); ++e)
    EXPECT_LE((act(rho[e], table) - table).abs().max().item<double>(), 1e-12);
  EXPECT_GT(table.abs().max().item<double>(), 1e-3);
  Call c = random_call(16, at::kDouble, true, false);
  auto [y, w] = layer->attend(c.q, c.k, c.v, c.call);
  const at::Tensor qmask = c.call.q.mask.unsqueeze(-1).to(at::kDouble),
                   kmask = c.call.k.mask.unsqueeze(-1).to(at::kDouble);
  const at::Tensor q =
      c.q + table.index_select(0, c.call.q.positions.reshape({-1})).reshape({2, 3, 16}) * qmask;
  const at::Tensor k =
      c.k + table.index_select(0, c.call.k.positions.reshape({-1})).reshape({1, 4, 16}) * kmask;
  auto [ym, wm] = mha->forward(q, k, c.v, c.call.key_padding_mask, true, c.call.attn_mask, false);
  EXPECT_LE((y - ym).abs().max().item<double>(), 1e-12);
  EXPECT_LE((w - wm).abs().max().item<double>(), 1e-12);
  // Range check on unmasked positions; a masked one may hold anything.
  AttentionCall bad;
  bad.q.positions = at::tensor({0, -1, 2}, at::kLong);
  EXPECT_HAS(
      error_text([&] { layer->attend(c.q, c.k, c.v, bad); }),
      "eAdditivePosMultiheadAttention: q_positions must lie in [0, max_len = 8) where the position mask "
      "is true, got values in [-1, 2]");
  bad.q.mask = at::tensor({1, 0, 1}).to(at::kBool);
  EXPECT_NO_THROW(layer->attend(c.q, c.k, c.v, bad));
  bad.q.mask = at::Tensor();
  bad.q.positions = at::tensor({0, 8, 2}, at::kLong);
  EXPECT_HAS(error_text([&] { layer->attend(c.q, c.k, c.v, bad); }), "got values in [0, 8]");
  bad.q.positions = at::tensor({0.0, 1.5, 2.0}, at::kDouble);
  EXPECT_HAS(error_text([&] { layer->attend(c.q, c.k, c.v, bad); }), "q_positions must be integers");
  EXPECT_HAS(error_text<ConfigError>(
                 [&] { EAdditivePosMultiheadAttention(EAdditivePosMultiheadAttentionOptions(rep, 2, 0)); }),
             "eAdditivePosMultiheadAttention: max_len must be a positive integer, got 0");
  EXPECT_HAS(error_text<ConfigError>([&] {
               EAdditivePosMultiheadAttention(EAdditivePosMultiheadAttentionOptions(irrep_sum(g, 8), 1, 4));
             }),
             "has no trivial part, so the only invariant positional embedding is 0");
  EXPECT_HAS(error_text<ConfigError>(
                 [&] { EAdditivePosMultiheadAttention(EAdditivePosMultiheadAttentionOptions(rep, 3, 4)); }),
             "eAdditivePosMultiheadAttention: num_heads = 3 does not divide m = 2");
}

TEST(AdditiveRelAttention, DenseOracleAndErrors) {
  at::manual_seed(6);
  auto g = group("C4");
  RepPtr rep = parse_rep(g, "4x regular");
  EAdditiveRelMultiheadAttention layer(EAdditiveRelMultiheadAttentionOptions(rep, 2, 2));
  randomise(*layer, 11, 0.3);
  layer->to(at::kDouble);
  layer->eval();
  EMultiheadAttention mha(layer->attn->options);
  copy_parameters(*layer->attn, *mha, "attn");
  mha->to(at::kDouble);
  at::NoGradGuard no_grad;
  for (bool per_batch : {false, true}) {
    Call c = random_call(16, at::kDouble, true, false);
    if (!per_batch) {
      c.call.q.positions = c.call.q.positions[0];
      c.call.q.mask = c.call.q.mask[1];
    }
    auto [y, w] = layer->attend(c.q, c.k, c.v, c.call);
    // Dense: bias[b, l, s] written entry by entry, as a (N·H, L, S) float mask.
    at::Tensor mask = at::zeros({4, 3, 4}, at::kDouble);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t l = 0; l < 3; ++l)
        for (int64_t s = 0; s < 4; ++s) {
          const int64_t pq = (per_batch ? c.call.q.positions[b][l] : c.call.q.positions[l]).item<int64_t>();
          const bool vq = (per_batch ? c.call.q.mask[b][l] : c.call.q.mask[l]).item<bool>();
          const int64_t pk = c.call.k.positions[0][s].item<int64_t>();
          const bool vk = c.call.k.mask[s].item<bool>();
          const int64_t r = std::max<int64_t>(-2, std::min<int64_t>(2, pq - pk)) + 2;
          const double bias = (vq && vk) ? layer->rel_bias()[r].item<double>() : 0.0;
          for (int64_t h = 0; h < 2; ++h)
            mask[b * 2 + h][l][s] = c.call.attn_mask[l][s].item<double>() - bias;
        }
    auto [ym, wm] = mha->forward(c.q, c.k, c.v, c.call.key_padding_mask, true, mask, false);
    EXPECT_LE((y - ym).abs().max().item<double>(), 1e-12) << per_batch;
    EXPECT_LE((w - wm).abs().max().item<double>(), 1e-12) << per_batch;
  }
  EXPECT_HAS(error_text<ConfigError>(
                 [&] { EAdditiveRelMultiheadAttention(EAdditiveRelMultiheadAttentionOptions(rep, 2, 0)); }),
             "eAdditiveRelMultiheadAttention: max_distance must be a positive integer, got 0");
}

TEST(PositionalAttention, RegistryFactories) {
  auto g = group("C4");
  RepPtr rep = parse_rep(g, "4x regular");
  auto r = make_layer("eRoPEMultiheadAttention", rep, "{num_heads: 2, rope_base: 100.0}");
  auto* impl = dynamic_cast<ERoPEMultiheadAttentionImpl*>(r.get());
  ASSERT_NE(impl, nullptr);
  EXPECT_EQ(impl->options.rope_base(), 100.0);
  EXPECT_TRUE(impl->options.batch_first());
  auto p = make_layer("eAdditivePosMultiheadAttention", rep, "{num_heads: 1, max_len: 5}");
  EXPECT_EQ(dynamic_cast<EAdditivePosMultiheadAttentionImpl*>(p.get())->options.max_len(), 5);
  auto q = make_layer("eAdditiveRelMultiheadAttention", rep, "{num_heads: 4, max_distance: 3, dropout: 0.1}");
  EXPECT_EQ(dynamic_cast<EAdditiveRelMultiheadAttentionImpl*>(q.get())->options.max_distance(), 3);
  EXPECT_EQ(q->forward(at::randn({2, 5, 16})).sizes(), (std::vector<int64_t>{2, 5, 16}));
  EXPECT_HAS(error_text<ConfigError>([&] { make_layer("eRoPEMultiheadAttention", rep, "{num_heads: 4}"); }),
             "m/num_heads must be even; valid num_heads: 1, 2");
  EXPECT_HAS(
      error_text<ConfigError>([&] { make_layer("eAdditivePosMultiheadAttention", rep, "{num_heads: 1}"); }),
      "max_len");
  EXPECT_HAS(error_text<ConfigError>(
                 [&] { make_layer("eAdditiveRelMultiheadAttention", rep, "{num_heads: 1, max_len: 3}"); }),
             "max_len");
  EXPECT_TRUE(r->effective_parameters().empty());
}

}  // namespace
}  // namespace eqnn::testing
