// eAffine and eInvariantBias, through the real registry and constructed directly: exact equivariance on every
// element (C4, D4, Ico; regular, mixed "2x regular + trivial + irrep(1)", a regular rep in a random
// orthogonal basis, sums of irreps), float64 and float32; a dense oracle Q diag(α) Qᵀ x + b written here from
// rep.Q(); the stock torch::nn::Linear loaded with the exported parameters; FiLM mode equals learnable mode
// with the same values, per row and broadcast; identity at initialisation; errors and their messages.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>

#include "e_affine.hpp"
#include "e_invariant_bias.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::testing::error_text;
using eqnn::testing::make_layer;
using eqnn::testing::randomise;
using eqnn::testing::to_tensor;

// The representations every test sweeps, with labels.
std::vector<std::pair<std::string, RepPtr>> affine_reps(const eqnn::GroupPtr& g) {
  std::vector<std::pair<std::string, RepPtr>> reps = {
      {"regular", eqnn::parse_rep(g, "regular")},
      {"2x regular + trivial + irrep(1)", eqnn::parse_rep(g, "2x regular + trivial + irrep(1)")},
      {"random basis regular", eqnn::testing::random_basis(eqnn::parse_rep(g, "regular"), 5)}};
  for (auto& [label, rep] : eqnn::testing::mixed_reps(g)) reps.emplace_back("mixed " + label, rep);
  return reps;
}

const std::vector<std::string>& affine_groups() {
  static const std::vector<std::string> groups = {"C4", "D4", "Ico"};
  return groups;
}

// The oracle, from rep.Q() and rep.irreps() alone: W = Q diag(α spread over each copy's columns) Qᵀ.
at::Tensor dense_weight(const eqnn::Representation& rep, const at::Tensor& alpha) {
  const at::Tensor Q = to_tensor(rep.Q());
  std::vector<double> diag;
  int copy = 0;
  for (int k : rep.irreps()) {
    for (int i = 0; i < rep.group().irreps()[static_cast<size_t>(k)].dim; ++i)
      diag.push_back(alpha[copy].item<double>());
    ++copy;
  }
  EXPECT_EQ(copy, alpha.size(0));
  return at::matmul(at::matmul(Q, at::diag(at::tensor(diag, at::kDouble))), Q.t());
}

// Q's trivial columns (D, num_trivial), from rep.irreps().
at::Tensor trivial_basis(const eqnn::Representation& rep) {
  const at::Tensor Q = to_tensor(rep.Q());
  std::vector<int64_t> columns;
  int64_t column = 0;
  for (int k : rep.irreps()) {
    if (k == 0) columns.push_back(column);
    column += rep.group().irreps()[static_cast<size_t>(k)].dim;
  }
  return Q.index_select(1, at::tensor(columns, at::kLong));
}

double max_abs(const at::Tensor& t) { return t.abs().max().item<double>(); }

TEST(EAffine, EquivariantOnEveryElementLearnableAndFiLM) {
  for (const auto& spec : affine_groups()) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : affine_reps(g)) {
      const std::string what = "eAffine on " + spec + " " + label;
      auto layer = make_layer("eAffine", rep);
      randomise(*layer, 3);
      eqnn::testing::EquivarianceSweep sweep;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 7);
      };
      sweep.also = [&](const at::Tensor& x) { EXPECT_EQ(layer->forward(x).sizes(), x.sizes()); };
      eqnn::testing::ExpectEquivariant(*layer, sweep, what);

      // FiLM: fixed random scales and bias coefficients (invariant inputs) for every row.
      eqnn::EAffine film{eqnn::EAffineOptions(rep).learnable(false)};
      for (auto dtype : eqnn::testing::float_dtypes()) {
        const at::Tensor s = at::randn({film->num_copies()}, dtype);
        const at::Tensor b = film->num_trivial() > 0 ? at::randn({film->num_trivial()}, dtype) : at::Tensor();
        for (const at::Tensor& x : eqnn::testing::random_inputs(rep->size(), dtype, 9)) {
          const double err =
              eqnn::testing::equivariance_error([&](const at::Tensor& t) { return film->forward(t, s, b); },
                                                *rep, *rep, x, eqnn::testing::kRelativeToOne);
          EXPECT_LE(err, eqnn::testing::tolerance(dtype))
              << what << " FiLM dtype=" << dtype << " " << x.sizes();
        }
      }
    }
  }
}

