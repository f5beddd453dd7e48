// Parity with the stock modules in how they learn and how they start:
// - optimiser-fair parametrisation: from equal effective weights and the same batch, one Adam step changes
//   the effective weights of eLinear / eMultiheadAttention by the same RMS per entry as it changes the
//   stock torch::nn::Linear / MultiheadAttention's (within 1.5×), on regular, rotated, irrep-sum and
//   permutation representations of several groups;
// - stock defaults: the default initialisation has the per-entry variance of the stock modules' own
//   initialisation, measured on torch::nn::Linear / MultiheadAttention instances (not on a formula).
#include <cmath>
#include <iostream>

#include <gtest/gtest.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

double rms(const at::Tensor& t) { return t.pow(2).mean().sqrt().item<double>(); }

/// One Adam step (stock learning rate 1e-3) on `params` for the loss `loss()`.
void adam_step(std::vector<at::Tensor> params, const std::function<at::Tensor()>& loss) {
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3));
  adam.zero_grad();
  loss().backward();
  adam.step();
}

/// The ratio eqnn / stock of the RMS per-entry change of each named effective tensor, and the check.
void expect_fair(const std::string& what, const std::string& name, const at::Tensor& eq_before,
                 const at::Tensor& eq_after, const at::Tensor& stock_before, const at::Tensor& stock_after) {
  const double eq = rms(eq_after - eq_before), stock = rms(stock_after - stock_before);
  ASSERT_TRUE(std::isfinite(eq) && std::isfinite(stock)) << what << " " << name;
  ASSERT_GT(stock, 0) << what << " " << name;
  const double ratio = eq / stock;
  EXPECT_GE(ratio, 1 / 1.5) << what << " " << name << ": eqnn moves " << eq << " per entry, stock " << stock;
  EXPECT_LE(ratio, 1.5) << what << " " << name << ": eqnn moves " << eq << " per entry, stock " << stock;
  std::cout << "[ adam ratio ] " << what << " " << name << ": " << ratio << "\n";
}

struct Case {
  std::string group, kind;
  int copies;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.group << " " << c.copies << "x " << c.kind; }

std::vector<Case> cases() {
  return {{"C5", "regular", 2},     {"C5", "irreps", 2},    {"D4", "regular", 3},
          {"D4", "permutation", 2}, {"D4", "rotated", 2},   {"D8", "regular", 4},
          {"D8", "permutation", 2}, {"Ico", "irreps", 1},   {"Ico", "permutation", 1},
          {"S4", "permutation", 1}, {"C2xD4", "irreps", 1}, {"Q8", "irreps", 2}};
}

GroupPtr case_group(const std::string& spec) { return group(spec == "Q8" ? std::string(kQ8) : spec); }

class AdamParity : public ::testing::TestWithParam<Case> {};

TEST_P(AdamParity, LinearMovesLikeTheStockLinear) {
  const auto& c = GetParam();
  auto g = case_group(c.group);
  RepPtr in = make_kind(g, c.kind, c.copies), out = make_kind(g, c.kind, c.copies + 1);
  ASSERT_TRUE(in && out);
  for (const auto& [label, from, to] :
       std::vector<std::tuple<std::string, RepPtr, RepPtr>>{{"in->out", in, out}, {"in->in", in, in}}) {
    at::manual_seed(2);
    ELinear eq(ELinearOptions(from, to));
    eq->to(at::kDouble);
    torch::nn::Linear stock(torch::nn::LinearOptions(from->size(), to->size()).bias(eq->has_bias()));
    stock->to(at::kDouble);
    {
      at::NoGradGuard no_grad;
      stock->weight.copy_(eq->weight());
      if (eq->has_bias()) stock->bias.copy_(eq->bias());
    }
    const at::Tensor x = at::randn({64, from->size()}, at::kDouble);
    const at::Tensor y = at::randn({64, to->size()}, at::kDouble);
    const at::Tensor w0 = eq->weight().detach().clone(), s0 = stock->weight.detach().clone();
    const at::Tensor b0 = eq->has_bias() ? eq->bias().detach().clone() : at::Tensor();
    const at::Tensor sb0 = eq->has_bias() ? stock->bias.detach().clone() : at::Tensor();
    adam_step(eq->parameters(), [&] { return at::mse_loss(eq(x), y); });
    adam_step(stock->parameters(), [&] { return at::mse_loss(stock(x), y); });
    const std::string what = c.group + " " + label + " " + from->describe() + " -> " + to->describe();
    expect_fair(what, "weight", w0, eq->weight().detach(), s0, stock->weight.detach());
    if (eq->has_bias()) expect_fair(what, "bias", b0, eq->bias().detach(), sb0, stock->bias.detach());
  }
}

