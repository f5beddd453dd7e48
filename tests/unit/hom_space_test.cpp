// Hom spaces and invariant projectors: dimensions against character inner products, the projection's
// algebraic properties and equivariance on every element, and the orbit path against the dense path.
#include <gtest/gtest.h>

#include <thread>

#include <ATen/ATen.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "scoped_env.hpp"
#include "support.hpp"

using eqnn::HomSpace;
using eqnn::Matrix;
using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::group;
using eqnn::testing::kQ8;
using eqnn::testing::to_tensor;

namespace {

struct Pair {
  std::string group, in, out;
  bool random_basis_in = false, random_basis_out = false;
};
void PrintTo(const Pair& p, std::ostream* os) {
  *os << p.group << ": " << p.in << (p.random_basis_in ? " (random basis)" : "") << " -> " << p.out
      << (p.random_basis_out ? " (random basis)" : "");
}

std::vector<Pair> pairs() {
  return {
      {"C5", "regular", "regular"},
      {"C5", "2x regular", "3x trivial + irrep(1)"},
      {"C8", "irrep(2) + irrep(3)", "regular", true, false},
      {"D4", "permutation(vertices)", "regular"},
      {"D4", "permutation(vertices)", "permutation(vertices)", false, true},
      {"D4", "irrep(4) + trivial", "2x irrep(4) + irrep(1)"},
      {"D6", "permutation(vertices)", "2x regular"},
      {"S4", "permutation(points)", "permutation(points)"},
      {"S4", "regular", "irrep(3) + irrep(4) + irrep(2)", true, true},
      {"A4", "regular", "2x irrep(1)"},
      {"A4", "permutation(points)", "regular", false, true},
      {"A5", "permutation(points)", "regular"},
      {"Ico", "permutation(vertices)", "regular"},
      {"Ico", "standard", "permutation(vertices)"},
      {"Ico", "standard + trivial", "2x standard"},
      {"Octa", "standard", "regular", true, false},
      {"Octa", "permutation(vertices)", "permutation(vertices) + standard"},
      {"C2xD4", "regular", "permutation(vertices)"},
      {"C3xC3", "regular", "irrep(1) + irrep(2) + trivial"},
      {"C3xC3", "2x irrep(3)", "irrep(3)", true, true},
      {"S3", "permutation(points)", "regular", true, true},
      {"D5", "standard", "permutation(vertices)"},
      {kQ8, "standard", "regular"},
      {kQ8, "2x standard", "standard + regular", true, false},
  };
}

struct Built {
  eqnn::GroupPtr g;
  RepPtr in, out;
};

Built build(const Pair& p, uint64_t seed) {
  auto g = group(p.group);
  RepPtr in = eqnn::parse_rep(g, p.in), out = eqnn::parse_rep(g, p.out);
  if (p.random_basis_in) in = eqnn::testing::random_basis(in, seed);
  if (p.random_basis_out) out = eqnn::testing::random_basis(out, seed + 1);
  return {g, in, out};
}

class HomPairs : public ::testing::TestWithParam<Pair> {};

}  // namespace

TEST_P(HomPairs, DimensionEqualsCharacterInnerProduct) {
  auto b = build(GetParam(), 11);
  const double expected = eqnn::testing::character_inner(*b.in, *b.out);
  auto hom = HomSpace::get(b.in, b.out);
  EXPECT_NEAR(static_cast<double>(hom->dim()), expected, 1e-9);
  // Both methods agree on the dimension when the orbit path applies.
  if (hom->method() == HomSpace::Method::orbit)
    EXPECT_EQ(HomSpace::build(b.in, b.out, HomSpace::Method::isotypic)->dim(), hom->dim());
}

TEST_P(HomPairs, ProjectionIsIdempotentSelfAdjointAndEquivariantOnEveryElement) {
  auto b = build(GetParam(), 23);
  auto hom = HomSpace::get(b.in, b.out);
  const int Do = b.out->size(), Di = b.in->size();
  at::Tensor A = to_tensor(eqnn::testing::random_matrix(Do, Di, 5));
  at::Tensor B = to_tensor(eqnn::testing::random_matrix(Do, Di, 6));
  at::Tensor PA = hom->project(A), PB = hom->project(B);
  EXPECT_LT((hom->project(PA) - PA).abs().max().item<double>(), 1e-12);
  EXPECT_NEAR((PA * B).sum().item<double>(), (A * PB).sum().item<double>(), 1e-10);
  for (int g = 0; g < b.g->order(); ++g) {
    at::Tensor ro = to_tensor(b.out->matrix(g)), ri = to_tensor(b.in->matrix(g));
    ASSERT_LT((at::matmul(ro, PA) - at::matmul(PA, ri)).abs().max().item<double>(), 1e-10) << "element " << g;
  }
  // analyse ∘ expand = identity, and the basis is optimiser-fair: its elements are Frobenius-orthogonal and
  // their squared norms add up to D_out·D_in (the entries of a dense weight).
  at::Tensor theta = at::randn({hom->dim()}, at::kDouble);
  at::Tensor W = hom->expand(theta);
  EXPECT_LT((hom->analyse(W) - theta).abs().max().item<double>(), 1e-12);
  at::Tensor basis = hom->expand(at::eye(hom->dim(), at::kDouble)).reshape({hom->dim(), Do * Di});
  at::Tensor gram = at::matmul(basis, basis.t());
  EXPECT_LT((gram - at::diag(at::diagonal(gram))).abs().max().item<double>(), 1e-10);
  EXPECT_NEAR(at::trace(gram).item<double>(), double(Do) * Di, 1e-8 * Do * Di);
  if (hom->method() == HomSpace::Method::orbit && b.in->is_permutation() && b.out->is_permutation()) {
    // Orbit indicators: every entry of every basis element is 0 or 1, each entry in exactly one element
    // (signed permutation reps: signed_permutation_test.cpp).
    EXPECT_TRUE(at::equal(basis * (basis - 1), at::zeros_like(basis)));
    EXPECT_TRUE(at::equal(basis.sum(0), at::ones({Do * Di}, at::kDouble)));
  }
}

