// ETransformerEncoderLayer: the options check, the sub-layers (built-in or from a registry) and the
// stock forward arithmetic (see e_transformer_encoder_layer.hpp).
#include "e_transformer_encoder_layer.hpp"

#include <algorithm>
#include <functional>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "e_activation.hpp"
#include "e_multihead_attention.hpp"
#include "e_norm.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

constexpr const char* kWhat = "eTransformerEncoderLayer";
// Rep names private to the sub-layer arguments this layer writes for a registry (never seen in a user's
// YAML).
constexpr const char* kInRepName = "<eTransformerEncoderLayer in_rep>";
constexpr const char* kHiddenRepName = "<eTransformerEncoderLayer hidden>";

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

// A replaced sub-layer plugin must still map the representations this layer wires together.
void check_sub_layer(const Layer& layer, const char* name, const RepPtr& in, const RepPtr& out) {
  const bool ok = layer.in_rep() && layer.out_rep() && layer.in_rep()->same_content(*in) &&
                  layer.out_rep()->same_content(*out);
  if (!ok)
    throw Error(fmt::format("{}: sub-layer {} ({}) maps {} -> {}, expected {} -> {}", kWhat, name,
                            layer.name(), layer.in_rep() ? layer.in_rep()->describe() : "null",
                            layer.out_rep() ? layer.out_rep()->describe() : "null", in->describe(),
                            out->describe()));
}

// An option that takes one of a few names: an OptionError naming the key, what was found and the choices.
std::optional<OptionError> check_choice(const char* key, const std::string& value,
                                        const std::vector<std::string>& choices, const char* meaning) {
  if (std::find(choices.begin(), choices.end(), value) != choices.end()) return std::nullopt;
  return OptionError{key,
                     fmt::format("{}: unknown {} '{}'{}; known: {} ({})", kWhat, key, value,
                                 did_you_mean_clause(value, choices), fmt::join(choices, ", "), meaning)};
}

}  // namespace

std::string transformer_activation_layer(const std::string& activation) {
  for (const auto& [name, layer] : stock_activations())
    if (activation == name || activation == layer) return layer;
  return {};
}

std::optional<OptionError> validate(const ETransformerEncoderLayerOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", std::string(kWhat) + ": in_rep is required"};
  if (o.num_heads() < 1)
    return OptionError{"num_heads",
                       fmt::format("{}: 'num_heads' must be >= 1, found {}", kWhat, o.num_heads())};
  if (o.dim_feedforward() < 1)
    return OptionError{"dim_feedforward", fmt::format("{}: 'dim_feedforward' must be >= 1, found {}", kWhat,
                                                      o.dim_feedforward())};
  if (!(o.dropout() >= 0 && o.dropout() <= 1))
    return OptionError{"dropout",
                       fmt::format("{}: 'dropout' must be in [0, 1], found {}", kWhat, o.dropout())};
  if (transformer_activation_layer(o.activation()).empty()) {
    std::vector<std::string> known;
    for (const auto& [name, layer] : stock_activations()) known.push_back(name);
    return OptionError{
        "activation",
        fmt::format(
            "{}: unknown activation '{}'{}; known: {} (or their layer names eReLU, eGELU, eSiLU, eTanh)",
            kWhat, o.activation(), did_you_mean_clause(o.activation(), known), fmt::join(known, ", "))};
  }
  if (auto e = check_choice("norm", o.norm(), {"layer_norm", "rms_norm"},
                            "norm1/norm2 are eLayerNorm (torch's, the default) or eRMSNorm"))
    return e;
  if (auto e = check_choice("norm_affine", o.norm_affine(), {"per_field", "per_copy"},
                            "one scale per field, the default, or per irreducible copy as symm_learning"))
    return e;
  if (auto e = check_choice("norm_normalize", o.norm_normalize(), {"all", "per_copy"},
                            "the statistic over all features, the default, or per irreducible copy as "
                            "symm_learning's eLayerNorm"))
    return e;
  return std::nullopt;
}

ETransformerEncoderLayerImpl::ETransformerEncoderLayerImpl(ETransformerEncoderLayerOptions options_)
    : Layer(kWhat), options(std::move(options_)) {
  reset();
}

ETransformerEncoderLayerImpl::~ETransformerEncoderLayerImpl() = default;

void ETransformerEncoderLayerImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const ETransformerEncoderLayerOptions& o = options;
  const RepPtr rep = o.in_rep();
  const GroupPtr& group = rep->group_ptr();
  const int order = group->order();
  const int copies = static_cast<int>(std::max<int64_t>(1, (o.dim_feedforward() + order - 1) / order));
  hidden_ = Representation::direct_sum(std::vector<RepPtr>(copies, Representation::regular(group)));
  const RepPtr hidden = hidden_;

  // A sub-layer from the registry (keyword arguments as a YAML model would give them, our reps by private
  // names) or the built-in class; its configuration errors become this layer's.
  auto resolve = [rep, hidden, group](const YAML::Node& node) -> RepPtr {
    if (node.IsScalar() && node.Scalar() == kInRepName) return rep;
    if (node.IsScalar() && node.Scalar() == kHiddenRepName) return hidden;
    if (node.IsScalar()) return parse_rep(group, node.Scalar());
    throw ConfigError(std::string(kWhat) + ": cannot resolve a representation that is not a string");
  };
  auto sub = [&](const char* type, const RepPtr& sub_in, const YAML::Node& kwargs,
                 const std::function<LayerPtr()>& built_in) -> LayerPtr {
    try {
      if (!o.registry()) return built_in();
      return o.registry()->get_layer(type)(LayerArgs{group, sub_in, kwargs, o.registry(), resolve, ""});
    } catch (const ConfigError& e) {
      if (e.line() > 0) throw;
      throw ConfigError(fmt::format("{}: {}", kWhat, e.message()));
    }
  };

  YAML::Node attn_kwargs;
  attn_kwargs["num_heads"] = o.num_heads();
  attn_kwargs["dropout"] = o.dropout();
  attn_kwargs["bias"] = o.bias();
  if (o.init_scheme() != "stock") attn_kwargs["init_scheme"] = o.init_scheme();
  auto linear_kwargs = [&](const char* out_rep) {
    YAML::Node n;
    n["out_rep"] = out_rep;
    n["bias"] = o.bias();
    if (o.init_scheme() != "stock") n["init_scheme"] = o.init_scheme();
    return n;
  };
  const bool rms = o.norm() == "rms_norm";
  const char* norm_layer = rms ? "eRMSNorm" : "eLayerNorm";
  YAML::Node norm_kwargs;
  norm_kwargs["eps"] = o.layer_norm_eps();
  // Only what differs from the norm's own defaults, so a registry's replacement norm need not know the keys.
  if (o.norm_affine() != "per_field") norm_kwargs["affine"] = o.norm_affine();
  if (o.norm_normalize() != "all") norm_kwargs["normalize"] = o.norm_normalize();
  auto attention = [&] {
    return std::make_shared<EMultiheadAttentionImpl>(EMultiheadAttentionOptions(rep, o.num_heads())
                                                         .dropout(o.dropout())
                                                         .bias(o.bias())
                                                         .init_scheme(o.init_scheme()));
  };
  auto linear = [&](const RepPtr& in, const RepPtr& out) {
    return [&, in, out] {
      return std::make_shared<ELinearImpl>(
          ELinearOptions(in, out).bias(o.bias()).init_scheme(o.init_scheme()));
    };
  };
  auto norm = [&]() -> LayerPtr {
    if (rms)
      return std::make_shared<ERMSNormImpl>(
          ERMSNormOptions(rep).eps(o.layer_norm_eps()).affine(o.norm_affine()).normalize(o.norm_normalize()));
    return std::make_shared<ELayerNormImpl>(
        ELayerNormOptions(rep).eps(o.layer_norm_eps()).affine(o.norm_affine()).normalize(o.norm_normalize()));
  };
  const std::string activation_layer = transformer_activation_layer(o.activation());

  // Registration order and names as torch.nn.TransformerEncoderLayer.
  self_attn = register_module("self_attn", sub("eMultiheadAttention", rep, attn_kwargs, attention));
  linear1 =
      register_module("linear1", sub("eLinear", rep, linear_kwargs(kHiddenRepName), linear(rep, hidden)));
  dropout = register_module("dropout", torch::nn::Dropout(o.dropout()));
  linear2 =
      register_module("linear2", sub("eLinear", hidden, linear_kwargs(kInRepName), linear(hidden, rep)));
  norm1 = register_module("norm1", sub(norm_layer, rep, norm_kwargs, norm));
  norm2 = register_module("norm2", sub(norm_layer, rep, norm_kwargs, norm));
  dropout1 = register_module("dropout1", torch::nn::Dropout(o.dropout()));
  dropout2 = register_module("dropout2", torch::nn::Dropout(o.dropout()));
  activation = register_module("activation", sub(activation_layer.c_str(), hidden, YAML::Node(), [&] {
                                 return built_in_activation(activation_layer, hidden);
                               }));
  check_sub_layer(*self_attn, "self_attn", rep, rep);
  check_sub_layer(*linear1, "linear1", rep, hidden);
  check_sub_layer(*linear2, "linear2", hidden, rep);
  check_sub_layer(*norm1, "norm1", rep, rep);
  check_sub_layer(*norm2, "norm2", rep, rep);
  check_sub_layer(*activation, "activation", hidden, hidden);
}

