// eCondTransformer (layers/models): exact equivariance on every element of C2, C4, D4 and Ico in float64 and
// float32, acting on (X, Z) with the step fixed, for every pos_encoding, causal on and off, with and without
// conditioning encoder layers, for inputs shorter than the horizons; an oracle assembled here from separately
// built tested parts (ELinear, the transformer stacks, the norm) with the model's parameters copied in, and
// the step embedding, invariant projector (a Reynolds average), positions and causal masks written out here
// (≤ 1e-12); the registry's (YAML) layer equal to the direct one; symm_learning's child names; the step in
// the model dtype; and every error message.
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "e_cond_transformer.hpp"
#include "e_linear.hpp"
#include "e_norm.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::testing::contains;
using eqnn::testing::error_text;

struct Reps {
  RepPtr in, cond, out;
  int64_t in_size() const { return in->size(); }
  int64_t cond_size() const { return cond->size(); }
};

// Three different reps of the group: X in a rotated regular rep, Z a sum of irreps plus trivial, the output
// regular plus trivial.
Reps reps(const eqnn::GroupPtr& g) {
  return {eqnn::testing::make_kind(g, "rotated", 1, 3),
          eqnn::Representation::direct_sum(
              {eqnn::testing::make_kind(g, "irreps", 1), eqnn::parse_rep(g, "trivial")}),
          eqnn::parse_rep(g, "regular + trivial")};
}

eqnn::ECondTransformerOptions small(const Reps& s, int64_t order) {
  // in_horizon 5, cond_horizon 3, 2 decoder layers, 1 head, 2 regular copies.
  return eqnn::ECondTransformerOptions(s.in, s.cond, 5, 3, 2, 1, 2 * order).out_rep(s.out);
}

// max over g of |f(ρ_in(g)X, k, ρ_c(g)Z) − ρ_out(g) f(X, k, Z)| / max(1, max|f|).
double equivariance_error(eqnn::ECondTransformerImpl& m, const Reps& s, at::ScalarType dtype, int64_t tx,
                          int64_t tz, uint64_t seed) {
  m.to(dtype);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto o = at::TensorOptions().dtype(dtype);
  const at::Tensor x = at::normal(0, 1, {2, tx, s.in_size()}, gen, o);
  const at::Tensor z = at::normal(0, 1, {2, tz, s.cond_size()}, gen, o);
  const at::Tensor k = at::normal(0, 10, {2}, gen, o);
  const at::Tensor rin = eqnn::testing::rep_matrices(*s.in, dtype);
  const at::Tensor rc = eqnn::testing::rep_matrices(*s.cond, dtype);
  const at::Tensor rout = eqnn::testing::rep_matrices(*s.out, dtype);
  const at::Tensor y = m.forward_with(x, {k, z});
  const double scale = std::max(1.0, y.abs().max().item<double>());
  double worst = 0;
  for (int64_t g = 0; g < rin.size(0); ++g) {
    const at::Tensor gy = m.forward_with(eqnn::testing::act(rin[g], x), {k, eqnn::testing::act(rc[g], z)});
    worst = std::max(worst, (gy - eqnn::testing::act(rout[g], y)).abs().max().item<double>() / scale);
  }
  return worst;
}

class CondTransformerEquivariance : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