TEST_P(HomPairs, OrbitPathEqualsDensePath) {
  auto b = build(GetParam(), 31);
  // Groups given by matrices have signed permutation matrices as `standard` (Octa, Q8): orbits with signs.
  if (!(b.in->has_permutation_structure() && b.out->has_permutation_structure()) &&
      !(b.in->has_signed_permutation_structure() && b.out->has_signed_permutation_structure())) {
    // No (signed) permutation structure: only the isotypic path exists, and get() must choose it.
    EXPECT_EQ(HomSpace::get(b.in, b.out)->method(), HomSpace::Method::isotypic);
    return;
  }
  auto orbit = HomSpace::build(b.in, b.out, HomSpace::Method::orbit);
  auto dense = HomSpace::build(b.in, b.out, HomSpace::Method::isotypic);
  EXPECT_EQ(HomSpace::get(b.in, b.out)->method(), HomSpace::Method::orbit);
  at::Tensor A = to_tensor(eqnn::testing::random_matrix(b.out->size(), b.in->size(), 7));
  EXPECT_LT((orbit->project(A) - dense->project(A)).abs().max().item<double>(), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Pairs, HomPairs, ::testing::ValuesIn(pairs()), [](const auto& info) {
  const std::string& g = info.param.group;
  return (g.rfind("{", 0) == 0 ? std::string("Q8") : g) + "_" + std::to_string(info.index);
});

TEST(HomSpace, RegularStacksHaveDimensionABG) {
  for (const char* spec : {"C5", "D4", "A4", "Ico", "C2xD4"}) {
    auto g = group(spec);
    for (int a = 1; a <= 3; ++a)
      for (int b = 1; b <= 2; ++b) {
        auto in = eqnn::parse_rep(g, std::to_string(a) + "x regular");
        auto out = eqnn::parse_rep(g, std::to_string(b) + "x regular");
        EXPECT_EQ(HomSpace::get(in, out)->dim(), int64_t(a) * b * g->order()) << spec;
        EXPECT_EQ(HomSpace::build(eqnn::testing::random_basis(in, 3), out, HomSpace::Method::isotypic)->dim(),
                  int64_t(a) * b * g->order());
      }
  }
}

TEST(HomSpace, BatchedExpansionAndDtypes) {
  auto g = group("D4");
  auto in = eqnn::parse_rep(g, "permutation(vertices)"), out = eqnn::parse_rep(g, "regular");
  for (auto method : {HomSpace::Method::orbit, HomSpace::Method::isotypic}) {
    auto hom = HomSpace::build(in, out, method);
    at::Tensor theta = at::randn({3, hom->dim()}, at::kFloat);
    at::Tensor W = hom->expand(theta);
    ASSERT_EQ(W.sizes(), (std::vector<int64_t>{3, 8, 4}));
    EXPECT_EQ(W.scalar_type(), at::kFloat);
    EXPECT_LT((hom->expand(theta[1]) - W[1]).abs().max().item<float>(), 1e-6);
  }
}

TEST(HomSpace, InitialisationMatchesTheStockVariance) {
  auto g = group("Ico");
  for (const auto& [in_s, out_s] : std::vector<std::pair<std::string, std::string>>{
           {"2x regular", "6x regular"}, {"standard + 30x trivial + 10x irrep(4)", "2x regular"}}) {
    auto in = eqnn::parse_rep(g, in_s), out = eqnn::parse_rep(g, out_s);
    auto hom = HomSpace::get(in, out);
    for (auto scheme :
         {eqnn::InitScheme::stock, eqnn::InitScheme::xavier_normal, eqnn::InitScheme::xavier_uniform,
          eqnn::InitScheme::kaiming_normal, eqnn::InitScheme::kaiming_uniform}) {
      double mean_sq = 0;
      const int trials = 20;
      for (int t = 0; t < trials; ++t)
        mean_sq += hom->expand(hom->sample(scheme, at::kDouble)).pow(2).mean().item<double>();
      mean_sq /= trials;
      const double expected = eqnn::stock_variance(scheme, out->size(), in->size());
      EXPECT_NEAR(mean_sq / expected, 1.0, 0.1) << in_s << " -> " << out_s << " " << eqnn::to_string(scheme);
    }
  }
}

TEST(HomSpace, DifferentGroupsAreRefused) {
  auto a = Representation::regular(group("C4")), b = Representation::regular(group("D2"));
  try {
    HomSpace::get(a, b);
    FAIL();
  } catch (const eqnn::GroupError& e) {
    EXPECT_NE(std::string(e.what()).find("different groups (C4 and D2)"), std::string::npos) << e.what();
  }
}

TEST(InvariantProjector, IdempotentSymmetricAndFixedByEveryElement) {
  for (const auto& [spec, rs] :
       std::vector<std::pair<std::string, std::string>>{{"D4", "permutation(vertices) + regular"},
                                                        {"Ico", "permutation(vertices) + standard"},
                                                        {"C3xC3", "2x regular + irrep(1)"},
                                                        {"A4", "permutation(points) + trivial"}}) {
    auto g = group(spec);
    auto r = eqnn::testing::random_basis(eqnn::parse_rep(g, rs), 9);
    Matrix P = r->invariant_projector();
    EXPECT_LT((P * P - P).norm(), 1e-10);
    EXPECT_LT((P - P.transpose()).norm(), 1e-12);
    for (int e = 0; e < g->order(); ++e) EXPECT_LT((r->matrix(e) * P - P).norm(), 1e-10);
    // Its rank is the trivial multiplicity, from characters: (1/|G|) Σ χ(g).
    double avg = 0;
    for (int e = 0; e < g->order(); ++e) avg += r->matrix(e).trace();
    EXPECT_NEAR(P.trace(), avg / g->order(), 1e-9);
    auto inv = eqnn::InvariantSpace::get(r);
    at::Tensor v = at::randn({r->size()}, at::kDouble);
    EXPECT_LT((inv->project(v) - at::matmul(to_tensor(P), v)).abs().max().item<double>(), 1e-12);
  }
}

TEST(HomSpace, CacheIsByContentAndThreadSafe) {
  // Two groups built separately with the same content share cached results; a rep with equal content
  // but another name hits the same Hom space; concurrent first use computes once, consistently.
  auto g1 = group("{type: DihedralGroup, n: 7}");
  auto g2 = group("D7");
  auto a = Representation::regular(g1), b = eqnn::parse_rep(g2, "regular");
  EXPECT_EQ(HomSpace::get(a, a).get(), HomSpace::get(b, b).get());
  auto g = group("S4");
  std::vector<std::thread> threads;
  std::vector<int64_t> dims(8);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      auto in = eqnn::parse_rep(g, t % 2 ? "regular + permutation(points)" : "2x permutation(points)");
      auto out = eqnn::parse_rep(g, "regular");
      dims[t] = HomSpace::get(in, out)->dim();
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(dims[t], t % 2 ? 24 + 4 : 8) << t;
}

namespace eqnn::testing {
namespace {

TEST(HomSpaceLimit, AWeightAboveTheLimitIsAClearErrorBeforeAnythingIsAllocated) {
  EXPECT_EQ(max_matrix_entries(), int64_t{1} << 28);
  auto g = group("C4");
  // 4 · 10⁵ features: a 1.6·10¹¹-entry weight (596 GiB in float32), refused at once by default.
  const RepPtr wide = parse_rep(g, "100000x regular");
  const std::string text = error_text([&] { HomSpace::build(wide, wide, HomSpace::Method::orbit); });
  EXPECT_HAS(
      text,
      "Hom(100000x regular (size 400000), 100000x regular (size 400000)): a weight of 400000 x 400000 = "
      "160000000000 entries (596.0 GiB in float32)");
  EXPECT_HAS(text, "at most 268435456 entries; set EQNN_MAX_WEIGHT_ENTRIES");
  EXPECT_THROW(HomSpace::get(wide, wide), GroupError);
  // The limit is the environment's: 8 x 8 = 64 entries pass at 64 and fail at 63, on both paths.
  const RepPtr r = parse_rep(g, "2x regular");
  {
    ScopedEnv limit("EQNN_MAX_WEIGHT_ENTRIES", "64");
    EXPECT_EQ(HomSpace::build(r, r, HomSpace::Method::orbit)->dim(), 16);
    EXPECT_EQ(HomSpace::build(r, r, HomSpace::Method::isotypic)->dim(), 16);
  }
  {
    ScopedEnv limit("EQNN_MAX_WEIGHT_ENTRIES", "63");
    EXPECT_HAS(error_text([&] { HomSpace::build(r, r, HomSpace::Method::orbit); }), "= 64 entries");
    EXPECT_HAS(error_text([&] { HomSpace::get(random_basis(r, 5), r); }), "at most 63 entries");
  }
  {
    ScopedEnv limit("EQNN_MAX_WEIGHT_ENTRIES", "lots");
    EXPECT_HAS(error_text([&] { HomSpace::build(r, r, HomSpace::Method::orbit); }),
               "EQNN_MAX_WEIGHT_ENTRIES='lots' is not a weight-size limit");
  }
}

}  // namespace
}  // namespace eqnn::testing
