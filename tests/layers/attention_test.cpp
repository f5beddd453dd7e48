// eMultiheadAttention: exact equivariance on every element for every group and representation kind
// (float64/float32, batched/unbatched, the Layer interface and the stock interface), drop-in equality with
// torch::nn::MultiheadAttention loaded with the effective weights (masks, weights, batch_first, dropout),
// both runtime paths (fused SDPA without weights, explicit softmax with them) against the stock module, a
// step-by-step transcription of PyTorch's functional and the stock SDPA computation for every mask kind,
// option and mask errors, initialisation statistics, finite-difference gradients and the eval-mode cache.
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/function.h>
#include <torch/nn/modules/activation.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

struct QKV {
  at::Tensor q, k, v;
};

/// Worst relative errors over every group element of (output equivariance, attention-weight invariance)
/// for cross attention with masks, sequence-first or unbatched inputs.
std::pair<double, double> attention_errors(EMultiheadAttention& mha, const Representation& rep, const QKV& in,
                                           const at::Tensor& key_padding_mask, const at::Tensor& attn_mask) {
  const at::Tensor rho = rep_matrices(rep, in.q.scalar_type());
  auto run = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    return mha->forward(q, k, v, key_padding_mask, /*need_weights=*/true, attn_mask,
                        /*average_attn_weights=*/false);
  };
  auto [y, w] = run(in.q, in.k, in.v);
  const double scale = y.abs().max().item<double>();
  double out_err = 0, weight_err = 0;
  for (int g = 0; g < rep.group().order(); ++g) {
    auto [yg, wg] = run(act(rho[g], in.q), act(rho[g], in.k), act(rho[g], in.v));
    out_err = nan_max(out_err, (yg - act(rho[g], y)).abs().max().item<double>() / scale);
    weight_err = nan_max(weight_err, (wg - w).abs().max().item<double>());
  }
  return {out_err, weight_err};
}

class AttentionPerGroup : public ::testing::TestWithParam<GroupCase> {};

TEST_P(AttentionPerGroup, EquivariantOnEveryElement) {
  auto g = group(GetParam().spec);
  at::manual_seed(0);
  for (const auto& kind : test_kinds()) {
    RepPtr rep = make_kind(g, kind, 2);
    if (!rep) continue;
    const int64_t d = rep->size();
    EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2));
    {
      // Non-zero biases, so every constrained tensor takes part.
      at::NoGradGuard no_grad;
      for (auto& p : mha->named_parameters())
        if (p.key().find("bias") != std::string::npos) p.value().normal_();
    }
    mha->eval();
    // Inference: the expanded weights are cached, so the sweep over every element does not re-expand them
    // per call (the uncached train-mode path is checked below).
    at::NoGradGuard no_grad;
    for (auto dtype : {at::kDouble, at::kFloat}) {
      mha->to(dtype);
      const auto opt = at::TensorOptions().dtype(dtype);
      const std::string what = rep->describe() + " " + c10::toString(dtype);
      const double tol = tolerance(dtype);
      // Cross attention, sequence-first (L=3, S=4, N=2), with a padding mask and an additive mask.
      QKV batched{at::randn({3, 2, d}, opt), at::randn({4, 2, d}, opt), at::randn({4, 2, d}, opt)};
      at::Tensor padding = at::zeros({2, 4}, at::kBool);
      padding[1][3] = true;
      at::Tensor additive = at::randn({3, 4}, opt);
      auto [out_err, weight_err] = attention_errors(mha, *rep, batched, padding, additive);
      EXPECT_LT(out_err, tol) << what;
      EXPECT_LT(weight_err, tol) << what;
      // Unbatched (L, D) / (S, D).
      QKV single{at::randn({3, d}, opt), at::randn({5, d}, opt), at::randn({5, d}, opt)};
      std::tie(out_err, weight_err) = attention_errors(mha, *rep, single, {}, {});
      EXPECT_LT(out_err, tol) << what << " unbatched";
      EXPECT_LT(weight_err, tol) << what << " unbatched";
      // The Layer interface: self-attention on (batch, seq, D) and (batch, D).
      auto layer = [&](const at::Tensor& x) { return mha->forward(x); };
      EXPECT_LT(equivariance_error(layer, *rep, *rep, at::randn({2, 3, d}, opt)), tol) << what << " layer";
      EXPECT_LT(equivariance_error(layer, *rep, *rep, at::randn({4, d}, opt)), tol)
          << what << " layer (batch, D)";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, AttentionPerGroup, ::testing::ValuesIn(test_groups()),
                         [](const auto& info) { return info.param.label; });

TEST(Attention, EquivariantInTrainModeAndWithoutATrivialPart) {
  at::manual_seed(1);
  auto g = group("C4");
  // Non-trivial irreps only: no invariant vector, so out_proj has no bias.
  RepPtr no_trivial = irrep_sum(g, 4);
  ASSERT_EQ(no_trivial->multiplicities()[0], 0);
  for (const auto& rep : {no_trivial, parse_rep(g, "3x regular")}) {
    EMultiheadAttention mha(EMultiheadAttentionOptions(rep, rep->size() == 12 ? 3 : 1));
    EXPECT_EQ(mha->out_proj->has_bias(), rep->size() == 12);
    mha->to(at::kDouble);
    mha->train();
    auto layer = [&](const at::Tensor& x) { return mha->forward(x); };
    EXPECT_LT(equivariance_error(layer, *rep, *rep, at::randn({2, 3, rep->size()}, at::kDouble)), 1e-10)
        << rep->describe();
  }
}

