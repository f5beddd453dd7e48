// InvariantConstraint over InvariantSpace.
#include "invariant_constraint.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {

InvariantConstraint::InvariantConstraint(const RepPtr& rep) {
  if (!rep) throw GroupError(fmt::format("{}: needs a representation (got none)", kName));
  space_ = InvariantSpace::get(rep);
  if (space_->dim() > 0) scale_ = std::sqrt(double(rep->size()) / double(space_->dim()));
}

InvariantConstraint::~InvariantConstraint() = default;

at::Tensor InvariantConstraint::expand(const at::Tensor& coefficients) const {
  return space_->expand(coefficients) * scale_;
}

at::Tensor InvariantConstraint::analyse(const at::Tensor& constrained) const {
  return space_->analyse(constrained) / scale_;
}

at::Tensor InvariantConstraint::sample(InitScheme scheme, const at::TensorOptions& options) const {
  // ‖expand(θ)‖² = scale² ‖θ‖² and scale² dim = D: i.i.d. θ with the per-entry variance σ² give
  // expanded vectors with per-entry variance σ² on average.
  at::Tensor theta = at::zeros({dim()}, options);
  fill_init(theta, scheme, stock_variance(scheme, space_->rep()->size(), 1));
  return theta;
}

ConstraintPtr make_invariant_constraint(const ConstraintRequest& request) {
  if (request.in_rep)
    throw GroupError(
        fmt::format("{}: constrains a vector of one representation; got a request for a map {} -> {} "
                    "(use CommutingConstraint for maps)",
                    InvariantConstraint::kName, request.in_rep->describe(),
                    request.out_rep ? request.out_rep->describe() : "none"));
  return std::make_shared<InvariantConstraint>(request.out_rep);
}

}  // namespace eqnn
