// EReLU ... ESoftplus, EPointwise: the permutation-representation check, the function table and the
// shared forward (see e_activation.hpp).
#include "e_activation.hpp"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <tuple>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"
#include "function_choice.hpp"

namespace eqnn {
namespace {

using Error = std::optional<ActivationOptionError>;

/// Refuses a representation whose matrices are not permutations, saying why and what works.
Error check_rep(const std::string& what, const RepPtr& in_rep) {
  if (!in_rep) return ActivationOptionError{"in_rep", what + ": in_rep is required"};
  const Representation& rep = *in_rep;
  if (rep.group().is_compact())
    return ActivationOptionError{
        "in_rep",
        fmt::format(
            "{}: a pointwise nonlinearity needs a finite group's permutation representation, and {} is "
            "a compact group (no representation of it permutes coordinates). What works: "
            "eNormNonlinearity or eGatedNonlinearity, which serve any orthogonal representation "
            "(eNormPool for invariant features)",
            what, rep.group().name())};
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
                  "permutation representation (e.g. an eLinear to '{}x regular' first), or use "
                  "eNormNonlinearity or eGatedNonlinearity, which serve any orthogonal representation "
                  "(eNormPool for invariant features)",
                  what, rep.describe(), why,
                  std::max(1, (rep.size() + rep.group().order() - 1) / rep.group().order()))};
}

Error check_approximate(const std::string& what, const std::string& approximate) {
  if (approximate == "none" || approximate == "tanh") return std::nullopt;
  return ActivationOptionError{
      "approximate",
      fmt::format("{}: 'approximate' must be 'none' or 'tanh', found '{}'", what, approximate)};
}

Error check_finite(const std::string& what, const std::string& key, double value) {
  if (std::isfinite(value)) return std::nullopt;
  return ActivationOptionError{key, fmt::format("{}: '{}' must be finite, found {}", what, key, value)};
}

