// ETimeCNNEncoder: the options check, the conv blocks and the head (see e_time_cnn_encoder.hpp). The blocks
// run features last, (N, H, C): the convolutions in that layout (set_features_last), the norm and the
// activation on the last dimension, MaxPool1d over time on (N, C, H).
#include "e_time_cnn_encoder.hpp"

#include <algorithm>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/modules/pooling.h>

#include "e_activation.hpp"
#include "e_conv.hpp"
#include "e_norm.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

constexpr const char* kWhat = "eTimeCNNEncoder";

// H after the blocks: ⌈H/2⌉ per stride block, ⌊H/2⌋ per pooling block.
int64_t horizon_after(int64_t h, size_t blocks, bool stride) {
  for (size_t i = 0; i < blocks; ++i) h = stride ? (h + 1) / 2 : h / 2;
  return h;
}

}  // namespace

std::optional<OptionError> validate(const ETimeCNNEncoderOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", fmt::format("{}: in_rep is required", kWhat)};
  if (!o.out_rep()) return OptionError{"out_rep", fmt::format("{}: out_rep is required", kWhat)};
  if (o.hidden_channels().empty())
    return OptionError{
        "hidden_channels",
        fmt::format("{}: 'hidden_channels' must list at least one conv block, found none", kWhat)};
  for (size_t i = 0; i < o.hidden_channels().size(); ++i)
    if (o.hidden_channels()[i] < 1)
      return OptionError{"hidden_channels",
                         fmt::format("{}: 'hidden_channels' must be >= 1 each, found {} at index {}", kWhat,
                                     o.hidden_channels()[i], i)};
  if (o.downsample() != "stride" && o.downsample() != "pooling")
    return OptionError{"downsample",
                       fmt::format("{}: 'downsample' must be 'stride' (stride-2 convolutions) or 'pooling' "
                                   "(MaxPool1d(2)), found '{}'",
                                   kWhat, o.downsample())};
  if (o.time_horizon() < 1)
    return OptionError{"time_horizon",
                       fmt::format("{}: 'time_horizon' must be >= 1, found {}", kWhat, o.time_horizon())};
  const bool stride = o.downsample() == "stride";
  const int64_t h = horizon_after(o.time_horizon(), o.hidden_channels().size(), stride);
  if (h < 1)
    return OptionError{
        "time_horizon",
        fmt::format("{}: time_horizon {} is too short for {} '{}' blocks: each halves it ({}), "
                    "leaving {} frames; give a longer horizon or fewer hidden_channels",
                    kWhat, o.time_horizon(), o.hidden_channels().size(), o.downsample(),
                    stride ? "rounding up" : "rounding down", h)};
  // The rest (activation, hidden_rep, mlp_hidden, init_scheme) as the head's.
  EMLPOptions head(o.in_rep(), o.out_rep(), o.mlp_hidden());
  head.activation(o.activation()).hidden_rep(o.hidden_rep()).init_scheme(o.init_scheme());
  if (auto e = validate(head)) {
    std::string message = e->message;
    if (message.rfind("eMLP: ", 0) == 0) message = message.substr(6);
    const std::string key = e->key == "hidden_units" ? "mlp_hidden" : e->key;
    if (key == "mlp_hidden" && message.find("'hidden_units'") != std::string::npos)
      message.replace(message.find("'hidden_units'"), 14, "'mlp_hidden'");
    return OptionError{key, fmt::format("{}: {}", kWhat, message)};
  }
  return std::nullopt;
}

ETimeCNNEncoderImpl::ETimeCNNEncoderImpl(ETimeCNNEncoderOptions options_)
    : Layer(kWhat), options(std::move(options_)) {
  reset();
}
ETimeCNNEncoderImpl::~ETimeCNNEncoderImpl() = default;

void ETimeCNNEncoderImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const ETimeCNNEncoderOptions& o = options;
  const GroupPtr& group = o.in_rep()->group_ptr();
  const RepPtr base = o.hidden_rep() ? o.hidden_rep() : Representation::regular(group);
  const bool stride = o.downsample() == "stride";
  feature_layers = register_module("feature_layers", torch::nn::ModuleList());
  steps_.clear();
  layers_.clear();
  RepPtr prev = o.in_rep();
  for (int64_t channels : o.hidden_channels()) {
    const RepPtr h = mlp_hidden_rep(base, channels);
    auto conv = std::make_shared<EConv1dImpl>(EConv1dOptions(prev, h, 3)
                                                  .stride(stride ? 2 : 1)
                                                  .padding(1)
                                                  .bias(o.bias())
                                                  .init_scheme(o.init_scheme()));
    conv->set_features_last(true);
    feature_layers->push_back(conv);
    layers_.push_back(conv);
    steps_.emplace_back([conv](const at::Tensor& x) { return conv->forward(x); });
    if (o.batch_norm()) {
      auto norm = std::make_shared<ERMSNormImpl>(ERMSNormOptions(h).eps(1e-6).affine("per_copy"));
      feature_layers->push_back(norm);
      layers_.push_back(norm);
      steps_.emplace_back([norm](const at::Tensor& x) { return norm->forward(x); });
    }
    auto act = std::make_shared<EPointwiseImpl>(EPointwiseOptions(h, o.activation()));
    feature_layers->push_back(act);
    steps_.emplace_back([act](const at::Tensor& x) { return act->forward(x); });
    if (!stride) {
      auto pool = torch::nn::MaxPool1d(torch::nn::MaxPool1dOptions(2).stride(2));
      feature_layers->push_back(pool.ptr());
      steps_.emplace_back(
          [pool](const at::Tensor& x) mutable { return pool->forward(x.transpose(1, 2)).transpose(1, 2); });
    }
    prev = h;
  }
  horizon_out_ = horizon_after(o.time_horizon(), o.hidden_channels().size(), stride);
  std::vector<RepPtr> parts(static_cast<size_t>(horizon_out_), prev);
  if (o.append_last_frame()) parts.push_back(o.in_rep());
  head_rep_ = Representation::direct_sum(parts);
  const auto& out_irreps = o.out_rep()->irreps();
  invariant_ = std::all_of(out_irreps.begin(), out_irreps.end(), [](int k) { return k == 0; });
  if (invariant_)
    head = std::make_shared<IMLPImpl>(IMLPOptions(head_rep_, o.out_rep()->size(), o.mlp_hidden())
                                          .activation(o.activation())
                                          .bias(o.bias())
                                          .hidden_rep(o.hidden_rep())
                                          .init_scheme(o.init_scheme()));
  else
    head = std::make_shared<EMLPImpl>(EMLPOptions(head_rep_, o.out_rep(), o.mlp_hidden())
                                          .activation(o.activation())
                                          .bias(o.bias())
                                          .hidden_rep(o.hidden_rep())
                                          .init_scheme(o.init_scheme()));
  register_module("head", head);
}

at::Tensor ETimeCNNEncoderImpl::forward(const at::Tensor& input) {
  const int64_t c = options.in_rep()->size();
  const int64_t h = options.time_horizon();
  const bool ok = input.dim() == 3 && (features_last_ ? input.size(1) == h && input.size(2) == c
                                                      : input.size(1) == c && input.size(2) == h);
  TORCH_CHECK(ok, kWhat, ": expected input of shape ",
              features_last_ ? "(N, time_horizon, C) = (N, " : "(N, C, time_horizon) = (N, ",
              features_last_ ? h : c, ", ", features_last_ ? c : h, ") for in_rep ",
              options.in_rep()->describe(), ", got ", input.sizes());
  const at::Tensor x = features_last_ ? input : input.transpose(1, 2);  // (N, H, C)
  at::Tensor f = x;
  for (const auto& step : steps_) f = step(f);
  at::Tensor z = f.reshape({f.size(0), -1});  // time-major: (N, H'·C)
  if (options.append_last_frame()) z = at::cat({z, x.select(1, -1)}, 1);
  return head->forward(z);
}

int64_t ETimeCNNEncoderImpl::unconstrained_parameter_count() {
  int64_t count = head->unconstrained_parameter_count();
  for (const auto& layer : layers_) count += layer->unconstrained_parameter_count();
  return count;
}

void ETimeCNNEncoderImpl::pretty_print(std::ostream& os) const {
  os << kWhat << "(in_rep=" << options.in_rep()->describe() << ", out_rep=" << options.out_rep()->describe()
     << ", time_horizon=" << options.time_horizon() << " -> " << horizon_out_
     << ", downsample=" << options.downsample() << ", batch_norm=" << std::boolalpha << options.batch_norm()
     << ", append_last_frame=" << options.append_last_frame() << ", head=" << (invariant_ ? "iMLP" : "eMLP")
     << ")";
}

}  // namespace eqnn
