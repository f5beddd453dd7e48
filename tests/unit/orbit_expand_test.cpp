// The orbit path's expansion kernels (OrbitExpansion) against index_select and index_add bit for bit, on
// random orbit indices (unequal orbit sizes, signs, dead pairs, tiles that do and do not hold whole orbits),
// and HomSpace::expand's CPU path against its batched (index_select) path: values, gradients and the
// gradient of the gradient, on orbit spaces with equal and unequal orbit sizes, signed permutation reps
// and a space of dimension 0.
#include <gtest/gtest.h>

#include <map>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/internal/orbit_expand.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "support.hpp"

using eqnn::HomSpace;
using eqnn::Matrix;
using eqnn::OrbitExpansion;
using eqnn::RepPtr;
using eqnn::Representation;
using eqnn::testing::group;
using eqnn::testing::robot_joints;

namespace {

// The old expansion: θ.index_select(o) · c, and its gradient (index_add) through LibTorch's autograd.
at::Tensor reference_gather(const at::Tensor& theta, const at::Tensor& index, const at::Tensor& coef) {
  at::Tensor w = theta.index_select(0, index);
  return coef.defined() ? w * coef.to(theta.scalar_type()) : w;
}
at::Tensor reference_reduce(const at::Tensor& g, const at::Tensor& index, const at::Tensor& coef,
                            int64_t dim) {
  at::Tensor flat = g.reshape(-1);
  if (coef.defined()) flat = flat * coef.to(g.scalar_type());
  return at::zeros({dim}, g.options()).index_add(0, index, flat);
}

// A random orbit index of a (rows × cols) matrix in tiles: tile (a, b) owns its own ids, drawn with
// unequal multiplicities; tiles with the same (a % 2, b) share a pattern up to the base id.
struct Tiled {
  at::Tensor index, coef;
  int64_t dim = 0;
  std::vector<int64_t> row_starts, col_starts;
};
Tiled tiled_index(bool signs, uint64_t seed, bool latin = false) {
  at::manual_seed(seed);
  const std::vector<int64_t> rs{0, 3, 5}, cs{0, 4};
  const int64_t rows = 8, cols = 7;
  const std::vector<int64_t> re{3, 5, 8}, ce{4, 7};  // range ends
  Tiled t;
  t.row_starts = rs;
  t.col_starts = cs;
  t.index = at::zeros({rows, cols}, at::kLong);
  std::map<std::pair<int64_t, size_t>, at::Tensor> shapes;
  for (size_t a = 0; a < rs.size(); ++a)
    for (size_t b = 0; b < cs.size(); ++b) {
      const int64_t nr = re[a] - rs[a], nc = ce[b] - cs[b], n = latin ? nc : 1 + (nr * nc) / 3;
      at::Tensor local;
      if (latin) {
        // Every row a permutation of the tile's nc ids (the shape of regular ⊗ regular blocks).
        std::vector<at::Tensor> rows_of;
        for (int64_t g = 0; g < nr; ++g) rows_of.push_back(at::randperm(nc, at::kLong));
        local = at::stack(rows_of);
      } else {
        // Each id appears at least once, then unequal repeats.
        local = at::cat({at::arange(n), at::randint(n, {nr * nc - n}, at::kLong)});
        local = local.index_select(0, at::randperm(nr * nc, at::kLong)).reshape({nr, nc});
      }
      auto key = std::make_pair(nr, b);
      if (shapes.count(key)) local = shapes[key];
      shapes[key] = local;
      t.index.slice(0, rs[a], re[a]).slice(1, cs[b], ce[b]).copy_(local + t.dim);
      t.dim += n;
    }
  t.index = t.index.reshape(-1);
  if (signs) {
    // ±scale per pair and some dead pairs (c = 0, id 0), as the orbit path writes them.
    t.coef = at::where(at::rand({rows * cols}, at::kDouble) < 0.5, 1.25, -1.25).to(at::kDouble);
    at::Tensor dead = at::rand({rows * cols}, at::kDouble) < 0.15;
    t.coef.masked_fill_(dead, 0.0);
    t.index.masked_fill_(dead, 0);
  }
  return t;
}

}  // namespace

