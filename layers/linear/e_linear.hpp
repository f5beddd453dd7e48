// eLinear: the equivariant y = x Wᵀ + b with W ∈ Hom_G(in_rep, out_rep) and b invariant, both stored as
// constraint coefficients (ConstrainedParameter) and expanded on use (cached in eval mode). A drop-in for
// torch::nn::Linear: effective_parameters() are named "weight" and "bias".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/execution_report.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/registry/registry.hpp"
#include "linear_execution.hpp"

namespace eqnn {

/// Options of ELinear. `init_scheme` is one of stock (the default: torch::nn::Linear's own initialisation,
/// weight U(±1/sqrt(fan_in)) — kaiming_uniform(a=√5) — and bias U(±1/sqrt(fan_in)), both restricted to the
/// equivariant maps with the same per-entry variance), xavier_normal, xavier_uniform, kaiming_normal,
/// kaiming_uniform, zeros (these set the weight; the bias then starts at zero). The constraints are looked
/// up by name in `registry`; without a registry only the built-in names are accepted.
/// The registry a layer takes its constraints from (null: the built-in ones).
using RegistryPointer = const Registry*;

struct ELinearOptions {
  ELinearOptions(RepPtr in_rep, RepPtr out_rep) : in_rep_(std::move(in_rep)), out_rep_(std::move(out_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  /// Add an invariant bias. Ignored (with a note in pretty_print) when out_rep has no trivial part.
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
  /// How y = x Wᵀ is computed: "dense" (W expanded, one product), "isotypic" (block-diagonal in the
  /// isotypic bases, DESIGN §11; refused when the representations offer no plan) or "auto" (the default: per
  /// call, by the cost model in linear_execution.hpp, fitted to CPUs; dense on other devices). The same
  /// function and parameters either way.
  TORCH_ARG(std::string, execution) = kDefaultExecution;
};

/// y = x Wᵀ + b on the last dimension, exactly equivariant: f(x ρ_in(g)ᵀ) = f(x) ρ_out(g)ᵀ.
///
///   auto g = registry.make_group("D4");
///   ELinear lin(ELinearOptions(parse_rep(g, "2x regular"), parse_rep(g, "regular + trivial")));
///   at::Tensor y = lin(at::randn({5, 16}));   // (5, 9)
class ELinearImpl : public Layer, public ExecutionReport {
 public:
  explicit ELinearImpl(ELinearOptions options);
  ELinearImpl(RepPtr in_rep, RepPtr out_rep)
      : ELinearImpl(ELinearOptions(std::move(in_rep), std::move(out_rep))) {}
  ~ELinearImpl() override;

  /// Registers weight_coefficients (and bias_coefficients) and samples them.
  void reset();
  /// Re-samples the coefficients in place with options.init_scheme (the bias as the scheme says).
  void reset_parameters();

  /// (..., D_in) → (..., D_out).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.out_rep(); }
  /// {"weight", W} and, when options.bias, {"bias", b} (zeros when out_rep has no invariant vector, so a
  /// stock Linear with bias loads it).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// The effective weight (D_out, D_in); cached in eval mode when no gradient can flow.
  at::Tensor weight() const { return weight_.get(*this); }
  /// The effective bias (D_out), or an undefined tensor when there is none.
  at::Tensor bias() const { return bias_.defined() ? bias_.get(*this) : at::Tensor(); }
  bool has_bias() const { return bias_.defined(); }
  /// Why there is no bias although options.bias is true (empty otherwise).
  const std::string& bias_note() const { return bias_note_; }
  const ConstrainedParameter& weight_parameter() const { return weight_; }
  /// The execution mode and its isotypic plan (layers built on eLinear reuse it).
  const LinearExecution& linear_execution() const { return execution_; }
  std::string execution() const override { return execution_.describe(); }
  const ConstrainedParameter& bias_parameter() const { return bias_; }

  ELinearOptions options;

 private:
  void reset_bias(InitScheme scheme);

  ConstrainedParameter weight_;
  ConstrainedParameter bias_;
  LinearExecution execution_;
  std::string bias_note_;
};

TORCH_MODULE(ELinear);

/// What is wrong with a set of options (see OptionError; key "in_rep", "out_rep", "init_scheme",
/// "weight_constraint" or "bias_constraint"). The constructor throws it as ConfigError; the YAML factory
/// locates it at the key.
std::optional<OptionError> validate(const ELinearOptions& options);

/// The rules ELinear shares with the layers built on it: `init_scheme` names a scheme and the constraints
/// (the bias one only with `bias`) are ones `registry` can make; messages start with "`what`: ".
std::optional<OptionError> validate_weights(const std::string& what, const std::string& init_scheme,
                                            const Registry* registry, const std::string& weight_constraint,
                                            bool bias, const std::string& bias_constraint);

/// Why `name` is not a constraint `registry` (null: the built-in ones) can make, or nullopt when it is.
std::optional<std::string> constraint_error(const Registry* registry, const std::string& name);

/// A constraint by registry name, or (registry null) one of the built-in ones. Used by every layer that
/// takes a weight_constraint / bias_constraint option. Throws LookupError / ConfigError.
ConstraintPtr make_constraint(const Registry* registry, const std::string& name,
                              const ConstraintRequest& request);

}  // namespace eqnn
