// eNormNonlinearity and eGatedNonlinearity through the real registry and constructed directly: exact
// equivariance on every element (float64 ≤ 1e-10, float32 ≤ 1e-5) on C4, D4 and Ico for a regular stack,
// a mixed rep "2x regular + trivial copies + irrep(1)", a regular rep in a random orthogonal basis and a pure
// irrep; the values against dense formulas written here (per-copy norms from rep.Q() in the test);
// forward and backward finite at zero copies, with the right gradient; option errors and refusals; export.
#include <cmath>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <yaml-cpp/yaml.h>

#include "e_activation.hpp"
#include "e_gated_nonlinearity.hpp"
#include "e_norm_nonlinearity.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::error_text;
using eqnn::testing::make_layer;

/// `spec` plus as many trivial copies as its non-trivial copies lack as gates.
std::string with_gates(const eqnn::GroupPtr& g, const std::string& spec) {
  int trivial = 0, other = 0;
  const RepPtr rep = eqnn::parse_rep(g, spec);  // kept: a range-for over a temporary's member dangles
  for (int k : rep->irreps()) (k == 0 ? trivial : other) += 1;
  return other > trivial ? spec + " + " + std::to_string(other - trivial) + "x trivial" : spec;
}

/// The reps of the sweep: (label, rep); `gated` adds the gates each needs.
std::vector<std::pair<std::string, RepPtr>> sweep_reps(const eqnn::GroupPtr& g, bool gated) {
  std::vector<std::pair<std::string, RepPtr>> reps;
  auto add = [&](const std::string& spec) {
    const std::string s = gated ? with_gates(g, spec) : spec;
    reps.emplace_back(s, eqnn::parse_rep(g, s));
  };
  add("2x regular");
  add("2x regular + 3x trivial + irrep(1)");
  add("irrep(" + std::to_string(g->irreps().size() - 1) + ")");
  const std::string r = gated ? with_gates(g, "regular") : "regular";
  reps.emplace_back("random basis " + r, eqnn::testing::random_basis(eqnn::parse_rep(g, r), 11));
  return reps;
}

struct Copy {
  int irrep, offset, dim;
};
std::vector<Copy> copies_of(const Representation& rep) {
  std::vector<Copy> c;
  int offset = 0;
  for (int k : rep.irreps()) {
    const int d = rep.group().irreps()[k].dim;
    c.push_back({k, offset, d});
    offset += d;
  }
  return c;
}

/// The dense formula of eNormNonlinearity, copy by copy (x (..., D) float64).
at::Tensor norm_oracle(const Representation& rep, const std::string& f, const at::Tensor& bias,
                       const at::Tensor& x) {
  const at::Tensor Q = eqnn::testing::to_tensor(rep.Q(), x.scalar_type());
  const at::Tensor xhat = at::matmul(x, Q);
  std::vector<at::Tensor> out;
  int c = 0;
  for (const Copy& copy : copies_of(rep)) {
    const at::Tensor v = xhat.narrow(-1, copy.offset, copy.dim);
    const at::Tensor n = v.pow(2).sum(-1, true).sqrt();
    const double b = bias.defined() ? bias[c].item<double>() : 0.0;
    at::Tensor s;
    if (f == "relu") s = at::relu(n + b) / n;
    if (f == "softplus") s = at::log1p(at::exp(n + b)) / n;
    if (f == "sigmoid") s = 1.0 / (1.0 + at::exp(-(n + b)));
    if (f == "squash") s = 1.0 / (1.0 + n);
    out.push_back(v * s);
    ++c;
  }
  return at::matmul(at::cat(out, -1), Q.t());
}

/// The dense formula of eGatedNonlinearity.
at::Tensor gated_oracle(const Representation& rep, const std::string& f, const at::Tensor& x) {
  const at::Tensor xhat = at::matmul(x, eqnn::testing::to_tensor(rep.Q(), x.scalar_type()));
  const auto copies = copies_of(rep);
  int non_trivial = 0;
  for (const Copy& c : copies) non_trivial += c.irrep != 0;
  std::vector<at::Tensor> gates;
  for (const Copy& c : copies)
    if (c.irrep == 0 && static_cast<int>(gates.size()) < non_trivial)
      gates.push_back(xhat.narrow(-1, c.offset, 1));
  auto sigma = [&](const at::Tensor& t) {
    if (f == "sigmoid") return 1.0 / (1.0 + at::exp(-t));
    if (f == "tanh") return at::tanh(t);
    return at::log1p(at::exp(t));
  };
  std::vector<at::Tensor> out;
  int trivial_seen = 0, gated_seen = 0;
  for (const Copy& c : copies) {
    const at::Tensor v = xhat.narrow(-1, c.offset, c.dim);
    if (c.irrep == 0) {
      if (trivial_seen++ < non_trivial) continue;  // a gate
      out.push_back(v * sigma(v));
    } else {
      out.push_back(v * sigma(gates[gated_seen++]));
    }
  }
  return at::cat(out, -1);
}

