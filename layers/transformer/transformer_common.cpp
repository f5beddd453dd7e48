// The shared option checks, sub-layer building and masked attention of the transformer layers (see
// transformer_common.hpp).
#include "transformer_common.hpp"

#include <algorithm>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "e_activation.hpp"
#include "e_gated_nonlinearity.hpp"
#include "e_multihead_attention.hpp"
#include "e_norm.hpp"
#include "e_positional_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

// Rep names private to the sub-layer arguments a transformer layer writes for a registry (never seen in a
// user's YAML).
constexpr const char* kInRepName = "<transformer in_rep>";
constexpr const char* kHiddenRepName = "<transformer hidden>";
constexpr const char* kExpandedRepName = "<transformer linear1 out>";

// The stock activation names and the pointwise layers that compute them.
const std::vector<std::pair<std::string, std::string>>& stock_activations() {
  static const std::vector<std::pair<std::string, std::string>> stock = {
      {"relu", "eReLU"}, {"gelu", "eGELU"}, {"silu", "eSiLU"}, {"tanh", "eTanh"}};
  return stock;
}

LayerPtr built_in_activation(const std::string& layer, const RepPtr& rep) {
  if (layer == "eReLU") return std::make_shared<EReLUImpl>(EReLUOptions(rep));
  if (layer == "eGELU") return std::make_shared<EGELUImpl>(EGELUOptions(rep));
  if (layer == "eSiLU") return std::make_shared<ESiLUImpl>(ESiLUOptions(rep));
  return std::make_shared<ETanhImpl>(ETanhOptions(rep));
}

}  // namespace

const std::vector<std::string>& transformer_attention_kinds() {
  static const std::vector<std::string> kinds = {"mha", "additive_pos", "additive_rel", "rope"};
  return kinds;
}

std::string transformer_activation_layer(const std::string& activation) {
  if (activation == kGatedActivation || activation == "eGatedNonlinearity") return "eGatedNonlinearity";
  for (const auto& [name, layer] : stock_activations())
    if (activation == name || activation == layer) return layer;
  return {};
}

std::optional<OptionError> check_transformer_choice(const char* what, const char* key,
                                                    const std::string& value,
                                                    const std::vector<std::string>& choices,
                                                    const char* meaning) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return std::nullopt;
  return OptionError{key,
                     fmt::format("{}: unknown {} '{}'{}; known: {} ({})", what, key, value,
                                 did_you_mean_clause(value, choices), fmt::join(choices, ", "), meaning)};
}

std::optional<OptionError> validate(const TransformerParts& o) {
  const char* what = o.what;
  if (!o.rep) return OptionError{"in_rep", std::string(what) + ": in_rep is required"};
  if (o.num_heads < 1)
    return OptionError{"num_heads", fmt::format("{}: 'num_heads' must be >= 1, found {}", what, o.num_heads)};
  if (o.dim_feedforward < 1)
    return OptionError{"dim_feedforward",
                       fmt::format("{}: 'dim_feedforward' must be >= 1, found {}", what, o.dim_feedforward)};
  if (!(o.dropout >= 0 && o.dropout <= 1))
    return OptionError{"dropout", fmt::format("{}: 'dropout' must be in [0, 1], found {}", what, o.dropout)};
  if (transformer_activation_layer(o.activation).empty()) {
    std::vector<std::string> known;
    for (const auto& [name, layer] : stock_activations()) known.push_back(name);
    known.push_back(kGatedActivation);
    return OptionError{
        "activation",
        fmt::format("{}: unknown activation '{}'{}; known: {} (or their layer names eReLU, "
                    "eGELU, eSiLU, eTanh, eGatedNonlinearity)",
                    what, o.activation, did_you_mean_clause(o.activation, known), fmt::join(known, ", "))};
  }
  if (o.rep->group().is_compact() && transformer_activation_layer(o.activation) != "eGatedNonlinearity")
    return OptionError{
        "activation",
        fmt::format(
            "{}: activation '{}' applies a pointwise function to regular copies, which needs a finite "
            "group, and {} is compact: use activation 'gated' (the feed-forward's non-trivial "
            "copies scaled by sigmoid gates, exact on any group)",
            what, o.activation, o.rep->group().name())};
  if (auto e = check_transformer_choice(what, "norm", o.norm, {"layer_norm", "rms_norm"},
                                        "the norms are eLayerNorm (torch's, the default) or eRMSNorm"))
    return e;
  if (auto e = check_transformer_choice(
          what, "norm_affine", o.norm_affine, {"per_field", "per_copy"},
          "one scale per field, the default, or per irreducible copy as symm_learning"))
    return e;
  if (auto e = check_transformer_choice(what, "norm_normalize", o.norm_normalize, {"all", "per_copy"},
                                        "the statistic over all features, the default, or per irreducible "
                                        "copy as symm_learning's eLayerNorm"))
    return e;
  if (auto e = check_transformer_choice(
          what, "attention", o.attention, transformer_attention_kinds(),
          "eMultiheadAttention, the default; eAdditivePosMultiheadAttention (max_len), "
          "eAdditiveRelMultiheadAttention (max_distance) or eRoPEMultiheadAttention (rope_base)"))
    return e;
  if (auto e =
          check_transformer_choice(what, "execution", o.execution, {"dense", "isotypic", "auto"},
                                   "the projections expanded (dense, the default), block-diagonal in the "
                                   "isotypic bases, or chosen per call by a cost model"))
    return e;
  for (const auto& [key, value] : {std::pair<const char*, int64_t>{"max_len", o.max_len},
                                   std::pair<const char*, int64_t>{"max_distance", o.max_distance}})
    if (value < 0)
      return OptionError{key, fmt::format("{}: '{}' must be >= 0 (0: not used), found {}", what, key, value)};
  if (o.attention == "additive_pos" && o.max_len == 0)
    return OptionError{"max_len",
                       fmt::format("{}: attention 'additive_pos' needs 'max_len' > 0 (the size of its "
                                   "table of absolute positions: positions lie in [0, max_len)), "
                                   "found 0",
                                   what)};
  if (o.attention == "additive_rel" && o.max_distance == 0)
    return OptionError{
        "max_distance",
        fmt::format("{}: attention 'additive_rel' needs 'max_distance' > 0 (relative distances "
                    "are clipped to [-max_distance, max_distance]), found 0",
                    what)};
  return std::nullopt;
}

