// EBatchNorm1d: the copy structure of the representation, batch and running statistics (see
// e_batch_norm.hpp for the maths).
#include "e_batch_norm.hpp"

#include <cmath>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>

#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {

std::optional<OptionError> validate(const EBatchNorm1dOptions& o) {
  const std::string what = "eBatchNorm1d";
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  if (!(o.eps() > 0 && std::isfinite(o.eps())))
    return OptionError{"eps", fmt::format("{}: 'eps' must be a finite number > 0 (it keeps 1/sqrt(variance + "
                                          "eps) finite on a constant batch), found {}; the default is {:g}",
                                          what, o.eps(), EBatchNorm1dOptions(nullptr).eps())};
  if (o.momentum() && !(*o.momentum() >= 0 && *o.momentum() <= 1))
    return OptionError{
        "momentum",
        fmt::format("{}: 'momentum' must be a number in [0, 1] (the weight of the batch statistic "
                    "in the running averages), or unset (null in YAML, \"cumulative\" in Python) "
                    "for the cumulative average; found {}",
                    what, *o.momentum())};
  return std::nullopt;
}

EBatchNorm1dImpl::EBatchNorm1dImpl(EBatchNorm1dOptions options_)
    : Layer("eBatchNorm1d"), options(std::move(options_)) {
  reset();
}

EBatchNorm1dImpl::~EBatchNorm1dImpl() = default;

void EBatchNorm1dImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const Representation& rep = *options.in_rep();
  const int64_t D = rep.size();
  // All invariant (ρ(g) = I): every orthogonal basis splits it into trivial copies; the features themselves
  // (Q = I) make it the stock BatchNorm1d.
  const bool all_invariant = rep.multiplicities()[0] == D;
  Q_ = all_invariant ? at::eye(D, at::kDouble) : to_tensor(rep.Q());
  const IrrepCopies copies = irrep_copies(rep);
  const std::vector<int64_t>& trivial_columns = copies.trivial_columns;
  std::vector<double> trivial;
  for (int k : copies.irrep) trivial.push_back(k == 0 ? 1.0 : 0.0);
  copies_ = copies.count();
  copy_of_ = at::tensor(copies.copy_of_column, at::TensorOptions().dtype(at::kLong));
  trivial_copy_ = at::tensor(trivial, at::TensorOptions().dtype(at::kDouble));
  // mean_matrix[j, c] = 1/d_c where coordinate j belongs to copy c.
  mean_matrix_ = at::one_hot(copy_of_, copies_).to(at::kDouble);
  mean_matrix_ = mean_matrix_ / mean_matrix_.sum(0, /*keepdim=*/true);
  if (trivial_columns.empty()) {
    invariant_ = at::zeros({D, D}, at::kDouble);
  } else {
    const at::Tensor QT =
        Q_.index_select(1, at::tensor(trivial_columns, at::TensorOptions().dtype(at::kLong)));
    invariant_ = at::matmul(QT, QT.t());
  }
  identity_basis_ = at::equal(Q_, at::eye(D, at::kDouble));
  stock_ = all_invariant;
  converted_.clear();

  const auto fopts = at::TensorOptions().dtype(c10::get_default_dtype());
  if (options.affine()) {
    register_parameter("weight", at::ones({copies_}, fopts));
    auto constraint = make_constraint(nullptr, "InvariantConstraint", {nullptr, options.in_rep()});
    if (constraint && constraint->dim() > 0)
      bias_ = ConstrainedParameter(*this, "bias", constraint, InitScheme::zeros, fopts);
  }
  if (options.track_running_stats()) {
    register_buffer("running_mean", at::zeros({D}, fopts));
    register_buffer("running_var", at::ones({copies_}, fopts));
    register_buffer("num_batches_tracked", at::zeros({}, at::TensorOptions().dtype(at::kLong)));
  }
}

at::Tensor EBatchNorm1dImpl::named(const std::string& key, bool buffer) const {
  // Looked up each time (not kept as members): a tensor the Python owner put in place is the one used.
  const auto all = buffer ? named_buffers(/*recurse=*/false) : named_parameters(/*recurse=*/false);
  const at::Tensor* t = all.find(key);
  TORCH_CHECK(t != nullptr, name(), ": '", key, "' is missing");
  return *t;
}

void EBatchNorm1dImpl::reset_parameters() {
  reset_running_stats();
  if (!options.affine()) return;
  at::NoGradGuard no_grad;
  named("weight", false).fill_(1.0);
  if (bias_.defined()) bias_.reset(*this, InitScheme::zeros);
}

void EBatchNorm1dImpl::reset_running_stats() {
  if (!options.track_running_stats()) return;
  at::NoGradGuard no_grad;
  named("running_mean", true).zero_();
  named("running_var", true).fill_(1.0);
  named("num_batches_tracked", true).zero_();
}

const EBatchNorm1dImpl::Converted& EBatchNorm1dImpl::converted(const at::TensorOptions& o) const {
  return converted_.get(o, [this](const at::TensorOptions& to) {
    Converted c;
    c.Q = Q_.to(to);
    c.invariant = invariant_.to(to);
    c.copy_of = copy_of_.to(to.device());
    c.mean_matrix = mean_matrix_.to(to);
    c.trivial_copy = trivial_copy_.to(to);
    return c;
  });
}

