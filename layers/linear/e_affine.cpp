// EAffine: the learnable and FiLM forwards (see e_affine.hpp).
#include "e_affine.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <ATen/ExpandUtils.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>

#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

at::Tensor to_long(const std::vector<int64_t>& v) {
  return at::tensor(v, at::TensorOptions().dtype(at::kLong));
}

std::string shape_text(at::IntArrayRef leading, int64_t last) {
  std::vector<int64_t> s(leading.begin(), leading.end());
  s.push_back(last);
  return fmt::format("({})", fmt::join(s, ", "));
}

}  // namespace

std::optional<OptionError> validate(const EAffineOptions& o) {
  const std::string what = "eAffine";
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  if (o.learnable() && o.bias())
    if (auto error = constraint_error(o.registry(), o.bias_constraint()))
      return OptionError{"bias_constraint", what + ": " + *error};
  return std::nullopt;
}

EAffineImpl::EAffineImpl(EAffineOptions options_) : Layer("eqnn::EAffine"), options(std::move(options_)) {
  reset();
}

EAffineImpl::~EAffineImpl() = default;

void EAffineImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr& rep = options.in_rep();
  copies_ = irrep_copies(*rep);
  basis_ = to_tensor(rep->Q());
  copy_of_ = to_long(copies_.copy_of_column);
  trivial_columns_ = to_long(copies_.trivial_columns);
  converted_.clear();
  bias_ = ConstrainedParameter();
  bias_note_.clear();
  has_bias_ = options.bias() && num_trivial() > 0;
  if (options.bias() && num_trivial() == 0)
    bias_note_ = fmt::format("no bias: in_rep {} has no trivial part, so the only invariant bias is 0",
                             rep->describe());
  if (!options.learnable()) return;
  const auto tensor_options = at::TensorOptions().dtype(c10::get_default_dtype());
  register_parameter("scale", at::ones({copies_.count()}, tensor_options));
  if (has_bias_) {
    auto constraint = make_constraint(options.registry(), options.bias_constraint(), {nullptr, rep});
    if (constraint->shape() != std::vector<int64_t>{rep->size()})
      throw ConfigError(
          fmt::format("eAffine: bias constraint '{}' gives tensors of shape ({}), expected ({})",
                      constraint->name(), fmt::join(constraint->shape(), ", "), rep->size()));
    if (constraint->dim() > 0)
      bias_ = ConstrainedParameter(*this, "bias", constraint, InitScheme::zeros, tensor_options);
    else
      has_bias_ = false;
  }
}

void EAffineImpl::reset_parameters() {
  if (!options.learnable()) return;
  at::NoGradGuard no_grad;
  scale().fill_(1.0);
  if (bias_.defined()) bias_.reset(*this, InitScheme::zeros);
}

at::Tensor EAffineImpl::scale() const {
  TORCH_CHECK(options.learnable(),
              "eAffine: a FiLM eAffine (learnable=false) has no scale parameter; its "
              "scales are given to forward(x, scale, bias)");
  // Looked up each time, so a parameter the owner replaces (the Python wrapper shares its nn.Parameter) is
  // the one used.
  const auto params = named_parameters(/*recurse=*/false);
  const at::Tensor* s = params.find("scale");
  TORCH_CHECK(s != nullptr, "eAffine: parameter 'scale' is missing");
  return *s;
}

const EAffineImpl::Converted& EAffineImpl::converted(const at::TensorOptions& o) const {
  return converted_.get(o, [this](const at::TensorOptions& to) {
    Converted c;
    c.basis = basis_.to(to);
    c.basis_t = c.basis.t().contiguous();
    c.identity = at::eye(c.basis.size(0), to);
    c.copy_of = copy_of_.to(to.device());
    c.trivial_basis_t = basis_.index_select(1, trivial_columns_).t().contiguous().to(to);
    return c;
  });
}

void EAffineImpl::check_input(const at::Tensor& x) const {
  const int64_t D = options.in_rep()->size();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == D, "eAffine: expected input of shape (..., ", D, ") for in_rep ",
              options.in_rep()->describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), "eAffine: expected a floating-point input, got ",
              x.scalar_type());
}

at::Tensor EAffineImpl::apply(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias) const {
  const Converted& c = converted(x.options());
  const at::Tensor spread = scale.index_select(-1, c.copy_of);
  if (scale.dim() == 1) {
    // One scale for every row (learnable mode): the dense W = Q diag(α) Qᵀ (symmetric, D³ to build) and
    // one matmul of the batch, as a stock Linear — half the work of going through Q's basis and back.
    // Built as I + Q diag(α − 1) Qᵀ, so it is exactly I where α = 1 (at initialisation y = x exactly).
    const at::Tensor W = at::matmul(c.basis * (spread - 1), c.basis_t) + c.identity;
    return at::linear(x, W, bias.defined() ? bias : at::Tensor());
  }
  // Scales per row (FiLM): Q((Qᵀx)·(α − 1)) + x = Q diag(α) Qᵀ x for orthogonal Q.
  at::Tensor y = x + at::matmul(at::matmul(x, c.basis) * (spread - 1), c.basis_t);
  return bias.defined() ? y + bias : y;
}