TEST_P(AdamParity, AttentionMovesLikeTheStockAttention) {
  const auto& c = GetParam();
  auto g = case_group(c.group);
  RepPtr rep = make_kind(g, c.kind, c.copies);
  ASSERT_TRUE(rep);
  at::manual_seed(3);
  EMultiheadAttention eq(EMultiheadAttentionOptions(rep, 1));
  eq->to(at::kDouble);
  const int64_t d = rep->size();
  torch::nn::MultiheadAttention stock(torch::nn::MultiheadAttentionOptions(d, 1));
  stock->to(at::kDouble);
  {
    at::NoGradGuard no_grad;
    stock->in_proj_weight.copy_(eq->in_proj_weight());
    stock->in_proj_bias.copy_(eq->in_proj_bias());
    stock->out_proj->weight.copy_(eq->out_proj->weight());
    stock->out_proj->bias.copy_(eq->out_proj->has_bias() ? eq->out_proj->bias()
                                                         : at::zeros({d}, at::kDouble));
  }
  const at::Tensor x = at::randn({6, 8, d}, at::kDouble), y = at::randn({6, 8, d}, at::kDouble);
  auto eq_params = [&] {
    return std::vector<at::Tensor>{eq->in_proj_weight().detach().clone(), eq->in_proj_bias().detach().clone(),
                                   eq->out_proj->weight().detach().clone()};
  };
  auto stock_params = [&] {
    return std::vector<at::Tensor>{stock->in_proj_weight.detach().clone(),
                                   stock->in_proj_bias.detach().clone(),
                                   stock->out_proj->weight.detach().clone()};
  };
  auto e0 = eq_params(), s0 = stock_params();
  adam_step(eq->parameters(), [&] { return at::mse_loss(std::get<0>(eq->forward(x, x, x)), y); });
  adam_step(stock->parameters(), [&] { return at::mse_loss(std::get<0>(stock->forward(x, x, x)), y); });
  auto e1 = eq_params(), s1 = stock_params();
  const std::string what = c.group + " " + rep->describe();
  const char* names[] = {"in_proj_weight", "in_proj_bias", "out_proj.weight"};
  for (int i = 0; i < 3; ++i) {
    // Without a trivial part in in_rep the invariant in_proj_bias has no first-order effect at all (the v
    // part is killed by out_proj ∈ Hom_G(reg^m, in_rep), the q/k parts shift scores by constants): its
    // gradient is exactly zero, a property of the symmetry, not of the parametrisation.
    if (i == 1 && rep->multiplicities()[0] == 0) {
      EXPECT_LE(rms(e1[i] - e0[i]), 1e-9) << what;
      continue;
    }
    expect_fair(what, names[i], e0[i], e1[i], s0[i], s1[i]);
  }
}

INSTANTIATE_TEST_SUITE_P(Reps, AdamParity, ::testing::ValuesIn(cases()), [](const auto& info) {
  return info.param.group + "_" + info.param.kind + std::to_string(info.param.copies);
});

// ---- stock defaults --------------------------------------------------------------------------------------

/// Mean square of the entries of `t()` over `draws` draws.
double mean_square(int draws, const std::function<at::Tensor()>& t) {
  double sum = 0;
  int64_t n = 0;
  for (int i = 0; i < draws; ++i) {
    at::Tensor v = t();
    sum += v.pow(2).sum().item<double>();
    n += v.numel();
  }
  return sum / static_cast<double>(n);
}

TEST(StockDefaults, LinearStartsLikeTorchLinear) {
  at::manual_seed(5);
  auto g = group("D8");
  // Orbit path, isotypic path (irrep sum) and a rotated regular stack; out reps with few invariants so the
  // bias statistics need many draws.
  const std::vector<std::pair<RepPtr, RepPtr>> reps = {
      {parse_rep(g, "8x regular"), parse_rep(g, "4x regular")},
      {irrep_sum(g, 96), Representation::direct_sum({irrep_sum(g, 48), Representation::trivial(g, 16)})},
      {random_basis(parse_rep(g, "6x regular"), 3), parse_rep(g, "2x permutation(vertices) + 3x trivial")}};
  for (const auto& [in, out] : reps) {
    const int64_t di = in->size(), dout = out->size();
    EXPECT_EQ(ELinearOptions(in, out).init_scheme(), "stock");
    const int draws = 300;
    std::vector<ELinear> layers;
    for (int i = 0; i < draws; ++i) layers.emplace_back(ELinearOptions(in, out));
    int k = 0;
    const double eq_w = mean_square(draws, [&] { return layers[k++ % draws]->weight(); });
    k = 0;
    const double eq_b = mean_square(draws, [&] { return layers[k++ % draws]->bias(); });
    const double st_w = mean_square(draws, [&] { return torch::nn::Linear(di, dout)->weight; });
    const double st_b = mean_square(draws, [&] { return torch::nn::Linear(di, dout)->bias; });
    const std::string what = in->describe() + " -> " + out->describe();
    EXPECT_NEAR(eq_w / st_w, 1.0, 0.1) << what << ": weight " << eq_w << " vs stock " << st_w;
    EXPECT_NEAR(eq_b / st_b, 1.0, 0.1) << what << ": bias " << eq_b << " vs stock " << st_b;
  }
}

