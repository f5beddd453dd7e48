// The table of the layer types Python exposes as classes (layer_options_table.hpp): for each, its registry
// name, the dict of a default-constructed Options object and the dict of a built module's Options; and
// layer_defaults / layer_options, which read it.
#include "layer_options_table.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>

#include "e_activation.hpp"
#include "e_affine.hpp"
#include "e_batch_norm.hpp"
#include "e_cond_transformer.hpp"
#include "e_conditional_unet1d.hpp"
#include "e_conv.hpp"
#include "e_fourier_pointwise.hpp"
#include "e_gated_nonlinearity.hpp"
#include "e_invariant_bias.hpp"
#include "e_isotypic_basis.hpp"
#include "e_linear.hpp"
#include "e_mlp.hpp"
#include "e_multihead_attention.hpp"
#include "e_norm.hpp"
#include "e_norm_nonlinearity.hpp"
#include "e_pooling.hpp"
#include "e_positional_attention.hpp"
#include "e_tensor_product.hpp"
#include "e_time_cnn_encoder.hpp"
#include "e_transformer_decoder_layer.hpp"
#include "e_transformer_encoder_layer.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/strings.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn::python {
namespace {

// The options of a layer as a dict, without the representations and the registry (what a Python
// signature takes besides in_rep/out_rep).
py::dict options_dict(const ELinearOptions& o) {
  py::dict d;
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  d["execution"] = o.execution();
  return d;
}
py::dict options_dict(const EAffineOptions& o) {
  py::dict d;
  d["bias"] = o.bias();
  d["learnable"] = o.learnable();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const EInvariantBiasOptions& o) {
  py::dict d;
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const EFourierPointwiseOptions& o) {
  py::dict d;
  d["function"] = o.function();
  d["grid_size"] = o.grid_size();
  return d;
}
py::dict options_dict(const ETensorProductOptions& o) {
  py::dict d;
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  d["execution"] = o.execution();
  return d;
}
py::dict options_dict(const EMultiheadAttentionOptions& o) {
  py::dict d;
  d["num_heads"] = o.num_heads();
  d["dropout"] = o.dropout();
  d["bias"] = o.bias();
  d["add_bias_kv"] = o.add_bias_kv();
  d["add_zero_attn"] = o.add_zero_attn();
  d["batch_first"] = o.batch_first();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  d["execution"] = o.execution();
  return d;
}
template <typename O>
py::dict positional_options_dict(const O& o) {
  py::dict d;
  d["num_heads"] = o.num_heads();
  d["dropout"] = o.dropout();
  d["bias"] = o.bias();
  d["batch_first"] = o.batch_first();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const ERoPEMultiheadAttentionOptions& o) {
  py::dict d = positional_options_dict(o);
  d["rope_base"] = o.rope_base();
  return d;
}
py::dict options_dict(const EAdditivePosMultiheadAttentionOptions& o) {
  py::dict d = positional_options_dict(o);
  d["max_len"] = o.max_len();
  return d;
}
py::dict options_dict(const EAdditiveRelMultiheadAttentionOptions& o) {
  py::dict d = positional_options_dict(o);
  d["max_distance"] = o.max_distance();
  return d;
}
py::dict options_dict(const ETransformerEncoderLayerOptions& o) {
  py::dict d;
  d["num_heads"] = o.num_heads();
  d["dim_feedforward"] = o.dim_feedforward();
  d["dropout"] = o.dropout();
  d["activation"] = o.activation();
  d["layer_norm_eps"] = o.layer_norm_eps();
  d["batch_first"] = o.batch_first();
  d["norm_first"] = o.norm_first();
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  d["norm"] = o.norm();
  d["norm_affine"] = o.norm_affine();
  d["norm_normalize"] = o.norm_normalize();
  d["attention"] = o.attention();
  d["max_len"] = o.max_len();
  d["max_distance"] = o.max_distance();
  d["rope_base"] = o.rope_base();
  d["execution"] = o.execution();
  return d;
}
py::dict options_dict(const ETransformerDecoderLayerOptions& o) {
  py::dict d;
  d["num_heads"] = o.num_heads();
  d["dim_feedforward"] = o.dim_feedforward();
  d["dropout"] = o.dropout();
  d["activation"] = o.activation();
  d["layer_norm_eps"] = o.layer_norm_eps();
  d["batch_first"] = o.batch_first();
  d["norm_first"] = o.norm_first();
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  d["norm"] = o.norm();
  d["norm_affine"] = o.norm_affine();
  d["norm_normalize"] = o.norm_normalize();
  d["attention"] = o.attention();
  d["max_len"] = o.max_len();
  d["max_distance"] = o.max_distance();
  d["rope_base"] = o.rope_base();
  d["execution"] = o.execution();
  return d;
}
// The stacks: their layer's options, flat (as the YAML keys), with num_layers and final_norm.
py::dict options_dict(const ETransformerEncoderOptions& o) {
  py::dict d = options_dict(o.encoder_layer());
  d["num_layers"] = o.num_layers();
  d["final_norm"] = o.final_norm();
  return d;
}
py::dict options_dict(const ETransformerDecoderOptions& o) {
  py::dict d = options_dict(o.decoder_layer());
  d["num_layers"] = o.num_layers();
  d["final_norm"] = o.final_norm();
  return d;
}
py::dict options_dict(const ELayerNormOptions& o) {
  py::dict d;
  d["eps"] = o.eps();
  d["elementwise_affine"] = o.elementwise_affine();
  d["affine"] = o.affine();
  d["normalize"] = o.normalize();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const ERMSNormOptions& o) {
  py::dict d;
  d["eps"] = o.eps();
  d["elementwise_affine"] = o.elementwise_affine();
  d["affine"] = o.affine();
  d["normalize"] = o.normalize();
  return d;
}
py::dict options_dict(const EBatchNorm1dOptions& o) {
  py::dict d;
  d["eps"] = o.eps();
  d["momentum"] = o.momentum() ? py::object(py::float_(*o.momentum())) : py::object(py::str("cumulative"));
  d["affine"] = o.affine();
  d["track_running_stats"] = o.track_running_stats();
  d["channels_last"] = o.channels_last();
  return d;
}
py::dict options_dict(const EGELUOptions& o) {
  py::dict d;
  d["approximate"] = o.approximate();
  return d;
}
py::dict options_dict(const EPointwiseOptions& o) {
  py::dict d;
  d["function"] = o.function();
  d["approximate"] = o.approximate();
  d["negative_slope"] = o.negative_slope();
  d["alpha"] = o.alpha();
  d["beta"] = o.beta();
  d["threshold"] = o.threshold();
  return d;
}
py::dict options_dict(const EELUOptions& o) {
  py::dict d;
  d["alpha"] = o.alpha();
  return d;
}
py::dict options_dict(const ELeakyReLUOptions& o) {
  py::dict d;
  d["negative_slope"] = o.negative_slope();
  return d;
}
py::dict options_dict(const ESoftplusOptions& o) {
  py::dict d;
  d["beta"] = o.beta();
  d["threshold"] = o.threshold();
  return d;
}
py::dict options_dict(const ENormNonlinearityOptions& o) {
  py::dict d;
  d["function"] = o.function();
  d["bias"] = o.bias();
  return d;
}
py::dict options_dict(const EGatedNonlinearityOptions& o) {
  py::dict d;
  d["function"] = o.function();
  return d;
}
py::dict options_dict(const EConv1dOptions& o) {
  py::dict d;
  d["kernel_size"] = o.kernel_size();
  d["stride"] = o.stride();
  if (o.padding().is_amount())
    d["padding"] = o.padding().amount;
  else
    d["padding"] = o.padding().mode;
  d["dilation"] = o.dilation();
  d["groups"] = o.groups();
  d["bias"] = o.bias();
  d["padding_mode"] = o.padding_mode();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  d["execution"] = o.execution();
  return d;
}
py::dict options_dict(const EConvTranspose1dOptions& o) {
  py::dict d;
  d["kernel_size"] = o.kernel_size();
  d["stride"] = o.stride();
  d["padding"] = o.padding();
  d["output_padding"] = o.output_padding();
  d["groups"] = o.groups();
  d["bias"] = o.bias();
  d["dilation"] = o.dilation();
  d["padding_mode"] = o.padding_mode();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const EIsotypicBasisOptions& o) {
  py::dict d;
  d["inverse"] = o.inverse();
  return d;
}
template <typename Options>
py::dict mlp_options_dict(const Options& o) {
  py::dict d;
  py::list units;
  for (int64_t u : o.hidden_units()) units.append(u);
  d["hidden_units"] = units;
  d["activation"] = o.activation();
  d["dropout"] = o.dropout();
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  return d;
}
py::dict options_dict(const EMLPOptions& o) { return mlp_options_dict(o); }
py::dict options_dict(const IMLPOptions& o) {
  py::dict d = mlp_options_dict(o);
  d["out_dim"] = o.out_dim();
  return d;
}
py::dict options_dict(const ETimeCNNEncoderOptions& o) {
  py::dict d;
  py::list channels, hidden;
  for (int64_t c : o.hidden_channels()) channels.append(c);
  for (int64_t u : o.mlp_hidden()) hidden.append(u);
  d["hidden_channels"] = channels;
  d["time_horizon"] = o.time_horizon();
  d["activation"] = o.activation();
  d["batch_norm"] = o.batch_norm();
  d["bias"] = o.bias();
  d["mlp_hidden"] = hidden;
  d["downsample"] = o.downsample();
  d["append_last_frame"] = o.append_last_frame();
  d["init_scheme"] = o.init_scheme();
  return d;
}
py::dict options_dict(const EConditionalResidualBlock1DOptions& o) {
  py::dict d;
  d["kernel_size"] = o.kernel_size();
  d["cond_predict_scale"] = o.cond_predict_scale();
  d["activation"] = o.activation();
  d["normalize"] = o.normalize();
  d["init_scheme"] = o.init_scheme();
  d["residual_conv"] = o.residual_conv();
  return d;
}
py::dict options_dict(const EConditionalUnet1DOptions& o) {
  py::dict d;
  py::list dims;
  for (int64_t c : o.down_dims()) dims.append(c);
  const auto rep = [](const RepPtr& r) -> py::object {
    return r ? py::object(py::str(r->describe())) : py::none();
  };
  d["local_cond_rep"] = rep(o.local_cond_rep());
  d["global_cond_rep"] = rep(o.global_cond_rep());
  d["diffusion_step_embed_dim"] = o.diffusion_step_embed_dim();
  d["down_dims"] = dims;
  d["kernel_size"] = o.kernel_size();
  d["cond_predict_scale"] = o.cond_predict_scale();
  d["activation"] = o.activation();
  d["normalize"] = o.normalize();
  d["downsample"] = o.downsample();
  d["init_scheme"] = o.init_scheme();
  d["layout"] = o.layout();
  d["residual_conv"] = o.residual_conv();
  return d;
}
py::dict options_dict(const ECondTransformerOptions& o) {
  py::dict d;
  d["in_horizon"] = o.in_horizon();
  d["cond_horizon"] = o.cond_horizon();
  d["num_layers"] = o.num_layers();
  d["num_attention_heads"] = o.num_attention_heads();
  d["embedding_dim"] = o.embedding_dim();
  d["p_drop_emb"] = o.p_drop_emb();
  d["p_drop_attn"] = o.p_drop_attn();
  d["causal_attn"] = o.causal_attn();
  d["num_cond_layers"] = o.num_cond_layers();
  d["pos_encoding"] = o.pos_encoding();
  d["norm_first"] = o.norm_first();
  d["norm_module"] = o.norm_module();
  d["init_scheme"] = o.init_scheme();
  d["rope_base"] = o.rope_base();
  return d;
}
template <typename Tag>
py::dict options_dict(const RepOptions<Tag>& /*options*/) {
  return {};
}

/// One layer type Python exposes as a class: its registry name, the options a default-constructed
/// Options object holds (without the required ones), and the options of a built module (nullopt when the
/// module is not of this type).
struct LayerOptionsEntry {
  const char* type;
  std::function<py::dict()> defaults;
  std::function<std::optional<py::dict>(const Layer&)> options;
};

template <typename Impl, typename Options>
LayerOptionsEntry entry(const char* type, Options defaults, std::vector<const char*> required = {}) {
  return {type,
          [defaults, required] {
            py::dict d = options_dict(defaults);
            for (const char* key : required) PyDict_DelItemString(d.ptr(), key);
            return d;
          },
          [](const Layer& layer) -> std::optional<py::dict> {
            const auto* impl = dynamic_cast<const Impl*>(&layer);
            if (!impl) return std::nullopt;
            return options_dict(impl->options);
          }};
}

const std::vector<LayerOptionsEntry>& layer_options_table() {
  static const std::vector<LayerOptionsEntry> table = {
      entry<ELinearImpl>("eLinear", ELinearOptions(nullptr, nullptr)),
      entry<EAffineImpl>("eAffine", EAffineOptions(nullptr)),
      entry<EInvariantBiasImpl>("eInvariantBias", EInvariantBiasOptions(nullptr)),
      entry<ETensorProductImpl>("eTensorProduct", ETensorProductOptions(nullptr, nullptr)),
      entry<EMultiheadAttentionImpl>("eMultiheadAttention", EMultiheadAttentionOptions(nullptr, 0),
                                     {"num_heads"}),
      entry<ERoPEMultiheadAttentionImpl>("eRoPEMultiheadAttention",
                                         ERoPEMultiheadAttentionOptions(nullptr, 0), {"num_heads"}),
      entry<EAdditivePosMultiheadAttentionImpl>("eAdditivePosMultiheadAttention",
                                                EAdditivePosMultiheadAttentionOptions(nullptr, 0, 0),
                                                {"num_heads", "max_len"}),
      entry<EAdditiveRelMultiheadAttentionImpl>("eAdditiveRelMultiheadAttention",
                                                EAdditiveRelMultiheadAttentionOptions(nullptr, 0, 0),
                                                {"num_heads", "max_distance"}),
      entry<ETransformerEncoderLayerImpl>("eTransformerEncoderLayer",
                                          ETransformerEncoderLayerOptions(nullptr, 0), {"num_heads"}),
      entry<ETransformerDecoderLayerImpl>("eTransformerDecoderLayer",
                                          ETransformerDecoderLayerOptions(nullptr, 0), {"num_heads"}),
      entry<ETransformerEncoderImpl>(
          "eTransformerEncoder", ETransformerEncoderOptions(ETransformerEncoderLayerOptions(nullptr, 0), 0),
          {"num_heads", "num_layers"}),
      entry<ETransformerDecoderImpl>(
          "eTransformerDecoder", ETransformerDecoderOptions(ETransformerDecoderLayerOptions(nullptr, 0), 0),
          {"num_heads", "num_layers"}),
      entry<ELayerNormImpl>("eLayerNorm", ELayerNormOptions(nullptr)),
      entry<ERMSNormImpl>("eRMSNorm", ERMSNormOptions(nullptr)),
      entry<EBatchNorm1dImpl>("eBatchNorm1d", EBatchNorm1dOptions(nullptr)),
      entry<EReLUImpl>("eReLU", EReLUOptions(nullptr)),
      entry<EGELUImpl>("eGELU", EGELUOptions(nullptr)),
      entry<ESiLUImpl>("eSiLU", ESiLUOptions(nullptr)),
      entry<ETanhImpl>("eTanh", ETanhOptions(nullptr)),
      entry<EPointwiseImpl>("ePointwise", EPointwiseOptions(nullptr, ""), {"function"}),
      entry<EMishImpl>("eMish", EMishOptions(nullptr)),
      entry<EELUImpl>("eELU", EELUOptions(nullptr)),
      entry<ELeakyReLUImpl>("eLeakyReLU", ELeakyReLUOptions(nullptr)),
      entry<ESigmoidImpl>("eSigmoid", ESigmoidOptions(nullptr)),
      entry<ESoftplusImpl>("eSoftplus", ESoftplusOptions(nullptr)),
      entry<ENormNonlinearityImpl>("eNormNonlinearity", ENormNonlinearityOptions(nullptr)),
      entry<EGatedNonlinearityImpl>("eGatedNonlinearity", EGatedNonlinearityOptions(nullptr)),
      entry<EFourierPointwiseImpl>("eFourierPointwise", EFourierPointwiseOptions(nullptr)),
      entry<EInvariantPoolImpl>("eInvariantPool", EInvariantPoolOptions(nullptr)),
      entry<ENormPoolImpl>("eNormPool", ENormPoolOptions(nullptr)),
      entry<EConv1dImpl>("eConv1d", EConv1dOptions(nullptr, nullptr, 1), {"kernel_size"}),
      entry<EConvTranspose1dImpl>("eConvTranspose1d", EConvTranspose1dOptions(nullptr, nullptr, 1),
                                  {"kernel_size"}),
      entry<EIsotypicBasisImpl>("eIsotypicBasis", EIsotypicBasisOptions(nullptr)),
      entry<EMLPImpl>("eMLP", EMLPOptions(nullptr, nullptr, {}), {"hidden_units"}),
      entry<IMLPImpl>("iMLP", IMLPOptions(nullptr, 0, {}), {"out_dim", "hidden_units"}),
      entry<ETimeCNNEncoderImpl>("eTimeCNNEncoder", ETimeCNNEncoderOptions(nullptr, nullptr, {}, 0),
                                 {"hidden_channels", "time_horizon"}),
      entry<EConditionalResidualBlock1DImpl>("eConditionalResidualBlock1D",
                                             EConditionalResidualBlock1DOptions(nullptr, nullptr, nullptr)),
      entry<EConditionalUnet1DImpl>("eConditionalUnet1D", EConditionalUnet1DOptions(nullptr)),
      entry<ECondTransformerImpl>(
          "eCondTransformer", ECondTransformerOptions(nullptr, nullptr, 0, 0, 0, 0, 0),
          {"in_horizon", "cond_horizon", "num_layers", "num_attention_heads", "embedding_dim"}),
  };
  return table;
}

}  // namespace

py::dict layer_defaults(const std::string& type) {
  std::vector<std::string> known;
  for (const auto& e : layer_options_table()) {
    if (type == e.type) return e.defaults();
    known.emplace_back(e.type);
  }
  throw LookupError("eqnn.layer_defaults: no layer class for '" + type + "'" +
                    did_you_mean_clause(type, known) + "; known: " + strings::join_names(known));
}

std::optional<py::dict> layer_options(const Layer& layer) {
  for (const auto& e : layer_options_table())
    if (auto d = e.options(layer)) return d;
  return std::nullopt;
}

}  // namespace eqnn::python
