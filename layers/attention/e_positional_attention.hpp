// Positional equivariant attention: eRoPEMultiheadAttention (rotary), eAdditivePosMultiheadAttention
// (learned invariant absolute embeddings) and eAdditiveRelMultiheadAttention (a learned scalar bias per
// clipped relative distance). Each holds an EMultiheadAttention `attn` (Q, K, V in reg^m, m = D/|G| regular
// copies in the permutation basis, whatever in_rep is) and adds positions to it; every one is exactly
// equivariant on every group element.
//
// Positions: per sequence (L), (1, L) or (N, L) — (batch, seq) whatever batch_first says — any real dtype
// (the additive absolute embedding needs integers), default arange(L). Position masks: bool in the same
// layouts, true = the token has a position; a token without one is treated as position 0 by RoPE, gets no
// embedding from the absolute table and no bias from the relative one (symm_learning's conventions).
//
// eRoPEMultiheadAttention, the maths. One head of q is Q ∈ R^{c×n} (c = m/num_heads regular copies, n =
// |G|; row r = copy r). G acts alike on every copy of reg^m: Q ↦ Q P_gᵀ, i.e. I_c ⊗ P_g. RoPE at position
// p is R_p ⊗ I_n with R_p = ⊕_{i<c/2} R(p·θ_i) ∈ SO(c), θ_i = rope_base^(−2i/c), R(a) the plane rotation by
// a: copies 2i and 2i+1 are mixed by one rotation at every group coordinate. Then
//   (R_p ⊗ I_n)(I_c ⊗ P_g) = (I_c ⊗ P_g)(R_p ⊗ I_n)  → rotated q, k still transform by ρ(g);
//   ⟨R_p q, R_s k⟩ = ⟨q, R_{s−p} k⟩                   → logits depend on s − p only (shift invariance),
// and logits are invariant, v and out_proj are EMHA's, so the output is exactly equivariant. A rotation
// inside a copy would have to lie in End_G(reg), which holds no rotation family for non-abelian G; the copy
// mixing works for every group. Accepted input reps: exactly EMultiheadAttention's (any in_rep of size
// m·|G|, with or without a change of basis: in_proj ∈ Hom_G(in_rep, reg^{3m}) absorbs it, and the rotation
// acts on the reg^m of Q and K, which is always in the permutation basis), with c = m/num_heads even.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "attention_call.hpp"
#include "e_multihead_attention.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// The common C++ entry point of the positional attention layers (for the transformer layers):
/// attend(query, key, value, call) → (output like query, weights or undefined), layouts as
/// EMultiheadAttention::forward with the module's batch_first. The Layer forward(x) is self-attention on
/// (batch, seq, D) or (batch, D) with the default positions.
class PositionalAttentionImpl : public Layer {
 public:
  using Layer::Layer;
  virtual std::tuple<at::Tensor, at::Tensor> attend(const at::Tensor& query, const at::Tensor& key,
                                                    const at::Tensor& value, const AttentionCall& call) = 0;
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return attn->in_rep(); }
  RepPtr out_rep() const override { return attn->in_rep(); }
  /// Empty: no stock torch module computes these functions (eqnn export refuses them by name); the
  /// attention's own tensors are attn->effective_parameters().
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return attn->unconstrained_parameter_count(); }
  /// The attention's effective tensors (attn->effective_parameters(), stock names) and the layer's own dense
  /// ones (pos_emb (max_len, D) and pos_emb_basis (D, m₀); rel_bias), for oracles and converters.
  virtual std::vector<std::pair<std::string, at::Tensor>> dense_parameters() {
    return attn->effective_parameters();
  }

  /// The equivariant attention the positions are added to (parameters "attn.*", as symm_learning's).
  EMultiheadAttention attn = nullptr;

 protected:
  /// (positions (B, L), mask (B, L) or undefined) with B ∈ {1, N}; checks the layout, names `which`.
  std::pair<at::Tensor, at::Tensor> normalized(const SequencePositions& sp, int64_t n, int64_t len,
                                               const char* which, const at::Tensor& like) const;
  /// (N, L, S) of query/key in the module's layout.
  std::tuple<int64_t, int64_t, int64_t> sizes(const at::Tensor& query, const at::Tensor& key) const;
  bool batch_first() const;
  /// The module's own parameter `name`, as it holds it now.
  at::Tensor own_parameter(const char* name) const;
  std::string what_;
};

// ---- eRoPEMultiheadAttention ----

struct ERoPEMultiheadAttentionOptions {
  ERoPEMultiheadAttentionOptions(RepPtr in_rep, int64_t num_heads)
      : in_rep_(std::move(in_rep)), num_heads_(num_heads) {}
  TORCH_ARG(RepPtr, in_rep);
  /// Must divide m = in_rep.size/|G| with m/num_heads even.
  TORCH_ARG(int64_t, num_heads);
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, bias) = true;
  /// symm_learning's positional attention is batch-first only: true by default.
  TORCH_ARG(bool, batch_first) = true;
  /// θ_i = rope_base^(−2i/c); > 0.
  TORCH_ARG(double, rope_base) = 10000.0;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};
