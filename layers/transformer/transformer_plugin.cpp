// Plugin entry point: registers the "eTransformerEncoderLayer" factory (keyword arguments num_heads
// (required), dim_feedforward, dropout, activation, norm_first, batch_first, layer_norm_eps, bias,
// init_scheme, norm, norm_affine, norm_normalize; see e_transformer_encoder_layer.hpp). Its sub-layers come
// from the same registry by name, so a research plugin can replace any of them. Unlike the C++ options,
// batch_first defaults to true here (eqnn::kModelBatchFirst): an eqnn model is batch-first.
#include "e_transformer_encoder_layer.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

constexpr const char* kWhat = "eTransformerEncoderLayer";

std::shared_ptr<eqnn::Layer> make_transformer_encoder_layer(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"num_heads", "dim_feedforward", "dropout", "activation", "norm_first", "batch_first",
                 "layer_norm_eps", "bias", "init_scheme", "norm", "norm_affine", "norm_normalize"},
                kWhat);
  if (!args.in_rep) y::fail(kw, std::string(kWhat) + ": no in_rep (give in_rep or put the layer after one)");
  if (!args.registry)
    throw eqnn::Error(std::string(kWhat) + ": LayerArgs.registry is null; sub-layers come from it");
  // Every default is the Options' own (a key that is not given keeps it), except batch_first: the YAML
  // layer starts from eqnn::kModelBatchFirst, the layout of an eqnn model.
  eqnn::ETransformerEncoderLayerOptions options(args.in_rep, y::get_int(kw, "num_heads"));
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
      .registry(args.registry);
  if (auto error = eqnn::validate(options))
    y::fail(kw.IsMap() && kw[error->key] ? kw[error->key] : kw, error->message);
  try {
    return std::make_shared<eqnn::ETransformerEncoderLayerImpl>(std::move(options));
  } catch (const eqnn::ConfigError& e) {
    if (e.line() > 0) throw;
    // Located at this layer's arguments, which the sub-layers' were derived from.
    y::fail(kw, e.message());
  }
}

void register_all(eqnn::Registrar& r) { r.add_layer(kWhat, make_transformer_encoder_layer); }

}  // namespace

EQNN_PLUGIN("transformer_layers", "0.1.0", register_all)