TEST(EInvariantBias, EquivariantOnEveryElement) {
  for (const auto& spec : affine_groups()) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : affine_reps(g)) {
      auto layer = make_layer("eInvariantBias", rep);
      randomise(*layer, 4);
      const at::Tensor b = dynamic_cast<eqnn::EInvariantBiasImpl&>(*layer).bias();
      EXPECT_GT(max_abs(b), 0.1) << label;  // not vacuous: a generic non-zero invariant vector
      eqnn::testing::EquivarianceSweep sweep;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 7);
      };
      eqnn::testing::ExpectEquivariant(*layer, sweep, "eInvariantBias on " + spec + " " + label);
    }
  }
}

// Against the dense formula and the stock Linear loaded with the exported weight and bias.
TEST(EAffine, EqualsDenseFormulaAndStockLinear) {
  for (const auto& spec : affine_groups()) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : affine_reps(g)) {
      const int64_t D = rep->size();
      eqnn::EAffine affine{eqnn::EAffineOptions(rep)};
      randomise(*affine, 5);
      affine->to(at::kDouble);
      const at::Tensor W = dense_weight(*rep, affine->scale());
      const at::Tensor b = affine->bias();
      ASSERT_TRUE(b.defined()) << label;  // every swept rep has a trivial part
      const at::Tensor x = at::randn({4, 3, D}, at::kDouble);
      at::NoGradGuard no_grad;
      const at::Tensor expected = at::matmul(x, W.t()) + b;
      EXPECT_LE(max_abs(affine(x) - expected), 1e-12) << label;

      auto params = affine->effective_parameters();
      ASSERT_EQ(params.size(), 2u);
      EXPECT_EQ(params[0].first, "weight");
      EXPECT_EQ(params[1].first, "bias");
      EXPECT_LE(max_abs(params[0].second - W), 1e-12) << label;
      torch::nn::Linear stock(D, D);
      stock->to(at::kDouble);
      stock->weight.copy_(params[0].second);
      stock->bias.copy_(params[1].second);
      EXPECT_LE(max_abs(stock(x) - expected), 1e-12) << label;
      EXPECT_EQ(affine->unconstrained_parameter_count(), D * D + D);

      // float32 agrees with the float64 oracle to float32 rounding.
      affine->to(at::kFloat);
      EXPECT_LE(max_abs(affine(x.to(at::kFloat)).to(at::kDouble) - expected), 1e-4) << label;
    }
  }
}

TEST(EAffine, StartsAsTheIdentityAndCountsCopies) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr rep = eqnn::parse_rep(g, "2x regular + trivial + irrep(1)");
  eqnn::EAffine affine{eqnn::EAffineOptions(rep)};
  // D4 has 5 irreps of dims 1, 1, 1, 1, 2: its regular rep holds 4 + 2 copies.
  EXPECT_EQ(affine->num_copies(), 2 * 6 + 1 + 1);
  EXPECT_EQ(affine->num_trivial(), 3);
  EXPECT_TRUE(at::equal(affine->scale(), at::ones({affine->num_copies()})));
  const at::Tensor x = at::randn({5, rep->size()});
  EXPECT_TRUE(at::equal(affine(x), x));  // exactly: the forward rounds only in the α − 1 correction
  const auto names = affine->named_parameters().keys();
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "bias_coefficients"}));

  eqnn::EAffine no_bias{eqnn::EAffineOptions(rep).bias(false)};
  EXPECT_EQ(no_bias->named_parameters().keys(), std::vector<std::string>{"scale"});
  ASSERT_EQ(no_bias->effective_parameters().size(), 1u);
  EXPECT_EQ(no_bias->unconstrained_parameter_count(), rep->size() * rep->size());

  eqnn::EInvariantBias bias{eqnn::EInvariantBiasOptions(rep)};
  EXPECT_TRUE(at::equal(bias(x), x));
  EXPECT_EQ(bias->named_parameters().keys(), std::vector<std::string>{"bias_coefficients"});
  EXPECT_EQ(bias->named_parameters()["bias_coefficients"].numel(), 3);
  EXPECT_TRUE(bias->effective_parameters().empty());
}

