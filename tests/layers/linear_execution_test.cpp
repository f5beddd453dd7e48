// Block-diagonal (isotypic) execution: the isotypic path of eLinear against the dense one with the same
// coefficients (outputs and gradients, float64 and float32) for every test group and representation kind
// that has a plan, its equivariance on every element, the layouts' round trips, auto's choice and the errors.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>

#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "e_tensor_product.hpp"
#include "eqnn/group_theory/internal/change_of_basis_kernel.hpp"
#include "eqnn/group_theory/isotypic_execution.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "linear_execution.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

// Relative difference ‖a − b‖∞ / max(1, ‖b‖∞).
double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
}

// ‖a − b‖₂ / ‖b‖₂, for gradients with entries that vanish in exact arithmetic (attention's key bias: softmax
// ignores a shift of every logit of a query), where only the whole vector's size is a scale.
double rel_norm(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).norm().item<double>() / std::max(1e-300, b.norm().item<double>());
}

double exact_tolerance(at::ScalarType dtype) { return dtype == at::kDouble ? 1e-12 : 1e-5; }

// Draws `from`'s parameters from N(0, 1) and gives `to` (a layer of the same options but another execution)
// the same values, name by name.
void same_random_parameters(torch::nn::Module& from, torch::nn::Module& to) {
  at::NoGradGuard no_grad;
  auto target = to.named_parameters();
  for (auto& item : from.named_parameters()) {
    item.value().normal_();
    target[item.key()].copy_(item.value());
  }
}

std::vector<std::pair<std::string, RepPtr>> execution_reps(const GroupPtr& g) {
  std::vector<std::pair<std::string, RepPtr>> reps = mixed_reps(g);
  reps.emplace_back("3x regular", parse_rep(g, "3x regular"));
  reps.emplace_back("regular + 2x trivial", parse_rep(g, "regular + 2x trivial"));
  return reps;
}

class ExecutionPerGroup : public ::testing::TestWithParam<GroupCase> {};

// The isotypic path computes the dense path's function, value and gradients, from the same θ.
TEST_P(ExecutionPerGroup, IsotypicEqualsDense) {
  auto g = group(GetParam().spec);
  const auto reps = execution_reps(g);
  at::manual_seed(0);
  int checked = 0;
  for (size_t a = 0; a < reps.size(); ++a)
    for (size_t b = 0; b < reps.size(); ++b) {
      const auto& [na, ra] = reps[a];
      const auto& [nb, rb] = reps[b];
      std::string why;
      ELinear dense(ELinearOptions(ra, rb).execution("dense"));
      auto plan = make_isotypic_plan(dense->weight_parameter().constraint(), 1, 1, &why);
      if (!plan) {
        // Only an orbit space in a changed basis has no plan.
        EXPECT_NE(why.find("changed basis"), std::string::npos) << na << " -> " << nb << ": " << why;
        EXPECT_THROW(ELinear(ELinearOptions(ra, rb).execution("isotypic")), ConfigError);
        continue;
      }
      ELinear iso(ELinearOptions(ra, rb).execution("isotypic"));
      same_random_parameters(*dense, *iso);
      for (auto dtype : {at::kDouble, at::kFloat}) {
        dense->to(dtype);
        iso->to(dtype);
        const std::string what = na + " -> " + nb + " " + c10::toString(dtype);
        at::Tensor x = at::randn({5, 3, ra->size()}, at::TensorOptions().dtype(dtype)).requires_grad_(true);
        at::Tensor xi = x.detach().clone().requires_grad_(true);
        at::Tensor yd = dense(x), yi = iso(xi);
        ASSERT_EQ(yd.sizes(), yi.sizes()) << what;
        EXPECT_LT(rel(yi, yd), exact_tolerance(dtype)) << what;
        at::Tensor w = at::randn_like(yd);
        (yd * w).sum().backward();
        (yi * w).sum().backward();
        EXPECT_LT(rel(xi.grad(), x.grad()), exact_tolerance(dtype)) << what;
        for (auto& item : dense->named_parameters())
          EXPECT_LT(rel(iso->named_parameters()[item.key()].grad(), item.value().grad()),
                    exact_tolerance(dtype))
              << what << " " << item.key();
        dense->zero_grad();
        iso->zero_grad();
        auto f = [&](const at::Tensor& t) { return iso(t); };
        EXPECT_LT(
            equivariance_error(f, *ra, *rb, at::randn({4, ra->size()}, at::TensorOptions().dtype(dtype))),
            tolerance(dtype))
            << what;
      }
      dense->to(at::kDouble);
      iso->to(at::kDouble);
      ++checked;
    }
  EXPECT_GT(checked, static_cast<int>(reps.size()));
}

