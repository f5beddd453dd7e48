// eConv1d, eConvTranspose1d and the per-tap constraint they share (e_conv.hpp).
#include "e_conv.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"
#include "eqnn/util/limits.hpp"

namespace eqnn {

TapConstraint::TapConstraint(ConstraintPtr inner, int64_t taps, double fan_scale, double xavier_scale)
    : inner_(std::move(inner)), taps_(taps), fan_scale_(fan_scale), xavier_scale_(xavier_scale) {}

std::string TapConstraint::name() const { return inner_->name(); }

std::string TapConstraint::method() const { return fmt::format("{}, {} taps", inner_->method(), taps_); }

std::vector<int64_t> TapConstraint::shape() const {
  std::vector<int64_t> s{taps_};
  const auto inner = inner_->shape();
  s.insert(s.end(), inner.begin(), inner.end());
  return s;
}

at::Tensor TapConstraint::expand(const at::Tensor& theta) const {
  TORCH_CHECK(theta.dim() >= 1 && theta.size(-1) == dim(),
              "TapConstraint::expand: expected coefficients of shape (..., ", dim(), "), got ",
              theta.sizes());
  std::vector<int64_t> split(theta.sizes().begin(), theta.sizes().end() - 1);
  split.push_back(taps_);
  split.push_back(inner_->dim());
  return inner_->expand(theta.reshape(split));
}

at::Tensor TapConstraint::analyse(const at::Tensor& w) const {
  const auto s = shape();
  const auto n = static_cast<int64_t>(s.size());
  TORCH_CHECK(w.dim() >= n && w.sizes().slice(w.dim() - n).vec() == s,
              "TapConstraint::analyse: expected a tensor of shape (..., ",
              fmt::format("{}", fmt::join(s, ", ")), "), got ", w.sizes());
  at::Tensor theta = inner_->analyse(w);  // (..., K, dim)
  std::vector<int64_t> flat(theta.sizes().begin(), theta.sizes().end() - 2);
  flat.push_back(dim());
  return theta.reshape(flat);
}

at::Tensor TapConstraint::sample(InitScheme scheme, const at::TensorOptions& options) const {
  std::vector<at::Tensor> taps;
  taps.reserve(static_cast<size_t>(taps_));
  for (int64_t k = 0; k < taps_; ++k) taps.push_back(inner_->sample(scheme, options));
  const bool xavier = scheme == InitScheme::xavier_normal || scheme == InitScheme::xavier_uniform;
  return at::cat(taps).mul_(xavier ? xavier_scale_ : fan_scale_);
}

namespace {

at::TensorOptions default_options() { return at::TensorOptions().dtype(c10::get_default_dtype()); }

std::optional<OptionError> validate_common(const std::string& what, const RepPtr& in, const RepPtr& out,
                                           int64_t kernel_size, int64_t stride, int64_t dilation,
                                           int64_t groups, const std::string& init_scheme,
                                           const Registry* registry, const std::string& weight_constraint,
                                           bool bias, const std::string& bias_constraint) {
  if (!in) return OptionError{"in_rep", what + ": in_rep and out_rep are required"};
  if (!out) return OptionError{"out_rep", what + ": in_rep and out_rep are required"};
  if (kernel_size < 1)
    return OptionError{"kernel_size",
                       fmt::format("{}: kernel_size must be at least 1, got {}", what, kernel_size)};
  // The dense kernel (out · in · K entries) is built at every expansion: refuse one eqnn would not build.
  const int64_t per_tap = std::max<int64_t>(1, in->size() * out->size()), limit = max_matrix_entries();
  if (kernel_size > limit / per_tap) {
    return OptionError{
        "kernel_size",
        fmt::format("{}: a kernel of {} x {} x {} entries is larger than eqnn builds (at most {} "
                    "entries; set EQNN_MAX_WEIGHT_ENTRIES to allow more)",
                    what, out->size(), in->size(), kernel_size, limit)};
  }
  if (stride < 1)
    return OptionError{"stride", fmt::format("{}: stride must be at least 1, got {}", what, stride)};
  if (dilation < 1)
    return OptionError{"dilation", fmt::format("{}: dilation must be at least 1, got {}", what, dilation)};
  if (groups != 1) {
    return OptionError{
        "groups",
        fmt::format("{}: groups = {} is not supported (only groups = 1): a grouped convolution splits the "
                    "channels into blocks that in_rep and out_rep need not respect; stack layers or use "
                    "direct-sum reps instead",
                    what, groups)};
  }
  return validate_weights(what, init_scheme, registry, weight_constraint, bias, bias_constraint);
}

}  // namespace

std::optional<OptionError> validate(const EConv1dOptions& o) {
  const std::string what = "eConv1d";
  if (auto e = validate_common(what, o.in_rep(), o.out_rep(), o.kernel_size(), o.stride(), o.dilation(),
                               o.groups(), o.init_scheme(), o.registry(), o.weight_constraint(), o.bias(),
                               o.bias_constraint()))
    return e;
  const ConvPadding& p = o.padding();
  if (p.is_amount() && p.amount < 0)
    return OptionError{"padding", fmt::format("{}: padding must be at least 0, got {}", what, p.amount)};
  if (!p.is_amount() && p.mode != "same" && p.mode != "valid") {
    return OptionError{"padding",
                       fmt::format("{}: invalid padding string '{}', should be one of 'valid', 'same' "
                                   "(or an amount ≥ 0)",
                                   what, p.mode)};
  }
  if (auto error = execution_error(o.execution())) return OptionError{"execution", what + ": " + *error};
  if (p.mode == "same" && o.stride() != 1) {
    return OptionError{"padding", fmt::format("{}: padding='same' is not supported for strided convolutions "
                                              "(stride = {}), as in torch",
                                              what, o.stride())};
  }
  const std::string& m = o.padding_mode();
  if (m != "zeros" && m != "reflect" && m != "replicate" && m != "circular") {
    return OptionError{
        "padding_mode",
        fmt::format("{}: padding_mode must be one of 'zeros', 'reflect', 'replicate', 'circular', "
                    "got '{}'",
                    what, m)};
  }
  return std::nullopt;
}

std::optional<OptionError> validate(const EConvTranspose1dOptions& o) {
  const std::string what = "eConvTranspose1d";
  if (auto e = validate_common(what, o.in_rep(), o.out_rep(), o.kernel_size(), o.stride(), o.dilation(),
                               o.groups(), o.init_scheme(), o.registry(), o.weight_constraint(), o.bias(),
                               o.bias_constraint()))
    return e;
  if (o.padding() < 0)
    return OptionError{"padding", fmt::format("{}: padding must be at least 0, got {}", what, o.padding())};
  if (o.output_padding() < 0 || (o.output_padding() >= o.stride() && o.output_padding() >= o.dilation())) {
    return OptionError{
        "output_padding",
        fmt::format("{}: output_padding must be at least 0 and smaller than either stride ({}) or "
                    "dilation ({}), got {}",
                    what, o.stride(), o.dilation(), o.output_padding())};
  }
  if (o.padding_mode() != "zeros") {
    return OptionError{"padding_mode", fmt::format("{}: only 'zeros' padding mode is supported (as torch's "
                                                   "ConvTranspose1d), got '{}'",
                                                   what, o.padding_mode())};
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------
// EConvBase

EConvBase::~EConvBase() = default;

void EConvBase::build(const std::string& what, bool transposed, const std::string& init_scheme, bool bias,
                      const std::string& weight_constraint, const std::string& bias_constraint,
                      const Registry* registry) {
  transposed_ = transposed;
  bias_asked_ = bias;
  const auto d_in = static_cast<double>(in_->size()), d_out = static_cast<double>(out_->size());
  const auto k = static_cast<double>(kernel_size_);
  // torch's conv init (kaiming_uniform(a=√5), bias U(±1/√fan_in)) uses fan_in = size(1)·K: in·K for Conv1d's
  // (out, in, K), out·K for ConvTranspose1d's (in, out, K). The inner Hom constraint samples with Linear's
  // laws for (out, in): per-entry 1/(3 in) (stock), 2/in (kaiming), 2/(in + out) (xavier); scale each tap
  // to the conv's fan_in, resp. to xavier's fans in·K and out·K.
  const double fan_in = transposed ? d_out * k : d_in * k;
  bias_fan_in_ = fan_in;
  const double fan_scale = std::sqrt(d_in / fan_in), xavier_scale = 1.0 / std::sqrt(k);
  const InitScheme scheme = parse_init_scheme(init_scheme);
  auto inner = make_constraint(registry, weight_constraint, {in_, out_});
  if (inner->shape() != std::vector<int64_t>{out_->size(), in_->size()})
    throw ConfigError(fmt::format("{} weight: constraint '{}' gives tensors of shape ({}), expected ({}, {})",
                                  what, inner->name(), fmt::join(inner->shape(), ", "), out_->size(),
                                  in_->size()));
  auto taps = std::make_shared<TapConstraint>(inner, kernel_size_, fan_scale, xavier_scale);
  weight_ = ConstrainedParameter(*this, "weight", taps, scheme, default_options());
  bias_ = ConstrainedParameter();
  bias_note_.clear();
  if (bias) {
    auto b = make_constraint(registry, bias_constraint, {nullptr, out_});
    if (b->shape() != std::vector<int64_t>{out_->size()})
      throw ConfigError(fmt::format("{} bias: constraint '{}' gives tensors of shape ({}), expected ({})",
                                    what, b->name(), fmt::join(b->shape(), ", "), out_->size()));
    if (b->dim() > 0) {
      bias_ = ConstrainedParameter(*this, "bias", b, InitScheme::zeros, default_options());
    } else {
      bias_note_ = fmt::format("no bias: out_rep {} has no trivial part, so the only invariant bias is 0",
                               out_->describe());
    }
  }
  reset_weights(init_scheme);
}

void EConvBase::reset_weights(const std::string& init_scheme) {
  const InitScheme scheme = parse_init_scheme(init_scheme);
  weight_.reset(*this, scheme);
  if (!bias_.defined()) return;
  if (scheme != InitScheme::stock) {
    bias_.reset(*this, InitScheme::zeros);
    return;
  }
  // As eLinear: the constraint's stock sample has U(±1) per entry on average; scale to U(±1/√fan_in).
  bias_.reset(*this, InitScheme::stock);
  at::NoGradGuard no_grad;
  bias_.coefficients(*this).mul_(1.0 / std::sqrt(bias_fan_in_));
}

at::Tensor EConvBase::weight() const {
  at::Tensor taps = weight_.get(*this);  // (K, out, in)
  return transposed_ ? taps.permute({2, 1, 0}) : taps.permute({1, 2, 0});
}

std::vector<std::pair<std::string, at::Tensor>> EConvBase::effective_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out{{"weight", weight().contiguous()}};
  if (bias_asked_) {
    at::Tensor b = bias();
    if (!b.defined()) b = at::zeros({out_->size()}, out[0].second.options());
    out.emplace_back("bias", b);
  }
  return out;
}

int64_t EConvBase::unconstrained_parameter_count() {
  return out_->size() * in_->size() * kernel_size_ + (bias_asked_ ? out_->size() : 0);
}

at::Tensor EConvBase::channels_first(const at::Tensor& x, const std::string& what) const {
  const int64_t c = in_->size();
  if (features_last_) {
    // A 2-D (batch, D) input has no sequence: convolving over its batch would be silently wrong.
    TORCH_CHECK(x.dim() == 3 && x.size(-1) == c, what,
                ": in a model file the layer convolves over the sequence of ",
                "(batch, seq, D) tokens: expected input of shape (batch, seq, ", c, ") for in_rep ",
                in_->describe(), ", got ", x.sizes());
    return x.transpose(-1, -2);
  }
  TORCH_CHECK((x.dim() == 2 || x.dim() == 3) && x.size(-2) == c, what, ": expected input of shape (N, ", c,
              ", L) or (", c, ", L) for in_rep ", in_->describe(), " (channels = in_rep.size), got ",
              x.sizes());
  return x;
}

void EConvBase::print_parameters(std::ostream& stream) const {
  const auto& w = weight_.constraint();
  stream << ", weight=" << w->name() << "[" << w->method() << ", " << w->dim() << " of "
         << out_->size() * in_->size() * kernel_size_ << "]";
  if (bias_.defined())
    stream << ", bias=" << bias_.constraint()->name() << "[" << bias_.constraint()->dim() << " of "
           << out_->size() << "]";
  else if (!bias_note_.empty())
    stream << ", " << bias_note_;
  else
    stream << ", bias=false";
  stream << ")";
}

// ---------------------------------------------------------------------------------------------------------
// EConv1d

EConv1dImpl::EConv1dImpl(EConv1dOptions options_) : EConvBase("eqnn::EConv1d"), options(std::move(options_)) {
  reset();
}

void EConv1dImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  in_ = options.in_rep();
  out_ = options.out_rep();
  kernel_size_ = options.kernel_size();
  build("eConv1d", false, options.init_scheme(), options.bias(), options.weight_constraint(),
        options.bias_constraint(), options.registry());
  const auto* taps = dynamic_cast<const TapConstraint*>(weight_.constraint().get());
  fourier_ = conv_fourier_plan(*parse_execution(options.execution()), taps->inner(), kernel_size_, "eConv1d",
                               &execution_);
}

void EConv1dImpl::reset_parameters() { reset_weights(options.init_scheme()); }

int64_t EConv1dImpl::output_length(int64_t length) const {
  const ConvPadding& p = options.padding();
  const int64_t reach = options.dilation() * (options.kernel_size() - 1);
  if (p.mode == "same") return length;
  const int64_t pad = p.is_amount() ? p.amount : 0;
  const int64_t span = length + 2 * pad - reach - 1;
  return span < 0 ? 0 : span / options.stride() + 1;
}

at::Tensor EConv1dImpl::forward(const at::Tensor& input) {
  at::Tensor x = channels_first(input, "eConv1d");
  const int64_t length = x.size(-1);
  // An eqnn::Error (not a c10::Error): data that does not fit, reported as such (the CLI prints it plainly).
  if (output_length(length) < 1) {
    throw Error(
        fmt::format("eConv1d: input length {} is too short for kernel_size {}, dilation {} and padding {} "
                    "(the output would be empty)",
                    length, options.kernel_size(), options.dilation(), options.padding().describe()));
  }
  const ConvPadding& p = options.padding();
  const std::vector<int64_t> stride{options.stride()}, dilation{options.dilation()};
  // The real convolution over the sequence, with torch's padding: the dense kernel, or the FFT path's grouped
  // one (the padding acts on the sequence only, so it commutes with the change of basis over the group).
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t)> conv;
  if (options.padding_mode() != "zeros") {
    // torch.nn.Conv1d: pad with the mode first (for "same": ⌊d(K−1)/2⌋ left, the rest right), then convolve
    // without padding.
    int64_t left = 0, right = 0;
    if (p.is_amount()) {
      left = right = p.amount;
    } else if (p.mode == "same") {
      const int64_t total = options.dilation() * (options.kernel_size() - 1);
      left = total / 2;
      right = total - left;
    }
    if (left > 0 || right > 0) x = at::pad(x, {left, right}, options.padding_mode());
    conv = [&](const at::Tensor& in, const at::Tensor& w, const at::Tensor& b, int64_t groups) {
      return at::conv1d(in, w, b, stride, at::IntArrayRef{0}, dilation, groups);
    };
  } else if (p.is_amount()) {
    conv = [&](const at::Tensor& in, const at::Tensor& w, const at::Tensor& b, int64_t groups) {
      return at::conv1d(in, w, b, stride, at::IntArrayRef{p.amount}, dilation, groups);
    };
  } else {
    conv = [&](const at::Tensor& in, const at::Tensor& w, const at::Tensor& b, int64_t groups) {
      return at::conv1d(in, w, b, stride, p.mode, dilation, groups);
    };
  }
  at::Tensor y;
  if (fourier_ && CyclicFourierHom::serves(x) &&
      isotypic_allowed_on(*parse_execution(options.execution()), x.device())) {
    const bool unbatched = x.dim() == 2;
    y = fourier_->apply_conv(weight_.coefficients(*this), kernel_size_, unbatched ? x.unsqueeze(0) : x,
                             bias(), [&](const at::Tensor& in, const at::Tensor& w, int64_t groups) {
                               return conv(in, w, at::Tensor(), groups);
                             });
    if (unbatched) y = y.squeeze(0);
  } else {
    y = conv(x, weight(), bias(), 1);
  }
  return restore_layout(y);
}

