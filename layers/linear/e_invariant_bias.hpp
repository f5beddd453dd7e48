// eInvariantBias: y = x + b with b a learnable invariant vector (ρ(g) b = b for every g), stored as
// InvariantConstraint coefficients as eLinear's bias and starting at zero. in_rep = out_rep. A rep with no
// trivial part has no invariant vector but 0: there is nothing to learn, and the layer refuses it.
// No stock PyTorch module adds a bias alone, so effective_parameters() is empty and `eqnn export` refuses a
// model holding one, by name (the convention of export_weights).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// Options of EInvariantBias. The bias constraint is looked up by name in `registry` (null: the built-in
/// InvariantConstraint).
struct EInvariantBiasOptions {
  explicit EInvariantBiasOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};

/// What is wrong with a set of options (key "in_rep" — missing, or without a trivial part — or
/// "bias_constraint"). The constructor throws it as ConfigError; the YAML factory locates it at the key.
std::optional<OptionError> validate(const EInvariantBiasOptions& options);

/// y = x + b, b invariant: exactly equivariant, f(x ρ(g)ᵀ) = f(x) ρ(g)ᵀ.
///
///   auto g = registry.make_group("D4");
///   EInvariantBias bias(EInvariantBiasOptions(parse_rep(g, "2x regular")));   // 2 coefficients
///   at::Tensor y = bias(at::randn({5, 16}));
class EInvariantBiasImpl : public Layer {
 public:
  explicit EInvariantBiasImpl(EInvariantBiasOptions options);
  ~EInvariantBiasImpl() override;

  /// Checks the options and registers bias_coefficients (zeros).
  void reset();
  /// Sets the coefficients back to zero.
  void reset_parameters();

  /// (..., D) → (..., D).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// Empty: no stock module adds a bias alone (export refuses the layer by name).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// D: what a dense bias vector holds.
  int64_t unconstrained_parameter_count() override { return options.in_rep()->size(); }
  void pretty_print(std::ostream& stream) const override;

  /// The effective bias b (D); cached in eval mode.
  at::Tensor bias() const { return bias_.get(*this); }
  const ConstrainedParameter& bias_parameter() const { return bias_; }

  EInvariantBiasOptions options;

 private:
  ConstrainedParameter bias_;
};

TORCH_MODULE(EInvariantBias);

}  // namespace eqnn
