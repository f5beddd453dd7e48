// The positional attention layers: option checks, position layouts, the rotary transform of the heads, the
// invariant absolute embedding and the relative bias (see e_positional_attention.hpp for the maths).
#include "e_positional_attention.hpp"

#include <cmath>
#include <limits>
#include <ostream>

#include <ATen/ATen.h>
#include <c10/core/DefaultDtype.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

template <typename Options>
EMultiheadAttentionOptions attention_options(const Options& o) {
  return EMultiheadAttentionOptions(o.in_rep(), o.num_heads())
      .dropout(o.dropout())
      .bias(o.bias())
      .batch_first(o.batch_first())
      .init_scheme(o.init_scheme())
      .weight_constraint(o.weight_constraint())
      .bias_constraint(o.bias_constraint())
      .registry(o.registry());
}

// EMultiheadAttention's checks, its messages named after `what`.
template <typename Options>
std::optional<OptionError> attention_errors(const Options& o, const std::string& what) {
  auto error = validate(attention_options(o));
  if (!error) return error;
  const std::string prefix = "eMultiheadAttention";
  if (error->message.rfind(prefix, 0) == 0) error->message = what + error->message.substr(prefix.size());
  return error;
}

}  // namespace

// ---- PositionalAttentionImpl ----

bool PositionalAttentionImpl::batch_first() const { return attn->options.batch_first(); }

at::Tensor PositionalAttentionImpl::own_parameter(const char* name) const {
  const auto params = named_parameters(/*recurse=*/false);
  const at::Tensor* t = params.find(name);
  TORCH_CHECK(t != nullptr, what_, ": parameter '", name, "' is missing");
  return *t;
}

std::tuple<int64_t, int64_t, int64_t> PositionalAttentionImpl::sizes(const at::Tensor& query,
                                                                     const at::Tensor& key) const {
  TORCH_CHECK((query.dim() == 3 || query.dim() == 2) && key.dim() == query.dim(), what_,
              ": expected 3-D (batched) or 2-D (unbatched) query and key of one rank, got ", query.sizes(),
              " and ", key.sizes());
  if (query.dim() == 2) return {1, query.size(0), key.size(0)};
  const int64_t b = batch_first() ? 0 : 1, t = 1 - b;
  return {query.size(b), query.size(t), key.size(t)};
}

std::pair<at::Tensor, at::Tensor> PositionalAttentionImpl::normalized(const SequencePositions& sp, int64_t n,
                                                                      int64_t len, const char* which,
                                                                      const at::Tensor& like) const {
  auto layout = [&](at::Tensor t, const char* name) {
    TORCH_CHECK(t.dim() == 1 || t.dim() == 2, what_, ": ", which, "_", name,
                " must be (L), (1, L) or (N, L), got shape ", t.sizes());
    if (t.dim() == 1) t = t.unsqueeze(0);
    TORCH_CHECK(t.size(1) == len && (t.size(0) == 1 || t.size(0) == n), what_, ": ", which, "_", name,
                " has shape ", t.sizes(), ", expected (", len, "), (1, ", len, ") or (", n, ", ", len,
                ") for a sequence of length ", len, " and batch ", n);
    return t.to(like.device());
  };
  at::Tensor p =
      sp.positions.defined()
          ? layout(sp.positions, "positions")
          : at::arange(len, at::TensorOptions().dtype(at::kLong).device(like.device())).unsqueeze(0);
  TORCH_CHECK(p.scalar_type() != at::kBool && !at::isComplexType(p.scalar_type()), what_, ": ", which,
              "_positions must be real numbers, got ", p.scalar_type());
  at::Tensor mask;
  if (sp.mask.defined()) {
    TORCH_CHECK(sp.mask.scalar_type() == at::kBool, what_, ": ", which,
                "_position_mask must be bool (true = the token has a position), got ", sp.mask.scalar_type());
    mask = layout(sp.mask, "position_mask");
    if (mask.size(0) != p.size(0)) {
      p = p.expand({n, len});
      mask = mask.expand({n, len});
    }
  }
  return {p, mask};
}

