// eLayerNorm and eRMSNorm, through the real registry and constructed directly: exact equivariance on every
// element of several groups and representations (permutation or not), float64 and float32, batched and
// unbatched; torch::nn::LayerNorm with the exported parameters as the oracle where the two must agree
// (permutation and all-invariant reps); the invariant statistics elsewhere; never constant, never NaN;
// errors. affine: per_copy (one scale per irreducible copy in the basis Q): equivariance on every element,
// symm_learning's eRMSNorm formula written densely, equal to per_field where the scales are all equal.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/normalization.h>

#include "e_norm.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::equivariance_error;
using eqnn::testing::error_text;
using eqnn::testing::kQ8;
using eqnn::testing::make_layer;
using eqnn::testing::randomise;
using eqnn::testing::to_tensor;

class NormEquivariance : public ::testing::TestWithParam<std::tuple<std::string, eqnn::testing::GroupCase>> {
};

TEST_P(NormEquivariance, EveryElementEveryRepFloat64AndFloat32) {
  const auto& [type, group_case] = GetParam();
  const auto g = eqnn::testing::group(group_case.spec);
  for (const auto& [label, rep] : eqnn::testing::mixed_reps(g)) {
    for (bool affine : {true, false}) {
      auto layer = make_layer(type, rep, affine ? "{}" : "{elementwise_affine: false}");
      randomise(*layer, 11);
      eqnn::testing::EquivarianceSweep sweep;
      sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
      sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 3);
      };
      sweep.also = [&](const at::Tensor& x) { EXPECT_EQ(layer->forward(x).sizes(), x.sizes()); };
      eqnn::testing::ExpectEquivariant(
          *layer, sweep, type + " on " + g->name() + " " + label + " affine=" + std::to_string(affine));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, NormEquivariance,
                         ::testing::Combine(::testing::Values("eLayerNorm", "eRMSNorm"),
                                            ::testing::ValuesIn(eqnn::testing::test_groups())),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" + std::get<1>(info.param).label;
                         });

// Random affine parameters (scale per field, invariant bias), the same in every dtype.
void randomise_affine(eqnn::ENormBase& layer, uint64_t seed) { randomise(layer, seed); }

// The oracle: torch::nn::LayerNorm(D) loaded with the layer's exported weight and bias.
at::Tensor stock_layer_norm(eqnn::ENormBase& layer, const at::Tensor& x, double eps) {
  const int64_t D = layer.in_rep()->size();
  torch::nn::LayerNorm stock(torch::nn::LayerNormOptions({D}).eps(eps));
  stock->to(x.scalar_type());
  auto params = layer.effective_parameters();
  EXPECT_EQ(params.size(), 2u);
  {
    at::NoGradGuard no_grad;
    for (const auto& [name, t] : params) {
      EXPECT_EQ(t.sizes(), (std::vector<int64_t>{D})) << name;
      stock->named_parameters()[name].copy_(t);
    }
  }
  return stock(x);
}

// On a permutation representation the stock statistics are equivariant: eLayerNorm is torch's LayerNorm with
// the weight tied per orbit and an invariant bias (several orbits here), in float64 and float32.
TEST(ELayerNorm, EqualsStockLayerNormOnPermutationReps) {
  for (const auto& [spec, rs] : std::vector<std::pair<std::string, std::string>>{
           {"D8", "2x regular"},
           {"D4", "permutation(vertices) + regular + 2x trivial"},
           {"Ico", "permutation(vertices)"}}) {
    auto rep = eqnn::parse_rep(eqnn::testing::group(spec), rs);
    eqnn::ELayerNorm norm(eqnn::ELayerNormOptions(rep).eps(1e-3));
    EXPECT_TRUE(norm->is_stock());
    EXPECT_EQ(norm->fields().kind, "orbit");
    randomise_affine(*norm, 3);
    for (auto dtype : {at::kDouble, at::kFloat}) {
      norm->to(dtype);
      const at::Tensor x = (at::randn({4, 5, rep->size()}) * 3 + 1).to(dtype);
      const at::Tensor expected = stock_layer_norm(*norm, x, 1e-3);
      EXPECT_LE((norm(x) - expected).abs().max().item<double>(), dtype == at::kDouble ? 1e-12 : 1e-5) << rs;
    }
    // Without the affine part: the plain layer_norm.
    eqnn::ELayerNorm plain(eqnn::ELayerNormOptions(rep).elementwise_affine(false));
    plain->to(at::kDouble);
    const at::Tensor x = at::randn({3, rep->size()}, at::kDouble);
    EXPECT_LE((plain(x) - at::layer_norm(x, {rep->size()}, {}, {}, 1e-5)).abs().max().item<double>(), 1e-12);
    EXPECT_TRUE(plain->parameters().empty());
  }
}