TransformerSubLayers::TransformerSubLayers(TransformerParts parts) : parts_(std::move(parts)) {
  const GroupPtr& group = parts_.rep->group_ptr();
  if (transformer_activation_layer(parts_.activation) == "eGatedNonlinearity") {
    // One block holds the trivial irrep and every distinct irrep of rep once; k blocks reach
    // dim_feedforward, and linear1 adds one invariant gate per non-trivial copy in front of them.
    std::vector<int> kinds = parts_.rep->irreps();
    kinds.push_back(0);
    std::sort(kinds.begin(), kinds.end());
    kinds.erase(std::unique(kinds.begin(), kinds.end()), kinds.end());
    std::vector<RepPtr> block;
    for (int k : kinds) block.push_back(Representation::irrep(group, k));
    const RepPtr one = Representation::direct_sum(block);
    const int copies =
        static_cast<int>(std::max<int64_t>(1, (parts_.dim_feedforward + one->size() - 1) / one->size()));
    const int gates = copies * static_cast<int>(kinds.size() - 1);
    std::vector<RepPtr> parts_in(copies, one);
    if (gates > 0) parts_in.insert(parts_in.begin(), Representation::trivial(group, gates));
    expanded_ = Representation::direct_sum(parts_in);
    hidden_ = gated_output_rep(expanded_);
    return;
  }
  const int64_t order = group->order();
  const int copies = static_cast<int>(std::max<int64_t>(1, (parts_.dim_feedforward + order - 1) / order));
  hidden_ = Representation::direct_sum(std::vector<RepPtr>(copies, Representation::regular(group)));
  expanded_ = hidden_;
}

LayerPtr TransformerSubLayers::sub(const char* type, const RepPtr& in, const YAML::Node& kwargs,
                                   const std::function<LayerPtr()>& built_in) const {
  const RepPtr rep = parts_.rep, hidden = hidden_, expanded = expanded_;
  const GroupPtr group = rep->group_ptr();
  const char* what = parts_.what;
  auto resolve = [rep, hidden, expanded, group, what](const YAML::Node& node) -> RepPtr {
    if (node.IsScalar() && node.Scalar() == kInRepName) return rep;
    if (node.IsScalar() && node.Scalar() == kHiddenRepName) return hidden;
    if (node.IsScalar() && node.Scalar() == kExpandedRepName) return expanded;
    if (node.IsScalar()) return parse_rep(group, node.Scalar());
    throw ConfigError(std::string(what) + ": cannot resolve a representation that is not a string");
  };
  try {
    if (!parts_.registry) return built_in();
    return parts_.registry->get_layer(type)(LayerArgs{group, in, kwargs, parts_.registry, resolve, ""});
  } catch (const ConfigError& e) {
    if (e.line() > 0) throw;
    throw ConfigError(fmt::format("{}: {}", what, e.message()));
  }
}

