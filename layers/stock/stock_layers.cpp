// Stock layers for model descriptions: Linear, ReLU, GELU, Dropout, LayerNorm, MultiheadAttention and
// TransformerEncoderLayer. They have no group action (in_rep/out_rep are null), take their input size
// from the features flowing in, and use the parameter names of the stock PyTorch modules, so their
// parameters are their own export. Attention layers are self-attention, batch-first.
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/options/activation.h>
#include <torch/nn/options/dropout.h>
#include <torch/nn/options/normalization.h>
#include <torch/nn/options/transformerlayer.h>

#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::LayerArgs;
using eqnn::RepPtr;

int64_t in_size(const LayerArgs& args) { return args.in_rep->size(); }

/// Common part: no representations; the parameters already carry the stock names.
class StockLayer : public eqnn::Layer {
 public:
  using eqnn::Layer::Layer;
  RepPtr in_rep() const override { return nullptr; }
  RepPtr out_rep() const override { return nullptr; }
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override {
    std::vector<std::pair<std::string, at::Tensor>> out;
    for (const auto& item : named_parameters()) out.emplace_back(item.key(), item.value());
    return out;
  }
  int64_t unconstrained_parameter_count() override {
    int64_t n = 0;
    for (const auto& p : parameters()) n += p.numel();
    return n;
  }

 protected:
  /// The registered parameter `name` ("weight", "out_proj.bias", ...), or an undefined tensor. Looked up on
  /// each call rather than kept as a member: an owner that replaces a parameter (the Python wrapper puts
  /// its nn.Parameter in the slot) must be seen by forward, and by autograd.
  at::Tensor param(const std::string& name) const {
    const auto params = named_parameters(/*recurse=*/true);
    const at::Tensor* t = params.find(name);
    return t != nullptr ? *t : at::Tensor();
  }
  void check_features(const at::Tensor& x, int64_t features) const {
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == features, name(), ": expected input (..., ", features,
                "), got ", x.sizes());
  }
};

class Linear : public StockLayer {
 public:
  Linear(int64_t in, int64_t out, bool bias) : StockLayer("Linear"), in_(in) {
    torch::nn::Linear stock(torch::nn::LinearOptions(in, out).bias(bias));  // stock initialisation
    register_parameter("weight", stock->weight);
    if (bias) register_parameter("bias", stock->bias);
  }
  at::Tensor forward(const at::Tensor& x) override {
    check_features(x, in_);
    return at::linear(x, param("weight"), param("bias"));
  }

 private:
  int64_t in_;
};

class Pointwise : public StockLayer {
 public:
  Pointwise(std::string name, std::function<at::Tensor(const at::Tensor&)> f)
      : StockLayer(std::move(name)), f_(std::move(f)) {}
  at::Tensor forward(const at::Tensor& x) override { return f_(x); }

 private:
  std::function<at::Tensor(const at::Tensor&)> f_;
};

class Dropout : public StockLayer {
 public:
  explicit Dropout(double p) : StockLayer("Dropout"), p_(p) {}
  at::Tensor forward(const at::Tensor& x) override { return at::dropout(x, p_, is_training()); }

 private:
  double p_;
};

class LayerNorm : public StockLayer {
 public:
  LayerNorm(int64_t size, double eps, bool affine) : StockLayer("LayerNorm"), size_(size), eps_(eps) {
    if (affine) {
      register_parameter("weight", at::ones({size}));
      register_parameter("bias", at::zeros({size}));
    }
  }
  at::Tensor forward(const at::Tensor& x) override {
    check_features(x, size_);
    return at::layer_norm(x, {size_}, param("weight"), param("bias"), eps_);
  }

 private:
  int64_t size_;
  double eps_;
};

