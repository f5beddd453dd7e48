// Pointwise nonlinearities: EReLU, EGELU, ESiLU, ETanh, and EPointwise for any of the supported functions.
// A function applied coordinate by coordinate commutes with ρ(g) exactly when every ρ(g) permutes the
// coordinates, i.e. when in_rep is a permutation representation in its own basis (regular stacks,
// permutation actions, trivial copies and their sums). Elsewhere these layers refuse to be built, with a
// message that says why and what would work. No parameters; out_rep = in_rep.
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

/// Options of EGELU; `approximate` as torch::nn::GELUOptions: "none" (the default) or "tanh".
struct EGELUOptions {
  explicit EGELUOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, approximate) = "none";
};

/// Options of EPointwise: `function` is one of pointwise_functions() (relu, gelu, silu, tanh, sigmoid, mish,
/// softplus, elu, leaky_relu). `approximate` applies to gelu only (as torch::nn::GELUOptions),
/// `negative_slope` to leaky_relu only (as torch::nn::LeakyReLUOptions, default 0.01).
struct EPointwiseOptions {
  EPointwiseOptions(RepPtr in_rep, std::string function)
      : in_rep_(std::move(in_rep)), function_(std::move(function)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, function);
  TORCH_ARG(std::string, approximate) = "none";
  TORCH_ARG(double, negative_slope) = 0.01;
};

/// The functions EPointwise knows, in the order error messages list them.
const std::vector<std::string>& pointwise_functions();

/// What is wrong with a set of options (see OptionError; key "in_rep", "function", "approximate" or
/// "negative_slope"). The constructors throw it as ConfigError; the YAML factories locate it at the key.
using ActivationOptionError = OptionError;
std::optional<ActivationOptionError> validate(const EReLUOptions& options);
std::optional<ActivationOptionError> validate(const EGELUOptions& options);
std::optional<ActivationOptionError> validate(const ESiLUOptions& options);
std::optional<ActivationOptionError> validate(const ETanhOptions& options);
std::optional<ActivationOptionError> validate(const EPointwiseOptions& options);

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
  /// (`function` one of pointwise_functions(), already validated).
  void build(const std::optional<ActivationOptionError>& error, RepPtr rep, const std::string& function,
             const std::string& approximate, double negative_slope);

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
