// Plugin entry point: registers the "eMultiheadAttention" layer factory and the positional ones
// (eRoPEMultiheadAttention: rope_base; eAdditivePosMultiheadAttention: max_len (required);
// eAdditiveRelMultiheadAttention: max_distance (required); each also num_heads (required), dropout, bias,
// batch_first, init_scheme, weight_constraint, bias_constraint). eMultiheadAttention's keyword arguments:
// num_heads (required), dropout, bias, add_bias_kv, add_zero_attn, init_scheme, weight_constraint,
// bias_constraint.
// In a model the layer is self-attention on (batch, seq, D) or (batch, D) (see EMultiheadAttentionImpl).
#include "e_multihead_attention.hpp"
#include "e_positional_attention.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

#include <type_traits>

namespace {

std::shared_ptr<eqnn::Layer> make_attention(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  y::check_keys(kw,
                {"num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn", "init_scheme",
                 "weight_constraint", "bias_constraint", "execution"},
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
      .execution(y::get_string(kw, "execution", options.execution()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<eqnn::EMultiheadAttentionImpl>(std::move(options));
}

// The keys every positional attention layer takes besides its own.
const std::vector<std::string> kPositionalKeys = {
    "num_heads", "dropout", "bias", "batch_first", "init_scheme", "weight_constraint", "bias_constraint"};

template <typename Options, typename Impl>
std::shared_ptr<eqnn::Layer> make_positional(const eqnn::LayerArgs& args, const std::string& what,
                                             const std::string& own, int64_t own_default, bool own_required,
                                             double rope_default = 0.0) {
  namespace y = eqnn::yaml;
  const YAML::Node& kw = args.kwargs;
  std::vector<std::string> keys = kPositionalKeys;
  keys.push_back(own);
  y::check_keys(kw, keys, what);
  if (!args.in_rep) y::fail(kw, what + ": no representation flows in; give the model an input rep");
  Options options = [&] {
    if constexpr (std::is_same_v<Options, eqnn::ERoPEMultiheadAttentionOptions>) {
      (void)own_default;
      (void)own_required;
      Options o(args.in_rep, y::get_int(kw, "num_heads"));
      o.rope_base(y::get_double(kw, own, rope_default));
      return o;
    } else {
      return Options(args.in_rep, y::get_int(kw, "num_heads"),
                     own_required ? y::get_int(kw, own) : y::get_int(kw, own, own_default));
    }
  }();
  options.dropout(y::get_double(kw, "dropout", options.dropout()))
      .bias(y::get_bool(kw, "bias", options.bias()))
      .batch_first(y::get_bool(kw, "batch_first", options.batch_first()))
      .init_scheme(y::get_string(kw, "init_scheme", options.init_scheme()))
      .weight_constraint(y::get_string(kw, "weight_constraint", options.weight_constraint()))
      .bias_constraint(y::get_string(kw, "bias_constraint", options.bias_constraint()))
      .registry(args.registry);
  if (auto error = eqnn::validate(options)) y::fail(kw[error->key] ? kw[error->key] : kw, error->message);
  return std::make_shared<Impl>(std::move(options));
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eMultiheadAttention", make_attention);
  r.add_layer("eRoPEMultiheadAttention", [](const eqnn::LayerArgs& args) {
    const eqnn::ERoPEMultiheadAttentionOptions defaults(nullptr, 0);
    return make_positional<eqnn::ERoPEMultiheadAttentionOptions, eqnn::ERoPEMultiheadAttentionImpl>(
        args, "eRoPEMultiheadAttention", "rope_base", 0, false, defaults.rope_base());
  });
  r.add_layer("eAdditivePosMultiheadAttention", [](const eqnn::LayerArgs& args) {
    return make_positional<eqnn::EAdditivePosMultiheadAttentionOptions,
                           eqnn::EAdditivePosMultiheadAttentionImpl>(args, "eAdditivePosMultiheadAttention",
                                                                     "max_len", 0, true);
  });
  r.add_layer("eAdditiveRelMultiheadAttention", [](const eqnn::LayerArgs& args) {
    return make_positional<eqnn::EAdditiveRelMultiheadAttentionOptions,
                           eqnn::EAdditiveRelMultiheadAttentionImpl>(args, "eAdditiveRelMultiheadAttention",
                                                                     "max_distance", 0, true);
  });
}

}  // namespace

EQNN_PLUGIN("attention", "0.1.0", register_all)
