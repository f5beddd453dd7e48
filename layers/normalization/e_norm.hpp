// eLayerNorm and eRMSNorm: per-token normalisations that commute with the group action and equal the stock
// torch.nn.LayerNorm / RMSNorm wherever the stock statistics are already equivariant.
//
// Design (DESIGN §3 "Normalisation"):
// - Statistics. For a permutation representation in its own basis the all-ones vector is invariant, so the
//   stock statistics — the mean over all features and the (biased) variance over all features — commute
//   with every ρ(g): eLayerNorm uses them unchanged, and it *is* layer_norm there. The same holds for an
//   all-invariant representation (ρ(g) = I: `3x trivial`, any rep of C1), which gets a stock LayerNorm of
//   its features. Any other representation: the mean is taken along one invariant unit vector u — B·1/√D
//   for a permutation rep behind an orthogonal basis B, otherwise the normalised sum of the rep's invariant
//   basis vectors Q_triv·1 (no centring when the rep has no trivial part) — and the variance is the mean
//   square of the centred vector, invariant because every ρ(g) is orthogonal.
// - Affine. One learnable scale per field — an orbit of the permutation action (permutation reps), a
//   feature (all-invariant reps) or an irrep copy (otherwise), applied in the field basis (B or Q) — and a
//   bias on the invariant vectors only (InvariantConstraint). Scale 1 and bias 0 at the start, as stock.
// - Affine "per_copy" (option `affine`): one scale per irreducible copy of the rep's change of basis Q
//   (symm_learning's eAffine): y ← y + Q((Qᵀy)·(α − 1)) = Q diag(α) Qᵀ y; the bias stays invariant. It
//   equals "per_field" where every field is one irrep copy (sums of irreps in their own basis) or the rep
//   is all-invariant with Q = I; on a permutation rep it has more scales than orbits (one per copy of the
//   regular rep's irreps, not one per orbit) and no stock form.
// - Statistic "per_copy" (option `normalize`; symm_learning's eLayerNorm): no centring, each irreducible
//   copy z_c of z = Qᵀx divided by its own RMS, z_c / sqrt(‖z_c‖²/d_c + eps), then back with Q. ‖z_c‖ is
//   invariant, so this is equivariant; but a 1-dim copy goes to ±1 (sign(z_c) up to eps) whatever its size,
//   and a trivial copy loses its magnitude entirely. Never stock. The default "all" is the statistic above.
// - eRMSNorm is the same without centring and without bias (as torch.nn.RMSNorm).
// - Export: where the layer equals the stock module (identity field basis, all-ones centring direction) its
//   effective_parameters() are the stock `weight` (the per-field scale spread over the features) and
//   `bias`; otherwise the list is empty and export refuses the model by name.
// eps must be > 0 (never NaN on a zero input); a non-positive eps is a ConfigError.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of ELayerNorm; defaults as torch::nn::LayerNormOptions. The bias constraint is looked up by
/// name in `registry` (null: the built-in InvariantConstraint).
struct ELayerNormOptions {
  explicit ELayerNormOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  /// Added to the variance; must be > 0.
  TORCH_ARG(double, eps) = 1e-5;
  /// A learnable scale per field and an invariant bias.
  TORCH_ARG(bool, elementwise_affine) = true;
  /// Where the scales live: "per_field" (one per orbit / feature / irrep copy, the stock LayerNorm's weight
  /// tied per orbit: exportable) or "per_copy" (one per irreducible copy in the basis Q, symm_learning's).
  TORCH_ARG(std::string, affine) = "per_field";
  /// The statistic: "all" (mean and variance over all features, as torch) or "per_copy" (each irreducible
  /// copy divided by its own RMS, no centring: symm_learning's eLayerNorm).
  TORCH_ARG(std::string, normalize) = "all";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
};

/// Options of ERMSNorm (no centring, no bias).
struct ERMSNormOptions {
  explicit ERMSNormOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  /// Added to the mean square; must be > 0.
  TORCH_ARG(double, eps) = 1e-6;
  TORCH_ARG(bool, elementwise_affine) = true;
  /// "per_field" or "per_copy", as ELayerNormOptions::affine.
  TORCH_ARG(std::string, affine) = "per_field";
  /// "all" (mean square over all features, as torch) or "per_copy", as ELayerNormOptions::normalize.
  TORCH_ARG(std::string, normalize) = "all";
};

