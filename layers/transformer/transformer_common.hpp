// What the transformer layers and stacks share: the option fields every transformer layer has (checked
// once, by validate(TransformerParts)), the sub-layers built from them (from a registry by name, or the
// built-in classes), and attention with torch's masks (and, for the positional attentions, positions) in
// either sequence layout.
//
// The attention option: "mha" (eMultiheadAttention, torch's), "additive_pos" (eAdditivePosMultiheadAttention:
// a learned invariant embedding of absolute positions added to q and k; needs max_len > 0), "additive_rel"
// (eAdditiveRelMultiheadAttention: a learned scalar bias per clipped relative distance; needs max_distance >
// 0) or "rope" (eRoPEMultiheadAttention: q and k rotated by position; rope_base). The positional ones are
// called through PositionalAttentionImpl::attend with the positions of the query and key sequences.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "attention_call.hpp"
#include "e_linear.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

class EMultiheadAttentionImpl;
class PositionalAttentionImpl;

/// The activation that gates the feed-forward's non-trivial copies instead of a pointwise function (any
/// group, compact ones included).
inline constexpr const char* kGatedActivation = "gated";

/// The registry name of the activation layer `activation` names ("relu" or "eReLU" → "eReLU", "gated" →
/// "eGatedNonlinearity"), or empty.
std::string transformer_activation_layer(const std::string& activation);

/// The names the option `attention` takes: mha, additive_pos, additive_rel, rope.
const std::vector<std::string>& transformer_attention_kinds();

/// The fields of a transformer layer's options that decide its sub-layers (ETransformerEncoderLayerOptions
/// and ETransformerDecoderLayerOptions hold the same; transformer_parts() reads them), and the layer's name
/// for messages.
struct TransformerParts {
  const char* what;
  RepPtr rep;
  int64_t num_heads;
  int64_t dim_feedforward;
  double dropout;
  std::string activation;
  double layer_norm_eps;
  bool bias;
  std::string init_scheme, norm, norm_affine, norm_normalize;
  RegistryPointer registry;
  /// The attention kind (see the file comment) and its own options.
  std::string attention;
  int64_t max_len, max_distance;
  double rope_base;
  /// The execution of the attention (mha) and the feed-forward maps (see ELinearOptions::execution).
  std::string execution;
};

template <typename LayerOptions>
TransformerParts transformer_parts(const char* what, const LayerOptions& o) {
  return {what,
          o.in_rep(),
          o.num_heads(),
          o.dim_feedforward(),
          o.dropout(),
          o.activation(),
          o.layer_norm_eps(),
          o.bias(),
          o.init_scheme(),
          o.norm(),
          o.norm_affine(),
          o.norm_normalize(),
          o.registry(),
          o.attention(),
          o.max_len(),
          o.max_distance(),
          o.rope_base(),
          o.execution()};
}

/// What is wrong with the shared fields (the sub-layers check the rest when they are built).
std::optional<OptionError> validate(const TransformerParts& parts);

/// An option that takes one of a few names: an OptionError naming the key, what was found and the choices.
std::optional<OptionError> check_transformer_choice(const char* what, const char* key,
                                                    const std::string& value,
                                                    const std::vector<std::string>& choices,
                                                    const char* meaning);

/// Builds the sub-layers of a transformer layer: from parts.registry by their registry names (keyword
/// arguments as a YAML model would give them, so a research plugin can replace any of them) or, without a
/// registry, the built-in classes. A sub-layer's configuration error is rethrown as this layer's
/// ("eTransformerDecoderLayer: eMultiheadAttention: ..."), and a sub-layer that maps other representations
/// than the ones wired together is refused.
class TransformerSubLayers {
 public:
  explicit TransformerSubLayers(TransformerParts parts);
  /// The hidden representation of the feed-forward block, linear2's input: ceil(dim_feedforward / |G|) x
  /// regular for a pointwise activation; for activation "gated", k blocks each holding the trivial irrep and
  /// every distinct irrep of rep once (k = ceil(dim_feedforward / block size)).
  const RepPtr& hidden() const { return hidden_; }
  /// linear1's output, the activation's input: hidden() itself, or for "gated" one invariant gate per
  /// non-trivial copy of hidden() followed by hidden() (eGatedNonlinearity's layout).
  const RepPtr& expanded() const { return expanded_; }
  /// Each named as the calling layer registers it (for the messages). attention() is the kind
  /// parts.attention names: eMultiheadAttention, or a positional attention (batch-first).
  LayerPtr attention(const char* name) const;
  LayerPtr linear1(const char* name) const;     // rep -> expanded
  LayerPtr linear2(const char* name) const;     // hidden -> rep
  LayerPtr norm(const char* name) const;        // ELayerNorm or ERMSNorm over rep
  LayerPtr activation(const char* name) const;  // expanded -> hidden

 private:
  LayerPtr sub(const char* type, const RepPtr& in, const YAML::Node& kwargs,
               const std::function<LayerPtr()>& built_in) const;
  void check(const Layer& layer, const char* name, const RepPtr& in, const RepPtr& out) const;

  TransformerParts parts_;
  RepPtr hidden_, expanded_;
};

/// The attention sub-layer as an EMultiheadAttention, or a ConfigError naming `role` and what the registry
/// supplied (masks and cross-attention need the stock call).
std::shared_ptr<EMultiheadAttentionImpl> as_multihead_attention(const char* what, const char* role,
                                                                const LayerPtr& layer);

/// The attention sub-layer as a positional attention (for attention = additive_pos, additive_rel, rope), or a
/// ConfigError naming `role` and what the registry supplied.
std::shared_ptr<PositionalAttentionImpl> as_positional_attention(const char* what, const char* role,
                                                                 const std::string& kind,
                                                                 const LayerPtr& layer);

/// attention(query, key_value) with torch's masks, query and key_value in the calling layer's layout:
/// (batch, seq, D) with batch_first, else (seq, batch, D). Returns the output in the same layout.
at::Tensor attend_in_layout(EMultiheadAttentionImpl& attention, const at::Tensor& query,
                            const at::Tensor& key_value, bool batch_first, const at::Tensor& attn_mask,
                            const at::Tensor& key_padding_mask);

/// The same through a positional attention's attend(): q_positions for the query sequence, k_positions for
/// the key sequence (both in the (batch, seq) layout the positional attention documents).
at::Tensor attend_in_layout(PositionalAttentionImpl& attention, const at::Tensor& query,
                            const at::Tensor& key_value, bool batch_first, const at::Tensor& attn_mask,
                            const at::Tensor& key_padding_mask, const SequencePositions& q_positions,
                            const SequencePositions& k_positions);

/// Refuses positions given to a layer whose attention (eMultiheadAttention) has none: a ConfigError naming
/// `what`, the arguments (`names`) and the attention options that use positions. symm_learning's layers
/// drop them silently.
void refuse_positions(const char* what, const char* names);

/// ", attention=rope (rope_base 10000)" and the like for a layer's pretty_print; nothing for "mha".
template <typename LayerOptions>
void print_attention_options(std::ostream& os, const LayerOptions& o) {
  if (o.attention() == "mha") return;
  os << ", attention=" << o.attention();
  if (o.attention() == "additive_pos") os << " (max_len " << o.max_len() << ")";
  if (o.attention() == "additive_rel") os << " (max_distance " << o.max_distance() << ")";
  if (o.attention() == "rope") os << " (rope_base " << o.rope_base() << ")";
}

}  // namespace eqnn