TEST_P(CondTransformerEquivariance, EveryElementEveryPosEncoding) {
  const auto g = eqnn::testing::group(GetParam().spec);
  const Reps s = reps(g);
  const bool big = g->order() > 8;
  double worst64 = 0, worst32 = 0;
  for (const std::string pos : {"additive_absolute", "additive_relative", "rope", "none"}) {
    for (const auto& [causal, cond_layers] : {std::pair{false, 1}, std::pair{true, 0}, std::pair{true, 1}}) {
      if (big && causal && cond_layers == 1) continue;  // Ico: two of the three combinations
      auto o = small(s, g->order())
                   .pos_encoding(pos)
                   .causal_attn(causal)
                   .num_cond_layers(cond_layers)
                   .norm_module(cond_layers == 1 ? "layernorm" : "rmsnorm")
                   .num_layers(big ? 1 : 2);
      eqnn::ECondTransformer m(o);
      eqnn::testing::randomise(*m, 17, big ? 0.05 : 0.1);  // Ico: 120-dim sums in float32
      m->eval();
      const std::string label = GetParam().label + " " + pos + (causal ? " causal" : "") + " cond_layers " +
                                std::to_string(cond_layers);
      // Tx = 3 < in_horizon 5, Tz = 2 < cond_horizon 3; and the full horizons.
      for (const auto& [tx, tz] : {std::pair<int64_t, int64_t>{3, 2}, std::pair<int64_t, int64_t>{5, 3}}) {
        const double e64 = equivariance_error(*m, s, at::kDouble, tx, tz, 5);
        const double e32 = equivariance_error(*m, s, at::kFloat, tx, tz, 5);
        EXPECT_LE(e64, 1e-10) << label << " Tx " << tx;
        EXPECT_LE(e32, 1e-5) << label << " Tx " << tx;
        worst64 = std::max(worst64, e64);
        worst32 = std::max(worst32, e32);
      }
    }
  }
  std::cout << "[ measured ] eCondTransformer " << GetParam().label << ": worst equivariance error f64 "
            << worst64 << ", f32 " << worst32 << "\n";
}

INSTANTIATE_TEST_SUITE_P(Groups, CondTransformerEquivariance,
                         ::testing::Values(eqnn::testing::GroupCase{"C2", "C2"},
                                           eqnn::testing::GroupCase{"C4", "C4"},
                                           eqnn::testing::GroupCase{"D4", "D4"},
                                           eqnn::testing::GroupCase{"Ico", "Ico"}),
                         [](const auto& info) { return info.param.label; });

// ---- the oracle ----

// Copies every parameter of the model's child `prefix` into `part` (same names below the prefix).
void copy_from(const torch::nn::Module& model, const std::string& prefix, torch::nn::Module& part) {
  at::NoGradGuard no_grad;
  const auto source = model.named_parameters();
  int copied = 0;
  for (auto& p : part.named_parameters()) {
    const at::Tensor* t = source.find(prefix + "." + p.key());
    ASSERT_NE(t, nullptr) << prefix << "." << p.key();
    p.value().copy_(*t);
    ++copied;
  }
  EXPECT_GT(copied, 0) << prefix;
}

// SinEmb written out: [sin(k f_0) … sin(k f_{h−1}), cos(k f_0) … cos(k f_{h−1})], f_i = exp(−i ln 10⁴/(h−1)).
at::Tensor sin_emb(const at::Tensor& k, int64_t dim) {
  const int64_t h = dim / 2;
  at::Tensor out = at::empty({k.size(0), dim}, k.options());
  for (int64_t n = 0; n < k.size(0); ++n)
    for (int64_t i = 0; i < h; ++i) {
      const double f = std::exp(-static_cast<double>(i) * std::log(10000.0) / static_cast<double>(h - 1));
      const double a = k[n].item<double>() * f;
      out[n][i] = std::sin(a);
      out[n][h + i] = std::cos(a);
    }
  return out;
}