// split/merge and pack/unpack are inverse orthogonal changes of basis, and pack keeps each group's range.
TEST_P(ExecutionPerGroup, LayoutRoundTrips) {
  auto g = group(GetParam().spec);
  for (const auto& [name, rep] : execution_reps(g)) {
    std::string why;
    auto layout = IsotypicLayout::get(rep, 1, &why);
    ASSERT_TRUE(layout) << name << ": " << why;
    at::Tensor x = at::randn({6, rep->size()}, at::kDouble);
    auto parts = layout->split(x);
    EXPECT_LT(rel(layout->merge(parts), x), 1e-12) << name;
    at::Tensor packed = layout->pack(parts);
    EXPECT_NEAR(packed.norm().item<double>(), x.norm().item<double>(), 1e-10) << name;
    EXPECT_LT(rel(layout->merge(layout->unpack(packed)), x), 1e-12) << name;
    // The parts are the coordinates of x in Q's columns: Σ_k ‖part_k‖² = ‖x‖².
    double total = 0;
    for (const auto& p : parts)
      if (p.defined()) total += p.pow(2).sum().item<double>();
    EXPECT_NEAR(total, x.pow(2).sum().item<double>(), 1e-9) << name;
  }
  // Two groups: each half of a 4x regular packs within its own half.
  auto rep = parse_rep(g, "4x regular");
  std::string why;
  auto layout = IsotypicLayout::get(rep, 2, &why);
  ASSERT_TRUE(layout) << why;
  const int64_t half = rep->size() / 2;
  at::Tensor x = at::zeros({1, rep->size()}, at::kDouble);
  x.narrow(1, 0, half).normal_();
  at::Tensor packed = layout->pack(layout->split(x));
  EXPECT_LT(packed.narrow(1, half, half).abs().max().item<double>(), 1e-12);
  EXPECT_FALSE(IsotypicLayout::get(rep, 3 * g->order() + 1, &why));
  EXPECT_NE(why.find("equal groups"), std::string::npos) << why;
}

