// ENormNonlinearity (see e_norm_nonlinearity.hpp).
#include "e_norm_nonlinearity.hpp"

#include <algorithm>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "copy_norms.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"
#include "function_choice.hpp"

namespace eqnn {
namespace {

constexpr double kNormFloor = 1e-12;

}  // namespace

const std::vector<std::string>& norm_nonlinearity_functions() {
  static const std::vector<std::string> known = {"relu", "sigmoid", "softplus", "squash"};
  return known;
}

std::optional<OptionError> validate(const ENormNonlinearityOptions& o) {
  const std::string what = "eNormNonlinearity";
  const std::string& f = o.function();
  if (auto error = detail::check_function(what, f, norm_nonlinearity_functions())) return error;
  if (f == "squash" && o.bias())
    return OptionError{"bias",
                       fmt::format("{}: function 'squash' takes no bias (as escnn's): set bias=false", what)};
  if (f == "relu" && !o.bias())
    return OptionError{
        "bias", fmt::format("{}: function 'relu' without a bias is the identity (norms are never negative): "
                            "set bias=true, or choose sigmoid, softplus or squash",
                            what)};
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  return std::nullopt;
}

ENormNonlinearityImpl::ENormNonlinearityImpl(ENormNonlinearityOptions options_)
    : Layer("eNormNonlinearity"), options(std::move(options_)) {
  reset();
}

ENormNonlinearityImpl::~ENormNonlinearityImpl() = default;

void ENormNonlinearityImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const Representation& rep = *options.in_rep();
  copies_ = std::make_shared<const detail::CopyNormIndex>(rep);
  const Matrix& Q = rep.Q();
  identity_basis_ = Q.isIdentity(0.0);
  q_master_ = to_tensor(Q);
  converted_.clear();
  if (options.bias()) {
    register_parameter("bias",
                       at::zeros({copies_->count}, at::TensorOptions().dtype(c10::get_default_dtype())));
  }
}

void ENormNonlinearityImpl::reset_parameters() {
  at::NoGradGuard no_grad;
  const at::Tensor b = bias();
  if (b.defined()) b.zero_();
}

at::Tensor ENormNonlinearityImpl::bias() const {
  if (!options.bias()) return {};
  // Looked up on every use: the Python module replaces the parameter's slot (load, to(), ...).
  const auto params = named_parameters(/*recurse=*/false);  // find() points into it: keep it alive
  const at::Tensor* b = params.find("bias");
  TORCH_CHECK(b != nullptr, name(), ": parameter 'bias' is missing");
  return *b;
}

int64_t ENormNonlinearityImpl::copies() const { return copies_->count; }

int64_t ENormNonlinearityImpl::unconstrained_parameter_count() { return options.bias() ? copies_->count : 0; }

at::Tensor ENormNonlinearityImpl::forward(const at::Tensor& x) {
  const Representation& rep = *options.in_rep();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep.size(), name(), ": expected input of shape (..., ",
              rep.size(), ") for in_rep ", rep.describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), name(), ": expected a floating-point input, got ",
              x.scalar_type());
  const auto& t = converted_.get(x.options(), [this](const at::TensorOptions& o) {
    std::vector<at::Tensor> v = detail::on_device(*copies_, o.device());
    v.push_back(q_master_.to(o));
    return v;
  });
  const at::Tensor& Q = t.back();
  const at::Tensor& copy_of_column = t[t.size() - 2];
  const at::Tensor xhat = identity_basis_ ? x : at::matmul(x, Q);
  const at::Tensor n = detail::copy_norms(*copies_, t, xhat);  // (..., copies)
  at::Tensor bias = this->bias();
  if (bias.defined()) bias = bias.to(n.scalar_type());
  const std::string& f = options.function();
  at::Tensor scale;
  if (f == "sigmoid") {
    scale = at::sigmoid(bias.defined() ? n + bias : n);
  } else if (f == "squash") {
    scale = 1.0 / (1.0 + n);
  } else {
    // Norm form f(n + b) / n, evaluated at max(n, floor): finite, and exact wherever n > floor.
    const at::Tensor floored = at::clamp_min(n, kNormFloor);
    const at::Tensor at_floor = bias.defined() ? floored + bias : floored;
    scale = (f == "relu" ? at::relu(at_floor) : at::softplus(at_floor)) / floored;
  }
  const at::Tensor yhat = xhat * scale.index_select(-1, copy_of_column);
  return identity_basis_ ? yhat : at::matmul(yhat, Q.t());
}

void ENormNonlinearityImpl::pretty_print(std::ostream& os) const {
  os << "eNormNonlinearity(" << options.function() << ", bias=" << (options.bias() ? "true" : "false")
     << ", in_rep=" << options.in_rep()->describe() << ", copies=" << copies_->count << ")";
}

}  // namespace eqnn