TEST(CondTransformer, OracleFromTheParts) {
  const auto g = eqnn::testing::group("C4");
  const Reps s = reps(g);
  const int64_t D = 8;
  // The Reynolds average (1/|G|) Σ ρ_E(g): the orthogonal projector onto E's invariant vectors.
  for (const std::string pos : {"additive_absolute", "additive_relative", "rope", "none"}) {
    for (const auto& [causal, cond_layers] : {std::pair{false, 0}, std::pair{true, 1}}) {
      const std::string norm_module = causal ? "layernorm" : "rmsnorm";
      auto o = small(s, 4)
                   .pos_encoding(pos)
                   .causal_attn(causal)
                   .num_cond_layers(cond_layers)
                   .norm_module(norm_module);
      eqnn::ECondTransformer m(o);
      eqnn::testing::randomise(*m, 23, 0.1);
      m->to(at::kDouble);
      m->eval();
      const RepPtr E = eqnn::parse_rep(g, "2x regular");
      ASSERT_EQ(m->embedding_rep()->size(), D);
      const at::Tensor P = eqnn::testing::rep_matrices(*E).mean(0);

      // The parts, built here with the options the model documents, parameters copied in.
      auto lin = [](const RepPtr& a, const RepPtr& b) { return eqnn::ELinear(eqnn::ELinearOptions(a, b)); };
      auto input_emb = lin(s.in, E), cond_emb = lin(s.cond, E), head = lin(E, s.out);
      copy_from(*m, "input_emb", *input_emb);
      copy_from(*m, "cond_emb", *cond_emb);
      copy_from(*m, "head", *head);
      const std::string attention = pos == "additive_absolute"   ? "additive_pos"
                                    : pos == "additive_relative" ? "additive_rel"
                                    : pos == "rope"              ? "rope"
                                                                 : "mha";
      const std::string norm = causal ? "layer_norm" : "rms_norm", normalize = causal ? "per_copy" : "all";
      auto common = [&](auto l) {
        return l.dim_feedforward(32)
            .dropout(0.1)
            .activation("gelu")
            .batch_first(true)
            .norm_first(true)
            .norm(norm)
            .norm_affine("per_copy")
            .norm_normalize(normalize)
            .attention(attention)
            .max_len(5)       // max(in_horizon 5, cond_horizon 3 + 1)
            .max_distance(7)  // 5 + 3 − 1
            .rope_base(100.0);
      };
      eqnn::ETransformerDecoder decoder(
          eqnn::ETransformerDecoderOptions(common(eqnn::ETransformerDecoderLayerOptions(E, 1)), 2));
      copy_from(*m, "decoder", *decoder);
      eqnn::ETransformerEncoder encoder{nullptr};
      eqnn::ELinear mlp0{nullptr}, mlp2{nullptr};
      if (cond_layers > 0) {
        encoder = eqnn::ETransformerEncoder(eqnn::ETransformerEncoderOptions(
            common(eqnn::ETransformerEncoderLayerOptions(E, 1)), cond_layers));
        copy_from(*m, "encoder", *encoder);
      } else {
        const RepPtr H = eqnn::parse_rep(g, "8x regular");  // 4·D / |G| copies
        mlp0 = lin(E, H);
        mlp2 = lin(H, E);
        copy_from(*m, "encoder.0", *mlp0);
        copy_from(*m, "encoder.2", *mlp2);
      }
      eqnn::LayerPtr final_norm;
      if (causal)
        final_norm = std::make_shared<eqnn::ELayerNormImpl>(
            eqnn::ELayerNormOptions(E).eps(1e-5).affine("per_copy").normalize("per_copy"));
      else
        final_norm =
            std::make_shared<eqnn::ERMSNormImpl>(eqnn::ERMSNormOptions(E).eps(1e-5).affine("per_copy"));
      copy_from(*m, "layer_norm", *final_norm);
      for (torch::nn::Module* part : std::vector<torch::nn::Module*>{
               input_emb.get(), cond_emb.get(), head.get(), decoder.get(), final_norm.get()}) {
        part->to(at::kDouble);
        part->eval();
      }
      if (encoder) encoder->to(at::kDouble), encoder->eval();
      if (mlp0) mlp0->to(at::kDouble), mlp2->to(at::kDouble);

      const int64_t tx = 3, tz = 2;
      const auto d = at::TensorOptions().dtype(at::kDouble);
      const at::Tensor x = at::randn({2, tx, s.in_size()}, d);
      const at::Tensor z = at::randn({2, tz, s.cond_size()}, d);
      const at::Tensor k = at::tensor({3.0, 41.5}, d);
      // Memory positions written out for Tz = 2: the step token has none.
      const at::Tensor mem_pos = (pos == "additive_relative" || pos == "rope") ? at::tensor({0L, -1L, 0L})
                                                                               : at::tensor({0L, 1L, 2L});
      const at::Tensor mem_mask = at::tensor({0, 1, 1}).to(at::kBool);
      eqnn::SequencePositions mp{mem_pos, mem_mask};
      if (pos == "none") mp = {};

      at::Tensor mem = at::cat({at::matmul(sin_emb(k, D), P).unsqueeze(1), cond_emb(z)}, 1);
      if (encoder)
        mem = encoder->forward(mem, {}, {}, mp);
      else
        mem = mlp2(at::mish(mlp0(mem)));
      eqnn::DecoderMasks masks;
      if (causal) {
        // Target t attends to targets s ≤ t and to memory tokens s ≤ t + 1.
        masks.tgt_mask = at::tensor({0, 1, 1, 0, 0, 1, 0, 0, 0}).to(at::kBool).reshape({3, 3});
        masks.memory_mask = at::tensor({0, 0, 1, 0, 0, 0, 0, 0, 0}).to(at::kBool).reshape({3, 3});
      }
      masks.memory_positions = mp;
      if (pos != "none") masks.tgt_positions = {at::tensor({0L, 1L, 2L}), {}};
      const at::Tensor want = head(final_norm->forward(decoder->forward(input_emb(x), mem, masks)));
      const at::Tensor have = m->forward_with(x, {k, z});
      EXPECT_LE((have - want).abs().max().item<double>(), 1e-12) << pos << (causal ? " causal" : "");
      // The positions and masks the model builds, as written out above.
      auto [positions, mask] = m->memory_positions(tz, at::kCPU);
      EXPECT_TRUE(at::equal(positions, mem_pos)) << pos;
      EXPECT_TRUE(at::equal(mask, mem_mask)) << pos;
      if (causal) {
        auto [tgt_mask, memory_mask] = m->causal_masks(tx, tz, at::kCPU);
        EXPECT_TRUE(at::equal(tgt_mask, masks.tgt_mask));
        EXPECT_TRUE(at::equal(memory_mask, masks.memory_mask));
      }
    }
  }
}