// ---- drop-in equality with torch::nn::MultiheadAttention -------------------------------------------------

torch::nn::MultiheadAttention stock_copy(EMultiheadAttention& mha) {
  const auto& o = mha->options;
  torch::nn::MultiheadAttention stock(torch::nn::MultiheadAttentionOptions(o.in_rep()->size(), o.num_heads())
                                          .bias(o.bias())
                                          .dropout(o.dropout()));
  stock->to(mha->in_proj_weight().scalar_type());  // same dtype first, so copying loses nothing
  at::NoGradGuard no_grad;
  auto params = stock->named_parameters();
  int loaded = 0;
  for (const auto& [name, tensor] : mha->effective_parameters()) {
    EXPECT_TRUE(params.contains(name)) << name;
    if (!params.contains(name)) continue;
    params[name].copy_(tensor);
    ++loaded;
  }
  EXPECT_EQ(loaded, static_cast<int>(params.size()));
  return stock;
}

void expect_same(const at::Tensor& a, const at::Tensor& b, const std::string& what) {
  ASSERT_EQ(a.defined(), b.defined()) << what;
  if (!a.defined()) return;
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  EXPECT_LE((a - b).abs().max().item<double>(), 1e-6) << what;
}

TEST(AttentionDropIn, SameOutputsAndWeightsAsStock) {
  at::manual_seed(2);
  auto g = group("C4");
  for (bool bias : {true, false})
    for (const auto& rep : {random_basis(parse_rep(g, "4x regular"), 9), irrep_sum(g, 16)}) {
      EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2).bias(bias));
      torch::nn::MultiheadAttention stock = stock_copy(mha);
      mha->eval();
      stock->eval();
      const int64_t d = rep->size(), L = 5, S = 6, N = 3;
      at::Tensor q = at::randn({L, N, d}), k = at::randn({S, N, d}), v = at::randn({S, N, d});
      at::Tensor padding = at::zeros({N, S}, at::kBool);
      padding[0][5] = true;
      padding[2][1] = true;
      at::Tensor additive = at::randn({L, S});
      for (bool masks : {false, true})
        for (bool need_weights : {true, false})
          for (bool average : {true, false}) {
            const std::string what = fmt::format("bias={} rep={} masks={} need_weights={} average={}", bias,
                                                 rep->describe(), masks, need_weights, average);
            at::Tensor kpm = masks ? padding : at::Tensor(), am = masks ? additive : at::Tensor();
            auto [y, w] = mha->forward(q, k, v, kpm, need_weights, am, average);
            auto [ys, ws] = stock->forward(q, k, v, kpm, need_weights, am, average);
            expect_same(y, ys, what + " output");
            expect_same(w, ws, what + " weights");
            // Self-attention takes the packed path in both.
            auto [ya, wa] = mha->forward(q, q, q, {}, need_weights, {}, average);
            auto [yb, wb] = stock->forward(q, q, q, {}, need_weights, {}, average);
            expect_same(ya, yb, what + " self output");
            expect_same(wa, wb, what + " self weights");
          }
      // batch_first: the same module reading (N, L, D).
      mha->options.batch_first(true);
      auto [yf, wf] =
          mha->forward(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), padding, true, additive);
      auto [ys, ws] = stock->forward(q, k, v, padding, true, additive);
      expect_same(yf, ys.transpose(0, 1), "batch_first output");
      expect_same(wf, ws, "batch_first weights");
    }
}

// ---- both runtime paths, every mask kind ----------------------------------------------------------------

/// torch.nn.functional.multi_head_attention_forward of PyTorch 2.11 written out step by step for batched,
/// sequence-first inputs (q (L, N, D), k/v (S, N, D)): masks made additive, the padding mask expanded per
/// head and added, then baddbmm / softmax / bmm. Shares no code with eMultiheadAttention.
std::pair<at::Tensor, at::Tensor> python_mha(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                             EMultiheadAttention& mha, const at::Tensor& kpm,
                                             const at::Tensor& attn_mask, bool average) {
  std::map<std::string, at::Tensor> p;
  for (const auto& [name, t] : mha->effective_parameters()) p[name] = t;
  const int64_t L = q.size(0), N = q.size(1), D = q.size(2), S = k.size(0), H = mha->options.num_heads(),
                hd = D / H;
  auto project = [&](const at::Tensor& x, int64_t part) {
    at::Tensor y = at::matmul(x, p["in_proj_weight"].narrow(0, part * D, D).t());
    return p.count("in_proj_bias") ? y + p["in_proj_bias"].narrow(0, part * D, D) : y;
  };
  auto canonical = [&](const at::Tensor& m) {
    if (!m.defined() || m.scalar_type() != at::kBool) return m;
    return at::zeros(m.sizes(), q.options()).masked_fill(m, -std::numeric_limits<double>::infinity());
  };
  at::Tensor mask = canonical(attn_mask);
  if (mask.defined() && mask.dim() == 2) mask = mask.unsqueeze(0);
  at::Tensor qh = project(q, 0).reshape({L, N * H, hd}).transpose(0, 1);
  at::Tensor kh = project(k, 1).reshape({S, N * H, hd}).transpose(0, 1);
  at::Tensor vh = project(v, 2).reshape({S, N * H, hd}).transpose(0, 1);
  if (kpm.defined()) {
    at::Tensor padding = canonical(kpm).view({N, 1, 1, S}).expand({-1, H, -1, -1}).reshape({N * H, 1, S});
    mask = mask.defined() ? mask + padding : padding;
  }
  at::Tensor scaled = qh * std::sqrt(1.0 / static_cast<double>(hd));
  at::Tensor scores = mask.defined() ? at::baddbmm(mask, scaled, kh.transpose(-2, -1))
                                     : at::bmm(scaled, kh.transpose(-2, -1));
  at::Tensor weights = at::softmax(scores, -1);
  at::Tensor out = at::bmm(weights, vh).transpose(0, 1).contiguous().view({L * N, D});
  out = at::matmul(out, p["out_proj.weight"].t());
  if (p.count("out_proj.bias")) out = out + p["out_proj.bias"];
  weights = weights.view({N, H, L, S});
  return {out.view({L, N, D}), average ? weights.mean(1) : weights};
}

