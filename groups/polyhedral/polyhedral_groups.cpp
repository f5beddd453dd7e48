// Rotation groups of the Platonic solids as 3-D matrices: Icosahedral (order 60), Octahedral (order 24).
// Named actions: "standard" (the 3-D rotations) and "vertices" (of the icosahedron / octahedron).
#include <cmath>

#include <Eigen/Eigenvalues>

#include "eqnn/group_theory/group_helpers.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::Matrix;

Matrix cyclic_axes() {  // (x, y, z) → (z, x, y), order 3
  Matrix m(3, 3);
  m << 0, 0, 1, 1, 0, 0, 0, 1, 0;
  return m;
}

void add_vertex_action(eqnn::Group& g, const std::vector<Matrix>& gens,
                       const std::vector<Eigen::VectorXd>& pts) {
  std::vector<eqnn::Permutation> images;
  for (const auto& m : gens) images.push_back(eqnn::group_helpers::permutation_of_points(m, pts));
  g.add_action({"vertices", static_cast<int>(pts.size()), images});
}

eqnn::GroupPtr make_icosahedral(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {}, "Icosahedral");
  const double phi = (1 + std::sqrt(5.0)) / 2;
  Matrix five(3, 3);  // rotation of order 5 about a vertex axis
  five << 1, -phi, 1 / phi, phi, 1 / phi, -1, 1 / phi, 1, phi;
  five *= 0.5;
  std::vector<Matrix> gens{five, cyclic_axes()};
  auto g = eqnn::Group::from_generator_matrices("Ico", gens);
  // The 12 vertices: the orbit of the axis of the order-5 rotation (its fixed unit vector).
  Eigen::SelfAdjointEigenSolver<Matrix> es(five + five.transpose());
  Eigen::VectorXd axis = es.eigenvectors().col(2);  // eigenvalue 2 = the rotation axis
  add_vertex_action(*g, gens, eqnn::group_helpers::orbit_of_point(gens, axis));
  return g;
}

eqnn::GroupPtr make_octahedral(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {}, "Octahedral");
  Matrix quarter(3, 3);  // rotation by π/2 about z
  quarter << 0, -1, 0, 1, 0, 0, 0, 0, 1;
  std::vector<Matrix> gens{quarter, cyclic_axes()};
  auto g = eqnn::Group::from_generator_matrices("Octa", gens);
  std::vector<Eigen::VectorXd> pts;  // the 6 vertices ±e_i
  for (int c = 0; c < 3; ++c)
    for (double s : {1.0, -1.0}) {
      Eigen::VectorXd v = Eigen::VectorXd::Zero(3);
      v[c] = s;
      pts.push_back(v);
    }
  add_vertex_action(*g, gens, pts);
  return g;
}

std::function<std::optional<YAML::Node>(const std::string&)> exact(std::string name) {
  return [name](const std::string& s) -> std::optional<YAML::Node> {
    if (s != name) return std::nullopt;
    return YAML::Node(YAML::NodeType::Map);
  };
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"Icosahedral",
                    "(none) rotations of the icosahedron, order 60",
                    {"Ico"},
                    make_icosahedral,
                    exact("Ico")});
  r.add_group_type(
      {"Octahedral", "(none) rotations of the cube, order 24", {"Octa"}, make_octahedral, exact("Octa")});
}

}  // namespace

EQNN_PLUGIN("polyhedral_groups", "0.1.0", register_all)