/// What is wrong with a set of options (see OptionError; key "in_rep", "eps", "affine", "normalize" or
/// "bias_constraint"). The constructors throw it as ConfigError; the YAML factories locate it at the key.
std::optional<OptionError> validate(const ELayerNormOptions& options);
std::optional<OptionError> validate(const ERMSNormOptions& options);

/// How a representation splits into fields for the norms: the field basis F (x = F y; undefined when F = I),
/// the field of each coordinate of y, and the invariant unit vector the mean is taken along (undefined
/// when the rep has no invariant vector). `stock` is true when the norm equals the stock one (F = I and
/// u = 1/√D).
struct NormFields {
  at::Tensor basis;      // (D, D) float64 or undefined
  at::Tensor field_of;   // (D) int64
  int64_t count = 0;     // number of fields
  at::Tensor direction;  // (D) float64 unit vector or undefined
  bool stock = false;
  std::string kind;  // "orbit", "feature" or "irrep copy"
};
NormFields norm_fields(const Representation& rep);
/// The irreducible copies of a representation as fields: basis Q (undefined when Q = I), one field per
/// entry of rep.irreps(), the same invariant direction as norm_fields where the rep has a trivial part.
NormFields copy_fields(const Representation& rep);

/// Shared machinery of the two norms.
class ENormBase : public Layer {
 public:
  ~ENormBase() override;

  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return rep_; }
  /// The stock module's tensors (weight, and bias for eLayerNorm) when the layer equals it; empty otherwise.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  /// What torch.nn.LayerNorm(D) (2D) / RMSNorm(D) (D) holds; 0 without the affine part.
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// Scale 1 per field and bias 0, as the stock modules start.
  void reset_parameters();
  /// The fields of the statistics (norm_fields).
  const NormFields& fields() const { return fields_; }
  /// The fields of the scales: fields() for "per_field", copy_fields() for "per_copy".
  const NormFields& scale_fields() const { return scale_fields_; }
  /// True when the layer computes exactly the stock module (and exports as it).
  bool is_stock() const { return stock_; }
  /// The per-field scale spread over the coordinates of the field basis (D).
  at::Tensor feature_scale() const;
  /// The effective bias (D), or an undefined tensor when there is none.
  at::Tensor bias() const { return bias_.defined() ? bias_.get(*this) : at::Tensor(); }

 protected:
  ENormBase(std::string name, bool centre);
  /// Builds the fields and registers `weight` (one per field) and, with a bias constraint of positive
  /// dimension, `bias_coefficients`.
  void build(RepPtr rep, double eps, bool affine, bool per_copy, bool per_copy_statistic,
             const ConstraintPtr& bias_constraint);

 private:
  struct Converted {
    at::Tensor direction, scale_basis, identity, field_of, copy_basis, copy_of, copy_mean;
  };
  const Converted& converted(const at::TensorOptions& options) const;

  RepPtr rep_;
  double eps_ = 0;
  bool affine_ = false, centre_ = false, stock_ = false, per_copy_ = false, per_copy_statistic_ = false;
  NormFields fields_, scale_fields_, copies_;
  /// The registered per-field scale "weight" (fields), looked up each time rather than kept as a member, so
  /// a parameter the owner replaces (as the Python wrapper does, sharing its nn.Parameter) is the one used.
  at::Tensor weight() const;
  ConstrainedParameter bias_;
  DeviceCache<Converted> converted_;
};

/// LayerNorm that commutes with the group action.
///
///   auto g = registry.make_group("D8");
///   ELayerNorm norm(ELayerNormOptions(parse_rep(g, "4x regular")));   // = LayerNorm(64), scale per copy
///   at::Tensor y = norm(at::randn({5, 64}));
class ELayerNormImpl : public ENormBase {
 public:
  explicit ELayerNormImpl(ELayerNormOptions options);
  ~ELayerNormImpl() override;
  /// Called by the constructor: checks the options, builds the fields, registers weight and bias.
  void reset();
  ELayerNormOptions options;
};
TORCH_MODULE(ELayerNorm);

/// RMSNorm that commutes with the group action: x / sqrt(mean(x²) + eps), a scale per field.
class ERMSNormImpl : public ENormBase {
 public:
  explicit ERMSNormImpl(ERMSNormOptions options);
  ~ERMSNormImpl() override;
  void reset();
  ERMSNormOptions options;
};
TORCH_MODULE(ERMSNorm);

}  // namespace eqnn
