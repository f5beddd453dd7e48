// Plugin entry point: registers the "eLinear" layer factory (keyword arguments as in ELinearOptions).
#include "e_linear.hpp"
#include "eqnn/error.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

std::shared_ptr<eqnn::Layer> make_linear(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"out_rep", "bias", "init_scheme", "weight_constraint", "bias_constraint"}, "eLinear");
  if (!kw || !kw.IsMap() || !kw["out_rep"]) y::fail(kw, "eLinear: missing required key 'out_rep'");
  if (!args.in_rep) y::fail(kw, "eLinear: no representation flows in; give the model an input rep");
  eqnn::ELinearOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]));
  options.bias(y::get_bool(kw, "bias", true))
      .init_scheme(y::get_string(kw, "init_scheme", std::string("stock")))
      .weight_constraint(y::get_string(kw, "weight_constraint", std::string("CommutingConstraint")))
      .bias_constraint(y::get_string(kw, "bias_constraint", std::string("InvariantConstraint")))
      .registry(args.registry);
  // Locate errors of the string options at their node.
  if (kw["init_scheme"]) {
    try {
      eqnn::parse_init_scheme(options.init_scheme());
    } catch (const eqnn::ConfigError& e) {
      y::fail(kw["init_scheme"], "eLinear: " + e.message());
    }
  }
  for (const char* key : {"weight_constraint", "bias_constraint"}) {
    if (!kw[key] || !args.registry) continue;
    try {
      args.registry->get_constraint(kw[key].as<std::string>());
    } catch (const eqnn::LookupError& e) {
      y::fail(kw[key], std::string("eLinear: ") + e.what());
    }
  }
  return std::make_shared<eqnn::ELinearImpl>(std::move(options));
}

void register_all(eqnn::Registrar& r) { r.add_layer("eLinear", make_linear); }

}  // namespace

EQNN_PLUGIN("linear", "0.1.0", register_all)
