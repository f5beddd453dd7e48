// eInvariantPool and eNormPool through the real registry and constructed directly (EInvariantPool /
// ENormPool, no registry): exact invariance on every element for permutation and non-permutation
// representations, float64 and float32, batched and unbatched; the direct layer equal to the registry's;
// values against group averages and block norms; errors.
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "e_pooling.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::error_text;
using eqnn::testing::make_layer;
using eqnn::testing::to_tensor;

int num_trivial(const Representation& rep) { return rep.multiplicities()[0]; }

class PoolingInvariance : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

TEST_P(PoolingInvariance, EveryElementEveryRep) {
  const auto g = eqnn::testing::group(GetParam().spec);
  for (const auto& [label, rep] : eqnn::testing::mixed_reps(g)) {
    for (const std::string type : {"eInvariantPool", "eNormPool"}) {
      auto layer = make_layer(type, rep);
      const int64_t out_size = type == "eInvariantPool" ? num_trivial(*rep) : rep->irreps().size();
      ASSERT_EQ(layer->out_rep()->size(), out_size) << type << " " << label;
      EXPECT_EQ(layer->out_rep()->multiplicities()[0], out_size) << "out_rep must be all trivial";
      EXPECT_TRUE(layer->in_rep()->same_content(*rep));
      // Exact invariance: f(x ρ(g)ᵀ) against f(x) itself.
      eqnn::testing::EquivarianceSweep sweep;
      sweep.invariant = true;
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 9);
      };
      sweep.also = [&](const at::Tensor& x) {
        auto expected = x.sizes().vec();
        expected.back() = out_size;
        EXPECT_EQ(layer->forward(x).sizes().vec(), expected);
        EXPECT_EQ(layer->forward(x).scalar_type(), x.scalar_type());
      };
      eqnn::testing::ExpectEquivariant(*layer, sweep, type + " on " + g->name() + " " + label);
    }
  }
}

// Constructed without a registry: the registry's layer (name, printout, out_rep, values, export) and
// exactly invariant on every element.
TEST_P(PoolingInvariance, DirectConstructionEqualsRegistryLayer) {
  const auto g = eqnn::testing::group(GetParam().spec);
  for (const auto& [label, rep] : eqnn::testing::mixed_reps(g)) {
    const std::vector<std::pair<std::string, std::shared_ptr<eqnn::Layer>>> layers = {
        {"eInvariantPool", eqnn::EInvariantPool(eqnn::EInvariantPoolOptions(rep)).ptr()},
        {"eNormPool", eqnn::ENormPool(eqnn::ENormPoolOptions(rep)).ptr()}};
    for (const auto& entry : layers) {
      // Named references, not a structured binding: the lambdas below use them (C++17).
      const std::string& type = entry.first;
      const std::shared_ptr<eqnn::Layer>& direct = entry.second;
      const std::string what = type + " on " + g->name() + " " + label;
      auto via_registry = make_layer(type, rep);
      EXPECT_EQ(direct->name(), type);
      std::ostringstream a, b;
      direct->pretty_print(a);
      via_registry->pretty_print(b);
      EXPECT_EQ(a.str(), b.str());
      EXPECT_TRUE(direct->out_rep()->same_content(*via_registry->out_rep())) << what;
      EXPECT_EQ(direct->out_rep()->multiplicities()[0], direct->out_rep()->size())
          << "out_rep must be all trivial";
      EXPECT_EQ(direct->unconstrained_parameter_count(), via_registry->unconstrained_parameter_count());
      const auto exported = direct->effective_parameters(), expected = via_registry->effective_parameters();
      ASSERT_EQ(exported.size(), expected.size());
      for (size_t i = 0; i < exported.size(); ++i)
        EXPECT_TRUE(at::equal(exported[i].second, expected[i].second));
      eqnn::testing::EquivarianceSweep sweep;
      sweep.invariant = true;
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 10);
      };
      sweep.also = [&](const at::Tensor& x) {
        EXPECT_TRUE(at::equal(direct->forward(x), via_registry->forward(x))) << what << " " << x.sizes();
      };
      eqnn::testing::ExpectEquivariant(*direct, sweep, "direct " + what);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, PoolingInvariance, ::testing::ValuesIn(eqnn::testing::test_groups()),
                         [](const auto& info) { return info.param.label; });

// eInvariantPool = θ = Q_trivᵀ x: checked against the invariant projector built from the group average
// (1/|G|) Σ_g ρ(g), which shares no code with the layer, and against its stock export (Linear, no bias).
TEST(EInvariantPool, CoordinatesOfTheInvariantPart) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rt = eqnn::parse_rep(g, "2x regular + trivial + permutation(vertices)");
  RepPtr rep = eqnn::testing::random_basis(rt, 4);
  auto layer = make_layer("eInvariantPool", rep);
  at::Tensor average = at::zeros({rep->size(), rep->size()}, at::kDouble);
  for (int e = 0; e < g->order(); ++e) average += to_tensor(rep->matrix(e), at::kDouble);
  average /= g->order();
  const at::Tensor x = at::randn({7, rep->size()}, at::kDouble);
  const at::Tensor theta = layer->forward(x);
  ASSERT_EQ(theta.size(1), 4);
  // Orthonormal coordinates: B θ reconstructs the invariant part and ‖θ‖ = ‖invariant part‖.
  const at::Tensor part = at::matmul(x, average.t());
  const at::Tensor weight = layer->effective_parameters().at(0).second;
  EXPECT_EQ(layer->effective_parameters().at(0).first, "weight");
  EXPECT_EQ(weight.sizes(), (std::vector<int64_t>{4, rep->size()}));
  EXPECT_LE((at::matmul(theta, weight) - part).abs().max().item<double>(), 1e-12);
  EXPECT_LE((theta.norm(2, -1) - part.norm(2, -1)).abs().max().item<double>(), 1e-12);
  EXPECT_LE((at::linear(x, weight) - theta).abs().max().item<double>(), 1e-12);
  EXPECT_EQ(layer->unconstrained_parameter_count(), 4 * rep->size());
}

