// DirectProduct(G, H, ...): pairs with componentwise product. Short name "GxH", e.g. "C2xD4".
// The order limit is checked on the whole product before any table is built. Irreps come from the
// factors': ψ ⊗ φ is irreducible when one of them is of type R, and splits (C⊗C, C⊗H, H⊗H) by the
// small-commutant tool otherwise; the pieces are supplied and checked like any plugin's irreps.
#include <fmt/format.h>
#include <unsupported/Eigen/KroneckerProduct>

#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/group_theory/irreps.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::Matrix;

eqnn::GroupPtr product_of(const eqnn::GroupPtr& a, const eqnn::GroupPtr& b) {
  const int na = a->order(), nb = b->order();
  const std::string name = a->name() + "x" + b->name();
  eqnn::Group::check_order(int64_t(na) * nb, name);
  // Element (x, y) has index x * nb + y; generators (s, e) then (e, t).
  std::vector<std::vector<int>> table(na * nb, std::vector<int>(na * nb));
  for (int x1 = 0; x1 < na; ++x1)
    for (int y1 = 0; y1 < nb; ++y1)
      for (int x2 = 0; x2 < na; ++x2)
        for (int y2 = 0; y2 < nb; ++y2)
          table[x1 * nb + y1][x2 * nb + y2] = a->mul(x1, x2) * nb + b->mul(y1, y2);
  std::vector<int> gens;
  for (int s : a->generators()) gens.push_back(s * nb);
  for (int t : b->generators()) gens.push_back(t);
  auto g = eqnn::Group::from_cayley_table(name, table, gens);
  // Each factor's named actions act on the product through its own component.
  for (int f = 0; f < 2; ++f) {
    const auto& factor = f == 0 ? a : b;
    for (const auto& act : factor->actions()) {
      eqnn::PermutationAction lifted{act.name, act.num_points, {}};
      eqnn::Permutation id(act.num_points);
      for (int i = 0; i < act.num_points; ++i) id[i] = i;
      for (size_t s = 0; s < a->generators().size(); ++s)
        lifted.generator_images.push_back(f == 0 ? act.generator_images[s] : id);
      for (size_t t = 0; t < b->generators().size(); ++t)
        lifted.generator_images.push_back(f == 1 ? act.generator_images[t] : id);
      if (!g->find_action(act.name)) g->add_action(lifted);
    }
  }
  // Irreps: the irreducible pieces of every ψ ⊗ φ, each isomorphism class once (trivial ⊗ trivial first).
  // Different pairs (ψ, φ) never share a constituent, so repeats are looked for within a pair only.
  std::vector<std::vector<Matrix>> supplied;
  for (const auto& psi : a->irreps())
    for (const auto& phi : b->irreps()) {
      std::vector<std::vector<double>> characters;
      std::vector<Matrix> on_gens;
      const Matrix Ia = Matrix::Identity(psi.dim, psi.dim), Ib = Matrix::Identity(phi.dim, phi.dim);
      for (int s : a->generators()) on_gens.push_back(Eigen::kroneckerProduct(psi.matrices[s], Ib).eval());
      for (int t : b->generators()) on_gens.push_back(Eigen::kroneckerProduct(Ia, phi.matrices[t]).eval());
      std::vector<Matrix> pieces{Matrix::Identity(psi.dim * phi.dim, psi.dim * phi.dim)};
      if (psi.type != eqnn::IrrepType::R && phi.type != eqnn::IrrepType::R) {
        std::vector<Matrix> all(na * nb);
        for (int x = 0; x < na; ++x)
          for (int y = 0; y < nb; ++y)
            all[x * nb + y] = Eigen::kroneckerProduct(psi.matrices[x], phi.matrices[y]);
        pieces = eqnn::irreducible_subspaces(*g, all);
      }
      for (const Matrix& V : pieces) {
        std::vector<double> chi(na * nb, 0.0);
        for (int x = 0; x < na; ++x)
          for (int y = 0; y < nb; ++y) {
            // χ(x, y) restricted to V: tr(Vᵀ (ψ(x) ⊗ φ(y)) V); for an unsplit piece, χ_ψ(x) χ_φ(y).
            chi[x * nb + y] =
                pieces.size() == 1 && V.cols() == psi.dim * phi.dim
                    ? psi.character[x] * phi.character[y]
                    : (V.transpose() * Eigen::kroneckerProduct(psi.matrices[x], phi.matrices[y]).eval() * V)
                          .trace();
          }
        bool seen = false;
        for (const auto& c : characters) {
          double diff = 0;
          for (size_t e = 0; e < c.size(); ++e) diff = std::max(diff, std::abs(c[e] - chi[e]));
          seen = seen || diff < 1e-6;
        }
        if (seen) continue;
        characters.push_back(std::move(chi));
        std::vector<Matrix> mats;
        for (const auto& m : on_gens) mats.push_back(V.transpose() * m * V);
        supplied.push_back(std::move(mats));
      }
    }
  g->set_irreps(std::move(supplied));
  return g;
}

eqnn::GroupPtr make_product(const YAML::Node& params, const eqnn::Registry& registry) {
  eqnn::yaml::check_keys(params, {"factors"}, "DirectProduct");
  const YAML::Node factors = params["factors"];
  if (!factors || !factors.IsSequence() || factors.size() < 2)
    eqnn::yaml::fail(factors ? factors : params,
                     "DirectProduct: 'factors' must be a list of at least two groups, e.g. [C2, D4]");
  // Every factor first (each within the limit), then the whole product's order, before any table.
  std::vector<eqnn::GroupPtr> groups;
  long double order = 1;
  std::string name;
  for (size_t i = 0; i < factors.size(); ++i) {
    groups.push_back(registry.make_group(factors[i]));
    order *= groups.back()->order();
    name += (i ? "x" : "") + groups.back()->name();
  }
  std::string text = std::to_string(groups[0]->order());
  for (size_t i = 1; i < groups.size(); ++i) text += fmt::format("·{}", groups[i]->order());
  if (order <= 9.2e18L) text += fmt::format(" = {}", static_cast<long long>(order));
  eqnn::group_helpers::check_family_order(factors, name, order, text);
  eqnn::GroupPtr g = groups[0];
  for (size_t i = 1; i < groups.size(); ++i) g = product_of(g, groups[i]);
  return g;
}

void register_all(eqnn::Registrar& r) {
  // Short names "GxH" are split by the registry, which then asks for {type: DirectProduct, factors: [G, H]}.
  r.add_group_type({"DirectProduct",
                    "factors: list of >= 2 groups (short names or mappings)",
                    {"C2xD4", "C3xC3"},
                    make_product,
                    [](const std::string&) { return std::optional<YAML::Node>(); }});
}

}  // namespace

EQNN_PLUGIN("product_groups", "0.1.0", register_all)
