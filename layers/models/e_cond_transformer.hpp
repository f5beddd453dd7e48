// ECondTransformer: symm_learning's eCondTransformer (a conditional encoder/decoder transformer, the
// backbone of a diffusion or flow-matching policy) as one eqnn layer. It regresses V = f(X, k, Z) with
//   X (N, Tx, in_rep)      the noisy sample, Tx ≤ in_horizon tokens, features last;
//   k (scalar or (N))      the diffusion / flow step, on which the group does not act;
//   Z (N, Tz, cond_rep)    the conditioning (observations), 1 ≤ Tz ≤ cond_horizon tokens, oldest first.
// Every token lives in E = (embedding_dim / |G|) x hidden_rep (hidden_rep: regular by default):
//   step token  t = P_inv · SinEmb_D(k)    (sinusoidal_embedding, projected onto E's invariant vectors);
//   memory      M = dropout([t; cond_emb(Z)])                 (N, Tm = Tz + 1, D)
//               M ← encoder(M): an ETransformerEncoder of num_cond_layers layers, or, with 0 layers,
//                   ELinear(E → H) · Mish · ELinear(H → E), H = (4·D/|G|) x regular;
//   target      Y = dropout(input_emb(X))                      (N, Tx, D)
//               Y ← decoder(Y, M): an ETransformerDecoder of num_layers layers;
//   output      head(layer_norm(Y))                            (N, Tx, out_rep).
// The transformer layers have dim_feedforward 4·D, dropout p_drop_attn, GELU, norm_first, per-copy norm
// scales (norm_module "rmsnorm": ERMSNorm over all of E; "layernorm": ELayerNorm normalised per copy, as
// symm_learning's eLayerNorm) and the attention pos_encoding names:
//   additive_absolute  eAdditivePosMultiheadAttention, max_len = max(in_horizon, cond_horizon + 1);
//   additive_relative  eAdditiveRelMultiheadAttention, max_distance = in_horizon + cond_horizon − 1;
//   rope               eRoPEMultiheadAttention (rope_base) — eqnn's, beyond symm_learning's model;
//   none               eMultiheadAttention (no positions).
// Positions (symm_learning's): the target X at 0 … Tx−1; the memory at 0 … Tz (absolute, none) or
// [0, −(Tz−1), …, 0] (relative, rope: the newest observation and the first target token both at 0), the
// step token without a position (no embedding, no bias; RoPE treats it as 0).
// causal_attn: the target attends to targets s ≤ t and to memory tokens s ≤ t + 1 (the step token and the
// observations up to t), masks built for each call's Tx and Tz (symm_learning sizes them for the horizons,
// so shorter inputs fail there), and applied whatever the attention (symm_learning's causal hint drops the
// mask, and with it the relative bias, from the decoder's self-attention).
// The step is embedded in X's dtype (symm_learning rounds it to float32).
// Equivariant: f(ρ_in(g)X, k, ρ_cond(g)Z) = ρ_out(g) f(X, k, Z) — the embeddings and the head are
// equivariant maps, the step token is invariant, the transformer layers are equivariant token by token and
// the positions and masks act on the sequence axis only.
// Children as symm_learning's: input_emb, cond_emb, encoder (layers.i, or 0 and 2), decoder (layers.i),
// layer_norm, head.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of ECondTransformer: symm_learning's eCondTransformer arguments in its order (out_rep null:
/// in_rep), with eqnn's init_scheme default "stock" (symm_learning's is xavier_uniform), and, beyond it,
/// hidden_rep (the base of the embedding: null = regular; a rep with the regular rep's irreps, e.g. escnn's
/// regular representation through rep_from_escnn) and rope_base (pos_encoding "rope" only; 100 as
/// symm_learning's non-equivariant CondTransformer).
struct ECondTransformerOptions {
  ECondTransformerOptions(RepPtr in_rep, RepPtr cond_rep, int64_t in_horizon, int64_t cond_horizon,
                          int64_t num_layers, int64_t num_attention_heads, int64_t embedding_dim)
      : in_rep_(std::move(in_rep)),
        cond_rep_(std::move(cond_rep)),
        in_horizon_(in_horizon),
        cond_horizon_(cond_horizon),
        num_layers_(num_layers),
        num_attention_heads_(num_attention_heads),
        embedding_dim_(embedding_dim) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, cond_rep);
  /// Null: in_rep.
  TORCH_ARG(RepPtr, out_rep) = nullptr;
  /// The longest X (>= 1).
  TORCH_ARG(int64_t, in_horizon);
  /// The longest Z (>= 1), without the step token.
  TORCH_ARG(int64_t, cond_horizon);
  /// Decoder layers (>= 1).
  TORCH_ARG(int64_t, num_layers);
  /// Must divide embedding_dim / |G| (heads hold whole regular copies); with rope the quotient per head is
  /// even.
  TORCH_ARG(int64_t, num_attention_heads);
  /// D, a multiple of |G|.
  TORCH_ARG(int64_t, embedding_dim);
  TORCH_ARG(double, p_drop_emb) = 0.1;
  TORCH_ARG(double, p_drop_attn) = 0.1;
  TORCH_ARG(bool, causal_attn) = false;
  /// Encoder layers over the memory (>= 0; 0: the eLinear–Mish–eLinear block).
  TORCH_ARG(int64_t, num_cond_layers) = 0;
  /// "additive_absolute", "additive_relative", "rope" or "none".
  TORCH_ARG(std::string, pos_encoding) = "additive_absolute";
  TORCH_ARG(bool, norm_first) = true;
  /// "rmsnorm" or "layernorm".
  TORCH_ARG(std::string, norm_module) = "rmsnorm";
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(RepPtr, hidden_rep) = nullptr;
  TORCH_ARG(double, rope_base) = 100.0;
};

