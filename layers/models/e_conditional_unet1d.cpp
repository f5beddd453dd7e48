// EConditionalResidualBlock1D and EConditionalUnet1D: the options checks, the blocks, the length trace of
// both layouts and the forward passes (see e_conditional_unet1d.hpp). Everything runs features last,
// (N, L, C): the convolutions in that layout (set_features_last), norms, FiLM and activations on the last
// dimension, MaxPool1d and Upsample over time on (N, C, L).
#include "e_conditional_unet1d.hpp"

#include <algorithm>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/modules/upsampling.h>

#include "e_activation.hpp"
#include "e_mlp.hpp"
#include "eqnn/util/error.hpp"
#include "sinusoidal_embedding.hpp"

namespace eqnn {
namespace {

constexpr const char* kBlock = "eConditionalResidualBlock1D";
constexpr const char* kUnet = "eConditionalUnet1D";
constexpr const char* kDiffusionPolicy = "diffusion_policy";
constexpr const char* kSymmLearning = "symm_learning_0.8.1";

std::optional<OptionError> check_block_common(const char* what, int64_t kernel_size, bool cond_predict_scale,
                                              const std::string& activation) {
  if (kernel_size < 1 || kernel_size % 2 == 0)
    return OptionError{
        "kernel_size",
        fmt::format("{}: 'kernel_size' must be odd and >= 1, found {}: the convolutions pad "
                    "k/2 on each side, so an even kernel makes the sequence one longer and the "
                    "residual sum fails (symm_learning fails there too)",
                    what, kernel_size)};
  if (!cond_predict_scale)
    return OptionError{"cond_predict_scale",
                       fmt::format("{}: cond_predict_scale = false is not supported: the FiLM conditioning "
                                   "predicts a scale per copy and a bias per trivial copy "
                                   "(symm_learning 0.8.1 raises NotImplementedError for false, so no "
                                   "model to convert has it)",
                                   what)};
  const auto& known = pointwise_functions();
  if (std::find(known.begin(), known.end(), activation) == known.end())
    return OptionError{"activation", fmt::format("{}: 'activation' must be one of {}, found '{}'", what,
                                                 fmt::join(known, ", "), activation)};
  return std::nullopt;
}

std::optional<OptionError> check_residual_conv(const char* what, const std::string& value) {
  if (value != "auto" && value != "always")
    return OptionError{"residual_conv",
                       fmt::format("{}: 'residual_conv' must be 'auto' (a learned 1x1 residual convolution "
                                   "where the block's input and output reps differ, x itself where they are "
                                   "equal) or 'always' (the learned convolution between equal reps too, as "
                                   "symm_learning 0.8.1 builds it between reps with different names), found "
                                   "'{}'",
                                   what, value)};
  return std::nullopt;
}

// A stock Linear applied through its registered parameters, not LinearImpl's members: the Python module
// swaps tensors into the parameter slots (nn.Module.to, torch.func), and those are what must run.
at::Tensor stock_linear(const torch::nn::Module& linear, const at::Tensor& x) {
  const auto params = linear.named_parameters(/*recurse=*/false);
  const at::Tensor* bias = params.find("bias");
  return at::linear(x, params["weight"], bias ? *bias : at::Tensor());
}

template <typename L>
std::shared_ptr<L> features_last(std::shared_ptr<L> layer) {
  layer->set_features_last(true);
  return layer;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// EConditionalResidualBlock1D

std::optional<OptionError> validate(const EConditionalResidualBlock1DOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", fmt::format("{}: in_rep is required", kBlock)};
  if (!o.out_rep()) return OptionError{"out_rep", fmt::format("{}: out_rep is required", kBlock)};
  if (!o.cond_rep()) return OptionError{"cond_rep", fmt::format("{}: cond_rep is required", kBlock)};
  if (auto e = compact_group_error(kBlock, o.in_rep(), o.activation())) return e;
  if (auto e = check_block_common(kBlock, o.kernel_size(), o.cond_predict_scale(), o.activation())) return e;
  if (auto e = check_residual_conv(kBlock, o.residual_conv())) return e;
  if (auto e =
          validate(EConv1dOptions(o.in_rep(), o.out_rep(), o.kernel_size()).init_scheme(o.init_scheme())))
    return OptionError{e->key, fmt::format("{}: {}", kBlock, e->message)};
  if (auto e = validate(EPointwiseOptions(o.out_rep(), o.activation())))
    return OptionError{"activation", fmt::format("{}: {}", kBlock, e->message)};
  return std::nullopt;
}

EConditionalResidualBlock1DImpl::EConditionalResidualBlock1DImpl(EConditionalResidualBlock1DOptions options_)
    : Layer(kBlock), options(std::move(options_)) {
  reset();
}
EConditionalResidualBlock1DImpl::~EConditionalResidualBlock1DImpl() = default;

void EConditionalResidualBlock1DImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const auto& o = options;
  const int64_t k = o.kernel_size();
  conv1 = register_module(
      "conv1", features_last(std::make_shared<EConv1dImpl>(
                   EConv1dOptions(o.in_rep(), o.out_rep(), k).padding(k / 2).init_scheme(o.init_scheme()))));
  conv2 = register_module(
      "conv2", features_last(std::make_shared<EConv1dImpl>(
                   EConv1dOptions(o.out_rep(), o.out_rep(), k).padding(k / 2).init_scheme(o.init_scheme()))));
  norm1 = norm2 = nullptr;
  if (o.normalize()) {
    norm1 = register_module(
        "norm1", std::make_shared<ERMSNormImpl>(ERMSNormOptions(o.out_rep()).eps(1e-6).affine("per_copy")));
    norm2 = register_module(
        "norm2", std::make_shared<ERMSNormImpl>(ERMSNormOptions(o.out_rep()).eps(1e-6).affine("per_copy")));
  }
  act = register_module("act",
                        std::make_shared<EPointwiseImpl>(EPointwiseOptions(o.out_rep(), o.activation())));
  affine =
      register_module("affine", std::make_shared<EAffineImpl>(EAffineOptions(o.out_rep()).learnable(false)));
  pool_ = std::make_shared<ENormPoolImpl>(ENormPoolOptions(o.cond_rep()));
  linear_ = torch::nn::Linear(pool_->out_rep()->size(), film_dims());
  cond_encoder = register_module("cond_encoder", torch::nn::ModuleList());
  cond_encoder->push_back(pool_);
  cond_encoder->push_back(linear_);
  cond_encoder->push_back(torch::nn::Mish());
  residual_conv = nullptr;
  if (o.residual_conv() == "always" || !o.in_rep()->same_content(*o.out_rep()))
    residual_conv = register_module(
        "residual_conv", features_last(std::make_shared<EConv1dImpl>(
                             EConv1dOptions(o.in_rep(), o.out_rep(), 1).init_scheme(o.init_scheme()))));
}

at::Tensor EConditionalResidualBlock1DImpl::forward(const at::Tensor& /*x*/) {
  TORCH_CHECK(false, kBlock,
              ": takes a conditioning vector besides x: call forward(x, cond) or forward_with(x, ",
              "{cond}) with cond of shape (N, ", options.cond_rep()->size(), ")");
}

std::vector<ExtraInput> EConditionalResidualBlock1DImpl::extra_inputs() const {
  ExtraInput cond;
  cond.name = "cond";
  cond.kind = ExtraInput::Kind::vector;
  cond.rep = options.cond_rep();
  return {cond};
}

at::Tensor EConditionalResidualBlock1DImpl::forward_with(const at::Tensor& x,
                                                         const std::vector<at::Tensor>& extra) {
  TORCH_CHECK(x.dim() == 3, kBlock, ": expected x of shape (N, L, ", options.in_rep()->size(), "), got ",
              x.sizes());
  check_extra_inputs(kBlock, extra_inputs(), extra, x.size(0), x.size(1));
  return forward(x, extra[0]);
}

at::Tensor EConditionalResidualBlock1DImpl::forward(const at::Tensor& x, const at::Tensor& cond) {
  const int64_t c = options.in_rep()->size();
  TORCH_CHECK(x.dim() == 3 && x.size(2) == c, kBlock, ": expected x of shape (N, L, ", c, ") for in_rep ",
              options.in_rep()->describe(), ", got ", x.sizes());
  TORCH_CHECK(cond.defined() && cond.dim() == 2 && cond.size(0) == x.size(0) &&
                  cond.size(1) == options.cond_rep()->size(),
              kBlock, ": expected cond of shape (", x.size(0), ", ", options.cond_rep()->size(),
              ") for cond_rep ", options.cond_rep()->describe(), ", got ",
              cond.defined() ? c10::str(cond.sizes()) : std::string("nothing"));
  at::Tensor out = conv1->forward(x);
  if (norm1) out = norm1->forward(out);
  out = act->forward(out);
  const at::Tensor film = at::mish(stock_linear(*linear_, pool_->forward(cond)));  // (N, film_dims)
  const int64_t copies = affine->num_copies();
  const at::Tensor scale = film.slice(1, 0, copies).unsqueeze(1);
  const at::Tensor bias = affine->has_bias() ? film.slice(1, copies).unsqueeze(1) : at::Tensor();
  out = affine->forward(out, scale, bias);
  out = conv2->forward(out);
  if (norm2) out = norm2->forward(out);
  out = act->forward(out);
  return out + (residual_conv ? residual_conv->forward(x) : x);
}

int64_t EConditionalResidualBlock1DImpl::unconstrained_parameter_count() {
  int64_t count = conv1->unconstrained_parameter_count() + conv2->unconstrained_parameter_count();
  if (norm1) count += norm1->unconstrained_parameter_count() + norm2->unconstrained_parameter_count();
  if (residual_conv) count += residual_conv->unconstrained_parameter_count();
  for (const auto& p : linear_->parameters()) count += p.numel();
  return count;
}

void EConditionalResidualBlock1DImpl::pretty_print(std::ostream& os) const {
  os << kBlock << "(in_rep=" << options.in_rep()->describe() << ", out_rep=" << options.out_rep()->describe()
     << ", cond_rep=" << options.cond_rep()->describe() << ", kernel_size=" << options.kernel_size()
     << ", activation=" << options.activation() << ", normalize=" << std::boolalpha << options.normalize()
     << ", residual_conv=" << (residual_conv != nullptr) << ")";
}

// ---------------------------------------------------------------------------------------------------------
// EConditionalUnet1D

std::optional<OptionError> validate(const EConditionalUnet1DOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", fmt::format("{}: in_rep is required", kUnet)};
  if (auto e = compact_group_error(kUnet, o.in_rep(), o.activation())) return e;
  const int64_t e = o.diffusion_step_embed_dim();
  if (e < 2 || e % 2 != 0)
    return OptionError{
        "diffusion_step_embed_dim",
        fmt::format("{}: 'diffusion_step_embed_dim' must be even and >= 2, found {}: the "
                    "sinusoidal embedding has a sine and a cosine per frequency "
                    "(symm_learning's SinusoidalPosEmb gives {} features for an odd {} and its "
                    "Linear({}, {}) then fails)",
                    kUnet, e, e - 1, e, e, 4 * e)};
  if (o.down_dims().empty())
    return OptionError{"down_dims",
                       fmt::format("{}: 'down_dims' must list at least one level, found none", kUnet)};
  for (size_t i = 0; i < o.down_dims().size(); ++i)
    if (o.down_dims()[i] < 1)
      return OptionError{"down_dims", fmt::format("{}: 'down_dims' must be >= 1 each, found {} at index {}",
                                                  kUnet, o.down_dims()[i], i)};
  if (o.downsample() != "stride" && o.downsample() != "pooling")
    return OptionError{
        "downsample", fmt::format("{}: 'downsample' must be 'stride' (stride-2 convolutions, transposed ones "
                                  "up) or 'pooling' (MaxPool1d(2), nearest Upsample(2) up), found '{}'",
                                  kUnet, o.downsample())};
  if (o.layout() != kDiffusionPolicy && o.layout() != kSymmLearning)
    return OptionError{"layout",
                       fmt::format("{}: 'layout' must be '{}' (the output keeps the input's length) or '{}' "
                                   "(symm_learning 0.8.1's up path, for converted models), found '{}'",
                                   kUnet, kDiffusionPolicy, kSymmLearning, o.layout())};
  if (auto err = check_block_common(kUnet, o.kernel_size(), o.cond_predict_scale(), o.activation()))
    return err;
  if (auto err = check_residual_conv(kUnet, o.residual_conv())) return err;
  const GroupPtr& group = o.in_rep()->group_ptr();
  const RepPtr base = o.hidden_rep() ? o.hidden_rep() : Representation::regular(group);
  if (!base->is_permutation())
    return OptionError{"hidden_rep",
                       fmt::format("{}: hidden_rep {} must be a permutation representation, so that the "
                                   "pointwise activation is equivariant (the regular representation is)",
                                   kUnet, base->describe())};
  if (auto err = validate(EConv1dOptions(o.in_rep(), base, 1).init_scheme(o.init_scheme())))
    return OptionError{err->key, fmt::format("{}: {}", kUnet, err->message)};
  return std::nullopt;
}

EConditionalUnet1DImpl::EConditionalUnet1DImpl(EConditionalUnet1DOptions options_)
    : Layer(kUnet), options(std::move(options_)) {
  reset();
}
EConditionalUnet1DImpl::~EConditionalUnet1DImpl() = default;

void EConditionalUnet1DImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const auto& o = options;
  const GroupPtr& group = o.in_rep()->group_ptr();
  const RepPtr base = o.hidden_rep() ? o.hidden_rep() : Representation::regular(group);
  const bool stride = o.downsample() == "stride";
  const bool dp = o.layout() == kDiffusionPolicy;
  const int64_t e = o.diffusion_step_embed_dim();
  const auto n = static_cast<int64_t>(o.down_dims().size());
  reps_ = {o.in_rep()};
  for (int64_t d : o.down_dims()) reps_.push_back(mlp_hidden_rep(base, d));
  const RepPtr time_rep = Representation::trivial(group, static_cast<int>(e));
  cond_rep_ = o.global_cond_rep() ? Representation::direct_sum({o.global_cond_rep(), time_rep}) : time_rep;
  layers_.clear();
  down_.clear();
  up_.clear();
  mid_.clear();
  local_.clear();

