// ELayerNorm / ERMSNorm: the field structure of a representation, the stock-equal fast path and the
// general invariant-statistics path (see e_norm.hpp for the design).
#include "e_norm.hpp"

#include <cmath>
#include <numeric>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>

#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/union_find.hpp"

namespace eqnn {
namespace {

// Orbits of the points of a permutation representation under its generators.
std::vector<int64_t> point_orbits(const Representation& rep, int64_t& count) {
  const int64_t D = rep.size();
  UnionFind orbits(D);
  for (const auto& perm : rep.permutation_generators())
    for (int64_t i = 0; i < D; ++i) orbits.unite(i, static_cast<int64_t>(perm[i]));
  auto [field, components] = orbits.components();
  count = components;
  return field;
}

at::Tensor to_long(const std::vector<int64_t>& v) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong));
}

std::optional<OptionError> check_eps(const std::string& what, double eps, double stock_default) {
  if (eps > 0 && std::isfinite(eps)) return std::nullopt;
  return OptionError{"eps",
                     fmt::format("{}: 'eps' must be a finite number > 0 (it keeps 1/sqrt(variance + eps) "
                                 "finite on a constant input), found {}; the default is {:g}",
                                 what, eps, stock_default)};
}

std::optional<OptionError> check_affine(const std::string& what, const std::string& affine) {
  if (affine == "per_field" || affine == "per_copy") return std::nullopt;
  return OptionError{"affine", fmt::format("{}: 'affine' must be per_field (one scale per orbit, feature or "
                                           "irrep copy; the default) or per_copy (one scale per irreducible "
                                           "copy in the rep's basis Q), found '{}'",
                                           what, affine)};
}

std::optional<OptionError> check_normalize(const std::string& what, const std::string& normalize) {
  if (normalize == "all" || normalize == "per_copy") return std::nullopt;
  return OptionError{"normalize",
                     fmt::format("{}: 'normalize' must be all (the statistics over all features, "
                                 "as torch; the default) or per_copy (each irreducible copy by its "
                                 "own RMS, symm_learning's eLayerNorm), found '{}'",
                                 what, normalize)};
}

}  // namespace

std::optional<OptionError> validate(const ELayerNormOptions& o) {
  const std::string what = "eLayerNorm";
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  if (auto error = check_eps(what, o.eps(), ELayerNormOptions(nullptr).eps())) return error;
  if (auto error = check_affine(what, o.affine())) return error;
  if (auto error = check_normalize(what, o.normalize())) return error;
  if (o.elementwise_affine())
    if (auto error = constraint_error(o.registry(), o.bias_constraint()))
      return OptionError{"bias_constraint", what + ": " + *error};
  return std::nullopt;
}

std::optional<OptionError> validate(const ERMSNormOptions& o) {
  const std::string what = "eRMSNorm";
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  if (auto error = check_eps(what, o.eps(), ERMSNormOptions(nullptr).eps())) return error;
  if (auto error = check_affine(what, o.affine())) return error;
  return check_normalize(what, o.normalize());
}

NormFields norm_fields(const Representation& rep) {
  const int64_t D = rep.size();
  NormFields f;
  const auto ones = at::ones({D}, at::kDouble) / std::sqrt(static_cast<double>(D));
  if (rep.multiplicities()[0] == D) {
    // All invariant: ρ(g) = I, every feature is its own field, the stock LayerNorm as it is.
    std::vector<int64_t> field(static_cast<size_t>(D));
    std::iota(field.begin(), field.end(), 0);
    f.field_of = to_long(field);
    f.count = D;
    f.direction = ones;
    f.stock = true;
    f.kind = "feature";
    return f;
  }
  if (rep.has_permutation_structure()) {
    f.field_of = to_long(point_orbits(rep, f.count));
    f.kind = "orbit";
    if (rep.permutation_basis()) {
      f.basis = to_tensor(*rep.permutation_basis());
      f.direction = at::matmul(f.basis, ones);  // B·1/√D: P(g)·1 = 1, so ρ(g) B·1 = B·1
    } else {
      f.direction = ones;
      f.stock = true;
    }
    return f;
  }
  return copy_fields(rep);
}

