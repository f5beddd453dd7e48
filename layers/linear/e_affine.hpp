// eAffine: the equivariant affine map y = Q diag(α) Qᵀ x + b of symm_learning's eAffine, with one scale α_c
// per irreducible copy c of in_rep and an invariant bias b.
//
// Maths. in_rep = Q (⊕_c ψ_{k_c}) Qᵀ with Q orthogonal; the copies c are Q's column blocks in the order of
// rep.irreps() (copy c spans the d_{k_c} columns of its block). A matrix that is a multiple of the identity
// on each copy commutes with ⊕ψ, so W = Q diag(α spread over each copy's columns) Qᵀ commutes with every
// ρ(g): the map is exactly equivariant. The cut into copies is Q's, which is not unique where a multiplicity
// exceeds 1 (see DESIGN §9): the scales mean "per copy of this Q".
//
// Two modes:
// - learnable (default): parameters `scale` (num_copies, starting at 1) and, with `bias` and a trivial part,
//   `bias_coefficients` (InvariantConstraint coefficients as eLinear's bias, starting at 0). forward(x).
//   It computes the stock Linear(D, D) with weight Q diag(α) Qᵀ and bias b: effective_parameters() are
//   {"weight", "bias"} and `eqnn export` writes a stock Linear.
// - FiLM (learnable = false): no parameters; forward(x, scale, bias) takes the scales (..., num_copies) and
//   the bias coefficients (..., num_trivial) at call time. Their leading dimensions broadcast against x's
//   leading dimensions x.shape[:-1] and must not enlarge them (the output always has x's shape): (num_copies)
//   alone applies to every row, (B, 1, num_copies) to every token of a (B, T, D) input. The bias
//   coefficients are in the basis of the rep's trivial copies — Q's trivial columns, in order: b = Q_triv β
//   (symm_learning's bias_dof convention) — not in the InvariantConstraint basis of the learnable mode.
//   forward(x) on a FiLM layer is an error; there is nothing to export (effective_parameters() is empty).
//
// forward computes x + Q((Qᵀx)·(α − 1)) (+ b), which is Q diag(α) Qᵀ x for orthogonal Q but rounds only in
// the correction, so the layer is exactly the identity at its initial α = 1.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of EAffine. The bias constraint (learnable mode) is looked up by name in `registry` (null: the
/// built-in InvariantConstraint).
struct EAffineOptions {
  explicit EAffineOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  /// An invariant bias. Ignored (with a note in pretty_print) when in_rep has no trivial part.
  TORCH_ARG(bool, bias) = true;
  /// Learnable scale and bias (true) or FiLM mode: both given to forward(x, scale, bias) (false).
  TORCH_ARG(bool, learnable) = true;
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};

/// What is wrong with a set of options (key "in_rep" or "bias_constraint"). The constructor throws it as
/// ConfigError; the YAML factory locates it at the key.
std::optional<OptionError> validate(const EAffineOptions& options);

/// y = Q diag(α) Qᵀ x + b on the last dimension, exactly equivariant: f(x ρ(g)ᵀ) = f(x) ρ(g)ᵀ.
///
///   auto g = registry.make_group("D4");
///   EAffine affine(EAffineOptions(parse_rep(g, "2x regular")));   // 10 copies: scale (10), bias (2)
///   at::Tensor y = affine(at::randn({5, 16}));
///   EAffine film(EAffineOptions(parse_rep(g, "2x regular")).learnable(false));
///   at::Tensor z = film->forward(at::randn({5, 16}), at::randn({5, 10}), at::randn({5, 2}));
class EAffineImpl : public Layer {
 public:
  explicit EAffineImpl(EAffineOptions options);
  ~EAffineImpl() override;

  /// Checks the options, finds the copies and (learnable mode) registers scale and bias_coefficients.
  void reset();
  /// Scale 1 and bias 0 (learnable mode; nothing to do in FiLM mode).
  void reset_parameters();

  /// Learnable mode: (..., D) → (..., D). An error in FiLM mode.
  at::Tensor forward(const at::Tensor& x) override;
  /// FiLM mode: x (..., D), scale (..., num_copies), bias (..., num_trivial) — undefined when the layer has
  /// no bias (options.bias false or no trivial part), required otherwise. An error in learnable mode.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias);

  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// Learnable mode: {"weight", Q diag(α) Qᵀ} and, with options.bias, {"bias", b} (zeros when in_rep has
  /// no trivial part, so a stock Linear with bias loads it). FiLM mode: empty (nothing to export).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  /// D² (+ D with bias): what a stock Linear(D, D) holds; 0 in FiLM mode.
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// Number of irreducible copies of in_rep: the length of the scale.
  int64_t num_copies() const { return copies_.count(); }
  /// Number of trivial copies of in_rep: the length of the FiLM bias (and the learnable bias' coefficients
  /// with the built-in constraint).
  int64_t num_trivial() const { return static_cast<int64_t>(copies_.trivial_columns.size()); }
  /// Whether the layer adds a bias (options.bias and a trivial part).
  bool has_bias() const { return has_bias_; }
  const IrrepCopies& copies() const { return copies_; }
  /// The learnable scale (num_copies); an error in FiLM mode.
  at::Tensor scale() const;
  /// The effective learnable bias (D), or undefined when there is none (and in FiLM mode).
  at::Tensor bias() const { return bias_.defined() ? bias_.get(*this) : at::Tensor(); }
  /// The dense weight Q diag(α) Qᵀ (D, D) for scales α (num_copies).
  at::Tensor weight(const at::Tensor& scale) const;

  EAffineOptions options;

 private:
  struct Converted {
    at::Tensor basis, basis_t, identity, copy_of, trivial_basis_t;
  };
  const Converted& converted(const at::TensorOptions& options) const;
  at::Tensor apply(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias) const;
  void check_input(const at::Tensor& x) const;

  IrrepCopies copies_;
  at::Tensor basis_, copy_of_, trivial_columns_;  // Q (float64) and copies_'s index lists as tensors
  bool has_bias_ = false;
  std::string bias_note_;
  ConstrainedParameter bias_;
  DeviceCache<Converted> converted_;
};

/// The module holder (TORCH_MODULE's, with both calls: torch's generic holder call cannot see through the
/// overloaded forward). `affine(x)` (learnable) and `affine(x, scale, bias)` (FiLM).
class EAffine : public torch::nn::ModuleHolder<EAffineImpl> {
 public:
  using torch::nn::ModuleHolder<EAffineImpl>::ModuleHolder;
  using Impl = EAffineImpl;
  at::Tensor operator()(const at::Tensor& x) { return get()->forward(x); }
  at::Tensor operator()(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias) {
    return get()->forward(x, scale, bias);
  }
};

}  // namespace eqnn