// The step is embedded in the model dtype: float64 steps that round to the same float32 give different
// outputs (symm_learning rounds to float32); a scalar step equals the same step repeated per sample and a
// one-element step; an integer step equals the same float.
TEST(CondTransformer, StepInModelDtype) {
  const auto g = eqnn::testing::group("C2");
  const Reps s = reps(g);
  eqnn::ECondTransformer m(small(s, 2));
  m->to(at::kDouble);
  m->eval();
  const auto d = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor x = at::randn({2, 4, s.in_size()}, d), z = at::randn({2, 3, s.cond_size()}, d);
  const double k = 1234.1;
  const double k32 = static_cast<double>(static_cast<float>(k));
  ASSERT_NE(k, k32);
  const at::Tensor a = m->forward_with(x, {at::scalar_tensor(k, d), z});
  const at::Tensor b = m->forward_with(x, {at::scalar_tensor(k32, d), z});
  EXPECT_GT((a - b).abs().max().item<double>(), 1e-9);
  EXPECT_TRUE(at::equal(a, m->forward_with(x, {at::full({2}, k, d), z})));
  EXPECT_TRUE(at::equal(a, m->forward_with(x, {at::full({1}, k, d), z})));
  EXPECT_TRUE(at::equal(m->forward_with(x, {at::scalar_tensor(7, at::kLong), z}),
                        m->forward_with(x, {at::scalar_tensor(7.0, d), z})));
  // Per-sample steps: sample 1 with step 5 is the same as computed alone.
  const at::Tensor ks = at::tensor({k, 5.0}, d);
  EXPECT_LE((m->forward_with(x, {ks, z})[1] -
             m->forward_with(x.slice(0, 1), {at::scalar_tensor(5.0, d), z.slice(0, 1)})[0])
                .abs()
                .max()
                .item<double>(),
            1e-13);
}