/// The stock fused computation Python's module runs without weights: the same projections and mask
/// assembly, then at::scaled_dot_product_attention on (N, H, L, head_dim).
at::Tensor stock_sdpa(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, EMultiheadAttention& mha,
                      const at::Tensor& kpm, const at::Tensor& attn_mask, double dropout = 0.0) {
  std::map<std::string, at::Tensor> p;
  for (const auto& [name, t] : mha->effective_parameters()) p[name] = t;
  const int64_t L = q.size(0), N = q.size(1), D = q.size(2), S = k.size(0), H = mha->options.num_heads(),
                hd = D / H;
  auto chunks = p["in_proj_weight"].chunk(3);
  std::vector<at::Tensor> biases(3);
  if (p.count("in_proj_bias")) biases = p["in_proj_bias"].chunk(3);
  auto heads = [&](const at::Tensor& x, int i, int64_t len) {
    return at::linear(x, chunks[i], biases[i]).view({len, N * H, hd}).transpose(0, 1).view({N, H, len, hd});
  };
  auto canonical = [&](const at::Tensor& m) {
    if (!m.defined() || m.scalar_type() != at::kBool) return m;
    return at::zeros(m.sizes(), q.options()).masked_fill(m, -std::numeric_limits<double>::infinity());
  };
  at::Tensor mask = canonical(attn_mask);
  if (mask.defined() && mask.dim() == 2) mask = mask.unsqueeze(0);
  if (kpm.defined()) {
    at::Tensor padding = canonical(kpm).view({N, 1, 1, S}).expand({-1, H, -1, -1}).reshape({N * H, 1, S});
    mask = mask.defined() ? mask + padding : padding;
  }
  c10::optional<at::Tensor> m;
  if (mask.defined()) m = mask.size(0) == 1 ? mask.unsqueeze(0) : mask.view({N, H, -1, S});
  at::Tensor o = at::scaled_dot_product_attention(heads(q, 0, L), heads(k, 1, S), heads(v, 2, S), m, dropout);
  o = o.permute({2, 0, 1, 3}).contiguous().view({L * N, D});
  return at::linear(o, p["out_proj.weight"], p.count("out_proj.bias") ? p["out_proj.bias"] : at::Tensor())
      .view({L, N, D});
}

/// The names of the autograd nodes behind `y` (which kernels produced it).
std::set<std::string> autograd_nodes(const at::Tensor& y) {
  std::set<std::string> names;
  std::vector<torch::autograd::Node*> todo{y.grad_fn().get()};
  std::set<torch::autograd::Node*> seen;
  while (!todo.empty()) {
    auto* node = todo.back();
    todo.pop_back();
    if (!node || !seen.insert(node).second) continue;
    names.insert(node->name());
    for (const auto& edge : node->next_edges()) todo.push_back(edge.function.get());
  }
  return names;
}

bool has_node(const std::set<std::string>& names, const std::string& part) {
  for (const auto& n : names)
    if (n.find(part) != std::string::npos) return true;
  return false;
}

struct MaskCase {
  std::string name;
  at::Tensor kpm, attn_mask;
  // What torch::nn::MultiheadAttention (C++) can take for the same masks: it adds attn_mask as a float
  // (a bool one would add 1.0), needs a bool key_padding_mask and a 2-D attn_mask; undefined when it can't.
  bool stock = false;
  at::Tensor stock_kpm, stock_attn_mask;
};

