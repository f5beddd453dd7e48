// A module parameter stored as constraint coefficients θ and used as expand(θ): the building block
// of every equivariant layer. In eval mode the expanded tensor is cached and reused until θ changes
// (optimizer step, in-place edit, load), moves (to()) or the module goes back to train().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "eqnn/constraint.hpp"

namespace eqnn {

/// Registers `<name>_coefficients` on `owner` and expands it on demand.
///
///   weight_ = ConstrainedParameter(*this, "weight", constraint, InitScheme::xavier_normal, at::kFloat);
///   at::Tensor W = weight_.get(*this);   // (D_out, D_in), exactly equivariant
class ConstrainedParameter {
 public:
  ConstrainedParameter() = default;
  ConstrainedParameter(torch::nn::Module& owner, const std::string& name, ConstraintPtr constraint,
                       InitScheme scheme, const at::TensorOptions& options);

  bool defined() const { return constraint_ != nullptr; }
  const ConstraintPtr& constraint() const { return constraint_; }
  /// The registered coefficient parameter θ (shape (dim)) of `owner`.
  at::Tensor coefficients(const torch::nn::Module& owner) const;
  /// Name of the registered parameter, `<name>_coefficients`.
  const std::string& parameter_name() const { return param_name_; }
  /// Re-samples θ of `owner` for `scheme`, in place (keeps the parameter object).
  void reset(const torch::nn::Module& owner, InitScheme scheme);

  /// The constraint whose coefficients `parameter` holds, when it was registered by a live
  /// ConstrainedParameter; null otherwise. Checkpoints use it to record and check bases.
  static ConstraintPtr constraint_of(const at::Tensor& parameter);

  /// expand(θ). Cached when `owner` is in eval mode and no gradient can flow to θ (grad mode off or
  /// θ not requiring grad); recomputed otherwise, so gradients are always right.
  at::Tensor get(const torch::nn::Module& owner) const;

 private:
  ConstraintPtr constraint_;
  std::string param_name_;
  mutable at::Tensor cache_source_;  // θ the cache was computed from (holds the impl alive)
  mutable const void* cache_data_ = nullptr;
  mutable uint32_t cache_version_ = 0;
  mutable at::Tensor cache_;
};

}  // namespace eqnn