  diffusion_step_encoder = register_module("diffusion_step_encoder", torch::nn::ModuleList());
  diffusion_step_encoder->push_back(torch::nn::Identity());  // symm_learning's SinusoidalPosEmb (no state)
  diffusion_step_encoder->push_back(torch::nn::Linear(e, 4 * e));
  diffusion_step_encoder->push_back(torch::nn::Mish());
  diffusion_step_encoder->push_back(torch::nn::Linear(4 * e, e));

  // `changes`: a block between two reps of the architecture (local_cond_encoder's, every res1), which takes
  // the U-Net's residual_conv; the others (res2, mid) map a rep to itself and add x.
  const auto block = [&](const RepPtr& in, const RepPtr& out, bool changes = true) {
    auto b = std::make_shared<EConditionalResidualBlock1DImpl>(
        EConditionalResidualBlock1DOptions(in, out, cond_rep_)
            .kernel_size(o.kernel_size())
            .cond_predict_scale(o.cond_predict_scale())
            .activation(o.activation())
            .normalize(o.normalize())
            .init_scheme(o.init_scheme())
            .residual_conv(changes ? o.residual_conv() : "auto"));
    layers_.push_back(b);
    return b;
  };

  if (o.local_cond_rep()) {
    local_cond_encoder = register_module("local_cond_encoder", torch::nn::ModuleList());
    for (int i = 0; i < 2; ++i) {
      local_.push_back(block(o.local_cond_rep(), reps_[1]));
      local_cond_encoder->push_back(local_.back());
    }
  } else {
    local_cond_encoder = nullptr;
  }

