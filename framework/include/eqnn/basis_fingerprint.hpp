// Fingerprints of the bases constraint coefficients are expressed in. Coefficients are coordinates in a
// numerically derived basis (eigenvectors, random draws), so a checkpoint records, for every constrained
// parameter, a content hash of the map θ ↦ expand(θ); loading compares it with the model's own.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "eqnn/constraint.hpp"

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

namespace testing_hooks {
/// Test hook: mixes `salt` into every fingerprint computed from now on ("" = none), so a test can make
/// a checkpoint look as if it came from a build whose bases differ.
void set_fingerprint_salt(const std::string& salt);
}  // namespace testing_hooks

}  // namespace eqnn
