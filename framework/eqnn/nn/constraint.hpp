// The constraint interface: a linear parametrisation of the tensors that respect a group action.
// CommutingConstraint and InvariantConstraint are plugins; layers get them from the registry by name.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include "eqnn/group_theory/init_scheme.hpp"
#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// A constrained tensor of shape `shape()` is `expand(θ)` for a coefficient vector θ of size `dim()`.
/// `analyse` is a left inverse of `expand` (analyse ∘ expand = id; the shipped constraints use the
/// pseudo-inverse), so `project = expand ∘ analyse` is idempotent — the orthogonal projection when analyse
/// is the pseudo-inverse. The basis need not be orthonormal: the shipped ones are optimiser-fair (see
/// HomSpace).
class Constraint {
 public:
  virtual ~Constraint();
  /// Registry name of the plugin that made it, e.g. "CommutingConstraint".
  virtual std::string name() const = 0;
  /// "orbit", "isotypic", ...: how it computes (shown by `eqnn describe`).
  virtual std::string method() const = 0;
  virtual std::vector<int64_t> shape() const = 0;
  virtual int64_t dim() const = 0;
  /// (..., dim) → (..., *shape). Differentiable.
  virtual at::Tensor expand(const at::Tensor& coefficients) const = 0;
  /// (..., *shape) → (..., dim). Differentiable.
  virtual at::Tensor analyse(const at::Tensor& constrained) const = 0;
  at::Tensor project(const at::Tensor& raw) const { return expand(analyse(raw)); }
  /// Initial coefficients for `scheme` (see HomSpace::sample).
  virtual at::Tensor sample(InitScheme scheme, const at::TensorOptions& options) const = 0;
};

using ConstraintPtr = std::shared_ptr<const Constraint>;

/// What a layer asks a constraint factory for: a map in_rep → out_rep (CommutingConstraint), or a vector
/// of out_rep (InvariantConstraint, in_rep null).
struct ConstraintRequest {
  RepPtr in_rep;
  RepPtr out_rep;
};

using ConstraintFactory = std::function<ConstraintPtr(const ConstraintRequest&)>;

}  // namespace eqnn
