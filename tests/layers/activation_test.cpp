// Pointwise activations through the real registry: exact equivariance on every element for permutation
// representations (float64 and float32, batched and unbatched), the stock function's values, and the
// refusal on every representation whose matrices are not permutations.
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

std::vector<at::Tensor> inputs(int64_t D, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto o = at::TensorOptions().dtype(dtype);
  return {at::normal(0, 1, {D}, gen, o), at::normal(0, 1, {3, D}, gen, o),
          at::normal(0, 1, {2, 3, D}, gen, o)};
}

struct Case {
  std::string type, kwargs;
  std::function<at::Tensor(const at::Tensor&)> reference;
};

const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {"eReLU", "{}", [](const at::Tensor& x) { return at::relu(x); }},
      {"eGELU", "{}", [](const at::Tensor& x) { return at::gelu(x); }},
      {"eGELU", "{approximate: tanh}", [](const at::Tensor& x) { return at::gelu(x, "tanh"); }},
      {"eSiLU", "{}", [](const at::Tensor& x) { return at::silu(x); }},
      {"eTanh", "{}", [](const at::Tensor& x) { return at::tanh(x); }},
      {"ePointwise", "{function: sigmoid}", [](const at::Tensor& x) { return at::sigmoid(x); }},
      {"ePointwise", "{function: leaky_relu, negative_slope: 0.2}",
       [](const at::Tensor& x) { return at::leaky_relu(x, 0.2); }},
      {"ePointwise", "{function: mish}", [](const at::Tensor& x) { return at::mish(x); }},
      {"ePointwise", "{function: gelu, approximate: tanh}",
       [](const at::Tensor& x) { return at::gelu(x, "tanh"); }},
  };
  return c;
}

/// Permutation representations in their own basis: regular stacks, actions, trivial, and sums.
std::vector<std::pair<std::string, RepPtr>> permutation_reps(const eqnn::GroupPtr& g) {
  std::vector<std::string> specs = {"2x regular", "regular + 2x trivial", "trivial"};
  for (const auto& a : g->actions()) specs.push_back("permutation(" + a.name + ") + regular");
  std::vector<std::pair<std::string, RepPtr>> reps;
  for (const auto& s : specs) reps.emplace_back(s, eqnn::parse_rep(g, s));
  return reps;
}

class ActivationEquivariance : public ::testing::TestWithParam<std::string> {};