// Causality: with causal_attn, output token t does not change when later targets change, nor when
// observations past t + 1 in the memory change (for every pos_encoding).
TEST(CondTransformer, CausalMasksHold) {
  const auto g = eqnn::testing::group("C2");
  const Reps s = reps(g);
  for (const std::string pos : {"additive_absolute", "additive_relative", "rope", "none"}) {
    eqnn::ECondTransformer m(small(s, 2).pos_encoding(pos).causal_attn(true).num_cond_layers(0));
    m->to(at::kDouble);
    m->eval();
    const auto d = at::TensorOptions().dtype(at::kDouble);
    const at::Tensor x = at::randn({1, 4, s.in_size()}, d), z = at::randn({1, 3, s.cond_size()}, d);
    const at::Tensor k = at::scalar_tensor(2.0, d);
    const at::Tensor y = m->forward_with(x, {k, z});
    at::Tensor x2 = x.clone();
    x2.select(1, 3).normal_();
    EXPECT_LE((m->forward_with(x2, {k, z}).slice(1, 0, 3) - y.slice(1, 0, 3)).abs().max().item<double>(),
              1e-14)
        << pos;
    // Memory tokens s = 0 (step), 1 (z_0) are seen by t = 0; s = 2 (z_1) only from t = 1 on. With the
    // num_cond_layers = 0 block the memory tokens stay separate, so changing z_1 leaves y_0 unchanged.
    at::Tensor z2 = z.clone();
    z2.select(1, 1).normal_();
    const at::Tensor y2 = m->forward_with(x, {k, z2});
    EXPECT_LE((y2.select(1, 0) - y.select(1, 0)).abs().max().item<double>(), 1e-14) << pos;
    EXPECT_GT((y2.select(1, 1) - y.select(1, 1)).abs().max().item<double>(), 1e-8) << pos;
  }
}

TEST(CondTransformer, RegistryLayerAndNames) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr in = eqnn::parse_rep(g, "regular");
  auto yaml =
      eqnn::testing::make_layer("eCondTransformer", in,
                                "{cond_rep: '2x regular', out_rep: 'regular + trivial', in_horizon: 4, "
                                "cond_horizon: 2, num_layers: 2, num_attention_heads: 2, embedding_dim: 8, "
                                "pos_encoding: additive_relative, causal_attn: true, num_cond_layers: 1, "
                                "p_drop_emb: 0.0, p_drop_attn: 0.0}");
  eqnn::ECondTransformer direct(
      eqnn::ECondTransformerOptions(in, eqnn::parse_rep(g, "2x regular"), 4, 2, 2, 2, 8)
          .out_rep(eqnn::parse_rep(g, "regular + trivial"))
          .pos_encoding("additive_relative")
          .causal_attn(true)
          .num_cond_layers(1)
          .p_drop_emb(0.0)
          .p_drop_attn(0.0));
  eqnn::testing::copy_parameters(*direct, *yaml, "eCondTransformer");
  auto* multi = dynamic_cast<eqnn::ExtraInputs*>(yaml.get());
  ASSERT_NE(multi, nullptr);
  const auto spec = multi->extra_inputs();
  ASSERT_EQ(spec.size(), 2u);
  EXPECT_EQ(spec[0].name, "opt_step");
  EXPECT_EQ(spec[0].kind, eqnn::ExtraInput::Kind::step);
  EXPECT_EQ(spec[1].name, "Z");
  EXPECT_EQ(spec[1].kind, eqnn::ExtraInput::Kind::sequence);
  EXPECT_EQ(spec[1].length, 2);
  EXPECT_EQ(spec[1].rep->size(), 8);
  const at::Tensor x = at::randn({3, 4, 4}), z = at::randn({3, 2, 8}), k = at::rand({3});
  EXPECT_TRUE(at::allclose(multi->forward_with(x, {k, z}), direct->forward_with(x, {k, z}), 0, 1e-6));
  EXPECT_EQ(direct->forward_with(x, {k, z}).sizes(), (std::vector<int64_t>{3, 4, 5}));
  std::vector<std::string> names;
  for (const auto& c : direct->named_children()) names.push_back(c.key());
  EXPECT_EQ(names, (std::vector<std::string>{"input_emb", "cond_emb", "dropout", "encoder", "decoder",
                                             "layer_norm", "head"}));
  eqnn::ECondTransformer mlp(eqnn::ECondTransformerOptions(in, in, 4, 2, 1, 1, 8));
  std::vector<std::string> params;
  for (const auto& p : mlp->named_parameters()) params.push_back(p.key());
  EXPECT_NE(std::find(params.begin(), params.end(), "encoder.0.weight_coefficients"), params.end());
  EXPECT_NE(std::find(params.begin(), params.end(), "encoder.2.weight_coefficients"), params.end());
  EXPECT_NE(
      std::find(params.begin(), params.end(), "decoder.layers.0.self_attn.attn.in_proj_weight_coefficients"),
      params.end());
  // The stock CondTransformer's count is the children's (each an equivariant twin of a stock module).
  EXPECT_GT(mlp->unconstrained_parameter_count(), 0);
}

