// DihedralGroup(n): the symmetries of the regular n-gon, order 2n. Short name "D<n>".
#include <cmath>

#include "eqnn/group_helpers.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

eqnn::GroupPtr make_dihedral(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"n"}, "DihedralGroup");
  const int n = static_cast<int>(eqnn::yaml::get_int(params, "n", std::nullopt, 1));
  eqnn::Matrix flip(2, 2);
  flip << 1, 0, 0, -1;
  // 2-D rotation and reflection: faithful for every n (the vertex action is not for n <= 2).
  auto g = eqnn::Group::from_generator_matrices("D" + std::to_string(n),
                                                {eqnn::group_helpers::rotation2d(2 * M_PI / n), flip});
  eqnn::Permutation rot(n), ref(n);
  for (int i = 0; i < n; ++i) {
    rot[i] = (i + 1) % n;
    ref[i] = (n - i) % n;
  }
  g->add_action({"vertices", n, {rot, ref}});
  return g;
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"DihedralGroup", "n: integer >= 1 (order 2n)", {"D1", "D4"}, make_dihedral,
                    [](const std::string& s) -> std::optional<YAML::Node> {
                      auto n = eqnn::group_helpers::parse_prefixed_int(s, "D");
                      if (!n) return std::nullopt;
                      YAML::Node p;
                      p["n"] = *n;
                      return p;
                    }});
}

}  // namespace

EQNN_PLUGIN("dihedral_groups", "0.1.0", register_all)
