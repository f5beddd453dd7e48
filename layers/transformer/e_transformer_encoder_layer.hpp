// ETransformerEncoderLayer: torch::nn::TransformerEncoderLayer with equivariant parts. Same structure,
// submodule names and pre-/post-norm arithmetic as the stock layer:
//   post-norm (default): x = norm1(x + dropout1(self_attn(x)));  x = norm2(x + dropout2(ff(x)))
//   pre-norm:            x = x + dropout1(self_attn(norm1(x)));  x = x + dropout2(ff(norm2(x)))
//   ff(x) = linear2(dropout(activation(linear1(x))))
// with self_attn an EMultiheadAttention (or, with the option attention, a positional attention: see
// transformer_common.hpp), linear1/linear2 ELinear through a hidden `k x regular`
// representation (k = ceil(dim_feedforward / |G|), so the hidden size is rounded up to whole regular copies
// and a pointwise activation is equivariant there), and norm1/norm2 ELayerNorm (option norm = "layer_norm",
// torch's) or ERMSNorm (norm = "rms_norm", symm_learning's default), each with eps = layer_norm_eps and the
// scale layout norm_affine ("per_field": one scale per orbit/feature/irrep copy, exportable where the norm is
// stock; "per_copy": one per irreducible copy of the rep's change of basis Q, symm_learning's eAffine) and
// the statistic norm_normalize ("all", torch's; "per_copy", symm_learning's eLayerNorm: each irreducible
// copy divided by its own RMS). See e_norm.hpp for the maths of both norms. With options.registry the
// sub-layers are the registry's layers of those names (so a research plugin can replace any of them);
// without one they are the built-in classes.
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

/// Options of ETransformerEncoderLayer; defaults as torch.nn.TransformerEncoderLayer (dim_feedforward 2048,
/// dropout 0.1, relu, layer_norm_eps 1e-5, batch_first false, norm_first false, bias true) — note that the
/// YAML layer defaults to batch_first: true, the layout of an eqnn model. `activation` is a stock name
/// (relu, gelu, silu, tanh) or the layer name (eReLU, eGELU, eSiLU, eTanh), applied pointwise to the hidden
/// k x regular; or "gated" (eGatedNonlinearity): the hidden rep is then k blocks of the trivial irrep and
/// each distinct irrep of in_rep, every non-trivial copy scaled by σ of its own invariant gate (linear1
/// makes the gates too). "gated" is the one a compact group takes (it has no finite regular rep, so the
/// pointwise ones are refused there with a message naming it). `init_scheme` goes to the
/// attention and both linear maps (see ELinearOptions). `norm`, `norm_affine` and `norm_normalize` choose
/// norm1/norm2 (defaults: torch's LayerNorm statistic with eqnn's per-field scales).
struct ETransformerEncoderLayerOptions {
  ETransformerEncoderLayerOptions(RepPtr in_rep, int64_t num_heads)
      : in_rep_(std::move(in_rep)), num_heads_(num_heads) {}
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
  /// norm1/norm2: "layer_norm" (ELayerNorm, as torch) or "rms_norm" (ERMSNorm: no centring, no bias).
  TORCH_ARG(std::string, norm) = "layer_norm";
  /// The norms' scales: "per_field" or "per_copy" (ELayerNormOptions::affine).
  TORCH_ARG(std::string, norm_affine) = "per_field";
  /// The norms' statistic: "all" or "per_copy" (ELayerNormOptions::normalize).
  TORCH_ARG(std::string, norm_normalize) = "all";
  /// Where the sub-layers come from, by their registry names (null: the built-in classes).
  TORCH_ARG(RegistryPointer, registry) = nullptr;
  /// The attention (self_attn): "mha" (eMultiheadAttention, torch's), "additive_pos"
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

/// The YAML layer's batch_first when the model file does not give it: an eqnn Model feeds every layer
/// (batch, seq, D), so in a model file the layer is batch-first. The one place where YAML's default
/// differs from the Options' (and torch's) `false`, which C++ and Python keep.
inline constexpr bool kModelBatchFirst = true;

/// What is wrong with a set of options (see OptionError; the sub-layers check the rest when they are
/// built). The constructor throws it as ConfigError; the YAML factory locates it at the key.
std::optional<OptionError> validate(const ETransformerEncoderLayerOptions& options);

/// An equivariant transformer encoder layer.
///
///   auto g = registry.make_group("C8");
///   ETransformerEncoderLayer enc(
///       ETransformerEncoderLayerOptions(parse_rep(g, "4x regular"),
///       2).dim_feedforward(64).batch_first(true));
///   at::Tensor y = enc(at::randn({5, 10, 32}));   // (batch 5, seq 10, 32)
///   at::Tensor z = enc(x, causal_mask, key_padding_mask);   // the masks of the stock layer
///   // With .attention("rope") (or additive_pos/additive_rel), positions for self_attn's queries and keys:
///   at::Tensor w = enc(x, {}, {}, {positions});   // positions (10) or (5, 10)
class ETransformerEncoderLayerImpl : public Layer {
 public:
  explicit ETransformerEncoderLayerImpl(ETransformerEncoderLayerOptions options);
  ~ETransformerEncoderLayerImpl() override;
  /// Called by the constructor: checks the options and builds and registers the sub-layers. A sub-layer's
  /// configuration error is rethrown as this layer's ("eTransformerEncoderLayer: eMultiheadAttention: ...").
  void reset();

