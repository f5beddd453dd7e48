// Pointwise activations through the real registry and constructed directly (EReLU ... ESoftplus, EPointwise,
// no registry): exact equivariance on every element for permutation representations (float64 and float32,
// batched and unbatched), the stock function's values, the direct layer equal to the registry's, and the
// refusal on every representation whose matrices are not permutations.
#include <cmath>
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "e_activation.hpp"
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
using eqnn::testing::kQ8;
using eqnn::testing::make_layer;
using eqnn::testing::registry;

struct Case {
  std::string type, kwargs;
  std::function<at::Tensor(const at::Tensor&)> reference;
  /// The same layer constructed directly, without a registry.
  std::function<std::shared_ptr<eqnn::Layer>(const RepPtr&)> direct;
};

const std::vector<Case>& cases() {
  using namespace eqnn;
  static const std::vector<Case> c = {
      {"eReLU", "{}", [](const at::Tensor& x) { return at::relu(x); },
       [](const RepPtr& r) { return EReLU(EReLUOptions(r)).ptr(); }},
      {"eGELU", "{}", [](const at::Tensor& x) { return at::gelu(x); },
       [](const RepPtr& r) { return EGELU(EGELUOptions(r)).ptr(); }},
      {"eGELU", "{approximate: tanh}", [](const at::Tensor& x) { return at::gelu(x, "tanh"); },
       [](const RepPtr& r) { return EGELU(EGELUOptions(r).approximate("tanh")).ptr(); }},
      {"eSiLU", "{}", [](const at::Tensor& x) { return at::silu(x); },
       [](const RepPtr& r) { return ESiLU(ESiLUOptions(r)).ptr(); }},
      {"eTanh", "{}", [](const at::Tensor& x) { return at::tanh(x); },
       [](const RepPtr& r) { return ETanh(ETanhOptions(r)).ptr(); }},
      {"ePointwise", "{function: sigmoid}", [](const at::Tensor& x) { return at::sigmoid(x); },
       [](const RepPtr& r) { return EPointwise(EPointwiseOptions(r, "sigmoid")).ptr(); }},
      {"ePointwise", "{function: leaky_relu, negative_slope: 0.2}",
       [](const at::Tensor& x) { return at::leaky_relu(x, 0.2); },
       [](const RepPtr& r) {
         return EPointwise(EPointwiseOptions(r, "leaky_relu").negative_slope(0.2)).ptr();
       }},
      {"ePointwise", "{function: mish}", [](const at::Tensor& x) { return at::mish(x); },
       [](const RepPtr& r) { return EPointwise(EPointwiseOptions(r, "mish")).ptr(); }},
      {"eMish", "{}", [](const at::Tensor& x) { return at::mish(x); },
       [](const RepPtr& r) { return EMish(EMishOptions(r)).ptr(); }},
      {"eELU", "{}", [](const at::Tensor& x) { return at::elu(x); },
       [](const RepPtr& r) { return EELU(EELUOptions(r)).ptr(); }},
      {"eELU", "{alpha: 0.5}", [](const at::Tensor& x) { return at::elu(x, 0.5); },
       [](const RepPtr& r) { return EELU(EELUOptions(r).alpha(0.5)).ptr(); }},
      {"eLeakyReLU", "{}", [](const at::Tensor& x) { return at::leaky_relu(x, 0.01); },
       [](const RepPtr& r) { return ELeakyReLU(ELeakyReLUOptions(r)).ptr(); }},
      {"eLeakyReLU", "{negative_slope: 0.3}", [](const at::Tensor& x) { return at::leaky_relu(x, 0.3); },
       [](const RepPtr& r) { return ELeakyReLU(ELeakyReLUOptions(r).negative_slope(0.3)).ptr(); }},
      {"eSigmoid", "{}", [](const at::Tensor& x) { return at::sigmoid(x); },
       [](const RepPtr& r) { return ESigmoid(ESigmoidOptions(r)).ptr(); }},
      {"eSoftplus", "{}", [](const at::Tensor& x) { return at::softplus(x, 1.0, 20.0); },
       [](const RepPtr& r) { return ESoftplus(ESoftplusOptions(r)).ptr(); }},
      {"eSoftplus", "{beta: 2.0, threshold: 1.0}",
       [](const at::Tensor& x) { return at::softplus(x, 2.0, 1.0); },
       [](const RepPtr& r) { return ESoftplus(ESoftplusOptions(r).beta(2.0).threshold(1.0)).ptr(); }},
      {"ePointwise", "{function: elu, alpha: 0.5}", [](const at::Tensor& x) { return at::elu(x, 0.5); },
       [](const RepPtr& r) { return EPointwise(EPointwiseOptions(r, "elu").alpha(0.5)).ptr(); }},
      {"ePointwise", "{function: softplus, beta: 2.0, threshold: 1.0}",
       [](const at::Tensor& x) { return at::softplus(x, 2.0, 1.0); },
       [](const RepPtr& r) {
         return EPointwise(EPointwiseOptions(r, "softplus").beta(2.0).threshold(1.0)).ptr();
       }},
      {"ePointwise", "{function: gelu, approximate: tanh}",
       [](const at::Tensor& x) { return at::gelu(x, "tanh"); },
       [](const RepPtr& r) { return EPointwise(EPointwiseOptions(r, "gelu").approximate("tanh")).ptr(); }},
  };
  return c;
}