/// Every mask kind of torch.nn.MultiheadAttention for L = 5, S = 6, N = 3, H = 2 (float64). No row is
/// fully masked: padding only hides keys 2..5 and bool attention masks never hide keys 0 and 1.
std::vector<MaskCase> mask_cases() {
  const int64_t L = 5, S = 6, N = 3, H = 2;
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const double inf = std::numeric_limits<double>::infinity();
  at::Tensor kpm_bool = at::zeros({N, S}, at::kBool);
  kpm_bool[0][5] = true;
  kpm_bool[2][2] = true;
  kpm_bool[2][4] = true;
  at::Tensor kpm_float = at::randn({N, S}, f64) * 0.5;
  kpm_float[1][3] = -inf;
  at::Tensor kpm_float_binary = at::zeros({N, S}, f64).masked_fill(kpm_bool, -inf);
  at::Tensor am2_float = at::randn({L, S}, f64);
  at::Tensor am2_bool = at::rand({L, S}) < 0.4;
  am2_bool.narrow(1, 0, 2).fill_(false);
  at::Tensor am3_float = at::randn({N * H, L, S}, f64);
  at::Tensor am3_bool = at::rand({N * H, L, S}) < 0.4;
  am3_bool.narrow(2, 0, 2).fill_(false);
  auto as_float = [&](const at::Tensor& m) { return at::zeros(m.sizes(), f64).masked_fill(m, -inf); };
  return {
      {"no masks", {}, {}, true, {}, {}},
      {"bool key_padding_mask", kpm_bool, {}, true, kpm_bool, {}},
      {"float key_padding_mask (0/-inf)", kpm_float_binary, {}, true, kpm_bool, {}},
      {"float key_padding_mask (any values)", kpm_float, {}, false, {}, {}},
      {"2-D float attn_mask", {}, am2_float, true, {}, am2_float},
      {"2-D bool attn_mask", {}, am2_bool, true, {}, as_float(am2_bool)},
      {"3-D float attn_mask", {}, am3_float, false, {}, {}},
      {"3-D bool attn_mask", {}, am3_bool, false, {}, {}},
      {"bool key_padding_mask + 2-D float attn_mask", kpm_bool, am2_float, true, kpm_bool, am2_float},
      {"bool key_padding_mask + 2-D bool attn_mask", kpm_bool, am2_bool, true, kpm_bool, as_float(am2_bool)},
      {"float key_padding_mask + 3-D bool attn_mask", kpm_float, am3_bool, false, {}, {}},
      {"bool key_padding_mask + 3-D float attn_mask", kpm_bool, am3_float, false, {}, {}},
  };
}

TEST(AttentionPaths, BothPathsMatchStockForEveryMaskKind) {
  at::manual_seed(21);
  auto g = group("C4");
  for (const auto& rep : {parse_rep(g, "4x regular"), random_basis(parse_rep(g, "4x regular"), 19)}) {
    EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2));
    mha->to(at::kDouble);
    {
      at::NoGradGuard no_grad;  // non-zero biases
      for (auto& p : mha->named_parameters())
        if (p.key().find("bias") != std::string::npos) p.value().normal_();
    }
    torch::nn::MultiheadAttention stock = stock_copy(mha);
    mha->eval();
    stock->eval();
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    at::Tensor q = at::randn({5, 3, 16}, f64), k = at::randn({6, 3, 16}, f64), v = at::randn({6, 3, 16}, f64);
    int stock_compared = 0;
    for (const auto& c : mask_cases())
      for (bool need_weights : {false, true})
        for (bool average : {true, false}) {
          const std::string what =
              fmt::format("{} {} need_weights={} average={}", rep->describe(), c.name, need_weights, average);
          auto [y, w] = mha->forward(q, k, v, c.kpm, need_weights, c.attn_mask, average);
          ASSERT_TRUE(at::isfinite(y).all().item<bool>()) << what;
          auto [y_ref, w_ref] = python_mha(q, k, v, mha, c.kpm, c.attn_mask, average);
          expect_same(y, y_ref, what + " output vs the step-by-step reference");
          if (need_weights) expect_same(w, w_ref, what + " weights vs the step-by-step reference");
          EXPECT_EQ(w.defined(), need_weights) << what;
          if (!need_weights)
            expect_same(y, stock_sdpa(q, k, v, mha, c.kpm, c.attn_mask), what + " output vs stock SDPA");
          if (c.stock) {
            auto [ys, ws] = stock->forward(q, k, v, c.stock_kpm, need_weights, c.stock_attn_mask, average);
            expect_same(y, ys, what + " output vs torch::nn::MultiheadAttention");
            expect_same(w, ws, what + " weights vs torch::nn::MultiheadAttention");
            ++stock_compared;
          }
        }
    EXPECT_EQ(stock_compared, 7 * 4);
  }
}

TEST(AttentionPaths, UnbatchedAndBatchFirstWithMasks) {
  at::manual_seed(22);
  auto g = group("D4");
  auto rep = parse_rep(g, "2x regular");
  EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2));
  mha->to(at::kDouble);
  mha->eval();
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  at::Tensor q = at::randn({4, 16}, f64), kv = at::randn({5, 16}, f64);
  at::Tensor kpm = at::zeros({5}, at::kBool);
  kpm[3] = true;
  at::Tensor am3 = at::randn({2, 4, 5}, f64);  // (num_heads, L, S) for unbatched input
  for (bool need_weights : {false, true}) {
    auto [y, w] = mha->forward(q, kv, kv, kpm, need_weights, am3, false);
    auto [y_ref, w_ref] =
        python_mha(q.unsqueeze(1), kv.unsqueeze(1), kv.unsqueeze(1), mha, kpm.unsqueeze(0), am3, false);
    expect_same(y, y_ref.squeeze(1), fmt::format("unbatched output need_weights={}", need_weights));
    if (need_weights) expect_same(w, w_ref.squeeze(0), "unbatched weights (H, L, S)");
  }
  mha->options.batch_first(true);
  at::Tensor qb = at::randn({3, 4, 16}, f64), kb = at::randn({3, 5, 16}, f64),
             vb = at::randn({3, 5, 16}, f64);
  at::Tensor kpm2 = at::zeros({3, 5}, at::kBool);
  kpm2[1][4] = true;
  at::Tensor am2 = at::rand({4, 5}) < 0.3;
  am2.narrow(1, 0, 1).fill_(false);
  for (bool need_weights : {false, true}) {
    auto [y, w] = mha->forward(qb, kb, vb, kpm2, need_weights, am2);
    auto [y_ref, w_ref] =
        python_mha(qb.transpose(0, 1), kb.transpose(0, 1), vb.transpose(0, 1), mha, kpm2, am2, true);
    expect_same(y, y_ref.transpose(0, 1), fmt::format("batch_first output need_weights={}", need_weights));
    if (need_weights) expect_same(w, w_ref, "batch_first weights");
    // Self-attention on one tensor takes the packed projection.
    auto [ys, ws] = mha->forward(qb, qb, qb, {}, need_weights, {});
    auto [ys_ref, ws_ref] =
        python_mha(qb.transpose(0, 1), qb.transpose(0, 1), qb.transpose(0, 1), mha, {}, {}, true);
    expect_same(ys, ys_ref.transpose(0, 1), "batch_first self-attention");
  }
  // The Layer interface (batch-first self-attention) is the no-weights path of the stock interface.
  expect_same(mha->forward(qb), std::get<0>(mha->forward(qb, qb, qb, {}, false)), "Layer interface");
  expect_same(mha->forward(q),
              std::get<0>(mha->forward(q.unsqueeze(1), q.unsqueeze(1), q.unsqueeze(1), {}, false)).squeeze(1),
              "Layer interface (batch, D)");
}

