// DirectProduct(G, H, ...): pairs with componentwise product. Short name "GxH", e.g. "C2xD4".
#include <fmt/format.h>

#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

eqnn::GroupPtr product_of(const eqnn::GroupPtr& a, const eqnn::GroupPtr& b) {
  const int na = a->order(), nb = b->order();
  // Element (x, y) has index x * nb + y; generators (s, e) then (e, t).
  std::vector<std::vector<int>> table(na * nb, std::vector<int>(na * nb));
  for (int x1 = 0; x1 < na; ++x1)
    for (int y1 = 0; y1 < nb; ++y1)
      for (int x2 = 0; x2 < na; ++x2)
        for (int y2 = 0; y2 < nb; ++y2) table[x1 * nb + y1][x2 * nb + y2] = a->mul(x1, x2) * nb + b->mul(y1, y2);
  std::vector<int> gens;
  for (int s : a->generators()) gens.push_back(s * nb);
  for (int t : b->generators()) gens.push_back(t);
  auto g = eqnn::Group::from_cayley_table(a->name() + "x" + b->name(), table, gens);
  // Each factor's named actions act on the product through its own component.
  for (int f = 0; f < 2; ++f) {
    const auto& factor = f == 0 ? a : b;
    for (const auto& act : factor->actions()) {
      eqnn::PermutationAction lifted{act.name, act.num_points, {}};
      eqnn::Permutation id(act.num_points);
      for (int i = 0; i < act.num_points; ++i) id[i] = i;
      for (size_t s = 0; s < a->generators().size(); ++s) lifted.generator_images.push_back(f == 0 ? act.generator_images[s] : id);
      for (size_t t = 0; t < b->generators().size(); ++t) lifted.generator_images.push_back(f == 1 ? act.generator_images[t] : id);
      if (!g->find_action(act.name)) g->add_action(lifted);
    }
  }
  return g;
}

eqnn::GroupPtr make_product(const YAML::Node& params, const eqnn::Registry& registry) {
  eqnn::yaml::check_keys(params, {"factors"}, "DirectProduct");
  const YAML::Node factors = params["factors"];
  if (!factors || !factors.IsSequence() || factors.size() < 2)
    eqnn::yaml::fail(factors ? factors : params,
                     "DirectProduct: 'factors' must be a list of at least two groups, e.g. [C2, D4]");
  eqnn::GroupPtr g = registry.make_group(factors[0]);
  for (size_t i = 1; i < factors.size(); ++i) g = product_of(g, registry.make_group(factors[i]));
  return g;
}

void register_all(eqnn::Registrar& r) {
  // Short names "GxH" are split by the registry, which then asks for {type: DirectProduct, factors: [G, H]}.
  r.add_group_type({"DirectProduct", "factors: list of >= 2 groups (short names or mappings)", {"C2xD4", "C3xC3"},
                    make_product, [](const std::string&) { return std::optional<YAML::Node>(); }});
}

}  // namespace

EQNN_PLUGIN("product_groups", "0.1.0", register_all)