Error check_softplus(const std::string& what, double beta, double threshold) {
  if (!(beta > 0) || !std::isfinite(beta))
    return ActivationOptionError{"beta",
                                 fmt::format("{}: 'beta' must be > 0 and finite, found {}", what, beta)};
  return check_finite(what, "threshold", threshold);
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

std::optional<ActivationOptionError> validate(const EMishOptions& o) {
  return check_rep("eMish", o.in_rep());
}

std::optional<ActivationOptionError> validate(const EELUOptions& o) {
  if (auto error = check_rep("eELU", o.in_rep())) return error;
  return check_finite("eELU", "alpha", o.alpha());
}

std::optional<ActivationOptionError> validate(const ELeakyReLUOptions& o) {
  if (auto error = check_rep("eLeakyReLU", o.in_rep())) return error;
  return check_finite("eLeakyReLU", "negative_slope", o.negative_slope());
}

std::optional<ActivationOptionError> validate(const ESigmoidOptions& o) {
  return check_rep("eSigmoid", o.in_rep());
}

std::optional<ActivationOptionError> validate(const ESoftplusOptions& o) {
  if (auto error = check_rep("eSoftplus", o.in_rep())) return error;
  return check_softplus("eSoftplus", o.beta(), o.threshold());
}

std::optional<ActivationOptionError> validate(const EPointwiseOptions& o) {
  const std::string what = "ePointwise";
  const std::string& f = o.function();
  if (auto error = detail::check_function(what, f, pointwise_functions())) return error;
  const EPointwiseOptions defaults(nullptr, f);
  if (o.approximate() != defaults.approximate() && f != "gelu")
    return ActivationOptionError{
        "approximate", fmt::format("{}: 'approximate' applies only to function 'gelu', not '{}'", what, f)};
  if (o.negative_slope() != defaults.negative_slope() && f != "leaky_relu")
    return ActivationOptionError{
        "negative_slope",
        fmt::format("{}: 'negative_slope' applies only to function 'leaky_relu', not '{}'", what, f)};
  if (o.alpha() != defaults.alpha() && f != "elu")
    return ActivationOptionError{
        "alpha", fmt::format("{}: 'alpha' applies only to function 'elu', not '{}'", what, f)};
  for (const auto& [key, differs] :
       {std::pair<std::string, bool>{"beta", o.beta() != defaults.beta()},
        std::pair<std::string, bool>{"threshold", o.threshold() != defaults.threshold()}})
    if (differs && f != "softplus")
      return ActivationOptionError{
          key, fmt::format("{}: '{}' applies only to function 'softplus', not '{}'", what, key, f)};
  if (auto error = check_rep(what, o.in_rep())) return error;
  if (f == "gelu") return check_approximate(what, o.approximate());
  if (f == "leaky_relu") return check_finite(what, "negative_slope", o.negative_slope());
  if (f == "elu") return check_finite(what, "alpha", o.alpha());
  if (f == "softplus") return check_softplus(what, o.beta(), o.threshold());
  return std::nullopt;
}

EPointwiseBase::EPointwiseBase(std::string name) : Layer(std::move(name)) {}

EPointwiseBase::~EPointwiseBase() = default;

std::pair<std::function<at::Tensor(const at::Tensor&)>, std::string> pointwise_function(
    const EPointwiseOptions& spec) {
  const std::string& f = spec.function();
  std::string description = f;
  std::function<at::Tensor(const at::Tensor&)> function;
  if (f == "relu") function = [](const at::Tensor& x) { return at::relu(x); };
  if (f == "silu") function = [](const at::Tensor& x) { return at::silu(x); };
  if (f == "tanh") function = [](const at::Tensor& x) { return at::tanh(x); };
  if (f == "sigmoid") function = [](const at::Tensor& x) { return at::sigmoid(x); };
  if (f == "mish") function = [](const at::Tensor& x) { return at::mish(x); };
  if (f == "softplus") {
    const double beta = spec.beta(), threshold = spec.threshold();
    description += fmt::format(", beta={}, threshold={}", beta, threshold);
    function = [beta, threshold](const at::Tensor& x) { return at::softplus(x, beta, threshold); };
  }
  if (f == "elu") {
    const double alpha = spec.alpha();
    description += fmt::format(", alpha={}", alpha);
    function = [alpha](const at::Tensor& x) { return at::elu(x, alpha); };
  }
  if (f == "gelu") {
    const std::string approximate = spec.approximate();
    description += ", approximate=" + approximate;
    function = [approximate](const at::Tensor& x) { return at::gelu(x, approximate); };
  }
  if (f == "leaky_relu") {
    const double negative_slope = spec.negative_slope();
    description += fmt::format(", negative_slope={}", negative_slope);
    function = [negative_slope](const at::Tensor& x) { return at::leaky_relu(x, negative_slope); };
  }
  TORCH_CHECK(function, "no implementation of the pointwise function '", f, "'");
  return {function, description};
}

void EPointwiseBase::build(const std::optional<ActivationOptionError>& error, const EPointwiseOptions& spec) {
  if (error) throw ConfigError(error->message);
  rep_ = spec.in_rep();
  std::tie(function_, description_) = pointwise_function(spec);
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
void EReLUImpl::reset() { build(validate(options), EPointwiseOptions(options.in_rep(), "relu")); }

EGELUImpl::EGELUImpl(EGELUOptions options_) : EPointwiseBase("eGELU"), options(std::move(options_)) {
  reset();
}
EGELUImpl::~EGELUImpl() = default;
void EGELUImpl::reset() {
  build(validate(options), EPointwiseOptions(options.in_rep(), "gelu").approximate(options.approximate()));
}

ESiLUImpl::ESiLUImpl(ESiLUOptions options_) : EPointwiseBase("eSiLU"), options(std::move(options_)) {
  reset();
}
ESiLUImpl::~ESiLUImpl() = default;
void ESiLUImpl::reset() { build(validate(options), EPointwiseOptions(options.in_rep(), "silu")); }

ETanhImpl::ETanhImpl(ETanhOptions options_) : EPointwiseBase("eTanh"), options(std::move(options_)) {
  reset();
}
ETanhImpl::~ETanhImpl() = default;
void ETanhImpl::reset() { build(validate(options), EPointwiseOptions(options.in_rep(), "tanh")); }

EPointwiseImpl::EPointwiseImpl(EPointwiseOptions options_)
    : EPointwiseBase("ePointwise"), options(std::move(options_)) {
  reset();
}
EPointwiseImpl::~EPointwiseImpl() = default;
void EPointwiseImpl::reset() { build(validate(options), options); }

EMishImpl::EMishImpl(EMishOptions options_) : EPointwiseBase("eMish"), options(std::move(options_)) {
  reset();
}
EMishImpl::~EMishImpl() = default;
void EMishImpl::reset() { build(validate(options), EPointwiseOptions(options.in_rep(), "mish")); }

EELUImpl::EELUImpl(EELUOptions options_) : EPointwiseBase("eELU"), options(std::move(options_)) { reset(); }
EELUImpl::~EELUImpl() = default;
void EELUImpl::reset() {
  build(validate(options), EPointwiseOptions(options.in_rep(), "elu").alpha(options.alpha()));
}

ELeakyReLUImpl::ELeakyReLUImpl(ELeakyReLUOptions options_)
    : EPointwiseBase("eLeakyReLU"), options(std::move(options_)) {
  reset();
}
ELeakyReLUImpl::~ELeakyReLUImpl() = default;
void ELeakyReLUImpl::reset() {
  build(validate(options),
        EPointwiseOptions(options.in_rep(), "leaky_relu").negative_slope(options.negative_slope()));
}

ESigmoidImpl::ESigmoidImpl(ESigmoidOptions options_)
    : EPointwiseBase("eSigmoid"), options(std::move(options_)) {
  reset();
}
ESigmoidImpl::~ESigmoidImpl() = default;
void ESigmoidImpl::reset() { build(validate(options), EPointwiseOptions(options.in_rep(), "sigmoid")); }

ESoftplusImpl::ESoftplusImpl(ESoftplusOptions options_)
    : EPointwiseBase("eSoftplus"), options(std::move(options_)) {
  reset();
}
ESoftplusImpl::~ESoftplusImpl() = default;
void ESoftplusImpl::reset() {
  build(validate(options),
        EPointwiseOptions(options.in_rep(), "softplus").beta(options.beta()).threshold(options.threshold()));
}

}  // namespace eqnn
