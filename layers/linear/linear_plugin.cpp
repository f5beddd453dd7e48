// Plugin entry point: registers the "eLinear", "eAffine", "eInvariantBias" and "eTensorProduct" layer
// factories (keyword arguments as in their Options).
#include "e_affine.hpp"
#include "e_invariant_bias.hpp"
#include "e_linear.hpp"
#include "e_tensor_product.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

std::shared_ptr<eqnn::Layer> make_linear(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"out_rep", "bias", "init_scheme", "weight_constraint", "bias_constraint", "execution"},
                "eLinear");
  if (!kw || !kw.IsMap() || !kw["out_rep"]) y::fail(kw, "eLinear: missing required key 'out_rep'");
  if (!args.in_rep) y::fail(kw, "eLinear: no representation flows in; give the model an input rep");
  // Every default is the Options' own: a key that is not given keeps it.
  eqnn::ELinearOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]));
  options.bias(y::get_bool(kw, "bias", options.bias()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", options.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .execution(y::get_string(kw, "execution", options.execution()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<eqnn::ELinearImpl>(std::move(options));
}

std::shared_ptr<eqnn::Layer> make_affine(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"bias", "learnable", "bias_constraint"}, "eAffine");
  if (!args.in_rep) y::fail(kw, "eAffine: no representation flows in; give the model an input rep");
  eqnn::EAffineOptions options(args.in_rep);
  options.bias(y::get_bool(kw, "bias", options.bias()))
      .learnable(y::get_bool(kw, "learnable", options.learnable()))
      .bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .registry(args.registry);
  // A model calls forward(x): a FiLM layer, whose scales come with each call, has no place in its stack.
  if (!options.learnable())
    y::fail(kw["learnable"],
            "eAffine: 'learnable: false' (FiLM mode) takes its scales and bias as forward arguments, which a "
            "model's layer stack cannot give; build it from C++ (EAffineOptions(rep).learnable(false)) or "
            "Python (eqnn.nn.EAffine(rep, learnable=False)), or leave 'learnable' out");
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<eqnn::EAffineImpl>(std::move(options));
}

std::shared_ptr<eqnn::Layer> make_invariant_bias(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"bias_constraint"}, "eInvariantBias");
  if (!args.in_rep) y::fail(kw, "eInvariantBias: no representation flows in; give the model an input rep");
  eqnn::EInvariantBiasOptions options(args.in_rep);
  options.bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<eqnn::EInvariantBiasImpl>(std::move(options));
}

std::shared_ptr<eqnn::Layer> make_tensor_product(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(
      kw, {"out_rep", "in2_rep", "bias", "init_scheme", "weight_constraint", "bias_constraint", "execution"},
      "eTensorProduct");
  if (!kw || !kw.IsMap() || !kw["out_rep"]) y::fail(kw, "eTensorProduct: missing required key 'out_rep'");
  if (!args.in_rep) y::fail(kw, "eTensorProduct: no representation flows in; give the model an input rep");
  eqnn::ETensorProductOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]));
  if (kw["in2_rep"]) options.in2_rep(args.resolve_rep(kw["in2_rep"]));
  options.bias(y::get_bool(kw, "bias", options.bias()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", options.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .execution(y::get_string(kw, "execution", options.execution()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  try {
    return std::make_shared<eqnn::ETensorProductImpl>(std::move(options));
  } catch (const eqnn::ConfigError& e) {
    y::fail(kw, e.message());
  }
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eLinear", make_linear);
  r.add_layer("eAffine", make_affine);
  r.add_layer("eInvariantBias", make_invariant_bias);
  r.add_layer("eTensorProduct", make_tensor_product);
}

}  // namespace

EQNN_PLUGIN("linear", "0.1.0", register_all)