std::string printed(const torch::nn::Module& m) {
  std::ostringstream os;
  m.pretty_print(os);
  return os.str();
}

/// A random bias in (-1, 1) (so relu and softplus are exercised on both sides).
void randomise_bias(eqnn::Layer& layer, uint64_t seed) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : layer.parameters()) p.copy_(at::rand(p.sizes(), gen, p.options()) * 2 - 1);
}

class NonlinearityEquivariance : public ::testing::TestWithParam<std::string> {};

TEST_P(NonlinearityEquivariance, NormNonlinearityEveryElementAndOracle) {
  const auto g = eqnn::testing::group(GetParam());
  for (const auto& [label, rep] : sweep_reps(g, false)) {
    for (const std::string f : {"relu", "sigmoid", "softplus", "squash"}) {
      const std::string kwargs = f == "squash" ? "{function: squash, bias: false}" : "{function: " + f + "}";
      auto layer = make_layer("eNormNonlinearity", rep, kwargs);
      const std::string what = "eNormNonlinearity " + f + " on " + g->name() + " " + label;
      EXPECT_TRUE(layer->out_rep()->same_content(*rep)) << what;
      EXPECT_EQ(layer->parameters().size(), f == "squash" ? 0u : 1u) << what;
      randomise_bias(*layer, 3);
      eqnn::testing::EquivarianceSweep sweep;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 5);
      };
      // The structured binding `rep` is captured by copy: C++17 lambdas cannot capture a binding by name.
      sweep.also = [&, r = rep](const at::Tensor& x) {
        if (x.scalar_type() != at::kDouble) return;
        at::NoGradGuard no_grad;
        const at::Tensor bias = layer->parameters().empty() ? at::Tensor() : layer->parameters()[0];
        const at::Tensor expected = norm_oracle(*r, f, bias, x);
        EXPECT_LE((layer->forward(x) - expected).abs().max().item<double>(), 1e-12) << what;
      };
      eqnn::testing::ExpectEquivariant(*layer, sweep, what);
      // Direct construction: the registry's layer.
      eqnn::ENormNonlinearity direct(eqnn::ENormNonlinearityOptions(rep).function(f).bias(f != "squash"));
      EXPECT_EQ(printed(*direct), printed(*layer)) << what;
    }
  }
}

TEST_P(NonlinearityEquivariance, GatedNonlinearityEveryElementAndOracle) {
  const auto g = eqnn::testing::group(GetParam());
  for (const auto& [label, rep] : sweep_reps(g, true)) {
    for (const std::string f : {"sigmoid", "tanh", "softplus"}) {
      auto layer = make_layer("eGatedNonlinearity", rep, "{function: " + f + "}");
      const std::string what = "eGatedNonlinearity " + f + " on " + g->name() + " " + label;
      EXPECT_TRUE(layer->parameters().empty());
      const RepPtr out = layer->out_rep();
      // out_rep: the copies without the gates, identity basis.
      int trivial = 0, other = 0, out_trivial = 0;
      for (int k : rep->irreps()) (k == 0 ? trivial : other) += 1;
      for (int k : out->irreps()) out_trivial += k == 0;
      EXPECT_EQ(static_cast<int>(out->irreps().size()), trivial) << what;
      EXPECT_EQ(out_trivial, trivial - other) << what;
      EXPECT_TRUE(out->Q().isIdentity(0.0)) << what;
      eqnn::testing::EquivarianceSweep sweep;
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 6);
      };
      sweep.also = [&, r = rep](const at::Tensor& x) {
        if (x.scalar_type() != at::kDouble) return;
        at::NoGradGuard no_grad;
        EXPECT_LE((layer->forward(x) - gated_oracle(*r, f, x)).abs().max().item<double>(), 1e-12) << what;
      };
      eqnn::testing::ExpectEquivariant(*layer, sweep, what);
      eqnn::EGatedNonlinearity direct(eqnn::EGatedNonlinearityOptions(rep).function(f));
      EXPECT_EQ(printed(*direct), printed(*layer)) << what;
      EXPECT_TRUE(direct->out_rep()->same_content(*out)) << what;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, NonlinearityEquivariance, ::testing::Values("C4", "D4", "Ico"),
                         [](const auto& info) { return info.param; });

