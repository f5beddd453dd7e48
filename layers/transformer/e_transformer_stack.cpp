// ETransformerEncoder and ETransformerDecoder: the options check, the layers and the final norm, and the
// stock forward (see e_transformer_stack.hpp).
#include "e_transformer_stack.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

constexpr const char* kEncoder = "eTransformerEncoder";
constexpr const char* kDecoder = "eTransformerDecoder";

std::optional<OptionError> validate_stack(const char* what, const TransformerParts& parts, int64_t num_layers,
                                          const std::string& final_norm) {
  if (auto e = validate(parts)) return e;
  if (num_layers < 1)
    return OptionError{"num_layers",
                       fmt::format("{}: 'num_layers' must be >= 1, found {}", what, num_layers)};
  return check_transformer_choice(
      what, "final_norm", final_norm, {"none", "layer_norm", "rms_norm"},
      "the norm after the last layer: none (torch's norm=None), eLayerNorm or eRMSNorm "
      "with the layers' eps, norm_affine and norm_normalize");
}

// The final norm: the layers' norm options with the kind final_norm names.
LayerPtr final_norm_layer(TransformerParts parts, const std::string& final_norm) {
  if (final_norm == "none") return nullptr;
  parts.norm = final_norm;
  return TransformerSubLayers(std::move(parts)).norm("norm");
}

}  // namespace

std::optional<OptionError> validate(const ETransformerEncoderOptions& o) {
  return validate_stack(kEncoder, transformer_parts(kEncoder, o.encoder_layer()), o.num_layers(),
                        o.final_norm());
}

std::optional<OptionError> validate(const ETransformerDecoderOptions& o) {
  return validate_stack(kDecoder, transformer_parts(kDecoder, o.decoder_layer()), o.num_layers(),
                        o.final_norm());
}

ETransformerEncoderImpl::ETransformerEncoderImpl(ETransformerEncoderOptions options_)
    : Layer(kEncoder), options(std::move(options_)) {
  reset();
}

void ETransformerEncoderImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  layers = register_module("layers", torch::nn::ModuleList());
  layers_.clear();
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    try {
      layers_.push_back(std::make_shared<ETransformerEncoderLayerImpl>(options.encoder_layer()));
    } catch (const ConfigError& e) {
      if (e.line() > 0) throw;
      throw ConfigError(fmt::format("{}: {}", kEncoder, e.message()));
    }
    layers->push_back(layers_.back());
  }
  norm = final_norm_layer(transformer_parts(kEncoder, options.encoder_layer()), options.final_norm());
  if (norm) register_module("norm", norm);
}

at::Tensor ETransformerEncoderImpl::forward(const at::Tensor& src) {
  at::Tensor x = src;
  for (const auto& layer : layers_) x = layer->forward(x);
  return norm ? norm->forward(x) : x;
}

at::Tensor ETransformerEncoderImpl::forward(const at::Tensor& src, const at::Tensor& mask,
                                            const at::Tensor& src_key_padding_mask,
                                            const SequencePositions& positions) {
  if (positions.given() && options.encoder_layer().attention() == "mha")
    refuse_positions(kEncoder, "positions (src_positions/src_position_mask)");
  at::Tensor x = src;
  for (const auto& layer : layers_) x = layer->forward(x, mask, src_key_padding_mask, positions);
  return norm ? norm->forward(x) : x;
}

int64_t ETransformerEncoderImpl::unconstrained_parameter_count() {
  int64_t count = norm ? norm->unconstrained_parameter_count() : 0;
  for (const auto& layer : layers_) count += layer->unconstrained_parameter_count();
  return count;
}

void ETransformerEncoderImpl::pretty_print(std::ostream& os) const {
  os << kEncoder << "(num_layers=" << options.num_layers() << ", final_norm=" << options.final_norm()
     << ", layer=";
  layers_.front()->pretty_print(os);
  os << ")";
}

ETransformerDecoderImpl::ETransformerDecoderImpl(ETransformerDecoderOptions options_)
    : Layer(kDecoder), options(std::move(options_)) {
  reset();
}

void ETransformerDecoderImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  layers = register_module("layers", torch::nn::ModuleList());
  layers_.clear();
  for (int64_t i = 0; i < options.num_layers(); ++i) {
    try {
      layers_.push_back(std::make_shared<ETransformerDecoderLayerImpl>(options.decoder_layer()));
    } catch (const ConfigError& e) {
      if (e.line() > 0) throw;
      throw ConfigError(fmt::format("{}: {}", kDecoder, e.message()));
    }
    layers->push_back(layers_.back());
  }
  norm = final_norm_layer(transformer_parts(kDecoder, options.decoder_layer()), options.final_norm());
  if (norm) register_module("norm", norm);
}

at::Tensor ETransformerDecoderImpl::forward(const at::Tensor& x) {
  throw ConfigError(fmt::format(
      "{}: forward(x) is not defined: a decoder attends to a memory; call forward(tgt, memory, masks) "
      "(Python: ETransformerDecoder(...)(tgt, memory, tgt_mask=..., ...)); got one tensor of shape [{}]",
      kDecoder, fmt::join(x.sizes(), ", ")));
}

at::Tensor ETransformerDecoderImpl::forward(const at::Tensor& tgt, const at::Tensor& memory,
                                            const DecoderMasks& masks) {
  const ETransformerDecoderLayerOptions& o = options.decoder_layer();
  check_decoder_inputs(kDecoder, o.in_rep(), o.batch_first(), tgt, memory);
  if ((masks.tgt_positions.given() || masks.memory_positions.given()) && o.attention() == "mha")
    refuse_positions(kDecoder, "tgt_positions/tgt_position_mask/memory_positions/memory_position_mask");
  at::Tensor x = tgt;
  for (const auto& layer : layers_) x = layer->forward(x, memory, masks);
  return norm ? norm->forward(x) : x;
}

int64_t ETransformerDecoderImpl::unconstrained_parameter_count() {
  int64_t count = norm ? norm->unconstrained_parameter_count() : 0;
  for (const auto& layer : layers_) count += layer->unconstrained_parameter_count();
  return count;
}

void ETransformerDecoderImpl::pretty_print(std::ostream& os) const {
  os << kDecoder << "(num_layers=" << options.num_layers() << ", final_norm=" << options.final_norm()
     << ", layer=";
  layers_.front()->pretty_print(os);
  os << ")";
}

}  // namespace eqnn
