// ECondTransformer: the options check, the children, the memory and target positions, the causal masks and
// the forward (see e_cond_transformer.hpp).
#include "e_cond_transformer.hpp"

#include <algorithm>
#include <ostream>
#include <tuple>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "e_activation.hpp"
#include "e_mlp.hpp"
#include "e_norm.hpp"
#include "eqnn/group_theory/equivariant_linalg.hpp"
#include "eqnn/util/error.hpp"
#include "sinusoidal_embedding.hpp"

namespace eqnn {
namespace {

constexpr const char* kWhat = "eCondTransformer";

bool same_group(const RepPtr& a, const RepPtr& b) {
  return a->group_ptr() == b->group_ptr() || a->group().name() == b->group().name();
}

std::vector<int> sorted_irreps(const RepPtr& rep) {
  std::vector<int> irreps = rep->irreps();
  std::sort(irreps.begin(), irreps.end());
  return irreps;
}

// The transformer layers' attention option for a pos_encoding.
std::string attention_kind(const std::string& pos_encoding) {
  if (pos_encoding == "additive_absolute") return "additive_pos";
  if (pos_encoding == "additive_relative") return "additive_rel";
  if (pos_encoding == "rope") return "rope";
  return "mha";
}

// The options every transformer layer of the model shares, on an options type with those fields.
template <typename LayerOptions>
LayerOptions layer_options(const ECondTransformerOptions& o, const RepPtr& emb) {
  LayerOptions l(emb, o.num_attention_heads());
  l.dim_feedforward(4 * o.embedding_dim())
      .dropout(o.p_drop_attn())
      .activation("gelu")
      .layer_norm_eps(1e-5)
      .batch_first(true)
      .norm_first(o.norm_first())
      .bias(true)
      .init_scheme(o.init_scheme())
      .norm(o.norm_module() == "layernorm" ? "layer_norm" : "rms_norm")
      .norm_affine("per_copy")
      .norm_normalize(o.norm_module() == "layernorm" ? "per_copy" : "all")
      .attention(attention_kind(o.pos_encoding()))
      .max_len(std::max(o.in_horizon(), o.cond_horizon() + 1))
      .max_distance(o.in_horizon() + o.cond_horizon() - 1)
      .rope_base(o.rope_base());
  return l;
}

RepPtr make_embedding_rep(const ECondTransformerOptions& o) {
  const RepPtr base = o.hidden_rep() ? o.hidden_rep() : Representation::regular(o.in_rep()->group_ptr());
  return mlp_hidden_rep(base, o.embedding_dim());
}

}  // namespace

std::optional<OptionError> validate(const ECondTransformerOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", fmt::format("{}: in_rep is required", kWhat)};
  if (!o.cond_rep()) return OptionError{"cond_rep", fmt::format("{}: cond_rep is required", kWhat)};
  if (auto e = compact_group_error(kWhat, o.in_rep(), "gelu")) return e;
  const int64_t order = o.in_rep()->group().order();
  const std::string group = o.in_rep()->group().name();
  if (!same_group(o.cond_rep(), o.in_rep()))
    return OptionError{"cond_rep", fmt::format("{}: cond_rep is a representation of {}, in_rep of {}", kWhat,
                                               o.cond_rep()->group().name(), group)};
  if (o.out_rep() && !same_group(o.out_rep(), o.in_rep()))
    return OptionError{"out_rep", fmt::format("{}: out_rep is a representation of {}, in_rep of {}", kWhat,
                                              o.out_rep()->group().name(), group)};
  const std::pair<const char*, int64_t> positive[] = {{"in_horizon", o.in_horizon()},
                                                      {"cond_horizon", o.cond_horizon()},
                                                      {"num_layers", o.num_layers()},
                                                      {"num_attention_heads", o.num_attention_heads()},
                                                      {"embedding_dim", o.embedding_dim()}};
  for (const auto& [key, value] : positive)
    if (value < 1) return OptionError{key, fmt::format("{}: '{}' must be >= 1, found {}", kWhat, key, value)};
  if (o.num_cond_layers() < 0)
    return OptionError{
        "num_cond_layers",
        fmt::format("{}: 'num_cond_layers' must be >= 0 (0: an eLinear-Mish-eLinear block over "
                    "the memory), found {}",
                    kWhat, o.num_cond_layers())};
  for (const auto& [key, p] : {std::pair<const char*, double>{"p_drop_emb", o.p_drop_emb()},
                               std::pair<const char*, double>{"p_drop_attn", o.p_drop_attn()}})
    if (!(p >= 0.0 && p <= 1.0))
      return OptionError{key, fmt::format("{}: '{}' must be in [0, 1], found {}", kWhat, key, p)};
  const std::string& pos = o.pos_encoding();
  if (pos != "additive_absolute" && pos != "additive_relative" && pos != "rope" && pos != "none")
    return OptionError{
        "pos_encoding",
        fmt::format("{}: 'pos_encoding' must be additive_absolute (eAdditivePosMultiheadAttention), "
                    "additive_relative (eAdditiveRelMultiheadAttention), rope "
                    "(eRoPEMultiheadAttention) or none (eMultiheadAttention), found '{}'",
                    kWhat, pos)};
  if (o.norm_module() != "rmsnorm" && o.norm_module() != "layernorm")
    return OptionError{"norm_module", fmt::format("{}: 'norm_module' must be rmsnorm (eRMSNorm) or layernorm "
                                                  "(eLayerNorm), found '{}'",
                                                  kWhat, o.norm_module())};
  if (pos == "rope" && !(o.rope_base() > 0.0))
    return OptionError{"rope_base",
                       fmt::format("{}: 'rope_base' must be > 0, found {}", kWhat, o.rope_base())};
  if (o.hidden_rep()) {
    if (!same_group(o.hidden_rep(), o.in_rep()))
      return OptionError{"hidden_rep", fmt::format("{}: hidden_rep is a representation of {}, in_rep of {}",
                                                   kWhat, o.hidden_rep()->group().name(), group)};
    const RepPtr regular = Representation::regular(o.in_rep()->group_ptr());
    if (sorted_irreps(o.hidden_rep()) != sorted_irreps(regular))
      return OptionError{
          "hidden_rep",
          fmt::format(
              "{}: hidden_rep {} is not the regular representation of {} in some basis; the embedding is "
              "copies of the regular representation (leave hidden_rep out for eqnn's, or give escnn's "
              "through eqnn.interop.rep_from_escnn)",
              kWhat, o.hidden_rep()->describe(), group)};
  }
  if (o.embedding_dim() % order != 0)
    return OptionError{
        "embedding_dim",
        fmt::format("{}: 'embedding_dim' ({}) must be a multiple of the group order |{}| = {}: the "
                    "embedding is embedding_dim / |G| copies of the regular representation (try {})",
                    kWhat, o.embedding_dim(), group, order,
                    std::max<int64_t>(order, o.embedding_dim() / order * order))};
  const int64_t copies = o.embedding_dim() / order;
  if (copies % o.num_attention_heads() != 0)
    return OptionError{
        "num_attention_heads",
        fmt::format("{}: 'num_attention_heads' ({}) must divide embedding_dim / |G| = {} / {} = {} "
                    "(each head holds whole regular copies)",
                    kWhat, o.num_attention_heads(), o.embedding_dim(), order, copies)};
  if (pos == "rope" && (copies / o.num_attention_heads()) % 2 != 0)
    return OptionError{
        "num_attention_heads",
        fmt::format("{}: pos_encoding 'rope' rotates pairs of regular copies within a head, so "
                    "embedding_dim / |G| / num_attention_heads = {} must be even",
                    kWhat, copies / o.num_attention_heads())};
  if (auto e = validate(ELinearOptions(o.in_rep(), make_embedding_rep(o)).init_scheme(o.init_scheme())))
    return OptionError{e->key, fmt::format("{}: {}", kWhat, e->message)};
  return std::nullopt;
}

ECondTransformerImpl::ECondTransformerImpl(ECondTransformerOptions options_)
    : Layer(kWhat), options(std::move(options_)) {
  reset();
}
ECondTransformerImpl::~ECondTransformerImpl() = default;

void ECondTransformerImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const ECondTransformerOptions& o = options;
  emb_ = make_embedding_rep(o);
  out_ = o.out_rep() ? o.out_rep() : o.in_rep();
  projector_ = linalg::invariant_projector(emb_, at::kDouble);
  projector_cache_.clear();
  auto linear = [&](const RepPtr& in, const RepPtr& out) {
    return ELinear(ELinearOptions(in, out).bias(true).init_scheme(o.init_scheme()));
  };
  try {
    input_emb = register_module("input_emb", linear(o.in_rep(), emb_));
    cond_emb = register_module("cond_emb", linear(o.cond_rep(), emb_));
    dropout = register_module("dropout", torch::nn::Dropout(o.p_drop_emb()));
    mlp_.clear();
    if (o.num_cond_layers() > 0) {
      encoder = register_module(
          "encoder", ETransformerEncoder(ETransformerEncoderOptions(
                         layer_options<ETransformerEncoderLayerOptions>(o, emb_), o.num_cond_layers())));
    } else {
      const RepPtr hidden =
          mlp_hidden_rep(Representation::regular(o.in_rep()->group_ptr()), 4 * o.embedding_dim());
      encoder_mlp = register_module("encoder", torch::nn::ModuleList());
      auto first = linear(emb_, hidden).ptr();
      auto act = std::make_shared<EPointwiseImpl>(EPointwiseOptions(hidden, "mish"));
      auto last = linear(hidden, emb_).ptr();
      for (const std::shared_ptr<Layer>& l : std::vector<std::shared_ptr<Layer>>{first, act, last}) {
        encoder_mlp->push_back(l);
        mlp_.push_back(l);
      }
    }
    decoder = register_module("decoder",
                              ETransformerDecoder(ETransformerDecoderOptions(
                                  layer_options<ETransformerDecoderLayerOptions>(o, emb_), o.num_layers())));
    if (o.norm_module() == "layernorm")
      layer_norm = std::make_shared<ELayerNormImpl>(
          ELayerNormOptions(emb_).eps(1e-5).affine("per_copy").normalize("per_copy"));
    else
      layer_norm = std::make_shared<ERMSNormImpl>(ERMSNormOptions(emb_).eps(1e-5).affine("per_copy"));
    register_module("layer_norm", layer_norm);
    head = register_module("head", linear(emb_, out_));
  } catch (const ConfigError& e) {
    if (e.line() > 0) throw;
    throw ConfigError(fmt::format("{}: {}", kWhat, e.message()));
  }
}