void TransformerSubLayers::check(const Layer& layer, const char* name, const RepPtr& in,
                                 const RepPtr& out) const {
  const bool ok = layer.in_rep() && layer.out_rep() && layer.in_rep()->same_content(*in) &&
                  layer.out_rep()->same_content(*out);
  if (!ok)
    throw Error(fmt::format("{}: sub-layer {} ({}) maps {} -> {}, expected {} -> {}", parts_.what, name,
                            layer.name(), layer.in_rep() ? layer.in_rep()->describe() : "null",
                            layer.out_rep() ? layer.out_rep()->describe() : "null", in->describe(),
                            out->describe()));
}

LayerPtr TransformerSubLayers::attention(const char* name) const {
  const TransformerParts& o = parts_;
  YAML::Node kwargs;
  kwargs["num_heads"] = o.num_heads;
  kwargs["dropout"] = o.dropout;
  kwargs["bias"] = o.bias;
  if (o.init_scheme != "stock") kwargs["init_scheme"] = o.init_scheme;
  LayerPtr layer;
  if (o.attention == "mha") {
    if (o.execution != kDefaultExecution) kwargs["execution"] = o.execution;
    layer = sub("eMultiheadAttention", o.rep, kwargs, [&]() -> LayerPtr {
      return std::make_shared<EMultiheadAttentionImpl>(EMultiheadAttentionOptions(o.rep, o.num_heads)
                                                           .dropout(o.dropout)
                                                           .bias(o.bias)
                                                           .init_scheme(o.init_scheme)
                                                           .execution(o.execution));
    });
  } else {
    // The positional attentions, batch-first (their own default; the calling layer transposes to it).
    kwargs["batch_first"] = true;
    auto common = [&](auto options) {
      return options.dropout(o.dropout).bias(o.bias).batch_first(true).init_scheme(o.init_scheme);
    };
    if (o.attention == "additive_pos") {
      kwargs["max_len"] = o.max_len;
      layer = sub("eAdditivePosMultiheadAttention", o.rep, kwargs, [&]() -> LayerPtr {
        return std::make_shared<EAdditivePosMultiheadAttentionImpl>(
            common(EAdditivePosMultiheadAttentionOptions(o.rep, o.num_heads, o.max_len)));
      });
    } else if (o.attention == "additive_rel") {
      kwargs["max_distance"] = o.max_distance;
      layer = sub("eAdditiveRelMultiheadAttention", o.rep, kwargs, [&]() -> LayerPtr {
        return std::make_shared<EAdditiveRelMultiheadAttentionImpl>(
            common(EAdditiveRelMultiheadAttentionOptions(o.rep, o.num_heads, o.max_distance)));
      });
    } else {
      kwargs["rope_base"] = o.rope_base;
      layer = sub("eRoPEMultiheadAttention", o.rep, kwargs, [&]() -> LayerPtr {
        return std::make_shared<ERoPEMultiheadAttentionImpl>(
            common(ERoPEMultiheadAttentionOptions(o.rep, o.num_heads)).rope_base(o.rope_base));
      });
    }
  }
  check(*layer, name, o.rep, o.rep);
  return layer;
}

LayerPtr TransformerSubLayers::linear1(const char* name) const {
  const TransformerParts& o = parts_;
  YAML::Node kwargs;
  kwargs["out_rep"] = kExpandedRepName;
  kwargs["bias"] = o.bias;
  if (o.init_scheme != "stock") kwargs["init_scheme"] = o.init_scheme;
  if (o.execution != kDefaultExecution) kwargs["execution"] = o.execution;
  LayerPtr layer = sub("eLinear", o.rep, kwargs, [&]() -> LayerPtr {
    return std::make_shared<ELinearImpl>(
        ELinearOptions(o.rep, expanded_).bias(o.bias).init_scheme(o.init_scheme).execution(o.execution));
  });
  check(*layer, name, o.rep, expanded_);
  return layer;
}

LayerPtr TransformerSubLayers::linear2(const char* name) const {
  const TransformerParts& o = parts_;
  YAML::Node kwargs;
  kwargs["out_rep"] = kInRepName;
  kwargs["bias"] = o.bias;
  if (o.init_scheme != "stock") kwargs["init_scheme"] = o.init_scheme;
  if (o.execution != kDefaultExecution) kwargs["execution"] = o.execution;
  LayerPtr layer = sub("eLinear", hidden_, kwargs, [&]() -> LayerPtr {
    return std::make_shared<ELinearImpl>(
        ELinearOptions(hidden_, o.rep).bias(o.bias).init_scheme(o.init_scheme).execution(o.execution));
  });
  check(*layer, name, hidden_, o.rep);
  return layer;
}

