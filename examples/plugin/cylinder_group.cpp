// CylinderGroup: SO(2) × C2 acting on space, short name "SO2xC2", as an out-of-tree compact group plugin: the
// rotations about the z axis and the mirror through the xy plane (a cylinder's symmetries that keep its
// axis). An element is its 3×3 matrix diag(rot(θ), s), s = ±1. Irrep 2k + j (j = 0, 1) is SO(2)'s irrep of
// frequency k times s^j: 1-dimensional for k = 0, the rotation by kθ (complex type) for k >= 1.
#include <cmath>
#include <string>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::Matrix;

class Cylinder : public eqnn::CompactGroupDefinition {
 public:
  std::string name() const override { return "SO2xC2"; }
  int defining_dim() const override { return 3; }
  int num_irreps(int L) const override { return 2 * (L + 1); }
  eqnn::CompactIrrep irrep(int k) const override {
    const std::string name = "irrep(" + std::to_string(k / 2) + ", " + std::to_string(k % 2) + ")";
    if (k < 2) return {name, 1, eqnn::IrrepType::R, 0, {Matrix::Identity(1, 1)}};
    return {
        name, 2, eqnn::IrrepType::C, k / 2, {Matrix::Identity(2, 2), eqnn::compact::rotation2d(M_PI / 2)}};
  }
  Matrix irrep_matrix(int k, const Matrix& g) const override {
    const double sign = k % 2 ? g(2, 2) : 1.0;
    if (k < 2) return Matrix::Constant(1, 1, sign);
    return sign * eqnn::compact::rotation2d(k / 2 * std::atan2(g(1, 0), g(0, 0)));
  }
  int irrep_index(const std::vector<std::string>& a) const override {
    if (a.size() != 2 || (a[1] != "0" && a[1] != "1") || a[0].empty() ||
        a[0].find_first_not_of("0123456789") != std::string::npos)
      throw eqnn::GroupError("SO2xC2's irreps are irrep(k, j): frequency k >= 0, mirror sign j = 0 or 1");
    return 2 * std::stoi(a[0]) + (a[1] == "1");
  }
  Matrix sample(std::mt19937_64& rng) const override {
    Matrix g = Matrix::Zero(3, 3);
    g.topLeftCorner(2, 2) =
        eqnn::compact::rotation2d(std::uniform_real_distribution<double>(-M_PI, M_PI)(rng));
    g(2, 2) = std::bernoulli_distribution(0.5)(rng) ? -1 : 1;
    return g;
  }
  std::vector<Matrix> lie_algebra_basis() const override {
    Matrix x = Matrix::Zero(3, 3);
    x(1, 0) = 1;
    x(0, 1) = -1;
    return {x};
  }
  double distance_from_group(const Matrix& m) const override {
    Matrix r = m;
    r.topLeftCorner(2, 2) -= eqnn::compact::rotation2d(std::atan2(m(1, 0), m(0, 0)));
    r(2, 2) = std::abs(m(2, 2)) - 1;
    return r.cwiseAbs().maxCoeff();
  }
  // (x, y) carry the frequency-1 irrep, z the mirror sign.
  std::pair<std::vector<int>, Matrix> standard() const override { return {{2, 1}, Matrix::Identity(3, 3)}; }
};

void register_all(eqnn::Registrar& r) {
  r.add_group_type(
      {"CylinderGroup",
       "band_limit: integer >= 1 (default 16)",
       {"SO2xC2"},
       [](const YAML::Node& params, const eqnn::Registry&) {
         eqnn::yaml::check_keys(params, {"band_limit"}, "CylinderGroup");
         const auto L = eqnn::yaml::get_int(params, "band_limit", 16, 1, eqnn::Group::kMaxBandLimit);
         return eqnn::GroupPtr(eqnn::Group::from_compact(std::make_shared<Cylinder>(), static_cast<int>(L)));
       },
       [](const std::string& s) -> std::optional<YAML::Node> {
         if (s != "SO2xC2") return std::nullopt;
         return YAML::Node(YAML::NodeType::Map);
       }});
}

}  // namespace

EQNN_PLUGIN("cylinder_group", "1.0.0", register_all)
