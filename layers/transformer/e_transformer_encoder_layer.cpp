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
#include "e_positional_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

constexpr const char* kWhat = "eTransformerEncoderLayer";

}  // namespace

std::optional<OptionError> validate(const ETransformerEncoderLayerOptions& o) {
  return validate(transformer_parts(kWhat, o));
}

ETransformerEncoderLayerImpl::ETransformerEncoderLayerImpl(ETransformerEncoderLayerOptions options_)
    : Layer(kWhat), options(std::move(options_)) {
  reset();
}

ETransformerEncoderLayerImpl::~ETransformerEncoderLayerImpl() = default;

void ETransformerEncoderLayerImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const TransformerSubLayers parts(transformer_parts(kWhat, options));
  hidden_ = parts.hidden();
  // Registration order and names as torch.nn.TransformerEncoderLayer.
  self_attn = register_module("self_attn", parts.attention("self_attn"));
  linear1 = register_module("linear1", parts.linear1("linear1"));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  linear2 = register_module("linear2", parts.linear2("linear2"));
  norm1 = register_module("norm1", parts.norm("norm1"));
  norm2 = register_module("norm2", parts.norm("norm2"));
  dropout1 = register_module("dropout1", torch::nn::Dropout(options.dropout()));
  dropout2 = register_module("dropout2", torch::nn::Dropout(options.dropout()));
  activation = register_module("activation", parts.activation("activation"));
  positional_ = options.attention() == "mha"
                    ? nullptr
                    : as_positional_attention(kWhat, "self_attn", options.attention(), self_attn);
}

at::Tensor ETransformerEncoderLayerImpl::forward(const at::Tensor& src) { return forward(src, {}, {}, {}); }

at::Tensor ETransformerEncoderLayerImpl::forward(const at::Tensor& src, const at::Tensor& src_mask,
                                                 const at::Tensor& src_key_padding_mask,
                                                 const SequencePositions& src_positions) {
  const RepPtr& rep = options.in_rep();
  TORCH_CHECK(src.dim() >= 1 && src.size(-1) == rep->size(), kWhat, ": expected input of shape (..., ",
              rep->size(), ") for in_rep ", rep->describe(), ", got ", src.sizes());
  if (!positional_ && src_positions.given()) refuse_positions(kWhat, "src_positions/src_position_mask");
  at::Tensor x = src;
  if (options.norm_first()) {
    x = x + self_attention_block(norm1->forward(x), src_mask, src_key_padding_mask, src_positions);
    x = x + feed_forward_block(norm2->forward(x));
  } else {
    x = norm1->forward(x + self_attention_block(x, src_mask, src_key_padding_mask, src_positions));
    x = norm2->forward(x + feed_forward_block(x));
  }
  return x;
}

// eqnn::Layer::forward is batch-first; with batch_first = false a 3-D input is (seq, batch, D). Only
// attention mixes tokens, so only it needs the transposition.
at::Tensor ETransformerEncoderLayerImpl::self_attention_block(const at::Tensor& x, const at::Tensor& src_mask,
                                                              const at::Tensor& src_key_padding_mask,
                                                              const SequencePositions& src_positions) {
  if (positional_) {
    TORCH_CHECK(x.dim() == 2 || x.dim() == 3, kWhat, ": the input must be ",
                options.batch_first() ? "(batch, seq, D)" : "(seq, batch, D)", " or (batch, D), got ",
                x.sizes());
    // (batch, D) is a batch of single tokens: (batch, 1, D), batch-first.
    if (x.dim() == 2)
      return dropout1->forward(attend_in_layout(*positional_, x.unsqueeze(1), x.unsqueeze(1), true, src_mask,
                                                src_key_padding_mask, src_positions, src_positions)
                                   .squeeze(1));
    return dropout1->forward(attend_in_layout(*positional_, x, x, options.batch_first(), src_mask,
                                              src_key_padding_mask, src_positions, src_positions));
  }
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
     << "), layer_norm_eps=" << options.layer_norm_eps();
  print_attention_options(os, options);
  os << ")";
}

}  // namespace eqnn
