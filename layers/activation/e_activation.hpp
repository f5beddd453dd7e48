// Pointwise nonlinearities: EReLU, EGELU, ESiLU, ETanh, EMish, EELU, ELeakyReLU, ESigmoid, ESoftplus, and
// EPointwise for any of the supported functions.
// A function applied coordinate by coordinate commutes with ρ(g) exactly when every ρ(g) permutes the
// coordinates, i.e. when in_rep is a permutation representation in its own basis (regular stacks,
// permutation actions, trivial copies and their sums). Elsewhere these layers refuse to be built, with a
// message that says why and what would work (eNormNonlinearity and eGatedNonlinearity serve any orthogonal
// representation). No parameters; out_rep = in_rep.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// Options of EReLU (torch::nn::ReLUOptions without `inplace`: the input may be a view shared with the
/// caller), ESiLU and ETanh: the representation alone.
using EReLUOptions = RepOptions<struct EReLUTag>;
using ESiLUOptions = RepOptions<struct ESiLUTag>;
using ETanhOptions = RepOptions<struct ETanhTag>;
/// Options of EMish and ESigmoid (torch::nn::Mish and torch::nn::Sigmoid take no arguments).
using EMishOptions = RepOptions<struct EMishTag>;
using ESigmoidOptions = RepOptions<struct ESigmoidTag>;

/// Options of EELU: `alpha` as torch::nn::ELUOptions (default 1.0; no `inplace`).
struct EELUOptions {
  explicit EELUOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(double, alpha) = 1.0;
};

/// Options of ELeakyReLU: `negative_slope` as torch::nn::LeakyReLUOptions (default 0.01; no `inplace`).
struct ELeakyReLUOptions {
  explicit ELeakyReLUOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(double, negative_slope) = 0.01;
};

/// Options of ESoftplus: `beta` (> 0) and `threshold` as torch::nn::SoftplusOptions (1.0 and 20.0):
/// softplus(x) = log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold.
struct ESoftplusOptions {
  explicit ESoftplusOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(double, beta) = 1.0;
  TORCH_ARG(double, threshold) = 20.0;
};

/// Options of EGELU; `approximate` as torch::nn::GELUOptions: "none" (the default) or "tanh".
struct EGELUOptions {
  explicit EGELUOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, approximate) = "none";
};

/// Options of EPointwise: `function` is one of pointwise_functions() (relu, gelu, silu, tanh, sigmoid, mish,
/// softplus, elu, leaky_relu). `approximate` applies to gelu only (as torch::nn::GELUOptions),
/// `negative_slope` to leaky_relu only (as torch::nn::LeakyReLUOptions, default 0.01), `alpha` to elu only
/// (as torch::nn::ELUOptions, default 1.0), `beta` and `threshold` to softplus only (as
/// torch::nn::SoftplusOptions, defaults 1.0 and 20.0).
struct EPointwiseOptions {
  EPointwiseOptions(RepPtr in_rep, std::string function)
      : in_rep_(std::move(in_rep)), function_(std::move(function)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, function);
  TORCH_ARG(std::string, approximate) = "none";
  TORCH_ARG(double, negative_slope) = 0.01;
  TORCH_ARG(double, alpha) = 1.0;
  TORCH_ARG(double, beta) = 1.0;
  TORCH_ARG(double, threshold) = 20.0;
};

/// The functions EPointwise knows, in the order error messages list them.
const std::vector<std::string>& pointwise_functions();

/// What is wrong with a set of options (see OptionError; key "in_rep", "function", "approximate",
/// "negative_slope", "alpha", "beta" or "threshold"). The constructors throw it as ConfigError; the YAML
/// factories locate it at the key.
using ActivationOptionError = OptionError;
std::optional<ActivationOptionError> validate(const EReLUOptions& options);
std::optional<ActivationOptionError> validate(const EGELUOptions& options);
std::optional<ActivationOptionError> validate(const ESiLUOptions& options);
std::optional<ActivationOptionError> validate(const ETanhOptions& options);
std::optional<ActivationOptionError> validate(const EMishOptions& options);
std::optional<ActivationOptionError> validate(const EELUOptions& options);
std::optional<ActivationOptionError> validate(const ELeakyReLUOptions& options);
std::optional<ActivationOptionError> validate(const ESigmoidOptions& options);
std::optional<ActivationOptionError> validate(const ESoftplusOptions& options);
std::optional<ActivationOptionError> validate(const EPointwiseOptions& options);

/// `spec.function()` (one of pointwise_functions(), validated) with its parameters, and its description,
/// e.g. "gelu, approximate=tanh" (EPointwise and eFourierPointwise).
std::pair<std::function<at::Tensor(const at::Tensor&)>, std::string> pointwise_function(
    const EPointwiseOptions& spec);