/// What is wrong with a set of options (see OptionError; keys as the options). The constructor throws it as
/// ConfigError; the YAML factory locates it at the key.
std::optional<OptionError> validate(const ECondTransformerOptions& options);

/// An equivariant conditional transformer.
///
///   auto g = registry.make_group("C4");
///   auto rep = parse_rep(g, "2x regular");
///   ECondTransformer m(ECondTransformerOptions(rep, rep, 8, 4, 2, 1, 16));
///   at::Tensor v = m->forward_with(x, {k, z});   // x (N, Tx ≤ 8, 8), k () or (N), z (N, Tz ≤ 4, 8)
class ECondTransformerImpl : public Layer, public ExtraInputs {
 public:
  explicit ECondTransformerImpl(ECondTransformerOptions options);
  ~ECondTransformerImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and builds the children.
  void reset();

  /// The model: x (N, Tx, in_rep.size) and extra = {opt_step, Z} (see the file comment); (N, Tx, out).
  at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) override;
  /// opt_step (kind step) and Z (kind sequence, cond_rep, length cond_horizon).
  std::vector<ExtraInput> extra_inputs() const override;
  /// Refused (ConfigError): the model needs the step and the conditioning (forward_with; Python
  /// model(X, opt_step, Z)).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return out_; }
  /// No stock module computes this model: empty (eqnn export refuses it by name).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// symm_learning's CondTransformer with the same sizes (stock Linear, MultiheadAttention, norms).
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// The embedding representation E.
  RepPtr embedding_rep() const { return emb_; }
  /// The memory positions for Tz observations ((Tz + 1), long) and their mask (bool, false at the step).
  std::pair<at::Tensor, at::Tensor> memory_positions(int64_t tz, const at::Device& device) const;
  /// The causal masks for Tx targets and Tz observations: (Tx, Tx) and (Tx, Tz + 1), bool, true = may not
  /// attend.
  std::pair<at::Tensor, at::Tensor> causal_masks(int64_t tx, int64_t tz, const at::Device& device) const;
  /// The step tokens (N, D) for steps k (scalar or (N)) in `options`' dtype: P_inv · SinEmb_D(k).
  at::Tensor step_tokens(const at::Tensor& k, int64_t n, const at::TensorOptions& options) const;

  ECondTransformerOptions options;
  ELinear input_emb{nullptr}, cond_emb{nullptr}, head{nullptr};
  /// With num_cond_layers > 0 (else null).
  ETransformerEncoder encoder{nullptr};
  /// With num_cond_layers = 0: [ELinear, EPointwise(mish), ELinear] (else null).
  torch::nn::ModuleList encoder_mlp{nullptr};
  ETransformerDecoder decoder{nullptr};
  /// ERMSNorm or ELayerNorm over E.
  LayerPtr layer_norm;
  torch::nn::Dropout dropout{nullptr};

 private:
  std::vector<std::shared_ptr<Layer>> mlp_;
  RepPtr emb_, out_;
  at::Tensor projector_;  // P_inv (D, D), float64 CPU
  DeviceCache<at::Tensor> projector_cache_;
};
TORCH_MODULE(ECondTransformer);

}  // namespace eqnn
