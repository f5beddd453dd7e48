// eLayerNorm and eRMSNorm: per-token normalisations that commute with the group action, for any
// orthogonal representation (permutation or not), followed by an equivariant affine map.
//
// Design (why it differs from stock LayerNorm):
// - Centring: stock LayerNorm subtracts the mean over features, i.e. the component along the all-ones
//   vector. That vector is invariant only for permutation representations; the equivariant
//   generalisation subtracts the whole invariant component P_inv x (P_inv = Q_triv Q_trivᵀ). For one
//   transitive permutation copy (e.g. a single `regular`) the two coincide.
// - Scale: the Euclidean norm is invariant because every ρ(g) is orthogonal, so dividing by
//   sqrt(mean(c²) + eps) commutes with ρ(g).
// - Affine: y = A x̂ + b with A ∈ End_G(in_rep) (a full commuting matrix from the registry's
//   CommutingConstraint, initialised to the identity) and b invariant (InvariantConstraint, zeros).
//   A diagonal weight is equivariant only on permutation reps and only when tied on orbits; the full
//   commuting matrix works for every representation and contains those diagonal maps.
// Because of both points these layers have no stock PyTorch equivalent: effective_parameters() is
// empty (an exporter must not pretend they are torch.nn.LayerNorm).
#include <cmath>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/module.h>

#include "eqnn/constrained_parameter.hpp"
#include "eqnn/error.hpp"
#include "eqnn/hom_space.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

using eqnn::RepPtr;

enum class NormKind { layer, rms };

/// Shared implementation of eLayerNorm (centre + scale + affine with bias) and eRMSNorm (scale +
/// affine without bias).
class ENorm : public eqnn::Layer {
 public:
  ENorm(NormKind kind, const eqnn::LayerArgs& args, double eps, bool elementwise_affine)
      : eqnn::Layer(kind == NormKind::layer ? "eLayerNorm" : "eRMSNorm"),
        kind_(kind),
        rep_(args.in_rep),
        eps_(eps),
        affine_(elementwise_affine) {
    if (kind_ == NormKind::layer) invariant_ = eqnn::InvariantSpace::get(rep_);
    if (!affine_) return;
    const eqnn::Registry& registry = *args.registry;
    weight_ = eqnn::ConstrainedParameter(
        *this, "weight", registry.get_constraint("CommutingConstraint")(eqnn::ConstraintRequest{rep_, rep_}),
        eqnn::InitScheme::zeros, at::kFloat);
    reset_weight_to_identity();
    if (kind_ == NormKind::layer && eqnn::InvariantSpace::get(rep_)->dim() > 0)
      bias_ = eqnn::ConstrainedParameter(
          *this, "bias",
          registry.get_constraint("InvariantConstraint")(eqnn::ConstraintRequest{nullptr, rep_}),
          eqnn::InitScheme::zeros, at::kFloat);
  }

  /// A = I (θ = analyse(I), exact since I ∈ End_G), b = 0: the layer starts as a pure normalisation,
  /// as torch.nn.LayerNorm does.
  void reset_parameters() {
    if (!affine_) return;
    reset_weight_to_identity();
    if (bias_.defined()) bias_.reset(*this, eqnn::InitScheme::zeros);
  }

  at::Tensor forward(const at::Tensor& x) override {
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep_->size(), name(), ": expected input of shape (..., ",
                rep_->size(), ") for in_rep ", rep_->describe(), ", got ", x.sizes());
    at::Tensor c = x;
    if (invariant_ && invariant_->dim() > 0) c = x - invariant_->expand(invariant_->analyse(x));
    at::Tensor y = c * at::rsqrt(c.pow(2).mean(-1, /*keepdim=*/true) + eps_);
    if (!affine_) return y;
    return at::linear(y, weight_.get(*this), bias_.defined() ? bias_.get(*this) : at::Tensor());
  }

  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return rep_; }

  // No stock equivalent (see the top of this file): an honest empty list.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }

  // What torch.nn.LayerNorm(D, elementwise_affine) / an RMSNorm(D) would hold: weight (+ bias).
  int64_t unconstrained_parameter_count() override {
    if (!affine_) return 0;
    return kind_ == NormKind::layer ? 2 * rep_->size() : rep_->size();
  }

  void pretty_print(std::ostream& os) const override {
    os << name() << "(in_rep=" << rep_->describe() << ", eps=" << eps_
       << ", elementwise_affine=" << std::boolalpha << affine_;
    if (affine_) os << ", weight: End_G dim " << weight_.constraint()->dim();
    if (bias_.defined()) os << ", bias: invariant dim " << bias_.constraint()->dim();
    os << ")";
  }

 private:
  void reset_weight_to_identity() {
    at::NoGradGuard no_grad;
    at::Tensor theta = weight_.coefficients(*this);
    const auto D = rep_->size();
    at::Tensor I = at::eye(D, theta.options().dtype(at::kDouble));
    theta.copy_(weight_.constraint()->analyse(I));
  }

  NormKind kind_;
  RepPtr rep_;
  double eps_;
  bool affine_;
  std::shared_ptr<const eqnn::InvariantSpace> invariant_;
  eqnn::ConstrainedParameter weight_, bias_;
};

std::shared_ptr<eqnn::Layer> make_norm(NormKind kind, const eqnn::LayerArgs& args) {
  const std::string what = kind == NormKind::layer ? "eLayerNorm" : "eRMSNorm";
  eqnn::yaml::check_keys(args.kwargs, {"eps", "elementwise_affine"}, what);
  if (!args.in_rep)
    eqnn::yaml::fail(args.kwargs, what + ": no in_rep (give in_rep or put the layer after one)");
  if (!args.registry)
    throw eqnn::Error(what + ": LayerArgs.registry is null; the affine map needs its constraints");
  const double eps = eqnn::yaml::get_double(args.kwargs, "eps", kind == NormKind::layer ? 1e-5 : 1e-6);
  if (!(eps >= 0))
    eqnn::yaml::fail(args.kwargs["eps"], fmt::format("{}: 'eps' must be >= 0, found {}", what, eps));
  const bool affine = eqnn::yaml::get_bool(args.kwargs, "elementwise_affine", true);
  return std::make_shared<ENorm>(kind, args, eps, affine);
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eLayerNorm", [](const eqnn::LayerArgs& a) { return make_norm(NormKind::layer, a); });
  r.add_layer("eRMSNorm", [](const eqnn::LayerArgs& a) { return make_norm(NormKind::rms, a); });
}

}  // namespace

EQNN_PLUGIN("normalization_layers", "0.1.0", register_all)