TEST(StockDefaults, AttentionStartsLikeTorchMultiheadAttention) {
  at::manual_seed(6);
  auto g = group("D8");
  for (const auto& rep : {parse_rep(g, "4x regular"), irrep_sum(g, 64)}) {
    const int64_t d = rep->size();
    EXPECT_EQ(EMultiheadAttentionOptions(rep, 4).init_scheme(), "stock");
    const int draws = 40;
    std::vector<EMultiheadAttention> eq;
    std::vector<torch::nn::MultiheadAttention> stock;
    for (int i = 0; i < draws; ++i) {
      eq.emplace_back(EMultiheadAttentionOptions(rep, 4));
      stock.emplace_back(torch::nn::MultiheadAttentionOptions(d, 4));
    }
    int k = 0;
    auto next = [&] { return k++ % draws; };
    const double eq_in = mean_square(draws, [&] { return eq[next()]->in_proj_weight(); });
    const double st_in = mean_square(draws, [&] { return stock[next()]->in_proj_weight; });
    const double eq_out = mean_square(draws, [&] { return eq[next()]->out_proj->weight(); });
    const double st_out = mean_square(draws, [&] { return stock[next()]->out_proj->weight; });
    EXPECT_NEAR(eq_in / st_in, 1.0, 0.1) << rep->describe() << ": in_proj " << eq_in << " vs " << st_in;
    EXPECT_NEAR(eq_out / st_out, 1.0, 0.1) << rep->describe() << ": out_proj " << eq_out << " vs " << st_out;
    // The stock module's biases start at zero; so do ours.
    for (int i = 0; i < draws; ++i) {
      ASSERT_EQ(stock[i]->in_proj_bias.abs().sum().item<double>(), 0.0);
      ASSERT_EQ(stock[i]->out_proj->bias.abs().sum().item<double>(), 0.0);
      EXPECT_EQ(eq[i]->in_proj_bias().abs().sum().item<double>(), 0.0);
      if (eq[i]->out_proj->has_bias()) EXPECT_EQ(eq[i]->out_proj->bias().abs().sum().item<double>(), 0.0);
    }
  }
}

// On the orbit path every entry of the effective weight is one coefficient, so the entries have exactly the
// stock law: U(±1/sqrt(fan_in)) — bounded by it, and reaching close to it.
TEST(StockDefaults, OrbitPathEntriesHaveTheStockUniformLaw) {
  at::manual_seed(7);
  auto g = group("C4");
  ELinear lin(ELinearOptions(parse_rep(g, "25x regular"), parse_rep(g, "25x regular")));
  const double bound = 1.0 / std::sqrt(100.0);
  at::Tensor w = lin->weight();
  EXPECT_LE(w.abs().max().item<double>(), bound);
  EXPECT_GE(w.abs().max().item<double>(), 0.95 * bound);
  EXPECT_LE(lin->bias().abs().max().item<double>(), bound);
}

// The named schemes remain: a weight scheme with a zero bias.
TEST(StockDefaults, NamedSchemesRemainAvailable) {
  auto g = group("C4");
  auto rep = parse_rep(g, "4x regular");
  for (const std::string scheme : {"xavier_normal", "xavier_uniform", "kaiming_normal", "kaiming_uniform"}) {
    ELinear lin(ELinearOptions(rep, rep).init_scheme(scheme));
    EXPECT_EQ(lin->bias().abs().sum().item<double>(), 0.0) << scheme;
    EXPECT_GT(lin->weight().abs().sum().item<double>(), 0.0) << scheme;
  }
  EXPECT_EQ(parse_init_scheme("stock"), InitScheme::stock);
  EXPECT_EQ(to_string(InitScheme::stock), "stock");
}

}  // namespace
}  // namespace eqnn::testing
