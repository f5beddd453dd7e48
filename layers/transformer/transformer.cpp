// eTransformerEncoderLayer: torch.nn.TransformerEncoderLayer with equivariant parts. Same structure,
// submodule names and pre-/post-norm arithmetic as the stock layer:
//   post-norm (default): x = norm1(x + dropout1(self_attn(x)));  x = norm2(x + dropout2(ff(x)))
//   pre-norm:            x = x + dropout1(self_attn(norm1(x)));  x = x + dropout2(ff(norm2(x)))
//   ff(x) = linear2(dropout(activation(linear1(x))))
// with self_attn an eMultiheadAttention, linear1/linear2 eLinear through a hidden `k x regular`
// representation (k = ceil(dim_feedforward / |G|), so the hidden size is rounded up to whole regular
// copies and a pointwise activation is equivariant there), and norm1/norm2 eLayerNorm.
// Every sub-layer is obtained from the registry by name, so this plugin has no link dependency on the
// plugins that implement them (and a research plugin can replace any of them).
#include <cmath>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/modules/dropout.h>

#include "eqnn/error.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/rep_parser.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

using eqnn::RepPtr;

constexpr const char* kWhat = "eTransformerEncoderLayer";
// Rep names private to the sub-layer arguments this plugin writes (never seen in a user's YAML).
constexpr const char* kInRepName = "<eTransformerEncoderLayer in_rep>";
constexpr const char* kHiddenRepName = "<eTransformerEncoderLayer hidden>";

struct Options {
  int64_t num_heads = 1;
  int64_t dim_feedforward = 2048;
  double dropout = 0.1;
  std::string activation = "relu";
  bool norm_first = false;
  bool batch_first = true;
  double layer_norm_eps = 1e-5;
  bool bias = true;
  std::optional<std::string> init_scheme;
};

class ETransformerEncoderLayer : public eqnn::Layer {
 public:
  ETransformerEncoderLayer(const eqnn::LayerArgs& args, const Options& o, const std::string& activation_layer)
      : eqnn::Layer(kWhat), options_(o), rep_(args.in_rep) {
    const auto& group = args.group ? args.group : rep_->group_ptr();
    const int order = group->order();
    const int copies = static_cast<int>(std::max<int64_t>(1, (o.dim_feedforward + order - 1) / order));
    hidden_ =
        eqnn::Representation::direct_sum(std::vector<RepPtr>(copies, eqnn::Representation::regular(group)));

    // Sub-layer arguments: our own reps by private names, anything else through the caller's resolver.
    const RepPtr in = rep_, hidden = hidden_;
    const auto parent = args.resolve_rep;
    auto resolve = [in, hidden, parent, group](const YAML::Node& node) -> RepPtr {
      if (node.IsScalar() && node.Scalar() == kInRepName) return in;
      if (node.IsScalar() && node.Scalar() == kHiddenRepName) return hidden;
      if (parent) return parent(node);
      if (node.IsScalar()) return eqnn::parse_rep(group, node.Scalar());
      eqnn::yaml::fail(node,
                       std::string(kWhat) + ": cannot resolve representation " + eqnn::yaml::describe(node));
    };
    auto sub = [&](const char* type, const RepPtr& sub_in, const YAML::Node& kwargs) {
      eqnn::LayerArgs a{group, sub_in, kwargs, args.registry, resolve, args.file};
      try {
        return args.registry->get_layer(type)(a);
      } catch (const eqnn::ConfigError& e) {
        if (e.line() > 0) throw;
        // Located at this layer's arguments, which the sub-layer's were derived from.
        eqnn::yaml::fail(args.kwargs, fmt::format("{}: {}", kWhat, e.message()));
      }
    };

    YAML::Node attn;
    attn["num_heads"] = o.num_heads;
    attn["dropout"] = o.dropout;
    attn["bias"] = o.bias;
    if (o.init_scheme) attn["init_scheme"] = *o.init_scheme;
    auto linear_kwargs = [&](const char* out_rep) {
      YAML::Node n;
      n["out_rep"] = out_rep;
      n["bias"] = o.bias;
      if (o.init_scheme) n["init_scheme"] = *o.init_scheme;
      return n;
    };
    YAML::Node norm;
    norm["eps"] = o.layer_norm_eps;

    // Registration order and names as torch.nn.TransformerEncoderLayer.
    self_attn_ = register_module("self_attn", sub("eMultiheadAttention", rep_, attn));
    linear1_ = register_module("linear1", sub("eLinear", rep_, linear_kwargs(kHiddenRepName)));
    dropout_ = register_module("dropout", torch::nn::Dropout(o.dropout));
    linear2_ = register_module("linear2", sub("eLinear", hidden_, linear_kwargs(kInRepName)));
    norm1_ = register_module("norm1", sub("eLayerNorm", rep_, norm));
    norm2_ = register_module("norm2", sub("eLayerNorm", rep_, norm));
    dropout1_ = register_module("dropout1", torch::nn::Dropout(o.dropout));
    dropout2_ = register_module("dropout2", torch::nn::Dropout(o.dropout));
    activation_ = register_module("activation", sub(activation_layer.c_str(), hidden_, YAML::Node()));
    check_sub_layer(*self_attn_, "self_attn", rep_, rep_);
    check_sub_layer(*linear1_, "linear1", rep_, hidden_);
    check_sub_layer(*linear2_, "linear2", hidden_, rep_);
    check_sub_layer(*norm1_, "norm1", rep_, rep_);
    check_sub_layer(*norm2_, "norm2", rep_, rep_);
    check_sub_layer(*activation_, "activation", hidden_, hidden_);
  }

