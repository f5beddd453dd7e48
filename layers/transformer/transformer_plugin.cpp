// Plugin entry point: registers "eTransformerEncoderLayer", "eTransformerDecoderLayer", "eTransformerEncoder"
// and "eTransformerDecoder". The layers take the keyword arguments num_heads (required), dim_feedforward,
// dropout, activation, norm_first, batch_first, layer_norm_eps, bias, init_scheme, norm, norm_affine,
// norm_normalize, attention (mha, additive_pos, additive_rel, rope), max_len, max_distance, rope_base (see
// e_transformer_encoder_layer.hpp and transformer_common.hpp); the stacks the same, flat, plus num_layers
// (required) and final_norm (see e_transformer_stack.hpp). Their sub-layers come from the same registry by
// name, so a research plugin can replace any of them. Unlike the C++ options, batch_first defaults to true
// here (eqnn::kModelBatchFirst): an eqnn model is batch-first.
#include <string>
#include <vector>

#include "e_transformer_decoder_layer.hpp"
#include "e_transformer_encoder_layer.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

const std::vector<std::string>& layer_keys() {
  static const std::vector<std::string> keys = {
      "num_heads",   "dim_feedforward", "dropout",   "activation",  "norm_first",
      "batch_first", "layer_norm_eps",  "bias",      "init_scheme", "norm",
      "norm_affine", "norm_normalize",  "attention", "max_len",     "max_distance",
      "rope_base",   "execution"};
  return keys;
}

// The layer options from the keyword arguments: every default is the Options' own (a key that is not given
// keeps it), except batch_first, which starts from eqnn::kModelBatchFirst.
template <typename LayerOptions>
LayerOptions layer_options(const eqnn::LayerArgs& args, const char* what) {
  const YAML::Node& kw = args.kwargs;
  if (!args.in_rep) y::fail(kw, std::string(what) + ": no in_rep (give in_rep or put the layer after one)");
  if (!args.registry)
    throw eqnn::Error(std::string(what) + ": LayerArgs.registry is null; sub-layers come from it");
  LayerOptions options(args.in_rep, y::get_int(kw, "num_heads"));
  options.batch_first(eqnn::kModelBatchFirst);
  options.dim_feedforward(y::get_int(kw, "dim_feedforward", options.dim_feedforward()))
      .dropout(y::get_double(kw, "dropout", options.dropout()))
      .activation(y::get_string(kw, "activation", options.activation()))
      .norm_first(y::get_bool(kw, "norm_first", options.norm_first()))
      .batch_first(y::get_bool(kw, "batch_first", options.batch_first()))
      .layer_norm_eps(y::get_double(kw, "layer_norm_eps", options.layer_norm_eps()))
      .bias(y::get_bool(kw, "bias", options.bias()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .norm(y::get_string(kw, "norm", options.norm()))
      .norm_affine(y::get_string(kw, "norm_affine", options.norm_affine()))
      .norm_normalize(y::get_string(kw, "norm_normalize", options.norm_normalize()))
      .attention(y::get_string(kw, "attention", options.attention()))
      .max_len(y::get_int(kw, "max_len", options.max_len()))
      .max_distance(y::get_int(kw, "max_distance", options.max_distance()))
      .rope_base(y::get_double(kw, "rope_base", options.rope_base()))
      .execution(y::get_string(kw, "execution", options.execution()))
      .registry(args.registry);
  return options;
}

// Builds the layer, with a validate() error located at its key and a construction error at the arguments
// (the sub-layers' were derived from them).
template <typename Impl, typename Options>
std::shared_ptr<eqnn::Layer> build(const YAML::Node& kw, Options options) {
  if (auto error = eqnn::validate(options))
    y::fail(kw.IsMap() && kw[error->key] ? kw[error->key] : kw, error->message);
  try {
    return std::make_shared<Impl>(std::move(options));
  } catch (const eqnn::ConfigError& e) {
    if (e.line() > 0) throw;
    y::fail(kw, e.message());
  }
}

template <typename Impl, typename LayerOptions>
std::shared_ptr<eqnn::Layer> make_transformer_layer(const eqnn::LayerArgs& args, const char* what) {
  y::check_keys(args.kwargs, layer_keys(), what);
  return build<Impl>(args.kwargs, layer_options<LayerOptions>(args, what));
}

template <typename Impl, typename StackOptions, typename LayerOptions>
std::shared_ptr<eqnn::Layer> make_stack(const eqnn::LayerArgs& args, const char* what) {
  const YAML::Node& kw = args.kwargs;
  std::vector<std::string> keys = layer_keys();
  keys.insert(keys.end(), {"num_layers", "final_norm"});
  y::check_keys(kw, keys, what);
  StackOptions options(layer_options<LayerOptions>(args, what), y::get_int(kw, "num_layers"));
  options.final_norm(y::get_string(kw, "final_norm", options.final_norm()));
  return build<Impl>(kw, std::move(options));
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eTransformerEncoderLayer", [](const eqnn::LayerArgs& args) {
    return make_transformer_layer<eqnn::ETransformerEncoderLayerImpl, eqnn::ETransformerEncoderLayerOptions>(
        args, "eTransformerEncoderLayer");
  });
  r.add_layer("eTransformerDecoderLayer", [](const eqnn::LayerArgs& args) {
    return make_transformer_layer<eqnn::ETransformerDecoderLayerImpl, eqnn::ETransformerDecoderLayerOptions>(
        args, "eTransformerDecoderLayer");
  });
  r.add_layer("eTransformerEncoder", [](const eqnn::LayerArgs& args) {
    return make_stack<eqnn::ETransformerEncoderImpl, eqnn::ETransformerEncoderOptions,
                      eqnn::ETransformerEncoderLayerOptions>(args, "eTransformerEncoder");
  });
  r.add_layer("eTransformerDecoder", [](const eqnn::LayerArgs& args) {
    return make_stack<eqnn::ETransformerDecoderImpl, eqnn::ETransformerDecoderOptions,
                      eqnn::ETransformerDecoderLayerOptions>(args, "eTransformerDecoder");
  });
}

}  // namespace

EQNN_PLUGIN("transformer_layers", "0.1.0", register_all)
