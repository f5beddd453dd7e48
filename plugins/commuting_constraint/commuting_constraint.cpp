// CommutingConstraint over HomSpace.
#include "commuting_constraint.hpp"

#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {

CommutingConstraint::CommutingConstraint(const RepPtr& in_rep, const RepPtr& out_rep) {
  if (!in_rep || !out_rep)
    throw GroupError(fmt::format("{}: needs an input and an output representation (got {} and {})", kName,
                                 in_rep ? in_rep->describe() : "none",
                                 out_rep ? out_rep->describe() : "none"));
  hom_ = HomSpace::get(in_rep, out_rep);
}

CommutingConstraint::~CommutingConstraint() = default;

std::vector<int64_t> CommutingConstraint::shape() const { return {hom_->out()->size(), hom_->in()->size()}; }

at::Tensor CommutingConstraint::expand(const at::Tensor& coefficients) const {
  return hom_->expand(coefficients);
}

at::Tensor CommutingConstraint::analyse(const at::Tensor& constrained) const {
  return hom_->analyse(constrained);
}

at::Tensor CommutingConstraint::sample(InitScheme scheme, const at::TensorOptions& options) const {
  return hom_->sample(scheme, options);
}

ConstraintPtr make_commuting_constraint(const ConstraintRequest& request) {
  return std::make_shared<CommutingConstraint>(request.in_rep, request.out_rep);
}

}  // namespace eqnn