  down_modules = register_module("down_modules", torch::nn::ModuleList());
  for (int64_t i = 0; i < n; ++i) {
    const RepPtr& h = reps_[i + 1];
    Level level{block(reps_[i], h), block(h, h, false), nullptr};
    torch::nn::ModuleList modules;
    modules->push_back(level.res1);
    modules->push_back(level.res2);
    if (i == n - 1) {
      modules->push_back(torch::nn::Identity());
    } else if (stride) {
      auto conv = features_last(std::make_shared<EConv1dImpl>(
          EConv1dOptions(h, h, 3).stride(2).padding(1).init_scheme(o.init_scheme())));
      layers_.push_back(conv);
      modules->push_back(conv);
      level.resample = [conv](const at::Tensor& x) { return conv->forward(x); };
    } else {
      torch::nn::MaxPool1d pool(torch::nn::MaxPool1dOptions(2).stride(2));
      modules->push_back(pool);
      level.resample = [pool](const at::Tensor& x) mutable {
        return pool->forward(x.transpose(1, 2)).transpose(1, 2);
      };
    }
    down_modules->push_back(modules);
    down_.push_back(std::move(level));
  }

  mid_modules = register_module("mid_modules", torch::nn::ModuleList());
  for (int i = 0; i < 2; ++i) {
    mid_.push_back(block(reps_[n], reps_[n], false));
    mid_modules->push_back(mid_.back());
  }