at::Tensor EBatchNorm1dImpl::spread(const at::Tensor& per_copy) const {
  return per_copy.index_select(-1, copy_of_.to(per_copy.device()));
}

at::Tensor EBatchNorm1dImpl::forward(const at::Tensor& input) {
  const auto& rep = *options.in_rep();
  const int64_t D = rep.size();
  const std::string layout = options.channels_last() ? "(..., D) (channels_last)" : "(N, D) or (N, D, L)";
  TORCH_CHECK(at::isFloatingType(input.scalar_type()), name(), ": expected a floating-point input, got ",
              input.scalar_type());
  at::Tensor x;  // (M, D)
  if (options.channels_last()) {
    TORCH_CHECK(input.dim() >= 1 && input.size(-1) == D, name(), ": expected input of shape ", layout,
                " with D = ", D, " for in_rep ", rep.describe(), ", got ", input.sizes());
    x = input.reshape({-1, D});
  } else {
    TORCH_CHECK((input.dim() == 2 || input.dim() == 3) && input.size(1) == D, name(),
                ": expected input of shape ", layout, " with D = ", D,
                " at dim 1 (torch.nn.BatchNorm1d's layout) "
                "for in_rep ",
                rep.describe(), ", got ", input.sizes(),
                input.dim() >= 1 && input.size(-1) == D && input.dim() != 2
                    ? "; for features last (..., D), as in a model file, set channels_last: true"
                    : "");
    x = input.dim() == 2 ? input : input.transpose(1, 2).reshape({-1, D});
  }
  const int64_t M = x.size(0);
  const Converted& c = converted(x.options());
  const bool batch_stats = is_training() || !options.track_running_stats();
  at::Tensor mean, var;  // (D) invariant, (copies)
  if (batch_stats) {
    TORCH_CHECK(M > 1, name(),
                ": expected more than 1 value per feature when training (as torch.nn.BatchNorm1d), "
                "got input of shape ",
                input.sizes());
    mean = at::matmul(x.mean(0), c.invariant);  // the projector is symmetric
    at::Tensor z = x - mean;
    if (!identity_basis_) z = at::matmul(z, c.Q);
    var = at::matmul(z.pow(2).mean(0), c.mean_matrix);
    if (is_training() && options.track_running_stats()) {
      at::NoGradGuard no_grad;
      at::Tensor count = named("num_batches_tracked", true);
      count.add_(1);
      const double f =
          options.momentum() ? *options.momentum() : 1.0 / static_cast<double>(count.item<int64_t>());
      const double unbias = static_cast<double>(M) / static_cast<double>(M - 1);
      const at::Tensor v = var.detach() * (1 + (unbias - 1) * c.trivial_copy);
      at::Tensor rm = named("running_mean", true), rv = named("running_var", true);
      rm.mul_(1 - f).add_(mean.detach().to(rm.scalar_type()), f);
      rv.mul_(1 - f).add_(v.to(rv.scalar_type()), f);
    }
  } else {
    // Projected again: a running_mean stored in float32 (or loaded from elsewhere) is invariant only up to
    // its rounding; the projection makes eval exactly equivariant whatever the buffer holds.
    mean = named("running_mean", true).to(x.scalar_type());
    if (!stock_) mean = at::matmul(mean, c.invariant);
    var = named("running_var", true).to(x.scalar_type());
  }
  at::Tensor scale = at::rsqrt(var + options.eps());  // (copies)
  if (options.affine()) scale = scale * named("weight", false);
  scale = scale.index_select(0, c.copy_of);
  at::Tensor y = x - mean;
  y = identity_basis_ ? y * scale : at::matmul(at::matmul(y, c.Q) * scale, c.Q.t());
  const at::Tensor b = bias();
  if (b.defined()) y = y + b;
  if (options.channels_last()) return y.reshape(input.sizes());
  if (input.dim() == 2) return y;
  return y.reshape({input.size(0), input.size(2), D}).transpose(1, 2);
}

std::vector<std::pair<std::string, at::Tensor>> EBatchNorm1dImpl::effective_parameters() {
  if (!stock_) return {};
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (options.affine()) {
    const at::Tensor w = named("weight", false);
    out.emplace_back("weight", w);
    at::Tensor b = bias();
    out.emplace_back("bias", b.defined() ? b : at::zeros({options.in_rep()->size()}, w.options()));
  }
  if (options.track_running_stats())
    for (const char* key : {"running_mean", "running_var", "num_batches_tracked"})
      out.emplace_back(key, named(key, true));
  return out;
}

int64_t EBatchNorm1dImpl::unconstrained_parameter_count() {
  return options.affine() ? 2 * options.in_rep()->size() : 0;
}

void EBatchNorm1dImpl::pretty_print(std::ostream& os) const {
  os << name() << "(in_rep=" << options.in_rep()->describe() << ", eps=" << options.eps() << ", momentum=";
  if (options.momentum())
    os << *options.momentum();
  else
    os << "None (cumulative)";
  os << ", affine=" << std::boolalpha << options.affine()
     << ", track_running_stats=" << options.track_running_stats() << ", copies=" << copies_
     << (stock_ ? ", = stock BatchNorm1d)" : ", generalised BatchNorm1d)");
}

}  // namespace eqnn
