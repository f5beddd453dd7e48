// EMultiheadAttention: option checks, constrained projections, and the stock attention runtime.
#include "e_multihead_attention.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/nn/functional/activation.h>

#include "eqnn/error.hpp"

namespace eqnn {
namespace {

std::vector<int64_t> divisors(int64_t m) {
  std::vector<int64_t> out;
  for (int64_t d = 1; d <= m; ++d)
    if (m % d == 0) out.push_back(d);
  return out;
}

std::string valid_heads(int64_t m) { return fmt::format("{}", fmt::join(divisors(m), ", ")); }

}  // namespace

std::optional<AttentionOptionError> validate(const EMultiheadAttentionOptions& o) {
  const std::string what = "eMultiheadAttention";
  if (!o.in_rep()) return AttentionOptionError{"in_rep", what + ": in_rep is required"};
  const int64_t n = o.in_rep()->group().order(), size = o.in_rep()->size();
  if (size % n != 0) {
    const int64_t below = size / n * n, above = below + n;
    std::string nearest =
        below > 0 ? fmt::format("{} ({}x regular) or {} ({}x regular)", below, below / n, above, above / n)
                  : fmt::format("{} (1x regular)", above);
    return AttentionOptionError{
        "in_rep",
        fmt::format("{}: in_rep {} has size {}, which is not a multiple of |G| = {} (group {}); Q, K and V "
                    "live in m regular copies, so the size must be m·{}. Nearest valid sizes: {}",
                    what, o.in_rep()->describe(), size, n, o.in_rep()->group().name(), n, nearest)};
  }
  const int64_t m = size / n;
  if (o.num_heads() <= 0)
    return AttentionOptionError{
        "num_heads",
        fmt::format("{}: num_heads must be positive, got {}; with m = {} regular copies (in_rep {}) the "
                    "valid head counts are {}",
                    what, o.num_heads(), m, o.in_rep()->describe(), valid_heads(m))};
  if (m % o.num_heads() != 0)
    return AttentionOptionError{
        "num_heads",
        fmt::format("{}: num_heads = {} does not divide m = {} (in_rep {} is {} copies of |G| = {} "
                    "coordinates, and each head must hold whole regular copies to stay equivariant); "
                    "valid head counts: {}",
                    what, o.num_heads(), m, o.in_rep()->describe(), m, n, valid_heads(m))};
  if (o.dropout() < 0.0 || o.dropout() >= 1.0)
    return AttentionOptionError{"dropout",
                                fmt::format("{}: dropout must be in [0, 1), got {}", what, o.dropout())};
  if (o.add_bias_kv())
    return AttentionOptionError{
        "add_bias_kv",
        what +
            ": add_bias_kv=true is not supported: the learned bias_k/bias_v tokens appended to "
            "every key/value sequence are unconstrained in the stock layout, and an unconstrained "
            "token breaks equivariance (it would have to be an invariant vector of reg^m, which is "
            "not implemented). Use add_bias_kv=false"};
  if (o.add_zero_attn())
    return AttentionOptionError{
        "add_zero_attn",
        what +
            ": add_zero_attn=true is not supported: eMultiheadAttention keeps the stock "
            "attention layout without the extra zero key/value slot (not implemented for the "
            "equivariant layer, as in the Python reference). Use add_zero_attn=false"};
  try {
    parse_init_scheme(o.init_scheme());
  } catch (const ConfigError& e) {
    return AttentionOptionError{"init_scheme", what + ": " + e.message()};
  }
  return std::nullopt;
}

EMultiheadAttentionImpl::EMultiheadAttentionImpl(EMultiheadAttentionOptions options_)
    : Layer("eqnn::EMultiheadAttention"), options(std::move(options_)) {
  reset();
}

EMultiheadAttentionImpl::~EMultiheadAttentionImpl() = default;

void EMultiheadAttentionImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr& in = options.in_rep();
  const GroupPtr& g = in->group_ptr();
  const int64_t size = in->size();
  regular_copies_ = size / g->order();
  head_dim_ = size / options.num_heads();
  const RepPtr regular = Representation::regular(g);
  head_rep_ = Representation::direct_sum(std::vector<RepPtr>(regular_copies_, regular));
  const RepPtr qkv_rep = Representation::direct_sum(std::vector<RepPtr>(3 * regular_copies_, regular));
  const InitScheme scheme = parse_init_scheme(options.init_scheme());
  const auto tensor_options = at::TensorOptions().dtype(c10::get_default_dtype());

  auto weight = make_constraint(options.registry(), options.weight_constraint(), {in, qkv_rep});
  TORCH_CHECK(weight->shape() == std::vector<int64_t>({3 * size, size}), "eMultiheadAttention: constraint '",
              weight->name(), "' gives in_proj weights of shape ", weight->shape(), ", expected ",
              std::vector<int64_t>({3 * size, size}));
  in_proj_weight_ = ConstrainedParameter(*this, "in_proj_weight", weight, in_proj_scheme(scheme), tensor_options);
  in_proj_bias_ = ConstrainedParameter();
  if (options.bias()) {
    auto bias = make_constraint(options.registry(), options.bias_constraint(), {nullptr, qkv_rep});
    in_proj_bias_ = ConstrainedParameter(*this, "in_proj_bias", bias, InitScheme::zeros, tensor_options);
  }
  out_proj = register_module("out_proj", ELinear(ELinearOptions(head_rep_, in)
                                                     .bias(options.bias())
                                                     .init_scheme(options.init_scheme())
                                                     .weight_constraint(options.weight_constraint())
                                                     .bias_constraint(options.bias_constraint())
                                                     .registry(options.registry())));
  zero_out_proj_bias();
}

