// eMultiheadAttention: multi-head attention that is exactly equivariant for any representation whose size
// is a multiple of |G|. Q, K and V live in reg^m (m = D/|G| regular copies, permutation basis), heads hold
// whole regular copies, in_proj ∈ Hom_G(in_rep, reg^{3m}) with an invariant bias, out_proj ∈ Hom_G(reg^m,
// in_rep). The runtime is PyTorch's: the fused at::scaled_dot_product_attention when no attention weights are
// requested (as torch.nn.MultiheadAttention does), the explicit softmax(QKᵀ/√d + mask) V when they are, with
// the masks, dropout and shapes of torch.nn.functional.multi_head_attention_forward.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/execution_report.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// Options of EMultiheadAttention; defaults as torch::nn::MultiheadAttentionOptions, plus batch_first
/// (as in Python), init_scheme, the constraint names and the registry that provides them (null: the
/// built-in CommutingConstraint / InvariantConstraint). init_scheme `stock` (the default) initialises as
/// torch::nn::MultiheadAttention does: in_proj xavier_uniform, out_proj as a Linear (kaiming_uniform(a=√5)),
/// both biases zero; a named scheme sets both weights, biases start at zero.
struct EMultiheadAttentionOptions {
  EMultiheadAttentionOptions(RepPtr in_rep, int64_t num_heads)
      : in_rep_(std::move(in_rep)), num_heads_(num_heads) {}
  TORCH_ARG(RepPtr, in_rep);
  /// Must divide m = in_rep.size / |G|.
  TORCH_ARG(int64_t, num_heads);
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, bias) = true;
  /// forward(query, key, value, ...) takes (batch, seq, D) instead of (seq, batch, D).
  TORCH_ARG(bool, batch_first) = false;
  /// Not supported (rejected with an explanation); present so the options mirror the stock module's.
  TORCH_ARG(bool, add_bias_kv) = false;
  TORCH_ARG(bool, add_zero_attn) = false;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
  /// How the projections are computed (see ELinearOptions::execution): "dense", "isotypic" (Q, K, V, the
  /// attention and the out-projection's input all in each head's isotypic basis: q·k is unchanged by an
  /// orthogonal change of basis shared by q and k) or "auto". A q/k transform (rotary positions) needs the
  /// original basis: such calls run dense. Default "auto".
  TORCH_ARG(std::string, execution) = kDefaultExecution;
};

/// What is wrong with a set of options (see OptionError). The constructor throws it as ConfigError; the
/// YAML factory locates it at the key.
using AttentionOptionError = OptionError;
std::optional<AttentionOptionError> validate(const EMultiheadAttentionOptions& options);

/// Equivariant self/cross attention with the interface of torch::nn::MultiheadAttention.
///
///   auto g = registry.make_group("C8");
///   EMultiheadAttention mha(EMultiheadAttentionOptions(parse_rep(g, "4x regular"), 2));
///   auto [y, w] = mha->forward(x, x, x);   // x (seq, batch, 32); y (seq, batch, 32), w (batch, seq, seq)
///   at::Tensor z = mha->forward(xb);       // Layer interface: self-attention on (batch, seq, 32) or (batch,
///   32)
///
/// forward is overloaded (the stock signature and the Layer one), so call it as mha->forward(...): the
/// ModuleHolder's operator() cannot deduce an overloaded forward.
class EMultiheadAttentionImpl : public Layer, public ExecutionReport {
 public:
  explicit EMultiheadAttentionImpl(EMultiheadAttentionOptions options);
  EMultiheadAttentionImpl(RepPtr in_rep, int64_t num_heads)
      : EMultiheadAttentionImpl(EMultiheadAttentionOptions(std::move(in_rep), num_heads)) {}
  ~EMultiheadAttentionImpl() override;

  /// Registers in_proj_weight_coefficients, in_proj_bias_coefficients and out_proj (an ELinear).
  void reset();
  /// Re-samples the weights with options.init_scheme (see the options); biases to zero.
  void reset_parameters();