  at::Tensor forward(const at::Tensor& src) override {
    TORCH_CHECK(src.dim() >= 1 && src.size(-1) == rep_->size(), kWhat, ": expected input of shape (..., ",
                rep_->size(), ") for in_rep ", rep_->describe(), ", got ", src.sizes());
    at::Tensor x = src;
    if (options_.norm_first) {
      x = x + self_attention_block(norm1_->forward(x));
      x = x + feed_forward_block(norm2_->forward(x));
    } else {
      x = norm1_->forward(x + self_attention_block(x));
      x = norm2_->forward(x + feed_forward_block(x));
    }
    return x;
  }

  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return rep_; }
  /// The hidden representation of the feed-forward block (k x regular).
  RepPtr hidden_rep() const { return hidden_; }

  // No stock equivalent: norm1/norm2 are eLayerNorm, whose commuting affine map and invariant-part
  // centring torch.nn.LayerNorm cannot express (see layers/normalization). A partial list would not load
  // into torch.nn.TransformerEncoderLayer with strict=True, so the honest answer is the empty list;
  // the sub-layers' own effective_parameters() remain available through the children.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }

  // The stock layer with the same sizes: TransformerEncoderLayer(D, num_heads, hidden size, bias).
  int64_t unconstrained_parameter_count() override {
    return self_attn_->unconstrained_parameter_count() + linear1_->unconstrained_parameter_count() +
           linear2_->unconstrained_parameter_count() + norm1_->unconstrained_parameter_count() +
           norm2_->unconstrained_parameter_count();
  }

  void pretty_print(std::ostream& os) const override {
    os << kWhat << "(in_rep=" << rep_->describe() << ", num_heads=" << options_.num_heads
       << ", dim_feedforward=" << options_.dim_feedforward << " -> hidden " << hidden_->size() << " ("
       << hidden_->size() / rep_->group().order() << "x regular), dropout=" << options_.dropout
       << ", activation=" << options_.activation << ", norm_first=" << std::boolalpha << options_.norm_first
       << ", batch_first=" << options_.batch_first << ", layer_norm_eps=" << options_.layer_norm_eps << ")";
  }

 private:
  // eqnn::Layer::forward is batch-first; with batch_first = false a 3-D input is (seq, batch, D). Only
  // attention mixes tokens, so only it needs the transposition.
  at::Tensor self_attention_block(const at::Tensor& x) {
    if (options_.batch_first || x.dim() != 3) return dropout1_->forward(self_attn_->forward(x));
    return dropout1_->forward(self_attn_->forward(x.transpose(0, 1)).transpose(0, 1));
  }
  at::Tensor feed_forward_block(const at::Tensor& x) {
    return dropout2_->forward(
        linear2_->forward(dropout_->forward(activation_->forward(linear1_->forward(x)))));
  }

  // A replaced sub-layer plugin must still map the representations this layer wires together.
  static void check_sub_layer(const eqnn::Layer& layer, const char* name, const RepPtr& in,
                              const RepPtr& out) {
    const bool ok = layer.in_rep() && layer.out_rep() && layer.in_rep()->same_content(*in) &&
                    layer.out_rep()->same_content(*out);
    if (!ok)
      throw eqnn::Error(fmt::format("{}: sub-layer {} ({}) maps {} -> {}, expected {} -> {}", kWhat, name,
                                    layer.name(), layer.in_rep() ? layer.in_rep()->describe() : "null",
                                    layer.out_rep() ? layer.out_rep()->describe() : "null", in->describe(),
                                    out->describe()));
  }

  Options options_;
  RepPtr rep_, hidden_;
  std::shared_ptr<eqnn::Layer> self_attn_, linear1_, linear2_, norm1_, norm2_, activation_;
  torch::nn::Dropout dropout_{nullptr}, dropout1_{nullptr}, dropout2_{nullptr};
};