  /// (batch, seq, D) with batch_first, else (seq, batch, D); a 2-D (batch, D) is a batch of single tokens
  /// (the eqnn Layer convention). Returns the same shape.
  at::Tensor forward(const at::Tensor& src) override;
  /// As torch::nn::TransformerEncoderLayer::forward: src_mask (seq, seq) or (batch·num_heads, seq, seq) and
  /// src_key_padding_mask (batch, seq), each bool (true = may not attend) or floating-point (added to the
  /// scores), go to self_attn as attn_mask and key_padding_mask (undefined: none). The masks only decide
  /// which tokens attend to which, so the layer stays exactly equivariant. A 2-D src is a batch of single
  /// tokens here too (seq = 1). Needs self_attn to be an EMultiheadAttention (a registry may supply another
  /// layer; masks for it are refused by name).
  ///
  /// src_positions (positions (seq), (1, seq) or (batch, seq), and their bool mask; see
  /// PositionalAttentionImpl) go to self_attn's queries and keys when options.attention is a positional one
  /// (undefined: arange(seq), every token with a position); given to a layer whose attention is "mha" they
  /// are refused (ConfigError).
  at::Tensor forward(const at::Tensor& src, const at::Tensor& src_mask,
                     const at::Tensor& src_key_padding_mask = {},
                     const SequencePositions& src_positions = {});
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// The hidden representation of the feed-forward block (k x regular).
  RepPtr hidden_rep() const { return hidden_; }

  /// No stock equivalent: norm1/norm2 are eLayerNorm or eRMSNorm, whose commuting affine map and
  /// invariant-part centring torch.nn.LayerNorm cannot express. A partial list would not load into
  /// torch.nn.TransformerEncoderLayer with strict=True, so the honest answer is the empty list; the
  /// sub-layers' own effective_parameters() remain available through the children.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// The stock layer with the same sizes: TransformerEncoderLayer(D, num_heads, hidden size, bias); with
  /// norm = "rms_norm" less the two LayerNorm biases (torch.nn.RMSNorm has a weight only).
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  ETransformerEncoderLayerOptions options;
  /// The sub-layers, with the stock layer's names (an eqnn Layer each: a registry may supply them).
  LayerPtr self_attn, linear1, linear2, norm1, norm2, activation;
  torch::nn::Dropout dropout{nullptr}, dropout1{nullptr}, dropout2{nullptr};

 private:
  at::Tensor self_attention_block(const at::Tensor& x, const at::Tensor& src_mask,
                                  const at::Tensor& src_key_padding_mask,
                                  const SequencePositions& src_positions);
  at::Tensor feed_forward_block(const at::Tensor& x);

  RepPtr hidden_;
  /// self_attn as a positional attention (null with attention = "mha").
  std::shared_ptr<PositionalAttentionImpl> positional_;
};

/// The module holder (TORCH_MODULE's, plus a call operator: forward is overloaded — the Layer one and the
/// stock one with masks — which ModuleHolder's own operator() cannot deduce). As with EMultiheadAttention,
/// the overload keeps it out of torch::nn::Sequential / AnyModule (they take the address of one forward);
/// eqnn's Model composes layers through the Layer interface instead.
class ETransformerEncoderLayer : public torch::nn::ModuleHolder<ETransformerEncoderLayerImpl> {
 public:
  using torch::nn::ModuleHolder<ETransformerEncoderLayerImpl>::ModuleHolder;
  using Impl = ETransformerEncoderLayerImpl;
  at::Tensor operator()(const at::Tensor& src, const at::Tensor& src_mask = {},
                        const at::Tensor& src_key_padding_mask = {},
                        const SequencePositions& src_positions = {}) {
    return get()->forward(src, src_mask, src_key_padding_mask, src_positions);
  }
};

}  // namespace eqnn