// All-invariant reps (ρ(g) = I): a stock LayerNorm of the features — never a constant.
TEST(ELayerNorm, IsStockLayerNormOnAllInvariantReps) {
  for (const auto& [spec, rs] :
       std::vector<std::pair<std::string, std::string>>{{"D4", "3x trivial"}, {"C1", "5x trivial"}}) {
    auto rep = eqnn::parse_rep(eqnn::testing::group(spec), rs);
    auto layer = make_layer("eLayerNorm", rep);
    auto* norm = dynamic_cast<eqnn::ENormBase*>(layer.get());
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->fields().kind, "feature");
    EXPECT_EQ(norm->fields().count, rep->size());
    randomise_affine(*norm, 5);
    layer->to(at::kDouble);
    const at::Tensor x = at::randn({16, rep->size()}, at::kDouble);
    const at::Tensor y = layer->forward(x);
    EXPECT_LE((y - stock_layer_norm(*norm, x, 1e-5)).abs().max().item<double>(), 1e-12) << rs;
    // Not constant: the output varies over the batch.
    EXPECT_GT((y - y[0]).abs().max().item<double>(), 0.1) << rs;
  }
}

// Any other representation: the mean along u = Q_triv·1 / ‖Q_triv·1‖ (or B·1/√D for a permutation rep behind
// a basis B), the variance as the mean square of the centred vector; a dense oracle built from the rep's
// invariant basis.
TEST(ELayerNorm, InvariantStatisticsOnOtherReps) {
  auto g = eqnn::testing::group("C5");
  RepPtr irreps = eqnn::parse_rep(g, "3x trivial + 2x irrep(1) + irrep(2)");
  RepPtr rotated = eqnn::testing::random_basis(eqnn::parse_rep(g, "3x regular + 2x trivial"), 3);
  for (const RepPtr& rep : {irreps, rotated}) {
    eqnn::ELayerNorm norm(eqnn::ELayerNormOptions(rep).eps(1e-9).elementwise_affine(false));
    EXPECT_FALSE(norm->is_stock());
    norm->to(at::kDouble);
    const at::Tensor x = at::randn({6, rep->size()}, at::kDouble) + 2;
    const at::Tensor y = norm(x);
    at::Tensor u;
    if (rep->has_permutation_structure())
      u = at::matmul(to_tensor(*rep->permutation_basis()), at::ones({rep->size()}, at::kDouble));
    else
      u = to_tensor(rep->invariant_basis()).sum(1);
    u = u / u.norm();
    const at::Tensor c = x - at::outer(at::matmul(x, u), u);
    const at::Tensor expected = c / (c.pow(2).mean(-1, true) + 1e-9).sqrt();
    EXPECT_LE((y - expected).abs().max().item<double>(), 1e-12) << rep->describe();
    EXPECT_LE(at::matmul(y, u).abs().max().item<double>(), 1e-10);
    // Only one invariant direction is removed: the other invariant components survive.
    const at::Tensor B = to_tensor(rep->invariant_basis());
    EXPECT_GT(at::matmul(y, B).abs().max().item<double>(), 1e-3) << rep->describe();
    // No scalar output, no stock export.
    EXPECT_TRUE(eqnn::ELayerNorm(eqnn::ELayerNormOptions(rep))->effective_parameters().empty());
  }
  // No trivial part: nothing to centre, the RMS normalisation.
  RepPtr none = eqnn::parse_rep(g, "2x irrep(1) + irrep(2)");
  eqnn::ELayerNorm norm(eqnn::ELayerNormOptions(none).elementwise_affine(false));
  norm->to(at::kDouble);
  const at::Tensor x = at::randn({3, none->size()}, at::kDouble);
  EXPECT_LE((norm(x) - x / (x.pow(2).mean(-1, true) + 1e-5).sqrt()).abs().max().item<double>(), 1e-12);
}