std::shared_ptr<eqnn::Layer> make_transformer_encoder_layer(const eqnn::LayerArgs& args) {
  namespace y = eqnn::yaml;
  y::check_keys(args.kwargs,
                {"num_heads", "dim_feedforward", "dropout", "activation", "norm_first", "batch_first",
                 "layer_norm_eps", "bias", "init_scheme"},
                kWhat);
  if (!args.in_rep)
    y::fail(args.kwargs, std::string(kWhat) + ": no in_rep (give in_rep or put the layer after one)");
  if (!args.registry)
    throw eqnn::Error(std::string(kWhat) + ": LayerArgs.registry is null; sub-layers come from it");
  Options o;
  o.num_heads = y::get_int(args.kwargs, "num_heads", std::nullopt, 1);
  o.dim_feedforward = y::get_int(args.kwargs, "dim_feedforward", 2048, 1);
  o.dropout = y::get_double(args.kwargs, "dropout", 0.1);
  if (!(o.dropout >= 0 && o.dropout <= 1))
    y::fail(args.kwargs["dropout"],
            fmt::format("{}: 'dropout' must be in [0, 1], found {}", kWhat, o.dropout));
  o.activation = y::get_string(args.kwargs, "activation", std::string("relu"));
  o.norm_first = y::get_bool(args.kwargs, "norm_first", false);
  o.batch_first = y::get_bool(args.kwargs, "batch_first", true);
  o.layer_norm_eps = y::get_double(args.kwargs, "layer_norm_eps", 1e-5);
  o.bias = y::get_bool(args.kwargs, "bias", true);
  if (args.kwargs.IsMap() && args.kwargs["init_scheme"])
    o.init_scheme = y::get_string(args.kwargs, "init_scheme");

  // activation: a stock name (as torch's "relu" / "gelu") or the registry name of a pointwise layer.
  static const std::vector<std::pair<std::string, std::string>> stock = {
      {"relu", "eReLU"}, {"gelu", "eGELU"}, {"silu", "eSiLU"}, {"tanh", "eTanh"}};
  std::string activation_layer;
  for (const auto& [name, layer] : stock)
    if (o.activation == name || o.activation == layer) activation_layer = layer;
  if (activation_layer.empty()) {
    std::vector<std::string> known;
    for (const auto& [name, layer] : stock) known.push_back(name);
    auto near = eqnn::did_you_mean(o.activation, known);
    y::fail(args.kwargs["activation"],
            fmt::format(
                "{}: unknown activation '{}'{}; known: {} (or their layer names eReLU, eGELU, eSiLU, eTanh)",
                kWhat, o.activation, near ? fmt::format(" (did you mean '{}'?)", *near) : "",
                fmt::join(known, ", ")));
  }
  return std::make_shared<ETransformerEncoderLayer>(args, o, activation_layer);
}

void register_all(eqnn::Registrar& r) { r.add_layer(kWhat, make_transformer_encoder_layer); }

}  // namespace

EQNN_PLUGIN("transformer_layers", "0.1.0", register_all)