TEST_P(ActivationEquivariance, EveryElementOnPermutationReps) {
  const auto g = eqnn::testing::group(GetParam());
  for (const auto& [label, rep] : permutation_reps(g)) {
    ASSERT_TRUE(rep->is_permutation()) << label;
    for (const auto& c : cases()) {
      auto layer = make_layer(c.type, rep, c.kwargs);
      EXPECT_TRUE(layer->in_rep()->same_content(*rep));
      EXPECT_TRUE(layer->out_rep()->same_content(*rep));
      for (auto dtype : {at::kDouble, at::kFloat}) {
        const double tol = dtype == at::kDouble ? 1e-10 : 1e-5;
        for (const auto& x : inputs(rep->size(), dtype, 5)) {
          EXPECT_LE(equivariance_error(*layer, x), tol)
              << c.type << c.kwargs << " on " << g->name() << " " << label << " " << x.sizes();
          EXPECT_TRUE(at::equal(layer->forward(x), c.reference(x))) << c.type << c.kwargs;
        }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, ActivationEquivariance, ::testing::ValuesIn(kGroups),
                         [](const auto& info) {
                           return info.param.size() > 8 ? std::string("Q8") : info.param;
                         });

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

// Not permutations in this basis: every activation refuses, naming the rep, the reason and what works.
TEST(Activation, RefusesNonPermutationReps) {
  for (const std::string spec : {"D4", "Ico", kQ8}) {
    const auto g = eqnn::testing::group(spec);
    RepPtr reg = eqnn::parse_rep(g, "regular");
    RepPtr rotated = Representation::change_basis(reg, eqnn::testing::random_orthogonal(reg->size(), 1));
    RepPtr irreps = eqnn::parse_rep(g, "irrep(1) + irrep(" + std::to_string(g->irreps().size() - 1) + ")");
    for (const std::string type : {"eReLU", "eGELU", "eSiLU", "eTanh", "ePointwise"}) {
      const std::string kwargs = type == "ePointwise" ? "{function: relu}" : "{}";
      const std::string head = type +
                               ": a pointwise nonlinearity is equivariant only on a permutation "
                               "representation in its own basis, but in_rep ";
      const std::string works =
          "What works: apply it to features in a regular or permutation representation (e.g. an eLinear to "
          "'1x regular' first), or use a norm-based nonlinearity (e.g. eNormPool for invariant features)";
      std::string e = error_of([&] { make_layer(type, rotated, kwargs); });
      EXPECT_HAS(e, head + rotated->describe() +
                        " is not: it is a permutation representation seen in another "
                        "(orthogonal) basis");
      EXPECT_HAS(e, works);
      e = error_of([&] { make_layer(type, irreps, kwargs); });
      EXPECT_HAS(e, head + irreps->describe() + " is not: its matrices are not permutations");
    }
  }
  // The 2-D standard representation of C5 (rotations): suggests whole regular copies for its size.
  RepPtr standard = eqnn::parse_rep(eqnn::testing::group("C5"), "3x standard");
  EXPECT_HAS(error_of([&] { make_layer("eReLU", standard); }), "an eLinear to '2x regular' first");
  // Errors are ConfigErrors located at the layer's keyword arguments when they come from YAML.
  eqnn::LayerArgs a;
  a.group = standard->group_ptr();
  a.in_rep = standard;
  a.kwargs = YAML::Load("\n\n  {}");
  a.registry = &registry();
  try {
    registry().get_layer("eTanh")(a);
    ADD_FAILURE() << "no error";
  } catch (const eqnn::ConfigError& e) {
    EXPECT_EQ(e.line(), 3);
    EXPECT_HAS(e.message(), "eTanh: a pointwise nonlinearity");
  }
}

TEST(Activation, OptionErrors) {
  RepPtr rep = eqnn::parse_rep(eqnn::testing::group("C5"), "regular");
  EXPECT_HAS(
      error_of([&] { make_layer("ePointwise", rep, "{function: rleu}"); }),
      "ePointwise: unknown function 'rleu' (did you mean 'relu'?); known functions: relu, gelu, silu, tanh, "
      "sigmoid, mish, softplus, elu, leaky_relu");
  EXPECT_HAS(error_of([&] { make_layer("ePointwise", rep, "{}"); }), "missing required key 'function'");
  EXPECT_HAS(error_of([&] { make_layer("ePointwise", rep, "{function: relu, approximate: tanh}"); }),
             "ePointwise: 'approximate' applies only to function 'gelu', not 'relu'");
  EXPECT_HAS(error_of([&] { make_layer("ePointwise", rep, "{function: tanh, negative_slope: 0.1}"); }),
             "ePointwise: 'negative_slope' applies only to function 'leaky_relu', not 'tanh'");
  EXPECT_HAS(error_of([&] { make_layer("eGELU", rep, "{approximate: exact}"); }),
             "eGELU: 'approximate' must be 'none' or 'tanh', found 'exact'");
  EXPECT_HAS(error_of([&] { make_layer("eReLU", rep, "{inplace: true}"); }),
             "eReLU: unknown key 'inplace'; allowed keys: none");
  auto relu = make_layer("eReLU", rep);
  EXPECT_HAS(error_of([&] {
               relu->forward(at::randn({3, 4}));
             }),
             "eReLU: expected input of shape (..., 5) for in_rep regular (size 5), got [3, 4]");
  EXPECT_TRUE(relu->effective_parameters().empty());
  EXPECT_EQ(relu->unconstrained_parameter_count(), 0);
  EXPECT_TRUE(relu->parameters().empty());
}

}  // namespace
