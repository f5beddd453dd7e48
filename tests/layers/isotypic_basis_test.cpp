// eIsotypicBasis through the real registry and constructed directly: exactly equivariant on every element
// from ρ_in to ρ̂ = Q_isoᵀ ρ_in Q_iso (and back for inverse) for every test group and rep kind, float64 and
// float32; inverse∘forward = identity; values against a dense Q_isoᵀ x written here; the stock Linear
// export; the YAML errors.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "e_isotypic_basis.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace {

using eqnn::EIsotypicBasis;
using eqnn::EIsotypicBasisOptions;
using eqnn::RepPtr;
using eqnn::testing::error_text;
using eqnn::testing::make_layer;
using eqnn::testing::to_tensor;

class IsotypicBasisLayer : public ::testing::TestWithParam<eqnn::testing::GroupCase> {};

TEST_P(IsotypicBasisLayer, EquivariantBothWaysAndInverse) {
  const auto g = eqnn::testing::group(GetParam().spec);
  for (const auto& [label, rep] : eqnn::testing::mixed_reps(g)) {
    EIsotypicBasis fwd{EIsotypicBasisOptions(rep)};
    EIsotypicBasis inv{EIsotypicBasisOptions(rep).inverse(true)};
    EXPECT_TRUE(fwd->in_rep()->same_content(*rep));
    EXPECT_TRUE(inv->out_rep()->same_content(*rep));
    EXPECT_TRUE(fwd->out_rep()->same_content(*inv->in_rep()));
    // out_rep(g) = Q_isoᵀ ρ_in(g) Q_iso, against the layer's own Q (a dense formula here).
    const auto& Q = fwd->basis().Q_iso;
    for (int e = 0; e < g->order(); ++e)
      EXPECT_LT((Q.transpose() * rep->matrix(e) * Q - fwd->out_rep()->matrix(e)).cwiseAbs().maxCoeff(),
                1e-10);
    for (auto* layer : {&fwd, &inv}) {
      eqnn::testing::EquivarianceSweep sweep;
      sweep.inputs = [size = rep->size()](at::ScalarType dtype) {
        return eqnn::testing::random_inputs(size, dtype, 4);
      };
      eqnn::testing::ExpectEquivariant(**layer, sweep, "eIsotypicBasis on " + g->name() + " " + label);
    }
    const at::Tensor x = at::randn({5, rep->size()}, at::kDouble);
    EXPECT_LT((inv->forward(fwd->forward(x)) - x).abs().max().item<double>(), 1e-12) << label;
    EXPECT_LT((fwd->forward(x) - at::matmul(x, to_tensor(Q))).abs().max().item<double>(), 1e-12) << label;
    // The registry's layer is the same function.
    auto reg = make_layer("eIsotypicBasis", rep);
    EXPECT_LT((reg->forward(x) - fwd->forward(x)).abs().max().item<double>(), 1e-15) << label;
  }
}

INSTANTIATE_TEST_SUITE_P(AllGroups, IsotypicBasisLayer, ::testing::ValuesIn(eqnn::testing::test_groups()),
                         [](const auto& info) { return info.param.label; });

TEST(IsotypicBasisLayerExport, StockLinearWithoutBiasGivesTheSameOutput) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rep = eqnn::testing::random_basis(eqnn::parse_rep(g, "regular + irrep(4)"), 2);
  for (bool inverse : {false, true}) {
    EIsotypicBasis layer{EIsotypicBasisOptions(rep).inverse(inverse)};
    auto params = layer->effective_parameters();
    ASSERT_EQ(params.size(), 1u);
    EXPECT_EQ(params[0].first, "weight");
    EXPECT_TRUE(layer->parameters().empty());
    EXPECT_EQ(layer->unconstrained_parameter_count(), 10 * 10);
    const at::Tensor x = at::randn({3, 10}, at::kDouble);
    // torch.nn.Linear(bias=False): y = x Wᵀ.
    EXPECT_LT((at::matmul(x, params[0].second.t()) - layer->forward(x)).abs().max().item<double>(), 1e-15);
  }
}

TEST(IsotypicBasisLayerYaml, InverseNeedsTheRepAndChecksTheFlow) {
  const auto g = eqnn::testing::group("D4");
  RepPtr rep = eqnn::parse_rep(g, "regular");
  EIsotypicBasis fwd{EIsotypicBasisOptions(rep)};
  // Back from the isotypic basis of `rep`: the flowing rep is the forward layer's out_rep.
  auto back = make_layer("eIsotypicBasis", fwd->out_rep(), "{inverse: true, rep: regular}");
  EXPECT_TRUE(back->out_rep()->same_content(*rep));
  EXPECT_NE(error_text<eqnn::ConfigError>([&] {
              make_layer("eIsotypicBasis", fwd->out_rep(), "{inverse: true}");
            }).find("inverse: true needs 'rep'"),
            std::string::npos);
  EXPECT_NE(error_text<eqnn::ConfigError>([&] {
              make_layer("eIsotypicBasis", rep,
                         "{inverse: true, rep: \"2x trivial + irrep(1) + irrep(2) + irrep(3) + irrep(4)\"}");
            }).find("but the representation flowing in is"),
            std::string::npos);
  EXPECT_NE(error_text<eqnn::ConfigError>([&] {
              make_layer("eIsotypicBasis", rep, "{rep: regular}");
            }).find("'rep' is only for inverse: true"),
            std::string::npos);
  EXPECT_NE(error_text<eqnn::ConfigError>([&] {
              make_layer("eIsotypicBasis", rep, "{inverse: maybe}");
            }).find("inverse"),
            std::string::npos);
  EXPECT_NE(error_text<eqnn::ConfigError>([&] {
              EIsotypicBasis bad{EIsotypicBasisOptions(nullptr)};
            }).find("eIsotypicBasis: in_rep is required"),
            std::string::npos);
}

}  // namespace