// eMultiheadAttention isotypic against dense with the same coefficients: self- and cross-attention, masks,
// attention weights, outputs and gradients, float64 and float32; equivariant on every element.
TEST_P(ExecutionPerGroup, AttentionIsotypicEqualsDense) {
  auto g = group(GetParam().spec);
  at::manual_seed(1);
  // An orbit Hom space (regular copies) and an isotypic one (a sum of irreps), one and two heads.
  for (auto [rep, heads] : {std::pair<RepPtr, int64_t>{parse_rep(g, "2x regular"), 2},
                            std::pair<RepPtr, int64_t>{irrep_sum(g, 2 * g->order()), 1}}) {
    EMultiheadAttention dense(EMultiheadAttentionOptions(rep, heads).batch_first(true).execution("dense"));
    EMultiheadAttention iso(EMultiheadAttentionOptions(rep, heads).batch_first(true).execution("isotypic"));
    {
      at::NoGradGuard no_grad;
      for (auto& item : dense->named_parameters()) {
        item.value().normal_().mul_(0.2);  // moderate logits: the softmax stays well conditioned
        iso->named_parameters()[item.key()].copy_(item.value());
      }
    }
    EXPECT_EQ(iso->execution(), "isotypic");
    for (auto dtype : {at::kDouble, at::kFloat}) {
      dense->to(dtype);
      iso->to(dtype);
      const auto o = at::TensorOptions().dtype(dtype);
      const std::string what =
          GetParam().label + " heads " + std::to_string(heads) + " " + c10::toString(dtype);
      at::Tensor q = at::randn({2, 5, rep->size()}, o).requires_grad_(true);
      at::Tensor kv = at::randn({2, 4, rep->size()}, o);
      at::Tensor padding = at::zeros({2, 4}, at::kBool);
      padding[1][3] = true;
      at::Tensor causal = at::ones({5, 5}, at::kBool).triu(1);
      // self-attention with a causal mask
      auto [yd, wd] = dense->forward(q, q, q, {}, true, causal);
      at::Tensor qi = q.detach().clone().requires_grad_(true);
      auto [yi, wi] = iso->forward(qi, qi, qi, {}, true, causal);
      EXPECT_LT(rel(yi, yd), exact_tolerance(dtype)) << what;
      EXPECT_LT(rel(wi, wd), exact_tolerance(dtype)) << what;
      at::Tensor w = at::randn_like(yd);
      (yd * w).sum().backward();
      (yi * w).sum().backward();
      EXPECT_LT(rel(qi.grad(), q.grad()), exact_tolerance(dtype)) << what;
      // All coefficient gradients as one vector: the key bias's vanish in exact arithmetic and hold rounding.
      std::vector<at::Tensor> gd, gi;
      for (auto& item : dense->named_parameters()) {
        gd.push_back(item.value().grad().reshape(-1));
        gi.push_back(iso->named_parameters()[item.key()].grad().reshape(-1));
      }
      EXPECT_LT(rel_norm(at::cat(gi), at::cat(gd)), exact_tolerance(dtype)) << what;
      dense->zero_grad();
      iso->zero_grad();
      // cross-attention with a key padding mask, no weights (the fused kernel)
      at::NoGradGuard no_grad;
      at::Tensor cd = std::get<0>(dense->forward(q, kv, kv, padding, false));
      at::Tensor ci = std::get<0>(iso->forward(q, kv, kv, padding, false));
      EXPECT_LT(rel(ci, cd), exact_tolerance(dtype)) << what;
      auto f = [&](const at::Tensor& x) -> at::Tensor { return iso->forward(x); };
      EXPECT_LT(equivariance_error(f, *rep, *rep, at::randn({2, 3, rep->size()}, o)), tolerance(dtype))
          << what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, ExecutionPerGroup, ::testing::ValuesIn(test_groups()),
                         [](const auto& info) { return info.param.label; });

// A block of Q that straddles two groups is refused with the reason.
// The fused isotypic product (IsotypicHom::linear) under the rest of autograd: a create_graph backward (its
// parts-path fallback) gives the dense path's second derivatives, a second backward without retain_graph
// is refused with the reason, and under no_grad nothing is recorded. D4 (real irreps), Q8 (a quaternionic
// one) and C5 with a non-regular rep (complex ones, not the FFT path), blocks of 1 and of |G| coordinates.
TEST(Execution, FusedPathUnderAutograd) {
  for (const auto& [spec, text] :
       std::vector<std::pair<std::string, std::string>>{{"D4", "2x regular + trivial"},
                                                        {kQ8, "regular + 2x irrep(4)"},
                                                        {"C5", "2x irrep(1) + 3x trivial"}}) {
    auto g = group(spec);
    const auto rep = parse_rep(g, text);
    const std::string what = g->name() + " " + text;
    ELinear dense(ELinearOptions(rep, rep).execution("dense")),
        iso(ELinearOptions(rep, rep).execution("isotypic"));
    EXPECT_EQ(iso->execution(), "isotypic") << what;
    same_random_parameters(*dense, *iso);
    dense->to(at::kDouble);
    iso->to(at::kDouble);
    const at::Tensor x0 = at::randn({7, rep->size()}, at::kDouble),
                     w = at::randn({7, rep->size()}, at::kDouble),
                     v = at::randn({7, rep->size()}, at::kDouble);
    // ∂/∂θ of ⟨v, ∂⟨w, f(x)⟩/∂x⟩: the gradient of a gradient, which reaches θ only through the graph the
    // first backward built.
    auto second = [&](ELinear& layer) {
      const at::Tensor x = x0.clone().requires_grad_(true);
      const at::Tensor gx = torch::autograd::grad({(layer(x) * w).sum()}, {x}, {}, true, true)[0];
      layer->zero_grad();
      (gx * v).sum().backward();
      return layer->named_parameters()["weight_coefficients"].grad().clone();
    };
    const at::Tensor gd = second(dense), gi = second(iso);
    EXPECT_GT(gd.abs().max().item<double>(), 0) << what;
    EXPECT_LT(rel(gi, gd), 1e-12) << what;

    const at::Tensor x = x0.clone().requires_grad_(true);
    const at::Tensor y = iso(x);
    auto node = y.grad_fn();
    while (node && node->name() == "ViewBackward0") node = node->next_edge(0).function;
    ASSERT_TRUE(node) << what;
    EXPECT_EQ(node->name(), "IsotypicLinearBackward") << what;
    y.sum().backward();
    try {
      y.sum().backward();
      ADD_FAILURE() << what << ": a second backward through a freed graph ran";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find("backward twice without retain_graph=True"), std::string::npos)
          << e.what();
    }
    {
      at::NoGradGuard no_grad;
      EXPECT_FALSE(iso(x).requires_grad()) << what;
    }
  }
}

// The change back to original coordinates has two implementations, the AVX-512 kernel (where the machine
// has it) and ATen's products: both give the dense path's values and gradients, in float64 and float32, on
// blocks of 16 (D8) and 60 (Ico) coordinates and on 6k + 1 tokens (a tail after full tiles of 6).
TEST(Execution, ChangeBackKernelAndAtenAgree) {
  for (const char* spec : {"D8", "Ico"}) {
    auto g = group(spec);
    const auto rin = parse_rep(g, "2x regular + trivial"), rout = parse_rep(g, "3x regular");
    ELinear dense(ELinearOptions(rin, rout).execution("dense")),
        iso(ELinearOptions(rin, rout).execution("isotypic"));
    same_random_parameters(*dense, *iso);
    for (auto dtype : {at::kDouble, at::kFloat}) {
      dense->to(dtype);
      iso->to(dtype);
      const at::Tensor x0 = at::randn({13, rin->size()}, at::TensorOptions().dtype(dtype)),
                       w = at::randn({13, rout->size()}, at::TensorOptions().dtype(dtype));
      auto run = [&](ELinear& layer) {
        layer->zero_grad();
        const at::Tensor x = x0.clone().requires_grad_(true);
        const at::Tensor y = layer(x);
        (y * w).sum().backward();
        return std::vector<at::Tensor>{y.detach(), x.grad(),
                                       layer->named_parameters()["weight_coefficients"].grad().clone()};
      };
      const auto want = run(dense);
      for (bool portable : {false, true}) {
        internal::set_change_back_portable(portable);
        const auto got = run(iso);
        internal::set_change_back_portable(false);
        const std::string what =
            std::string(spec) + " " + c10::toString(dtype) + (portable ? " ATen" : " kernel");
        for (size_t i = 0; i < want.size(); ++i)
          EXPECT_LT(rel(got[i], want[i]), exact_tolerance(dtype)) << what << " output " << i;
      }
    }
  }
}

// auto charges the dense path for expanding its weight in training. A tensor product's Hom space has a dense
// Q (Clebsch–Gordan), 52 × 2704 × 2704 multiply-adds per expansion for SO3 h ⊗ h, while the isotypic path
// reads Q by its small blocks: auto runs it isotypic in training up to the token count it reports, though it
// costs more per token, and dense beyond it and in eval (where the expanded weight is kept).
TEST(Execution, AutoPricesTheDenseExpansion) {
  auto g = group("SO3");
  const auto h = parse_rep(g, "8x trivial + 8x irrep(1) + 4x irrep(2)");
  ETensorProduct tp(ETensorProductOptions(h, h));
  const std::string text = tp->execution();
  ASSERT_NE(text.find("isotypic in training up to "), std::string::npos) << text;
  const int64_t limit = std::stoll(text.substr(text.find(" up to ") + 7));
  EXPECT_GT(limit, 96) << text;
  EXPECT_LT(limit, 100000) << text;
  // The path that ran: the fused product's autograd node, or not.
  auto ran = [&](int64_t tokens) {
    const at::Tensor x = at::randn({tokens, h->size()}), y = at::randn({tokens, h->size()});
    auto node = tp->forward_with(x, {y}).grad_fn();
    while (node && node->name().rfind("View", 0) == 0) node = node->next_edge(0).function;
    return node ? node->name() : std::string("none");
  };
  tp->train();
  EXPECT_EQ(ran(96), "IsotypicLinearBackward");
  EXPECT_EQ(ran(limit), "IsotypicLinearBackward");
  EXPECT_NE(ran(limit + 1), "IsotypicLinearBackward");
  // The same map either way: the isotypic path against dense's at 96 tokens.
  ETensorProduct dense(ETensorProductOptions(h, h).execution("dense"));
  same_random_parameters(*tp, *dense);
  const at::Tensor x = at::randn({96, h->size()}), y = at::randn({96, h->size()});
  EXPECT_LT(rel(tp->forward_with(x, {y}), dense->forward_with(x, {y})), 1e-5);
}

// eMultiheadAttention's fused projections with packed ends: cross-attention gradients (q, k, v each projected
// by a third of the in-projection's blocks) and the second derivatives of self-attention (the create_graph
// fallback through pack/unpack) equal dense's.
TEST(Execution, FusedAttentionUnderAutograd) {
  auto g = group("D4");
  const auto rep = parse_rep(g, "2x regular");
  EMultiheadAttention dense(EMultiheadAttentionOptions(rep, 2).batch_first(true).execution("dense"));
  EMultiheadAttention iso(EMultiheadAttentionOptions(rep, 2).batch_first(true).execution("isotypic"));
  {
    at::NoGradGuard no_grad;
    for (auto& item : dense->named_parameters()) {
      item.value().normal_().mul_(0.2);
      iso->named_parameters()[item.key()].copy_(item.value());
    }
  }
  dense->to(at::kDouble);
  iso->to(at::kDouble);
  const auto o = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor q0 = at::randn({2, 5, rep->size()}, o), k0 = at::randn({2, 4, rep->size()}, o),
                   v0 = at::randn({2, 4, rep->size()}, o), w = at::randn({2, 5, rep->size()}, o);
  auto all_grads = [](EMultiheadAttention& m) {
    std::vector<at::Tensor> g;
    for (auto& item : m->named_parameters()) {
      const at::Tensor& grad = item.value().grad();  // undefined where the value does not reach θ
      g.push_back(grad.defined() ? grad.reshape(-1) : at::zeros_like(item.value()).reshape(-1));
    }
    m->zero_grad();
    return at::cat(g);
  };
  auto cross = [&](EMultiheadAttention& m) {
    at::Tensor q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true),
               v = v0.clone().requires_grad_(true);
    (std::get<0>(m->forward(q, k, v, {}, false)) * w).sum().backward();
    return std::vector<at::Tensor>{q.grad(), k.grad(), v.grad(), all_grads(m)};
  };
  const auto gd = cross(dense), gi = cross(iso);
  for (size_t i = 0; i < gd.size(); ++i) EXPECT_LT(rel_norm(gi[i], gd[i]), 1e-12) << "cross-attention " << i;
  // ∂/∂θ of ⟨w, ∂⟨w, f(q)⟩/∂q⟩ for self-attention, with weights (the explicit softmax path: the fused
  // attention kernel has no second derivative).
  auto second = [&](EMultiheadAttention& m) {
    const at::Tensor q = q0.clone().requires_grad_(true);
    const at::Tensor gq = torch::autograd::grad({(std::get<0>(m->forward(q, q, q, {}, true)) * w).sum()}, {q},
                                                {}, true, true)[0];
    m->zero_grad();
    (gq * w).sum().backward();
    return all_grads(m);
  };
  const at::Tensor sd = second(dense), si = second(iso);
  EXPECT_GT(sd.abs().max().item<double>(), 0);
  EXPECT_LT(rel_norm(si, sd), 1e-10);
}