/// Self-attention with the parameters of torch.nn.MultiheadAttention (in_proj_weight, in_proj_bias,
/// out_proj.weight, out_proj.bias) and its initialisation. Input (batch, seq, D) or (batch, D).
class MultiheadAttention : public StockLayer {
 public:
  MultiheadAttention(int64_t dim, int64_t heads, double dropout, bool bias)
      : StockLayer("MultiheadAttention"), dim_(dim), heads_(heads), dropout_(dropout) {
    at::Tensor& in_proj = register_parameter("in_proj_weight", at::empty({3 * dim, dim}));
    torch::nn::init::xavier_uniform_(in_proj);
    if (bias) register_parameter("in_proj_bias", at::zeros({3 * dim}));
    auto out_proj =
        register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(dim, dim).bias(bias)));
    if (bias) torch::nn::init::zeros_(out_proj->bias);
  }
  at::Tensor forward(const at::Tensor& x) override {
    check_features(x, dim_);
    TORCH_CHECK(x.dim() == 2 || x.dim() == 3, name(), ": expected (batch, seq, ", dim_, ") or (batch, ", dim_,
                "), got ", x.sizes());
    // What torch.nn.MultiheadAttention runs without attention weights: packed in-projection, the fused
    // at::scaled_dot_product_attention on (N, H, L, head_dim), out-projection.
    const at::Tensor b = x.dim() == 2 ? x.unsqueeze(1) : x;  // (batch, D): sequences of length 1
    const int64_t n = b.size(0), l = b.size(1);
    at::Tensor qkv =
        at::linear(b, param("in_proj_weight"), param("in_proj_bias")).view({n, l, 3, heads_, dim_ / heads_});
    at::Tensor o = at::scaled_dot_product_attention(
        qkv.select(2, 0).transpose(1, 2), qkv.select(2, 1).transpose(1, 2), qkv.select(2, 2).transpose(1, 2),
        c10::nullopt, is_training() ? dropout_ : 0.0);
    at::Tensor y =
        at::linear(o.transpose(1, 2).reshape({n, l, dim_}), param("out_proj.weight"), param("out_proj.bias"));
    return x.dim() == 2 ? y.squeeze(1) : y;
  }

 private:
  int64_t dim_, heads_;
  double dropout_;
};

/// torch.nn.TransformerEncoderLayer(batch_first=True): same submodule names and the same computation.
class TransformerEncoderLayer : public StockLayer {
 public:
  TransformerEncoderLayer(int64_t dim, int64_t heads, int64_t feedforward, double dropout, bool gelu,
                          bool norm_first, double eps)
      : StockLayer("TransformerEncoderLayer"),
        dim_(dim),
        dropout_(dropout),
        gelu_(gelu),
        norm_first_(norm_first) {
    self_attn_ =
        register_module("self_attn", std::make_shared<MultiheadAttention>(dim, heads, dropout, true));
    linear1_ = register_module("linear1", torch::nn::Linear(dim, feedforward));
    linear2_ = register_module("linear2", torch::nn::Linear(feedforward, dim));
    norm1_ = register_module("norm1", std::make_shared<LayerNorm>(dim, eps, true));
    norm2_ = register_module("norm2", std::make_shared<LayerNorm>(dim, eps, true));
  }
  at::Tensor forward(const at::Tensor& x) override {
    check_features(x, dim_);
    at::Tensor h = x;
    if (norm_first_) {
      h = h + attention(norm1_->forward(h));
      h = h + feedforward(norm2_->forward(h));
    } else {
      h = norm1_->forward(h + attention(h));
      h = norm2_->forward(h + feedforward(h));
    }
    return h;
  }

 private:
  at::Tensor attention(const at::Tensor& x) {
    return at::dropout(self_attn_->forward(x), dropout_, is_training());
  }
  at::Tensor feedforward(const at::Tensor& x) {
    at::Tensor h = linear1_->forward(x);
    h = gelu_ ? at::gelu(h) : at::relu(h);
    h = at::dropout(h, dropout_, is_training());
    return at::dropout(linear2_->forward(h), dropout_, is_training());
  }

  int64_t dim_;
  double dropout_;
  bool gelu_, norm_first_;
  std::shared_ptr<MultiheadAttention> self_attn_;
  torch::nn::Linear linear1_{nullptr}, linear2_{nullptr};
  std::shared_ptr<LayerNorm> norm1_, norm2_;
};

double probability(const LayerArgs& args, const std::string& what, double fallback) {
  const double p = eqnn::yaml::get_double(args.kwargs, "dropout", fallback);
  if (p < 0 || p >= 1)
    eqnn::yaml::fail(args.kwargs["dropout"],
                     fmt::format("{}: 'dropout' must be in [0, 1), found {}", what, p));
  return p;
}

