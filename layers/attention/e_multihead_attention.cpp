// EMultiheadAttention: option checks, constrained projections, and the attention runtime: the fused
// at::scaled_dot_product_attention without attention weights, the explicit softmax computation with them,
// both with the semantics (masks, dropout, shapes) of torch.nn.functional.multi_head_attention_forward.
#include "e_multihead_attention.hpp"

#include <cmath>
#include <limits>
#include <numeric>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eqnn/util/error.hpp"

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
  if (o.in_rep()->group().is_compact()) {
    // Each head holds the same share of every isotypic component, so q·k within a head is invariant.
    int64_t common = 0;
    for (int m : o.in_rep()->multiplicities()) common = std::gcd(common, int64_t(m));
    if (o.num_heads() <= 0 || common % o.num_heads() != 0)
      return AttentionOptionError{
          "num_heads",
          fmt::format(
              "{}: num_heads = {} must divide the multiplicity of every irrep of in_rep {} (group {}: "
              "each head holds the same irreps, so that q·k per head is invariant); valid head counts: "
              "{}",
              what, o.num_heads(), o.in_rep()->describe(), o.in_rep()->group().name(), valid_heads(common))};
  }
  const int64_t n = o.in_rep()->group().is_compact() ? 1 : o.in_rep()->group().order(),
                size = o.in_rep()->size();
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
  if (auto error = execution_error(o.execution()))
    return AttentionOptionError{"execution", what + ": " + *error};
  return validate_weights(what, o.init_scheme(), o.registry(), o.weight_constraint(), o.bias(),
                          o.bias_constraint());
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
  head_dim_ = size / options.num_heads();
  // The features of one head: a finite group's regular copies; a compact group's 1/num_heads of every
  // isotypic component of in_rep (Q = I).
  RepPtr unit;
  int64_t units = 0;
  if (g->is_compact()) {
    std::vector<int> irreps;
    const auto m = in->multiplicities();
    for (size_t k = 0; k < m.size(); ++k) irreps.insert(irreps.end(), m[k] / options.num_heads(), int(k));
    unit = Representation::from_decomposition(g, irreps, Matrix::Identity(head_dim_, head_dim_), "head");
    units = options.num_heads();
    regular_copies_ = 0;
  } else {
    regular_copies_ = size / g->order();
    unit = Representation::regular(g);
    units = regular_copies_;
  }
  head_rep_ = Representation::direct_sum(std::vector<RepPtr>(units, unit));
  const RepPtr qkv_rep = Representation::direct_sum(std::vector<RepPtr>(3 * units, unit));
  const InitScheme scheme = parse_init_scheme(options.init_scheme());
  const auto tensor_options = at::TensorOptions().dtype(c10::get_default_dtype());

  auto weight = make_constraint(options.registry(), options.weight_constraint(), {in, qkv_rep});
  TORCH_CHECK(weight->shape() == std::vector<int64_t>({3 * size, size}), "eMultiheadAttention: constraint '",
              weight->name(), "' gives in_proj weights of shape ", weight->shape(), ", expected ",
              std::vector<int64_t>({3 * size, size}));
  in_proj_weight_ =
      ConstrainedParameter(*this, "in_proj_weight", weight, in_proj_scheme(scheme), tensor_options);
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
  const Execution mode = *parse_execution(options.execution());
  in_execution_ =
      LinearExecution(mode, weight, "eMultiheadAttention (in-projection)", 1, 3 * options.num_heads());
  out_execution_ = LinearExecution(mode, out_proj->weight_parameter().constraint(),
                                   "eMultiheadAttention (out-projection)", options.num_heads(), 1);
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