TEST(OrbitExpansion, KernelsEqualIndexSelectAndIndexAddBitForBit) {
  for (int kind : {0, 1, 2})  // unequal orbits; with signs and dead pairs; every row a permutation
    for (bool good_tiles : {true, false}) {
      const bool signs = kind == 1;
      Tiled t = tiled_index(signs, 3 + kind, kind == 2);
      // Starts that cut tiles in half split orbits: the whole matrix becomes one tile, still exact.
      const std::vector<int64_t> rs = good_tiles ? t.row_starts : std::vector<int64_t>{0, 2, 6};
      const std::vector<int64_t> cs = good_tiles ? t.col_starts : std::vector<int64_t>{0, 1, 5};
      OrbitExpansion e(t.index, t.coef, 8, 7, t.dim, rs, cs);
      EXPECT_EQ(e.tiles(), good_tiles ? 6 : 1) << signs;
      if (good_tiles && !signs) EXPECT_EQ(e.patterns(), 4);  // row tiles 1 and 3 (3 rows each) share
      for (auto dtype : {at::kDouble, at::kFloat, at::kHalf, at::kBFloat16}) {
        at::Tensor theta = at::randn({t.dim}, at::kDouble).to(dtype);
        at::Tensor g = at::randn({8, 7}, at::kDouble).to(dtype);
        EXPECT_TRUE(at::equal(e.gather(theta), reference_gather(theta, t.index, t.coef).reshape({8, 7})))
            << signs << good_tiles << dtype;
        EXPECT_TRUE(at::equal(e.reduce(g), reference_reduce(g, t.index, t.coef, t.dim)))
            << signs << good_tiles << dtype;
        // A non-contiguous gradient (a transpose, as mm's backward may give) is read correctly.
        at::Tensor gt = at::randn({7, 8}, at::kDouble).to(dtype).t();
        EXPECT_TRUE(at::equal(e.reduce(gt), reference_reduce(gt.contiguous(), t.index, t.coef, t.dim)));
      }
    }
}

TEST(OrbitExpansion, ServesOnlyPlainCpuVectorsAndRefusesTheRest) {
  Tiled t = tiled_index(false, 5);
  OrbitExpansion e(t.index, t.coef, 8, 7, t.dim, t.row_starts, t.col_starts);
  EXPECT_TRUE(e.serves(at::randn({t.dim})));
  EXPECT_FALSE(e.serves(at::randn({2, t.dim})));               // batched: index_select serves it
  EXPECT_FALSE(e.serves(at::randn({t.dim + 1})));              // wrong size
  EXPECT_FALSE(e.serves(at::randint(3, {t.dim}, at::kLong)));  // not floating point
  EXPECT_THROW(e.expand(at::randn({2, t.dim})), c10::Error);   // expand says why
  EXPECT_THROW(e.reduce(at::randn({7, 8})), c10::Error);       // wrong shape
  EXPECT_THROW(OrbitExpansion(t.index, t.coef, 8, 7, 2, {0}, {0}), c10::Error);  // ids out of range
}

namespace {

struct Space {
  std::string name;
  RepPtr in, out;
};

std::vector<Space> spaces() {
  auto ico = group("Ico"), d4 = group("D4"), c2 = group("C2");
  auto j = robot_joints(c2);
  return {
      {"Ico_8reg_to_24reg_equal_orbits", eqnn::parse_rep(ico, "8x regular"),
       eqnn::parse_rep(ico, "24x regular")},
      {"D4_vertices_unequal_orbits", eqnn::parse_rep(d4, "permutation(vertices)"),
       eqnn::parse_rep(d4, "permutation(vertices) + 2x regular + trivial")},
      {"C2_signed_joints_dead_orbits", j, Representation::direct_sum({j, eqnn::parse_rep(c2, "regular")})},
      {"C2_signed_joints_to_trivial", j, eqnn::parse_rep(c2, "3x trivial")},
  };
}

}  // namespace

