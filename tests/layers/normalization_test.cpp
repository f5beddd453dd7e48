// eLayerNorm and eRMSNorm through the real registry: exact equivariance on every element of several
// groups and representations (permutation or not), float64 and float32, batched and unbatched; the
// stock layer_norm as an oracle where the two must agree; initialisation; errors.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
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

/// max over every g of |f(x ρ_in(g)ᵀ) − f(x) ρ_out(g)ᵀ|∞, relative to max(1, |f(x)|∞).
double equivariance_error(eqnn::Layer& layer, const at::Tensor& x) {
  at::NoGradGuard no_grad;
  const at::Tensor y = layer.forward(x);
  const double scale = std::max(1.0, y.abs().max().item<double>());
  double worst = 0;
  for (int g = 0; g < layer.in_rep()->group().order(); ++g) {
    const at::Tensor rin = dense(layer.in_rep()->matrix(g), x.scalar_type());
    const at::Tensor rout = dense(layer.out_rep()->matrix(g), x.scalar_type());
    const at::Tensor yg = layer.forward(at::matmul(x, rin.t()));
    worst = std::max(worst, (yg - at::matmul(y, rout.t())).abs().max().item<double>() / scale);
  }
  return worst;
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

/// Random coefficients, so the affine map is a generic element of End_G (not the identity) and the
/// bias a generic invariant vector.
void randomise(torch::nn::Module& m, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : m.parameters()) p.copy_(at::normal(0, 1, p.sizes(), gen, p.options()));
}

std::vector<at::Tensor> inputs(int64_t D, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto o = at::TensorOptions().dtype(dtype);
  return {at::normal(0, 1, {D}, gen, o), at::normal(0, 1, {3, D}, gen, o),
          at::normal(0, 1, {2, 3, D}, gen, o)};
}

class NormEquivariance : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(NormEquivariance, EveryElementEveryRepFloat64AndFloat32) {
  const auto& [type, spec] = GetParam();
  const auto g = eqnn::testing::group(spec);
  for (const auto& [label, rep] : test_reps(g)) {
    for (bool affine : {true, false}) {
      auto layer = make_layer(type, rep, affine ? "{}" : "{elementwise_affine: false}");
      randomise(*layer, 11);
      for (auto dtype : {at::kDouble, at::kFloat}) {
        layer->to(dtype);
        const double tol = dtype == at::kDouble ? 1e-10 : 1e-5;
        for (const auto& x : inputs(rep->size(), dtype, 3)) {
          EXPECT_LE(equivariance_error(*layer, x), tol)
              << type << " on " << g->name() << " " << label << " affine=" << affine << " dtype=" << dtype
              << " input " << x.sizes();
          EXPECT_EQ(layer->forward(x).sizes(), x.sizes());
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, NormEquivariance,
                         ::testing::Combine(::testing::Values("eLayerNorm", "eRMSNorm"),
                                            ::testing::ValuesIn(kGroups)),
                         [](const auto& info) {
                           std::string g = std::get<1>(info.param);
                           if (g.size() > 8) g = "Q8";
                           return std::get<0>(info.param) + "_" + g;
                         });

// One regular copy: the invariant component is the mean, so without the affine map eLayerNorm is
// exactly the stock layer_norm (an oracle that shares no code with the layer). (With it, the initial
// A = I holds to float32 rounding only: θ = analyse(I) was stored when the module was built in float32.)
TEST(ELayerNorm, MatchesStockLayerNormOnOneRegularCopy) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "regular");
  auto layer = make_layer("eLayerNorm", rep, "{eps: 1.0e-3, elementwise_affine: false}");
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({4, 5, rep->size()}, at::kDouble) * 3 + 1;
  const at::Tensor expected = at::layer_norm(x, {rep->size()}, {}, {}, 1e-3);
  EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12);
}

// Several regular copies: each copy's mean is removed (the whole invariant part), not only the global
// mean; the output has no invariant component and unit mean square.
TEST(ELayerNorm, RemovesTheWholeInvariantPartAndNormalises) {
  auto g = eqnn::testing::group("C5");
  RepPtr rt = eqnn::parse_rep(g, "3x regular + 2x trivial");
  RepPtr rep = Representation::change_basis(rt, eqnn::testing::random_orthogonal(rt->size(), 3));
  auto layer = make_layer("eLayerNorm", rep, "{eps: 0.0, elementwise_affine: false}");
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({6, rep->size()}, at::kDouble) + 2;
  const at::Tensor y = layer->forward(x);
  const at::Tensor B = dense(rep->invariant_basis(), at::kDouble);
  ASSERT_EQ(B.size(1), 5);
  EXPECT_LE(at::matmul(y, B).abs().max().item<double>(), 1e-12);
  EXPECT_LE((y.pow(2).mean(-1) - 1).abs().max().item<double>(), 1e-12);
  // Oracle with dense linear algebra: (x − x P_inv) / rms.
  const at::Tensor c = x - at::matmul(at::matmul(x, B), B.t());
  const at::Tensor expected = c / c.pow(2).mean(-1, true).sqrt();
  EXPECT_LE((y - expected).abs().max().item<double>(), 1e-12);
}

TEST(ERMSNorm, MatchesFormula) {
  auto g = eqnn::testing::group("Ico");
  RepPtr rep = eqnn::parse_rep(g, "irrep(1) + irrep(2) + trivial");
  auto layer = make_layer("eRMSNorm", rep, "{eps: 0.5, elementwise_affine: false}");
  layer->to(at::kDouble);
  const at::Tensor x = at::randn({3, 2, rep->size()}, at::kDouble);
  const at::Tensor expected = x / (x.pow(2).mean(-1, true) + 0.5).sqrt();
  EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12);
}