std::vector<ExtraInput> ECondTransformerImpl::extra_inputs() const {
  ExtraInput step;
  step.name = "opt_step";
  step.kind = ExtraInput::Kind::step;
  ExtraInput cond;
  cond.name = "Z";
  cond.kind = ExtraInput::Kind::sequence;
  cond.rep = options.cond_rep();
  cond.length = options.cond_horizon();
  return {step, cond};
}

at::Tensor ECondTransformerImpl::forward(const at::Tensor& x) {
  throw ConfigError(
      fmt::format("{}: forward(x) is not defined: the model also takes the step and the conditioning; call "
                  "forward_with(X, {{opt_step, Z}}) (Python: ECondTransformer(...)(X, opt_step, Z), or "
                  "model(X, opt_step, Z) "
                  "for a model file); got one tensor of shape [{}]",
                  kWhat, fmt::join(x.sizes(), ", ")));
}

std::pair<at::Tensor, at::Tensor> ECondTransformerImpl::memory_positions(int64_t tz,
                                                                         const at::Device& device) const {
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor positions;
  if (options.pos_encoding() == "additive_relative" || options.pos_encoding() == "rope")
    positions = at::cat({at::zeros({1}, longs), at::arange(-(tz - 1), 1, longs)});
  else
    positions = at::arange(tz + 1, longs);
  at::Tensor mask = at::ones({tz + 1}, at::TensorOptions().dtype(at::kBool).device(device));
  mask.index_put_({0}, false);
  return {positions, mask};
}