// torch.nn.MultiheadAttention._reset_parameters: xavier_uniform_ in_proj_weight; in_proj_bias and
// out_proj.bias zero; out_proj.weight keeps the Linear default.
InitScheme EMultiheadAttentionImpl::in_proj_scheme(InitScheme scheme) {
  return scheme == InitScheme::stock ? InitScheme::xavier_uniform : scheme;
}

void EMultiheadAttentionImpl::zero_out_proj_bias() {
  if (!out_proj->has_bias()) return;
  at::NoGradGuard no_grad;
  out_proj->bias_parameter().coefficients(*out_proj).zero_();
}

void EMultiheadAttentionImpl::reset_parameters() {
  in_proj_weight_.reset(*this, in_proj_scheme(parse_init_scheme(options.init_scheme())));
  if (in_proj_bias_.defined()) in_proj_bias_.reset(*this, InitScheme::zeros);
  out_proj->reset_parameters();
  zero_out_proj_bias();
}

std::tuple<at::Tensor, at::Tensor> EMultiheadAttentionImpl::attend(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
    const at::Tensor& key_padding_mask, bool need_weights, const at::Tensor& attn_mask,
    bool average_attn_weights) {
  return torch::nn::functional::detail::multi_head_attention_forward(
      query, key, value, options.in_rep()->size(), options.num_heads(), in_proj_weight(), in_proj_bias(),
      /*bias_k=*/{}, /*bias_v=*/{}, /*add_zero_attn=*/false, options.dropout(), out_proj->weight(),
      out_proj->bias(), is_training(), key_padding_mask, need_weights, attn_mask,
      /*use_separate_proj_weight=*/false, {}, {}, {}, {}, {}, average_attn_weights);
}

std::tuple<at::Tensor, at::Tensor> EMultiheadAttentionImpl::forward(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
    const at::Tensor& key_padding_mask, bool need_weights, const at::Tensor& attn_mask,
    bool average_attn_weights) {
  const int64_t d = options.in_rep()->size();
  TORCH_CHECK(query.dim() == 3 || query.dim() == 2,
              "eMultiheadAttention: expected a 3-D (batched) or 2-D (unbatched) query, got shape ",
              query.sizes());
  TORCH_CHECK(key.dim() == query.dim() && value.dim() == query.dim(),
              "eMultiheadAttention: query, key and value must have the same number of dimensions, got ",
              query.sizes(), ", ", key.sizes(), ", ", value.sizes());
  TORCH_CHECK(query.size(-1) == d && key.size(-1) == d && value.size(-1) == d,
              "eMultiheadAttention: expected query, key and value with ", d, " features (in_rep ",
              options.in_rep()->describe(), "), got ", query.sizes(), ", ", key.sizes(), ", ", value.sizes());
  if (query.dim() == 2) {
    at::Tensor mask = key_padding_mask.defined() ? key_padding_mask.unsqueeze(0) : key_padding_mask;
    auto [out, weights] = attend(query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1), mask, need_weights,
                                 attn_mask, average_attn_weights);
    return {out.squeeze(1), weights.defined() ? weights.squeeze(0) : weights};
  }
  if (!options.batch_first())
    return attend(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights);
  auto [out, weights] = attend(query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1),
                               key_padding_mask, need_weights, attn_mask, average_attn_weights);
  return {out.transpose(0, 1), weights};
}

at::Tensor EMultiheadAttentionImpl::forward(const at::Tensor& x) {
  const int64_t d = options.in_rep()->size();
  TORCH_CHECK((x.dim() == 3 || x.dim() == 2) && x.size(-1) == d,
              "eMultiheadAttention: expected input (batch, seq, ", d, ") or (batch, ", d, ") for in_rep ",
              options.in_rep()->describe(), ", got ", x.sizes());
  if (x.dim() == 2) {
    at::Tensor s = x.unsqueeze(0);
    return std::get<0>(attend(s, s, s, {}, /*need_weights=*/false, {}, true)).squeeze(0);
  }
  at::Tensor s = x.transpose(0, 1);
  return std::get<0>(attend(s, s, s, {}, /*need_weights=*/false, {}, true)).transpose(0, 1);
}

std::vector<std::pair<std::string, at::Tensor>> EMultiheadAttentionImpl::effective_parameters() {
  std::vector<std::pair<std::string, at::Tensor>> out{{"in_proj_weight", in_proj_weight()}};
  if (options.bias()) out.emplace_back("in_proj_bias", in_proj_bias());
  for (auto& [name, tensor] : out_proj->effective_parameters()) out.emplace_back("out_proj." + name, tensor);
  return out;
}

int64_t EMultiheadAttentionImpl::unconstrained_parameter_count() {
  const int64_t d = options.in_rep()->size();
  return 4 * d * d + (options.bias() ? 4 * d : 0);
}

void EMultiheadAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EMultiheadAttention(in_rep=" << options.in_rep()->describe()
         << ", num_heads=" << options.num_heads() << ", head_dim=" << head_dim_ << " ("
         << regular_copies_ / options.num_heads()
         << " regular copies per head), dropout=" << options.dropout() << ", bias=" << std::boolalpha
         << options.bias() << ", batch_first=" << options.batch_first()
         << ", in_proj=" << in_proj_weight_.constraint()->name() << "["
         << in_proj_weight_.constraint()->method() << ", " << in_proj_weight_.constraint()->dim() << " of "
         << 3 * options.in_rep()->size() * options.in_rep()->size() << "])";
}

}  // namespace eqnn
