// Plugin entry point: registers the "eReLU", "eGELU", "eSiLU", "eTanh" and "ePointwise" factories (keyword
// arguments: approximate for eGELU; function, approximate, negative_slope for ePointwise; see
// e_activation.hpp).
#include <algorithm>

#include <fmt/format.h>

#include "e_activation.hpp"
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
  y::check_keys(kw, {"function", "approximate", "negative_slope"}, what);
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
  }
  options.approximate(y::get_string(kw, "approximate", options.approximate()))
      .negative_slope(y::get_double(kw, "negative_slope", options.negative_slope()));
  return make<eqnn::EPointwiseImpl>(args, what, std::move(options));
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eReLU", make_relu);
  r.add_layer("eGELU", make_gelu);
  r.add_layer("eSiLU", make_silu);
  r.add_layer("eTanh", make_tanh);
  r.add_layer("ePointwise", make_pointwise);
}

}  // namespace

EQNN_PLUGIN("activation_layers", "0.1.0", register_all)