at::Tensor PositionalAttentionImpl::forward(const at::Tensor& x) {
  const int64_t d = in_rep()->size();
  TORCH_CHECK((x.dim() == 3 || x.dim() == 2) && x.size(-1) == d, what_, ": expected input (batch, seq, ", d,
              ") or (batch, ", d, ") for in_rep ", in_rep()->describe(), ", got ", x.sizes());
  at::Tensor seq = x.dim() == 3 ? x : x.unsqueeze(1);
  if (!batch_first()) seq = seq.transpose(0, 1);
  at::Tensor y = std::get<0>(attend(seq, seq, seq, AttentionCall()));
  if (!batch_first()) y = y.transpose(0, 1);
  return x.dim() == 3 ? y : y.squeeze(1);
}

// ---- eRoPEMultiheadAttention ----

std::optional<OptionError> validate(const ERoPEMultiheadAttentionOptions& o) {
  const std::string what = "eRoPEMultiheadAttention";
  if (auto error = attention_errors(o, what)) return error;
  if (o.in_rep()->group().is_compact())
    return OptionError{
        "in_rep", fmt::format("{}: rotates pairs of regular copies, which needs a finite group, and {} is "
                              "compact; eMultiheadAttention serves compact groups",
                              what, o.in_rep()->group().name())};
  const int64_t n = o.in_rep()->group().order(), m = o.in_rep()->size() / n, c = m / o.num_heads();
  if (c % 2 != 0) {
    std::vector<int64_t> valid;
    for (int64_t h = 1; h <= m; ++h)
      if (m % h == 0 && (m / h) % 2 == 0) valid.push_back(h);
    return OptionError{
        "num_heads",
        fmt::format("{}: num_heads = {} leaves {} regular cop{} per head (m = {}, in_rep {}); RoPE rotates "
                    "pairs of whole regular copies, so m/num_heads must be even; valid num_heads: {}",
                    what, o.num_heads(), c, c == 1 ? "y" : "ies", m, o.in_rep()->describe(),
                    valid.empty() ? fmt::format("none (m = {} is odd: use an in_rep with an even number of "
                                                "regular copies' size, or eMultiheadAttention)",
                                                m)
                                  : fmt::format("{}", fmt::join(valid, ", ")))};
  }
  if (!(o.rope_base() > 0.0) || !std::isfinite(o.rope_base()))
    return OptionError{"rope_base",
                       fmt::format("{}: rope_base must be a finite number > 0, got {}", what, o.rope_base())};
  return std::nullopt;
}

ERoPEMultiheadAttentionImpl::ERoPEMultiheadAttentionImpl(ERoPEMultiheadAttentionOptions options_)
    : PositionalAttentionImpl("eqnn::ERoPEMultiheadAttention"), options(std::move(options_)) {
  what_ = "eRoPEMultiheadAttention";
  reset();
}

void ERoPEMultiheadAttentionImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  attn = register_module("attn", EMultiheadAttention(attention_options(options)));
  const int64_t c = attn->regular_copies() / options.num_heads();
  theta_ = at::pow(options.rope_base(), at::arange(0, c / 2, at::TensorOptions().dtype(at::kDouble)) *
                                            (-2.0 / static_cast<double>(c)));
}