LayerPtr TransformerSubLayers::norm(const char* name) const {
  const TransformerParts& o = parts_;
  const bool rms = o.norm == "rms_norm";
  YAML::Node kwargs;
  kwargs["eps"] = o.layer_norm_eps;
  // Only what differs from the norm's own defaults, so a registry's replacement norm need not know the keys.
  if (o.norm_affine != "per_field") kwargs["affine"] = o.norm_affine;
  if (o.norm_normalize != "all") kwargs["normalize"] = o.norm_normalize;
  LayerPtr layer = sub(rms ? "eRMSNorm" : "eLayerNorm", o.rep, kwargs, [&]() -> LayerPtr {
    if (rms)
      return std::make_shared<ERMSNormImpl>(
          ERMSNormOptions(o.rep).eps(o.layer_norm_eps).affine(o.norm_affine).normalize(o.norm_normalize));
    return std::make_shared<ELayerNormImpl>(
        ELayerNormOptions(o.rep).eps(o.layer_norm_eps).affine(o.norm_affine).normalize(o.norm_normalize));
  });
  check(*layer, name, o.rep, o.rep);
  return layer;
}

LayerPtr TransformerSubLayers::activation(const char* name) const {
  const std::string layer_name = transformer_activation_layer(parts_.activation);
  LayerPtr layer = sub(layer_name.c_str(), expanded_, YAML::Node(), [&]() -> LayerPtr {
    if (layer_name == "eGatedNonlinearity")
      return std::make_shared<EGatedNonlinearityImpl>(EGatedNonlinearityOptions(expanded_));
    return built_in_activation(layer_name, expanded_);
  });
  check(*layer, name, expanded_, hidden_);
  return layer;
}

std::shared_ptr<EMultiheadAttentionImpl> as_multihead_attention(const char* what, const char* role,
                                                                const LayerPtr& layer) {
  auto mha = std::dynamic_pointer_cast<EMultiheadAttentionImpl>(layer);
  if (!mha)
    throw ConfigError(
        fmt::format("{}: {} must be an eMultiheadAttention (it attends with masks and, for "
                    "cross-attention, to another sequence); the registry supplied {}",
                    what, role, layer->name()));
  return mha;
}

at::Tensor attend_in_layout(EMultiheadAttentionImpl& attention, const at::Tensor& query,
                            const at::Tensor& key_value, bool batch_first, const at::Tensor& attn_mask,
                            const at::Tensor& key_padding_mask) {
  // The attention keeps its own layout (options.batch_first); the calling layer's may differ.
  const bool same = attention.options.batch_first() == batch_first;
  const at::Tensor q = same ? query : query.transpose(0, 1);
  // Self-attention keeps one tensor for query, key and value (the attention's packed in-projection).
  const at::Tensor kv = key_value.is_same(query) ? q : same ? key_value : key_value.transpose(0, 1);
  at::Tensor y =
      std::get<0>(attention.forward(q, kv, kv, key_padding_mask, /*need_weights=*/false, attn_mask));
  return same ? y : y.transpose(0, 1);
}

std::shared_ptr<PositionalAttentionImpl> as_positional_attention(const char* what, const char* role,
                                                                 const std::string& kind,
                                                                 const LayerPtr& layer) {
  auto positional = std::dynamic_pointer_cast<PositionalAttentionImpl>(layer);
  if (!positional)
    throw ConfigError(
        fmt::format("{}: with attention '{}' {} must be a positional attention (it is called with "
                    "the positions of the query and key sequences); the registry supplied {}",
                    what, kind, role, layer->name()));
  return positional;
}

at::Tensor attend_in_layout(PositionalAttentionImpl& attention, const at::Tensor& query,
                            const at::Tensor& key_value, bool batch_first, const at::Tensor& attn_mask,
                            const at::Tensor& key_padding_mask, const SequencePositions& q_positions,
                            const SequencePositions& k_positions) {
  const bool same = attention.attn->options.batch_first() == batch_first;
  const at::Tensor q = same ? query : query.transpose(0, 1);
  const at::Tensor kv = key_value.is_same(query) ? q : same ? key_value : key_value.transpose(0, 1);
  AttentionCall call;
  call.q = q_positions;
  call.k = k_positions;
  call.attn_mask = attn_mask;
  call.key_padding_mask = key_padding_mask;
  at::Tensor y = std::get<0>(attention.attend(q, kv, kv, call));
  return same ? y : y.transpose(0, 1);
}

void refuse_positions(const char* what, const char* names) {
  throw ConfigError(fmt::format(
      "{}: {} given, but the layer's attention is 'mha' (eMultiheadAttention), which has no positions "
      "(symm_learning's layers drop them silently; eqnn refuses); positions are used by attention "
      "'additive_pos', 'additive_rel' or 'rope' (with max_len, max_distance, rope_base)",
      what, names));
}

}  // namespace eqnn
