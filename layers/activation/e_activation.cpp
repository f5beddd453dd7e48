// EReLU, EGELU, ESiLU, ETanh, EPointwise: the permutation-representation check, the function table and the
// shared forward (see e_activation.hpp).
#include "e_activation.hpp"

#include <algorithm>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

using Error = std::optional<ActivationOptionError>;

/// Refuses a representation whose matrices are not permutations, saying why and what works.
Error check_rep(const std::string& what, const RepPtr& in_rep) {
  if (!in_rep) return ActivationOptionError{"in_rep", what + ": in_rep is required"};
  const Representation& rep = *in_rep;
  if (rep.is_permutation()) return std::nullopt;
  const std::string why =
      rep.has_permutation_structure()
          ? "it is a permutation representation seen in another (orthogonal) basis, so its matrices are not "
            "permutations and a coordinate-wise function does not commute with them"
          : "its matrices are not permutations (it is built from irreps or a general change of basis), so a "
            "coordinate-wise function does not commute with them";
  return ActivationOptionError{
      "in_rep",
      fmt::format("{}: a pointwise nonlinearity is equivariant only on a permutation representation in its "
                  "own basis, but in_rep {} is not: {}. What works: apply it to features in a regular or "
                  "permutation representation (e.g. an eLinear to '{}x regular' first), or use a norm-based "
                  "nonlinearity (e.g. eNormPool for invariant features)",
                  what, rep.describe(), why,
                  std::max(1, (rep.size() + rep.group().order() - 1) / rep.group().order()))};
}

Error check_approximate(const std::string& what, const std::string& approximate) {
  if (approximate == "none" || approximate == "tanh") return std::nullopt;
  return ActivationOptionError{
      "approximate",
      fmt::format("{}: 'approximate' must be 'none' or 'tanh', found '{}'", what, approximate)};
}

}  // namespace

const std::vector<std::string>& pointwise_functions() {
  static const std::vector<std::string> known = {"relu", "gelu",     "silu", "tanh",      "sigmoid",
                                                 "mish", "softplus", "elu",  "leaky_relu"};
  return known;
}

std::optional<ActivationOptionError> validate(const EReLUOptions& o) {
  return check_rep("eReLU", o.in_rep());
}

std::optional<ActivationOptionError> validate(const EGELUOptions& o) {
  if (auto error = check_rep("eGELU", o.in_rep())) return error;
  return check_approximate("eGELU", o.approximate());
}

std::optional<ActivationOptionError> validate(const ESiLUOptions& o) {
  return check_rep("eSiLU", o.in_rep());
}

std::optional<ActivationOptionError> validate(const ETanhOptions& o) {
  return check_rep("eTanh", o.in_rep());
}

std::optional<ActivationOptionError> validate(const EPointwiseOptions& o) {
  const std::string what = "ePointwise";
  const std::string& f = o.function();
  const auto& known = pointwise_functions();
  if (std::find(known.begin(), known.end(), f) == known.end()) {
    return ActivationOptionError{"function",
                                 fmt::format("{}: unknown function '{}'{}; known functions: {}", what, f,
                                             did_you_mean_clause(f, known), fmt::join(known, ", "))};
  }
  const EPointwiseOptions defaults(nullptr, f);
  if (o.approximate() != defaults.approximate() && f != "gelu")
    return ActivationOptionError{
        "approximate", fmt::format("{}: 'approximate' applies only to function 'gelu', not '{}'", what, f)};
  if (o.negative_slope() != defaults.negative_slope() && f != "leaky_relu")
    return ActivationOptionError{
        "negative_slope",
        fmt::format("{}: 'negative_slope' applies only to function 'leaky_relu', not '{}'", what, f)};
  if (auto error = check_rep(what, o.in_rep())) return error;
  if (f == "gelu") return check_approximate(what, o.approximate());
  return std::nullopt;
}

EPointwiseBase::EPointwiseBase(std::string name) : Layer(std::move(name)) {}

EPointwiseBase::~EPointwiseBase() = default;

void EPointwiseBase::build(const std::optional<ActivationOptionError>& error, RepPtr rep,
                           const std::string& f, const std::string& approximate, double negative_slope) {
  if (error) throw ConfigError(error->message);
  rep_ = std::move(rep);
  description_ = f;
  if (f == "relu") function_ = [](const at::Tensor& x) { return at::relu(x); };
  if (f == "silu") function_ = [](const at::Tensor& x) { return at::silu(x); };
  if (f == "tanh") function_ = [](const at::Tensor& x) { return at::tanh(x); };
  if (f == "sigmoid") function_ = [](const at::Tensor& x) { return at::sigmoid(x); };
  if (f == "mish") function_ = [](const at::Tensor& x) { return at::mish(x); };
  if (f == "softplus") function_ = [](const at::Tensor& x) { return at::softplus(x); };
  if (f == "elu") function_ = [](const at::Tensor& x) { return at::elu(x); };
  if (f == "gelu") {
    description_ += ", approximate=" + approximate;
    function_ = [approximate](const at::Tensor& x) { return at::gelu(x, approximate); };
  }
  if (f == "leaky_relu") {
    description_ += fmt::format(", negative_slope={}", negative_slope);
    function_ = [negative_slope](const at::Tensor& x) { return at::leaky_relu(x, negative_slope); };
  }
  TORCH_CHECK(function_, name(), ": no implementation of function '", f, "'");
}

at::Tensor EPointwiseBase::forward(const at::Tensor& x) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep_->size(), name(), ": expected input of shape (..., ",
              rep_->size(), ") for in_rep ", rep_->describe(), ", got ", x.sizes());
  return function_(x);
}

void EPointwiseBase::pretty_print(std::ostream& os) const {
  os << name() << "(" << description_ << ", in_rep=" << rep_->describe() << ")";
}

EReLUImpl::EReLUImpl(EReLUOptions options_) : EPointwiseBase("eReLU"), options(std::move(options_)) {
  reset();
}
EReLUImpl::~EReLUImpl() = default;
void EReLUImpl::reset() { build(validate(options), options.in_rep(), "relu", "none", 0.01); }

EGELUImpl::EGELUImpl(EGELUOptions options_) : EPointwiseBase("eGELU"), options(std::move(options_)) {
  reset();
}
EGELUImpl::~EGELUImpl() = default;
void EGELUImpl::reset() { build(validate(options), options.in_rep(), "gelu", options.approximate(), 0.01); }

ESiLUImpl::ESiLUImpl(ESiLUOptions options_) : EPointwiseBase("eSiLU"), options(std::move(options_)) {
  reset();
}
ESiLUImpl::~ESiLUImpl() = default;
void ESiLUImpl::reset() { build(validate(options), options.in_rep(), "silu", "none", 0.01); }

ETanhImpl::ETanhImpl(ETanhOptions options_) : EPointwiseBase("eTanh"), options(std::move(options_)) {
  reset();
}
ETanhImpl::~ETanhImpl() = default;
void ETanhImpl::reset() { build(validate(options), options.in_rep(), "tanh", "none", 0.01); }

EPointwiseImpl::EPointwiseImpl(EPointwiseOptions options_)
    : EPointwiseBase("ePointwise"), options(std::move(options_)) {
  reset();
}
EPointwiseImpl::~EPointwiseImpl() = default;
void EPointwiseImpl::reset() {
  build(validate(options), options.in_rep(), options.function(), options.approximate(),
        options.negative_slope());
}

}  // namespace eqnn
