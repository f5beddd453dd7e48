// EConditionalResidualBlock1D and EConditionalUnet1D: symm_learning's conditional residual block and
// conditional 1D U-Net (diffusion_policy's ConditionalUnet1D made equivariant) as eqnn layers. Sequences
// are features last, (N, L, C) (symm_learning takes (N, C, L); diffusion_policy (N, L, C) as here).
//
// Block (in_rep → out_rep, conditioned on a vector c of cond_rep):
//   o = act(n1(conv1 x)),   conv = EConv1d(k, padding k/2),  n = ERMSNorm(out, eps 1e-6, per_copy) or none
//   f = Mish(Linear(ENormPool(c)))  ∈ R^{#copies(out) + #trivial(out)}   (invariant: norms of irrep copies)
//   o = EAffine_FiLM(o; scale = f[:#copies], bias = f[#copies:])        (one scale per copy of out_rep,
//                                                                          a bias on its trivial copies)
//   o = act(n2(conv2 o)),   y = o + (residual_conv x  if in_rep ≠ out_rep (by content), else x);
//   residual_conv "always" keeps the learned 1x1 residual_conv (Hom_G taps) between equal reps too, as
//   symm_learning does where its two reps have the same matrices but different names.
// Equivariant: the convolutions have Hom_G taps, the norms and FiLM are equivariant for invariant scale and
// bias, the pointwise activation commutes with the permutation matrices of the hidden reps, and f depends on
// c through norms of copies only (so a trivial copy of c enters by its absolute value).
//
// U-Net (levels n = |down_dims|, hidden reps h_i = ⌈down_dims[i]/|hidden_rep|⌉ x hidden_rep):
//   film = [global_cond, Linear(4E→E)(Mish(Linear(E→4E)(sinusoidal_embedding(t, E))))]  of rep
//          global_cond_rep ⊕ E x trivial (the step t is invariant);
//   down level i: res1 (h_{i−1}→h_i; + local_cond_encoder.0(local_cond) at i = 0), res2, then downsample
//          (EConv1d(3, stride 2, padding 1) or MaxPool1d(2)) except at the last level; the output of res2
//          is kept as a skip;
//   mid: two blocks on h_{n−1};
//   up (n − 1 levels, from the deepest): cat(x, skip) → res1 → res2 → upsample.
// layout "diffusion_policy" (default, diffusion_policy's ConditionalUnet1D): every up level upsamples,
//   EConvTranspose1d(4, stride 2, padding 1) (2L) or nearest Upsample(2), so the output has the input's
//   length, for lengths that are multiples of 2^{n−1} (others are refused with the numbers); the second
//   local term local_cond_encoder.1(local_cond) is added at the top, before final_conv (where the length and
//   the channels match; diffusion_policy's own test never adds it).
// layout "symm_learning_0.8.1" (symm_learning 0.8.1, for converted models): the last up level does not
//   upsample and the upsampling is EConvTranspose1d(3, stride 2, padding 1) (2L − 1) or Upsample(2), so
//   the output is shorter than the input and most lengths fail at a skip (refused with the numbers); the
//   second local term is added after the last up level's res1.
//   final_conv: EConv1d(h_0, h_0, k) → norm → act → EConv1d(h_0, in_rep, 1).
// residual_conv "always": the blocks that change representation (local_cond_encoder.{0,1}, every level's
//   res1, down and up) learn a 1x1 residual convolution even where their input and output reps are equal
//   (down_dims[0] giving in_rep's content, say); res2 and the mid blocks map a rep to itself and add x.
// Children named as symm_learning's, so that its state dicts map by name: diffusion_step_encoder.{1,3},
// local_cond_encoder.{0,1}, down_modules.{i}.{0,1,2}, mid_modules.{0,1}, up_modules.{i}.{0,1,2},
// final_conv.{0,1,3}; in a block conv1, conv2, norm1, norm2, cond_encoder.1, residual_conv.
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
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "e_affine.hpp"
#include "e_conv.hpp"
#include "e_norm.hpp"
#include "e_pooling.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/nn/sequence_length.hpp"