TEST(Execution, GroupsMustNotSplitABlock) {
  auto g = group("C4");
  auto rep = random_basis(parse_rep(g, "2x regular"), 3);
  std::string why;
  EXPECT_FALSE(IsotypicLayout::get(rep, 2, &why));
  EXPECT_NE(why.find("different groups"), std::string::npos) << why;
}

// auto: dense for a small group; for a large one isotypic from the token count it reports on, and described.
TEST(Execution, AutoChoosesByCost) {
  auto ico = group("Ico");
  ELinear big(ELinearOptions(parse_rep(ico, "32x regular"), parse_rep(ico, "32x regular")).execution("auto"));
  const std::string text = big->linear_execution().describe();
  ASSERT_NE(text.find("isotypic from "), std::string::npos) << text;
  const int64_t from = std::stoll(text.substr(text.find("isotypic from ") + 14));
  EXPECT_TRUE(big->linear_execution().isotypic(from, false)) << text;
  EXPECT_TRUE(big->linear_execution().isotypic(from + 1000, false)) << text;
  if (from > 1) EXPECT_FALSE(big->linear_execution().isotypic(from - 1, false)) << text;
  auto c2 = group("C2");
  ELinear small(ELinearOptions(parse_rep(c2, "regular"), parse_rep(c2, "regular")).execution("auto"));
  EXPECT_FALSE(small->linear_execution().isotypic(1 << 20, true));
  EXPECT_NE(small->linear_execution().describe().find("dense"), std::string::npos)
      << small->linear_execution().describe();
  // dense and isotypic do what they say whatever the size.
  auto rep = parse_rep(ico, "regular");
  EXPECT_FALSE(
      ELinear(ELinearOptions(rep, rep).execution("dense"))->linear_execution().isotypic(1 << 20, false));
  EXPECT_TRUE(ELinear(ELinearOptions(rep, rep).execution("isotypic"))->linear_execution().isotypic(1, true));
  // auto is the default; its model is fitted to CPUs, so on another device auto runs dense and isotypic still
  // runs isotypic (asking needs no such device).
  EXPECT_EQ(ELinearOptions(rep, rep).execution(), "auto");
  const at::Device cuda(at::kCUDA, 0);
  EXPECT_FALSE(big->linear_execution().isotypic(from + 1000, false, cuda)) << text;
  EXPECT_TRUE(
      ELinear(ELinearOptions(rep, rep).execution("isotypic"))->linear_execution().isotypic(1, true, cuda));
}

