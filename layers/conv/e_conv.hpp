// eConv1d and eConvTranspose1d: torch's Conv1d / ConvTranspose1d on (N, C, L) with the group acting on the
// channels, every kernel tap an equivariant map.
//
// Maths. eConv1d computes y[:, t] = b + Σ_k W_k x[:, s·t − p + d·k] with W_k = W[:, :, k] ∈ Hom_G(in, out)
// for every tap k and b invariant. The group acts on the channels only (the same ρ(g) at every position), so
// f(ρ_in(g) x) = Σ_k W_k ρ_in(g) x[...] + b = ρ_out(g) (Σ_k W_k x[...] + b) = ρ_out(g) f(x): the padding
// (zeros, reflect, replicate, circular) acts on positions and commutes with ρ(g). eConvTranspose1d computes
// y[:, s·t − p + d·k] += V_kᵀ x[:, t] with torch's weight layout (in, out, K), V_k = W[:, :, k] (in, out);
// its taps are equivariant when V_kᵀ ∈ Hom_G(in, out), which is how it is parametrised.
//
// Parameters: weight_coefficients θ of K·dim Hom_G(in, out) entries, tap-major (θ.view(K, dim)[k] are the
// coefficients of tap k), expanded with one batched call of the weight constraint (TapConstraint) to
// (K, out, in) and permuted to torch's layout; bias_coefficients as eLinear's. Both cached in eval mode
// (ConstrainedParameter). effective_parameters() are stock Conv1d / ConvTranspose1d's state_dict.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/constraint.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// K independent copies of a Hom constraint (the taps of a kernel): θ (..., K·dim) → (..., K, *shape), one
/// batched expand of `inner`. sample() draws every tap from `inner` and scales it by `fan_scale`
/// (stock and the kaiming schemes) or `xavier_scale` (the xavier schemes), so the dense kernel gets a conv's
/// per-entry variance.
class TapConstraint : public Constraint {
 public:
  TapConstraint(ConstraintPtr inner, int64_t taps, double fan_scale, double xavier_scale);
  std::string name() const override;
  std::string method() const override;
  std::vector<int64_t> shape() const override;
  int64_t dim() const override { return taps_ * inner_->dim(); }
  at::Tensor expand(const at::Tensor& coefficients) const override;
  at::Tensor analyse(const at::Tensor& constrained) const override;
  at::Tensor sample(InitScheme scheme, const at::TensorOptions& options) const override;
  const ConstraintPtr& inner() const { return inner_; }
  int64_t taps() const { return taps_; }

 private:
  ConstraintPtr inner_;
  int64_t taps_;
  double fan_scale_, xavier_scale_;
};

/// torch's Conv1d padding: an amount (≥ 0) on both sides, or "same" / "valid".
struct ConvPadding {
  ConvPadding() = default;
  template <typename T, std::enable_if_t<std::is_integral_v<T>, int> = 0>
  ConvPadding(T amount) : amount(static_cast<int64_t>(amount)) {}  // NOLINT(google-explicit-constructor)
  ConvPadding(std::string mode) : mode(std::move(mode)) {}         // NOLINT(google-explicit-constructor)
  ConvPadding(const char* mode) : mode(mode) {}                    // NOLINT(google-explicit-constructor)
  bool is_amount() const { return mode.empty(); }
  std::string describe() const { return is_amount() ? std::to_string(amount) : "'" + mode + "'"; }
  int64_t amount = 0;
  std::string mode;  ///< "same" or "valid"; empty for an amount
};

/// Options of EConv1d: torch::nn::Conv1dOptions' names and defaults (in_channels/out_channels are the reps'
/// sizes), plus eLinear's init_scheme (default stock: torch.nn.Conv1d's own per-entry laws, fan_in = in·K,
/// restricted to the equivariant kernels) and constraint names. groups must be 1.
struct EConv1dOptions {
  EConv1dOptions(RepPtr in_rep, RepPtr out_rep, int64_t kernel_size)
      : in_rep_(std::move(in_rep)), out_rep_(std::move(out_rep)), kernel_size_(kernel_size) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(ConvPadding, padding) = 0;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(int64_t, groups) = 1;
  /// Add an invariant bias. Ignored (with a note in pretty_print) when out_rep has no trivial part.
  TORCH_ARG(bool, bias) = true;
  /// "zeros", "reflect", "replicate" or "circular".
  TORCH_ARG(std::string, padding_mode) = "zeros";
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
  /// How the convolution is computed: "dense" (the expanded kernel, one conv1d), "isotypic" (for copies of a
  /// cyclic group's regular representation: by FFT over the group, a grouped convolution per frequency bin;
  /// refused otherwise) or "auto" (the default: the FFT where the cost model in linear_execution.hpp
  /// predicts it faster, on a CPU). The same function and parameters either way.
  TORCH_ARG(std::string, execution) = kDefaultExecution;
};

/// Options of EConvTranspose1d: torch::nn::ConvTranspose1dOptions' names and defaults (padding an amount,
/// padding_mode "zeros" only, as torch), plus init_scheme (stock: torch.nn.ConvTranspose1d's laws, whose
/// fan_in is out·K) and constraint names. groups must be 1.
struct EConvTranspose1dOptions {
  EConvTranspose1dOptions(RepPtr in_rep, RepPtr out_rep, int64_t kernel_size)
      : in_rep_(std::move(in_rep)), out_rep_(std::move(out_rep)), kernel_size_(kernel_size) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  TORCH_ARG(int64_t, kernel_size);
  TORCH_ARG(int64_t, stride) = 1;
  TORCH_ARG(int64_t, padding) = 0;
  TORCH_ARG(int64_t, output_padding) = 0;
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(int64_t, dilation) = 1;
  TORCH_ARG(std::string, padding_mode) = "zeros";
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};

