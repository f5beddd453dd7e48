// Plugin entry point: registers the "eConv1d" and "eConvTranspose1d" layer factories (keyword arguments as in
// EConv1dOptions / EConvTranspose1dOptions). A model file feeds layers tokens features last, (batch, seq, D):
// these layers convolve over seq and return (batch, seq', D_out) (EConvBase::set_features_last).
#include <cctype>

#include "e_conv.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

bool is_integer(const std::string& s) {
  if (s.empty()) return false;
  size_t i = (s[0] == '-' || s[0] == '+') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

// An integer amount, or "same" / "valid" (validate() checks the string).
eqnn::ConvPadding get_padding(const YAML::Node& kw, const eqnn::ConvPadding& fallback) {
  const YAML::Node node = kw["padding"];
  if (!node) return fallback;
  if (node.IsScalar() && !is_integer(node.Scalar())) return eqnn::ConvPadding(node.Scalar());
  return eqnn::ConvPadding(y::get_int(kw, "padding", std::nullopt, 0));
}

void common_checks(const eqnn::LayerArgs& args, const std::string& what) {
  const YAML::Node& kw = args.kwargs;
  if (!kw || !kw.IsMap() || !kw["out_rep"]) y::fail(kw, what + ": missing required key 'out_rep'");
  if (!kw["kernel_size"]) y::fail(kw, what + ": missing required key 'kernel_size'");
  if (!args.in_rep) y::fail(kw, what + ": no representation flows in; give the model an input rep");
}

template <typename Options>
void fail_on(const YAML::Node& kw, const Options& options) {
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
}

std::shared_ptr<eqnn::Layer> make_conv(const eqnn::LayerArgs& args) {
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"out_rep", "kernel_size", "stride", "padding", "dilation", "groups", "bias", "padding_mode",
                 "init_scheme", "weight_constraint", "bias_constraint", "execution"},
                "eConv1d");
  common_checks(args, "eConv1d");
  // Every default is the Options' own: a key that is not given keeps it.
  eqnn::EConv1dOptions o(args.in_rep, args.resolve_rep(kw["out_rep"]), y::get_int(kw, "kernel_size"));
  o.stride(y::get_int(kw, "stride", o.stride()))
      .padding(get_padding(kw, o.padding()))
      .dilation(y::get_int(kw, "dilation", o.dilation()))
      .groups(y::get_int(kw, "groups", o.groups()))
      .bias(y::get_bool(kw, "bias", o.bias()))
      .padding_mode(y::get_string(kw, "padding_mode", o.padding_mode()))
      .init_scheme(y::get_string(kw, "init_scheme", o.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", o.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", o.bias_constraint()))
      .execution(y::get_string(kw, "execution", o.execution()))
      .registry(args.registry);
  fail_on(kw, o);
  auto layer = std::make_shared<eqnn::EConv1dImpl>(std::move(o));
  layer->set_features_last(true);
  return layer;
}

std::shared_ptr<eqnn::Layer> make_conv_transpose(const eqnn::LayerArgs& args) {
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"out_rep", "kernel_size", "stride", "padding", "output_padding", "groups", "bias",
                 "dilation", "padding_mode", "init_scheme", "weight_constraint", "bias_constraint"},
                "eConvTranspose1d");
  common_checks(args, "eConvTranspose1d");
  eqnn::EConvTranspose1dOptions o(args.in_rep, args.resolve_rep(kw["out_rep"]),
                                  y::get_int(kw, "kernel_size"));
  o.stride(y::get_int(kw, "stride", o.stride()))
      .padding(y::get_int(kw, "padding", o.padding()))
      .output_padding(y::get_int(kw, "output_padding", o.output_padding()))
      .groups(y::get_int(kw, "groups", o.groups()))
      .bias(y::get_bool(kw, "bias", o.bias()))
      .dilation(y::get_int(kw, "dilation", o.dilation()))
      .padding_mode(y::get_string(kw, "padding_mode", o.padding_mode()))
      .init_scheme(y::get_string(kw, "init_scheme", o.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", o.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", o.bias_constraint()))
      .registry(args.registry);
  fail_on(kw, o);
  auto layer = std::make_shared<eqnn::EConvTranspose1dImpl>(std::move(o));
  layer->set_features_last(true);
  return layer;
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eConv1d", make_conv);
  r.add_layer("eConvTranspose1d", make_conv_transpose);
}

}  // namespace

EQNN_PLUGIN("conv", "0.1.0", register_all)
