// Plugin entry point: registers the pointwise factories "eReLU", "eGELU", "eSiLU", "eTanh", "eMish", "eELU",
// "eLeakyReLU", "eSigmoid", "eSoftplus", "ePointwise" (keyword arguments: approximate for eGELU; alpha for
// eELU; negative_slope for eLeakyReLU; beta, threshold for eSoftplus; function and the function's own for
// ePointwise; see e_activation.hpp), "eNormNonlinearity" (function, bias), "eGatedNonlinearity"
// (function) and "eFourierPointwise" (function, grid_size).
#include <algorithm>

#include <fmt/format.h>

#include "e_activation.hpp"
#include "e_fourier_pointwise.hpp"
#include "e_gated_nonlinearity.hpp"
#include "e_norm_nonlinearity.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

/// The layer from `options`, or the first problem of validate(options) located at its key (or at the
/// layer's arguments).
template <typename Impl, typename Options>
std::shared_ptr<eqnn::Layer> make(const eqnn::LayerArgs& args, const std::string& what, Options options) {
  if (auto error = eqnn::validate(options)) {
    const YAML::Node& kw = args.kwargs;
    if (error->key == "in_rep" && !args.in_rep)
      y::fail(kw, what + ": no in_rep (give in_rep or put the layer after one)");
    y::fail(kw.IsMap() && kw[error->key] ? kw[error->key] : kw, error->message);
  }
  return std::make_shared<Impl>(std::move(options));
}

std::shared_ptr<eqnn::Layer> make_relu(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {}, "eReLU");
  return make<eqnn::EReLUImpl>(args, "eReLU", eqnn::EReLUOptions(args.in_rep));
}

std::shared_ptr<eqnn::Layer> make_gelu(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"approximate"}, "eGELU");
  eqnn::EGELUOptions options(args.in_rep);  // every default is the Options' own
  options.approximate(y::get_string(args.kwargs, "approximate", options.approximate()));
  return make<eqnn::EGELUImpl>(args, "eGELU", std::move(options));
}

std::shared_ptr<eqnn::Layer> make_silu(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {}, "eSiLU");
  return make<eqnn::ESiLUImpl>(args, "eSiLU", eqnn::ESiLUOptions(args.in_rep));
}

std::shared_ptr<eqnn::Layer> make_tanh(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {}, "eTanh");
  return make<eqnn::ETanhImpl>(args, "eTanh", eqnn::ETanhOptions(args.in_rep));
}

std::shared_ptr<eqnn::Layer> make_pointwise(const eqnn::LayerArgs& args) {
  const std::string what = "ePointwise";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"function", "approximate", "negative_slope", "alpha", "beta", "threshold"}, what);
  eqnn::EPointwiseOptions options(args.in_rep, y::get_string(kw, "function"));
  const std::string& f = options.function();
  // A key given for another function is an error even when it holds the default (validate sees values only).
  const auto& known = eqnn::pointwise_functions();
  if (std::find(known.begin(), known.end(), f) != known.end()) {
    if (kw.IsMap() && kw["approximate"] && f != "gelu")
      y::fail(kw["approximate"],
              fmt::format("{}: 'approximate' applies only to function 'gelu', not '{}'", what, f));
    if (kw.IsMap() && kw["negative_slope"] && f != "leaky_relu")
      y::fail(kw["negative_slope"],
              fmt::format("{}: 'negative_slope' applies only to function 'leaky_relu', not '{}'", what, f));
    if (kw.IsMap() && kw["alpha"] && f != "elu")
      y::fail(kw["alpha"], fmt::format("{}: 'alpha' applies only to function 'elu', not '{}'", what, f));
    for (const char* key : {"beta", "threshold"})
      if (kw.IsMap() && kw[key] && f != "softplus")
        y::fail(kw[key], fmt::format("{}: '{}' applies only to function 'softplus', not '{}'", what, key, f));
  }
  options.approximate(y::get_string(kw, "approximate", options.approximate()))
      .negative_slope(y::get_double(kw, "negative_slope", options.negative_slope()))
      .alpha(y::get_double(kw, "alpha", options.alpha()))
      .beta(y::get_double(kw, "beta", options.beta()))
      .threshold(y::get_double(kw, "threshold", options.threshold()));
  return make<eqnn::EPointwiseImpl>(args, what, std::move(options));
}

