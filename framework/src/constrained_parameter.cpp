// Coefficient parameters with an eval-mode cache keyed by the tensor's identity and version counter.
#include "eqnn/constrained_parameter.hpp"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

namespace eqnn {

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
  const at::Tensor coefficients_ = coefficients(owner);
  const bool cacheable = !owner.is_training() && (!c10::GradMode::is_enabled() || !coefficients_.requires_grad());
  if (!cacheable) {
    cache_ = at::Tensor();
    cache_source_ = at::Tensor();
    return constraint_->expand(coefficients_);
  }
  if (cache_.defined() && cache_source_.is_same(coefficients_) &&
      cache_version_ == coefficients_._version() && cache_data_ == coefficients_.data_ptr() && cache_.device() == coefficients_.device() &&
      cache_.scalar_type() == coefficients_.scalar_type())
    return cache_;
  at::NoGradGuard no_grad;
  cache_ = constraint_->expand(coefficients_);
  cache_source_ = coefficients_;
  cache_version_ = coefficients_._version();
  cache_data_ = coefficients_.data_ptr();
  return cache_;
}

}  // namespace eqnn
