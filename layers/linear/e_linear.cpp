// ELinear and the constraint lookup shared by the layers.
#include "e_linear.hpp"

#include <cmath>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>

#include "commuting_constraint.hpp"
#include "eqnn/util/error.hpp"
#include "invariant_constraint.hpp"

namespace eqnn {

ConstraintPtr make_constraint(const Registry* registry, const std::string& name,
                              const ConstraintRequest& request) {
  if (registry) return registry->get_constraint(name)(request);
  if (name == CommutingConstraint::kName) return make_commuting_constraint(request);
  if (name == InvariantConstraint::kName) return make_invariant_constraint(request);
  throw ConfigError(*constraint_error(nullptr, name));
}

std::optional<std::string> constraint_error(const Registry* registry, const std::string& name) {
  if (registry) {
    try {
      registry->get_constraint(name);
    } catch (const LookupError& e) {
      return std::string(e.what());
    }
    return std::nullopt;
  }
  if (name == CommutingConstraint::kName || name == InvariantConstraint::kName) return std::nullopt;
  return fmt::format(
      "constraint '{}' was asked for without a registry; without one only {} and {} are available (pass "
      "options.registry to use plugin constraints)",
      name, CommutingConstraint::kName, InvariantConstraint::kName);
}

std::optional<OptionError> validate_weights(const std::string& what, const std::string& init_scheme,
                                            const Registry* registry, const std::string& weight_constraint,
                                            bool bias, const std::string& bias_constraint) {
  try {
    parse_init_scheme(init_scheme);
  } catch (const ConfigError& e) {
    return OptionError{"init_scheme", what + ": " + e.message()};
  }
  if (auto error = constraint_error(registry, weight_constraint))
    return OptionError{"weight_constraint", what + ": " + *error};
  if (bias)
    if (auto error = constraint_error(registry, bias_constraint))
      return OptionError{"bias_constraint", what + ": " + *error};
  return std::nullopt;
}

std::optional<OptionError> validate(const ELinearOptions& o) {
  const std::string what = "eLinear";
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep and out_rep are required"};
  if (!o.out_rep()) return OptionError{"out_rep", what + ": in_rep and out_rep are required"};
  if (auto error = execution_error(o.execution())) return OptionError{"execution", what + ": " + *error};
  return validate_weights(what, o.init_scheme(), o.registry(), o.weight_constraint(), o.bias(),
                          o.bias_constraint());
}

namespace {

void check_shape(const ConstraintPtr& c, std::vector<int64_t> expected, const std::string& what) {
  if (c->shape() != expected)
    throw ConfigError(fmt::format("{}: constraint '{}' gives tensors of shape ({}), expected ({})", what,
                                  c->name(), fmt::join(c->shape(), ", "), fmt::join(expected, ", ")));
}

at::TensorOptions default_options() { return at::TensorOptions().dtype(c10::get_default_dtype()); }

}  // namespace

ELinearImpl::ELinearImpl(ELinearOptions options_) : Layer("eqnn::ELinear"), options(std::move(options_)) {
  reset();
}

ELinearImpl::~ELinearImpl() = default;

void ELinearImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr& in = options.in_rep();
  const RepPtr& out = options.out_rep();
  const InitScheme scheme = parse_init_scheme(options.init_scheme());
  auto weight = make_constraint(options.registry(), options.weight_constraint(), {in, out});
  check_shape(weight, {out->size(), in->size()}, "eLinear weight");
  weight_ = ConstrainedParameter(*this, "weight", weight, scheme, default_options());
  execution_ = LinearExecution(*parse_execution(options.execution()), weight, "eLinear", 1, 1, true);
  bias_ = ConstrainedParameter();
  bias_note_.clear();
  if (options.bias()) {
    auto bias = make_constraint(options.registry(), options.bias_constraint(), {nullptr, out});
    check_shape(bias, {out->size()}, "eLinear bias");
    if (bias->dim() > 0) {
      bias_ = ConstrainedParameter(*this, "bias", bias, InitScheme::zeros, default_options());
      reset_bias(scheme);
    } else {
      bias_note_ = fmt::format("no bias: out_rep {} has no trivial part, so the only invariant bias is 0",
                               out->describe());
    }
  }
}

void ELinearImpl::reset_parameters() {
  const InitScheme scheme = parse_init_scheme(options.init_scheme());
  weight_.reset(*this, scheme);
  reset_bias(scheme);
}

void ELinearImpl::reset_bias(InitScheme scheme) {
  if (!bias_.defined()) return;
  if (scheme != InitScheme::stock) {
    bias_.reset(*this, InitScheme::zeros);
    return;
  }
  // torch.nn.Linear: bias ~ U(±1/sqrt(fan_in)). The constraint's stock sample is the bias law of a Linear
  // with one input, U(±1) per entry (on average), and the expansion is linear: scale by 1/sqrt(fan_in).
  bias_.reset(*this, InitScheme::stock);
  at::NoGradGuard no_grad;
  bias_.coefficients(*this).mul_(1.0 / std::sqrt(static_cast<double>(options.in_rep()->size())));
}

at::Tensor ELinearImpl::forward(const at::Tensor& x) {
  const int64_t d_in = options.in_rep()->size();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == d_in, "eLinear: expected input of shape (..., ", d_in,
              ") for in_rep ", options.in_rep()->describe(), ", got ", x.sizes());
  const int64_t tokens = x.numel() / d_in;
  if (execution_.isotypic(tokens, is_training() || c10::GradMode::is_enabled(), x.device())) {
    at::Tensor y = execution_.apply(weight_.coefficients(*this), x.reshape({tokens, d_in}), bias());
    auto shape = x.sizes().vec();
    shape.back() = options.out_rep()->size();
    return y.view(shape);
  }
  return at::linear(x, weight(), bias());
}

std::vector<std::pair<std::string, at::Tensor>> ELinearImpl::effective_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out{{"weight", weight()}};
  if (options.bias()) {
    at::Tensor b = bias();
    if (!b.defined()) b = at::zeros({options.out_rep()->size()}, out[0].second.options());
    out.emplace_back("bias", b);
  }
  return out;
}

int64_t ELinearImpl::unconstrained_parameter_count() {
  const int64_t d_in = options.in_rep()->size(), d_out = options.out_rep()->size();
  return d_out * d_in + (options.bias() ? d_out : 0);
}

void ELinearImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::ELinear(in_rep=" << options.in_rep()->describe()
         << ", out_rep=" << options.out_rep()->describe() << ", weight=" << weight_.constraint()->name()
         << "[" << weight_.constraint()->method() << ", " << weight_.constraint()->dim() << " of "
         << options.out_rep()->size() * options.in_rep()->size() << "]";
  if (bias_.defined())
    stream << ", bias=" << bias_.constraint()->name() << "[" << bias_.constraint()->dim() << " of "
           << options.out_rep()->size() << "]";
  else if (!bias_note_.empty())
    stream << ", " << bias_note_;
  else
    stream << ", bias=false";
  stream << ", execution=" << execution_.describe();
  stream << ")";
}

}  // namespace eqnn