TEST(ERMSNorm, EqualsStockRMSNormOnPermutationRepsAndTheFormulaElsewhere) {
  auto g = eqnn::testing::group("D4");
  auto perm = eqnn::parse_rep(g, "permutation(vertices) + 2x regular");
  eqnn::ERMSNorm norm(eqnn::ERMSNormOptions(perm).eps(0.5));
  randomise(*norm, 4);
  norm->to(at::kDouble);
  EXPECT_TRUE(norm->is_stock());
  auto params = norm->effective_parameters();
  ASSERT_EQ(params.size(), 1u);
  EXPECT_EQ(params[0].first, "weight");
  const at::Tensor x = at::randn({3, 2, perm->size()}, at::kDouble);
  // torch.nn.RMSNorm: x / sqrt(mean(x²) + eps) * weight.
  const at::Tensor expected = x * at::rsqrt(x.pow(2).mean(-1, true) + 0.5) * params[0].second;
  EXPECT_LE((norm(x) - expected).abs().max().item<double>(), 1e-12);
  auto irreps = eqnn::parse_rep(eqnn::testing::group("Ico"), "irrep(1) + irrep(2) + trivial");
  eqnn::ERMSNorm plain(eqnn::ERMSNormOptions(irreps).eps(0.5).elementwise_affine(false));
  plain->to(at::kDouble);
  const at::Tensor z = at::randn({3, irreps->size()}, at::kDouble);
  EXPECT_LE((plain(z) - z / (z.pow(2).mean(-1, true) + 0.5).sqrt()).abs().max().item<double>(), 1e-12);
}

// One learnable scale per field: an orbit, a feature, or an irrep copy; the bias lives on the invariant
// vectors; scale 1 and bias 0 at the start, as the stock modules.
TEST(ENorm, ParametersAreOneScalePerFieldAndAnInvariantBias) {
  auto g = eqnn::testing::group(kQ8);
  for (const auto& [rs, fields] : std::vector<std::pair<std::string, int64_t>>{
           {"2x regular", 2}, {"regular + irrep(4)", -1}, {"3x trivial", 3}}) {
    RepPtr rep = eqnn::parse_rep(g, rs);
    for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
      auto layer = make_layer(type, rep);
      auto* norm = dynamic_cast<eqnn::ENormBase*>(layer.get());
      ASSERT_NE(norm, nullptr);
      const int64_t expected_fields = fields >= 0 ? fields : static_cast<int64_t>(rep->irreps().size());
      EXPECT_EQ(norm->fields().count, expected_fields) << rs;
      auto named = layer->named_parameters();
      ASSERT_TRUE(named.contains("weight")) << rs;
      EXPECT_EQ(named["weight"].sizes(), (std::vector<int64_t>{expected_fields}));
      EXPECT_TRUE(at::equal(named["weight"], at::ones({expected_fields})));
      if (type == "eLayerNorm") {
        ASSERT_TRUE(named.contains("bias_coefficients")) << rs;
        EXPECT_EQ(named["bias_coefficients"].size(0), rep->multiplicities()[0]);
        EXPECT_EQ(norm->bias().abs().sum().item<double>(), 0.0);
      } else {
        EXPECT_EQ(named.size(), 1u);
      }
      // Gradients reach every parameter and are finite.
      layer->to(at::kDouble);
      layer->train();
      const at::Tensor x = at::randn({5, rep->size()}, at::kDouble);
      layer->forward(x).pow(3).sum().backward();
      for (const auto& p : layer->parameters()) {
        ASSERT_TRUE(p.grad().defined()) << type << " " << rs;
        EXPECT_TRUE(at::isfinite(p.grad()).all().item<bool>()) << type << " " << rs;
        EXPECT_GT(p.grad().abs().sum().item<double>(), 0) << type << " " << rs;
      }
    }
  }
}

