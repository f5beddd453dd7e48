// Plugin entry point: registers the "eMLP" (keyword arguments out_rep and hidden_units (required),
// activation, dropout, bias, hidden_rep, init_scheme) and "iMLP" (out_dim and hidden_units (required), the
// same others) factories (see e_mlp.hpp), and "eTimeCNNEncoder" (out_rep, hidden_channels and time_horizon
// required; activation, batch_norm, bias, mlp_hidden, downsample, append_last_frame, init_scheme,
// hidden_rep; see e_time_cnn_encoder.hpp), features last as every sequence layer of a model file:
// (N, time_horizon, C) → (N, out); "eConditionalResidualBlock1D" (out_rep and cond_rep required; kernel_size,
// cond_predict_scale, activation, normalize, init_scheme, residual_conv; extra input cond);
// "eConditionalUnet1D" (local_cond_rep, global_cond_rep, diffusion_step_embed_dim, down_dims, kernel_size,
// cond_predict_scale, activation, normalize, downsample, init_scheme, hidden_rep, layout, residual_conv; see
// e_conditional_unet1d.hpp), features last; and "eCondTransformer" (cond_rep, in_horizon, cond_horizon,
// num_layers, num_attention_heads, embedding_dim required; the rest of ECondTransformerOptions; see
// e_cond_transformer.hpp; extra inputs opt_step and Z). Every default is the Options' own.
#include "e_cond_transformer.hpp"
#include "e_conditional_unet1d.hpp"
#include "e_mlp.hpp"
#include "e_time_cnn_encoder.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

namespace y = eqnn::yaml;

// A list of widths: `hidden_units: [64, 64]` (required unless a fallback is given).
std::vector<int64_t> get_units(const YAML::Node& kw, const std::string& what,
                               const std::string& key = "hidden_units",
                               const std::optional<std::vector<int64_t>>& fallback = std::nullopt) {
  const YAML::Node node = kw.IsMap() ? kw[key] : YAML::Node();
  if (!node && fallback) return *fallback;
  if (!node) y::fail(kw, what + ": missing required key '" + key + "' (a list of widths, e.g. [64, 64])");
  if (!node.IsSequence())
    y::fail(node,
            what + ": '" + key + "' must be a list of widths (e.g. [64, 64]), found " + y::describe(node));
  std::vector<int64_t> units;
  for (size_t i = 0; i < node.size(); ++i) {
    YAML::Node holder;
    holder["v"] = node[i];
    try {
      units.push_back(y::get_int(holder, "v", std::nullopt, 1));
    } catch (const eqnn::ConfigError&) {
      y::fail(node[i], what + ": '" + key + "' entries must be integers >= 1, found " + y::describe(node[i]) +
                           " at index " + std::to_string(i));
    }
  }
  return units;
}

// The options both layers share, read from the keys that are given.
template <typename Options>
void read_common(const eqnn::LayerArgs& args, Options& options) {
  const YAML::Node& kw = args.kwargs;
  options.activation(y::get_string(kw, "activation", options.activation()))
      .dropout(y::get_double(kw, "dropout", options.dropout()))
      .bias(y::get_bool(kw, "bias", options.bias()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()));
  if (kw["hidden_rep"]) options.hidden_rep(args.resolve_rep(kw["hidden_rep"]));
}

template <typename Impl, typename Options>
std::shared_ptr<eqnn::Layer> finish(const YAML::Node& kw, Options options) {
  if (auto error = eqnn::validate(options))
    y::fail(kw.IsMap() && kw[error->key] ? kw[error->key] : kw, error->message);
  try {
    return std::make_shared<Impl>(std::move(options));
  } catch (const eqnn::ConfigError& e) {
    if (e.line() > 0) throw;
    y::fail(kw, e.message());
  }
}

std::shared_ptr<eqnn::Layer> make_emlp(const eqnn::LayerArgs& args) {
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"out_rep", "hidden_units", "activation", "dropout", "bias", "hidden_rep", "init_scheme"},
                "eMLP");
  if (!args.in_rep) y::fail(kw, "eMLP: no in_rep (give in_rep or put the layer after one)");
  if (!kw || !kw.IsMap() || !kw["out_rep"]) y::fail(kw, "eMLP: missing required key 'out_rep'");
  eqnn::EMLPOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]), get_units(kw, "eMLP"));
  read_common(args, options);
  return finish<eqnn::EMLPImpl>(kw, std::move(options));
}