// eNormPool on a sum of irreps in their own basis: the norms of the blocks, in the rep's order; in a
// rotated basis M the same norms of M x.
TEST(ENormPool, NormsOfTheIrrepCopies) {
  const auto g = eqnn::testing::group("Ico");
  std::vector<int> ks = {3, 0, 1, 3, 4, 2};
  std::vector<RepPtr> parts;
  for (int k : ks) parts.push_back(Representation::irrep(g, k));
  RepPtr rep = Representation::direct_sum(parts);
  auto layer = make_layer("eNormPool", rep);
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({2, 3, rep->size()}, at::kDouble);
  const at::Tensor y = layer->forward(x);
  ASSERT_EQ(y.size(-1), static_cast<int64_t>(ks.size()));
  int64_t offset = 0;
  for (size_t c = 0; c < ks.size(); ++c) {
    const int64_t d = g->irreps()[ks[c]].dim;
    const at::Tensor block = x.narrow(-1, offset, d);
    EXPECT_LE((y.select(-1, c) - block.pow(2).sum(-1).sqrt()).abs().max().item<double>(), 1e-12) << c;
    offset += d;
  }
  const eqnn::Matrix M = eqnn::testing::random_orthogonal(rep->size(), 8);
  auto rotated = make_layer("eNormPool", Representation::change_basis(rep, M));
  const at::Tensor Mx = at::matmul(x, to_tensor(M, at::kDouble).t());
  EXPECT_LE((rotated->forward(Mx) - y).abs().max().item<double>(), 1e-12);
  EXPECT_TRUE(layer->effective_parameters().empty());
  EXPECT_EQ(layer->unconstrained_parameter_count(), 0);
}

// The norm is not differentiable at 0; the layer must still give finite (zero) gradients there.
TEST(ENormPool, FiniteGradientAtZero) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "regular + irrep(1)");
  auto layer = make_layer("eNormPool", rep);
  at::Tensor x = at::zeros({2, rep->size()}).requires_grad_(true);
  layer->forward(x).sum().backward();
  EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>());
}

TEST(Pooling, Errors) {
  const auto g = eqnn::testing::group("C5");
  RepPtr no_trivial = eqnn::parse_rep(g, "2x irrep(1)");
  EXPECT_HAS(error_text([&] { make_layer("eInvariantPool", no_trivial); }),
             "eInvariantPool: in_rep " + no_trivial->describe() +
                 " has no invariant subspace (it contains no trivial irrep), so the pooled output would be "
                 "empty; use "
                 "eNormPool (one invariant norm per irrep copy) or add a trivial or regular component to the "
                 "representation");
  EXPECT_HAS(error_text([&] { make_layer("eNormPool", no_trivial, "{dim: 1}"); }),
             "eNormPool: unknown key 'dim'; allowed keys: none");
  auto pool = make_layer("eNormPool", no_trivial);
  EXPECT_HAS(
      error_text([&] { pool->forward(at::randn({5})); }),
      "eNormPool: expected input of shape (..., 4) for in_rep " + no_trivial->describe() + ", got [5]");
  auto inv = make_layer("eInvariantPool", eqnn::parse_rep(g, "regular"));
  EXPECT_HAS(error_text([&] { inv->forward(at::ones({5}, at::kLong)); }),
             "eInvariantPool: expected a floating-point input, got Long");
}

TEST(Pooling, DirectConstructionErrors) {
  const auto g = eqnn::testing::group("C5");
  RepPtr no_trivial = eqnn::parse_rep(g, "2x irrep(1)");
  EXPECT_THROW(eqnn::EInvariantPool(eqnn::EInvariantPoolOptions(no_trivial)), eqnn::ConfigError);
  EXPECT_HAS(error_text([&] { eqnn::EInvariantPool(eqnn::EInvariantPoolOptions(no_trivial)); }),
             "eInvariantPool: in_rep " + no_trivial->describe() + " has no invariant subspace");
  EXPECT_HAS(error_text([&] { eqnn::ENormPool(eqnn::ENormPoolOptions(nullptr)); }),
             "eNormPool: in_rep is required");
  auto error = eqnn::validate(eqnn::EInvariantPoolOptions(no_trivial));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "in_rep");
  EXPECT_FALSE(eqnn::validate(eqnn::EInvariantPoolOptions(eqnn::parse_rep(g, "regular"))));
  EXPECT_FALSE(eqnn::validate(eqnn::ENormPoolOptions(no_trivial)));
  eqnn::ENormPool pool{eqnn::ENormPoolOptions(no_trivial)};
  EXPECT_EQ(pool(at::randn({3, 4})).sizes(), (std::vector<int64_t>{3, 2}));
  EXPECT_HAS(
      error_text([&] { pool(at::randn({5})); }),
      "eNormPool: expected input of shape (..., 4) for in_rep " + no_trivial->describe() + ", got [5]");
}

}  // namespace