// FiLM mode with the learnable layer's values gives the learnable layer's output; per-row scales give each
// row its own map; broadcasting leading dimensions as documented.
TEST(EAffine, FiLMEqualsLearnableWithTheSameValues) {
  for (const auto& spec : affine_groups()) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : affine_reps(g)) {
      const int64_t D = rep->size();
      eqnn::EAffine learnable{eqnn::EAffineOptions(rep)};
      randomise(*learnable, 6);
      learnable->to(at::kDouble);
      eqnn::EAffine film{eqnn::EAffineOptions(rep).learnable(false)};
      EXPECT_TRUE(film->parameters().empty());
      EXPECT_TRUE(film->effective_parameters().empty());
      at::NoGradGuard no_grad;
      const at::Tensor alpha = learnable->scale();
      // The FiLM bias is in Q's trivial columns: β = Q_trivᵀ b.
      const at::Tensor beta = at::matmul(learnable->bias(), trivial_basis(*rep));
      const at::Tensor x = at::randn({2, 3, D}, at::kDouble);
      const at::Tensor expected = learnable(x);
      EXPECT_LE(max_abs(film->forward(x, alpha, beta) - expected), 1e-12) << label;
      EXPECT_LE(max_abs(film->forward(x, alpha.expand({2, 1, -1}), beta.expand({3, -1})) - expected), 1e-12)
          << label;
      // One map per row: row r with (α_r, β_r) equals the dense formula with those values.
      const at::Tensor alphas = at::randn({2, 3, film->num_copies()}, at::kDouble);
      const at::Tensor betas = at::randn({2, 3, film->num_trivial()}, at::kDouble);
      const at::Tensor y = film->forward(x, alphas, betas);
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t j = 0; j < 3; ++j) {
          const at::Tensor W = dense_weight(*rep, alphas[i][j]);
          const at::Tensor b = at::matmul(trivial_basis(*rep), betas[i][j]);
          EXPECT_LE(max_abs(y[i][j] - (at::matmul(W, x[i][j]) + b)), 1e-12) << label;
        }
    }
  }
}

TEST(EAffine, GradientsReachScaleAndBias) {
  const auto g = eqnn::testing::group("C4");
  const RepPtr rep = eqnn::parse_rep(g, "2x regular + trivial + irrep(1)");
  eqnn::EAffine affine{eqnn::EAffineOptions(rep)};
  affine->to(at::kDouble);
  randomise(*affine, 2);
  const at::Tensor x = at::randn({3, rep->size()}, at::kDouble);
  for (auto& p : affine->parameters())
    eqnn::testing::expect_gradient_matches([&] { return affine(x).pow(2).sum(); }, p, "eAffine");
  eqnn::EAffine film{eqnn::EAffineOptions(rep).learnable(false)};
  at::Tensor s = at::randn({3, film->num_copies()}, at::kDouble).requires_grad_();
  at::Tensor b = at::randn({3, film->num_trivial()}, at::kDouble).requires_grad_();
  eqnn::testing::expect_gradient_matches([&] { return film->forward(x, s, b).pow(2).sum(); }, s,
                                         "FiLM scale");
  eqnn::testing::expect_gradient_matches([&] { return film->forward(x, s, b).pow(2).sum(); }, b, "FiLM bias");
}