std::string printed(const torch::nn::Module& m) {
  std::ostringstream os;
  m.pretty_print(os);
  return os.str();
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

// Constructed without a registry: the registry's layer (name, printout, values) and exactly equivariant.
TEST_P(ActivationEquivariance, DirectConstructionEqualsRegistryLayer) {
  const auto g = eqnn::testing::group(GetParam().spec);
  for (const auto& [label, rep] : permutation_reps(g)) {
    for (const auto& c : cases()) {
      const std::string what = c.type + c.kwargs + " on " + g->name() + " " + label;
      auto direct = c.direct(rep);
      auto via_registry = make_layer(c.type, rep, c.kwargs);
      EXPECT_EQ(direct->name(), c.type);
      EXPECT_EQ(printed(*direct), printed(*via_registry)) << what;
      EXPECT_TRUE(direct->in_rep()->same_content(*rep));
      EXPECT_TRUE(direct->out_rep()->same_content(*rep));
      EXPECT_TRUE(direct->parameters().empty());
      eqnn::testing::EquivarianceSweep sweep;
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 6);
      };
      sweep.also = [&](const at::Tensor& x) {
        EXPECT_TRUE(at::equal(direct->forward(x), via_registry->forward(x))) << what;
        EXPECT_TRUE(at::equal(direct->forward(x), c.reference(x))) << what;
      };
      eqnn::testing::ExpectEquivariant(*direct, sweep, "direct " + what);
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
    for (const std::string type : {"eReLU", "eGELU", "eSiLU", "eTanh", "eMish", "eELU", "eLeakyReLU",
                                   "eSigmoid", "eSoftplus", "ePointwise"}) {
      const std::string kwargs = type == "ePointwise" ? "{function: relu}" : "{}";
      const std::string head = type +
                               ": a pointwise nonlinearity is equivariant only on a permutation "
                               "representation in its own basis, but in_rep ";
      const std::string works =
          "What works: apply it to features in a regular or permutation representation (e.g. an eLinear to "
          "'1x regular' first), or use eNormNonlinearity or eGatedNonlinearity, which serve any orthogonal "
          "representation (eNormPool for invariant features)";
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
  EXPECT_HAS(error_text([&] { make_layer("ePointwise", rep, "{function: relu, alpha: 1.0}"); }),
             "ePointwise: 'alpha' applies only to function 'elu', not 'relu'");
  EXPECT_HAS(error_text([&] { make_layer("ePointwise", rep, "{function: elu, threshold: 20.0}"); }),
             "ePointwise: 'threshold' applies only to function 'softplus', not 'elu'");
  EXPECT_HAS(error_text([&] { make_layer("ePointwise", rep, "{function: softplus, beta: 0}"); }),
             "ePointwise: 'beta' must be > 0 and finite, found 0");
  EXPECT_HAS(error_text([&] { make_layer("eSoftplus", rep, "{beta: -1}"); }),
             "eSoftplus: 'beta' must be > 0 and finite, found -1");
  EXPECT_HAS(error_text([&] { make_layer("eELU", rep, "{alpha: .nan}"); }),
             "'alpha' must be a finite number, found .nan");
  EXPECT_HAS(error_text([&] { make_layer("eLeakyReLU", rep, "{slope: 0.1}"); }),
             "eLeakyReLU: unknown key 'slope'");
  EXPECT_HAS(error_text([&] { make_layer("eMish", rep, "{inplace: true}"); }),
             "eMish: unknown key 'inplace'; allowed keys: none");
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

// The constructors refuse what the factories refuse, with the same messages (no YAML location), and
// validate() names the offending option.
TEST(Activation, DirectConstructionErrors) {
  using namespace eqnn;
  const auto g = eqnn::testing::group("D4");
  RepPtr reg = parse_rep(g, "regular");
  RepPtr rotated = Representation::change_basis(reg, eqnn::testing::random_orthogonal(reg->size(), 1));
  const std::string head =
      ": a pointwise nonlinearity is equivariant only on a permutation representation in its own basis, but "
      "in_rep " +
      rotated->describe() + " is not: it is a permutation representation seen in another";
  EXPECT_HAS(error_text([&] { EReLU(EReLUOptions(rotated)); }), "eReLU" + head);
  EXPECT_HAS(error_text([&] { EGELU(EGELUOptions(rotated)); }), "eGELU" + head);
  EXPECT_HAS(error_text([&] { ESiLU(ESiLUOptions(rotated)); }), "eSiLU" + head);
  EXPECT_HAS(error_text([&] { ETanh(ETanhOptions(rotated)); }), "eTanh" + head);
  EXPECT_HAS(error_text([&] { EPointwise(EPointwiseOptions(rotated, "elu")); }), "ePointwise" + head);
  EXPECT_HAS(error_text([&] { EMish(EMishOptions(rotated)); }), "eMish" + head);
  EXPECT_HAS(error_text([&] { EELU(EELUOptions(rotated)); }), "eELU" + head);
  EXPECT_HAS(error_text([&] { ELeakyReLU(ELeakyReLUOptions(rotated)); }), "eLeakyReLU" + head);
  EXPECT_HAS(error_text([&] { ESigmoid(ESigmoidOptions(rotated)); }), "eSigmoid" + head);
  EXPECT_HAS(error_text([&] { ESoftplus(ESoftplusOptions(rotated)); }), "eSoftplus" + head);
  EXPECT_HAS(error_text([&] { EELU(EELUOptions(reg).alpha(std::nan(""))); }),
             "eELU: 'alpha' must be finite, found nan");
  EXPECT_HAS(error_text([&] { ELeakyReLU(ELeakyReLUOptions(reg).negative_slope(INFINITY)); }),
             "eLeakyReLU: 'negative_slope' must be finite, found inf");
  EXPECT_HAS(error_text([&] { ESoftplus(ESoftplusOptions(reg).beta(0)); }),
             "eSoftplus: 'beta' must be > 0 and finite, found 0");
  EXPECT_HAS(error_text([&] { EPointwise(EPointwiseOptions(reg, "relu").alpha(2)); }),
             "ePointwise: 'alpha' applies only to function 'elu', not 'relu'");
  EXPECT_THROW(EReLU(EReLUOptions(rotated)), eqnn::ConfigError);
  EXPECT_HAS(error_text([&] { EReLU(EReLUOptions(nullptr)); }), "eReLU: in_rep is required");
  EXPECT_HAS(error_text([&] { EGELU(EGELUOptions(reg).approximate("exact")); }),
             "eGELU: 'approximate' must be 'none' or 'tanh', found 'exact'");
  EXPECT_HAS(error_text([&] { EPointwise(EPointwiseOptions(reg, "rleu")); }),
             "ePointwise: unknown function 'rleu' (did you mean 'relu'?)");
  EXPECT_HAS(error_text([&] { EPointwise(EPointwiseOptions(reg, "relu").approximate("tanh")); }),
             "ePointwise: 'approximate' applies only to function 'gelu', not 'relu'");
  EXPECT_HAS(error_text([&] { EPointwise(EPointwiseOptions(reg, "tanh").negative_slope(0.1)); }),
             "ePointwise: 'negative_slope' applies only to function 'leaky_relu', not 'tanh'");
  auto error = validate(EPointwiseOptions(rotated, "relu"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "in_rep");
  error = validate(EGELUOptions(reg).approximate("exact"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "approximate");
  EXPECT_FALSE(validate(EPointwiseOptions(reg, "softplus")));
  // The holder's operator() is the forward; shape errors as the registry layer's.
  EReLU relu{EReLUOptions(reg)};
  EXPECT_TRUE(at::equal(relu(-at::ones({2, 8})), at::zeros({2, 8})));
  EXPECT_HAS(error_text([&] {
               relu(at::randn({3, 4}));
             }),
             "eReLU: expected input of shape (..., 8) for in_rep regular (size 8), got [3, 4]");
}

}  // namespace