/// What the two layers share: the per-tap weight, the invariant bias, the channel check, the features-last
/// layout of model files.
class EConvBase : public Layer {
 public:
  using Layer::Layer;
  ~EConvBase() override;

  RepPtr in_rep() const override { return in_; }
  RepPtr out_rep() const override { return out_; }
  int64_t unconstrained_parameter_count() override;
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;

  /// The effective kernel in torch's layout: (out, in, K) for eConv1d, (in, out, K) for eConvTranspose1d.
  at::Tensor weight() const;
  /// The effective bias (out), or an undefined tensor when there is none.
  at::Tensor bias() const { return bias_.defined() ? bias_.get(*this) : at::Tensor(); }
  bool has_bias() const { return bias_.defined(); }
  /// Why there is no bias although options.bias is true (empty otherwise).
  const std::string& bias_note() const { return bias_note_; }
  const ConstrainedParameter& weight_parameter() const { return weight_; }
  const ConstrainedParameter& bias_parameter() const { return bias_; }

  /// Model files give tokens features last, (batch, seq, D): with `on`, forward takes (N, L, C) and returns
  /// (N, L', C_out), convolving over the sequence (a 2-D (batch, D) input is refused: it has no sequence).
  /// Off (the default): torch's (N, C, L) / (C, L). The YAML factory turns it on.
  void set_features_last(bool on) { features_last_ = on; }
  bool features_last() const { return features_last_; }

 protected:
  void build(const std::string& what, bool transposed, const std::string& init_scheme, bool bias,
             const std::string& weight_constraint, const std::string& bias_constraint,
             const Registry* registry);
  void reset_weights(const std::string& init_scheme);
  /// x moved to (N, C, L) / (C, L) with C checked; `what` names the layer.
  at::Tensor channels_first(const at::Tensor& x, const std::string& what) const;
  at::Tensor restore_layout(const at::Tensor& y) const { return features_last_ ? y.transpose(-1, -2) : y; }
  void print_parameters(std::ostream& stream) const;

  RepPtr in_, out_;
  int64_t kernel_size_ = 1;
  bool transposed_ = false;
  bool bias_asked_ = true;
  double bias_fan_in_ = 1;
  bool features_last_ = false;
  ConstrainedParameter weight_;
  ConstrainedParameter bias_;
  std::string bias_note_;
};

/// Exactly equivariant torch::nn::Conv1d: f(ρ_in(g) x) = ρ_out(g) f(x), ρ acting on the channel dimension.
///
///   auto g = registry.make_group("D4");
///   EConv1d conv(EConv1dOptions(parse_rep(g, "2x regular"), parse_rep(g, "regular"), 3).padding("same"));
///   at::Tensor y = conv(at::randn({5, 16, 20}));   // (5, 8, 20)
class EConv1dImpl : public EConvBase, public ExecutionReport {
 public:
  explicit EConv1dImpl(EConv1dOptions options);
  /// Registers the coefficients and samples them.
  void reset();
  /// Re-samples the coefficients in place with options.init_scheme.
  void reset_parameters();
  /// (N, C_in, L) → (N, C_out, L_out), or unbatched (C_in, L) → (C_out, L_out); features last in model files.
  at::Tensor forward(const at::Tensor& x) override;
  /// torch's L_out = ⌊(L + 2p − d(K − 1) − 1)/s⌋ + 1 (p from "same"/"valid" as torch).
  int64_t output_length(int64_t length) const;
  void pretty_print(std::ostream& stream) const override;
  std::string execution() const override { return execution_; }

  EConv1dOptions options;

 private:
  std::shared_ptr<const CyclicFourierHom> fourier_;  // the FFT path, when execution chose it
  std::string execution_ = "dense";
};

/// Exactly equivariant torch::nn::ConvTranspose1d (weight (in, out, K), every tap's transpose equivariant).
class EConvTranspose1dImpl : public EConvBase {
 public:
  explicit EConvTranspose1dImpl(EConvTranspose1dOptions options);
  void reset();
  void reset_parameters();
  /// (N, C_in, L) → (N, C_out, L_out), or unbatched; features last in model files.
  at::Tensor forward(const at::Tensor& x) override;
  /// torch's L_out = (L − 1)s − 2p + d(K − 1) + output_padding + 1.
  int64_t output_length(int64_t length) const;
  void pretty_print(std::ostream& stream) const override;

  EConvTranspose1dOptions options;
};

TORCH_MODULE(EConv1d);
TORCH_MODULE(EConvTranspose1d);

/// What is wrong with a set of options (key "in_rep", "out_rep", "kernel_size", "stride", "padding",
/// "dilation", "groups", "padding_mode", "init_scheme", ...). The constructors throw it as ConfigError; the
/// YAML factories locate it at the key.
std::optional<OptionError> validate(const EConv1dOptions& options);
std::optional<OptionError> validate(const EConvTranspose1dOptions& options);

}  // namespace eqnn