// eps > 0 keeps every output finite on a zero (constant) input, for every rep kind; the output is the bias.
TEST(ENorm, FiniteOnZeroInput) {
  auto g = eqnn::testing::group("D4");
  for (const auto& [label, rep] : eqnn::testing::mixed_reps(g)) {
    for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
      auto layer = make_layer(type, rep);
      randomise(*layer, 8);
      for (auto dtype : {at::kDouble, at::kFloat}) {
        layer->to(dtype);
        const at::Tensor y = layer->forward(at::zeros({2, rep->size()}, dtype));
        EXPECT_TRUE(at::isfinite(y).all().item<bool>()) << type << " " << label;
        auto* norm = dynamic_cast<eqnn::ENormBase*>(layer.get());
        const at::Tensor b = norm->bias();
        const at::Tensor expected = b.defined() ? b.expand_as(y) : at::zeros_like(y);
        EXPECT_LE((y - expected).abs().max().item<double>(), 1e-6) << type << " " << label;
      }
    }
  }
}

TEST(ENorm, StockExportAndParameterCount) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("D4"), "2x regular");
  auto ln = make_layer("eLayerNorm", rep);
  auto rms = make_layer("eRMSNorm", rep);
  // A permutation rep in its own basis: exactly the stock modules, exported under their names.
  auto ln_params = ln->effective_parameters();
  ASSERT_EQ(ln_params.size(), 2u);
  EXPECT_EQ(ln_params[0].first, "weight");
  EXPECT_EQ(ln_params[1].first, "bias");
  EXPECT_EQ(rms->effective_parameters().size(), 1u);
  EXPECT_EQ(ln->unconstrained_parameter_count(), 32);
  EXPECT_EQ(rms->unconstrained_parameter_count(), 16);
  EXPECT_EQ(make_layer("eLayerNorm", rep, "{elementwise_affine: false}")->unconstrained_parameter_count(), 0);
  EXPECT_TRUE(ln->in_rep()->same_content(*rep));
  EXPECT_TRUE(ln->out_rep()->same_content(*rep));
  // In a rotated basis the stock module cannot express it: an empty list (export refuses by name).
  auto rotated = eqnn::testing::random_basis(rep, 4);
  EXPECT_TRUE(make_layer("eLayerNorm", rotated)->effective_parameters().empty());
  EXPECT_TRUE(make_layer("eRMSNorm", rotated)->effective_parameters().empty());
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

TEST(ENorm, Errors) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C5"), "regular");
  EXPECT_NE(error_text([&] { make_layer("eLayerNorm", rep, "{epz: 1.0}"); })
                .find("eLayerNorm: unknown key 'epz' (did you mean 'eps'?); allowed keys: eps, "
                      "elementwise_affine, affine, normalize"),
            std::string::npos);
  // eps <= 0 is a configuration error, located at the key.
  for (const std::string eps : {"-1", "0"}) {
    const std::string text = error_text([&] { make_layer("eRMSNorm", rep, "{eps: " + eps + "}"); });
    EXPECT_NE(text.find("1:7: error: eRMSNorm: 'eps' must be a finite number > 0 (it keeps 1/sqrt(variance + "
                        "eps) finite on a constant input), found " +
                        eps + "; the default is 1e-06"),
              std::string::npos)
        << text;
  }
  // One validate() for both: the constructor's message is the factory's, without the location.
  EXPECT_NE(
      error_text([&] { eqnn::ELayerNorm(eqnn::ELayerNormOptions(rep).eps(0.0)); })
          .find("eLayerNorm: 'eps' must be a finite number > 0 (it keeps 1/sqrt(variance + eps) finite on "
                "a constant input), found 0; the default is 1e-05"),
      std::string::npos);
  auto error = eqnn::validate(eqnn::ERMSNormOptions(rep).eps(-1.0));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "eps");
  error = eqnn::validate(eqnn::ELayerNormOptions(rep).bias_constraint("SoftConstraint"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "bias_constraint");
  EXPECT_FALSE(eqnn::validate(
      eqnn::ELayerNormOptions(rep).bias_constraint("SoftConstraint").elementwise_affine(false)));
  EXPECT_FALSE(eqnn::validate(eqnn::ELayerNormOptions(rep)));
  EXPECT_NE(error_text([&] {
              eqnn::ERMSNorm(eqnn::ERMSNormOptions(nullptr));
            }).find("eRMSNorm: in_rep is required"),
            std::string::npos);
  EXPECT_NE(error_text([&] {
              make_layer("eRMSNorm", rep, "{elementwise_affine: maybe}");
            }).find("elementwise_affine"),
            std::string::npos);
  auto layer = make_layer("eLayerNorm", rep);
  EXPECT_NE(error_text([&] {
              layer->forward(at::randn({2, 4}));
            }).find("eLayerNorm: expected input of shape (..., 5) for in_rep regular (size 5), got [2, 4]"),
            std::string::npos);
}