  up_modules = register_module("up_modules", torch::nn::ModuleList());
  RepPtr current = reps_[n];
  for (int64_t j = 0; j + 1 < n; ++j) {
    const RepPtr& target = reps_[n - 1 - j];
    const RepPtr& skip = reps_[n - j];
    Level level{block(Representation::direct_sum({current, skip}), target), block(target, target, false),
                nullptr};
    torch::nn::ModuleList modules;
    modules->push_back(level.res1);
    modules->push_back(level.res2);
    const bool last = j + 2 == n;
    if (!dp && last) {
      modules->push_back(torch::nn::Identity());
    } else if (stride) {
      auto conv = features_last(
          std::make_shared<EConvTranspose1dImpl>(EConvTranspose1dOptions(target, target, dp ? 4 : 3)
                                                     .stride(2)
                                                     .padding(1)
                                                     .init_scheme(o.init_scheme())));
      layers_.push_back(conv);
      modules->push_back(conv);
      level.resample = [conv](const at::Tensor& x) { return conv->forward(x); };
    } else {
      torch::nn::Upsample up(
          torch::nn::UpsampleOptions().scale_factor(std::vector<double>{2.0}).mode(torch::kNearest));
      modules->push_back(up);
      level.resample = [up](const at::Tensor& x) mutable {
        return up->forward(x.transpose(1, 2)).transpose(1, 2);
      };
    }
    up_modules->push_back(modules);
    up_.push_back(std::move(level));
    current = target;
  }