std::optional<OptionError> validate(const ERoPEMultiheadAttentionOptions& options);

/// Rotary attention (see the file comment): q and k of every head rotated by R_p ⊗ I_n, then EMHA.
class ERoPEMultiheadAttentionImpl : public PositionalAttentionImpl {
 public:
  explicit ERoPEMultiheadAttentionImpl(ERoPEMultiheadAttentionOptions options);
  void reset();
  void reset_parameters() { attn->reset_parameters(); }
  std::tuple<at::Tensor, at::Tensor> attend(const at::Tensor& query, const at::Tensor& key,
                                            const at::Tensor& value, const AttentionCall& call) override;
  void pretty_print(std::ostream& stream) const override;
  ERoPEMultiheadAttentionOptions options;

 private:
  at::Tensor theta_;  // (c/2) float64
};
TORCH_MODULE(ERoPEMultiheadAttention);

// ---- eAdditivePosMultiheadAttention ----

struct EAdditivePosMultiheadAttentionOptions {
  EAdditivePosMultiheadAttentionOptions(RepPtr in_rep, int64_t num_heads, int64_t max_len)
      : in_rep_(std::move(in_rep)), num_heads_(num_heads), max_len_(max_len) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(int64_t, num_heads);
  /// Positions are integers in [0, max_len); > 0.
  TORCH_ARG(int64_t, max_len);
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(bool, batch_first) = true;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};
std::optional<OptionError> validate(const EAdditivePosMultiheadAttentionOptions& options);

/// q ← q + pos_emb[p_q]·mask_q, k ← k + pos_emb[p_k]·mask_k (v unchanged), then EMHA; pos_emb (max_len, D)
/// has invariant rows: pos_emb = pos_emb_coefficients · Bᵀ, B (D, m₀) a basis of in_rep's invariant vectors.
/// ρ(g)x + u = ρ(g)(x + u) for invariant u. Init: dense N(0, 0.02²) rows, analysed (symm_learning's
/// projected init), at construction.
class EAdditivePosMultiheadAttentionImpl : public PositionalAttentionImpl {
 public:
  explicit EAdditivePosMultiheadAttentionImpl(EAdditivePosMultiheadAttentionOptions options);
  void reset();
  void reset_parameters();
  std::tuple<at::Tensor, at::Tensor> attend(const at::Tensor& query, const at::Tensor& key,
                                            const at::Tensor& value, const AttentionCall& call) override;
  void pretty_print(std::ostream& stream) const override;
  /// The dense embedding table (max_len, D).
  at::Tensor pos_emb() const;
  std::vector<std::pair<std::string, at::Tensor>> dense_parameters() override;
  /// The invariant basis B (D, m₀) in float64 (pos_emb = coefficients · Bᵀ).
  const at::Tensor& invariant_basis() const { return basis_; }
  /// The parameter "pos_emb_coefficients" (max_len, m₀), looked up by name (the Python bridge may replace
  /// it).
  at::Tensor pos_emb_coefficients() const;
  EAdditivePosMultiheadAttentionOptions options;

 private:
  at::Tensor embedding(const SequencePositions& sp, int64_t n, int64_t len, const char* which,
                       const at::Tensor& like) const;
  at::Tensor basis_;
};
TORCH_MODULE(EAdditivePosMultiheadAttention);

// ---- eAdditiveRelMultiheadAttention ----

struct EAdditiveRelMultiheadAttentionOptions {
  EAdditiveRelMultiheadAttentionOptions(RepPtr in_rep, int64_t num_heads, int64_t max_distance)
      : in_rep_(std::move(in_rep)), num_heads_(num_heads), max_distance_(max_distance) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(int64_t, num_heads);
  /// Distances are clipped to [−max_distance, max_distance]; > 0.
  TORCH_ARG(int64_t, max_distance);
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(bool, batch_first) = true;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};
std::optional<OptionError> validate(const EAdditiveRelMultiheadAttentionOptions& options);

/// logits[n,h,l,s] −= rel_bias[clip(p_l − p_s, ±max_distance) + max_distance]·(valid_l ∧ valid_s)
/// (subtracted, as symm_learning; shared by all heads; a pair without positions gets 0), then EMHA. A
/// scalar bias on the logits keeps equivariance. rel_bias (2·max_distance+1) starts N(0, 0.02²).
class EAdditiveRelMultiheadAttentionImpl : public PositionalAttentionImpl {
 public:
  explicit EAdditiveRelMultiheadAttentionImpl(EAdditiveRelMultiheadAttentionOptions options);
  void reset();
  void reset_parameters();
  std::tuple<at::Tensor, at::Tensor> attend(const at::Tensor& query, const at::Tensor& key,
                                            const at::Tensor& value, const AttentionCall& call) override;
  void pretty_print(std::ostream& stream) const override;
  /// The parameter "rel_bias" (2·max_distance+1), looked up by name (the Python bridge may replace it).
  at::Tensor rel_bias() const;
  std::vector<std::pair<std::string, at::Tensor>> dense_parameters() override;
  EAdditiveRelMultiheadAttentionOptions options;
};
TORCH_MODULE(EAdditiveRelMultiheadAttention);

}  // namespace eqnn