// ---- affine: per_copy ----

// The reps the per_copy tests sweep: regular, "2x regular + trivial + irrep(1)", a random orthogonal basis.
std::vector<std::pair<std::string, RepPtr>> per_copy_reps(const eqnn::GroupPtr& g) {
  return {
      {"regular", eqnn::parse_rep(g, "regular")},
      {"2x regular + trivial + irrep(1)", eqnn::parse_rep(g, "2x regular + trivial + irrep(1)")},
      {"random basis", eqnn::testing::random_basis(eqnn::parse_rep(g, "regular + trivial + irrep(1)"), 5)}};
}

TEST(ENormPerCopy, EquivariantOnEveryElement) {
  for (const std::string spec : {"C4", "D4", "Ico"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : per_copy_reps(g))
      for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
        auto layer = make_layer(type, rep, "{affine: per_copy}");
        randomise(*layer, 13);
        auto* norm = dynamic_cast<eqnn::ENormBase*>(layer.get());
        ASSERT_NE(norm, nullptr);
        EXPECT_EQ(norm->scale_fields().kind, "irrep copy");
        EXPECT_EQ(layer->named_parameters()["weight"].numel(), static_cast<int64_t>(rep->irreps().size()));
        eqnn::testing::EquivarianceSweep sweep;
        sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
        sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
          return eqnn::testing::random_inputs(size, dtype, 3);
        };
        eqnn::testing::ExpectEquivariant(*layer, sweep, type + " per_copy on " + spec + " " + label);
      }
  }
}

// symm_learning's eRMSNorm written densely: x / sqrt(eps + mean(x²)), then Q diag(α per copy) Qᵀ.
TEST(ENormPerCopy, RMSNormIsSymmLearningsFormula) {
  for (const std::string spec : {"C4", "D4", "Ico"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : per_copy_reps(g)) {
      eqnn::ERMSNorm norm(eqnn::ERMSNormOptions(rep).eps(1e-4).affine("per_copy"));
      randomise(*norm, 21);
      norm->to(at::kDouble);
      const at::Tensor x = at::randn({7, rep->size()}, at::kDouble) * 2;
      const at::Tensor alpha =
          norm->named_parameters()["weight"].detach().index_select(0, eqnn::testing::copy_of_column(*rep));
      const at::Tensor Q = to_tensor(rep->Q());
      const at::Tensor xhat = x / at::sqrt(1e-4 + x.pow(2).mean(-1, true));
      const at::Tensor expected = at::matmul(xhat, at::matmul(Q * alpha, Q.t()).t());
      EXPECT_LE((norm(x) - expected).abs().max().item<double>(), 1e-12) << spec << " " << label;
    }
  }
}

