// DihedralGroup(n): the symmetries of the regular n-gon, order 2n. Short name "D<n>". Element k + n·e
// is r^k s^e (r the rotation by 2π/n, s the reflection); the real irreps are supplied in closed form.
#include <cmath>

#include <fmt/format.h>

#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::Matrix;

eqnn::GroupPtr make_dihedral(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"n"}, "DihedralGroup");
  const int64_t n64 = eqnn::yaml::get_int(params, "n", std::nullopt, 1);
  eqnn::group_helpers::check_family_order(params["n"], fmt::format("DihedralGroup(n: {})", n64),
                                          2.0L * static_cast<long double>(n64), fmt::format("2·{}", n64));
  const int n = static_cast<int>(n64);
  // (r^a s^e)(r^b s^f) = r^(a + (-1)^e b) s^(e + f).
  std::vector<std::vector<int>> table(2 * n, std::vector<int>(2 * n));
  for (int e = 0; e < 2; ++e)
    for (int a = 0; a < n; ++a)
      for (int f = 0; f < 2; ++f)
        for (int b = 0; b < n; ++b) {
          const int k = ((e == 0 ? a + b : a - b) % n + n) % n;
          table[a + n * e][b + n * f] = k + n * ((e + f) % 2);
        }
  auto g = eqnn::Group::from_cayley_table("D" + std::to_string(n), std::move(table), {n > 1 ? 1 : 0, n});
  Matrix flip(2, 2);
  flip << 1, 0, 0, -1;
  g->set_standard({eqnn::group_helpers::rotation2d(2 * M_PI / n), flip});
  eqnn::Permutation rot(n), ref(n);
  for (int i = 0; i < n; ++i) {
    rot[i] = (i + 1) % n;
    ref[i] = (n - i) % n;
  }
  g->add_action({"vertices", n, {rot, ref}});
  // Real irreps on (r, s): (1, 1), (1, -1); for even n also (-1, 1), (-1, -1); and for 1 <= j < n/2
  // (rotation by 2πj/n, flip), all of type R.
  const Matrix one = Matrix::Identity(1, 1);
  std::vector<std::vector<Matrix>> irreps{{one, one}, {one, -one}};
  if (n % 2 == 0) {
    irreps.push_back({-one, one});
    irreps.push_back({-one, -one});
  }
  for (int j = 1; 2 * j < n; ++j) irreps.push_back({eqnn::group_helpers::rotation2d(2 * M_PI * j / n), flip});
  g->set_irreps(std::move(irreps));
  return g;
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"DihedralGroup",
                    "n: integer >= 1 (order 2n)",
                    {"D1", "D4"},
                    make_dihedral,
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