// The output of one layer feeds an eLinear (its Hom space is built on out_rep) and stays equivariant.
TEST(Nonlinearity, GatedOutputFeedsALinearLayer) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rep = eqnn::parse_rep(g, with_gates(g, "2x regular"));
  auto gated = make_layer("eGatedNonlinearity", rep);
  auto linear = make_layer("eLinear", gated->out_rep(), "{out_rep: regular}");
  auto f = [&](const at::Tensor& x) {
    at::NoGradGuard no_grad;
    return linear->forward(gated->forward(x));
  };
  eqnn::testing::EquivarianceSweep sweep;
  sweep.prepare = [&](at::ScalarType dtype) { linear->to(dtype); };
  sweep.inputs = [&](at::ScalarType dtype) { return eqnn::testing::random_inputs(rep->size(), dtype, 8); };
  eqnn::testing::ExpectEquivariant(f, *rep, *linear->out_rep(), sweep, "eGatedNonlinearity -> eLinear");
}

// Zero copies: forward and backward finite, and the gradient where the function is differentiable at 0.
TEST(Nonlinearity, ZeroInputIsSafe) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rep = eqnn::testing::random_basis(eqnn::parse_rep(g, "regular + standard"), 5);
  const int64_t D = rep->size();
  for (const std::string f : {"relu", "sigmoid", "softplus", "squash"}) {
    eqnn::ENormNonlinearity layer(eqnn::ENormNonlinearityOptions(rep).function(f).bias(f != "squash"));
    layer->to(at::kDouble);
    // Half the copies zero, half not: x = Q x̂ with x̂ zero on copies 0, 2, 4, ...
    at::Tensor xhat = at::randn({3, D}, at::kDouble);
    for (const Copy& c : copies_of(*rep))
      if (c.offset % 2 == 0) xhat.narrow(-1, c.offset, c.dim).zero_();
    const at::Tensor Q = eqnn::testing::to_tensor(rep->Q());
    for (const at::Tensor& x0 : {at::zeros({3, D}, at::kDouble), at::matmul(xhat, Q.t())}) {
      at::Tensor x = x0.clone().requires_grad_(true);
      at::Tensor y = layer(x);
      EXPECT_TRUE(at::isfinite(y).all().item<bool>()) << f;
      y.pow(2).sum().backward();
      EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>()) << f;
      for (auto& p : layer->parameters()) EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << f;
      if (x0.abs().max().item<double>() == 0) EXPECT_TRUE(at::equal(y, at::zeros_like(y))) << f;
    }
    // The Jacobian at 0: sigmoid(b)·I (bias 0: 0.5 I), relu with b = 0 the identity, squash the identity.
    if (f == "softplus") continue;  // norm-form softplus jumps at 0 (documented): no derivative there
    at::Tensor x = at::zeros({D}, at::kDouble);
    at::Tensor J = at::empty({D, D}, at::kDouble);
    for (int64_t i = 0; i < D; ++i) {
      at::Tensor xi = x.clone().requires_grad_(true);
      at::Tensor yi = layer(xi)[i];
      J[i] = torch::autograd::grad({yi}, {xi})[0];
    }
    const double diag = f == "sigmoid" ? 0.5 : 1.0;
    EXPECT_LE((J - diag * at::eye(D, at::kDouble)).abs().max().item<double>(), 1e-12) << f;
  }
  // Gated: zero input → zero output and finite gradients.
  RepPtr grep = eqnn::parse_rep(g, with_gates(g, "regular"));
  eqnn::EGatedNonlinearity gated{eqnn::EGatedNonlinearityOptions(grep)};
  at::Tensor x = at::zeros({2, grep->size()}, at::kDouble).requires_grad_(true);
  at::Tensor y = gated(x);
  EXPECT_TRUE(at::equal(y, at::zeros_like(y)));
  y.sum().backward();
  EXPECT_TRUE(at::isfinite(x.grad()).all().item<bool>());
}

