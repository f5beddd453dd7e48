// Pointwise activations through the real registry: exact equivariance on every element for permutation
// representations (float64 and float32, batched and unbatched), the stock function's values, and the
// refusal on every representation whose matrices are not permutations.
#include <functional>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/error.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/rep_parser.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::error_text;
using eqnn::testing::kQ8;
using eqnn::testing::make_layer;
using eqnn::testing::registry;

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

class ActivationEquivariance : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

TEST_P(ActivationEquivariance, EveryElementOnPermutationReps) {
  const auto g = eqnn::testing::group(GetParam().spec);
  for (const auto& [label, rep] : permutation_reps(g)) {
    ASSERT_TRUE(rep->is_permutation()) << label;
    for (const auto& c : cases()) {
      auto layer = make_layer(c.type, rep, c.kwargs);
      EXPECT_TRUE(layer->in_rep()->same_content(*rep));
      EXPECT_TRUE(layer->out_rep()->same_content(*rep));
      eqnn::testing::EquivarianceSweep sweep;
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 5);
      };
      sweep.also = [&](const at::Tensor& x) {
        EXPECT_TRUE(at::equal(layer->forward(x), c.reference(x))) << c.type << c.kwargs;
      };
      eqnn::testing::ExpectEquivariant(*layer, sweep, c.type + c.kwargs + " on " + g->name() + " " + label);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, ActivationEquivariance, ::testing::ValuesIn(eqnn::testing::test_groups()),
                         [](const auto& info) { return info.param.label; });

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
      std::string e = error_text([&] { make_layer(type, rotated, kwargs); });
      EXPECT_HAS(e, head + rotated->describe() +
                        " is not: it is a permutation representation seen in another "
                        "(orthogonal) basis");
      EXPECT_HAS(e, works);
      e = error_text([&] { make_layer(type, irreps, kwargs); });
      EXPECT_HAS(e, head + irreps->describe() + " is not: its matrices are not permutations");
    }
  }
  // The 2-D standard representation of C5 (rotations): suggests whole regular copies for its size.
  RepPtr standard = eqnn::parse_rep(eqnn::testing::group("C5"), "3x standard");
  EXPECT_HAS(error_text([&] { make_layer("eReLU", standard); }), "an eLinear to '2x regular' first");
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
      error_text([&] { make_layer("ePointwise", rep, "{function: rleu}"); }),
      "ePointwise: unknown function 'rleu' (did you mean 'relu'?); known functions: relu, gelu, silu, tanh, "
      "sigmoid, mish, softplus, elu, leaky_relu");
  EXPECT_HAS(error_text([&] { make_layer("ePointwise", rep, "{}"); }), "missing required key 'function'");
  EXPECT_HAS(error_text([&] { make_layer("ePointwise", rep, "{function: relu, approximate: tanh}"); }),
             "ePointwise: 'approximate' applies only to function 'gelu', not 'relu'");
  EXPECT_HAS(error_text([&] { make_layer("ePointwise", rep, "{function: tanh, negative_slope: 0.1}"); }),
             "ePointwise: 'negative_slope' applies only to function 'leaky_relu', not 'tanh'");
  EXPECT_HAS(error_text([&] { make_layer("eGELU", rep, "{approximate: exact}"); }),
             "eGELU: 'approximate' must be 'none' or 'tanh', found 'exact'");
  EXPECT_HAS(error_text([&] { make_layer("eReLU", rep, "{inplace: true}"); }),
             "eReLU: unknown key 'inplace'; allowed keys: none");
  auto relu = make_layer("eReLU", rep);
  EXPECT_HAS(error_text([&] {
               relu->forward(at::randn({3, 4}));
             }),
             "eReLU: expected input of shape (..., 5) for in_rep regular (size 5), got [3, 4]");
  EXPECT_TRUE(relu->effective_parameters().empty());
  EXPECT_EQ(relu->unconstrained_parameter_count(), 0);
  EXPECT_TRUE(relu->parameters().empty());
}

}  // namespace