TEST(EAffine, EvalModeCachesNothingStaleAfterAnUpdate) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr rep = eqnn::parse_rep(g, "2x regular");
  eqnn::EAffine affine{eqnn::EAffineOptions(rep)};
  affine->to(at::kDouble);
  affine->eval();
  at::NoGradGuard no_grad;
  const at::Tensor x = at::randn({2, rep->size()}, at::kDouble);
  EXPECT_TRUE(at::equal(affine(x), x));
  randomise(*affine, 8);
  const at::Tensor expected = at::matmul(x, dense_weight(*rep, affine->scale()).t()) + affine->bias();
  EXPECT_LE(max_abs(affine(x) - expected), 1e-12);
}

TEST(EAffine, ModeAndShapeErrorsSayWhatIsExpected) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr rep = eqnn::parse_rep(g, "2x regular");  // 12 copies, 2 trivial
  eqnn::EAffine film{eqnn::EAffineOptions(rep).learnable(false)};
  eqnn::EAffine learnable{eqnn::EAffineOptions(rep)};
  const at::Tensor x = at::randn({5, 3, 16});
  const at::Tensor s = at::randn({12}), b = at::randn({2});
  EXPECT_HAS(error_text<c10::Error>([&] { film->forward(x); }),
             "eAffine: this layer is in FiLM mode (learnable=false): it takes its scales (..., 12) and bias "
             "coefficients (..., 2) at call time; call forward(x, scale, bias)");
  EXPECT_HAS(error_text<c10::Error>([&] { learnable->forward(x, s, b); }),
             "eAffine: this layer is learnable (its scale and bias are parameters): call forward(x)");
  EXPECT_HAS(error_text<c10::Error>([&] { film->forward(x, at::randn({11}), b); }),
             "eAffine: expected scale of shape (5, 3, 12) (one per irreducible copy of in_rep; leading "
             "dimensions may be 1 or left out to broadcast) for an input of shape [5, 3, 16], got [11]");
  EXPECT_HAS(error_text<c10::Error>([&] {
               film->forward(x, at::randn({4, 3, 12}), b);
             }),
             "expected scale of shape (5, 3, 12)");
  EXPECT_HAS(error_text<c10::Error>([&] {
               film->forward(x, at::randn({2, 5, 3, 12}), b);
             }),
             "got [2, 5, 3, 12]");
  EXPECT_HAS(error_text<c10::Error>([&] {
               film->forward(x, s, at::randn({5, 1, 3}));
             }),
             "eAffine: expected bias of shape (5, 3, 2) (one per trivial copy of in_rep, in the basis of Q's "
             "trivial columns;");
  EXPECT_HAS(error_text<c10::Error>([&] { film->forward(x, s, at::Tensor()); }),
             "eAffine: this layer has a bias: expected bias coefficients of shape (5, 3, 2)");
  EXPECT_HAS(error_text<c10::Error>([&] { film->forward(x, at::Tensor(), b); }),
             "eAffine: FiLM mode needs the scales: expected scale of shape (5, 3, 12), got none");
  EXPECT_HAS(error_text<c10::Error>([&] { film->forward(x, s.to(at::kDouble), b); }),
             "eAffine: scale must have the input's dtype and device (Float, cpu), got Double, cpu");
  EXPECT_HAS(error_text<c10::Error>([&] {
               film->forward(at::randn({5, 15}), s, b);
             }),
             "eAffine: expected input of shape (..., 16) for in_rep 2x regular (size 16), got [5, 15]");
  eqnn::EAffine film_no_bias{eqnn::EAffineOptions(rep).learnable(false).bias(false)};
  EXPECT_HAS(error_text<c10::Error>([&] { film_no_bias->forward(x, s, b); }),
             "eAffine: this layer has no bias (bias=false), but bias coefficients were given; pass none");
  EXPECT_EQ(film_no_bias->forward(x, s, at::Tensor()).sizes(), x.sizes());
  // A rep without a trivial part: no bias, said so.
  const RepPtr no_trivial = eqnn::parse_rep(g, "2x irrep(4)");
  eqnn::EAffine film_no_trivial{eqnn::EAffineOptions(no_trivial).learnable(false)};
  EXPECT_FALSE(film_no_trivial->has_bias());
  EXPECT_HAS(error_text<c10::Error>([&] { film_no_trivial->forward(at::randn({4}), at::randn({2}), b); }),
             "has no trivial part, so the only invariant bias is 0), but bias coefficients were given");
  eqnn::EAffine learnable_no_trivial{eqnn::EAffineOptions(no_trivial)};
  EXPECT_FALSE(learnable_no_trivial->has_bias());
  EXPECT_EQ(learnable_no_trivial->named_parameters().keys(), std::vector<std::string>{"scale"});
  const auto params = learnable_no_trivial->effective_parameters();
  ASSERT_EQ(params.size(), 2u);  // a stock Linear with bias loads the zero bias
  EXPECT_TRUE(at::equal(params[1].second, at::zeros({4})));
}

