// Helpers for group plugins.
#include "eqnn/group_theory/group_helpers.hpp"

#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace eqnn::group_helpers {

std::optional<int64_t> parse_prefixed_int(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string digits = name.substr(prefix.size());
  if (digits.size() > 18 || digits[0] == '0') return std::nullopt;
  int64_t v = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + (c - '0');  // at most 18 digits: no overflow
  }
  return v;
}

void check_family_order(const YAML::Node& node, const std::string& group, long double order,
                        const std::string& order_text) {
  const int64_t limit = Group::max_order();
  if (order <= static_cast<long double>(limit)) return;
  yaml::fail(node, fmt::format(
                       "{} would have order {}, more than the limit {} on group orders (refused before "
                       "anything of size |G| or |G|² was allocated); use a smaller group, or raise the limit "
                       "with the environment variable EQNN_MAX_GROUP_ORDER",
                       group, order_text, limit));
}

Matrix rotation2d(double theta) {
  Matrix m(2, 2);
  m << std::cos(theta), -std::sin(theta), std::sin(theta), std::cos(theta);
  return m;
}

std::vector<Eigen::VectorXd> orbit_of_point(const std::vector<Matrix>& gens, const Eigen::VectorXd& v) {
  std::vector<Eigen::VectorXd> orbit{v};
  for (size_t head = 0; head < orbit.size(); ++head)
    for (const auto& g : gens) {
      Eigen::VectorXd w = g * orbit[head];
      bool seen = false;
      for (const auto& u : orbit) seen = seen || (u - w).norm() < 1e-9;
      if (!seen) orbit.push_back(w);
      if (orbit.size() > 100000) throw GroupError("orbit_of_point: the orbit does not close");
    }
  return orbit;
}

Permutation permutation_of_points(const Matrix& M, const std::vector<Eigen::VectorXd>& points) {
  Permutation p(points.size(), -1);
  for (size_t i = 0; i < points.size(); ++i) {
    Eigen::VectorXd y = M * points[i];
    for (size_t j = 0; j < points.size(); ++j)
      if ((y - points[j]).norm() < 1e-9) p[i] = static_cast<int>(j);
    if (p[i] < 0)
      throw GroupError(fmt::format("the matrix does not permute the point set (point {} leaves it)", i));
  }
  return p;
}

}  // namespace eqnn::group_helpers
