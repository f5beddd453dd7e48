// A module parameter stored as constraint coefficients θ and used as expand(θ): the building block
// of every equivariant layer. In eval mode, and for a frozen θ in any mode, the expanded tensor is cached
// and reused until θ changes (optimizer step, in-place edit, even through .data(), load), moves (to()) or
// the module goes back to train() with a θ that requires grad. The cache is safe to use from many threads
// at once.
#pragma once

#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "eqnn/nn/constraint.hpp"

namespace eqnn {

/// Registers `<name>_coefficients` on `owner` and expands it on demand.
///
///   weight_ = ConstrainedParameter(*this, "weight", constraint, InitScheme::xavier_normal, at::kFloat);
///   at::Tensor W = weight_.get(*this);   // (D_out, D_in), exactly equivariant
///
/// Threads: get() may run in any number of threads at once (e.g. one model in eval mode serving
/// requests); each call returns a tensor it owns a reference to, so a later cache refill never frees
/// what another thread is using. Changing θ (optimizer step, copy_, load, to()) while another thread
/// runs a forward is a data race on θ itself, as with any torch module: that forward may see a mix of
/// old and new values. The cache never outlives such a change: the first get() that starts after the
/// change has finished returns expand(new θ).
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

  /// expand(θ). Cached when θ has storage (not a torch.func/vmap wrapper) and no gradient can flow to it:
  /// θ frozen (requires_grad false; in train mode too), or `owner` in eval mode with grad mode off;
  /// recomputed otherwise, so gradients are always right. A cached tensor is
  /// returned only while θ holds exactly (bit for bit) the values it was expanded from: writes that
  /// bypass θ's version counter (`p.data().copy_(ema)`) are seen too.
  at::Tensor get(const torch::nn::Module& owner) const;

 private:
  // expand(snapshot) and the copy of θ it came from. Copying a ConstrainedParameter (Module::clone)
  // starts with an empty cache: the clone has its own θ.
  struct Cache {
    Cache() = default;
    Cache(const Cache&) {}
    Cache& operator=(const Cache&) { return *this; }
    std::shared_mutex mutex;
    at::Tensor snapshot;  // a private copy of θ, never written after it is made
    at::Tensor expanded;  // constraint->expand(snapshot)
  };

  ConstraintPtr constraint_;
  std::string param_name_;
  mutable Cache cache_;
};

}  // namespace eqnn