// The affine weight starts as the identity of End_G (whatever the representation) and the bias as 0.
TEST(ENorm, AffineStartsAsIdentityAndZeroAndTrains) {
  auto g = eqnn::testing::group(kQ8);
  RepPtr rep = eqnn::parse_rep(g, "regular + irrep(4)");
  for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
    auto layer = make_layer(type, rep);
    auto names = layer->named_parameters().keys();
    const std::vector<std::string> expected_names =
        type == "eLayerNorm" ? std::vector<std::string>{"weight_coefficients", "bias_coefficients"}
                             : std::vector<std::string>{"weight_coefficients"};
    EXPECT_EQ(names, expected_names) << type;
    const at::Tensor x = at::randn({5, rep->size()});
    // At init y = x̂ (A = I, b = 0), in the float32 the module was built in.
    auto plain = make_layer(type, rep, "{elementwise_affine: false}");
    EXPECT_LE((layer->forward(x) - plain->forward(x)).abs().max().item<double>(), 1e-6) << type;
    layer->to(at::kDouble);
    EXPECT_TRUE(plain->parameters().empty());
    // Gradients reach every coefficient and are finite.
    layer->train();
    layer->forward(x.to(at::kDouble)).pow(3).sum().backward();
    for (const auto& p : layer->parameters()) {
      ASSERT_TRUE(p.grad().defined()) << type;
      EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << type;
      EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << type;
    }
  }
}

// A representation with no trivial irrep has no invariant bias: eLayerNorm then has only the weight.
TEST(ELayerNorm, NoBiasWithoutInvariants) {
  auto g = eqnn::testing::group("C5");
  auto layer = make_layer("eLayerNorm", eqnn::parse_rep(g, "2x irrep(1) + irrep(2)"));
  EXPECT_EQ(layer->named_parameters().keys(), std::vector<std::string>{"weight_coefficients"});
  layer->to(at::kDouble);
  EXPECT_LE(equivariance_error(*layer, at::randn({4, 6}, at::kDouble)), 1e-10);
}

TEST(ENorm, StockExportAndParameterCount) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular");
  auto ln = make_layer("eLayerNorm", rep);
  auto rms = make_layer("eRMSNorm", rep);
  // No stock equivalent (full commuting affine, invariant-part centring): an empty export list.
  EXPECT_TRUE(ln->effective_parameters().empty());
  EXPECT_TRUE(rms->effective_parameters().empty());
  EXPECT_EQ(ln->unconstrained_parameter_count(), 32);
  EXPECT_EQ(rms->unconstrained_parameter_count(), 16);
  EXPECT_EQ(make_layer("eLayerNorm", rep, "{elementwise_affine: false}")->unconstrained_parameter_count(), 0);
  EXPECT_TRUE(ln->in_rep()->same_content(*rep));
  EXPECT_TRUE(ln->out_rep()->same_content(*rep));
}

TEST(ENorm, EvalModeUnderNoGradMatchesTrainMode) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C2xD4"), "regular + trivial");
  auto layer = make_layer("eLayerNorm", rep);
  randomise(*layer, 5);
  const at::Tensor x = at::randn({3, rep->size()});
  const at::Tensor train_out = layer->forward(x).detach();
  layer->eval();
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(layer->forward(x), train_out));
  EXPECT_TRUE(at::equal(layer->forward(x), train_out));  // from the cache
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

TEST(ENorm, Errors) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C5"), "regular");
  EXPECT_NE(
      error_of([&] {
        make_layer("eLayerNorm", rep, "{epz: 1.0}");
      }).find("eLayerNorm: unknown key 'epz' (did you mean 'eps'?); allowed keys: eps, elementwise_affine"),
      std::string::npos);
  EXPECT_NE(error_of([&] {
              make_layer("eRMSNorm", rep, "{eps: -1}");
            }).find("eRMSNorm: 'eps' must be >= 0, found -1"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              make_layer("eRMSNorm", rep, "{elementwise_affine: maybe}");
            }).find("elementwise_affine"),
            std::string::npos);
  auto layer = make_layer("eLayerNorm", rep);
  EXPECT_NE(error_of([&] {
              layer->forward(at::randn({2, 4}));
            }).find("eLayerNorm: expected input of shape (..., 5) for in_rep regular (size 5), got [2, 4]"),
            std::string::npos);
}

}  // namespace
