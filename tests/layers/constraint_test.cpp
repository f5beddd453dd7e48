// CommutingConstraint and InvariantConstraint, loaded through the real registry from their plugins and
// built directly: shape, dimension (against character inner products), exact equivariance of expansions,
// idempotent projection, and the error paths.
#include <gtest/gtest.h>

#include "commuting_constraint.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "invariant_constraint.hpp"
#include "layers.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

class ConstraintPerGroup : public ::testing::TestWithParam<GroupCase> {};

TEST_P(ConstraintPerGroup, CommutingFromRegistryIsEquivariantWithTheCharacterDimension) {
  auto g = group(GetParam().spec);
  const auto& factory = registry().get_constraint("CommutingConstraint");
  std::vector<RepPtr> reps = {make_kind(g, "regular", 1), make_kind(g, "rotated", 1),
                              make_kind(g, "irreps", 1)};
  if (auto p = make_kind(g, "permutation", 1)) reps.push_back(p);
  for (const auto& in : reps)
    for (const auto& out : reps) {
      ConstraintPtr c = factory({in, out});
      ASSERT_EQ(c->name(), "CommutingConstraint");
      EXPECT_EQ(c->shape(), (std::vector<int64_t>{out->size(), in->size()}));
      EXPECT_EQ(c->dim(), std::lround(character_inner(*in, *out)))
          << in->describe() << " -> " << out->describe();
      const bool orbits = (in->has_permutation_structure() && out->has_permutation_structure()) ||
                          (in->has_signed_permutation_structure() && out->has_signed_permutation_structure());
      EXPECT_EQ(c->method(), orbits ? "orbit" : "isotypic");
      at::Tensor theta = at::randn({c->dim()}, at::kDouble);
      at::Tensor W = c->expand(theta);
      at::Tensor rin = rep_matrices(*in), rout = rep_matrices(*out);
      double err = 0;
      for (int e = 0; e < g->order(); ++e)
        err = nan_max(err, (at::matmul(rout[e], W) - at::matmul(W, rin[e])).abs().max().item<double>());
      EXPECT_LT(err, 1e-10 * std::max(1.0, W.abs().max().item<double>()));
      // analyse is a left inverse of expand; the projection is idempotent and self-adjoint.
      at::Tensor raw = at::randn({out->size(), in->size()}, at::kDouble);
      at::Tensor raw2 = at::randn({out->size(), in->size()}, at::kDouble);
      at::Tensor P = c->project(raw);
      EXPECT_TRUE(at::allclose(c->project(P), P, 1e-10, 1e-10));
      EXPECT_TRUE(at::allclose(c->analyse(W), theta, 1e-10, 1e-10));
      EXPECT_NEAR((P * raw2).sum().item<double>(), (raw * c->project(raw2)).sum().item<double>(), 1e-9);
    }
}

