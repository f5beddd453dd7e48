// InvariantConstraint over InvariantSpace.
#include "invariant_constraint.hpp"

#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/error.hpp"

namespace eqnn {

InvariantConstraint::InvariantConstraint(const RepPtr& rep) {
  if (!rep) throw GroupError(fmt::format("{}: needs a representation (got none)", kName));
  space_ = InvariantSpace::get(rep);
}

InvariantConstraint::~InvariantConstraint() = default;

at::Tensor InvariantConstraint::expand(const at::Tensor& coefficients) const {
  return space_->expand(coefficients);
}

at::Tensor InvariantConstraint::analyse(const at::Tensor& constrained) const {
  return space_->analyse(constrained);
}

at::Tensor InvariantConstraint::sample(InitScheme scheme, const at::TensorOptions& options) const {
  const int64_t d = dim(), size = space_->rep()->size();
  at::Tensor theta = at::zeros({d}, options);
  if (d == 0 || scheme == InitScheme::zeros) return theta;
  const double c = std::sqrt(stock_variance(scheme, size, 1) * double(size) / double(d));
  if (scheme == InitScheme::xavier_uniform || scheme == InitScheme::kaiming_uniform)
    theta.uniform_(-std::sqrt(3.0) * c, std::sqrt(3.0) * c);
  else
    theta.normal_(0.0, c);
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
