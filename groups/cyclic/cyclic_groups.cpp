// CyclicGroup(n): rotations of the plane by multiples of 2π/n. Short name "C<n>". Element k is the
// rotation by k steps; the real irreps are supplied in closed form (no numerics).
#include <cmath>

#include <fmt/format.h>

#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::Matrix;

eqnn::GroupPtr make_cyclic(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"n"}, "CyclicGroup");
  const int64_t n64 = eqnn::yaml::get_int(params, "n", std::nullopt, 1);
  eqnn::group_helpers::check_family_order(params["n"], fmt::format("CyclicGroup(n: {})", n64), n64,
                                          std::to_string(n64));
  const int n = static_cast<int>(n64);
  std::vector<std::vector<int>> table(n, std::vector<int>(n));
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) table[a][b] = (a + b) % n;
  auto g = eqnn::Group::from_cayley_table("C" + std::to_string(n), std::move(table), {n > 1 ? 1 : 0});
  g->set_standard({eqnn::group_helpers::rotation2d(2 * M_PI / n)});
  eqnn::Permutation shift(n);
  for (int i = 0; i < n; ++i) shift[i] = (i + 1) % n;
  g->add_action({"vertices", n, {shift}});
  // Real irreps on the generator r: trivial; the sign r ↦ -1 when n is even; r ↦ rotation by 2πj/n for
  // 1 <= j < n/2 (type C: the rotation by π/2 commutes with it and squares to -I).
  std::vector<std::vector<Matrix>> irreps{{Matrix::Identity(1, 1)}};
  if (n % 2 == 0) irreps.push_back({-Matrix::Identity(1, 1)});
  for (int j = 1; 2 * j < n; ++j) irreps.push_back({eqnn::group_helpers::rotation2d(2 * M_PI * j / n)});
  g->set_irreps(std::move(irreps));
  return g;
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"CyclicGroup",
                    "n: integer >= 1 (order n)",
                    {"C1", "C8"},
                    make_cyclic,
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
