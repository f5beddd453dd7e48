// eLinear: exact equivariance on every element for every group and representation kind (float64 and
// float32, batched and unbatched), the registry factory and its errors, initialisation statistics, the
// eval-mode cache and finite-difference gradients.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <torch/optim/sgd.h>
#include <torch/serialize.h>

#include "e_linear.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

class LinearPerGroup : public ::testing::TestWithParam<GroupCase> {};

TEST_P(LinearPerGroup, EquivariantOnEveryElement) {
  auto g = group(GetParam().spec);
  std::vector<RepPtr> reps;
  for (const auto& kind : test_kinds())
    if (auto r = make_kind(g, kind, 1)) reps.push_back(r);
  reps.push_back(Representation::direct_sum({parse_rep(g, "regular"), parse_rep(g, "trivial")}));
  at::manual_seed(0);
  for (size_t a = 0; a < reps.size(); ++a) {
    // Every kind maps to every other kind once (and to itself), keeping the suite small.
    for (size_t b : {a, (a + 1) % reps.size()}) {
      ELinear lin(ELinearOptions(reps[a], reps[b]));
      // A non-zero bias, so the invariant-bias path is exercised too.
      if (lin->has_bias()) {
        at::NoGradGuard no_grad;
        lin->named_parameters()["bias_coefficients"].normal_();
      }
      for (auto dtype : {at::kDouble, at::kFloat}) {
        lin->to(dtype);
        auto f = [&](const at::Tensor& x) { return lin(x); };
        const std::string what =
            reps[a]->describe() + " -> " + reps[b]->describe() + " " + c10::toString(dtype);
        at::Tensor batched = at::randn({3, 2, reps[a]->size()}, at::TensorOptions().dtype(dtype));
        EXPECT_LT(equivariance_error(f, *reps[a], *reps[b], batched), tolerance(dtype)) << what;
        at::Tensor single = at::randn({reps[a]->size()}, at::TensorOptions().dtype(dtype));
        EXPECT_LT(equivariance_error(f, *reps[a], *reps[b], single), tolerance(dtype)) << what;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, LinearPerGroup, ::testing::ValuesIn(test_groups()),
                         [](const auto& info) { return info.param.label; });

// ---- the registry factory --------------------------------------------------------------------------------

struct Built {
  std::shared_ptr<Layer> layer;
  std::string error;
};

Built build_linear(const std::string& yaml, const RepPtr& in) {
  Built out;
  out.error = error_text([&] { out.layer = make_layer("eLinear", in, yaml); });
  return out;
}

TEST(LinearFactory, BuildsThroughTheRegistry) {
  auto g = group("D4");
  auto in = parse_rep(g, "2x regular");
  Built b = build_linear("{out_rep: 'regular + 2x trivial', bias: true, init_scheme: kaiming_uniform}", in);
  ASSERT_TRUE(b.layer) << b.error;
  auto* lin = dynamic_cast<ELinearImpl*>(b.layer.get());
  ASSERT_NE(lin, nullptr);
  EXPECT_EQ(lin->in_rep()->size(), 16);
  EXPECT_EQ(lin->out_rep()->size(), 10);
  EXPECT_EQ(lin->options.init_scheme(), "kaiming_uniform");
  EXPECT_EQ(lin->options.registry(), &registry());
  EXPECT_TRUE(lin->has_bias());
  auto params = b.layer->named_parameters();
  EXPECT_TRUE(params.contains("weight_coefficients"));
  EXPECT_TRUE(params.contains("bias_coefficients"));
  auto effective = b.layer->effective_parameters();
  ASSERT_EQ(effective.size(), 2u);
  EXPECT_EQ(effective[0].first, "weight");
  EXPECT_EQ(effective[0].second.sizes(), (std::vector<int64_t>{10, 16}));
  EXPECT_EQ(effective[1].first, "bias");
  EXPECT_EQ(b.layer->unconstrained_parameter_count(), 10 * 16 + 10);
  at::Tensor x = at::randn({4, 16});
  EXPECT_TRUE(at::allclose(b.layer->forward(x), at::linear(x, effective[0].second, effective[1].second)));
}

TEST(LinearFactory, ErrorsPointAtTheYaml) {
  auto g = group("C4");
  auto in = parse_rep(g, "regular");
  EXPECT_NE(
      build_linear("{out_rep: regular, biass: true}", in)
          .error.find("eLinear: unknown key 'biass' (did you mean 'bias'?); allowed keys: out_rep, bias"),
      std::string::npos);
  EXPECT_NE(build_linear("{bias: true}", in).error.find("eLinear: missing required key 'out_rep'"),
            std::string::npos);
  const std::string scheme = build_linear("{out_rep: regular,\n init_scheme: xavier_normall}", in).error;
  EXPECT_NE(scheme.find(
                "2:15: error: eLinear: unknown init_scheme 'xavier_normall' (did you mean 'xavier_normal'?)"),
            std::string::npos)
      << scheme;
  const std::string constraint =
      build_linear("{out_rep: regular, weight_constraint: CommutingConstrain}", in).error;
  EXPECT_NE(constraint.find("did you mean 'CommutingConstraint'"), std::string::npos) << constraint;
  EXPECT_NE(build_linear("{out_rep: regular, bias: maybe}", in).error.find("'bias' must be true or false"),
            std::string::npos);
}

TEST(Linear, NoBiasWhenOutRepHasNoTrivialPartAndSaysSo) {
  auto g = group("C4");
  auto in = parse_rep(g, "regular");
  auto out = parse_rep(g, "irrep(1) + irrep(2)");
  ELinear lin(in, out);
  EXPECT_FALSE(lin->has_bias());
  EXPECT_FALSE(lin->named_parameters().contains("bias_coefficients"));
  EXPECT_NE(lin->bias_note().find("no bias: out_rep"), std::string::npos);
  std::ostringstream printed;
  printed << *lin;
  EXPECT_NE(printed.str().find("has no trivial part, so the only invariant bias is 0"), std::string::npos)
      << printed.str();
  // Effective parameters stay loadable into a stock Linear with bias.
  auto effective = lin->effective_parameters();
  ASSERT_EQ(effective.size(), 2u);
  EXPECT_EQ(effective[1].second.abs().sum().item<double>(), 0.0);
  ELinear without(ELinearOptions(in, out).bias(false));
  EXPECT_EQ(without->effective_parameters().size(), 1u);
  EXPECT_EQ(without->unconstrained_parameter_count(), 3 * 4);
}

TEST(Linear, ErrorsNameTheProblem) {
  auto g = group("C4");
  auto in = parse_rep(g, "regular");
  EXPECT_NE(error_text([&] {
              ELinear(ELinearOptions(in, in).init_scheme("glorot"));
            }).find("unknown init_scheme 'glorot'; known schemes: stock, xavier_normal, xavier_uniform"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              ELinear(ELinearOptions(in, in).weight_constraint("SoftConstraint"));
            }).find("constraint 'SoftConstraint' was asked for without a registry"),
            std::string::npos);
  EXPECT_NE(error_text([&] { ELinear(ELinearOptions(in, nullptr)); }).find("in_rep and out_rep are required"),
            std::string::npos);
  // One validate() holds the rules; the YAML factory only locates its key.
  for (const auto& [options, key] : std::vector<std::pair<ELinearOptions, std::string>>{
           {ELinearOptions(in, nullptr), "out_rep"},
           {ELinearOptions(in, in).init_scheme("glorot"), "init_scheme"},
           {ELinearOptions(in, in).weight_constraint("SoftConstraint"), "weight_constraint"},
           {ELinearOptions(in, in).bias_constraint("SoftConstraint"), "bias_constraint"}}) {
    auto error = eqnn::validate(options);
    ASSERT_TRUE(error) << key;
    EXPECT_EQ(error->key, key);
    EXPECT_EQ(error->message.rfind("eLinear: ", 0), 0u) << error->message;
  }
  EXPECT_FALSE(eqnn::validate(ELinearOptions(in, in).bias(false).bias_constraint("SoftConstraint")));
  EXPECT_FALSE(eqnn::validate(ELinearOptions(in, in)));
  ELinear lin(in, in);
  EXPECT_NE(error_text([&] {
              lin(at::randn({2, 5}));
            }).find("eLinear: expected input of shape (..., 4) for in_rep regular (size 4), got [2, 5]"),
            std::string::npos);
}

// ---- initialisation --------------------------------------------------------------------------------------

TEST(Linear, InitialisationMatchesTheStockSchemeForEveryScheme) {
  at::manual_seed(3);
  auto g = group("C5");
  // Orbit path (permutation reps) and isotypic path (a random basis), D >= 64.
  std::vector<std::pair<RepPtr, RepPtr>> cases = {
      {parse_rep(g, "16x regular"), parse_rep(g, "14x regular")},
      {random_basis(parse_rep(g, "16x regular"), 5), irrep_sum(g, 70)}};
  for (const auto& [in, out] : cases)
    for (auto scheme : {InitScheme::xavier_normal, InitScheme::xavier_uniform, InitScheme::kaiming_normal,
                        InitScheme::kaiming_uniform}) {
      ELinear lin(ELinearOptions(in, out).init_scheme(to_string(scheme)));
      const double got = lin->weight().pow(2).mean().item<double>();
      const double want = dense_mean_square(scheme, out->size(), in->size());
      EXPECT_NEAR(got / want, 1.0, 0.1)
          << to_string(scheme) << " " << in->describe() << " -> " << out->describe();
      if (lin->has_bias()) EXPECT_EQ(lin->bias().abs().sum().item<double>(), 0.0);
    }
  ELinear zeros(ELinearOptions(parse_rep(g, "regular"), parse_rep(g, "regular")).init_scheme("zeros"));
  EXPECT_EQ(zeros->weight().abs().sum().item<double>(), 0.0);
}

// ---- the eval-mode cache ---------------------------------------------------------------------------------

class LinearCache : public ::testing::Test {
 protected:
  void SetUp() override {
    at::manual_seed(11);
    auto g = group("D4");
    in = random_basis(parse_rep(g, "regular"), 2);
    out = parse_rep(g, "regular + trivial");
    lin = ELinear(in, out);
    x = at::randn({3, in->size()});
  }
  at::Tensor theta(const ELinear& l) { return l->named_parameters()["weight_coefficients"]; }
  at::Tensor expected(const ELinear& l, const at::Tensor& input) {
    at::NoGradGuard no_grad;
    return at::linear(input, l->weight_parameter().constraint()->expand(theta(l)),
                      l->bias_parameter().constraint()->expand(l->named_parameters()["bias_coefficients"]));
  }
  at::Tensor eval_forward(const at::Tensor& input) {
    at::NoGradGuard no_grad;
    return lin(input);
  }
  RepPtr in, out;
  ELinear lin = nullptr;
  at::Tensor x;
};

TEST_F(LinearCache, EvalForwardUnderNoGradReusesTheExpandedWeight) {
  lin->eval();
  at::NoGradGuard no_grad;
  at::Tensor w1 = lin->weight(), w2 = lin->weight();
  EXPECT_EQ(w1.data_ptr(), w2.data_ptr());
  lin(x);
  EXPECT_EQ(lin->weight().data_ptr(), w1.data_ptr());
  EXPECT_EQ(lin->bias().data_ptr(), lin->bias().data_ptr());
}

TEST_F(LinearCache, TrainModeAndGradModeAlwaysRecompute) {
  lin->eval();
  at::Tensor cached = eval_forward(x);
  const void* cached_weight = [&] {
    at::NoGradGuard no_grad;
    return lin->weight().data_ptr();
  }();
  lin->train();
  at::Tensor w = lin->weight();
  EXPECT_NE(w.data_ptr(), cached_weight);
  EXPECT_TRUE(w.requires_grad());
  lin(x).sum().backward();
  ASSERT_TRUE(theta(lin).grad().defined());
  EXPECT_GT(theta(lin).grad().abs().sum().item<double>(), 0.0);
  // Eval with grad enabled: gradients must still reach θ (no stale graph-free cache).
  lin->eval();
  EXPECT_TRUE(lin->weight().requires_grad());
}

TEST_F(LinearCache, InPlaceEditIsSeen) {
  lin->eval();
  at::Tensor before = eval_forward(x);
  {
    at::NoGradGuard no_grad;
    theta(lin).mul_(2.0);
  }
  at::Tensor after = eval_forward(x);
  EXPECT_FALSE(at::allclose(before, after));
  EXPECT_TRUE(at::allclose(after, expected(lin, x), 1e-6, 1e-6));
}

TEST_F(LinearCache, CopyIntoCoefficientsIsSeen) {
  lin->eval();
  eval_forward(x);
  {
    at::NoGradGuard no_grad;
    theta(lin).copy_(at::randn_like(theta(lin)));
  }
  EXPECT_TRUE(at::allclose(eval_forward(x), expected(lin, x), 1e-6, 1e-6));
}

TEST_F(LinearCache, TrainThenEvalAfterOptimizerStepIsSeen) {
  lin->eval();
  at::Tensor before = eval_forward(x);
  lin->train();
  torch::optim::SGD sgd(lin->parameters(), torch::optim::SGDOptions(0.5));
  sgd.zero_grad();
  lin(x).pow(2).sum().backward();
  sgd.step();
  lin->eval();
  at::Tensor after = eval_forward(x);
  EXPECT_FALSE(at::allclose(before, after));
  EXPECT_TRUE(at::allclose(after, expected(lin, x), 1e-6, 1e-6));
}

TEST_F(LinearCache, MoveToDoubleIsSeen) {
  lin->eval();
  eval_forward(x);
  lin->to(at::kDouble);
  at::Tensor xd = x.to(at::kDouble);
  at::Tensor y = eval_forward(xd);
  EXPECT_EQ(y.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(y, expected(lin, xd), 1e-12, 1e-12));
}

TEST_F(LinearCache, TorchLoadIsSeen) {
  lin->eval();
  at::Tensor before = eval_forward(x);
  ELinear other(in, out);
  {
    at::NoGradGuard no_grad;
    other->named_parameters()["bias_coefficients"].normal_();
  }
  std::stringstream stream;
  torch::save(other, stream);
  torch::load(lin, stream);
  at::Tensor after = eval_forward(x);
  other->eval();
  EXPECT_FALSE(at::allclose(before, after));
  EXPECT_TRUE(at::allclose(after, expected(other, x), 1e-6, 1e-6));
}

// ---- gradients -------------------------------------------------------------------------------------------

TEST(Linear, GradientsMatchFiniteDifferences) {
  at::manual_seed(5);
  auto g = group("C3");
  for (const auto& [in, out] :
       std::vector<std::pair<RepPtr, RepPtr>>{{parse_rep(g, "regular + trivial"), parse_rep(g, "regular")},
                                              {random_basis(parse_rep(g, "regular"), 4), irrep_sum(g, 4)}}) {
    ELinear lin(in, out);
    lin->to(at::kDouble);
    {
      at::NoGradGuard no_grad;
      for (auto& p : lin->parameters()) p.normal_();
    }
    at::Tensor x = at::randn({2, in->size()}, at::kDouble).requires_grad_();
    at::Tensor r = at::randn({2, out->size()}, at::kDouble);
    auto loss = [&] { return (lin(x) * r).sum(); };
    for (auto& p : lin->named_parameters()) expect_gradient_matches(loss, p.value(), p.key());
    expect_gradient_matches(loss, x, "input");
  }
}

TEST_F(LinearCache, FrozenCoefficientsAreCachedInTrainModeAndWritesAreSeen) {
  lin->train();
  theta(lin).requires_grad_(false);
  at::Tensor w1 = lin->weight(), w2 = lin->weight();
  EXPECT_EQ(w1.data_ptr(), w2.data_ptr());  // one expansion for both calls
  EXPECT_FALSE(w1.requires_grad());
  EXPECT_TRUE(at::allclose(lin(x), expected(lin, x), 1e-6, 1e-6));
  {
    at::NoGradGuard no_grad;
    theta(lin).mul_(-3.0);
  }
  EXPECT_TRUE(at::allclose(lin(x), expected(lin, x), 1e-6, 1e-6));  // the write is seen
  // Unfrozen again: recomputed each time, with gradients reaching θ.
  theta(lin).requires_grad_(true);
  EXPECT_NE(lin->weight().data_ptr(), lin->weight().data_ptr());
  lin(x).sum().backward();
  ASSERT_TRUE(theta(lin).grad().defined());
}

}  // namespace
}  // namespace eqnn::testing
