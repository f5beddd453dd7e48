// InvariantConstraint: the vectors b with ρ(g) b = b (biases), parametrised by coefficients on an
// optimiser-fair basis of the trivial copies: InvariantSpace's orthonormal basis times sqrt(D / dim), so the
// basis vectors' squared norms add up to D (a regular copy's invariant vector is its all-ones indicator)
// and an Adam step moves the bias as much as a stock bias. Linkable so layers build it without a registry.
#pragma once

#include <string>
#include <vector>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/nn/constraint.hpp"

namespace eqnn {

/// The invariant vectors of a representation; dim() is the multiplicity of the trivial irrep (may be 0).
///
///   auto c = std::make_shared<InvariantConstraint>(rep);
///   at::Tensor b = c->expand(at::randn({c->dim()}));   // (rep.size), ρ(g) b = b
class InvariantConstraint : public Constraint {
 public:
  static constexpr const char* kName = "InvariantConstraint";
  explicit InvariantConstraint(const RepPtr& rep);
  ~InvariantConstraint() override;

  std::string name() const override { return kName; }
  std::string method() const override { return "invariant"; }
  std::vector<int64_t> shape() const override { return {space_->rep()->size()}; }
  int64_t dim() const override { return space_->dim(); }
  at::Tensor expand(const at::Tensor& coefficients) const override;
  at::Tensor analyse(const at::Tensor& constrained) const override;
  /// zeros → 0. Other schemes treat the vector as a dense (D × 1) weight: the expanded vector has, on
  /// average, the scheme's per-entry variance for that shape (stock: U(±1), the bias of a Linear with one
  /// input; eLinear scales it by 1/sqrt(fan_in) to get torch.nn.Linear's bias law).
  at::Tensor sample(InitScheme scheme, const at::TensorOptions& options) const override;

  const std::shared_ptr<const InvariantSpace>& space() const { return space_; }

 private:
  std::shared_ptr<const InvariantSpace> space_;
  double scale_ = 1.0;  // sqrt(D / dim)
};

/// The registry factory: the vector lives in request.out_rep (request.in_rep must be null).
ConstraintPtr make_invariant_constraint(const ConstraintRequest& request);

}  // namespace eqnn
