// Helpers for group plugins.
#include "eqnn/group_helpers.hpp"

#include <cctype>
#include <cmath>

#include <fmt/format.h>

#include "eqnn/error.hpp"

namespace eqnn::group_helpers {

std::optional<int> parse_prefixed_int(const std::string& name, const std::string& prefix) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  std::string digits = name.substr(prefix.size());
  if (digits.size() > 6 || digits[0] == '0') return std::nullopt;
  for (char c : digits)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  return std::stoi(digits);
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
    if (p[i] < 0) throw GroupError(fmt::format("the matrix does not permute the point set (point {} leaves it)", i));
  }
  return p;
}

}  // namespace eqnn::group_helpers