TEST(AttentionPaths, WithoutWeightsRunsTheFusedKernelWithWeightsTheExplicitSoftmax) {
  at::manual_seed(23);
  auto g = group("C4");
  EMultiheadAttention mha(EMultiheadAttentionOptions(parse_rep(g, "4x regular"), 2));
  mha->train();
  for (auto dtype : {at::kFloat, at::kDouble}) {
    mha->to(dtype);
    at::Tensor x = at::randn({6, 2, 16}, at::TensorOptions().dtype(dtype));
    at::Tensor kpm = at::zeros({2, 6}, at::kBool);
    kpm[0][4] = true;
    for (const auto& [name, kp] :
         {std::pair<std::string, at::Tensor>{"no mask", {}}, {"padding mask", kpm}}) {
      const std::string what = name + " " + c10::toString(dtype);
      auto fused = autograd_nodes(std::get<0>(mha->forward(x, x, x, kp, /*need_weights=*/false)));
      EXPECT_TRUE(has_node(fused, "ScaledDotProduct"))
          << what << ": " << fmt::format("{}", fmt::join(fused, " "));
      EXPECT_FALSE(has_node(fused, "SoftmaxBackward")) << what;
      auto explicit_ = autograd_nodes(std::get<0>(mha->forward(x, x, x, kp, /*need_weights=*/true)));
      EXPECT_TRUE(has_node(explicit_, "SoftmaxBackward")) << what;
      EXPECT_FALSE(has_node(explicit_, "ScaledDotProduct")) << what;
    }
  }
}

TEST(AttentionPaths, DropoutOnTheFusedPathIsStockSdpaDropout) {
  auto g = group("C4");
  auto rep = parse_rep(g, "4x regular");
  at::manual_seed(24);
  EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2).dropout(0.25));
  mha->to(at::kDouble);
  mha->train();
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  at::Tensor q = at::randn({5, 3, 16}, f64), kv = at::randn({7, 3, 16}, f64);
  at::manual_seed(7);
  at::Tensor y = std::get<0>(mha->forward(q, kv, kv, {}, /*need_weights=*/false));
  at::manual_seed(7);
  at::Tensor expected = stock_sdpa(q, kv, kv, mha, {}, {}, 0.25);
  expect_same(y, expected, "fused path with dropout");
  at::manual_seed(8);
  EXPECT_FALSE(at::allclose(std::get<0>(mha->forward(q, kv, kv, {}, false)), y)) << "dropout acted";
  // In eval mode dropout is off on both paths.
  mha->eval();
  expect_same(std::get<0>(mha->forward(q, kv, kv, {}, false)), std::get<0>(mha->forward(q, kv, kv, {}, true)),
              "eval: no dropout");
}

TEST(AttentionPaths, MaskErrorsSayWhatWasExpected) {
  auto g = group("C4");
  EMultiheadAttention mha(EMultiheadAttentionOptions(parse_rep(g, "4x regular"), 2));
  at::Tensor q = at::randn({5, 3, 16}), kv = at::randn({6, 3, 16});
  EXPECT_NE(error_text([&] {
              mha->forward(q, kv, kv, {}, false, at::zeros({5, 7}));
            }).find("the 2-D attn_mask has shape [5, 7], expected (L, S) = (5, 6)"),
            std::string::npos);
  EXPECT_NE(
      error_text([&] {
        mha->forward(q, kv, kv, {}, true, at::zeros({3, 5, 6}));
      }).find("attn_mask has shape [3, 5, 6], expected (L, S) = (5, 6) or (N·num_heads, L, S) = (6, 5, 6)"),
      std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q, kv, kv, {}, false, at::zeros({1, 1, 5, 6}));
            }).find("attn_mask must be 2-D (L, S) or 3-D (N·num_heads, L, S), got shape [1, 1, 5, 6]"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q, kv, kv, at::zeros({3, 5}, at::kBool));
            }).find("key_padding_mask has shape [3, 5], expected (N, S) = (3, 6)"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q, kv, kv, at::zeros({6}, at::kBool));
            }).find("for a batched (3-D) query key_padding_mask must be 2-D (N, S), got shape [6]"),
            std::string::npos);
  EXPECT_NE(
      error_text([&] {
        mha->forward(q, kv, kv, {}, false, at::zeros({5, 6}, at::kInt));
      })
          .find("attn_mask must be bool (true = may not attend) or floating-point (added to the attention "
                "scores), got Int"),
      std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q.select(1, 0), kv.select(1, 0), kv.select(1, 0), at::zeros({1, 6}, at::kBool));
            }).find("for an unbatched (2-D) query key_padding_mask must be 1-D (S), got shape [1, 6]"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q.select(1, 0), kv.select(1, 0), kv.select(1, 0), {}, false, at::zeros({3, 5, 6}));
            }).find("(N·num_heads, L, S) = (2, 5, 6) (unbatched input: N = 1)"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q, kv, at::randn({5, 3, 16}));
            }).find("key and value must have the same shape, got [6, 3, 16] and [5, 3, 16]"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(q, at::randn({6, 2, 16}), at::randn({6, 2, 16}));
            }).find("query and key have different batch sizes (3 and 2)"),
            std::string::npos);
}