// eMultiheadAttention under auto runs its projections isotypic only together (the packed head coordinates
// join them), so auto decides on the two together, from the token count it reports on.
TEST(Execution, AttentionAutoDecidesBothProjectionsTogether) {
  auto ico = group("Ico");
  const auto rep = parse_rep(ico, "8x regular");
  EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 4).execution("auto"));
  const LinearExecution &in = mha->in_proj_execution(), &out = mha->out_proj_execution();
  for (const bool training : {false, true}) {
    const std::string text = mha->execution();
    const std::string key = training ? "tokens in eval, " : "isotypic from ";
    ASSERT_NE(text.find(key), std::string::npos) << text;
    const int64_t from = std::stoll(text.substr(text.find(key) + key.size()));
    EXPECT_TRUE(LinearExecution::isotypic_together(in, from, out, from, training)) << text;
    EXPECT_TRUE(LinearExecution::isotypic_together(in, from + 1000, out, from + 1000, training)) << text;
    EXPECT_FALSE(LinearExecution::isotypic_together(in, from + 1000, out, from + 1000, training,
                                                    at::Device(at::kCUDA, 0)))
        << text;
    if (from > 1)
      EXPECT_FALSE(LinearExecution::isotypic_together(in, from - 1, out, from - 1, training)) << text;
    // The saving of the two is the sum of theirs, so its threshold lies between their own.
    int64_t own_in = 0, own_out = 0;
    while (own_in < (1 << 20) && !in.isotypic(own_in, training)) ++own_in;
    while (own_out < (1 << 20) && !out.isotypic(own_out, training)) ++own_out;
    EXPECT_GE(from, std::min(own_in, own_out)) << text;
    EXPECT_LE(from, std::max(own_in, own_out)) << text;
    if (!training) EXPECT_NE(own_in, own_out) << text;
  }
  // dense and isotypic do what they say whatever the size.
  EMultiheadAttention dense(EMultiheadAttentionOptions(rep, 4).execution("dense"));
  EXPECT_FALSE(LinearExecution::isotypic_together(dense->in_proj_execution(), 1 << 20,
                                                  dense->out_proj_execution(), 1 << 20, false));
  EMultiheadAttention iso(EMultiheadAttentionOptions(rep, 4).execution("isotypic"));
  EXPECT_TRUE(
      LinearExecution::isotypic_together(iso->in_proj_execution(), 1, iso->out_proj_execution(), 1, true));
}

