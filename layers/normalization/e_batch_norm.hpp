// eBatchNorm1d: torch::nn::BatchNorm1d with statistics that commute with the group action, for any
// orthogonal representation.
//
// Design (the maths; Q is the rep's orthogonal change of basis to its irreducible copies, x = Q z):
// - Layout. Input (N, D) or (N, D, L) with the features at dim 1, as torch.nn.BatchNorm1d; statistics over
//   N (and L). With `channels_last` the input is (..., D) and the statistics are over every leading dim
//   (the layout of a model file, whose layers get (batch, [seq,] features)).
// - Mean. The batch mean projected onto the invariant subspace, m = Q_T Q_Tᵀ mean(x) (Q_T: the trivial
//   columns of Q): only the trivial part is centred, so m is invariant and x − m moves with ρ(g).
// - Variance. One per irreducible copy c of dimension d_c: v_c = mean over the samples and the copy's d_c
//   coordinates of z_c² (z = Qᵀ(x − m)), the biased batch variance as torch normalises with. ‖z_c‖² is
//   invariant (ρ(g) acts on z_c by an orthogonal irrep matrix), so v_c is.
// - Output. x̂ = Q diag(v[copy] + eps)^(−1/2) Qᵀ(x − m); with `affine`, y = Q diag(α[copy]) Qᵀ x̂ + b, one
//   scale α per copy (symm_learning's eAffine) and an invariant bias b (InvariantConstraint). Every factor
//   commutes with ρ(g): equivariant on every element.
// - Running statistics (track_running_stats), updated in training only, as torch: running_mean (D, an
//   invariant vector) ← (1 − f) running_mean + f m, running_var (one per copy) ← (1 − f) running_var + f v̂,
//   f = momentum, or 1/num_batches_tracked when momentum is unset (cumulative average). v̂ is unbiased as
//   torch's: v_c·n/(n − 1) for the trivial copies (whose mean was estimated from the n = N·L samples), v_c
//   for the other copies (their mean is 0 by symmetry, nothing was estimated). Training normalises with the
//   batch statistics, eval with the running ones (batch ones again without track_running_stats).
// - Stock. On an all-invariant rep in its own basis (`kx trivial`, any rep of C1: Q = I, every copy a
//   trivial 1-dim copy) this is exactly torch::nn::BatchNorm1d(D); effective_parameters() then gives weight,
//   bias, running_mean, running_var and num_batches_tracked under the stock names. Otherwise it is empty and
//   export refuses the model by name.
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
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of EBatchNorm1d; names and defaults as torch::nn::BatchNormOptions (in_rep for num_features).
struct EBatchNorm1dOptions {
  explicit EBatchNorm1dOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  /// Added to the variance; must be > 0.
  TORCH_ARG(double, eps) = 1e-5;
  /// Weight of the batch statistic in the running averages, in [0, 1]; unset: the cumulative average.
  TORCH_ARG(std::optional<double>, momentum) = 0.1;
  /// A learnable scale per irreducible copy and an invariant bias.
  TORCH_ARG(bool, affine) = true;
  /// Keep running_mean / running_var / num_batches_tracked and normalise with them in eval mode.
  TORCH_ARG(bool, track_running_stats) = true;
  /// Input (..., D), features last, instead of torch's (N, D) / (N, D, L).
  TORCH_ARG(bool, channels_last) = false;
};

/// What is wrong with a set of options (key "in_rep", "eps" or "momentum"); the constructor throws it as
/// ConfigError, the YAML factory locates it at the key.
std::optional<OptionError> validate(const EBatchNorm1dOptions& options);

/// BatchNorm1d that commutes with the group action (see the file comment).
///
///   auto g = registry.make_group("D4");
///   EBatchNorm1d bn(EBatchNorm1dOptions(parse_rep(g, "2x regular + standard")));
///   at::Tensor y = bn(at::randn({32, 18}));          // or (32, 18, L)
///
/// Parameters: `weight` (one per copy), `bias_coefficients` (invariant bias, when the rep has a trivial
/// part). Buffers: `running_mean` (D), `running_var` (one per copy, in rep.irreps() order),
/// `num_batches_tracked` (int64 scalar).
class EBatchNorm1dImpl : public Layer {
 public:
  explicit EBatchNorm1dImpl(EBatchNorm1dOptions options);
  ~EBatchNorm1dImpl() override;
  /// Called by the constructor: checks the options, registers parameters and buffers.
  void reset();
  /// Scale 1, bias 0 (as torch).
  void reset_parameters();
  /// running_mean 0, running_var 1, num_batches_tracked 0 (as torch).
  void reset_running_stats();

  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// torch.nn.BatchNorm1d's tensors when the layer equals it (an all-invariant rep with Q = I); else empty.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  /// What torch.nn.BatchNorm1d(D) holds: 2D with affine, 0 without.
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// True when the layer computes exactly torch::nn::BatchNorm1d.
  bool is_stock() const { return stock_; }
  /// Number of irreducible copies (the length of `weight` and `running_var`).
  int64_t copies() const { return copies_; }
  /// The copy of each coordinate of the Q basis (D, int64).
  const at::Tensor& copy_of() const { return copy_of_; }
  /// The per-copy variance spread over the coordinates of the Q basis (D).
  at::Tensor spread(const at::Tensor& per_copy) const;
  /// The effective bias (D), or an undefined tensor without one.
  at::Tensor bias() const { return bias_.defined() ? bias_.get(*this) : at::Tensor(); }

  EBatchNorm1dOptions options;

 private:
  struct Converted {
    at::Tensor Q, invariant, copy_of, mean_matrix, trivial_copy;
  };
  const Converted& converted(const at::TensorOptions& options) const;
  at::Tensor named(const std::string& key, bool buffer) const;

  int64_t copies_ = 0;
  bool stock_ = false, identity_basis_ = false;
  at::Tensor Q_;             // (D, D) float64
  at::Tensor invariant_;     // (D, D) float64 projector onto the invariant subspace
  at::Tensor copy_of_;       // (D) int64
  at::Tensor mean_matrix_;   // (D, copies) float64: z² ↦ per-copy mean
  at::Tensor trivial_copy_;  // (copies) float64: 1 for a trivial copy
  ConstrainedParameter bias_;
  DeviceCache<Converted> converted_;
};
TORCH_MODULE(EBatchNorm1d);

}  // namespace eqnn