std::shared_ptr<eqnn::Layer> make_mish(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {}, "eMish");
  return make<eqnn::EMishImpl>(args, "eMish", eqnn::EMishOptions(args.in_rep));
}

std::shared_ptr<eqnn::Layer> make_elu(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"alpha"}, "eELU");
  eqnn::EELUOptions options(args.in_rep);
  options.alpha(y::get_double(args.kwargs, "alpha", options.alpha()));
  return make<eqnn::EELUImpl>(args, "eELU", std::move(options));
}

std::shared_ptr<eqnn::Layer> make_leaky_relu(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"negative_slope"}, "eLeakyReLU");
  eqnn::ELeakyReLUOptions options(args.in_rep);
  options.negative_slope(y::get_double(args.kwargs, "negative_slope", options.negative_slope()));
  return make<eqnn::ELeakyReLUImpl>(args, "eLeakyReLU", std::move(options));
}

std::shared_ptr<eqnn::Layer> make_sigmoid(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {}, "eSigmoid");
  return make<eqnn::ESigmoidImpl>(args, "eSigmoid", eqnn::ESigmoidOptions(args.in_rep));
}

std::shared_ptr<eqnn::Layer> make_softplus(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"beta", "threshold"}, "eSoftplus");
  eqnn::ESoftplusOptions options(args.in_rep);
  options.beta(y::get_double(args.kwargs, "beta", options.beta()))
      .threshold(y::get_double(args.kwargs, "threshold", options.threshold()));
  return make<eqnn::ESoftplusImpl>(args, "eSoftplus", std::move(options));
}

std::shared_ptr<eqnn::Layer> make_norm_nonlinearity(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"function", "bias"}, "eNormNonlinearity");
  eqnn::ENormNonlinearityOptions options(args.in_rep);
  options.function(y::get_string(args.kwargs, "function", options.function()))
      .bias(y::get_bool(args.kwargs, "bias", options.bias()));
  return make<eqnn::ENormNonlinearityImpl>(args, "eNormNonlinearity", std::move(options));
}

std::shared_ptr<eqnn::Layer> make_gated_nonlinearity(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"function"}, "eGatedNonlinearity");
  eqnn::EGatedNonlinearityOptions options(args.in_rep);
  options.function(y::get_string(args.kwargs, "function", options.function()));
  return make<eqnn::EGatedNonlinearityImpl>(args, "eGatedNonlinearity", std::move(options));
}

std::shared_ptr<eqnn::Layer> make_fourier_pointwise(const eqnn::LayerArgs& args) {
  y::check_keys(args.kwargs, {"function", "grid_size"}, "eFourierPointwise");
  eqnn::EFourierPointwiseOptions options(args.in_rep);
  options.function(y::get_string(args.kwargs, "function", options.function()))
      .grid_size(y::get_int(args.kwargs, "grid_size", options.grid_size(), 0, 1000000));
  return make<eqnn::EFourierPointwiseImpl>(args, "eFourierPointwise", std::move(options));
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eReLU", make_relu);
  r.add_layer("eGELU", make_gelu);
  r.add_layer("eSiLU", make_silu);
  r.add_layer("eTanh", make_tanh);
  r.add_layer("eMish", make_mish);
  r.add_layer("eELU", make_elu);
  r.add_layer("eLeakyReLU", make_leaky_relu);
  r.add_layer("eSigmoid", make_sigmoid);
  r.add_layer("eSoftplus", make_softplus);
  r.add_layer("ePointwise", make_pointwise);
  r.add_layer("eNormNonlinearity", make_norm_nonlinearity);
  r.add_layer("eGatedNonlinearity", make_gated_nonlinearity);
  r.add_layer("eFourierPointwise", make_fourier_pointwise);
}

}  // namespace

EQNN_PLUGIN("activation_layers", "0.1.0", register_all)