TEST(Nonlinearity, OptionErrors) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rep = eqnn::parse_rep(g, "2x regular");
  EXPECT_HAS(error_text([&] { make_layer("eNormNonlinearity", rep, "{function: sigmod}"); }),
             "eNormNonlinearity: unknown function 'sigmod' (did you mean 'sigmoid'?); known functions: relu, "
             "sigmoid, softplus, squash");
  EXPECT_HAS(error_text([&] { make_layer("eNormNonlinearity", rep, "{function: squash}"); }),
             "eNormNonlinearity: function 'squash' takes no bias (as escnn's): set bias=false");
  EXPECT_HAS(error_text([&] { make_layer("eNormNonlinearity", rep, "{bias: false}"); }),
             "eNormNonlinearity: function 'relu' without a bias is the identity");
  EXPECT_HAS(error_text([&] { make_layer("eNormNonlinearity", rep, "{eps: 1}"); }),
             "eNormNonlinearity: unknown key 'eps'");
  EXPECT_HAS(error_text([&] { make_layer("eGatedNonlinearity", rep, "{function: relu}"); }),
             "eGatedNonlinearity: unknown function 'relu'; known functions: sigmoid, tanh, softplus");
  // D4 regular: 1 trivial and 5 non-trivial copies (3 one-dimensional, the 2-d irrep twice).
  EXPECT_HAS(
      error_text([&] { make_layer("eGatedNonlinearity", rep); }),
      "eGatedNonlinearity: in_rep 2x regular (size 16) has 10 non-trivial irrep copies but only 2 "
      "trivial copies; every non-trivial copy needs one trivial copy as its gate, so 8 more are needed "
      "(e.g. '2x regular + 8x trivial'");
  EXPECT_HAS(error_text([&] { eqnn::EGatedNonlinearity(eqnn::EGatedNonlinearityOptions(nullptr)); }),
             "eGatedNonlinearity: in_rep is required");
  // From YAML, errors are ConfigErrors located at the offending key (else at the layer's arguments).
  for (const auto& [type, kwargs, line, message] :
       std::vector<std::tuple<std::string, std::string, int, std::string>>{
           {"eNormNonlinearity", "\n\n  {function: squash,\n   bias: true}", 4, "takes no bias"},
           {"eNormNonlinearity", "\n  {function: rleu}", 2, "unknown function 'rleu' (did you mean 'relu'?)"},
           {"eGatedNonlinearity", "\n\n  {}", 3, "10 non-trivial irrep copies but only 2 trivial"}}) {
    eqnn::LayerArgs a;
    a.group = g;
    a.in_rep = rep;
    a.kwargs = YAML::Load(kwargs);
    a.registry = &eqnn::testing::registry();
    try {
      eqnn::testing::registry().get_layer(type)(a);
      ADD_FAILURE() << type << kwargs << ": no error";
    } catch (const eqnn::ConfigError& e) {
      EXPECT_EQ(e.line(), line) << type << kwargs;
      EXPECT_HAS(e.message(), message);
    }
  }
  auto error = eqnn::validate(eqnn::EGatedNonlinearityOptions(rep));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "in_rep");
  error = eqnn::validate(eqnn::ENormNonlinearityOptions(rep).function("squash"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "bias");
  auto norm = make_layer("eNormNonlinearity", rep);
  EXPECT_HAS(
      error_text([&] {
        norm->forward(at::randn({3, 4}));
      }),
      "eNormNonlinearity: expected input of shape (..., 16) for in_rep 2x regular (size 16), got [3, 4]");
  // The bias: one per copy (D4 regular: 6 copies), zeros at the start; no stock equivalent.
  ASSERT_EQ(norm->parameters().size(), 1u);
  EXPECT_TRUE(at::equal(norm->parameters()[0], at::zeros({12})));
  EXPECT_TRUE(norm->effective_parameters().empty());
  EXPECT_EQ(norm->unconstrained_parameter_count(), 12);
}

// Export: a model with the norm nonlinearity's bias is refused by name; the gated one exports nothing.
TEST(Nonlinearity, Export) {
  const std::string head =
      "eqnn: 1\ngroup: {type: DihedralGroup, n: 4}\nreps: {x: 2x regular, h: 2x regular + 8x trivial}\n"
      "input: x\nlayers:\n  - {type: eLinear, out_rep: h}\n";
  eqnn::testing::TempDir dir;
  auto biased = eqnn::load_model_from_string(eqnn::testing::registry(),
                                             head + "  - {type: eNormNonlinearity}\n", "norm.yaml");
  EXPECT_HAS(error_text<eqnn::Error>([&] { eqnn::export_weights(*biased, dir.file("w.pt")); }),
             "layer layers.1 (eNormNonlinearity) has parameters or buffers but no stock PyTorch equivalent");
  auto gated = eqnn::load_model_from_string(
      eqnn::testing::registry(), head + "  - {type: eGatedNonlinearity}\n  - {type: eLinear, out_rep: x}\n",
      "gated.yaml");
  EXPECT_NO_THROW(eqnn::export_weights(*gated, dir.file("g.pt")));
}

}  // namespace
