// Plugin entry point: registers the "eLinear" layer factory (keyword arguments as in ELinearOptions).
#include "e_linear.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

std::shared_ptr<eqnn::Layer> make_linear(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"out_rep", "bias", "init_scheme", "weight_constraint", "bias_constraint"}, "eLinear");
  if (!kw || !kw.IsMap() || !kw["out_rep"]) y::fail(kw, "eLinear: missing required key 'out_rep'");
  if (!args.in_rep) y::fail(kw, "eLinear: no representation flows in; give the model an input rep");
  // Every default is the Options' own: a key that is not given keeps it.
  eqnn::ELinearOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]));
  options.bias(y::get_bool(kw, "bias", options.bias()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", options.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<eqnn::ELinearImpl>(std::move(options));
}

void register_all(eqnn::Registrar& r) { r.add_layer("eLinear", make_linear); }

}  // namespace

EQNN_PLUGIN("linear", "0.1.0", register_all)