// IsotypicHom::linear refuses features, a bias or blocks of the wrong size with what it expected.
TEST(Execution, FusedProductRefusesWrongSizes) {
  auto g = group("D4");
  const auto rep = parse_rep(g, "2x regular + trivial");
  ELinear layer(ELinearOptions(rep, rep).execution("isotypic"));
  const IsotypicPlan* plan = layer->linear_execution().plan();
  ASSERT_TRUE(plan);
  const at::Tensor theta = layer->named_parameters()["weight_coefficients"].detach();
  const std::vector<at::Tensor> blocks = plan->hom->blocks(theta);
  const int64_t D = rep->size();
  auto refused = [&](const std::vector<at::Tensor>& b, const at::Tensor& x, const at::Tensor& bias,
                     const std::string& expected) {
    try {
      IsotypicHom::linear(plan->hom, plan->in, plan->out, b, x, bias);
      ADD_FAILURE() << "accepted; expected: " << expected;
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  const at::Tensor x = at::randn({3, D});
  EXPECT_EQ(IsotypicHom::linear(plan->hom, plan->in, plan->out, blocks, x, at::Tensor()).sizes(), x.sizes());
  refused(blocks, at::randn({3, D + 1}), at::Tensor(), "expected (N, " + std::to_string(D) + ") features");
  refused(blocks, x, at::randn({D - 1}), "expected a bias of (" + std::to_string(D) + ")");
  refused(std::vector<at::Tensor>(blocks.begin(), blocks.end() - 1), x, at::Tensor(),
          "expected one block per irrep of " + std::to_string(blocks.size()));
  std::vector<at::Tensor> wrong = blocks;
  size_t k = 0;
  while (k < wrong.size() && !wrong[k].defined()) ++k;
  ASSERT_LT(k, wrong.size());
  wrong[k] = at::cat({wrong[k], wrong[k]}, 1);
  refused(wrong, x, at::Tensor(), "block " + std::to_string(k) + " should be (");
}

// A cyclic group's regular copies take the FFT path: the dense function in float64, float32 and (through the
// dense fallback) bfloat16; auto takes it from some token count; other dtypes and shapes keep working.
TEST(Execution, CyclicGroupsUseTheFft) {
  auto g = group("C16");
  auto in = parse_rep(g, "4x regular"), out = parse_rep(g, "3x regular");
  ELinear dense(ELinearOptions(in, out).execution("dense"));
  ELinear fft(ELinearOptions(in, out).execution("isotypic"));
  ASSERT_TRUE(fft->linear_execution().fourier());
  EXPECT_EQ(fft->linear_execution().describe(), "isotypic by FFT over C16");
  {
    at::NoGradGuard no_grad;
    for (auto& item : dense->named_parameters()) fft->named_parameters()[item.key()].copy_(item.value());
  }
  for (auto dtype : {at::kDouble, at::kFloat, at::kBFloat16}) {
    dense->to(dtype);
    fft->to(dtype);
    at::Tensor x = at::randn({2, 5, in->size()}, at::TensorOptions().dtype(dtype));
    const double tol = dtype == at::kBFloat16 ? 1e-2 : exact_tolerance(dtype);
    EXPECT_LT(rel(fft(x).to(at::kDouble), dense(x).to(at::kDouble)), tol) << c10::toString(dtype);
  }
  // auto: the FFT where it pays (C64), dense where the FFTs cost more than they save (C4).
  auto c64 = group("C64");
  ELinear automatic(
      ELinearOptions(parse_rep(c64, "8x regular"), parse_rep(c64, "8x regular")).execution("auto"));
  const std::string text = automatic->linear_execution().describe();
  EXPECT_NE(text.find("auto (isotypic by FFT over C64 from "), std::string::npos) << text;
  auto c4 = group("C4");
  ELinear small(ELinearOptions(parse_rep(c4, "8x regular"), parse_rep(c4, "8x regular")).execution("auto"));
  EXPECT_FALSE(small->linear_execution().isotypic(1 << 20, false)) << small->linear_execution().describe();
  // Attention keeps the block path (its heads need the layouts).
  auto rep = parse_rep(g, "2x regular");
  EMultiheadAttention mha(EMultiheadAttentionOptions(rep, 2).execution("isotypic"));
  EXPECT_EQ(mha->execution(), "isotypic");
}

// isotypic is refused, with the reason and the way out, where there is no plan.
TEST(Execution, RefusalSaysWhy) {
  auto g = group("C4");
  auto rotated = random_basis(parse_rep(g, "2x regular"), 5);
  auto perm = parse_rep(g, "2x regular");
  try {
    ELinear lin(ELinearOptions(perm, rotated).execution("isotypic"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("eLinear: execution 'isotypic' is not available"), std::string::npos) << text;
    EXPECT_NE(text.find("use execution 'dense' or 'auto'"), std::string::npos) << text;
  }
}

TEST(Execution, UnknownModeSuggests) {
  auto g = group("C4");
  auto rep = parse_rep(g, "regular");
  try {
    ELinear lin(ELinearOptions(rep, rep).execution("isotypc"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'isotypic'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace eqnn::testing