  /// As torch::nn::MultiheadAttention::forward: query (L, N, D), key/value (S, N, D) — (N, L, D) / (N, S, D)
  /// with batch_first — or unbatched (L, D) / (S, D). Returns (output like query, attention weights
  /// (N, L, S), (N, H, L, S) without averaging, unbatched without N; undefined when !need_weights).
  /// Masks as in Python's torch.nn.MultiheadAttention: key_padding_mask (N, S) (unbatched (S)),
  /// attn_mask (L, S) or (N·num_heads, L, S), each bool (true = may not attend) or floating-point (added
  /// to the scores). Without need_weights this runs on at::scaled_dot_product_attention (fused kernels).
  std::tuple<at::Tensor, at::Tensor> forward(const at::Tensor& query, const at::Tensor& key,
                                             const at::Tensor& value, const at::Tensor& key_padding_mask = {},
                                             bool need_weights = true, const at::Tensor& attn_mask = {},
                                             bool average_attn_weights = true);
  /// Layer interface: self-attention, always batch-first whatever options.batch_first says:
  /// (batch, seq, D) → (batch, seq, D); (batch, D) is a batch of length-1 sequences → (batch, D).
  at::Tensor forward(const at::Tensor& x) override;

  /// A map applied to the per-head queries and keys after the in-projection, before the scores:
  /// q (N, H, L, head_dim), k (N, H, S, head_dim), replaced in place. It must commute with the action of
  /// G on reg^{head_dim/|G|} for the attention to stay equivariant (ERoPEMultiheadAttention's rotation).
  using QKTransform = std::function<void(at::Tensor& q, at::Tensor& k)>;
  /// forward(query, key, value, ...) with `transform` applied to the heads' q and k (see QKTransform);
  /// an empty transform is forward itself. The positional attention layers call this.
  std::tuple<at::Tensor, at::Tensor> forward_transformed(const at::Tensor& query, const at::Tensor& key,
                                                         const at::Tensor& value,
                                                         const at::Tensor& key_padding_mask,
                                                         bool need_weights, const at::Tensor& attn_mask,
                                                         bool average_attn_weights,
                                                         const QKTransform& transform);

  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias (biases only with options.bias; the
  /// out_proj bias is zeros when in_rep has no trivial part), the names of torch::nn::MultiheadAttention.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// Effective tensors (cached in eval mode when no gradient can flow).
  at::Tensor in_proj_weight() const { return in_proj_weight_.get(*this); }
  at::Tensor in_proj_bias() const {
    return in_proj_bias_.defined() ? in_proj_bias_.get(*this) : at::Tensor();
  }
  /// The representation Q, K and V live in: reg^m in the permutation basis (a compact group: num_heads
  /// copies of 1/num_heads of every isotypic component of in_rep, Q = I).
  const RepPtr& head_rep() const { return head_rep_; }
  /// m, the regular copies of a finite group's in_rep (0 for a compact group).
  int64_t regular_copies() const { return regular_copies_; }
  int64_t head_dim() const { return head_dim_; }
  const ConstrainedParameter& in_proj_weight_parameter() const { return in_proj_weight_; }
  const ConstrainedParameter& in_proj_bias_parameter() const { return in_proj_bias_; }
  /// The in-projection's execution (its output cut into 3·num_heads groups) and the out-projection's (its
  /// input cut into num_heads groups).
  const LinearExecution& in_proj_execution() const { return in_execution_; }
  const LinearExecution& out_proj_execution() const { return out_execution_; }
  /// The projections' execution: both run isotypic or neither (auto decides on the two together).
  std::string execution() const override {
    return LinearExecution::describe_together(in_execution_, out_execution_);
  }

  EMultiheadAttentionOptions options;
  /// Hom_G(reg^m, in_rep): maps the concatenated heads back to in_rep.
  ELinear out_proj = nullptr;

 private:
  /// What forward() hands the core: 3-D query/key/value in one layout, masks as given (bool or float).
  struct Inputs {
    at::Tensor query, key, value, key_padding_mask, attn_mask;
    bool batch_first = false;       // (N, L, D) instead of (L, N, D)
    bool self_attention = false;    // query, key and value are one tensor: one packed in-projection
    bool shared_key_value = false;  // key and value are one tensor
    bool unbatched = false;         // N = 1 was added by forward (for the error messages)
  };
  std::tuple<at::Tensor, at::Tensor> attend(const Inputs& in, bool need_weights, bool average_attn_weights,
                                            const QKTransform* transform = nullptr);

  static InitScheme in_proj_scheme(InitScheme scheme);
  void zero_out_proj_bias();

  ConstrainedParameter in_proj_weight_;
  ConstrainedParameter in_proj_bias_;
  LinearExecution in_execution_, out_execution_;
  RepPtr head_rep_;
  int64_t regular_copies_ = 0;
  int64_t head_dim_ = 0;
};

TORCH_MODULE(EMultiheadAttention);

}  // namespace eqnn