TEST_P(ConstraintPerGroup, InvariantFromRegistryGivesFixedVectors) {
  auto g = group(GetParam().spec);
  const auto& factory = registry().get_constraint("InvariantConstraint");
  for (const auto& rep :
       {make_kind(g, "regular", 2), make_kind(g, "rotated", 1), make_kind(g, "irreps", 1)}) {
    ConstraintPtr c = factory({nullptr, rep});
    EXPECT_EQ(c->name(), "InvariantConstraint");
    EXPECT_EQ(c->method(), "invariant");
    EXPECT_EQ(c->shape(), (std::vector<int64_t>{rep->size()}));
    EXPECT_EQ(c->dim(), rep->multiplicities()[0]);
    at::Tensor b = c->expand(at::randn({c->dim()}, at::kDouble));
    at::Tensor rho = rep_matrices(*rep);
    for (int e = 0; e < g->order(); ++e) EXPECT_TRUE(at::allclose(at::matmul(rho[e], b), b, 1e-10, 1e-10));
    at::Tensor v = at::randn({rep->size()}, at::kDouble);
    EXPECT_TRUE(at::allclose(c->project(c->project(v)), c->project(v), 1e-12, 1e-12));
    // The projection is the orthogonal one onto the invariant vectors: P_inv v.
    at::Tensor P = eqnn::testing::to_tensor(rep->invariant_projector());
    EXPECT_TRUE(at::allclose(c->project(v), at::matmul(P, v), 1e-12, 1e-12));
    // Optimiser-fair: orthogonal basis vectors whose squared norms add up to D, and analyse ∘ expand = id.
    if (c->dim() > 0) {
      at::Tensor basis = c->expand(at::eye(c->dim(), at::kDouble));  // (dim, D)
      at::Tensor gram = at::matmul(basis, basis.t());
      EXPECT_LT((gram - at::diag(at::diagonal(gram))).abs().max().item<double>(), 1e-10);
      EXPECT_NEAR(at::trace(gram).item<double>(), double(rep->size()), 1e-9 * rep->size());
      at::Tensor theta = at::randn({c->dim()}, at::kDouble);
      EXPECT_TRUE(at::allclose(c->analyse(c->expand(theta)), theta, 1e-12, 1e-12));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Groups, ConstraintPerGroup, ::testing::ValuesIn(test_groups()),
                         [](const auto& info) { return info.param.label; });

TEST(Constraint, RegistryBuildsTheSameTypesAsTheLinkableLibrary) {
  auto g = group("D4");
  auto reg = parse_rep(g, "regular");
  ConstraintPtr c = registry().get_constraint("CommutingConstraint")({reg, reg});
  auto* commuting = dynamic_cast<const CommutingConstraint*>(c.get());
  ASSERT_NE(commuting, nullptr);
  EXPECT_EQ(commuting->hom_space().get(), HomSpace::get(reg, reg).get());
  ConstraintPtr i = registry().get_constraint("InvariantConstraint")({nullptr, reg});
  ASSERT_NE(dynamic_cast<const InvariantConstraint*>(i.get()), nullptr);
}

TEST(Constraint, SampleMatchesTheStockVariance) {
  auto g = group("C4");
  auto in = random_basis(parse_rep(g, "16x regular"), 3), out = parse_rep(g, "24x regular");
  CommutingConstraint c(in, out);
  at::manual_seed(1);
  for (auto scheme : {InitScheme::stock, InitScheme::xavier_normal, InitScheme::xavier_uniform,
                      InitScheme::kaiming_normal, InitScheme::kaiming_uniform}) {
    at::Tensor W = c.expand(c.sample(scheme, at::kDouble));
    const double want = stock_variance(scheme, out->size(), in->size());
    EXPECT_NEAR(W.pow(2).mean().item<double>() / want, 1.0, 0.1) << to_string(scheme);
  }
  EXPECT_EQ(c.sample(InitScheme::zeros, at::kDouble).abs().sum().item<double>(), 0.0);
  InvariantConstraint b(out);
  EXPECT_EQ(b.sample(InitScheme::zeros, at::kDouble).abs().sum().item<double>(), 0.0);
  at::Tensor v = b.expand(b.sample(InitScheme::xavier_normal, at::kDouble));
  EXPECT_GT(v.abs().sum().item<double>(), 0.0);
}

TEST(Constraint, ErrorsNameTheProblem) {
  auto g = group("C3");
  auto reg = parse_rep(g, "regular");
  auto other = parse_rep(group("C5"), "regular");
  EXPECT_NE(error_text([&] {
              registry().get_constraint("CommutingConstraint")({nullptr, reg});
            }).find("CommutingConstraint: needs an input and an output representation (got none and regular"),
            std::string::npos);
  EXPECT_NE(
      error_text([&] {
        registry().get_constraint("InvariantConstraint")({reg, reg});
      }).find("InvariantConstraint: constrains a vector of one representation; got a request for a map"),
      std::string::npos);
  EXPECT_NE(error_text([&] {
              registry().get_constraint("CommutingConstraint")({reg, other});
            }).find("different groups (C3 and C5)"),
            std::string::npos);
  const std::string lookup = error_text([&] { registry().get_constraint("CommutingConstriant"); });
  EXPECT_NE(lookup.find("CommutingConstraint"), std::string::npos) << lookup;
}

}  // namespace
}  // namespace eqnn::testing
