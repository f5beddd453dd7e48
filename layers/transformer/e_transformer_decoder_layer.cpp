// ETransformerDecoderLayer: the options check, the sub-layers (built-in or from a registry) and the stock
// forward arithmetic (see e_transformer_decoder_layer.hpp).
#include "e_transformer_decoder_layer.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "e_multihead_attention.hpp"
#include "e_positional_attention.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

constexpr const char* kWhat = "eTransformerDecoderLayer";

}  // namespace

std::optional<OptionError> validate(const ETransformerDecoderLayerOptions& o) {
  return validate(transformer_parts(kWhat, o));
}

void check_decoder_inputs(const char* what, const RepPtr& rep, bool batch_first, const at::Tensor& tgt,
                          const at::Tensor& memory) {
  const char* layout = batch_first ? "(batch, seq, D)" : "(seq, batch, D)";
  TORCH_CHECK(tgt.defined() && memory.defined(), what, ": forward needs tgt and memory");
  TORCH_CHECK(tgt.dim() == 3 && tgt.size(2) == rep->size(), what, ": expected tgt of shape ", layout,
              " with D = ", rep->size(), " (in_rep ", rep->describe(), "), got ", tgt.sizes());
  TORCH_CHECK(memory.dim() == 3 && memory.size(2) == rep->size(), what, ": expected memory of shape ", layout,
              " with D = ", rep->size(), " (the memory lives in in_rep ", rep->describe(), "), got ",
              memory.sizes());
  const int64_t batch_dim = batch_first ? 0 : 1;
  TORCH_CHECK(tgt.size(batch_dim) == memory.size(batch_dim), what,
              ": tgt and memory have different batch sizes (", tgt.size(batch_dim), " and ",
              memory.size(batch_dim), ") in the layout ", layout);
}

ETransformerDecoderLayerImpl::ETransformerDecoderLayerImpl(ETransformerDecoderLayerOptions options_)
    : Layer(kWhat), options(std::move(options_)) {
  reset();
}

ETransformerDecoderLayerImpl::~ETransformerDecoderLayerImpl() = default;

void ETransformerDecoderLayerImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const TransformerSubLayers parts(transformer_parts(kWhat, options));
  hidden_ = parts.hidden();
  // Registration order and names as torch.nn.TransformerDecoderLayer.
  self_attn = register_module("self_attn", parts.attention("self_attn"));
  multihead_attn = register_module("multihead_attn", parts.attention("multihead_attn"));
  linear1 = register_module("linear1", parts.linear1("linear1"));
  dropout = register_module("dropout", torch::nn::Dropout(options.dropout()));
  linear2 = register_module("linear2", parts.linear2("linear2"));
  norm1 = register_module("norm1", parts.norm("norm1"));
  norm2 = register_module("norm2", parts.norm("norm2"));
  norm3 = register_module("norm3", parts.norm("norm3"));
  dropout1 = register_module("dropout1", torch::nn::Dropout(options.dropout()));
  dropout2 = register_module("dropout2", torch::nn::Dropout(options.dropout()));
  dropout3 = register_module("dropout3", torch::nn::Dropout(options.dropout()));
  activation = register_module("activation", parts.activation("activation"));
  if (options.attention() == "mha") {
    self_mha_ = as_multihead_attention(kWhat, "self_attn", self_attn);
    cross_mha_ = as_multihead_attention(kWhat, "multihead_attn", multihead_attn);
  } else {
    self_positional_ = as_positional_attention(kWhat, "self_attn", options.attention(), self_attn);
    cross_positional_ = as_positional_attention(kWhat, "multihead_attn", options.attention(), multihead_attn);
  }
}

at::Tensor ETransformerDecoderLayerImpl::forward(const at::Tensor& x) {
  throw ConfigError(fmt::format(
      "{}: forward(x) is not defined: a decoder layer attends to a memory; call forward(tgt, memory, masks) "
      "(Python: ETransformerDecoderLayer(...)(tgt, memory, tgt_mask=..., ...)); got one tensor of shape [{}]",
      kWhat, fmt::join(x.sizes(), ", ")));
}

at::Tensor ETransformerDecoderLayerImpl::forward(const at::Tensor& tgt, const at::Tensor& memory,
                                                 const DecoderMasks& m) {
  check_decoder_inputs(kWhat, options.in_rep(), options.batch_first(), tgt, memory);
  const bool bf = options.batch_first();
  if (!self_positional_ && (m.tgt_positions.given() || m.memory_positions.given()))
    refuse_positions(kWhat, "tgt_positions/tgt_position_mask/memory_positions/memory_position_mask");
  auto self_block = [&](const at::Tensor& x) {
    if (self_positional_)
      return dropout1->forward(attend_in_layout(*self_positional_, x, x, bf, m.tgt_mask,
                                                m.tgt_key_padding_mask, m.tgt_positions, m.tgt_positions));
    return dropout1->forward(attend_in_layout(*self_mha_, x, x, bf, m.tgt_mask, m.tgt_key_padding_mask));
  };
  auto cross_block = [&](const at::Tensor& x) {
    if (cross_positional_)
      return dropout2->forward(attend_in_layout(*cross_positional_, x, memory, bf, m.memory_mask,
                                                m.memory_key_padding_mask, m.tgt_positions,
                                                m.memory_positions));
    return dropout2->forward(
        attend_in_layout(*cross_mha_, x, memory, bf, m.memory_mask, m.memory_key_padding_mask));
  };
  at::Tensor x = tgt;
  if (options.norm_first()) {
    x = x + self_block(norm1->forward(x));
    x = x + cross_block(norm2->forward(x));
    x = x + dropout3->forward(feed_forward_block(norm3->forward(x)));
  } else {
    x = norm1->forward(x + self_block(x));
    x = norm2->forward(x + cross_block(x));
    x = norm3->forward(x + dropout3->forward(feed_forward_block(x)));
  }
  return x;
}

at::Tensor ETransformerDecoderLayerImpl::feed_forward_block(const at::Tensor& x) {
  return linear2->forward(dropout->forward(activation->forward(linear1->forward(x))));
}

int64_t ETransformerDecoderLayerImpl::unconstrained_parameter_count() {
  return self_attn->unconstrained_parameter_count() + multihead_attn->unconstrained_parameter_count() +
         linear1->unconstrained_parameter_count() + linear2->unconstrained_parameter_count() +
         norm1->unconstrained_parameter_count() + norm2->unconstrained_parameter_count() +
         norm3->unconstrained_parameter_count();
}

void ETransformerDecoderLayerImpl::pretty_print(std::ostream& os) const {
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