std::tuple<at::Tensor, at::Tensor> ERoPEMultiheadAttentionImpl::attend(const at::Tensor& query,
                                                                       const at::Tensor& key,
                                                                       const at::Tensor& value,
                                                                       const AttentionCall& call) {
  int64_t n = 0, l = 0, s = 0;  // not structured bindings: the lambdas below capture them
  std::tie(n, l, s) = sizes(query, key);
  // Angles φ = p·θ in float64, (B, 1, L, c/2, 1); a token without a position uses p = 0.
  auto angles = [&](const SequencePositions& sp, int64_t len, const char* which) {
    auto [p, mask] = normalized(sp, n, len, which, query);
    at::Tensor pd = p.to(at::kDouble);
    if (mask.defined()) pd = pd.masked_fill(mask.logical_not(), 0.0);
    TORCH_CHECK(pd.isfinite().all().item<bool>(), what_, ": ", which, "_positions must be finite");
    return (pd.unsqueeze(-1) * theta_.to(pd.device())).unsqueeze(1).unsqueeze(-1);
  };
  const at::Tensor phi_q = angles(call.q, l, "q"), phi_k = angles(call.k, s, "k");
  const int64_t c = attn->regular_copies() / options.num_heads(), g = options.in_rep()->group().order();
  // x (N, H, T, c·|G|) viewed as (N, H, T, c/2, 2, |G|): copies 2i and 2i+1 rotated by φ_i.
  auto rotate = [c, g](const at::Tensor& x, const at::Tensor& phi) {
    const at::Tensor cos = phi.cos().to(x.scalar_type()), sin = phi.sin().to(x.scalar_type());
    at::Tensor y = x.reshape({x.size(0), x.size(1), x.size(2), c / 2, 2, g});
    at::Tensor y0 = y.select(-2, 0), y1 = y.select(-2, 1);
    return at::stack({y0 * cos - y1 * sin, y0 * sin + y1 * cos}, -2).reshape(x.sizes());
  };
  EMultiheadAttentionImpl::QKTransform transform = [&](at::Tensor& q, at::Tensor& k) {
    q = rotate(q, phi_q);
    k = rotate(k, phi_k);
  };
  return attn->forward_transformed(query, key, value, call.key_padding_mask, call.need_weights,
                                   call.attn_mask, call.average_attn_weights, transform);
}

void ERoPEMultiheadAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::ERoPEMultiheadAttention(in_rep=" << options.in_rep()->describe()
         << ", num_heads=" << options.num_heads() << ", rope_base=" << options.rope_base() << ", "
         << attn->regular_copies() / options.num_heads()
         << " regular copies per head, dropout=" << options.dropout() << ", batch_first=" << std::boolalpha
         << options.batch_first() << ")";
}

// ---- eAdditivePosMultiheadAttention ----

std::optional<OptionError> validate(const EAdditivePosMultiheadAttentionOptions& o) {
  const std::string what = "eAdditivePosMultiheadAttention";
  if (auto error = attention_errors(o, what)) return error;
  if (o.max_len() <= 0)
    return OptionError{"max_len",
                       fmt::format("{}: max_len must be a positive integer, got {}", what, o.max_len())};
  return std::nullopt;
}

EAdditivePosMultiheadAttentionImpl::EAdditivePosMultiheadAttentionImpl(
    EAdditivePosMultiheadAttentionOptions options_)
    : PositionalAttentionImpl("eqnn::EAdditivePosMultiheadAttention"), options(std::move(options_)) {
  what_ = "eAdditivePosMultiheadAttention";
  reset();
}

void EAdditivePosMultiheadAttentionImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr& in = options.in_rep();
  auto invariant = make_constraint(options.registry(), "InvariantConstraint", {nullptr, in});
  const int64_t m0 = invariant->dim();
  if (m0 == 0)
    throw ConfigError(fmt::format(
        "eAdditivePosMultiheadAttention: in_rep {} has no trivial part, so the only invariant positional "
        "embedding is 0 and the layer would be eMultiheadAttention; use eAdditiveRelMultiheadAttention or "
        "eRoPEMultiheadAttention for positions on this rep, or add a trivial copy to in_rep",
        in->describe()));
  attn = register_module("attn", EMultiheadAttention(attention_options(options)));
  // B (D, m₀): the invariant vectors the constraint expands unit coefficients to.
  std::vector<at::Tensor> columns;
  const at::Tensor eye = at::eye(m0, at::TensorOptions().dtype(at::kDouble));
  for (int64_t i = 0; i < m0; ++i) columns.push_back(invariant->expand(eye[i]).to(at::kDouble).reshape({-1}));
  basis_ = at::stack(columns, 1);
  register_parameter("pos_emb_coefficients",
                     at::zeros({options.max_len(), m0}, at::TensorOptions().dtype(c10::get_default_dtype())));
  reset_parameters();
}

void EAdditivePosMultiheadAttentionImpl::reset_parameters() {
  attn->reset_parameters();
  at::NoGradGuard no_grad;
  // Dense N(0, 0.02²) rows, analysed: the least-squares coefficients of their invariant part.
  const at::Tensor dense = at::randn({options.max_len(), basis_.size(0)}, basis_.options()) * 0.02;
  const at::Tensor coefficients = std::get<0>(at::linalg_lstsq(basis_, dense.t())).t();
  pos_emb_coefficients().copy_(coefficients);
}