NormFields copy_fields(const Representation& rep) {
  // Irrep copies: Q's column blocks in the order of rep.irreps(); the mean is taken along Q_triv·1.
  const int64_t D = rep.size();
  NormFields f;
  f.basis = to_tensor(rep.Q());
  f.kind = "irrep copy";
  const IrrepCopies copies = irrep_copies(rep);
  f.count = copies.count();
  f.field_of = to_long(copies.copy_of_column);
  if (!copies.trivial_columns.empty()) {
    at::Tensor u = f.basis.index_select(1, to_long(copies.trivial_columns)).sum(1);
    f.direction = u / u.norm();
  }
  // Q = I, or an all-invariant rep (ρ(g) = I: the features themselves are trivial copies): scale in place.
  if (rep.multiplicities()[0] == D || at::equal(f.basis, at::eye(D, at::kDouble))) f.basis = at::Tensor();
  return f;
}

ENormBase::ENormBase(std::string name, bool centre) : Layer(std::move(name)), centre_(centre) {}

ENormBase::~ENormBase() = default;

void ENormBase::build(RepPtr rep, double eps, bool affine, bool per_copy, bool per_copy_statistic,
                      const ConstraintPtr& bias_constraint) {
  rep_ = std::move(rep);
  eps_ = eps;
  affine_ = affine;
  per_copy_ = per_copy;
  per_copy_statistic_ = per_copy_statistic;
  fields_ = norm_fields(*rep_);
  copies_ = copy_fields(*rep_);
  scale_fields_ = per_copy ? copies_ : fields_;
  // Stock: the stock statistics (eRMSNorm's always are) and scales on the coordinates themselves.
  stock_ = !per_copy_statistic && (centre_ ? fields_.stock : true) && !scale_fields_.basis.defined();
  converted_.clear();
  if (!affine_) return;
  const auto options = at::TensorOptions().dtype(c10::get_default_dtype());
  register_parameter("weight", at::ones({scale_fields_.count}, options));
  if (bias_constraint && bias_constraint->dim() > 0) {
    if (bias_constraint->shape() != std::vector<int64_t>{rep_->size()})
      throw ConfigError(fmt::format("{}: bias constraint '{}' gives tensors of shape ({}), expected ({})",
                                    name(), bias_constraint->name(),
                                    fmt::join(bias_constraint->shape(), ", "), rep_->size()));
    bias_ = ConstrainedParameter(*this, "bias", bias_constraint, InitScheme::zeros, options);
  }
}

void ENormBase::reset_parameters() {
  if (!affine_) return;
  at::NoGradGuard no_grad;
  weight().fill_(1.0);
  if (bias_.defined()) bias_.reset(*this, InitScheme::zeros);
}

const ENormBase::Converted& ENormBase::converted(const at::TensorOptions& options) const {
  return converted_.get(options, [this](const at::TensorOptions& o) {
    Converted c;
    auto cv = [&](const at::Tensor& t) { return t.defined() ? t.to(o) : t; };
    c.direction = cv(fields_.direction);
    c.scale_basis = cv(scale_fields_.basis);
    if (c.scale_basis.defined()) c.identity = at::eye(c.scale_basis.size(0), o);
    c.field_of = scale_fields_.field_of.to(o.device());
    c.copy_basis = cv(copies_.basis);
    c.copy_of = copies_.field_of.to(o.device());
    at::Tensor mean = at::one_hot(copies_.field_of, copies_.count).to(at::kDouble);  // (D, copies)
    c.copy_mean = (mean / mean.sum(0, /*keepdim=*/true)).to(o);
    return c;
  });
}

at::Tensor ENormBase::weight() const {
  const auto params = named_parameters(/*recurse=*/false);  // find() points into it: keep it alive
  const at::Tensor* w = params.find("weight");
  TORCH_CHECK(w != nullptr, name(), ": parameter 'weight' is missing");
  return *w;
}

at::Tensor ENormBase::feature_scale() const {
  TORCH_CHECK(affine_, name(), ": no scale without elementwise_affine");
  const at::Tensor w = weight();
  return w.index_select(0, converted(w.options()).field_of);
}