  const RepPtr& top = reps_[1];
  const int64_t k = o.kernel_size();
  final_conv = register_module("final_conv", torch::nn::ModuleList());
  auto conv0 = features_last(
      std::make_shared<EConv1dImpl>(EConv1dOptions(top, top, k).padding(k / 2).init_scheme(o.init_scheme())));
  auto conv3 = features_last(
      std::make_shared<EConv1dImpl>(EConv1dOptions(top, o.in_rep(), 1).init_scheme(o.init_scheme())));
  auto act = std::make_shared<EPointwiseImpl>(EPointwiseOptions(top, o.activation()));
  std::shared_ptr<ERMSNormImpl> norm;
  final_conv->push_back(conv0);
  if (o.normalize()) {
    norm = std::make_shared<ERMSNormImpl>(ERMSNormOptions(top).eps(1e-6).affine("per_copy"));
    final_conv->push_back(norm);
    layers_.push_back(norm);
  } else {
    final_conv->push_back(torch::nn::Identity());
  }
  final_conv->push_back(act);
  final_conv->push_back(conv3);
  layers_.push_back(conv0);
  layers_.push_back(conv3);
  final_ = [conv0, norm, act, conv3](const at::Tensor& x) {
    at::Tensor y = conv0->forward(x);
    if (norm) y = norm->forward(y);
    return conv3->forward(act->forward(y));
  };
}

std::vector<int64_t> EConditionalUnet1DImpl::trace_lengths(int64_t length, std::string* problem) const {
  // The lengths at the skips (down level outputs) then the output length; `problem` says why it fails.
  const auto n = static_cast<int64_t>(options.down_dims().size());
  const bool stride = options.downsample() == "stride";
  const bool dp = options.layout() == kDiffusionPolicy;
  problem->clear();
  if (length < 1) {
    *problem = fmt::format("{}: the sample must have at least one position, got length {}", kUnet, length);
    return {};
  }
  if (dp) {
    const int64_t m = int64_t{1} << (n - 1);
    if (length % m != 0) {
      *problem = fmt::format(
          "{}: the sequence length must be a multiple of 2^(levels - 1) = {} (layout '{}', {} levels: the "
          "down "
          "path halves it {} times and the up path doubles it back), got {}; pad it to {}",
          kUnet, m, kDiffusionPolicy, n, n - 1, length, (length + m - 1) / m * m);
      return {};
    }
  }
  std::vector<int64_t> lengths{length};
  for (int64_t i = 0; i + 1 < n; ++i) {
    const int64_t l = lengths.back();
    lengths.push_back(stride ? (l + 1) / 2 : l / 2);
    if (lengths.back() < 1) {
      *problem = fmt::format(
          "{}: the sequence length {} is too short for {} levels ('{}' leaves 0 positions "
          "after {} halvings: {})",
          kUnet, length, n, options.downsample(), i + 1, fmt::join(lengths, " -> "));
      return {};
    }
  }
  int64_t x = lengths.back();
  for (int64_t j = 0; j + 1 < n; ++j) {
    const int64_t skip = lengths[n - 1 - j];
    if (x != skip) {
      *problem = fmt::format(
          "{}: layout '{}' cannot take length {}: the down path gives lengths {}, and at up level {} the "
          "upsampled length {} does not match the skip's {} (symm_learning 0.8.1 fails there too); layout "
          "'{}' "
          "takes every multiple of {}",
          kUnet, kSymmLearning, length, fmt::join(lengths, " -> "), j, x, skip, kDiffusionPolicy,
          int64_t{1} << (n - 1));
      return {};
    }
    const bool last = j + 2 == n;
    if (dp || !last) x = (stride && !dp) ? 2 * x - 1 : 2 * x;
  }
  if (!dp && options.local_cond_rep() && n >= 2 && x != length) {
    *problem = fmt::format(
        "{}: layout '{}' adds local_cond_encoder.1(local_cond) (length {}) after the last up level's res1, "
        "whose length is {}: they cannot be added (symm_learning 0.8.1 fails there too)",
        kUnet, kSymmLearning, length, x);
    return {};
  }
  lengths.push_back(x);
  return lengths;
}

std::string EConditionalUnet1DImpl::length_problem(int64_t length) const {
  std::string problem;
  trace_lengths(length, &problem);
  return problem;
}

int64_t EConditionalUnet1DImpl::output_length(int64_t length) const {
  std::string problem;
  const auto lengths = trace_lengths(length, &problem);
  TORCH_CHECK(problem.empty(), problem);
  return lengths.back();
}

int64_t EConditionalUnet1DImpl::sequence_length_multiple() const {
  if (options.layout() != kDiffusionPolicy) return 1;
  return int64_t{1} << (options.down_dims().size() - 1);
}

std::vector<ExtraInput> EConditionalUnet1DImpl::extra_inputs() const {
  std::vector<ExtraInput> spec;
  ExtraInput step;
  step.name = "timestep";
  step.kind = ExtraInput::Kind::step;
  spec.push_back(step);
  if (options.local_cond_rep()) {
    ExtraInput local;
    local.name = "local_cond";
    local.kind = ExtraInput::Kind::sequence;
    local.rep = options.local_cond_rep();
    spec.push_back(local);
  }
  if (options.global_cond_rep()) {
    ExtraInput global;
    global.name = "global_cond";
    global.kind = ExtraInput::Kind::vector;
    global.rep = options.global_cond_rep();
    spec.push_back(global);
  }
  return spec;
}

at::Tensor EConditionalUnet1DImpl::forward(const at::Tensor& /*x*/) {
  std::string names = "timestep";
  if (options.local_cond_rep()) names += ", local_cond";
  if (options.global_cond_rep()) names += ", global_cond";
  TORCH_CHECK(false, kUnet, ": takes the diffusion step",
              options.local_cond_rep() || options.global_cond_rep() ? " and its conditioning" : "",
              " besides the sample: call forward_with(x, {", names, "}) (Python: model(x, ", names, "))");
}

at::Tensor EConditionalUnet1DImpl::forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) {
  const int64_t c = options.in_rep()->size();
  TORCH_CHECK(x.dim() == 3 && x.size(2) == c, kUnet, ": expected the sample of shape (N, L, ", c,
              ") for in_rep ", options.in_rep()->describe(), " (features last), got ", x.sizes());
  check_extra_inputs(kUnet, extra_inputs(), extra, x.size(0), x.size(1));
  size_t i = 1;
  const at::Tensor local = options.local_cond_rep() ? extra[i++] : at::Tensor();
  const at::Tensor global = options.global_cond_rep() ? extra[i++] : at::Tensor();
  return forward(x, extra[0], local, global);
}