at::Tensor EAdditivePosMultiheadAttentionImpl::pos_emb_coefficients() const {
  return own_parameter("pos_emb_coefficients");
}

at::Tensor EAdditivePosMultiheadAttentionImpl::pos_emb() const {
  // In float64, rounded once: the rows are invariant to the rounding of the result.
  const at::Tensor theta = pos_emb_coefficients();
  return at::matmul(theta.to(at::kDouble), basis_.to(theta.device()).t()).to(theta.scalar_type());
}

std::vector<std::pair<std::string, at::Tensor>> EAdditivePosMultiheadAttentionImpl::dense_parameters() {
  auto out = attn->effective_parameters();
  out.emplace_back("pos_emb", pos_emb());
  out.emplace_back("pos_emb_basis", basis_);
  return out;
}

at::Tensor EAdditivePosMultiheadAttentionImpl::embedding(const SequencePositions& sp, int64_t n, int64_t len,
                                                         const char* which, const at::Tensor& like) const {
  auto [p, mask] = normalized(sp, n, len, which, like);
  if (mask.defined()) p = p.masked_fill(mask.logical_not(), 0);
  if (at::isFloatingType(p.scalar_type()))
    TORCH_CHECK((p == p.floor()).all().item<bool>(), what_, ": ", which,
                "_positions must be integers (indices into the embedding table), got non-integer values");
  const at::Tensor index = p.to(at::kLong);
  if (index.numel() > 0) {
    const int64_t lo = index.min().item<int64_t>(), hi = index.max().item<int64_t>();
    TORCH_CHECK(lo >= 0 && hi < options.max_len(), what_, ": ", which,
                "_positions must lie in [0, max_len = ", options.max_len(),
                ") where the position mask is true, got values in [", lo, ", ", hi,
                "] (symm_learning wraps negative positions around silently; eqnn refuses them)");
  }
  at::Tensor e = pos_emb()
                     .to(like.scalar_type())
                     .index_select(0, index.reshape({-1}))
                     .reshape({index.size(0), index.size(1), -1});  // (B, L, D)
  if (mask.defined()) e = e * mask.unsqueeze(-1).to(e.scalar_type());
  return e;
}

std::tuple<at::Tensor, at::Tensor> EAdditivePosMultiheadAttentionImpl::attend(const at::Tensor& query,
                                                                              const at::Tensor& key,
                                                                              const at::Tensor& value,
                                                                              const AttentionCall& call) {
  auto [n, l, s] = sizes(query, key);
  // (B, T, D) into the layout of x: unbatched (T, D), batch-first (N, T, D), else (T, N, D).
  auto add = [&](const at::Tensor& x, const at::Tensor& e) {
    if (x.dim() == 2) return x + e.squeeze(0);
    return batch_first() ? x + e : x + e.transpose(0, 1);
  };
  const at::Tensor q = add(query, embedding(call.q, n, l, "q", query));
  const at::Tensor k = add(key, embedding(call.k, n, s, "k", key));
  return attn->forward(q, k, value, call.key_padding_mask, call.need_weights, call.attn_mask,
                       call.average_attn_weights);
}

void EAdditivePosMultiheadAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EAdditivePosMultiheadAttention(in_rep=" << options.in_rep()->describe()
         << ", num_heads=" << options.num_heads() << ", max_len=" << options.max_len()
         << ", invariant dims=" << basis_.size(1) << ", dropout=" << options.dropout()
         << ", batch_first=" << std::boolalpha << options.batch_first() << ")";
}

// ---- eAdditiveRelMultiheadAttention ----

std::optional<OptionError> validate(const EAdditiveRelMultiheadAttentionOptions& o) {
  const std::string what = "eAdditiveRelMultiheadAttention";
  if (auto error = attention_errors(o, what)) return error;
  if (o.max_distance() <= 0)
    return OptionError{"max_distance", fmt::format("{}: max_distance must be a positive integer, got {}",
                                                   what, o.max_distance())};
  return std::nullopt;
}

EAdditiveRelMultiheadAttentionImpl::EAdditiveRelMultiheadAttentionImpl(
    EAdditiveRelMultiheadAttentionOptions options_)
    : PositionalAttentionImpl("eqnn::EAdditiveRelMultiheadAttention"), options(std::move(options_)) {
  what_ = "eAdditiveRelMultiheadAttention";
  reset();
}

void EAdditiveRelMultiheadAttentionImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  attn = register_module("attn", EMultiheadAttention(attention_options(options)));
  register_parameter("rel_bias", at::zeros({2 * options.max_distance() + 1},
                                           at::TensorOptions().dtype(c10::get_default_dtype())));
  reset_parameters();
}

void EAdditiveRelMultiheadAttentionImpl::reset_parameters() {
  attn->reset_parameters();
  at::NoGradGuard no_grad;
  rel_bias().normal_(0.0, 0.02);
}

at::Tensor EAdditiveRelMultiheadAttentionImpl::rel_bias() const { return own_parameter("rel_bias"); }

std::vector<std::pair<std::string, at::Tensor>> EAdditiveRelMultiheadAttentionImpl::dense_parameters() {
  auto out = attn->effective_parameters();
  out.emplace_back("rel_bias", rel_bias());
  return out;
}

std::tuple<at::Tensor, at::Tensor> EAdditiveRelMultiheadAttentionImpl::attend(const at::Tensor& query,
                                                                              const at::Tensor& key,
                                                                              const at::Tensor& value,
                                                                              const AttentionCall& call) {
  auto [n, l, s] = sizes(query, key);
  auto [pq, mq] = normalized(call.q, n, l, "q", query);
  auto [pk, mk] = normalized(call.k, n, s, "k", key);
  const bool shared = pq.size(0) == 1 && pk.size(0) == 1;
  if (!shared) {
    pq = pq.expand({n, l});
    pk = pk.expand({n, s});
  }
  // (B, L, S) distances, clipped, truncated to integers as symm_learning does.
  const at::Tensor rel =
      (pq.unsqueeze(-1) - pk.unsqueeze(-2)).clamp(-options.max_distance(), options.max_distance());
  at::Tensor bias = rel_bias()
                        .index_select(0, (rel.to(at::kLong) + options.max_distance()).reshape({-1}))
                        .reshape(rel.sizes())
                        .to(query.scalar_type());
  if (mq.defined() || mk.defined()) {
    const int64_t b = bias.size(0);
    at::Tensor vq = mq.defined() ? mq.expand({b, l}) : at::ones({b, l}, pq.options().dtype(at::kBool));
    at::Tensor vk = mk.defined() ? mk.expand({b, s}) : at::ones({b, s}, pk.options().dtype(at::kBool));
    bias = bias * (vq.unsqueeze(-1) & vk.unsqueeze(-2)).to(bias.scalar_type());
  }
  const int64_t heads = options.num_heads();
  // (L, S) when shared, else (N·H, L, S), the layouts attn_mask takes.
  at::Tensor mask = shared ? -bias.squeeze(0) : -bias.repeat_interleave(heads, 0);
  if (call.attn_mask.defined()) {
    at::Tensor user = call.attn_mask;
    if (user.scalar_type() == at::kBool)
      user = at::zeros(user.sizes(), mask.options())
                 .masked_fill_(user, -std::numeric_limits<double>::infinity());
    TORCH_CHECK(at::isFloatingType(user.scalar_type()), what_,
                ": attn_mask must be bool (true = may not attend) or floating-point, got ",
                user.scalar_type());
    TORCH_CHECK(user.dim() == 2 || user.dim() == 3, what_,
                ": attn_mask must be 2-D (L, S) or 3-D (N·num_heads, L, S), got shape ", user.sizes());
    if (user.dim() == 3 && mask.dim() == 2) mask = mask.unsqueeze(0);
    mask = user.to(mask.scalar_type()) + mask;
  }
  return attn->forward(query, key, value, call.key_padding_mask, call.need_weights, mask,
                       call.average_attn_weights);
}

void EAdditiveRelMultiheadAttentionImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EAdditiveRelMultiheadAttention(in_rep=" << options.in_rep()->describe()
         << ", num_heads=" << options.num_heads() << ", max_distance=" << options.max_distance()
         << ", dropout=" << options.dropout() << ", batch_first=" << std::boolalpha << options.batch_first()
         << ")";
}

}  // namespace eqnn