at::Tensor ETransformerEncoderLayerImpl::forward(const at::Tensor& src) { return forward(src, {}, {}); }

at::Tensor ETransformerEncoderLayerImpl::forward(const at::Tensor& src, const at::Tensor& src_mask,
                                                 const at::Tensor& src_key_padding_mask) {
  const RepPtr& rep = options.in_rep();
  TORCH_CHECK(src.dim() >= 1 && src.size(-1) == rep->size(), kWhat, ": expected input of shape (..., ",
              rep->size(), ") for in_rep ", rep->describe(), ", got ", src.sizes());
  at::Tensor x = src;
  if (options.norm_first()) {
    x = x + self_attention_block(norm1->forward(x), src_mask, src_key_padding_mask);
    x = x + feed_forward_block(norm2->forward(x));
  } else {
    x = norm1->forward(x + self_attention_block(x, src_mask, src_key_padding_mask));
    x = norm2->forward(x + feed_forward_block(x));
  }
  return x;
}

// eqnn::Layer::forward is batch-first; with batch_first = false a 3-D input is (seq, batch, D). Only
// attention mixes tokens, so only it needs the transposition.
at::Tensor ETransformerEncoderLayerImpl::self_attention_block(const at::Tensor& x, const at::Tensor& src_mask,
                                                              const at::Tensor& src_key_padding_mask) {
  if (!src_mask.defined() && !src_key_padding_mask.defined()) {
    if (options.batch_first() || x.dim() != 3) return dropout1->forward(self_attn->forward(x));
    return dropout1->forward(self_attn->forward(x.transpose(0, 1)).transpose(0, 1));
  }
  auto* mha = dynamic_cast<EMultiheadAttentionImpl*>(self_attn.get());
  TORCH_CHECK(mha != nullptr, kWhat, ": src_mask and src_key_padding_mask need self_attn to be an ",
              "EMultiheadAttention; the registry supplied ", self_attn->name());
  TORCH_CHECK(x.dim() == 2 || x.dim() == 3, kWhat, ": with masks the input must be ",
              options.batch_first() ? "(batch, seq, D)" : "(seq, batch, D)", " or (batch, D), got ",
              x.sizes());
  // To (batch, seq, D), then to the attention's own layout and back.
  const at::Tensor batch_seq = x.dim() == 2 ? x.unsqueeze(1) : options.batch_first() ? x : x.transpose(0, 1);
  const bool attn_batch_first = mha->options.batch_first();
  const at::Tensor q = attn_batch_first ? batch_seq : batch_seq.transpose(0, 1);
  at::Tensor y = std::get<0>(mha->forward(q, q, q, src_key_padding_mask, /*need_weights=*/false, src_mask));
  if (!attn_batch_first) y = y.transpose(0, 1);
  y = x.dim() == 2 ? y.squeeze(1) : options.batch_first() ? y : y.transpose(0, 1);
  return dropout1->forward(y);
}

at::Tensor ETransformerEncoderLayerImpl::feed_forward_block(const at::Tensor& x) {
  return dropout2->forward(linear2->forward(dropout->forward(activation->forward(linear1->forward(x)))));
}

int64_t ETransformerEncoderLayerImpl::unconstrained_parameter_count() {
  return self_attn->unconstrained_parameter_count() + linear1->unconstrained_parameter_count() +
         linear2->unconstrained_parameter_count() + norm1->unconstrained_parameter_count() +
         norm2->unconstrained_parameter_count();
}

void ETransformerEncoderLayerImpl::pretty_print(std::ostream& os) const {
  const RepPtr& rep = options.in_rep();
  os << kWhat << "(in_rep=" << rep->describe() << ", num_heads=" << options.num_heads()
     << ", dim_feedforward=" << options.dim_feedforward() << " -> hidden " << hidden_->size() << " ("
     << hidden_->size() / rep->group().order() << "x regular), dropout=" << options.dropout()
     << ", activation=" << options.activation() << ", norm_first=" << std::boolalpha << options.norm_first()
     << ", batch_first=" << options.batch_first() << ", norm=" << options.norm() << " (affine "
     << options.norm_affine() << ", normalize " << options.norm_normalize()
     << "), layer_norm_eps=" << options.layer_norm_eps() << ")";
}

}  // namespace eqnn
