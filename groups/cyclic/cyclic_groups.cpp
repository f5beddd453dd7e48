// CyclicGroup(n): rotations of the plane by multiples of 2π/n. Short name "C<n>".
#include <cmath>

#include "eqnn/group_helpers.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

eqnn::GroupPtr make_cyclic(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"n"}, "CyclicGroup");
  const int n = static_cast<int>(eqnn::yaml::get_int(params, "n", std::nullopt, 1));
  // Built from the 2-D rotation (faithful for every n); the n-gon's vertices are a named action.
  auto g = eqnn::Group::from_generator_matrices("C" + std::to_string(n),
                                                {eqnn::group_helpers::rotation2d(2 * M_PI / n)});
  eqnn::Permutation shift(n);
  for (int i = 0; i < n; ++i) shift[i] = (i + 1) % n;
  g->add_action({"vertices", n, {shift}});
  return g;
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"CyclicGroup", "n: integer >= 1 (order n)", {"C1", "C8"}, make_cyclic,
                    [](const std::string& s) -> std::optional<YAML::Node> {
                      auto n = eqnn::group_helpers::parse_prefixed_int(s, "C");
                      if (!n) return std::nullopt;
                      YAML::Node p;
                      p["n"] = *n;
                      return p;
                    }});
}

}  // namespace

EQNN_PLUGIN("cyclic_groups", "0.1.0", register_all)
