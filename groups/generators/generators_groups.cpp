// FiniteGroup: any finite group given in YAML by generator permutations (p[i] = image of point i) or
// by orthogonal generator matrices. Its defining action is permutation(points) or standard.
#include <fmt/format.h>

#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

eqnn::GroupPtr make_finite(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {"generators", "name", "max_order"}, "FiniteGroup");
  const YAML::Node gens = params["generators"];
  if (!gens || !gens.IsSequence() || gens.size() == 0)
    eqnn::yaml::fail(
        gens ? gens : params,
        "FiniteGroup: 'generators' must be a non-empty list of permutations like [1, 2, 0] or of "
        "orthogonal matrices like [[0, -1], [1, 0]]");
  const std::string name = eqnn::yaml::get_string(params, "name", std::string("FiniteGroup"));
  const int64_t limit = eqnn::Group::max_order();
  const int64_t max_order = eqnn::yaml::get_int(params, "max_order", limit, 1);
  if (max_order > limit)
    eqnn::yaml::fail(
        params["max_order"],
        fmt::format("FiniteGroup: max_order {} is above the limit {} on group orders; raise the limit with "
                    "the environment variable EQNN_MAX_GROUP_ORDER",
                    max_order, limit));
  const bool matrices = gens[0].IsSequence() && gens[0].size() > 0 && gens[0][0].IsSequence();
  try {
    if (!matrices) {
      std::vector<eqnn::Permutation> perms;
      for (const auto& g : gens) {
        if (!g.IsSequence())
          eqnn::yaml::fail(
              g, fmt::format("FiniteGroup: a generator must be a list, found {}", eqnn::yaml::describe(g)));
        eqnn::Permutation p;
        for (const auto& x : g) {
          int v = 0;
          if (!x.IsScalar() || !YAML::convert<int>::decode(x, v))
            eqnn::yaml::fail(x, fmt::format("FiniteGroup: permutation entries must be integers, found {}",
                                            eqnn::yaml::describe(x)));
          p.push_back(v);
        }
        perms.push_back(std::move(p));
      }
      return eqnn::Group::from_generator_permutations(name, perms, max_order);
    }
    std::vector<eqnn::Matrix> mats;
    for (const auto& g : gens) {
      if (!g.IsSequence() || g.size() == 0)
        eqnn::yaml::fail(g, "FiniteGroup: a generator matrix must be a non-empty list of rows");
      const auto n = static_cast<Eigen::Index>(g.size());
      eqnn::Matrix m(n, n);
      for (Eigen::Index i = 0; i < n; ++i) {
        const YAML::Node row = g[static_cast<size_t>(i)];
        if (!row.IsSequence() || static_cast<Eigen::Index>(row.size()) != n)
          eqnn::yaml::fail(row,
                           fmt::format("FiniteGroup: generator matrix rows must be lists of {} numbers (the "
                                       "matrix must be square)",
                                       n));
        for (Eigen::Index j = 0; j < n; ++j) {
          double v = 0;
          if (!YAML::convert<double>::decode(row[static_cast<size_t>(j)], v))
            eqnn::yaml::fail(row[static_cast<size_t>(j)], "FiniteGroup: matrix entries must be numbers");
          m(i, j) = v;
        }
      }
      mats.push_back(std::move(m));
    }
    return eqnn::Group::from_generator_matrices(name, mats, max_order);
  } catch (const eqnn::GroupError& e) {
    eqnn::yaml::fail(gens, fmt::format("FiniteGroup: {}", e.what()));
  }
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type(
      {"FiniteGroup",
       "generators: list of permutations [[1, 2, 0], ...] or orthogonal matrices [[[0, -1], [1, 0]], ...]; "
       "name: string (optional); max_order: integer (default and at most the limit EQNN_MAX_GROUP_ORDER, "
       "5000)",
       {},
       make_finite,
       [](const std::string&) { return std::optional<YAML::Node>(); }});
}

}  // namespace

EQNN_PLUGIN("generators_groups", "0.1.0", register_all)