TEST(AttentionDropIn, SameOutputsWithDropoutInTrainMode) {
  auto g = group("D4");
  auto rep = parse_rep(g, "2x regular");
  at::manual_seed(3);
  EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2).dropout(0.3));
  torch::nn::MultiheadAttention stock = stock_copy(mha);
  mha->train();
  stock->train();
  at::Tensor q = at::randn({4, 2, 16}), kv = at::randn({7, 2, 16});
  at::manual_seed(42);
  auto [y, w] = mha->forward(q, kv, kv);
  at::manual_seed(42);
  auto [ys, ws] = stock->forward(q, kv, kv);
  expect_same(y, ys, "dropout output");
  expect_same(w, ws, "dropout weights");
  // Dropout really acted: a different seed gives a different output.
  at::manual_seed(43);
  EXPECT_FALSE(at::allclose(std::get<0>(mha->forward(q, kv, kv)), y));
}

TEST(AttentionDropIn, EffectiveParameterNamesAndCounts) {
  auto g = group("C3");
  EMultiheadAttention mha(parse_rep(g, "2x regular"), 2);
  std::vector<std::string> names;
  for (const auto& [name, tensor] : mha->effective_parameters()) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  EXPECT_EQ(mha->unconstrained_parameter_count(), 4 * 6 * 6 + 4 * 6);
  torch::nn::MultiheadAttention stock(6, 2);
  int64_t stock_count = 0;
  for (const auto& p : stock->parameters()) stock_count += p.numel();
  EXPECT_EQ(mha->unconstrained_parameter_count(), stock_count);
  std::vector<std::string> coefficient_names;
  for (const auto& p : mha->named_parameters()) coefficient_names.push_back(p.key());
  EXPECT_EQ(coefficient_names,
            (std::vector<std::string>{"in_proj_weight_coefficients", "in_proj_bias_coefficients",
                                      "out_proj.weight_coefficients", "out_proj.bias_coefficients"}));
  EXPECT_EQ(mha->head_dim(), 3);
  EXPECT_EQ(mha->head_rep()->describe(), "2x regular (size 6)");
  std::ostringstream printed;
  printed << *mha;
  EXPECT_NE(printed.str().find("num_heads=2, head_dim=3 (1 regular copies per head)"), std::string::npos)
      << printed.str();
}

// ---- errors ----------------------------------------------------------------------------------------------

TEST(AttentionErrors, OptionsAreCheckedWithTheNumbers) {
  auto g = group("C5");
  auto rep = parse_rep(g, "4x regular");
  auto build = [&](EMultiheadAttentionOptions o) { return error_text([&] { EMultiheadAttention m(o); }); };
  EXPECT_NE(build(EMultiheadAttentionOptions(rep, 0))
                .find("num_heads must be positive, got 0; with m = 4 regular copies (in_rep 4x regular (size "
                      "20)) the "
                      "valid head counts are 1, 2, 4"),
            std::string::npos);
  EXPECT_NE(build(EMultiheadAttentionOptions(rep, -2)).find("num_heads must be positive, got -2"),
            std::string::npos);
  EXPECT_NE(
      build(EMultiheadAttentionOptions(rep, 3))
          .find("num_heads = 3 does not divide m = 4 (in_rep 4x regular (size 20) is 4 copies of |G| = 5 "
                "coordinates, and each head must hold whole regular copies to stay equivariant); valid head "
                "counts: 1, 2, 4"),
      std::string::npos);
  EXPECT_NE(
      build(EMultiheadAttentionOptions(parse_rep(g, "2x regular + 3x trivial"), 1))
          .find("in_rep 2x regular + 3x trivial (size 13) has size 13, which is not a multiple of |G| = 5 "
                "(group C5); Q, K and V live in m regular copies, so the size must be m·5. Nearest valid "
                "sizes: 10 (2x regular) or 15 (3x regular)"),
      std::string::npos);
  EXPECT_NE(build(EMultiheadAttentionOptions(parse_rep(g, "3x trivial"), 1))
                .find("Nearest valid sizes: 5 (1x regular)"),
            std::string::npos);
  EXPECT_NE(build(EMultiheadAttentionOptions(rep, 2).add_bias_kv(true))
                .find("add_bias_kv=true is not supported: the learned bias_k/bias_v tokens"),
            std::string::npos);
  EXPECT_NE(build(EMultiheadAttentionOptions(rep, 2).add_zero_attn(true))
                .find("add_zero_attn=true is not supported"),
            std::string::npos);
  EXPECT_NE(build(EMultiheadAttentionOptions(rep, 2).dropout(1.5)).find("dropout must be in [0, 1), got 1.5"),
            std::string::npos);
  EXPECT_NE(
      build(EMultiheadAttentionOptions(rep, 2).init_scheme("kaiming")).find("unknown init_scheme 'kaiming'"),
      std::string::npos);
  EXPECT_NE(build(EMultiheadAttentionOptions(nullptr, 2)).find("eMultiheadAttention: in_rep is required"),
            std::string::npos);
  // Option errors are ConfigError (clean messages), shape errors TORCH_CHECK.
  EXPECT_THROW(EMultiheadAttention(rep, 3), ConfigError);
  EMultiheadAttention mha(rep, 2);
  EXPECT_NE(error_text([&] {
              mha->forward(at::randn({3, 2, 20}), at::randn({4, 2, 21}), at::randn({4, 2, 21}));
            }).find("expected query, key and value with 20 features (in_rep 4x regular (size 20))"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(at::randn({2, 3, 4, 20}));
            }).find("eMultiheadAttention: expected input (batch, seq, 20) or (batch, 20)"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              mha->forward(at::randn({3, 2, 20}), at::randn({4, 20}), at::randn({4, 20}));
            }).find("query, key and value must have the same number of dimensions"),
            std::string::npos);
}