// All scales equal to c: per_copy (c·I in any basis) equals per_field with the same constant (and bias).
TEST(ENormPerCopy, EqualScalesEqualPerField) {
  for (const std::string spec : {"C4", "D4"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : per_copy_reps(g))
      for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
        auto copy = make_layer(type, rep, "{affine: per_copy}");
        auto field = make_layer(type, rep, "{affine: per_field}");
        copy->to(at::kDouble);
        field->to(at::kDouble);
        {
          at::NoGradGuard no_grad;
          copy->named_parameters()["weight"].fill_(1.7);
          field->named_parameters()["weight"].fill_(1.7);
          auto params = copy->named_parameters();  // find() points into it: keep it alive
          if (auto* b = params.find("bias_coefficients")) {
            b->copy_(at::arange(b->numel(), at::kDouble) * 0.3 - 0.5);
            field->named_parameters()["bias_coefficients"].copy_(*b);
          }
        }
        const at::Tensor x = at::randn({5, rep->size()}, at::kDouble);
        EXPECT_LE((copy->forward(x) - field->forward(x)).abs().max().item<double>(), 1e-12)
            << type << " " << spec << " " << label;
        // Different scales per copy make a different function on these reps.
        {
          at::NoGradGuard no_grad;
          copy->named_parameters()["weight"].copy_(
              at::linspace(0.5, 2, copy->named_parameters()["weight"].numel(), at::kDouble));
        }
        EXPECT_GT((copy->forward(x) - field->forward(x)).abs().max().item<double>(), 1e-3)
            << type << " " << label;
      }
  }
}

// per_copy exports only where Q = I and the statistics are stock (an all-invariant rep): there it is
// per_field; on a regular rep it has no stock form, and export refuses it.
TEST(ENormPerCopy, ExportOnlyWhereStock) {
  auto g = eqnn::testing::group("D4");
  auto trivial = eqnn::parse_rep(g, "3x trivial");
  for (const std::string type : {"eLayerNorm", "eRMSNorm"}) {
    auto layer = make_layer(type, trivial, "{affine: per_copy}");
    EXPECT_FALSE(layer->effective_parameters().empty()) << type;
    auto regular = make_layer(type, eqnn::parse_rep(g, "2x regular"), "{affine: per_copy}");
    EXPECT_TRUE(regular->effective_parameters().empty()) << type;
  }
  eqnn::ELayerNorm ln(eqnn::ELayerNormOptions(trivial).affine("per_copy"));
  EXPECT_TRUE(ln->is_stock());
  randomise(*ln, 2);
  ln->to(at::kDouble);
  const at::Tensor x = at::randn({4, 3}, at::kDouble);
  EXPECT_LE((ln(x) - stock_layer_norm(*ln, x, 1e-5)).abs().max().item<double>(), 1e-12);
}

TEST(ENormPerCopy, Errors) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C4"), "regular");
  const std::string text = error_text([&] { make_layer("eLayerNorm", rep, "{affine: per_orbit}"); });
  EXPECT_NE(
      text.find("1:10: error: eLayerNorm: 'affine' must be per_field (one scale per orbit, feature or irrep "
                "copy; the default) or per_copy (one scale per irreducible copy in the rep's basis Q), "
                "found 'per_orbit'"),
      std::string::npos)
      << text;
  auto error = eqnn::validate(eqnn::ERMSNormOptions(rep).affine("both"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "affine");
  EXPECT_NE(error_text([&] {
              eqnn::ERMSNorm(eqnn::ERMSNormOptions(rep).affine("x"));
            }).find("eRMSNorm: 'affine' must be per_field"),
            std::string::npos);
}

// ---- normalize: per_copy (symm_learning's eLayerNorm statistic) ----

TEST(ENormPerCopyStatistic, EquivariantOnEveryElement) {
  for (const std::string spec : {"C4", "D4", "Ico"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : per_copy_reps(g))
      for (const std::string type : {"eLayerNorm", "eRMSNorm"})
        for (const std::string kwargs :
             {"{normalize: per_copy, affine: per_copy}", "{normalize: per_copy}"}) {
          auto layer = make_layer(type, rep, kwargs);
          randomise(*layer, 17);
          EXPECT_TRUE(layer->effective_parameters().empty());  // never stock
          eqnn::testing::EquivarianceSweep sweep;
          sweep.prepare = [&](at::ScalarType dtype) { layer->to(dtype); };
          sweep.inputs = [&, size = rep->size()](at::ScalarType dtype) {
            return eqnn::testing::random_inputs(size, dtype, 3);
          };
          eqnn::testing::ExpectEquivariant(*layer, sweep, type + " " + kwargs + " on " + spec + " " + label);
        }
  }
}

