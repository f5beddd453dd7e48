// eInvariantPool and eNormPool through the real registry: exact invariance on every element for
// permutation and non-permutation representations, float64 and float32, batched and unbatched; values
// against group averages and block norms; errors.
#include <functional>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/error.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/rep_parser.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::registry;

const char* kQ8 =
    "{type: FiniteGroup, name: Q8, generators: [[[0,-1,0,0],[1,0,0,0],[0,0,0,-1],[0,0,1,0]], "
    "[[0,0,-1,0],[0,0,0,1],[1,0,0,0],[0,-1,0,0]]]}";
const std::vector<std::string> kGroups = {"C5", "D4", "Ico", "C2xD4", kQ8};

at::Tensor dense(const eqnn::Matrix& m, at::ScalarType dtype) {
  at::Tensor t = at::empty({m.rows(), m.cols()}, at::kDouble);
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < m.rows(); ++i)
    for (int64_t j = 0; j < m.cols(); ++j) a[i][j] = m(i, j);
  return t.to(dtype);
}

eqnn::LayerPtr make_layer(const std::string& type, const RepPtr& in, const std::string& kwargs = "{}") {
  eqnn::LayerArgs a;
  a.group = in->group_ptr();
  a.in_rep = in;
  a.kwargs = YAML::Load(kwargs);
  a.registry = &registry();
  auto g = in->group_ptr();
  a.resolve_rep = [g](const YAML::Node& n) { return eqnn::parse_rep(g, n.as<std::string>()); };
  return registry().get_layer(type)(a);
}

/// Representations to test for a group: a regular stack, a permutation rep in a random orthogonal
/// basis, a sum of irreps (every irrep, the last twice), and a permutation action (+ trivial).
std::vector<std::pair<std::string, RepPtr>> test_reps(const eqnn::GroupPtr& g) {
  std::vector<std::pair<std::string, RepPtr>> reps;
  reps.emplace_back("2x regular", eqnn::parse_rep(g, "2x regular"));
  RepPtr rt = eqnn::parse_rep(g, "regular + trivial");
  reps.emplace_back("random basis",
                    Representation::change_basis(rt, eqnn::testing::random_orthogonal(rt->size(), 7)));
  std::vector<RepPtr> irreps;
  const int n = static_cast<int>(g->irreps().size());
  for (int k = 0; k < n; ++k) irreps.push_back(Representation::irrep(g, k));
  irreps.push_back(Representation::irrep(g, n - 1));
  reps.emplace_back("irreps", Representation::direct_sum(irreps));
  const std::string perm = g->actions().empty() ? "regular + 2x trivial"
                                                : "permutation(" + g->actions().front().name + ") + trivial";
  reps.emplace_back(perm, eqnn::parse_rep(g, perm));
  return reps;
}

std::vector<at::Tensor> inputs(int64_t D, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto o = at::TensorOptions().dtype(dtype);
  return {at::normal(0, 1, {D}, gen, o), at::normal(0, 1, {3, D}, gen, o),
          at::normal(0, 1, {2, 3, D}, gen, o)};
}

/// max over every g of |f(x ρ(g)ᵀ) − f(x)|∞ relative to max(1, |f(x)|∞): exact invariance.
double invariance_error(eqnn::Layer& layer, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const at::Tensor y = layer.forward(x);
  const double scale = std::max(1.0, y.abs().max().item<double>());
  double worst = 0;
  for (int g = 0; g < layer.in_rep()->group().order(); ++g) {
    const at::Tensor r = dense(layer.in_rep()->matrix(g), x.scalar_type());
    worst = std::max(worst, (layer.forward(at::matmul(x, r.t())) - y).abs().max().item<double>() / scale);
  }
  return worst;
}

int num_trivial(const Representation& rep) { return rep.multiplicities()[0]; }

class PoolingInvariance : public ::testing::TestWithParam<std::string> {};

TEST_P(PoolingInvariance, EveryElementEveryRep) {
  const auto g = eqnn::testing::group(GetParam());
  for (const auto& [label, rep] : test_reps(g)) {
    for (const std::string type : {"eInvariantPool", "eNormPool"}) {
      auto layer = make_layer(type, rep);
      const int64_t out_size = type == "eInvariantPool" ? num_trivial(*rep) : rep->irreps().size();
      ASSERT_EQ(layer->out_rep()->size(), out_size) << type << " " << label;
      EXPECT_EQ(layer->out_rep()->multiplicities()[0], out_size) << "out_rep must be all trivial";
      EXPECT_TRUE(layer->in_rep()->same_content(*rep));
      for (auto dtype : {at::kDouble, at::kFloat}) {
        const double tol = dtype == at::kDouble ? 1e-10 : 1e-5;
        for (const auto& x : inputs(rep->size(), dtype, 9)) {
          EXPECT_LE(invariance_error(*layer, x), tol)
              << type << " on " << g->name() << " " << label << " " << dtype;
          auto expected = x.sizes().vec();
          expected.back() = out_size;
          EXPECT_EQ(layer->forward(x).sizes().vec(), expected);
          EXPECT_EQ(layer->forward(x).scalar_type(), dtype);
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, PoolingInvariance, ::testing::ValuesIn(kGroups), [](const auto& info) {
  return info.param.size() > 8 ? std::string("Q8") : info.param;
});

// eInvariantPool = θ = Q_trivᵀ x: checked against the invariant projector built from the group average
// (1/|G|) Σ_g ρ(g), which shares no code with the layer, and against its stock export (Linear, no bias).
TEST(EInvariantPool, CoordinatesOfTheInvariantPart) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rt = eqnn::parse_rep(g, "2x regular + trivial + permutation(vertices)");
  RepPtr rep = Representation::change_basis(rt, eqnn::testing::random_orthogonal(rt->size(), 4));
  auto layer = make_layer("eInvariantPool", rep);
  at::Tensor average = at::zeros({rep->size(), rep->size()}, at::kDouble);
  for (int e = 0; e < g->order(); ++e) average += dense(rep->matrix(e), at::kDouble);
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
  const at::Tensor Mx = at::matmul(x, dense(M, at::kDouble).t());
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

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const eqnn::Error& e) {
    return e.what();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "<no error>";
}

#define EXPECT_HAS(haystack, needle) EXPECT_NE((haystack).find(needle), std::string::npos) << (haystack)

TEST(Pooling, Errors) {
  const auto g = eqnn::testing::group("C5");
  RepPtr no_trivial = eqnn::parse_rep(g, "2x irrep(1)");
  EXPECT_HAS(error_of([&] { make_layer("eInvariantPool", no_trivial); }),
             "eInvariantPool: in_rep " + no_trivial->describe() +
                 " has no invariant subspace (it contains no trivial irrep), so the pooled output would be "
                 "empty; use "
                 "eNormPool (one invariant norm per irrep copy) or add a trivial or regular component to the "
                 "representation");
  EXPECT_HAS(error_of([&] { make_layer("eNormPool", no_trivial, "{dim: 1}"); }),
             "eNormPool: unknown key 'dim'; allowed keys: none");
  auto pool = make_layer("eNormPool", no_trivial);
  EXPECT_HAS(
      error_of([&] { pool->forward(at::randn({5})); }),
      "eNormPool: expected input of shape (..., 4) for in_rep " + no_trivial->describe() + ", got [5]");
  auto inv = make_layer("eInvariantPool", eqnn::parse_rep(g, "regular"));
  EXPECT_HAS(error_of([&] { inv->forward(at::ones({5}, at::kLong)); }),
             "eInvariantPool: expected a floating-point input, got Long");
}

}  // namespace