// ---- the registry factory --------------------------------------------------------------------------------

std::pair<std::shared_ptr<Layer>, std::string> build_attention(const std::string& yaml, const RepPtr& in) {
  std::shared_ptr<Layer> layer;
  std::string error = error_text([&] { layer = make_layer("eMultiheadAttention", in, yaml); });
  return {layer, error};
}

TEST(AttentionFactory, BuildsThroughTheRegistry) {
  auto g = group("Ico");
  auto rep = parse_rep(g, "2x regular");
  auto [layer, error] = build_attention("{num_heads: 2, dropout: 0.1, init_scheme: xavier_uniform}", rep);
  ASSERT_TRUE(layer) << error;
  auto* mha = dynamic_cast<EMultiheadAttentionImpl*>(layer.get());
  ASSERT_NE(mha, nullptr);
  EXPECT_EQ(mha->options.num_heads(), 2);
  EXPECT_DOUBLE_EQ(mha->options.dropout(), 0.1);
  EXPECT_EQ(mha->options.init_scheme(), "xavier_uniform");
  EXPECT_EQ(mha->in_proj_weight_parameter().constraint()->method(), "orbit");
  EXPECT_EQ(layer->in_rep().get(), rep.get());
  EXPECT_EQ(layer->out_rep().get(), rep.get());
  layer->eval();
  at::Tensor x = at::randn({2, 3, 120});
  EXPECT_EQ(layer->forward(x).sizes(), x.sizes());
}

TEST(AttentionFactory, ErrorsPointAtTheYaml) {
  auto g = group("C4");
  auto rep = parse_rep(g, "6x regular");
  const std::string heads = build_attention("{dropout: 0.0,\n num_heads: 4}", rep).second;
  EXPECT_NE(heads.find("2:13: error: eMultiheadAttention: num_heads = 4 does not divide m = 6"),
            std::string::npos)
      << heads;
  EXPECT_NE(heads.find("valid head counts: 1, 2, 3, 6"), std::string::npos) << heads;
  EXPECT_NE(build_attention("{num_heads: 2, add_zero_attn: true}", rep)
                .second.find("1:31: error: eMultiheadAttention: add_zero_attn=true is not supported"),
            std::string::npos);
  EXPECT_NE(
      build_attention("{num_head: 2}", rep).second.find("unknown key 'num_head' (did you mean 'num_heads'?)"),
      std::string::npos);
  EXPECT_NE(build_attention("{dropout: 0.1}", rep).second.find("missing required key 'num_heads'"),
            std::string::npos);
  EXPECT_NE(build_attention("{num_heads: 1}", parse_rep(g, "regular + trivial"))
                .second.find("has size 5, which is not a multiple of |G| = 4"),
            std::string::npos);
}

// ---- initialisation --------------------------------------------------------------------------------------

TEST(AttentionInit, EffectiveWeightsHaveTheStockVarianceForEveryScheme) {
  at::manual_seed(4);
  auto g = group("C4");
  for (const auto& rep : {parse_rep(g, "20x regular"), random_basis(parse_rep(g, "16x regular"), 8)}) {
    const int64_t d = rep->size();
    for (auto scheme : {InitScheme::xavier_normal, InitScheme::xavier_uniform, InitScheme::kaiming_normal,
                        InitScheme::kaiming_uniform}) {
      EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2).init_scheme(to_string(scheme)));
      const std::string what = to_string(scheme) + " " + rep->describe();
      EXPECT_NEAR(mha->in_proj_weight().pow(2).mean().item<double>() / dense_mean_square(scheme, 3 * d, d),
                  1.0, 0.1)
          << what;
      EXPECT_NEAR(mha->out_proj->weight().pow(2).mean().item<double>() / dense_mean_square(scheme, d, d), 1.0,
                  0.1)
          << what;
      EXPECT_EQ(mha->in_proj_bias().abs().sum().item<double>(), 0.0);
      EXPECT_EQ(mha->out_proj->bias().abs().sum().item<double>(), 0.0);
    }
  }
  EMultiheadAttention zeros(EMultiheadAttentionOptions(parse_rep(g, "2x regular"), 1).init_scheme("zeros"));
  EXPECT_EQ(zeros->in_proj_weight().abs().sum().item<double>(), 0.0);
}