// symm_learning's eLayerNorm written densely: z = Qᵀx, each copy z_c / sqrt(‖z_c‖²/d_c + eps), times α_c,
// back with Q, plus the invariant bias. Its defect: a 1-dim copy comes out as ±α (up to eps) whatever its
// size.
TEST(ENormPerCopyStatistic, IsSymmLearningsELayerNorm) {
  for (const std::string spec : {"C4", "D4", "Ico"}) {
    const auto g = eqnn::testing::group(spec);
    for (const auto& [label, rep] : per_copy_reps(g)) {
      eqnn::ELayerNorm norm(eqnn::ELayerNormOptions(rep).eps(1e-6).affine("per_copy").normalize("per_copy"));
      randomise(*norm, 23);
      norm->to(at::kDouble);
      const at::Tensor x = at::randn({6, rep->size()}, at::kDouble) * 3;
      const at::Tensor idx = eqnn::testing::copy_of_column(*rep);
      const int64_t copies = static_cast<int64_t>(rep->irreps().size());
      const at::Tensor alpha = norm->named_parameters()["weight"].detach();
      const at::Tensor Q = to_tensor(rep->Q());
      const at::Tensor z = at::matmul(x, Q);
      at::Tensor expected_z = at::empty_like(z);
      for (int64_t c = 0; c < copies; ++c) {
        const at::Tensor cols = (idx == c).nonzero().squeeze(1);
        const at::Tensor zc = z.index_select(1, cols);
        const double d = static_cast<double>(cols.numel());
        expected_z.index_copy_(1, cols, zc / at::sqrt(zc.pow(2).sum(1, true) / d + 1e-6) * alpha[c]);
      }
      const at::Tensor expected = at::matmul(expected_z, Q.t()) + norm->bias().detach();
      const at::Tensor y = norm(x);
      EXPECT_LE((y - expected).abs().max().item<double>(), 1e-12) << spec << " " << label;
      // The defect: every 1-dim copy of Qᵀ(y − b) is ±α_c whatever its size, the same for 10⁶·x and 10⁷·x.
      // At scale s a copy z gives |α|·|sz|/sqrt((sz)² + eps), within |α|·eps/(2(sz)²) of |α|: below 1e-9
      // unless |z| < 2e-5, so the check does not hang on how small a random z happens to be.
      const at::Tensor yz = at::matmul(norm(x * 1e6) - norm->bias().detach(), Q);
      const at::Tensor yz10 = at::matmul(norm(x * 1e7) - norm->bias().detach(), Q);
      for (int64_t c = 0; c < copies; ++c) {
        const at::Tensor cols = (idx == c).nonzero().squeeze(1);
        if (cols.numel() != 1) continue;
        const int64_t j = cols[0].item<int64_t>();
        ASSERT_GT(z.select(1, j).abs().min().item<double>(), 2e-5) << spec << " " << label;
        EXPECT_LE((yz.select(1, j).abs() - alpha[c].abs()).abs().max().item<double>(), 1e-9)
            << spec << " " << label;
        EXPECT_LE((yz10.select(1, j) - yz.select(1, j)).abs().max().item<double>(), 1e-9)
            << spec << " " << label;
      }
    }
  }
}

TEST(ENormPerCopyStatistic, Errors) {
  auto rep = eqnn::parse_rep(eqnn::testing::group("C4"), "regular");
  const std::string text = error_text([&] { make_layer("eRMSNorm", rep, "{normalize: copies}"); });
  EXPECT_NE(
      text.find("1:13: error: eRMSNorm: 'normalize' must be all (the statistics over all features, as torch; "
                "the default) or per_copy (each irreducible copy by its own RMS, symm_learning's "
                "eLayerNorm), found 'copies'"),
      std::string::npos)
      << text;
  auto error = eqnn::validate(eqnn::ELayerNormOptions(rep).normalize("x"));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->key, "normalize");
}

}  // namespace