at::Tensor EAffineImpl::forward(const at::Tensor& x) {
  TORCH_CHECK(options.learnable(),
              "eAffine: this layer is in FiLM mode (learnable=false): it takes its scales (..., ",
              num_copies(), ")",
              has_bias_ ? fmt::format(" and bias coefficients (..., {})", num_trivial()) : std::string(),
              " at call time; call forward(x, scale, bias), or build it with learnable=true");
  check_input(x);
  return apply(x, scale(), bias());
}

at::Tensor EAffineImpl::forward(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias) {
  TORCH_CHECK(!options.learnable(),
              "eAffine: this layer is learnable (its scale and bias are parameters): call forward(x) without "
              "scale and bias, or build it with learnable=false (FiLM mode) to give them at call time");
  check_input(x);
  const at::IntArrayRef leading = x.sizes().slice(0, x.dim() - 1);
  // A call-time tensor (..., n) whose leading dimensions broadcast to x's without enlarging them.
  auto check = [&](const at::Tensor& t, const char* name, int64_t n, const char* what) {
    bool ok = t.dim() >= 1 && t.size(-1) == n && t.dim() - 1 <= static_cast<int64_t>(leading.size());
    if (ok) {
      const at::IntArrayRef lt = t.sizes().slice(0, t.dim() - 1);
      const size_t offset = leading.size() - lt.size();
      for (size_t i = 0; i < lt.size(); ++i) ok = ok && (lt[i] == 1 || lt[i] == leading[offset + i]);
    }
    TORCH_CHECK(ok, "eAffine: expected ", name, " of shape ", shape_text(leading, n), " (", what,
                "; leading dimensions may be 1 or left out to broadcast) for an input of shape ", x.sizes(),
                ", got ", t.sizes());
    TORCH_CHECK(t.scalar_type() == x.scalar_type() && t.device() == x.device(), "eAffine: ", name,
                " must have the input's dtype and device (", x.scalar_type(), ", ", x.device(), "), got ",
                t.scalar_type(), ", ", t.device());
  };
  TORCH_CHECK(scale.defined(), "eAffine: FiLM mode needs the scales: expected scale of shape ",
              shape_text(leading, num_copies()), ", got none");
  check(scale, "scale", num_copies(), "one per irreducible copy of in_rep");
  at::Tensor b;
  if (has_bias_) {
    TORCH_CHECK(bias.defined(), "eAffine: this layer has a bias: expected bias coefficients of shape ",
                shape_text(leading, num_trivial()),
                " (one per trivial copy of in_rep), got none; build it with bias=false to have none");
    check(bias, "bias", num_trivial(), "one per trivial copy of in_rep, in the basis of Q's trivial columns");
    b = at::matmul(bias, converted(x.options()).trivial_basis_t);
  } else {
    TORCH_CHECK(!bias.defined(), "eAffine: this layer has no bias (",
                bias_note_.empty() ? std::string("bias=false") : bias_note_,
                "), but bias coefficients were given; pass none");
  }
  return apply(x, scale, b);
}

at::Tensor EAffineImpl::weight(const at::Tensor& scale) const {
  const Converted& c = converted(scale.options());
  const at::Tensor spread = scale.index_select(-1, c.copy_of);
  const int64_t D = options.in_rep()->size();
  return at::eye(D, scale.options()) + at::matmul(c.basis * (spread - 1), c.basis_t);
}

std::vector<std::pair<std::string, at::Tensor>> EAffineImpl::effective_parameters() {
  if (!options.learnable()) return {};
  const at::Tensor s = scale();
  std::vector<std::pair<std::string, at::Tensor>> out{{"weight", weight(s)}};
  if (options.bias()) {
    at::Tensor b = bias();
    if (!b.defined()) b = at::zeros({options.in_rep()->size()}, s.options());
    out.emplace_back("bias", b);
  }
  return out;
}

int64_t EAffineImpl::unconstrained_parameter_count() {
  if (!options.learnable()) return 0;
  const int64_t D = options.in_rep()->size();
  return D * D + (options.bias() ? D : 0);
}

void EAffineImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EAffine(in_rep=" << options.in_rep()->describe()
         << (options.learnable() ? ", learnable" : ", FiLM (scale and bias given to forward)")
         << ", scale: " << num_copies() << " (one per irrep copy)";
  if (bias_.defined())
    stream << ", bias=" << bias_.constraint()->name() << "[" << bias_.constraint()->dim() << " of "
           << options.in_rep()->size() << "]";
  else if (has_bias_)
    stream << ", bias: " << num_trivial() << " (one per trivial copy)";
  else if (!bias_note_.empty())
    stream << ", " << bias_note_;
  else
    stream << ", bias=false";
  stream << ")";
}

}  // namespace eqnn