namespace {

// A bool mask becomes an additive one (-inf where true), as Python's F.multi_head_attention_forward does;
// a floating-point mask is added as it is.
at::Tensor additive_mask(const at::Tensor& mask, const char* name, at::ScalarType dtype) {
  if (!mask.defined()) return mask;
  if (mask.scalar_type() == at::kBool)
    return at::zeros(mask.sizes(), mask.options().dtype(dtype))
        .masked_fill_(mask, -std::numeric_limits<double>::infinity());
  TORCH_CHECK(at::isFloatingType(mask.scalar_type()), "eMultiheadAttention: ", name,
              " must be bool (true = may not attend) or floating-point (added to the attention scores), got ",
              mask.scalar_type());
  return mask;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> EMultiheadAttentionImpl::attend(const Inputs& in, bool need_weights,
                                                                   bool average_attn_weights,
                                                                   const QKTransform* transform) {
  const int64_t d = options.in_rep()->size(), heads = options.num_heads(), hd = head_dim_;
  // Sizes in the layout of the inputs: (L, N, D) sequence-first or (N, L, D) batch-first.
  const int64_t n = in.query.size(in.batch_first ? 0 : 1);
  const int64_t l = in.query.size(in.batch_first ? 1 : 0), s = in.key.size(in.batch_first ? 1 : 0);
  TORCH_CHECK(in.key.sizes() == in.value.sizes(),
              "eMultiheadAttention: key and value must have the same shape, got ", in.key.sizes(), " and ",
              in.value.sizes());
  TORCH_CHECK(in.key.size(in.batch_first ? 0 : 1) == n,
              "eMultiheadAttention: query and key have different batch sizes (", n, " and ",
              in.key.size(in.batch_first ? 0 : 1), ")");

  // Masks: shapes as torch.nn.MultiheadAttention, combined into one additive (N | 1, H | 1, L, S) mask.
  at::Tensor mask = additive_mask(in.attn_mask, "attn_mask", in.query.scalar_type());
  if (mask.defined()) {
    if (mask.dim() == 2) {
      TORCH_CHECK(mask.size(0) == l && mask.size(1) == s, "eMultiheadAttention: the 2-D attn_mask has shape ",
                  mask.sizes(), ", expected (L, S) = (", l, ", ", s, ")");
      mask = mask.reshape({1, 1, l, s});
    } else {
      TORCH_CHECK(mask.dim() == 3 && mask.size(0) == n * heads && mask.size(1) == l && mask.size(2) == s,
                  "eMultiheadAttention: attn_mask has shape ", mask.sizes(), ", expected (L, S) = (", l, ", ",
                  s, ") or (N·num_heads, L, S) = (", n * heads, ", ", l, ", ", s, ")",
                  in.unbatched ? " (unbatched input: N = 1)" : "");
      mask = mask.reshape({n, heads, l, s});
    }
  }
  at::Tensor padding = additive_mask(in.key_padding_mask, "key_padding_mask", in.query.scalar_type());
  if (padding.defined()) {
    TORCH_CHECK(padding.dim() == 2 && padding.size(0) == n && padding.size(1) == s,
                "eMultiheadAttention: key_padding_mask has shape ",
                in.unbatched ? padding.squeeze(0).sizes() : padding.sizes(), ", expected ",
                in.unbatched ? fmt::format("(S) = ({})", s) : fmt::format("(N, S) = ({}, {})", n, s));
    padding = padding.reshape({n, 1, 1, s});
    mask = mask.defined() ? mask + padding : padding;
  }

  // Isotypic execution: q, k, v and the heads' outputs in each head's isotypic basis (not with a q/k
  // transform, which acts on the original coordinates).
  const bool grad = is_training() || c10::GradMode::is_enabled();
  const bool isotypic = transform == nullptr &&
                        LinearExecution::isotypic_together(in_execution_, n * std::max(l, s), out_execution_,
                                                           n * l, grad, in.query.device());
  at::Tensor q, k, v;
  if (isotypic) {
    const auto& in_plan = *in_execution_.plan();
    const auto& heads_plan = *out_execution_.plan();
    const IsotypicLayout& heads_layout = *heads_plan.in;
    const at::Tensor theta = in_proj_weight_.coefficients(*this);
    const auto blocks = in_plan.hom->blocks(theta);
    const at::Tensor b = in_proj_bias();
    const at::Tensor xq = in.query.reshape({-1, d});
    // Part 0, 1, 2 (q, k, v) of the in-projection: its blocks' rows of that third of reg^{3m}.
    auto third = [&](int64_t part) {
      std::vector<at::Tensor> rows(blocks.size());
      for (size_t i = 0; i < blocks.size(); ++i)
        if (blocks[i].defined())
          rows[i] = blocks[i].narrow(1, part * blocks[i].size(1) / 3, blocks[i].size(1) / 3);
      return rows;
    };
    // The bias of part `part` in the heads' packed coordinates.
    auto packed_bias = [&](int64_t part) {
      return b.defined()
                 ? heads_layout.pack(heads_layout.split(b.narrow(0, part * d, d).view({1, d}))).view({d})
                 : at::Tensor();
    };
    // Every input must allow the fused node (a forward-mode tangent on the key alone would be lost).
    const bool fused = IsotypicHom::linear_serves(xq, theta, b) &&
                       IsotypicHom::linear_serves(in.key.reshape({-1, d}), theta, b) &&
                       IsotypicHom::linear_serves(in.value.reshape({-1, d}), theta, b);
    if (fused) {
      // The fused product, written straight into the heads' packed coordinates.
      using C = IsotypicHom::Coordinates;
      if (in.self_attention) {
        const at::Tensor bias = b.defined() ? at::cat({packed_bias(0), packed_bias(1), packed_bias(2)}) : b;
        at::Tensor qkv = IsotypicHom::linear(in_plan.hom, in_plan.in, in_plan.out, blocks, xq, bias,
                                             C::original, C::packed);
        std::vector<int64_t> shape = in.query.sizes().vec();
        shape.back() = 3 * d;
        auto parts = qkv.view(shape).unflatten(-1, {3, d}).unbind(-2);
        q = parts[0];
        k = parts[1];
        v = parts[2];
      } else {
        auto project = [&](const at::Tensor& x, int64_t part) {
          return IsotypicHom::linear(in_plan.hom, in_plan.in, heads_plan.in, third(part), x.reshape({-1, d}),
                                     packed_bias(part), C::original, C::packed)
              .view(x.sizes());
        };
        q = project(in.query, 0);
        k = project(in.key, 1);
        v = project(in.value, 2);
      }
    } else {
      auto project = [&](const IsotypicParts& x, int64_t part, at::IntArrayRef shape) {
        at::Tensor y = heads_layout.pack(in_plan.hom->apply(third(part), x));
        const at::Tensor bias = packed_bias(part);
        if (bias.defined()) y = y + bias;
        return y.view(shape);
      };
      const IsotypicParts pq = in_plan.in->split(xq);
      const IsotypicParts pk = in.self_attention ? pq : in_plan.in->split(in.key.reshape({-1, d}));
      const IsotypicParts pv = in.shared_key_value ? pk : in_plan.in->split(in.value.reshape({-1, d}));
      q = project(pq, 0, in.query.sizes());
      k = project(pk, 1, in.key.sizes());
      v = project(pv, 2, in.value.sizes());
    }
  } else if (in.self_attention) {
    const at::Tensor w = in_proj_weight(), b = in_proj_bias();
    // unbind rather than three narrows: its backward stacks the three gradients in one pass, where each
    // narrow's fills a zero (…, 3D) tensor, copies into it, and the three are added.
    at::Tensor qkv = at::linear(in.query, w, b);
    auto parts = qkv.unflatten(-1, {3, d}).unbind(-2);
    q = parts[0];
    k = parts[1];
    v = parts[2];
  } else if (in.shared_key_value) {
    const at::Tensor w = in_proj_weight(), b = in_proj_bias();
    q = at::linear(in.query, w.narrow(0, 0, d), b.defined() ? b.narrow(0, 0, d) : b);
    at::Tensor kv = at::linear(in.key, w.narrow(0, d, 2 * d), b.defined() ? b.narrow(0, d, 2 * d) : b);
    auto parts = kv.unflatten(-1, {2, d}).unbind(-2);
    k = parts[0];
    v = parts[1];
  } else {
    const at::Tensor w = in_proj_weight(), b = in_proj_bias();
    q = at::linear(in.query, w.narrow(0, 0, d), b.defined() ? b.narrow(0, 0, d) : b);
    k = at::linear(in.key, w.narrow(0, d, d), b.defined() ? b.narrow(0, d, d) : b);
    v = at::linear(in.value, w.narrow(0, 2 * d, d), b.defined() ? b.narrow(0, 2 * d, d) : b);
  }
  // (L, N, D) / (N, L, D) → (N, H, L, head_dim): views, no copy.
  auto split_heads = [&](const at::Tensor& t) {
    const int64_t a = t.size(0), c = t.size(1);
    at::Tensor h = t.reshape({a, c, heads, hd});
    return in.batch_first ? h.permute({0, 2, 1, 3}) : h.permute({1, 2, 0, 3});
  };
  q = split_heads(q);
  k = split_heads(k);
  v = split_heads(v);
  if (transform) (*transform)(q, k);
  if (mask.defined() && mask.scalar_type() != q.scalar_type()) mask = mask.to(q.scalar_type());  // autocast
  const double dropout = is_training() ? options.dropout() : 0.0;

  at::Tensor heads_out, weights;  // (N, H, L, head_dim), (N, H, L, S)
  if (need_weights) {
    // The explicit computation of torch.nn.functional.multi_head_attention_forward with need_weights.
    at::Tensor scores = at::matmul(q * (1.0 / std::sqrt(static_cast<double>(hd))), k.transpose(-2, -1));
    if (mask.defined()) scores = scores + mask;
    weights = at::softmax(scores, -1);
    if (dropout > 0.0) weights = at::dropout(weights, dropout, /*train=*/true);
    heads_out = at::matmul(weights, v);
    if (average_attn_weights) weights = weights.mean(1);
  } else {
    // The fused kernels, as torch.nn.MultiheadAttention when no weights are requested.
    heads_out = at::scaled_dot_product_attention(
        q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask) : c10::nullopt, dropout,
        /*is_causal=*/false);
  }
  // (N, H, L, head_dim) → the query's layout with D = H·head_dim features, then the out-projection.
  at::Tensor merged = in.batch_first ? heads_out.transpose(1, 2).reshape({n, l, d})
                                     : heads_out.permute({2, 0, 1, 3}).reshape({l, n, d});
  if (isotypic) {
    const auto& out_plan = *out_execution_.plan();
    const at::Tensor theta = out_proj->weight_parameter().coefficients(*out_proj);
    const auto blocks = out_plan.hom->blocks(theta);
    const at::Tensor x = merged.reshape({-1, d});
    at::Tensor y =
        IsotypicHom::linear_serves(x, theta, out_proj->bias())
            ? IsotypicHom::linear(out_plan.hom, out_plan.in, out_plan.out, blocks, x, out_proj->bias(),
                                  IsotypicHom::Coordinates::packed)
            : out_plan.out->merge(out_plan.hom->apply(blocks, out_plan.in->unpack(x)), out_proj->bias());
    return {y.view(merged.sizes()), weights};
  }
  return {at::linear(merged, out_proj->weight(), out_proj->bias()), weights};
}

std::tuple<at::Tensor, at::Tensor> EMultiheadAttentionImpl::forward(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
    const at::Tensor& key_padding_mask, bool need_weights, const at::Tensor& attn_mask,
    bool average_attn_weights) {
  return forward_transformed(query, key, value, key_padding_mask, need_weights, attn_mask,
                             average_attn_weights, QKTransform());
}

std::tuple<at::Tensor, at::Tensor> EMultiheadAttentionImpl::forward_transformed(
    const at::Tensor& query, const at::Tensor& key, const at::Tensor& value,
    const at::Tensor& key_padding_mask, bool need_weights, const at::Tensor& attn_mask,
    bool average_attn_weights, const QKTransform& transform) {
  const QKTransform* hook = transform ? &transform : nullptr;
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
  TORCH_CHECK(!attn_mask.defined() || attn_mask.dim() == 2 || attn_mask.dim() == 3,
              "eMultiheadAttention: attn_mask must be 2-D (L, S) or 3-D (N·num_heads, L, S), got shape ",
              attn_mask.sizes());
  Inputs in;
  in.self_attention = query.is_same(key) && key.is_same(value);
  in.shared_key_value = key.is_same(value);
  in.attn_mask = attn_mask;
  if (query.dim() == 2) {
    TORCH_CHECK(
        !key_padding_mask.defined() || key_padding_mask.dim() == 1,
        "eMultiheadAttention: for an unbatched (2-D) query key_padding_mask must be 1-D (S), got shape ",
        key_padding_mask.sizes());
    in.unbatched = true;
    in.batch_first = true;
    in.query = query.unsqueeze(0);
    in.key = in.self_attention ? in.query : key.unsqueeze(0);
    in.value = in.shared_key_value ? in.key : value.unsqueeze(0);
    in.key_padding_mask = key_padding_mask.defined() ? key_padding_mask.unsqueeze(0) : key_padding_mask;
    auto [out, weights] = attend(in, need_weights, average_attn_weights, hook);
    return {out.squeeze(0), weights.defined() ? weights.squeeze(0) : weights};
  }
  TORCH_CHECK(
      !key_padding_mask.defined() || key_padding_mask.dim() == 2,
      "eMultiheadAttention: for a batched (3-D) query key_padding_mask must be 2-D (N, S), got shape ",
      key_padding_mask.sizes());
  in.batch_first = options.batch_first();
  in.query = query;
  in.key = key;
  in.value = value;
  in.key_padding_mask = key_padding_mask;
  return attend(in, need_weights, average_attn_weights, hook);
}

at::Tensor EMultiheadAttentionImpl::forward(const at::Tensor& x) {
  const int64_t d = options.in_rep()->size();
  TORCH_CHECK((x.dim() == 3 || x.dim() == 2) && x.size(-1) == d,
              "eMultiheadAttention: expected input (batch, seq, ", d, ") or (batch, ", d, ") for in_rep ",
              options.in_rep()->describe(), ", got ", x.sizes());
  Inputs in;
  in.self_attention = in.shared_key_value = true;
  in.batch_first = true;
  in.query = in.key = in.value = x.dim() == 3 ? x : x.unsqueeze(1);
  at::Tensor y = std::get<0>(attend(in, /*need_weights=*/false, /*average_attn_weights=*/true));
  return x.dim() == 3 ? y : y.squeeze(1);
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
         << ", num_heads=" << options.num_heads() << ", head_dim=" << head_dim_ << " (";
  if (regular_copies_ > 0)
    stream << regular_copies_ / options.num_heads() << " regular copies per head";
  else
    stream << "1/" << options.num_heads() << " of every isotypic component per head";
  stream << "), dropout=" << options.dropout() << ", bias=" << std::boolalpha << options.bias()
         << ", batch_first=" << options.batch_first() << ", in_proj=" << in_proj_weight_.constraint()->name()
         << "[" << in_proj_weight_.constraint()->method() << ", " << in_proj_weight_.constraint()->dim()
         << " of " << 3 * options.in_rep()->size() * options.in_rep()->size() << "]";
  stream << ", execution=" << execution();
  stream << ")";
}

}  // namespace eqnn