TEST(EInvariantBias, RefusesARepWithoutTrivialPart) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr rep = eqnn::parse_rep(g, "2x irrep(4) + irrep(1)");
  const std::string expected =
      "eInvariantBias: in_rep 2x irrep(4) + irrep(1) (size 5) has no trivial part, so its only invariant "
      "vector is 0 "
      "and there is nothing to learn";
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::EInvariantBias{eqnn::EInvariantBiasOptions(rep)}; }),
             expected);
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eInvariantBias", rep); }), expected);
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] {
               eqnn::EInvariantBias(
                   eqnn::EInvariantBiasOptions(eqnn::parse_rep(g, "regular")).bias_constraint("Nope"));
             }),
             "constraint 'Nope' was asked for without a registry");
  const at::Tensor x = at::randn({3, 9});
  eqnn::EInvariantBias bias{eqnn::EInvariantBiasOptions(eqnn::parse_rep(g, "regular"))};
  EXPECT_HAS(error_text<c10::Error>([&] { bias(x); }),
             "eInvariantBias: expected input of shape (..., 8) for in_rep regular (size 8), got [3, 9]");
}

TEST(Affine, YamlFactoriesCheckTheirKeys) {
  const auto g = eqnn::testing::group("D4");
  const RepPtr rep = eqnn::parse_rep(g, "2x regular");
  EXPECT_HAS(
      error_text<eqnn::ConfigError>([&] { make_layer("eAffine", rep, "{learnable: false}"); }),
      "eAffine: 'learnable: false' (FiLM mode) takes its scales and bias as forward arguments, which a "
      "model's layer stack cannot give");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eAffine", rep, "{scale: 2}"); }), "scale");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eInvariantBias", rep, "{bias: true}"); }),
             "bias");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { make_layer("eAffine", rep, "{bias_constraint: Nope}"); }),
             "Nope");
  auto affine = make_layer("eAffine", rep, "{bias: false}");
  EXPECT_EQ(affine->named_parameters().keys(), std::vector<std::string>{"scale"});
}

// Export: a model with eAffine exports a stock Linear; one with eInvariantBias is refused by name.
TEST(Affine, ExportWritesAStockLinearAndRefusesTheBiasAlone) {
  const std::string head = "eqnn: 1\ngroup: D4\nreps: {x: \"2x regular\"}\ninput: x\nlayers:\n";
  eqnn::testing::TempDir dir;
  auto affine = eqnn::load_model_from_string(eqnn::testing::registry(), head + "  - {type: eAffine}\n", "a");
  const auto params = affine->effective_parameters();
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params[0].first, "layers.0.weight");
  EXPECT_EQ(params[1].first, "layers.0.bias");
  eqnn::export_weights(*affine, dir.file("a.pt"));
  auto bias =
      eqnn::load_model_from_string(eqnn::testing::registry(), head + "  - {type: eInvariantBias}\n", "b");
  EXPECT_HAS(error_text<eqnn::Error>([&] { eqnn::export_weights(*bias, dir.file("b.pt")); }),
             "layer layers.0 (eInvariantBias) has parameters or buffers but no stock PyTorch equivalent");
}

}  // namespace