std::shared_ptr<eqnn::Layer> make_imlp(const eqnn::LayerArgs& args) {
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw, {"out_dim", "hidden_units", "activation", "dropout", "bias", "hidden_rep", "init_scheme"},
                "iMLP");
  if (!args.in_rep) y::fail(kw, "iMLP: no in_rep (give in_rep or put the layer after one)");
  if (!kw || !kw.IsMap()) y::fail(kw, "iMLP: missing required keys 'out_dim' and 'hidden_units'");
  eqnn::IMLPOptions options(args.in_rep, y::get_int(kw, "out_dim", std::nullopt, 1), get_units(kw, "iMLP"));
  read_common(args, options);
  return finish<eqnn::IMLPImpl>(kw, std::move(options));
}

std::shared_ptr<eqnn::Layer> make_time_cnn(const eqnn::LayerArgs& args) {
  const char* what = "eTimeCNNEncoder";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"out_rep", "hidden_channels", "time_horizon", "activation", "batch_norm", "bias",
                 "mlp_hidden", "downsample", "append_last_frame", "init_scheme", "hidden_rep"},
                what);
  if (!args.in_rep) y::fail(kw, std::string(what) + ": no in_rep (give in_rep or put the layer after one)");
  if (!kw || !kw.IsMap() || !kw["out_rep"])
    y::fail(kw, std::string(what) + ": missing required key 'out_rep'");
  eqnn::ETimeCNNEncoderOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]),
                                       get_units(kw, what, "hidden_channels"),
                                       y::get_int(kw, "time_horizon"));
  options.activation(y::get_string(kw, "activation", options.activation()))
      .batch_norm(y::get_bool(kw, "batch_norm", options.batch_norm()))
      .bias(y::get_bool(kw, "bias", options.bias()))
      .mlp_hidden(get_units(kw, what, "mlp_hidden", options.mlp_hidden()))
      .downsample(y::get_string(kw, "downsample", options.downsample()))
      .append_last_frame(y::get_bool(kw, "append_last_frame", options.append_last_frame()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()));
  if (kw["hidden_rep"]) options.hidden_rep(args.resolve_rep(kw["hidden_rep"]));
  auto layer = finish<eqnn::ETimeCNNEncoderImpl>(kw, std::move(options));
  std::static_pointer_cast<eqnn::ETimeCNNEncoderImpl>(layer)->set_features_last(true);
  return layer;
}

