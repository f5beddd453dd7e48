// Fingerprints of the bases constraint coefficients are expressed in. Coefficients are coordinates in a
// numerically derived basis (eigenvectors, random draws), so a checkpoint records, for every constrained
// parameter, a content hash of the map θ ↦ expand(θ); loading compares it with the model's own.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "eqnn/nn/constraint.hpp"

namespace eqnn {

/// A content hash of the basis of `constraint`, computed from the numbers: expand() of fixed
/// pseudo-random probe coefficients in float64 on the CPU, rounded to 1e-9, hashed together with the
/// constraint's name, method, shape and dimension. Equal bases give equal fingerprints in every run;
/// different bases give different ones (with probability 1 over the probes). Looks like
/// "CommutingConstraint/orbit dim=12 shape=[8,4] 5f0c2a9e13b7d641".
std::string basis_fingerprint(const Constraint& constraint);

/// (parameter name, fingerprint) for every parameter of `module` registered by a ConstrainedParameter,
/// in named_parameters() order.
std::vector<std::pair<std::string, std::string>> basis_fingerprints(const torch::nn::Module& module);

/// How a constrained parameter saved in the basis `saved_basis` (a fingerprint) fits a live constraint:
/// what checkpoint loading (model.hpp) and Python's load_state_dict both decide with, so they re-project or
/// refuse alike.
struct BasisFit {
  enum class Kind {
    same_basis,    ///< equal fingerprints: `coefficients` are the saved ones
    reprojected,   ///< another basis, the saved weight lies in this Hom space: `coefficients` = analyse(it)
    wrong_shape,   ///< equal fingerprints, but the saved coefficients do not have shape (dim)
    inconsistent,  ///< equal fingerprints, but the saved coefficients do not expand to the saved weight
    not_equivariant,  ///< another basis, and re-projecting the saved weight would change it (`residual`)
  };
  Kind kind = Kind::same_basis;
  std::string live_basis;   ///< basis_fingerprint(constraint)
  at::Tensor coefficients;  ///< same_basis, reprojected: the θ to load (reprojected: float64 on the CPU)
  double residual = 0;      ///< reprojected, not_equivariant: ‖expand(analyse(W)) − W‖ / ‖W‖
};

/// A re-projected weight must reproduce the saved one to this relative (Frobenius) error.
inline constexpr double kReprojectionTolerance = 1e-6;

/// Decides how `saved_coefficients` (θ in the saved basis) and `saved_effective` (expand(θ) there, of shape
/// constraint.shape(): check it first) load into `constraint`: the saved θ when the fingerprints agree (and θ
/// still expands to the saved weight, so a damaged file never loads silently), else the saved weight
/// re-projected onto this basis, accepted only when exact to kReprojectionTolerance.
BasisFit fit_basis(const Constraint& constraint, const std::string& saved_basis,
                   const at::Tensor& saved_coefficients, const at::Tensor& saved_effective);

namespace testing_hooks {
/// Test hook: mixes `salt` into every fingerprint computed from now on ("" = none), so a test can make
/// a checkpoint look as if it came from a build whose bases differ.
void set_fingerprint_salt(const std::string& salt);
}  // namespace testing_hooks

}  // namespace eqnn