// ---- gradients -------------------------------------------------------------------------------------------

TEST(AttentionGradients, MatchFiniteDifferences) {
  at::manual_seed(6);
  auto g = group("C3");
  for (const auto& rep : {parse_rep(g, "2x regular"), random_basis(parse_rep(g, "2x regular"), 3)}) {
    EMultiheadAttention mha(rep, 2);
    mha->to(at::kDouble);
    {
      at::NoGradGuard no_grad;
      for (auto& p : mha->parameters()) p.normal_(0, 0.5);
    }
    at::Tensor q = at::randn({3, 2, 6}, at::kDouble).requires_grad_();
    at::Tensor kv = at::randn({4, 2, 6}, at::kDouble).requires_grad_();
    at::Tensor r = at::randn({3, 2, 6}, at::kDouble);
    at::Tensor padding = at::zeros({2, 4}, at::kBool);
    padding[0][2] = true;
    auto loss = [&] { return (std::get<0>(mha->forward(q, kv, kv, padding)) * r).sum(); };
    for (auto& p : mha->named_parameters()) expect_gradient_matches(loss, p.value(), p.key());
    expect_gradient_matches(loss, q, "query");
    expect_gradient_matches(loss, kv, "key/value");
  }
}

// ---- the eval-mode cache ---------------------------------------------------------------------------------

class AttentionCache : public ::testing::Test {
 protected:
  void SetUp() override {
    at::manual_seed(12);
    rep = random_basis(parse_rep(group("C4"), "2x regular"), 5);
    mha = EMultiheadAttention(rep, 2);
    x = at::randn({2, 3, 8});
  }
  at::Tensor eval_forward(const at::Tensor& input) {
    at::NoGradGuard no_grad;
    return mha->forward(input);
  }
  /// The output computed from scratch: stock attention with freshly expanded weights.
  at::Tensor reference(const at::Tensor& input) {
    at::NoGradGuard no_grad;
    auto p = mha->named_parameters();
    at::Tensor s = input.transpose(0, 1);
    auto w_in = mha->in_proj_weight_parameter().constraint()->expand(p["in_proj_weight_coefficients"]);
    auto b_in = mha->in_proj_bias_parameter().constraint()->expand(p["in_proj_bias_coefficients"]);
    auto w_out = mha->out_proj->weight_parameter().constraint()->expand(p["out_proj.weight_coefficients"]);
    auto b_out = mha->out_proj->bias_parameter().constraint()->expand(p["out_proj.bias_coefficients"]);
    auto out = torch::nn::functional::detail::multi_head_attention_forward(
        s, s, s, 8, 2, w_in, b_in, {}, {}, false, 0.0, w_out, b_out, false, {}, false);
    return std::get<0>(out).transpose(0, 1);
  }
  RepPtr rep;
  EMultiheadAttention mha = nullptr;
  at::Tensor x;
};

TEST_F(AttentionCache, EvalForwardUnderNoGradReusesTheExpandedWeights) {
  mha->eval();
  eval_forward(x);
  at::NoGradGuard no_grad;
  const void* w = mha->in_proj_weight().data_ptr();
  const void* o = mha->out_proj->weight().data_ptr();
  mha->forward(x);
  EXPECT_EQ(mha->in_proj_weight().data_ptr(), w);
  EXPECT_EQ(mha->out_proj->weight().data_ptr(), o);
}

TEST_F(AttentionCache, OptimizerStepThenEvalIsSeen) {
  mha->eval();
  at::Tensor before = eval_forward(x);
  mha->train();
  torch::optim::SGD sgd(mha->parameters(), torch::optim::SGDOptions(0.5));
  mha->forward(x).pow(2).sum().backward();
  sgd.step();
  mha->eval();
  at::Tensor after = eval_forward(x);
  EXPECT_FALSE(at::allclose(before, after));
  EXPECT_TRUE(at::allclose(after, reference(x), 1e-6, 1e-6));
}

TEST_F(AttentionCache, InPlaceEditLoadAndMoveAreSeen) {
  mha->eval();
  eval_forward(x);
  {
    at::NoGradGuard no_grad;
    mha->named_parameters()["out_proj.weight_coefficients"].mul_(-3.0);
  }
  EXPECT_TRUE(at::allclose(eval_forward(x), reference(x), 1e-6, 1e-6));
  EMultiheadAttention other(rep, 2);
  std::stringstream stream;
  torch::save(other, stream);
  torch::load(mha, stream);
  mha->eval();
  at::Tensor loaded = eval_forward(x);
  other->eval();
  at::Tensor expected_loaded = [&] {
    at::NoGradGuard no_grad;
    return other->forward(x);
  }();
  EXPECT_TRUE(at::allclose(loaded, expected_loaded, 1e-6, 1e-6));
  mha->to(at::kDouble);
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor moved = eval_forward(xd);
  EXPECT_EQ(moved.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(moved, reference(xd), 1e-12, 1e-12));
}

}  // namespace
}  // namespace eqnn::testing
