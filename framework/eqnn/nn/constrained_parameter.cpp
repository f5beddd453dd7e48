// Coefficient parameters with an eval-mode cache keyed by the content of θ, guarded by a
// reader/writer lock.
//
// Why content and not the version counter: `p.data()` is a new TensorImpl over the same storage with a
// fresh version counter, so `p.data().copy_(ema)` changes θ without bumping p._version(), and LibTorch
// keeps no per-storage counter. θ is small (dim coefficients, |G| times fewer numbers than the expanded
// weight it produces), so comparing it with the snapshot the cache was expanded from costs little next
// to the expansion; on the CPU it is one memcmp. The snapshot is a private copy: the cache holds
// expand(snapshot) exactly, whatever happens to θ meanwhile.
#include "eqnn/nn/constrained_parameter.hpp"

#include <cstring>
#include <mutex>
#include <unordered_map>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <c10/util/intrusive_ptr.h>

namespace eqnn {
namespace {

// Which constraint a registered coefficient tensor belongs to, for checkpoints. Weak on both sides (the
// layer owns the parameter and the constraint), so it keeps nothing alive; expired entries are swept
// whenever the table has doubled.
class ConstraintIndex {
 public:
  void add(const at::Tensor& parameter, const ConstraintPtr& constraint) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= sweep_at_) {
      for (auto it = entries_.begin(); it != entries_.end();)
        it = it->second.tensor.expired() || it->second.constraint.expired() ? entries_.erase(it) : ++it;
      sweep_at_ = std::max<size_t>(64, 2 * entries_.size() + 1);
    }
    const c10::TensorImpl* key = parameter.unsafeGetTensorImpl();
    entries_.erase(key);
    entries_.emplace(key, Entry{WeakImpl(parameter.getIntrusivePtr()), constraint});
  }
  ConstraintPtr find(const at::Tensor& parameter) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(parameter.unsafeGetTensorImpl());
    if (it == entries_.end()) return nullptr;
    auto alive = it->second.tensor.lock();  // the address may have been reused by another tensor
    if (!alive || alive.get() != parameter.unsafeGetTensorImpl()) return nullptr;
    return it->second.constraint.lock();
  }

 private:
  using WeakImpl = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>;
  struct Entry {
    WeakImpl tensor;
    std::weak_ptr<const Constraint> constraint;
  };
  mutable std::mutex mutex_;
  std::unordered_map<const c10::TensorImpl*, Entry> entries_;
  size_t sweep_at_ = 64;
};

ConstraintIndex& constraint_index() {
  static auto* index = new ConstraintIndex();
  return *index;
}

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

ConstraintPtr ConstrainedParameter::constraint_of(const at::Tensor& parameter) {
  if (!parameter.defined()) return nullptr;
  return constraint_index().find(parameter);
}

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
  at::Tensor& registered = owner.register_parameter(param_name_, theta);
  constraint_index().add(registered, constraint_);
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
  // functorch's wrappers (θ under vmap or torch.func.grad, e.g. from Python's functional_call) have no
  // storage to compare or copy: they are expanded each time.
  // A frozen θ (requires_grad false: a fixed change of basis, a frozen backbone) is cached in training too:
  // no gradient flows to it and it changes only by writes, which the content check sees.
  const bool frozen = !theta.requires_grad();
  const bool cacheable =
      theta.has_storage() && (frozen || (!owner.is_training() && !c10::GradMode::is_enabled()));
  if (!cacheable) {
    {
      // Training a θ does not use the cache: free it (once) rather than keep a stale expansion alive.
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