TEST(CondTransformer, Errors) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr in = eqnn::parse_rep(g, "regular"), cond = eqnn::parse_rep(g, "2x regular");
  auto make = [&](eqnn::ECondTransformerOptions o) {
    return error_text<eqnn::ConfigError>([&] { eqnn::ECondTransformer m(o); });
  };
  const auto base = eqnn::ECondTransformerOptions(in, cond, 4, 2, 1, 1, 8);
  std::string e = make(eqnn::ECondTransformerOptions(in, cond, 4, 2, 1, 1, 10));
  EXPECT_TRUE(contains(e, "'embedding_dim' (10) must be a multiple of the group order")) << e;
  EXPECT_TRUE(contains(e, "try 8")) << e;
  e = make(eqnn::ECondTransformerOptions(in, cond, 4, 2, 1, 3, 8));
  EXPECT_TRUE(contains(e, "'num_attention_heads' (3) must divide embedding_dim / |G| = 8 / 4 = 2")) << e;
  e = make(eqnn::ECondTransformerOptions(in, cond, 4, 2, 1, 2, 8).pos_encoding("rope"));
  EXPECT_TRUE(contains(e, "must be even")) << e;
  e = make(eqnn::ECondTransformerOptions(in, cond, 4, 2, 1, 1, 8).pos_encoding("sinusoidal"));
  EXPECT_TRUE(contains(e, "'pos_encoding' must be additive_absolute")) << e;
  EXPECT_TRUE(
      contains(make(eqnn::ECondTransformerOptions(base).norm_module("batchnorm")), "'norm_module' must be"));
  EXPECT_TRUE(
      contains(make(eqnn::ECondTransformerOptions(in, cond, 0, 2, 1, 1, 8)), "'in_horizon' must be >= 1"));
  EXPECT_TRUE(
      contains(make(eqnn::ECondTransformerOptions(in, cond, 4, 0, 1, 1, 8)), "'cond_horizon' must be >= 1"));
  EXPECT_TRUE(
      contains(make(eqnn::ECondTransformerOptions(in, cond, 4, 2, 0, 1, 8)), "'num_layers' must be >= 1"));
  EXPECT_TRUE(
      contains(make(eqnn::ECondTransformerOptions(base).num_cond_layers(-1)), "'num_cond_layers' must be"));
  EXPECT_TRUE(
      contains(make(eqnn::ECondTransformerOptions(base).p_drop_emb(1.5)), "'p_drop_emb' must be in [0, 1]"));
  EXPECT_TRUE(contains(make(eqnn::ECondTransformerOptions(base).init_scheme("bogus")), "eCondTransformer: "));
  e = make(eqnn::ECondTransformerOptions(base).hidden_rep(eqnn::parse_rep(g, "4x trivial")));
  EXPECT_TRUE(contains(e, "is not the regular representation of")) << e;
  e = make(eqnn::ECondTransformerOptions(in, eqnn::parse_rep(eqnn::testing::group("C2"), "regular"), 4, 2, 1,
                                         1, 8));
  EXPECT_TRUE(contains(e, "cond_rep is a representation of")) << e;
  e = make(eqnn::ECondTransformerOptions(in, nullptr, 4, 2, 1, 1, 8));
  EXPECT_TRUE(contains(e, "cond_rep is required")) << e;

  eqnn::ECondTransformer m(base);
  m->eval();
  const at::Tensor x = at::randn({2, 3, 4}), z = at::randn({2, 2, 8}), k = at::rand({2});
  auto run = [&](const at::Tensor& xx, const std::vector<at::Tensor>& extra) {
    return error_text([&] { m->forward_with(xx, extra); });
  };
  e = run(x, {k, at::randn({2, 3, 8})});
  EXPECT_TRUE(contains(e, "the input 'Z' must be (2, 1..2, 8), got (2, 3, 8)")) << e;  // too long
  e = run(x, {k, at::randn({2, 2, 5})});
  EXPECT_TRUE(contains(e, "the input 'Z' must be (2, 1..2, 8), got (2, 2, 5)")) << e;  // wrong size
  e = run(x, {k, at::randn({3, 2, 8})});
  EXPECT_TRUE(contains(e, "the input 'Z' must be")) << e;  // wrong batch
  e = run(x, {at::rand({3}), z});
  EXPECT_TRUE(contains(e, "the input 'opt_step' must be a scalar or (2), got (3)")) << e;
  e = run(x, {at::Tensor(), z});
  EXPECT_TRUE(contains(e, "the input 'opt_step' is required")) << e;
  e = run(x, {k});
  EXPECT_TRUE(contains(e, "takes x and 2 more input(s) (opt_step, Z), got 1")) << e;
  e = run(at::randn({2, 5, 4}), {k, z});
  EXPECT_TRUE(contains(e, "X must be (N, Tx, 4) with 1 <= Tx <= in_horizon = 4")) << e;  // too long
  e = run(at::randn({2, 3, 5}), {k, z});
  EXPECT_TRUE(contains(e, "X must be (N, Tx, 4)")) << e;
  e = run(at::randn({2, 4}), {k, z});
  EXPECT_TRUE(contains(e, "X must be (N, Tx, 4)")) << e;
  e = error_text<eqnn::ConfigError>([&] { m->forward(x); });
  EXPECT_TRUE(contains(e, "forward(x) is not defined")) << e;
  EXPECT_TRUE(contains(e, "(X, opt_step, Z)")) << e;

  // The YAML factory: required keys, unknown keys, errors located at the key.
  auto yaml = [&](const std::string& kwargs) {
    return error_text<eqnn::ConfigError>([&] { eqnn::testing::make_layer("eCondTransformer", in, kwargs); });
  };
  e = yaml("{in_horizon: 4, cond_horizon: 2, num_layers: 1, num_attention_heads: 1, embedding_dim: 8}");
  EXPECT_TRUE(contains(e, "missing required key 'cond_rep'")) << e;
  e = yaml(
      "{cond_rep: regular, in_horizon: 4, cond_horizon: 2, num_layers: 1, num_attention_heads: 1, "
      "embedding_dim: 8, horizon: 3}");
  EXPECT_TRUE(contains(e, "horizon")) << e;
  e = yaml(
      "{cond_rep: regular, in_horizon: 4, cond_horizon: 2, num_layers: 1, num_attention_heads: 1, "
      "embedding_dim: 6}");
  EXPECT_TRUE(contains(e, "'embedding_dim' (6) must be a multiple")) << e;
  e = yaml("{cond_rep: regular, cond_horizon: 2, num_layers: 1, num_attention_heads: 1, embedding_dim: 8}");
  EXPECT_TRUE(contains(e, "in_horizon")) << e;
}

}  // namespace
