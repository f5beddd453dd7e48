// The module handle eqnn._C.Handle: a C++ torch::nn::Module (a layer or a model) seen from Python, which
// the classes of eqnn/nn.py mirror. Its parameter bridge replaces every C++ parameter by the nn.Parameter
// Python registers, so both sides use the same tensors; eval-mode inference may run on several threads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "eqnn/group_theory/representation.hpp"
#include "eqnn/nn/constraint.hpp"

namespace eqnn {
class EAffineImpl;
class EMultiheadAttentionImpl;
class Layer;
class Model;
}  // namespace eqnn

namespace eqnn::python {

/// A C++ module seen from Python: its forward, its parameters and buffers by dotted name, and a lock that
/// lets several threads run eval-mode inference at once (the layers' eval caches are filled by the first
/// call under an exclusive lock; later calls with unchanged parameters only read them).
class Handle {
 public:
  using Forward = std::function<at::Tensor(const at::Tensor&)>;
  Handle(std::shared_ptr<torch::nn::Module> module, Forward forward, RepPtr in, RepPtr out, std::string kind);

  std::shared_ptr<EMultiheadAttentionImpl> mha;  // set for EMultiheadAttention
  std::shared_ptr<Model> model;                  // set for load_model
  std::shared_ptr<Layer> layer;                  // set for eqnn::Layer modules

  const std::string& kind() const { return kind_; }
  RepPtr in_rep() const { return in_; }
  RepPtr out_rep() const { return out_; }

  std::vector<std::pair<std::string, at::Tensor>> named_parameters();
  std::vector<std::pair<std::string, at::Tensor>> named_buffers();

  /// Makes `tensor` the C++ module's parameter `name` (dotted path).
  void set_parameter(const std::string& name, const at::Tensor& tensor);
  /// Gives the C++ buffer `name` the data (device, dtype) of `tensor` (buffers keep their identity).
  void set_buffer_data(const std::string& name, const at::Tensor& tensor);

  void train(bool mode);
  bool is_training() const { return module_->is_training(); }

  at::Tensor forward(const at::Tensor& x);
  /// forward with the extra inputs of a model's first layer or of an eqnn::ExtraInputs layer (a step,
  /// conditioning; undefined: not given), in the order extra_inputs() lists them.
  at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra);
  /// What forward_with takes besides x: (name, kind "step"|"vector"|"sequence", rep or null, required,
  /// fixed length or 0); empty for a module that takes x only.
  std::vector<std::tuple<std::string, std::string, RepPtr, bool, int64_t>> extra_inputs() const;

  std::tuple<at::Tensor, at::Tensor> attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                               const at::Tensor& key_padding_mask, bool need_weights,
                                               const at::Tensor& attn_mask, bool average_attn_weights);

  /// A positional attention layer's attend (eqnn::PositionalAttentionImpl; undefined tensors: not given).
  std::tuple<at::Tensor, at::Tensor> positional_attention(
      const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& q_positions,
      const at::Tensor& k_positions, const at::Tensor& q_position_mask, const at::Tensor& k_position_mask,
      const at::Tensor& key_padding_mask, bool need_weights, const at::Tensor& attn_mask,
      bool average_attn_weights);
  /// A positional attention layer's dense tensors (PositionalAttentionImpl::dense_parameters).
  std::vector<std::pair<std::string, at::Tensor>> positional_parameters();

  /// ETransformerEncoderLayer's forward with the stock masks (undefined: none).
  at::Tensor encoder(const at::Tensor& src, const at::Tensor& src_mask,
                     const at::Tensor& src_key_padding_mask);

  /// The forward with masks and positions of ETransformerDecoderLayer and ETransformerDecoder (tgt, memory,
  /// tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_positions, tgt_position_mask,
  /// memory_positions, memory_position_mask) and of ETransformerEncoderLayer and ETransformerEncoder (src,
  /// mask, src_key_padding_mask, src_positions, src_position_mask); an undefined tensor is one not given.
  at::Tensor transformer(const std::vector<at::Tensor>& tensors);

  /// EAffine's FiLM forward (scale, bias undefined: not given); its learnable forward with both undefined.
  at::Tensor affine(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias);

  std::vector<std::pair<std::string, at::Tensor>> effective_parameters();

  /// (name, basis fingerprint, effective tensor expand(θ)) of every constrained parameter, for state_dict.
  std::vector<std::tuple<std::string, std::string, at::Tensor>> basis_records();

  /// The coefficients to load for saved constrained parameters (name, basis fingerprint, coefficients,
  /// effective tensor): fit_basis decides, as checkpoint loading does. Returns (name, coefficients,
  /// re-projected); throws Error naming the first parameter that cannot load, before anything changes.
  std::vector<std::tuple<std::string, at::Tensor, bool>> fit_saved(
      const std::vector<std::tuple<std::string, std::string, at::Tensor, at::Tensor>>& saved,
      const std::string& where);

  std::vector<std::string> constrained_parameters() const;

  /// (dotted parameter name, name of the module that owns it) of every parameter, in named_parameters
  /// order. The owner's name is its registry name for eqnn layers ("eLinear", "eLayerNorm"; the C++ name
  /// "eqnn::ELinear" is given as "eLinear") and torch's name for stock modules ("torch::nn::LinearImpl").
  std::vector<std::pair<std::string, std::string>> parameter_owners();

  std::string repr() const;

 private:
  using Stamp = std::vector<std::tuple<const void*, const void*, uint32_t>>;

  std::pair<torch::nn::Module*, std::string> find_owner(const std::string& name);

  // The parameter `name` (dotted) as the C++ module holds it now (Python's tensor once bound).
  at::Tensor parameter(const std::string& name) const;

  // None when a parameter has no storage (a torch.func wrapper: vmap, grad, functional_call): such calls
  // neither use nor fill the eval caches.
  std::optional<Stamp> stamp() const;

  // Eval mode without grad: the layers only read their caches once they are filled, so threads share the
  // lock; the first call after any change fills them alone. Everything else runs alone.
  template <typename F>
  auto run(F&& f) -> decltype(f());

  std::shared_ptr<torch::nn::Module> module_;
  Forward forward_;
  RepPtr in_, out_;
  std::string kind_;
  mutable std::shared_mutex mutex_;
  Stamp stamp_;
  std::vector<std::pair<std::string, ConstraintPtr>> constraints_;  // constrained parameters, in order
};

}  // namespace eqnn::python
