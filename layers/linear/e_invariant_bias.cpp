// EInvariantBias (see e_invariant_bias.hpp).
#include "e_invariant_bias.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {

std::optional<OptionError> validate(const EInvariantBiasOptions& o) {
  const std::string what = "eInvariantBias";
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  if (o.in_rep()->multiplicities()[0] == 0)
    return OptionError{
        "in_rep",
        fmt::format("{}: in_rep {} has no trivial part, so its only invariant vector is 0 and there is "
                    "nothing to learn; add a trivial irrep to the rep (append '+ trivial' to its rep "
                    "string) or leave the layer out",
                    what, o.in_rep()->describe())};
  if (auto error = constraint_error(o.registry(), o.bias_constraint()))
    return OptionError{"bias_constraint", what + ": " + *error};
  return std::nullopt;
}

EInvariantBiasImpl::EInvariantBiasImpl(EInvariantBiasOptions options_)
    : Layer("eqnn::EInvariantBias"), options(std::move(options_)) {
  reset();
}

EInvariantBiasImpl::~EInvariantBiasImpl() = default;

void EInvariantBiasImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr& rep = options.in_rep();
  auto constraint = make_constraint(options.registry(), options.bias_constraint(), {nullptr, rep});
  if (constraint->shape() != std::vector<int64_t>{rep->size()})
    throw ConfigError(
        fmt::format("eInvariantBias: constraint '{}' gives tensors of shape ({}), expected ({})",
                    constraint->name(), fmt::join(constraint->shape(), ", "), rep->size()));
  if (constraint->dim() == 0)
    throw ConfigError(
        fmt::format("eInvariantBias: constraint '{}' leaves no free coefficient on {}, so there "
                    "is nothing to learn",
                    constraint->name(), rep->describe()));
  bias_ = ConstrainedParameter(*this, "bias", constraint, InitScheme::zeros,
                               at::TensorOptions().dtype(c10::get_default_dtype()));
}

void EInvariantBiasImpl::reset_parameters() { bias_.reset(*this, InitScheme::zeros); }

at::Tensor EInvariantBiasImpl::forward(const at::Tensor& x) {
  const int64_t D = options.in_rep()->size();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == D, "eInvariantBias: expected input of shape (..., ", D,
              ") for in_rep ", options.in_rep()->describe(), ", got ", x.sizes());
  return x + bias();
}

void EInvariantBiasImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EInvariantBias(in_rep=" << options.in_rep()->describe()
         << ", bias=" << bias_.constraint()->name() << "[" << bias_.constraint()->dim() << " of "
         << options.in_rep()->size() << "])";
}

}  // namespace eqnn