int64_t heads_for(const LayerArgs& args, const std::string& what) {
  const int64_t dim = in_size(args);
  const int64_t heads = eqnn::yaml::get_int(args.kwargs, "num_heads", std::nullopt, 1);
  if (dim % heads != 0) {
    std::vector<int64_t> divisors;
    for (int64_t d = 1; d <= dim; ++d) {
      if (dim % d == 0) divisors.push_back(d);
    }
    eqnn::yaml::fail(
        args.kwargs["num_heads"],
        fmt::format("{}: num_heads {} does not divide the embedding size {}; possible values: {}", what,
                    heads, dim, fmt::join(divisors, ", ")));
  }
  return heads;
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("Linear", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    eqnn::yaml::check_keys(a.kwargs, {"out_features", "bias"}, "Linear");
    const int64_t out = eqnn::yaml::get_int(a.kwargs, "out_features", std::nullopt, 1);
    const torch::nn::LinearOptions defaults(in_size(a), out);
    return std::make_shared<Linear>(in_size(a), out, eqnn::yaml::get_bool(a.kwargs, "bias", defaults.bias()));
  });
  r.add_layer("ReLU", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    eqnn::yaml::check_keys(a.kwargs, {}, "ReLU");
    return std::make_shared<Pointwise>("ReLU", [](const at::Tensor& x) { return at::relu(x); });
  });
  r.add_layer("GELU", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    eqnn::yaml::check_keys(a.kwargs, {"approximate"}, "GELU");
    const std::string approximate =
        eqnn::yaml::get_string(a.kwargs, "approximate", torch::nn::GELUOptions().approximate());
    if (approximate != "none" && approximate != "tanh") {
      eqnn::yaml::fail(a.kwargs["approximate"],
                       fmt::format("GELU: 'approximate' must be 'none' or 'tanh', found '{}'", approximate));
    }
    return std::make_shared<Pointwise>(
        "GELU", [approximate](const at::Tensor& x) { return at::gelu(x, approximate); });
  });
  r.add_layer("Dropout", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    eqnn::yaml::check_keys(a.kwargs, {"p"}, "Dropout");
    const double p = eqnn::yaml::get_double(a.kwargs, "p", torch::nn::DropoutOptions().p());
    if (p < 0 || p > 1)
      eqnn::yaml::fail(a.kwargs["p"], fmt::format("Dropout: 'p' must be in [0, 1], found {}", p));
    return std::make_shared<Dropout>(p);
  });
  r.add_layer("LayerNorm", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    eqnn::yaml::check_keys(a.kwargs, {"eps", "elementwise_affine"}, "LayerNorm");
    const torch::nn::LayerNormOptions defaults({in_size(a)});
    return std::make_shared<LayerNorm>(
        in_size(a), eqnn::yaml::get_double(a.kwargs, "eps", defaults.eps()),
        eqnn::yaml::get_bool(a.kwargs, "elementwise_affine", defaults.elementwise_affine()));
  });
  r.add_layer("MultiheadAttention", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    eqnn::yaml::check_keys(a.kwargs, {"num_heads", "dropout", "bias"}, "MultiheadAttention");
    const int64_t heads = heads_for(a, "MultiheadAttention");
    const torch::nn::MultiheadAttentionOptions defaults(in_size(a), heads);
    return std::make_shared<MultiheadAttention>(in_size(a), heads,
                                                probability(a, "MultiheadAttention", defaults.dropout()),
                                                eqnn::yaml::get_bool(a.kwargs, "bias", defaults.bias()));
  });
  r.add_layer("TransformerEncoderLayer", [](const LayerArgs& a) -> std::shared_ptr<eqnn::Layer> {
    const std::string what = "TransformerEncoderLayer";
    eqnn::yaml::check_keys(
        a.kwargs, {"num_heads", "dim_feedforward", "dropout", "activation", "norm_first", "layer_norm_eps"},
        what);
    const int64_t heads = heads_for(a, what);
    // Defaults as torch's (the C++ frontend's options; it has no norm_first, which is off in Python).
    const torch::nn::TransformerEncoderLayerOptions defaults(in_size(a), heads);
    const int64_t ff = eqnn::yaml::get_int(a.kwargs, "dim_feedforward", defaults.dim_feedforward(), 1);
    const std::string activation = eqnn::yaml::get_string(a.kwargs, "activation", std::string("relu"));
    if (activation != "relu" && activation != "gelu") {
      eqnn::yaml::fail(
          a.kwargs["activation"],
          fmt::format("{}: 'activation' must be 'relu' or 'gelu', found '{}'", what, activation));
    }
    return std::make_shared<TransformerEncoderLayer>(
        in_size(a), heads, ff, probability(a, what, defaults.dropout()), activation == "gelu",
        eqnn::yaml::get_bool(a.kwargs, "norm_first", false),
        eqnn::yaml::get_double(a.kwargs, "layer_norm_eps", torch::nn::LayerNormOptions({in_size(a)}).eps()));
  });
}

}  // namespace

EQNN_PLUGIN("stock_layers", "0.1.0", register_all)