std::shared_ptr<eqnn::Layer> make_residual_block(const eqnn::LayerArgs& args) {
  const char* what = "eConditionalResidualBlock1D";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"out_rep", "cond_rep", "kernel_size", "cond_predict_scale", "activation", "normalize",
                 "init_scheme", "residual_conv"},
                what);
  if (!args.in_rep) y::fail(kw, std::string(what) + ": no in_rep (give in_rep or put the layer after one)");
  for (const char* key : {"out_rep", "cond_rep"})
    if (!kw || !kw.IsMap() || !kw[key])
      y::fail(kw, std::string(what) + ": missing required key '" + key + "'");
  eqnn::EConditionalResidualBlock1DOptions options(args.in_rep, args.resolve_rep(kw["out_rep"]),
                                                   args.resolve_rep(kw["cond_rep"]));
  options.kernel_size(y::get_int(kw, "kernel_size", options.kernel_size()))
      .cond_predict_scale(y::get_bool(kw, "cond_predict_scale", options.cond_predict_scale()))
      .activation(y::get_string(kw, "activation", options.activation()))
      .normalize(y::get_bool(kw, "normalize", options.normalize()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .residual_conv(y::get_string(kw, "residual_conv", options.residual_conv()));
  return finish<eqnn::EConditionalResidualBlock1DImpl>(kw, std::move(options));
}

std::shared_ptr<eqnn::Layer> make_unet(const eqnn::LayerArgs& args) {
  const char* what = "eConditionalUnet1D";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"local_cond_rep", "global_cond_rep", "diffusion_step_embed_dim", "down_dims", "kernel_size",
                 "cond_predict_scale", "activation", "normalize", "downsample", "init_scheme", "hidden_rep",
                 "layout", "residual_conv"},
                what);
  if (!args.in_rep) y::fail(kw, std::string(what) + ": no in_rep (give in_rep or put the layer after one)");
  eqnn::EConditionalUnet1DOptions options(args.in_rep);
  if (kw.IsMap() && kw["local_cond_rep"]) options.local_cond_rep(args.resolve_rep(kw["local_cond_rep"]));
  if (kw.IsMap() && kw["global_cond_rep"]) options.global_cond_rep(args.resolve_rep(kw["global_cond_rep"]));
  options
      .diffusion_step_embed_dim(
          y::get_int(kw, "diffusion_step_embed_dim", options.diffusion_step_embed_dim()))
      .down_dims(get_units(kw, what, "down_dims", options.down_dims()))
      .kernel_size(y::get_int(kw, "kernel_size", options.kernel_size()))
      .cond_predict_scale(y::get_bool(kw, "cond_predict_scale", options.cond_predict_scale()))
      .activation(y::get_string(kw, "activation", options.activation()))
      .normalize(y::get_bool(kw, "normalize", options.normalize()))
      .downsample(y::get_string(kw, "downsample", options.downsample()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .layout(y::get_string(kw, "layout", options.layout()))
      .residual_conv(y::get_string(kw, "residual_conv", options.residual_conv()));
  if (kw.IsMap() && kw["hidden_rep"]) options.hidden_rep(args.resolve_rep(kw["hidden_rep"]));
  return finish<eqnn::EConditionalUnet1DImpl>(kw, std::move(options));
}

std::shared_ptr<eqnn::Layer> make_cond_transformer(const eqnn::LayerArgs& args) {
  const char* what = "eCondTransformer";
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"cond_rep", "out_rep", "in_horizon", "cond_horizon", "num_layers", "num_attention_heads",
                 "embedding_dim", "p_drop_emb", "p_drop_attn", "causal_attn", "num_cond_layers",
                 "pos_encoding", "norm_first", "norm_module", "init_scheme", "hidden_rep", "rope_base"},
                what);
  if (!args.in_rep) y::fail(kw, std::string(what) + ": no in_rep (give in_rep or put the layer after one)");
  if (!kw || !kw.IsMap() || !kw["cond_rep"])
    y::fail(kw, std::string(what) + ": missing required key 'cond_rep'");
  eqnn::ECondTransformerOptions options(args.in_rep, args.resolve_rep(kw["cond_rep"]),
                                        y::get_int(kw, "in_horizon"), y::get_int(kw, "cond_horizon"),
                                        y::get_int(kw, "num_layers"), y::get_int(kw, "num_attention_heads"),
                                        y::get_int(kw, "embedding_dim"));
  if (kw["out_rep"]) options.out_rep(args.resolve_rep(kw["out_rep"]));
  if (kw["hidden_rep"]) options.hidden_rep(args.resolve_rep(kw["hidden_rep"]));
  options.p_drop_emb(y::get_double(kw, "p_drop_emb", options.p_drop_emb()))
      .p_drop_attn(y::get_double(kw, "p_drop_attn", options.p_drop_attn()))
      .causal_attn(y::get_bool(kw, "causal_attn", options.causal_attn()))
      .num_cond_layers(y::get_int(kw, "num_cond_layers", options.num_cond_layers()))
      .pos_encoding(y::get_string(kw, "pos_encoding", options.pos_encoding()))
      .norm_first(y::get_bool(kw, "norm_first", options.norm_first()))
      .norm_module(y::get_string(kw, "norm_module", options.norm_module()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .rope_base(y::get_double(kw, "rope_base", options.rope_base()));
  return finish<eqnn::ECondTransformerImpl>(kw, std::move(options));
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eMLP", make_emlp);
  r.add_layer("iMLP", make_imlp);
  r.add_layer("eTimeCNNEncoder", make_time_cnn);
  r.add_layer("eConditionalResidualBlock1D", make_residual_block);
  r.add_layer("eConditionalUnet1D", make_unet);
  r.add_layer("eCondTransformer", make_cond_transformer);
}

}  // namespace

EQNN_PLUGIN("model_layers", "0.1.0", register_all)
