// The FFT path for cyclic groups (CyclicFourierHom) against the dense map y = x Wᵀ + b with W = expand(θ):
// values and gradients in float64 and float32 on C_n for odd, even and large n, on a cyclic group whose
// elements are not listed in the powers of a generator (C2×C3), and on permuted coordinates; the cases it
// refuses, with the reason; and HomSpace::orbit_entries against the expansion.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include "eqnn/group_theory/cyclic_fourier.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/internal/cyclic_fourier_kernels.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "support.hpp"

using eqnn::CyclicFourierHom;
using eqnn::HomSpace;
using eqnn::RepPtr;
using eqnn::testing::group;

namespace {

double rel(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
}

// `copies` regular copies whose coordinates are shuffled (a permutation representation still).
RepPtr shuffled(const eqnn::GroupPtr& g, int copies, uint64_t seed) {
  RepPtr rep = eqnn::parse_rep(g, std::to_string(copies) + "x regular");
  std::vector<int> order(static_cast<size_t>(rep->size()));
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  uint64_t state = seed;
  for (size_t i = order.size(); i > 1; --i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    std::swap(order[i - 1], order[static_cast<size_t>((state >> 33) % i)]);
  }
  std::vector<eqnn::Permutation> gens;
  for (const auto& p : rep->permutation_generators()) {
    // σ ∘ π ∘ σ⁻¹ with σ(i) = order[i].
    eqnn::Permutation q(p.size());
    for (size_t i = 0; i < p.size(); ++i) q[static_cast<size_t>(order[i])] = order[static_cast<size_t>(p[i])];
    gens.push_back(q);
  }
  return eqnn::Representation::permutation(
      g, eqnn::PermutationAction{"shuffled", static_cast<int>(rep->size()), gens});
}

void expect_dense(const RepPtr& in, const RepPtr& out, const std::string& what) {
  auto hom = HomSpace::get(in, out);
  std::string why;
  auto fourier = CyclicFourierHom::get(hom, &why);
  ASSERT_TRUE(fourier) << what << ": " << why;
  EXPECT_EQ(fourier->order(), in->group().order()) << what;
  at::manual_seed(3);
  for (auto dtype : {at::kDouble, at::kFloat}) {
    const auto o = at::TensorOptions().dtype(dtype);
    const double tol = dtype == at::kDouble ? 1e-12 : 1e-5;
    at::Tensor theta = at::randn({hom->dim()}, o).requires_grad_(true);
    at::Tensor x = at::randn({7, in->size()}, o).requires_grad_(true);
    at::Tensor b = at::randn({out->size()}, o).requires_grad_(true);
    at::Tensor y = fourier->apply(theta, x, b);
    at::Tensor yd = at::addmm(b, x, hom->expand(theta).t());
    ASSERT_EQ(y.sizes(), yd.sizes()) << what;
    EXPECT_LT(rel(y, yd), tol) << what << " " << c10::toString(dtype);
    at::Tensor w = at::randn_like(yd);
    auto g = torch::autograd::grad({(y * w).sum()}, {theta, x, b});
    auto gd = torch::autograd::grad({(yd * w).sum()}, {theta, x, b});
    for (size_t i = 0; i < g.size(); ++i) EXPECT_LT(rel(g[i], gd[i]), tol) << what << " gradient " << i;
    // Without a bias.
    EXPECT_LT(rel(fourier->apply(theta, x), at::mm(x, hom->expand(theta).t())), tol) << what;
    // Second derivatives (the backward written in ATen operations): ∂/∂θ ⟨∂L/∂x, u⟩.
    at::Tensor u = at::randn_like(x);
    auto gx = torch::autograd::grad({(fourier->apply(theta, x, b) * w).sum()}, {x}, {}, true, true)[0];
    auto gxd =
        torch::autograd::grad({(at::addmm(b, x, hom->expand(theta).t()) * w).sum()}, {x}, {}, true, true)[0];
    auto h = torch::autograd::grad({(gx * u).sum()}, {theta})[0];
    auto hd = torch::autograd::grad({(gxd * u).sum()}, {theta})[0];
    EXPECT_LT(rel(h, hd), tol) << what << " second derivative";
  }
}

// Both kernels (AVX-512 where the machine has it, and the portable loops) on odd and even orders, with
// spectra of 1 to 33 bins (masked tails).
TEST(CyclicFourier, EqualsDense) {
  for (bool portable : {false, true}) {
    eqnn::set_cyclic_fourier_portable_kernels(portable);
    for (const char* name : {"C2", "C3", "C7", "C8", "C64"}) {
      auto g = group(name);
      const std::string what = std::string(name) + (portable ? " portable" : "");
      expect_dense(eqnn::parse_rep(g, "regular"), eqnn::parse_rep(g, "regular"), what + " 1->1");
      expect_dense(eqnn::parse_rep(g, "3x regular"), eqnn::parse_rep(g, "2x regular"), what + " 3->2");
    }
  }
  eqnn::set_cyclic_fourier_portable_kernels(false);
}

// A cyclic group whose element 1 is no generator, and coordinates in no power order: the gathers.
TEST(CyclicFourier, OtherOrders) {
  auto c6 = group("C2xC3");
  expect_dense(eqnn::parse_rep(c6, "2x regular"), eqnn::parse_rep(c6, "3x regular"), "C2xC3");
  auto c5 = group("C5");
  expect_dense(shuffled(c5, 3, 1), shuffled(c5, 2, 2), "C5 shuffled");
  expect_dense(eqnn::parse_rep(c5, "regular"), shuffled(c5, 2, 3), "C5 regular -> shuffled");
}

TEST(CyclicFourier, RefusesWithReason) {
  std::string why;
  auto d4 = group("D4");
  EXPECT_FALSE(CyclicFourierHom::get(
      HomSpace::get(eqnn::parse_rep(d4, "regular"), eqnn::parse_rep(d4, "regular")), &why));
  EXPECT_NE(why.find("not cyclic"), std::string::npos) << why;
  auto c4 = group("C4");
  auto reg = eqnn::parse_rep(c4, "regular");
  EXPECT_FALSE(CyclicFourierHom::get(HomSpace::get(reg, eqnn::parse_rep(c4, "regular + trivial")), &why));
  EXPECT_NE(why.find("not made of copies of the regular"), std::string::npos) << why;
  EXPECT_FALSE(CyclicFourierHom::get(HomSpace::get(eqnn::testing::random_basis(reg, 5), reg), &why));
  EXPECT_NE(why.find("not between permutation representations"), std::string::npos) << why;
}

// W[r, c] = factor · θ[index] for every entry, dead pairs (factor 0) included.
TEST(CyclicFourier, OrbitEntriesMatchExpansion) {
  for (const char* spec : {"C4", "D3"}) {
    auto g = group(spec);
    auto hom = HomSpace::get(eqnn::parse_rep(g, "2x regular"), eqnn::parse_rep(g, "regular + trivial"));
    ASSERT_EQ(hom->method(), HomSpace::Method::orbit);
    at::Tensor theta = at::randn({hom->dim()}, at::kDouble);
    at::Tensor W = hom->expand(theta);
    at::Tensor rows = at::arange(W.size(0), at::kLong).repeat_interleave(W.size(1));
    at::Tensor cols = at::arange(W.size(1), at::kLong).repeat({W.size(0)});
    auto [index, factor] = hom->orbit_entries(rows, cols);
    EXPECT_LT(rel((theta.index_select(0, index) * factor).view(W.sizes()), W), 1e-15) << spec;
  }
  auto c4 = group("C4");
  auto iso = HomSpace::build(eqnn::parse_rep(c4, "regular"), eqnn::parse_rep(c4, "regular"),
                             HomSpace::Method::isotypic);
  EXPECT_THROW(iso->orbit_entries(at::zeros({1}, at::kLong), at::zeros({1}, at::kLong)), c10::Error);
}

}  // namespace
