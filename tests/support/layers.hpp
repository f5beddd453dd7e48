// Test-only helpers for layer and constraint tests: layers built through the real registry, the groups
// and representation kinds the layer tests sweep (regular stacks, the same in a random basis, sums of
// irreps, permutation actions), random parameters, stock initialisation variances and gradient checks.
#pragma once

#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/nn/init.h>
#include <torch/nn/module.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/nn/layer.hpp"
#include "equivariance.hpp"
#include "support.hpp"

namespace eqnn::testing {

/// The layer `type` built by the real registry on `in`, with keyword arguments `kwargs` (YAML) and
/// representation strings resolved in `in`'s group.
inline LayerPtr make_layer(const std::string& type, const RepPtr& in, const std::string& kwargs = "{}") {
  LayerArgs a;
  a.group = in->group_ptr();
  a.in_rep = in;
  a.kwargs = YAML::Load(kwargs);
  a.registry = &registry();
  a.resolve_rep = [g = in->group_ptr()](const YAML::Node& n) { return parse_rep(g, n.as<std::string>()); };
  return registry().get_layer(type)(a);
}

/// A direct sum of irreps (Q = I) of exactly `size` coordinates: the non-trivial irreps in turn while they
/// fit, the rest trivial copies. E.g. Ico, 60: "irrep(1) + irrep(2) + irrep(3) + irrep(4) + ...".
inline RepPtr irrep_sum(const GroupPtr& g, int size) {
  const auto& irreps = g->irreps();
  std::vector<RepPtr> parts;
  int used = 0;
  bool added = true;
  while (added) {
    added = false;
    for (size_t k = 1; k < irreps.size(); ++k)
      if (used + irreps[k].dim <= size) {
        parts.push_back(Representation::irrep(g, static_cast<int>(k)));
        used += irreps[k].dim;
        added = true;
      }
  }
  if (used < size) parts.push_back(Representation::trivial(g, size - used));
  return Representation::direct_sum(parts);
}

/// The representation kinds the layer tests sweep, each of `copies`·|G| coordinates:
/// "regular" (copies x regular), "rotated" (the same in a random basis), "irreps" (a sum of irreps),
/// "permutation" (copies·|G| / |action| copies of the group's first named action; empty if none fits).
inline RepPtr make_kind(const GroupPtr& g, const std::string& kind, int copies, uint64_t seed = 7) {
  const int n = g->order();
  if (kind == "regular") return parse_rep(g, fmt::format("{}x regular", copies));
  if (kind == "rotated") return random_basis(parse_rep(g, fmt::format("{}x regular", copies)), seed);
  if (kind == "irreps") return irrep_sum(g, copies * n);
  if (kind == "permutation") {
    for (const auto& action : g->actions())
      if ((copies * n) % action.num_points == 0)
        return parse_rep(g, fmt::format("{}x permutation({})", copies * n / action.num_points, action.name));
    return nullptr;
  }
  throw std::invalid_argument("make_kind: unknown kind " + kind);
}

/// The groups the layer tests sweep (registry specs) and a short label for test names.
struct GroupCase {
  std::string label;
  std::string spec;
};
/// What gtest prints for the parameter (ctest's test list shows it): the label, not the object's bytes.
inline void PrintTo(const GroupCase& c, std::ostream* os) { *os << c.label; }
inline std::vector<GroupCase> test_groups() {
  return {{"C5", "C5"}, {"D4", "D4"}, {"Ico", "Ico"}, {"C2xD4", "C2xD4"}, {"Q8", kQ8}};
}

inline std::vector<std::string> test_kinds() { return {"regular", "rotated", "irreps", "permutation"}; }

/// Representations to test for a group, with labels: a regular stack, a permutation rep in a random
/// orthogonal basis, a sum of irreps (every irrep, the last twice), and a permutation action (+ trivial).
inline std::vector<std::pair<std::string, RepPtr>> mixed_reps(const GroupPtr& g) {
  std::vector<std::pair<std::string, RepPtr>> reps;
  reps.emplace_back("2x regular", parse_rep(g, "2x regular"));
  RepPtr rt = parse_rep(g, "regular + trivial");
  reps.emplace_back("random basis", random_basis(rt, 7));
  std::vector<RepPtr> irreps;
  const int n = static_cast<int>(g->irreps().size());
  for (int k = 0; k < n; ++k) irreps.push_back(Representation::irrep(g, k));
  irreps.push_back(Representation::irrep(g, n - 1));
  reps.emplace_back("irreps", Representation::direct_sum(irreps));
  const std::string perm = g->actions().empty() ? "regular + 2x trivial"
                                                : "permutation(" + g->actions().front().name + ") + trivial";
  reps.emplace_back(perm, parse_rep(g, perm));
  return reps;
}

/// Every parameter of `m` drawn from N(0, stddev²) with a seeded generator, so affine maps are generic
/// elements of their constrained spaces (not the identity) and biases generic invariant vectors.
inline void randomise(torch::nn::Module& m, uint64_t seed, double stddev = 1.0) {
  at::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  for (auto& p : m.parameters()) p.copy_(at::normal(0, stddev, p.sizes(), gen, p.options()));
}

/// Copies every parameter of `from` into the parameter of the same name of `to` (e.g. a layer built
/// directly and its registry twin), expecting the same names in the same order and the same shapes.
inline void copy_parameters(const torch::nn::Module& from, torch::nn::Module& to, const std::string& what) {
  at::NoGradGuard no_grad;
  const auto source = from.named_parameters();
  auto target = to.named_parameters();
  EXPECT_EQ(source.keys(), target.keys()) << what;
  for (const auto& p : source) {
    at::Tensor* t = target.find(p.key());
    if (!t) continue;
    ASSERT_EQ(t->sizes(), p.value().sizes()) << what << " " << p.key();
    t->copy_(p.value());
  }
}

/// The mean square of a dense (rows, cols) weight initialised by the stock torch::nn::init scheme.
inline double dense_mean_square(InitScheme scheme, int64_t rows, int64_t cols) {
  at::Tensor w = at::empty({rows, cols}, at::kDouble);
  switch (scheme) {
    case InitScheme::stock:  // torch.nn.Linear's weight
      torch::nn::init::kaiming_uniform_(w, std::sqrt(5.0));
      break;
    case InitScheme::xavier_normal:
      torch::nn::init::xavier_normal_(w);
      break;
    case InitScheme::xavier_uniform:
      torch::nn::init::xavier_uniform_(w);
      break;
    case InitScheme::kaiming_normal:
      torch::nn::init::kaiming_normal_(w);
      break;
    case InitScheme::kaiming_uniform:
      torch::nn::init::kaiming_uniform_(w);
      break;
    case InitScheme::zeros:
      w.zero_();
      break;
  }
  return w.pow(2).mean().item<double>();
}

/// Central finite differences of loss() w.r.t. every entry of t, against autograd.
inline void expect_gradient_matches(const std::function<at::Tensor()>& loss, at::Tensor t,
                                    const std::string& what) {
  if (t.grad().defined()) t.mutable_grad().zero_();
  loss().backward();
  at::Tensor analytic = t.grad().clone();
  at::Tensor numeric = at::zeros_like(t);
  const double eps = 1e-6;
  at::NoGradGuard no_grad;
  auto flat = t.view(-1);
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double v = flat[i].item<double>();
    flat[i].fill_(v + eps);
    const double up = loss().item<double>();
    flat[i].fill_(v - eps);
    const double down = loss().item<double>();
    flat[i].fill_(v);
    numeric.view(-1)[i].fill_((up - down) / (2 * eps));
  }
  EXPECT_TRUE(at::allclose(analytic, numeric, 1e-6, 1e-7)) << what << "\n"
                                                           << (analytic - numeric).abs().max();
}

/// The irreducible copy of each column of rep.Q() (copies in rep.irreps() order, each d_k columns): expands
/// per-copy scales to per-coordinate ones. The tests' own bookkeeping, independent of eqnn's IrrepCopies.
inline at::Tensor copy_of_column(const Representation& rep) {
  std::vector<int64_t> idx;
  int64_t copy = 0;
  for (int k : rep.irreps()) {
    for (int c = 0; c < rep.group().irreps()[static_cast<size_t>(k)].dim; ++c) idx.push_back(copy);
    ++copy;
  }
  return at::tensor(idx, at::TensorOptions().dtype(at::kLong));
}

}  // namespace eqnn::testing
