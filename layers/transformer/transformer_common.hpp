// What the transformer layers and stacks share: the option fields every transformer layer has (checked
// once, by validate(TransformerParts)), the sub-layers built from them (from a registry by name, or the
// built-in classes), and attention with torch's masks in either sequence layout.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "e_linear.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

class EMultiheadAttentionImpl;

/// The registry name of the activation layer `activation` names ("relu" or "eReLU" → "eReLU"), or empty.
std::string transformer_activation_layer(const std::string& activation);

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
          o.registry()};
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
  /// The hidden representation of the feed-forward block: ceil(dim_feedforward / |G|) x regular.
  const RepPtr& hidden() const { return hidden_; }
  /// Each named as the calling layer registers it (for the messages).
  LayerPtr attention(const char* name) const;
  LayerPtr linear1(const char* name) const;  // rep -> hidden
  LayerPtr linear2(const char* name) const;  // hidden -> rep
  LayerPtr norm(const char* name) const;     // ELayerNorm or ERMSNorm over rep
  LayerPtr activation(const char* name) const;

 private:
  LayerPtr sub(const char* type, const RepPtr& in, const YAML::Node& kwargs,
               const std::function<LayerPtr()>& built_in) const;
  void check(const Layer& layer, const char* name, const RepPtr& in, const RepPtr& out) const;

  TransformerParts parts_;
  RepPtr hidden_;
};

/// The attention sub-layer as an EMultiheadAttention, or a ConfigError naming `role` and what the registry
/// supplied (masks and cross-attention need the stock call).
std::shared_ptr<EMultiheadAttentionImpl> as_multihead_attention(const char* what, const char* role,
                                                                const LayerPtr& layer);

/// attention(query, key_value) with torch's masks, query and key_value in the calling layer's layout:
/// (batch, seq, D) with batch_first, else (seq, batch, D). Returns the output in the same layout.
at::Tensor attend_in_layout(EMultiheadAttentionImpl& attention, const at::Tensor& query,
                            const at::Tensor& key_value, bool batch_first, const at::Tensor& attn_mask,
                            const at::Tensor& key_padding_mask);

}  // namespace eqnn