std::pair<at::Tensor, at::Tensor> ECondTransformerImpl::causal_masks(int64_t tx, int64_t tz,
                                                                     const at::Device& device) const {
  const auto longs = at::TensorOptions().dtype(at::kLong).device(device);
  const at::Tensor t = at::arange(tx, longs).unsqueeze(1);
  // Target t sees targets s <= t and memory tokens s <= t + 1 (symm_learning's t >= s - 1).
  return {at::arange(tx, longs).unsqueeze(0) > t, at::arange(tz + 1, longs).unsqueeze(0) > t + 1};
}

at::Tensor ECondTransformerImpl::step_tokens(const at::Tensor& k, int64_t n,
                                             const at::TensorOptions& o) const {
  const at::Tensor steps = k.to(o).reshape({-1}).expand({n});
  const at::Tensor& p =
      projector_cache_.get(o, [&](const at::TensorOptions& to) { return projector_.to(to); });
  return at::matmul(sinusoidal_embedding(steps, options.embedding_dim()), p);  // P symmetric
}

at::Tensor ECondTransformerImpl::forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra_in) {
  const int64_t c = options.in_rep()->size();
  TORCH_CHECK(x.dim() == 3 && x.size(2) == c && x.size(1) >= 1 && x.size(1) <= options.in_horizon(), kWhat,
              ": X must be (N, Tx, ", c, ") with 1 <= Tx <= in_horizon = ", options.in_horizon(),
              " (features last, in_rep ", options.in_rep()->describe(), "), got ", x.sizes());
  const int64_t n = x.size(0), tx = x.size(1);
  std::vector<at::Tensor> extra = extra_in;
  // A one-element step (symm_learning's reshape(-1).expand(N)) is taken as a scalar.
  if (!extra.empty() && extra[0].defined() && extra[0].dim() == 1 && extra[0].numel() == 1)
    extra[0] = extra[0].reshape({});
  check_extra_inputs(kWhat, extra_inputs(), extra, n, tx);
  const at::Tensor& k = extra[0];
  const at::Tensor& z = extra[1];
  TORCH_CHECK(!k.is_complex() && k.scalar_type() != at::kBool, kWhat, ": opt_step must be real, got ",
              k.scalar_type());
  const int64_t tz = z.size(1);
  const at::TensorOptions o = x.options();
  const bool positional = options.pos_encoding() != "none";

  at::Tensor memory = at::cat({step_tokens(k, n, o).unsqueeze(1), cond_emb->forward(z.to(o))}, 1);
  memory = dropout->forward(memory);
  SequencePositions memory_pos;
  if (positional) {
    auto [positions, mask] = memory_positions(tz, x.device());
    memory_pos = {positions, mask};
  }
  if (encoder) {
    memory = encoder->forward(memory, {}, {}, memory_pos);
  } else {
    for (const auto& layer : mlp_) memory = layer->forward(memory);
  }
  const at::Tensor target = dropout->forward(input_emb->forward(x));
  DecoderMasks masks;
  if (options.causal_attn()) std::tie(masks.tgt_mask, masks.memory_mask) = causal_masks(tx, tz, x.device());
  if (positional) masks.memory_positions = memory_pos;
  const at::Tensor y = decoder->forward(target, memory, masks);
  return head->forward(layer_norm->forward(y));
}

int64_t ECondTransformerImpl::unconstrained_parameter_count() {
  int64_t count = input_emb->unconstrained_parameter_count() + cond_emb->unconstrained_parameter_count() +
                  decoder->unconstrained_parameter_count() + layer_norm->unconstrained_parameter_count() +
                  head->unconstrained_parameter_count();
  if (encoder) count += encoder->unconstrained_parameter_count();
  for (const auto& layer : mlp_) count += layer->unconstrained_parameter_count();
  return count;
}

void ECondTransformerImpl::pretty_print(std::ostream& os) const {
  os << kWhat << "(in_rep=" << options.in_rep()->describe() << ", cond_rep=" << options.cond_rep()->describe()
     << ", out_rep=" << out_->describe() << ", in_horizon=" << options.in_horizon()
     << ", cond_horizon=" << options.cond_horizon() << ", embedding=" << emb_->describe()
     << ", num_layers=" << options.num_layers() << ", num_cond_layers=" << options.num_cond_layers()
     << ", heads=" << options.num_attention_heads() << ", pos_encoding=" << options.pos_encoding()
     << ", causal_attn=" << std::boolalpha << options.causal_attn()
     << ", norm_module=" << options.norm_module() << ")";
}

}  // namespace eqnn
