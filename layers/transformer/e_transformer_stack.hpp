// ETransformerEncoder and ETransformerDecoder: torch::nn::TransformerEncoder/Decoder over the equivariant
// layers. `num_layers` layers with the same options, each initialised independently (children `layers.i`),
// applied in turn with the same masks (and, for the decoder, the same memory), then an optional final norm
// (child `norm`): none, ELayerNorm or ERMSNorm over in_rep with the layers' eps, norm_affine and
// norm_normalize. The layers' attention option decides the positions forward takes (each layer gets the same
// ones). A composition of equivariant maps, so exactly equivariant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "e_transformer_decoder_layer.hpp"
#include "e_transformer_encoder_layer.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// Options of ETransformerEncoder, as torch::nn::TransformerEncoderOptions(encoder_layer, num_layers):
/// the options of every layer, their number (>= 1) and the final norm ("none", the default as torch's
/// norm = None; "layer_norm" or "rms_norm").
struct ETransformerEncoderOptions {
  ETransformerEncoderOptions(ETransformerEncoderLayerOptions encoder_layer, int64_t num_layers)
      : encoder_layer_(std::move(encoder_layer)), num_layers_(num_layers) {}
  TORCH_ARG(ETransformerEncoderLayerOptions, encoder_layer);
  TORCH_ARG(int64_t, num_layers);
  TORCH_ARG(std::string, final_norm) = "none";
};

/// Options of ETransformerDecoder: as ETransformerEncoderOptions, with the decoder layer's options.
struct ETransformerDecoderOptions {
  ETransformerDecoderOptions(ETransformerDecoderLayerOptions decoder_layer, int64_t num_layers)
      : decoder_layer_(std::move(decoder_layer)), num_layers_(num_layers) {}
  TORCH_ARG(ETransformerDecoderLayerOptions, decoder_layer);
  TORCH_ARG(int64_t, num_layers);
  TORCH_ARG(std::string, final_norm) = "none";
};

std::optional<OptionError> validate(const ETransformerEncoderOptions& options);
std::optional<OptionError> validate(const ETransformerDecoderOptions& options);

/// A stack of equivariant transformer encoder layers.
///
///   ETransformerEncoder enc(ETransformerEncoderOptions(
///       ETransformerEncoderLayerOptions(rep, 2).dim_feedforward(64).batch_first(true),
///       3).final_norm("layer_norm"));
///   at::Tensor y = enc->forward(x, causal_mask, key_padding_mask);
class ETransformerEncoderImpl : public Layer {
 public:
  explicit ETransformerEncoderImpl(ETransformerEncoderOptions options);
  void reset();

  /// As torch::nn::TransformerEncoder::forward (the masks of ETransformerEncoderLayer::forward), with the
  /// positions every layer's positional attention takes (see ETransformerEncoderLayerImpl::forward).
  at::Tensor forward(const at::Tensor& src, const at::Tensor& mask,
                     const at::Tensor& src_key_padding_mask = {}, const SequencePositions& positions = {});
  /// Layer interface: the layers' own forward(x) in turn (no masks), then the norm.
  at::Tensor forward(const at::Tensor& src) override;
  RepPtr in_rep() const override { return options.encoder_layer().in_rep(); }
  RepPtr out_rep() const override { return options.encoder_layer().in_rep(); }
  /// Empty, as the layers' (see ETransformerEncoderLayerImpl::effective_parameters).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  ETransformerEncoderOptions options;
  torch::nn::ModuleList layers{nullptr};
  /// The final norm (null with final_norm = "none").
  LayerPtr norm;

 private:
  std::vector<std::shared_ptr<ETransformerEncoderLayerImpl>> layers_;
};

/// A stack of equivariant transformer decoder layers.
///
///   ETransformerDecoder dec(ETransformerDecoderOptions(
///       ETransformerDecoderLayerOptions(rep, 2).dim_feedforward(64).batch_first(true), 3));
///   at::Tensor y = dec->forward(tgt, memory, {causal_mask});
class ETransformerDecoderImpl : public Layer {
 public:
  explicit ETransformerDecoderImpl(ETransformerDecoderOptions options);
  void reset();

  /// As torch::nn::TransformerDecoder::forward (the masks and positions of
  /// ETransformerDecoderLayer::forward).
  at::Tensor forward(const at::Tensor& tgt, const at::Tensor& memory, const DecoderMasks& masks = {});
  /// Layer interface: refused with a ConfigError naming forward(tgt, memory, masks).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.decoder_layer().in_rep(); }
  RepPtr out_rep() const override { return options.decoder_layer().in_rep(); }
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  ETransformerDecoderOptions options;
  torch::nn::ModuleList layers{nullptr};
  /// The final norm (null with final_norm = "none").
  LayerPtr norm;

 private:
  std::vector<std::shared_ptr<ETransformerDecoderLayerImpl>> layers_;
};

TORCH_MODULE(ETransformerEncoder);
TORCH_MODULE(ETransformerDecoder);

}  // namespace eqnn
