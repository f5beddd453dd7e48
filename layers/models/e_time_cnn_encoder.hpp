// ETimeCNNEncoder: symm_learning's eTimeCNNEncoder as one eqnn layer. A time series x (N, C, H) whose
// channels transform by in_rep passes through conv blocks, each
//   EConv1d(k=3, stride 2, padding 1)            (downsample "stride":  H ← ⌈H/2⌉), or
//   EConv1d(k=3, stride 1, padding 1), MaxPool1d(2)   ("pooling": H ← ⌊H/2⌋),
// with an optional ERMSNorm over the channels (per-copy scales, eps 1e-6; batch_norm) and a pointwise
// activation (before the MaxPool), on hidden reps ⌈c/|hidden_rep|⌉ x hidden_rep. The features are flattened
// time-major, z = f.permute(0, 2, 1).reshape(N, H'·C) (the rep ⊕_{H'} cnn_rep, and ⊕ in_rep with the last
// frame x[:, :, -1] if append_last_frame), and a head maps z to out_rep: IMLP(z, out_rep.size, mlp_hidden)
// when out_rep is all trivial, else EMLP(z, out_rep, mlp_hidden). Equivariant: every block commutes with the
// channel action (convolution with Hom_G taps; pointwise functions and MaxPool over time commute with the
// permutation matrices of the hidden reps; the norm is equivariant), the flattening maps the action to the
// block-diagonal one of ⊕ cnn_rep, and the head is equivariant (invariant).
// Names as symm_learning: feature_layers.{i} (the norm's scale at feature_layers.{i}.weight) and
// head.net.{j}.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "e_mlp.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/nn/sequence_length.hpp"

namespace eqnn {

/// Options of ETimeCNNEncoder: symm_learning's eTimeCNNEncoder arguments in its order. hidden_channels
/// (non-empty, each >= 1) are rounded up to whole copies of hidden_rep (null: regular, which must be a
/// permutation rep); time_horizon >= 1 must leave at least one frame after the blocks; downsample "stride"
/// or "pooling"; activation as EMLPOptions; init_scheme for every convolution and eLinear (default stock,
/// where symm_learning's is xavier_uniform).
struct ETimeCNNEncoderOptions {
  ETimeCNNEncoderOptions(RepPtr in_rep, RepPtr out_rep, std::vector<int64_t> hidden_channels,
                         int64_t time_horizon)
      : in_rep_(std::move(in_rep)),
        out_rep_(std::move(out_rep)),
        hidden_channels_(std::move(hidden_channels)),
        time_horizon_(time_horizon) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  TORCH_ARG(std::vector<int64_t>, hidden_channels);
  TORCH_ARG(int64_t, time_horizon);
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(bool, batch_norm) = false;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(std::vector<int64_t>, mlp_hidden) = std::vector<int64_t>{128};
  TORCH_ARG(std::string, downsample) = "stride";
  TORCH_ARG(bool, append_last_frame) = false;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(RepPtr, hidden_rep) = nullptr;
};

/// What is wrong with a set of options (see OptionError; keys as the options). The constructor throws it
/// as ConfigError; the YAML factory locates it at the key.
std::optional<OptionError> validate(const ETimeCNNEncoderOptions& options);

/// An equivariant time-series encoder.
///
///   auto g = registry.make_group("C5");
///   ETimeCNNEncoder enc(ETimeCNNEncoderOptions(parse_rep(g, "regular"), parse_rep(g, "2x regular"), {64},
///   16)); at::Tensor y = enc(at::randn({8, 5, 16}));   // (8, 10)
class ETimeCNNEncoderImpl : public Layer, public FixedSequenceLength {
 public:
  explicit ETimeCNNEncoderImpl(ETimeCNNEncoderOptions options);
  ~ETimeCNNEncoderImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and builds the blocks and the head.
  void reset();
  /// (N, C, H) → (N, out_rep.size); with features_last (the YAML layer) (N, H, C).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.out_rep(); }
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// The stock encoder (Conv1d blocks, torch RMSNorm scales, the stock MLP head) with the same sizes.
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// Model files give sequences features last: forward then takes (N, H, C). Off: torch's (N, C, H).
  void set_features_last(bool on) { features_last_ = on; }
  bool features_last() const { return features_last_; }
  /// time_horizon: the encoder flattens exactly that many frames (eqnn check makes inputs that long).
  int64_t sequence_length() const override { return options.time_horizon(); }
  /// The number of frames after the blocks, H'.
  int64_t time_horizon_out() const { return horizon_out_; }
  /// The head's input representation ⊕_{H'} cnn_rep (⊕ in_rep).
  RepPtr head_rep() const { return head_rep_; }
  bool invariant_head() const { return invariant_; }

  ETimeCNNEncoderOptions options;
  torch::nn::ModuleList feature_layers{nullptr};
  /// An EMLP or an IMLP.
  std::shared_ptr<MLPBase> head;

 private:
  std::vector<std::function<at::Tensor(const at::Tensor&)>> steps_;  // on (N, H, C)
  std::vector<std::shared_ptr<Layer>> layers_;
  RepPtr head_rep_;
  int64_t horizon_out_ = 0;
  bool invariant_ = false;
  bool features_last_ = false;
};
TORCH_MODULE(ETimeCNNEncoder);

}  // namespace eqnn
