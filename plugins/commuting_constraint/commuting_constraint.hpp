// CommutingConstraint: the weights W with ρ_out(g) W = W ρ_in(g), i.e. Hom_G(ρ_in, ρ_out), parametrised by
// coefficients in HomSpace's optimiser-fair basis (orbit indicators / scaled isotypic blocks). A thin
// Constraint over HomSpace (orbit fast path for permutation structures, isotypic blocks otherwise). Linkable
// so layers can build it without a registry.
#pragma once

#include <string>
#include <vector>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/nn/constraint.hpp"

namespace eqnn {

/// The equivariant (D_out × D_in) matrices between two representations of one group.
///
///   auto c = std::make_shared<CommutingConstraint>(in, out);
///   at::Tensor W = c->expand(c->sample(InitScheme::stock, at::kFloat));   // (out.size, in.size)
class CommutingConstraint : public Constraint {
 public:
  static constexpr const char* kName = "CommutingConstraint";
  /// Throws GroupError when the representations belong to different groups.
  CommutingConstraint(const RepPtr& in_rep, const RepPtr& out_rep);
  ~CommutingConstraint() override;

  std::string name() const override { return kName; }
  std::string method() const override { return hom_->method_name(); }
  std::vector<int64_t> shape() const override;
  int64_t dim() const override { return hom_->dim(); }
  at::Tensor expand(const at::Tensor& coefficients) const override;
  at::Tensor analyse(const at::Tensor& constrained) const override;
  at::Tensor sample(InitScheme scheme, const at::TensorOptions& options) const override;

  const HomSpacePtr& hom_space() const { return hom_; }

 private:
  HomSpacePtr hom_;
};

/// The registry factory: needs both request.in_rep and request.out_rep.
ConstraintPtr make_commuting_constraint(const ConstraintRequest& request);

}  // namespace eqnn
