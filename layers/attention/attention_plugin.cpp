// Plugin entry point: registers the "eMultiheadAttention" layer factory. Keyword arguments: num_heads
// (required), dropout, bias, add_bias_kv, add_zero_attn, init_scheme, weight_constraint, bias_constraint.
// In a model the layer is self-attention on (batch, seq, D) or (batch, D) (see EMultiheadAttentionImpl).
#include "e_multihead_attention.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

std::shared_ptr<eqnn::Layer> make_attention(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn", "init_scheme",
                 "weight_constraint", "bias_constraint"},
                "eMultiheadAttention");
  if (!args.in_rep)
    y::fail(kw, "eMultiheadAttention: no representation flows in; give the model an input rep");
  // Every default is the Options' own: a key that is not given keeps it.
  eqnn::EMultiheadAttentionOptions options(args.in_rep, y::get_int(kw, "num_heads"));
  options.dropout(y::get_double(kw, "dropout", options.dropout()))
      .bias(y::get_bool(kw, "bias", options.bias()))
      .add_bias_kv(y::get_bool(kw, "add_bias_kv", options.add_bias_kv()))
      .add_zero_attn(y::get_bool(kw, "add_zero_attn", options.add_zero_attn()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", options.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<eqnn::EMultiheadAttentionImpl>(std::move(options));
}

void register_all(eqnn::Registrar& r) { r.add_layer("eMultiheadAttention", make_attention); }

}  // namespace

EQNN_PLUGIN("attention", "0.1.0", register_all)