TEST(OrbitExpansion, HomSpaceExpandEqualsTheIndexSelectPathWithGradientsAndSecondGradients) {
  for (const auto& s : spaces()) {
    auto hom = HomSpace::build(s.in, s.out, HomSpace::Method::orbit);
    const int64_t Do = s.out->size(), Di = s.in->size();
    if (hom->dim() == 0) {  // every orbit dead: the zero matrix, on both paths
      EXPECT_TRUE(at::equal(hom->expand(at::zeros({0})), at::zeros({Do, Di}))) << s.name;
      EXPECT_TRUE(at::equal(hom->expand(at::zeros({2, 0}))[1], at::zeros({Do, Di}))) << s.name;
      continue;
    }
    for (auto dtype : {at::kDouble, at::kFloat}) {
      at::Tensor theta = at::randn({hom->dim()}, at::kDouble).to(dtype).requires_grad_();
      // The batched path is index_select · c and index_add: the oracle, bit for bit.
      at::Tensor batched = theta.detach().unsqueeze(0).requires_grad_();
      at::Tensor G = at::randn({Do, Di}, at::kDouble).to(dtype);
      at::Tensor W = hom->expand(theta), Wb = hom->expand(batched);
      ASSERT_EQ(W.sizes(), (std::vector<int64_t>{Do, Di})) << s.name;
      EXPECT_TRUE(at::equal(W, Wb[0])) << s.name << dtype;
      (W * G).sum().backward();
      (Wb[0] * G).sum().backward();
      EXPECT_TRUE(at::equal(theta.grad(), batched.grad()[0])) << s.name << dtype;
      // Second order: the gradient is linear in G, and its own gradient (with respect to G) is the
      // expansion of the probe again.
      at::Tensor Gv = G.clone().requires_grad_(), Gb = G.clone().requires_grad_();
      at::Tensor gt = torch::autograd::grad({(hom->expand(theta) * Gv).sum()}, {theta}, {}, true, true)[0];
      at::Tensor gb =
          torch::autograd::grad({(hom->expand(batched)[0] * Gb).sum()}, {batched}, {}, true, true)[0];
      EXPECT_TRUE(at::equal(gt, gb[0])) << s.name << dtype;
      at::Tensor probe = at::randn({hom->dim()}, at::kDouble).to(dtype);
      at::Tensor h = torch::autograd::grad({(gt * probe).sum()}, {Gv}, {}, /*retain_graph=*/true)[0];
      at::Tensor hb = torch::autograd::grad({(gb[0] * probe).sum()}, {Gb})[0];
      EXPECT_TRUE(at::equal(h, hb)) << s.name << dtype;
      // Third order: that gradient (the expansion of the probe) differentiated with respect to the probe.
      at::Tensor p2 = probe.clone().requires_grad_();
      at::Tensor h2 = torch::autograd::grad({(gt * p2).sum()}, {Gv}, {}, true, true)[0];
      at::Tensor q = at::randn({Do, Di}, at::kDouble).to(dtype);
      at::Tensor back = torch::autograd::grad({(h2 * q).sum()}, {p2})[0];
      at::Tensor pb = at::zeros({1, hom->dim()}, dtype).requires_grad_();
      (hom->expand(pb)[0] * q).sum().backward();
      EXPECT_TRUE(at::equal(back, pb.grad()[0])) << s.name << dtype;
    }
  }
}

TEST(OrbitExpansion, TilesOfMoreThan64OrbitsAndLatinTilesOfAnyWidthAreExactToo) {
  // One tile of 100 orbits (beyond the 64-entry register table of the vector kernels), and a tile whose
  // rows are permutations of 70 ids: the scalar loops, in float32 as in float64.
  at::manual_seed(11);
  at::Tensor wide = at::cat({at::arange(100), at::randint(100, {16 * 16 - 100}, at::kLong)});
  wide = wide.index_select(0, at::randperm(16 * 16, at::kLong));
  std::vector<at::Tensor> rows_of;
  for (int g = 0; g < 5; ++g) rows_of.push_back(at::randperm(70, at::kLong));
  const at::Tensor latin = at::stack(rows_of).reshape(-1);
  for (const auto& [index, rows, cols, dim] :
       {std::make_tuple(wide, 16, 16, 100), std::make_tuple(latin, 5, 70, 70)}) {
    OrbitExpansion e(index, at::Tensor(), rows, cols, dim, {0}, {0});
    for (auto dtype : {at::kDouble, at::kFloat}) {
      at::Tensor theta = at::randn({dim}, at::kDouble).to(dtype),
                 g = at::randn({rows, cols}, at::kDouble).to(dtype);
      EXPECT_TRUE(
          at::equal(e.gather(theta), reference_gather(theta, index, at::Tensor()).reshape({rows, cols})));
      EXPECT_TRUE(at::equal(e.reduce(g), reference_reduce(g, index, at::Tensor(), dim)));
    }
  }
}
