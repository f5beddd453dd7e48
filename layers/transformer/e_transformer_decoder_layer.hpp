// ETransformerDecoderLayer: torch::nn::TransformerDecoderLayer with equivariant parts. Same structure,
// submodule names and pre-/post-norm arithmetic as the stock layer:
//   post-norm (default): x = norm1(x + dropout1(SA(x)));  x = norm2(x + dropout2(MHA(x, mem)));
//                        x = norm3(x + dropout3(ff(x)))
//   pre-norm:            x = x + dropout1(SA(norm1(x)));  x = x + dropout2(MHA(norm2(x), mem));
//                        x = x + dropout3(ff(norm3(x)))
//   ff(x) = linear2(dropout(activation(linear1(x))))
// with SA (self_attn) and MHA (multihead_attn: queries from the target, keys and values from the memory)
// EMultiheadAttention (or both the positional attention the option attention names: see
// transformer_common.hpp; the target's positions go to SA's queries and keys and to MHA's queries, the
// memory's to MHA's keys), linear1/linear2 ELinear through `ceil(dim_feedforward / |G|) x regular`, and
// norm1–norm3 ELayerNorm or ERMSNorm with the encoder layer's norm options (see
// e_transformer_encoder_layer.hpp). The memory lives in in_rep as the target does and is never normed.
// Every part commutes with ρ(g) acting on each token of the target and of the memory, and the masks only
// choose which tokens attend to which, so the layer is exactly equivariant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "transformer_common.hpp"

namespace eqnn {

class EMultiheadAttentionImpl;
class PositionalAttentionImpl;

/// Options of ETransformerDecoderLayer; defaults as torch.nn.TransformerDecoderLayer (dim_feedforward 2048,
/// dropout 0.1, relu, layer_norm_eps 1e-5, batch_first false, norm_first false, bias true); the eqnn
/// options (init_scheme, norm, norm_affine, norm_normalize, registry) and activation (with "gated", the one
/// a compact group takes) as ETransformerEncoderLayerOptions.
/// The YAML layer defaults to batch_first: true (eqnn::kModelBatchFirst).
struct ETransformerDecoderLayerOptions {
  ETransformerDecoderLayerOptions(RepPtr in_rep, int64_t num_heads)
      : in_rep_(std::move(in_rep)), num_heads_(num_heads) {}
  /// The representation of every target and memory token.
  TORCH_ARG(RepPtr, in_rep);
  /// Must divide in_rep.size / |G| (heads hold whole regular copies).
  TORCH_ARG(int64_t, num_heads);
  /// Rounded up to a multiple of |G| (for activation "gated": of the hidden block's size).
  TORCH_ARG(int64_t, dim_feedforward) = 2048;
  TORCH_ARG(double, dropout) = 0.1;
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(double, layer_norm_eps) = 1e-5;
  /// forward takes (batch, seq, D) instead of (seq, batch, D).
  TORCH_ARG(bool, batch_first) = false;
  TORCH_ARG(bool, norm_first) = false;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(std::string, init_scheme) = "stock";
  /// norm1–norm3: "layer_norm" (ELayerNorm, as torch) or "rms_norm" (ERMSNorm).
  TORCH_ARG(std::string, norm) = "layer_norm";
  /// The norms' scales: "per_field" or "per_copy" (ELayerNormOptions::affine).
  TORCH_ARG(std::string, norm_affine) = "per_field";
  /// The norms' statistic: "all" or "per_copy" (ELayerNormOptions::normalize).
  TORCH_ARG(std::string, norm_normalize) = "all";
  /// Where the sub-layers come from, by their registry names (null: the built-in classes).
  TORCH_ARG(RegistryPointer, registry) = nullptr;
  /// The attention (self_attn and multihead_attn): "mha" (eMultiheadAttention, torch's), "additive_pos"
  /// (eAdditivePosMultiheadAttention), "additive_rel" (eAdditiveRelMultiheadAttention) or "rope"
  /// (eRoPEMultiheadAttention); the positional ones take the positions forward is given (see
  /// transformer_common.hpp).
  TORCH_ARG(std::string, attention) = "mha";
  /// additive_pos: the size of the table of absolute positions (positions in [0, max_len)); must be > 0
  /// there.
  TORCH_ARG(int64_t, max_len) = 0;
  /// additive_rel: relative distances are clipped to [-max_distance, max_distance]; must be > 0 there.
  TORCH_ARG(int64_t, max_distance) = 0;
  /// rope: θ_i = rope_base^(-2i/c) (c regular copies per head, which must be even).
  TORCH_ARG(double, rope_base) = 10000.0;
  /// How the attention's projections and the feed-forward maps are computed: "dense", "isotypic" or "auto"
  /// (see ELinearOptions::execution; default "auto"); passed to the sub-layers.
  TORCH_ARG(std::string, execution) = kDefaultExecution;
};

/// What is wrong with a set of options (the sub-layers check the rest when they are built).
std::optional<OptionError> validate(const ETransformerDecoderLayerOptions& options);

/// The masks and hints of a decoder forward, as torch.nn.TransformerDecoderLayer.forward takes them
/// (undefined tensor: not given). tgt_mask (T, T) or (batch·num_heads, T, T); memory_mask (T, S) or
/// (batch·num_heads, T, S); tgt_key_padding_mask (batch, T); memory_key_padding_mask (batch, S); each bool
/// (true = may not attend) or floating-point (added to the scores). The causal hints are torch's: they say
/// the mask is causal, and the mask is what is applied. The positions (each positions (T)/(S), (1, ·) or
/// (batch, ·) and a bool mask; see PositionalAttentionImpl) are used by a positional attention option: the
/// target's go to self_attn's queries and keys and to multihead_attn's queries, the memory's to
/// multihead_attn's keys (undefined: arange, every token with a position). Given to a layer whose attention
/// is "mha" they are refused (ConfigError).
struct DecoderMasks {
  at::Tensor tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask;
  bool tgt_is_causal = false, memory_is_causal = false;
  SequencePositions tgt_positions, memory_positions;
};

/// An equivariant transformer decoder layer.
///
///   auto g = registry.make_group("C8");
///   ETransformerDecoderLayer dec(ETransformerDecoderLayerOptions(parse_rep(g, "4x regular"), 2)
///                                    .dim_feedforward(64).batch_first(true));
///   at::Tensor y = dec->forward(tgt, memory);   // tgt (batch, T, 32), memory (batch, S, 32)
///   at::Tensor z = dec->forward(tgt, memory, {causal});   // the masks of the stock layer
///   eqnn::DecoderMasks m;   // with .attention("additive_rel").max_distance(8): positions too
///   m.tgt_positions.positions = at::arange(10);
///   m.memory_positions = {memory_positions, memory_position_mask};
class ETransformerDecoderLayerImpl : public Layer {
 public:
  explicit ETransformerDecoderLayerImpl(ETransformerDecoderLayerOptions options);
  ~ETransformerDecoderLayerImpl() override;
  /// Called by the constructor: checks the options and builds and registers the sub-layers.
  void reset();