namespace eqnn {

/// Options of EConditionalResidualBlock1D: symm_learning's arguments in its order. kernel_size odd >= 1;
/// cond_predict_scale must be true (symm_learning's only mode: FiLM without a predicted scale is not
/// implemented there, and the converted weights always hold the scale); activation one of EPointwise's
/// functions; init_scheme for the convolutions (default stock, where symm_learning's is xavier_uniform);
/// residual_conv "auto" (a learned 1x1 residual convolution where in_rep and out_rep differ by content, x
/// itself where they are equal) or "always" (the learned convolution between equal reps too, as
/// symm_learning builds it between reps with different names).
struct EConditionalResidualBlock1DOptions {
  EConditionalResidualBlock1DOptions(RepPtr in_rep, RepPtr out_rep, RepPtr cond_rep)
      : in_rep_(std::move(in_rep)), out_rep_(std::move(out_rep)), cond_rep_(std::move(cond_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  TORCH_ARG(RepPtr, cond_rep);
  TORCH_ARG(int64_t, kernel_size) = 3;
  TORCH_ARG(bool, cond_predict_scale) = true;
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(bool, normalize) = true;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, residual_conv) = "auto";
};

std::optional<OptionError> validate(const EConditionalResidualBlock1DOptions& options);

/// The conditional residual block, features last: (N, L, in_rep.size) and cond (N, cond_rep.size) →
/// (N, L, out_rep.size).
class EConditionalResidualBlock1DImpl : public Layer, public ExtraInputs {
 public:
  explicit EConditionalResidualBlock1DImpl(EConditionalResidualBlock1DOptions options);
  ~EConditionalResidualBlock1DImpl() override;
  void reset();

  /// An error: the block needs its conditioning vector (forward(x, cond)).
  at::Tensor forward(const at::Tensor& x) override;
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cond);
  /// {cond}: a vector of cond_rep, required.
  std::vector<ExtraInput> extra_inputs() const override;
  at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) override;

  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.out_rep(); }
  /// Nonlinear in its conditioning: no stock module computes it.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;
  /// #copies(out_rep) + #trivial(out_rep): the FiLM parameters the cond encoder predicts.
  int64_t film_dims() const { return affine->num_copies() + affine->num_trivial(); }

  EConditionalResidualBlock1DOptions options;
  std::shared_ptr<EConv1dImpl> conv1, conv2;
  std::shared_ptr<ERMSNormImpl> norm1, norm2;  // null with normalize = false
  std::shared_ptr<Layer> act;
  std::shared_ptr<EAffineImpl> affine;          // FiLM mode
  torch::nn::ModuleList cond_encoder{nullptr};  // ENormPool, Linear, Mish
  std::shared_ptr<EConv1dImpl> residual_conv;   // null where in_rep and out_rep have the same content and
                                                // options.residual_conv is "auto"

 private:
  std::shared_ptr<ENormPoolImpl> pool_;
  torch::nn::Linear linear_{nullptr};
};
TORCH_MODULE(EConditionalResidualBlock1D);

