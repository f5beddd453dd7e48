// Coefficient parameters with an eval-mode cache keyed by the content of θ, guarded by a
// reader/writer lock.
//
// Why content and not the version counter: `p.data()` is a new TensorImpl over the same storage with a
// fresh version counter, so `p.data().copy_(ema)` changes θ without bumping p._version(), and LibTorch
// keeps no per-storage counter. θ is small (dim coefficients, |G| times fewer numbers than the expanded
// weight it produces), so comparing it with the snapshot the cache was expanded from costs little next
// to the expansion; on the CPU it is one memcmp. The snapshot is a private copy: the cache holds
// expand(snapshot) exactly, whatever happens to θ meanwhile.
#include "eqnn/constrained_parameter.hpp"

#include <cstring>
#include <mutex>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace eqnn {
namespace {

// Whether `theta` holds bit for bit what `snapshot` holds (same device, dtype and shape).
bool same_content(const at::Tensor& theta, const at::Tensor& snapshot) {
  if (!snapshot.defined() || theta.device() != snapshot.device() ||
      theta.scalar_type() != snapshot.scalar_type() || theta.sizes() != snapshot.sizes()) {
    return false;
  }
  if (theta.is_cpu() && theta.is_contiguous() && snapshot.is_contiguous()) {
    return std::memcmp(theta.const_data_ptr(), snapshot.const_data_ptr(), theta.nbytes()) == 0;
  }
  // On an accelerator this is one comparison kernel and one synchronisation. at::equal is false for
  // NaN entries: such a θ is simply re-expanded each time.
  return at::equal(theta, snapshot);
}

}  // namespace

ConstrainedParameter::ConstrainedParameter(torch::nn::Module& owner, const std::string& name,
                                           ConstraintPtr constraint, InitScheme scheme,
                                           const at::TensorOptions& options)
    : constraint_(std::move(constraint)) {
  at::Tensor theta;
  {
    at::NoGradGuard no_grad;
    theta = constraint_->sample(scheme, options);
  }
  param_name_ = name + "_coefficients";
  owner.register_parameter(param_name_, theta);
}

at::Tensor ConstrainedParameter::coefficients(const torch::nn::Module& owner) const {
  // Looked up each time so a parameter replaced or moved by the module is always the one used.
  const auto params = owner.named_parameters(/*recurse=*/false);
  const at::Tensor* t = params.find(param_name_);
  TORCH_CHECK(t != nullptr, "eqnn: parameter '", param_name_, "' is missing from module ", owner.name());
  return *t;
}

void ConstrainedParameter::reset(const torch::nn::Module& owner, InitScheme scheme) {
  at::NoGradGuard no_grad;
  at::Tensor theta = coefficients(owner);
  theta.copy_(constraint_->sample(scheme, theta.options()));
}

at::Tensor ConstrainedParameter::get(const torch::nn::Module& owner) const {
  const at::Tensor theta = coefficients(owner);
  const bool cacheable = !owner.is_training() && (!c10::GradMode::is_enabled() || !theta.requires_grad());
  if (!cacheable) {
    {
      // Training does not use the cache: free it (once) rather than keep a stale expansion alive.
      std::unique_lock<std::shared_mutex> lock(cache_.mutex);
      cache_.snapshot = at::Tensor();
      cache_.expanded = at::Tensor();
    }
    return constraint_->expand(theta);
  }
  {
    std::shared_lock<std::shared_mutex> lock(cache_.mutex);
    if (cache_.expanded.defined() && same_content(theta, cache_.snapshot)) return cache_.expanded;
  }
  at::NoGradGuard no_grad;
  std::unique_lock<std::shared_mutex> lock(cache_.mutex);
  // Another thread may have refilled the cache while this one waited for the lock.
  if (cache_.expanded.defined() && same_content(theta, cache_.snapshot)) return cache_.expanded;
  at::Tensor snapshot = theta.detach().clone(at::MemoryFormat::Contiguous);
  at::Tensor expanded = constraint_->expand(snapshot);
  cache_.snapshot = snapshot;
  cache_.expanded = expanded;
  return expanded;
}

}  // namespace eqnn
