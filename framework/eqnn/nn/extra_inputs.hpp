// An opt-in interface for layers that take inputs besides x: a diffusion or flow step, a conditioning
// vector, a conditioning sequence (eConditionalUnet1D, eCondTransformer). Kept apart from eqnn::Layer so
// that the layer interface (and the plugin ABI) does not change.
//
// A model whose first layer has extra inputs takes them in Model::forward(x, extra) (Python:
// model(x, *extra)); the checks (eqnn check, check_model) draw them at random and act on each one by its
// representation, so f(ρ_in(g)x, ρ_c(g)c, t) = ρ_out(g) f(x, c, t) is what they test. Such a layer's
// one-argument forward(x) runs only where every extra input is optional.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// One input a layer takes besides x.
struct ExtraInput {
  enum class Kind {
    step,      ///< (N) or a scalar: a diffusion or flow step; the group does not act on it
    vector,    ///< (N, rep.size()): one feature vector per sample, acted on by rep
    sequence,  ///< (N, L, rep.size()), features last: acted on by rep at every position
  };
  std::string name;  ///< the argument's name, as the Python keyword (e.g. "global_cond")
  Kind kind = Kind::vector;
  RepPtr rep;            ///< vector and sequence; null for step
  bool required = true;  ///< false: an undefined tensor means "not given"
  int64_t length = 0;    ///< sequence: the longest it may have (the checks give it that), 0 = x's length
};

class ExtraInputs {
 public:
  virtual ~ExtraInputs() = default;
  /// The inputs after x, in the order forward_with takes them.
  virtual std::vector<ExtraInput> extra_inputs() const = 0;
  /// x as forward takes it, then one tensor per extra_inputs() entry, in that order; an undefined tensor
  /// is "not given" (allowed where the entry is not required).
  virtual at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) = 0;
};

/// Checks `extra` against `spec` for the layer `layer` given x of `batch` samples and `length` positions
/// (-1: x is not a sequence): the count, the required ones given, each one's rank, batch, length and feature
/// size. Fails a LibTorch check (c10::Error) naming the layer, the input and the shapes.
void check_extra_inputs(const std::string& layer, const std::vector<ExtraInput>& spec,
                        const std::vector<at::Tensor>& extra, int64_t batch, int64_t length);

/// Random extra inputs for `spec` (for checks and fuzzing): a step per sample in [0, 100), vectors and
/// sequences from N(0, 1), a sequence as long as its `length` (0: `length`, x's). Optional ones are given
/// too.
std::vector<at::Tensor> random_extra_inputs(const std::vector<ExtraInput>& spec, int64_t batch,
                                            int64_t length, const at::TensorOptions& options,
                                            std::optional<at::Generator> generator = std::nullopt);

}  // namespace eqnn
