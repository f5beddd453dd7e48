// The Hom-space and invariant-space caches: a hash match alone never returns (colliding hashes with
// different content get different answers), groups with one Cayley table but different irreps do not
// share entries, memory is bounded (weak entries, swept), and an entry with its per-device converted
// plans is freed with the last user.
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/weak_cache.hpp"
#include "equivariance.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

struct Value {
  int content;
};

TEST(WeakCache, CollidingHashesWithDifferentContentGetDifferentValues) {
  WeakCache<Value> cache;
  int built = 0;
  auto get = [&](int content) {
    return cache.get(
        /*hash=*/42, [&](const Value& v) { return v.content == content; },
        [&] {
          ++built;
          return std::make_shared<const Value>(Value{content});
        });
  };
  auto one = get(1), two = get(2);
  EXPECT_EQ(one->content, 1);
  EXPECT_EQ(two->content, 2);
  EXPECT_NE(one.get(), two.get());
  EXPECT_EQ(get(1).get(), one.get());  // hit, by content
  EXPECT_EQ(built, 2);
}

TEST(WeakCache, HoldsNoValueAliveAndStaysBounded) {
  WeakCache<Value> cache;
  std::weak_ptr<const Value> first;
  for (int i = 0; i < 1000; ++i) {
    auto v = cache.get(
        static_cast<uint64_t>(i), [&](const Value& x) { return x.content == i; },
        [&] { return std::make_shared<const Value>(Value{i}); });
    if (i == 0) first = v;
    EXPECT_LE(cache.size(), WeakCache<Value>::kMinSweep);
  }
  EXPECT_TRUE(first.expired());
  EXPECT_EQ(cache.live(), 0u);
  // Live values are kept and the bound follows them: at most max(kMinSweep, 2 x live + 1).
  std::vector<std::shared_ptr<const Value>> kept;
  for (int i = 0; i < 300; ++i) {
    kept.push_back(cache.get(
        1000 + i, [&](const Value& x) { return x.content == 1000 + i; },
        [&] { return std::make_shared<const Value>(Value{1000 + i}); }));
    EXPECT_LE(cache.size(), std::max<size_t>(WeakCache<Value>::kMinSweep, 2 * kept.size() + 1));
  }
  EXPECT_EQ(cache.live(), 300u);
}

class ForcedCollisions : public ::testing::Test {
 protected:
  void SetUp() override { testing_hooks::set_cache_hash_collisions(true); }
  void TearDown() override { testing_hooks::set_cache_hash_collisions(false); }
};

TEST_F(ForcedCollisions, HomSpacesWithEqualKeysAreToldApartByContent) {
  // Every entry has the same key: only the content comparison can choose.
  auto g = group("D4");
  auto reg = parse_rep(g, "regular"), perm = parse_rep(g, "permutation(vertices)");
  auto rotated = random_basis(reg, 3);
  auto a = HomSpace::get(reg, reg), b = HomSpace::get(perm, reg), c = HomSpace::get(rotated, reg);
  EXPECT_EQ(a->dim(), 8);
  EXPECT_EQ(b->dim(), 4);
  EXPECT_EQ(c->dim(), 8);
  EXPECT_NE(a.get(), c.get());  // same irreps and dimension, another Q
  EXPECT_EQ(&c->in()->Q(), &rotated->Q());
  EXPECT_EQ(HomSpace::get(parse_rep(g, "regular"), reg).get(), a.get());  // equal content: a hit
  // Every answer is the right one: equivariant for its own representations.
  for (const auto& h : {a, b, c}) {
    at::Tensor W = h->expand(at::randn({h->dim()}, at::kDouble));
    at::Tensor rin = rep_matrices(*h->in()), rout = rep_matrices(*h->out());
    for (int e = 0; e < g->order(); ++e)
      EXPECT_LE((at::matmul(rout[e], W) - at::matmul(W, rin[e])).abs().max().item<double>(), 1e-10);
  }
  auto i1 = InvariantSpace::get(reg), i2 = InvariantSpace::get(perm);
  EXPECT_NE(i1.get(), i2.get());
  EXPECT_EQ(i1->rep()->size(), 8);
  EXPECT_EQ(i2->rep()->size(), 4);
}

// C4 by a permutation generator, with its 2-dimensional irrep supplied as the rotation by +90° or by
// −90°: one Cayley table, two sets of irreps.
GroupPtr c4_with_rotation(double sign) {
  auto g = Group::from_generator_permutations("C4", {{1, 2, 3, 0}});
  Matrix one = Matrix::Identity(1, 1), minus = -Matrix::Identity(1, 1), rot(2, 2);
  rot << 0, -sign, sign, 0;
  g->set_irreps({{one}, {minus}, {rot}}, {"trivial", "sign", "rotation"});
  return g;
}

TEST(HomSpaceCache, GroupsWithOneTableButOtherIrrepsDoNotShareEntries) {
  auto plus = c4_with_rotation(1), minus = c4_with_rotation(-1);
  // The group hash covers supplied irreps, so force every cache key to collide: only the content
  // comparison can keep the two apart.
  testing_hooks::set_cache_hash_collisions(true);
  struct Reset {
    ~Reset() { testing_hooks::set_cache_hash_collisions(false); }
  } reset;
  // A representation built from irreps and a basis change, so the Hom space uses the irreps.
  auto rep_plus = Representation::from_decomposition(plus, {2, 0}, random_orthogonal(3, 5));
  auto rep_minus = Representation::from_decomposition(minus, {2, 0}, random_orthogonal(3, 5));
  auto hp = HomSpace::get(rep_plus, rep_plus), hm = HomSpace::get(rep_minus, rep_minus);
  EXPECT_NE(hp.get(), hm.get());
  EXPECT_EQ(&hm->in()->group(), minus.get());
  for (const auto& [h, rep] : {std::pair{hp, rep_plus}, std::pair{hm, rep_minus}}) {
    at::Tensor W = h->expand(at::randn({h->dim()}, at::kDouble));
    at::Tensor rho = rep_matrices(*rep);
    for (int e = 0; e < 4; ++e)
      EXPECT_LE((at::matmul(rho[e], W) - at::matmul(W, rho[e])).abs().max().item<double>(), 1e-10);
  }
}

TEST(HomSpaceCache, EntriesAndTheirConvertedPlansAreFreedWithTheirLastUser) {
  auto g = group("C5");
  std::weak_ptr<const HomSpace> weak;
  std::weak_ptr<const InvariantSpace> weak_invariant;
  {
    auto rep = parse_rep(g, "3x regular");
    auto h = HomSpace::get(rep, rep);
    EXPECT_EQ(HomSpace::get(rep, rep).get(), h.get());  // alive: a hit
    h->expand(at::randn({h->dim()}, at::kFloat));       // builds a float32 copy of the plan
    auto inv = InvariantSpace::get(rep);
    inv->expand(at::randn({inv->dim()}, at::kFloat));
    weak = h;
    weak_invariant = inv;
  }
  EXPECT_TRUE(weak.expired());
  EXPECT_TRUE(weak_invariant.expired());
}

}  // namespace
}  // namespace eqnn::testing