at::Tensor EConditionalUnet1DImpl::step_embedding(const at::Tensor& timestep, const at::Tensor& sample) {
  at::Tensor t = timestep.to(sample.device(), sample.scalar_type()).reshape({-1});
  t = t.expand({sample.size(0)});
  at::Tensor emb = sinusoidal_embedding(t, options.diffusion_step_embed_dim());
  emb = stock_linear(*diffusion_step_encoder[1], emb);
  emb = at::mish(emb);
  return stock_linear(*diffusion_step_encoder[3], emb);
}

at::Tensor EConditionalUnet1DImpl::forward(const at::Tensor& sample, const at::Tensor& timestep,
                                           const at::Tensor& local_cond, const at::Tensor& global_cond) {
  const int64_t c = options.in_rep()->size();
  TORCH_CHECK(sample.dim() == 3 && sample.size(2) == c, kUnet, ": expected the sample of shape (N, L, ", c,
              ") for in_rep ", options.in_rep()->describe(), " (features last), got ", sample.sizes());
  std::vector<at::Tensor> extra{timestep};
  TORCH_CHECK(options.local_cond_rep() || !local_cond.defined(), kUnet,
              ": got local_cond, but the model has no local_cond_rep");
  TORCH_CHECK(options.global_cond_rep() || !global_cond.defined(), kUnet,
              ": got global_cond, but the model has no global_cond_rep");
  if (options.local_cond_rep()) extra.push_back(local_cond);
  if (options.global_cond_rep()) extra.push_back(global_cond);
  check_extra_inputs(kUnet, extra_inputs(), extra, sample.size(0), sample.size(1));
  const std::string problem = length_problem(sample.size(1));
  TORCH_CHECK(problem.empty(), problem);
  const bool dp = options.layout() == kDiffusionPolicy;

  const at::Tensor t_emb = step_embedding(timestep, sample);
  const at::Tensor film = global_cond.defined() ? at::cat({global_cond, t_emb}, 1) : t_emb;
  at::Tensor h0, h1;
  if (!local_.empty()) {
    h0 = local_[0]->forward(local_cond, film);
    h1 = local_[1]->forward(local_cond, film);
  }
  at::Tensor x = sample;
  std::vector<at::Tensor> skips;
  for (size_t i = 0; i < down_.size(); ++i) {
    x = down_[i].res1->forward(x, film);
    if (i == 0 && h0.defined()) x = x + h0;
    x = down_[i].res2->forward(x, film);
    skips.push_back(x);
    if (down_[i].resample) x = down_[i].resample(x);
  }
  for (const auto& mid : mid_) x = mid->forward(x, film);
  for (size_t j = 0; j < up_.size(); ++j) {
    x = at::cat({x, skips.back()}, 2);
    skips.pop_back();
    x = up_[j].res1->forward(x, film);
    if (!dp && j + 1 == up_.size() && h1.defined()) x = x + h1;
    x = up_[j].res2->forward(x, film);
    if (up_[j].resample) x = up_[j].resample(x);
  }
  if (dp && h1.defined()) x = x + h1;
  return final_(x);
}

int64_t EConditionalUnet1DImpl::unconstrained_parameter_count() {
  int64_t count = 0;
  for (const auto& layer : layers_) count += layer->unconstrained_parameter_count();
  for (const auto& p : diffusion_step_encoder->parameters()) count += p.numel();
  return count;
}

void EConditionalUnet1DImpl::pretty_print(std::ostream& os) const {
  os << kUnet << "(in_rep=" << options.in_rep()->describe()
     << ", local_cond_rep=" << (options.local_cond_rep() ? options.local_cond_rep()->describe() : "None")
     << ", global_cond_rep=" << (options.global_cond_rep() ? options.global_cond_rep()->describe() : "None")
     << ", diffusion_step_embed_dim=" << options.diffusion_step_embed_dim() << ", down_dims=["
     << fmt::format("{}", fmt::join(options.down_dims(), ", ")) << "], kernel_size=" << options.kernel_size()
     << ", downsample=" << options.downsample() << ", layout=" << options.layout();
  if (options.residual_conv() != "auto") os << ", residual_conv=" << options.residual_conv();
  os << ")";
}

}  // namespace eqnn
