// Compact groups (DESIGN §10): a group that cannot be enumerated, given by closed forms on its elements.
// An element is its defining orthogonal matrix (2×2 for SO(2)/O(2), 3×3 for SO(3)/O(3)); composition is the
// matrix product and the inverse the transpose. A plugin implements CompactGroupDefinition and wraps it with
// Group::from_compact(definition, band_limit): the group's irreps() are then the irreps of band at most
// band_limit, in the definition's order, and everything that needs only a representation's decomposition
// (Hom spaces on the isotypic path, invariant vectors, norms, attention) works as for a finite group. What
// needs the Cayley table (order(), element indices, permutation representations) throws a GroupError
// that names the group as compact.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

/// One irrep of a compact group as its definition describes it.
struct CompactIrrep {
  std::string name;  ///< how rep strings spell it, e.g. "irrep(1, -1)"
  int dim = 0;
  IrrepType type = IrrepType::R;
  int band = 0;  ///< frequency (SO(2), O(2)) or degree (SO(3), O(3)); regular(L) holds the bands <= L
  /// Frobenius-orthogonal basis of End_G(ψ), the identity first, each ‖E‖²_F = dim.
  std::vector<Matrix> endomorphism_basis;
};

/// What a compact group plugin implements (about a hundred lines for SO(3); see groups/compact/).
class CompactGroupDefinition {
 public:
  virtual ~CompactGroupDefinition() = default;
  /// Short name ("SO3").
  virtual std::string name() const = 0;
  /// n for n×n defining matrices.
  virtual int defining_dim() const = 0;
  /// The number of irreps of band at most L; they are the first ones in index order.
  virtual int num_irreps(int band_limit) const = 0;
  virtual CompactIrrep irrep(int k) const = 0;
  /// ψ_k(g) for an element given by its defining matrix (assumed to be an element: see distance()).
  virtual Matrix irrep_matrix(int k, const Matrix& g) const = 0;
  /// The index of the irrep spelled by the arguments of irrep(...), e.g. {"1", "-1"}; throws GroupError
  /// with a message saying the spelling when they name none.
  virtual int irrep_index(const std::vector<std::string>& args) const = 0;
  /// An element drawn from the Haar measure.
  virtual Matrix sample(std::mt19937_64& rng) const = 0;
  /// A basis of the Lie algebra (antisymmetric n×n matrices): exp(t X) are elements near the identity.
  virtual std::vector<Matrix> lie_algebra_basis() const = 0;
  /// How far a matrix is from being an element (0 for an element): max|MᵀM − I| plus the determinant's
  /// distance from the allowed ones.
  virtual double distance_from_group(const Matrix& m) const = 0;
  /// The defining representation ("standard") as (irreps, Q): g = Q (⊕ ψ_k(g)) Qᵀ.
  virtual std::pair<std::vector<int>, Matrix> standard() const = 0;
  /// The Clebsch–Gordan decomposition of ψ_a ⊗ ψ_b as (irreps, Q): ψ_a(g) ⊗ ψ_b(g) = Q (⊕ ψ_c(g)) Qᵀ with Q
  /// orthogonal, coordinate i·d_b + j of the product holding e_i ⊗ e_j. Irreps beyond any band limit may
  /// appear (the caller refuses them). The default throws GroupError: the group defines no tensor products.
  virtual std::pair<std::vector<int>, Matrix> tensor_product(int a, int b) const;
  /// The irreps of band at most L in the functions on the quotient space G/H, H the closed subgroup
  /// `subgroup` spells (e.g. "SO2" in SO3: the sphere; "C4" in SO2), each as often as ψ_k holds H-invariant
  /// vectors (counted per dim/S, as regular(L) counts): the rep string quotient(H, L), whose Q is the
  /// identity (real spherical harmonics of degree 0..L for SO3/SO2). The default throws GroupError: the
  /// group defines no quotient spaces. An unknown `subgroup` is a GroupError that says the spelling.
  virtual std::vector<int> quotient(const std::string& subgroup, int band_limit) const;
  /// n elements spread over the group, on which eFourierPointwise samples band-limited functions (the more
  /// uniform, the smaller its equivariance error). The default: n Haar-random elements from a fixed seed.
  virtual std::vector<Matrix> grid(int n) const;
};

namespace compact {

/// Rotation of the plane by θ.
Matrix rotation2d(double theta);
/// exp of an antisymmetric matrix (Padé, scaling and squaring; eqnn's one use of Eigen's MatrixFunctions).
Matrix expm(const Matrix& a);
/// Axis and angle of a 3×3 rotation: R = exp(θ [n]×), θ in [0, π], ‖n‖ = 1 (any axis when θ = 0). Robust
/// near θ = π (the axis from the symmetric part).
std::pair<Eigen::Vector3d, double> axis_angle(const Matrix& R);
/// A Haar-random 3×3 rotation (a uniform unit quaternion).
Matrix haar_rotation3d(std::mt19937_64& rng);
/// n rotations spread evenly over SO(3): the super-Fibonacci spiral of unit quaternions (Alexa, CVPR 2022).
std::vector<Matrix> rotation_grid3d(int n);
/// The real generators of SO(3)'s irrep of degree l: three antisymmetric (2l+1)² matrices A_x, A_y, A_z with
/// [A_x, A_y] = A_z (and cyclic), in the real spherical-harmonic basis m = -l..l. For l = 1 they act on
/// (y, z, x). Cached per l; thread-safe.
const std::vector<Matrix>& so3_generators(int l);
/// SO(3)'s real Clebsch–Gordan coefficients in the basis of so3_generators: the (2l1+1)(2l2+1) × (2l3+1)
/// isometry C with (D^{l1}(R) ⊗ D^{l2}(R)) C = C D^{l3}(R), for |l1 − l2| <= l3 <= l1 + l2 (Racah's formula
/// in the complex basis, carried to the real one; each column block's sign makes its largest entry positive).
/// Cached; thread-safe. Throws GroupError for a triple that does not couple.
const Matrix& so3_clebsch_gordan(int l1, int l2, int l3);
/// The real Wigner-D matrix of degree l, exp(θ Σ n_i A_i) with (n, θ) the axis and angle of R, computed
/// without the exponential: R itself on (y, z, x) at degree 1, then D^k = Cᵀ (D^{k−1} ⊗ D¹) C with C =
/// so3_clebsch_gordan(k − 1, 1, k) over C's nonzero entries (O(l³) in all, exact to rounding).
Matrix wigner_d(int l, const Matrix& R);
/// The elements an equivariance check uses on a compact group: `haar` Haar-random ones drawn with `seed`,
/// then exp(±t X) for every Lie algebra basis element X and t in {1e-2, 1e-5}.
std::vector<Matrix> check_elements(const CompactGroupDefinition& group, int haar, uint64_t seed);

}  // namespace compact
}  // namespace eqnn