  /// As torch::nn::TransformerDecoderLayer::forward: tgt (T, batch, D) and memory (S, batch, D), or
  /// (batch, T, D) and (batch, S, D) with batch_first; returns the shape of tgt.
  at::Tensor forward(const at::Tensor& tgt, const at::Tensor& memory, const DecoderMasks& masks = {});
  /// Layer interface: refused with a ConfigError (a decoder needs the memory; call
  /// forward(tgt, memory, masks), or from Python ETransformerDecoderLayer(...)(tgt, memory)).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// The hidden representation of the feed-forward block (k x regular).
  RepPtr hidden_rep() const { return hidden_; }

  /// Empty, as ETransformerEncoderLayer's (eqnn's norms are not torch.nn.LayerNorm); the sub-layers'
  /// effective_parameters() remain available through the children.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// The stock layer with the same sizes (less the three LayerNorm biases with norm = "rms_norm").
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  ETransformerDecoderLayerOptions options;
  /// The sub-layers, with the stock layer's names and registration order.
  LayerPtr self_attn, multihead_attn, linear1, linear2, norm1, norm2, norm3, activation;
  torch::nn::Dropout dropout{nullptr}, dropout1{nullptr}, dropout2{nullptr}, dropout3{nullptr};

 private:
  at::Tensor feed_forward_block(const at::Tensor& x);

  // The attentions as EMultiheadAttention (attention = "mha") or as positional attentions (the others).
  std::shared_ptr<EMultiheadAttentionImpl> self_mha_, cross_mha_;
  std::shared_ptr<PositionalAttentionImpl> self_positional_, cross_positional_;
  RepPtr hidden_;
};

TORCH_MODULE(ETransformerDecoderLayer);

/// Checks tgt and memory against a decoder's in_rep and layout (3-D, the same batch, the right size);
/// shared by the decoder layer and the decoder stack.
void check_decoder_inputs(const char* what, const RepPtr& rep, bool batch_first, const at::Tensor& tgt,
                          const at::Tensor& memory);

}  // namespace eqnn