/// Options of EConditionalUnet1D: symm_learning's arguments in its order, then hidden_rep (null: regular)
/// and layout ("diffusion_policy" or "symm_learning_0.8.1"), residual_conv ("auto" or "always": passed to
/// the blocks that change representation, local_cond_encoder's and every res1; res2 and the mid blocks,
/// from a rep to itself, add x). local_cond_rep and global_cond_rep may be null (no such input).
/// diffusion_step_embed_dim even >= 2; down_dims non-empty, each >= 1; downsample "stride" or "pooling";
/// the block options as EConditionalResidualBlock1DOptions.
struct EConditionalUnet1DOptions {
  explicit EConditionalUnet1DOptions(RepPtr in_rep, RepPtr local_cond_rep = nullptr,
                                     RepPtr global_cond_rep = nullptr)
      : in_rep_(std::move(in_rep)),
        local_cond_rep_(std::move(local_cond_rep)),
        global_cond_rep_(std::move(global_cond_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, local_cond_rep);
  TORCH_ARG(RepPtr, global_cond_rep);
  TORCH_ARG(int64_t, diffusion_step_embed_dim) = 256;
  TORCH_ARG(std::vector<int64_t>, down_dims) = std::vector<int64_t>{256, 512, 1024};
  TORCH_ARG(int64_t, kernel_size) = 3;
  TORCH_ARG(bool, cond_predict_scale) = true;
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(bool, normalize) = true;
  TORCH_ARG(std::string, downsample) = "stride";
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(RepPtr, hidden_rep) = nullptr;
  TORCH_ARG(std::string, layout) = "diffusion_policy";
  TORCH_ARG(std::string, residual_conv) = "auto";
};

std::optional<OptionError> validate(const EConditionalUnet1DOptions& options);

/// The conditional U-Net, features last: sample (N, L, in_rep.size), the step (a scalar or (N)), then
/// local_cond (N, L, local_cond_rep.size) if the model has a local_cond_rep and global_cond
/// (N, global_cond_rep.size) if it has a global_cond_rep → (N, L', in_rep.size) (L' = L in the
/// diffusion_policy layout).
///
///   auto g = registry.make_group("C2");
///   EConditionalUnet1D unet(EConditionalUnet1DOptions(parse_rep(g, "regular"), nullptr,
///                                                     parse_rep(g, "2x regular"))
///                               .diffusion_step_embed_dim(16).down_dims({8, 16}));
///   at::Tensor y = unet->forward_with(at::randn({4, 8, 2}), {at::tensor(3.0), at::randn({4, 4})});
class EConditionalUnet1DImpl : public Layer, public ExtraInputs, public SequenceLengthMultiple {
 public:
  explicit EConditionalUnet1DImpl(EConditionalUnet1DOptions options);
  ~EConditionalUnet1DImpl() override;
  void reset();

  /// An error: the U-Net needs the step (forward_with; Python model(x, timestep, ...)).
  at::Tensor forward(const at::Tensor& x) override;
  /// sample, timestep, local_cond (undefined where the model has none), global_cond (likewise).
  at::Tensor forward(const at::Tensor& sample, const at::Tensor& timestep, const at::Tensor& local_cond,
                     const at::Tensor& global_cond);
  /// timestep (step), then local_cond (sequence, x's length) and global_cond (vector) where the model has
  /// their reps; all required.
  std::vector<ExtraInput> extra_inputs() const override;
  at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) override;
  /// 2^{levels−1} in the diffusion_policy layout; 1 in the symm_learning one (whose valid lengths are not
  /// the multiples of one number).
  int64_t sequence_length_multiple() const override;
  /// Empty when a sample of `length` positions runs, else why not (with the numbers).
  std::string length_problem(int64_t length) const;
  /// The output length for an input of `length` positions (length_problem must be empty).
  int64_t output_length(int64_t length) const;

  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;
  /// global_cond_rep ⊕ E x trivial: the rep of the FiLM conditioning vector.
  RepPtr cond_rep() const { return cond_rep_; }
  /// The hidden reps h_0 … h_{n−1}.
  const std::vector<RepPtr>& hidden_reps() const { return reps_; }

  EConditionalUnet1DOptions options;
  torch::nn::ModuleList diffusion_step_encoder{nullptr};  // (placeholder), Linear, Mish, Linear
  torch::nn::ModuleList local_cond_encoder{nullptr};      // two blocks, or null
  torch::nn::ModuleList down_modules{nullptr}, mid_modules{nullptr}, up_modules{nullptr};
  torch::nn::ModuleList final_conv{nullptr};  // EConv1d, norm (or placeholder), act, EConv1d

 private:
  struct Level {
    std::shared_ptr<EConditionalResidualBlock1DImpl> res1, res2;
    std::function<at::Tensor(const at::Tensor&)> resample;  // on (N, L, C); null: identity
  };
  at::Tensor step_embedding(const at::Tensor& timestep, const at::Tensor& sample);
  std::vector<int64_t> trace_lengths(int64_t length, std::string* problem) const;

  std::vector<RepPtr> reps_;
  RepPtr cond_rep_;
  std::vector<Level> down_, up_;
  std::vector<std::shared_ptr<EConditionalResidualBlock1DImpl>> mid_, local_;
  std::vector<std::shared_ptr<Layer>> layers_;  // every eqnn layer, for the parameter count
  std::function<at::Tensor(const at::Tensor&)> final_;
};
TORCH_MODULE(EConditionalUnet1D);

}  // namespace eqnn