void EConv1dImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EConv1d(in_rep=" << in_->describe() << ", out_rep=" << out_->describe()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride()
         << ", padding=" << options.padding().describe() << ", dilation=" << options.dilation()
         << ", padding_mode=" << options.padding_mode();
  stream << ", execution=" << execution_;
  print_parameters(stream);
}

// ---------------------------------------------------------------------------------------------------------
// EConvTranspose1d

EConvTranspose1dImpl::EConvTranspose1dImpl(EConvTranspose1dOptions options_)
    : EConvBase("eqnn::EConvTranspose1d"), options(std::move(options_)) {
  reset();
}

void EConvTranspose1dImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  in_ = options.in_rep();
  out_ = options.out_rep();
  kernel_size_ = options.kernel_size();
  build("eConvTranspose1d", true, options.init_scheme(), options.bias(), options.weight_constraint(),
        options.bias_constraint(), options.registry());
}

void EConvTranspose1dImpl::reset_parameters() { reset_weights(options.init_scheme()); }

int64_t EConvTranspose1dImpl::output_length(int64_t length) const {
  return (length - 1) * options.stride() - 2 * options.padding() +
         options.dilation() * (options.kernel_size() - 1) + options.output_padding() + 1;
}

at::Tensor EConvTranspose1dImpl::forward(const at::Tensor& input) {
  const at::Tensor x = channels_first(input, "eConvTranspose1d");
  if (x.size(-1) < 1 || output_length(x.size(-1)) < 1) {
    throw Error(fmt::format("eConvTranspose1d: input length {} with padding {} gives an empty output",
                            x.size(-1), options.padding()));
  }
  const at::Tensor y = at::conv_transpose1d(x, weight(), bias(), options.stride(), options.padding(),
                                            options.output_padding(), 1, options.dilation());
  return restore_layout(y);
}

void EConvTranspose1dImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EConvTranspose1d(in_rep=" << in_->describe() << ", out_rep=" << out_->describe()
         << ", kernel_size=" << options.kernel_size() << ", stride=" << options.stride()
         << ", padding=" << options.padding() << ", output_padding=" << options.output_padding()
         << ", dilation=" << options.dilation();
  print_parameters(stream);
}

}  // namespace eqnn