/// Shared machinery: applies one function to every coordinate.
class EPointwiseBase : public Layer {
 public:
  ~EPointwiseBase() override;

  /// (..., D) → (..., D).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return rep_; }
  /// The stock activation modules have no parameters: the empty list is the complete export.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }
  void pretty_print(std::ostream& stream) const override;

  /// The function and its parameters, e.g. "gelu, approximate=tanh".
  const std::string& description() const { return description_; }

 protected:
  explicit EPointwiseBase(std::string name);
  /// Throws ConfigError with `error`'s message if there is one; otherwise sets the rep and the function
  /// `spec.function()` (one of pointwise_functions(), already validated) with its parameters.
  void build(const std::optional<ActivationOptionError>& error, const EPointwiseOptions& spec);

 private:
  RepPtr rep_;
  std::string description_;
  std::function<at::Tensor(const at::Tensor&)> function_;
};

/// ReLU on a permutation representation.
///
///   auto g = registry.make_group("D4");
///   EReLU relu(EReLUOptions(parse_rep(g, "2x regular")));
///   at::Tensor y = relu(at::randn({5, 16}));
class EReLUImpl : public EPointwiseBase {
 public:
  explicit EReLUImpl(EReLUOptions options);
  ~EReLUImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and sets the function.
  void reset();
  EReLUOptions options;
};
TORCH_MODULE(EReLU);

/// GELU (exact or tanh approximation) on a permutation representation.
///
///   EGELU gelu(EGELUOptions(parse_rep(g, "2x regular")).approximate("tanh"));
class EGELUImpl : public EPointwiseBase {
 public:
  explicit EGELUImpl(EGELUOptions options);
  ~EGELUImpl() override;
  void reset();
  EGELUOptions options;
};
TORCH_MODULE(EGELU);

/// SiLU (x·sigmoid(x)) on a permutation representation.
class ESiLUImpl : public EPointwiseBase {
 public:
  explicit ESiLUImpl(ESiLUOptions options);
  ~ESiLUImpl() override;
  void reset();
  ESiLUOptions options;
};
TORCH_MODULE(ESiLU);

/// tanh on a permutation representation.
class ETanhImpl : public EPointwiseBase {
 public:
  explicit ETanhImpl(ETanhOptions options);
  ~ETanhImpl() override;
  void reset();
  ETanhOptions options;
};
TORCH_MODULE(ETanh);

/// Mish (x·tanh(softplus(x))) on a permutation representation.
class EMishImpl : public EPointwiseBase {
 public:
  explicit EMishImpl(EMishOptions options);
  ~EMishImpl() override;
  void reset();
  EMishOptions options;
};
TORCH_MODULE(EMish);

/// ELU (x for x > 0, alpha·(exp(x) − 1) otherwise) on a permutation representation.
///
///   EELU elu(EELUOptions(parse_rep(g, "regular")).alpha(0.5));
class EELUImpl : public EPointwiseBase {
 public:
  explicit EELUImpl(EELUOptions options);
  ~EELUImpl() override;
  void reset();
  EELUOptions options;
};
TORCH_MODULE(EELU);

/// LeakyReLU (x for x ≥ 0, negative_slope·x otherwise) on a permutation representation.
class ELeakyReLUImpl : public EPointwiseBase {
 public:
  explicit ELeakyReLUImpl(ELeakyReLUOptions options);
  ~ELeakyReLUImpl() override;
  void reset();
  ELeakyReLUOptions options;
};
TORCH_MODULE(ELeakyReLU);

/// The logistic sigmoid on a permutation representation.
class ESigmoidImpl : public EPointwiseBase {
 public:
  explicit ESigmoidImpl(ESigmoidOptions options);
  ~ESigmoidImpl() override;
  void reset();
  ESigmoidOptions options;
};
TORCH_MODULE(ESigmoid);

/// Softplus (log(1 + exp(beta·x)) / beta, linear above threshold) on a permutation representation.
class ESoftplusImpl : public EPointwiseBase {
 public:
  explicit ESoftplusImpl(ESoftplusOptions options);
  ~ESoftplusImpl() override;
  void reset();
  ESoftplusOptions options;
};
TORCH_MODULE(ESoftplus);

/// Any function of pointwise_functions() on a permutation representation.
///
///   EPointwise act(EPointwiseOptions(parse_rep(g, "regular"), "leaky_relu").negative_slope(0.2));
class EPointwiseImpl : public EPointwiseBase {
 public:
  explicit EPointwiseImpl(EPointwiseOptions options);
  ~EPointwiseImpl() override;
  void reset();
  EPointwiseOptions options;
};
TORCH_MODULE(EPointwise);

}  // namespace eqnn