at::Tensor ENormBase::forward(const at::Tensor& x) {
  const int64_t D = rep_->size();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == D, name(), ": expected input of shape (..., ", D, ") for in_rep ",
              rep_->describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), name(), ": expected a floating-point input, got ",
              x.scalar_type());
  const at::Tensor scale = affine_ ? feature_scale() : at::Tensor();
  const at::Tensor b = bias();
  if (stock_ && centre_) return at::layer_norm(x, {D}, scale, b, eps_);
  const Converted& c = converted(x.options());
  at::Tensor y;
  if (per_copy_statistic_) {
    // z = Qᵀx; each copy by its own RMS: z_c / sqrt(‖z_c‖²/d_c + eps); back with Q.
    const at::Tensor z = c.copy_basis.defined() ? at::matmul(x, c.copy_basis) : x;
    const at::Tensor ms = at::matmul(z.pow(2), c.copy_mean).index_select(-1, c.copy_of);
    y = z * at::rsqrt(ms + eps_);
    if (c.copy_basis.defined()) y = at::matmul(y, c.copy_basis.t());
  } else if (centre_ && fields_.stock) {
    y = at::layer_norm(x, {D}, {}, {}, eps_);  // stock statistics, scales in the copy basis below
  } else {
    at::Tensor centred = x;
    if (centre_ && c.direction.defined())
      centred = x - at::matmul(x, c.direction).unsqueeze(-1) * c.direction;
    y = centred * at::rsqrt(centred.pow(2).mean(-1, /*keepdim=*/true) + eps_);
  }
  if (!affine_) return y;
  if (c.scale_basis.defined()) {
    // Scale the field coordinates Fᵀy: the dense W = F diag(s) Fᵀ (symmetric, D³ to build) and one matmul
    // of the batch with the bias added, instead of going to F's basis and back (two matmuls). Built as
    // I + F diag(s − 1) Fᵀ, so it is exactly I where s = 1 (at initialisation, for instance).
    const at::Tensor W = at::matmul(c.scale_basis * (scale - 1), c.scale_basis.t()) + c.identity;
    return at::linear(y, W, b.defined() ? b : at::Tensor());
  }
  y = y * scale;
  return b.defined() ? y + b : y;
}

std::vector<std::pair<std::string, at::Tensor>> ENormBase::effective_parameters() {
  if (!affine_ || !stock_) return {};
  std::vector<std::pair<std::string, at::Tensor>> out{{"weight", feature_scale()}};
  if (centre_) {
    at::Tensor b = bias();
    out.emplace_back("bias", b.defined() ? b : at::zeros({rep_->size()}, weight().options()));
  }
  return out;
}

int64_t ENormBase::unconstrained_parameter_count() {
  if (!affine_) return 0;
  return centre_ ? 2 * rep_->size() : rep_->size();
}

void ENormBase::pretty_print(std::ostream& os) const {
  os << name() << "(in_rep=" << rep_->describe() << ", eps=" << eps_
     << ", normalize=" << (per_copy_statistic_ ? "per_copy" : "all")
     << ", elementwise_affine=" << std::boolalpha << affine_;
  if (affine_)
    os << ", affine=" << (per_copy_ ? "per_copy" : "per_field") << ", scale: " << scale_fields_.count
       << " (one per " << scale_fields_.kind << ")";
  if (bias_.defined()) os << ", bias: invariant dim " << bias_.constraint()->dim();
  os << (stock_ ? ", = stock " : ", generalised ") << (centre_ ? "LayerNorm" : "RMSNorm") << ")";
}

ELayerNormImpl::ELayerNormImpl(ELayerNormOptions options_)
    : ENormBase("eLayerNorm", /*centre=*/true), options(std::move(options_)) {
  reset();
}

ELayerNormImpl::~ELayerNormImpl() = default;

void ELayerNormImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  ConstraintPtr bias;
  if (options.elementwise_affine())
    bias = make_constraint(options.registry(), options.bias_constraint(), {nullptr, options.in_rep()});
  build(options.in_rep(), options.eps(), options.elementwise_affine(), options.affine() == "per_copy",
        options.normalize() == "per_copy", bias);
}

ERMSNormImpl::ERMSNormImpl(ERMSNormOptions options_)
    : ENormBase("eRMSNorm", /*centre=*/false), options(std::move(options_)) {
  reset();
}

ERMSNormImpl::~ERMSNormImpl() = default;

void ERMSNormImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  build(options.in_rep(), options.eps(), options.elementwise_affine(), options.affine() == "per_copy",
        options.normalize() == "per_copy", nullptr);
}

}  // namespace eqnn
