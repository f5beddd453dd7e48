// The equivariance check of `eqnn check` and Python's check_equivariance: the relative error
// max_g |f(ρ_in(g)x) − ρ_out(g)f(x)| / max|f(x)| of a function, of every layer of a model and of the
// whole model, with NaN and Inf reported as failures.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "eqnn/group_theory/representation.hpp"
#include "eqnn/nn/extra_inputs.hpp"

namespace eqnn {

class Model;

struct EquivarianceResult {
  std::string path, type;
  bool checked = false;  ///< false for layers without representations (stock layers)
  double max_error = 0;  ///< max over g of max|f(ρ_in(g)x) − ρ_out(g)f(x)| / max|f(x)|; NaN when not finite
  int worst_element = 0;
  std::string note;  ///< "not finite: ..." when an output or the error is NaN or Inf
};

/// Relative equivariance error of `f` on every group element, for a random input of shape
/// (batch, seq, in.size) (`seq` 0: (batch, in.size)). Runs under NoGradGuard.
EquivarianceResult equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f, const RepPtr& in,
                                      const RepPtr& out, at::ScalarType dtype, int64_t seq = 3,
                                      uint64_t seed = 0);
/// As above, for a random input of shape (leading_shape..., in.size) (Python's check_equivariance `shape`).
EquivarianceResult equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f, const RepPtr& in,
                                      const RepPtr& out, at::ScalarType dtype,
                                      const std::vector<int64_t>& leading_shape, uint64_t seed);
/// A function of x and extra inputs (ExtraInputs::forward_with, Model::forward(x, extra)).
using FunctionWithExtras = std::function<at::Tensor(const at::Tensor&, const std::vector<at::Tensor>&)>;
/// As above, for f(x, extra) with the extra inputs `extra_spec` drawn at random (a step in [0, 100) per
/// sample, vectors and sequences from N(0, 1); the length of a sequence is its own or x's) and acted on by
/// their representations together with x: max_g |f(ρ_in(g)x, ρ_c(g)c, t) − ρ_out(g)f(x, c, t)| / max|f|.
EquivarianceResult equivariance_error(const FunctionWithExtras& f, const RepPtr& in,
                                      const std::vector<ExtraInput>& extra_spec, const RepPtr& out,
                                      at::ScalarType dtype, const std::vector<int64_t>& leading_shape,
                                      uint64_t seed);
/// The sequence length of the inputs the model is checked with: that of its first layer (depth-first, blocks
/// skipped) if it takes one length only (FixedSequenceLength, e.g. eTimeCNNEncoder), the first multiple of
/// its multiple from `otherwise` on if it takes multiples of a number (SequenceLengthMultiple), else
/// `otherwise`.
int64_t input_sequence_length(const Model& model, int64_t otherwise = 3);
/// Per-layer results (depth-first, as layer_infos()) followed by the whole model (path "model").
/// The model is converted to `dtype` and put in eval mode.
///
///   for (const auto& r : eqnn::check_model(*model, at::kDouble))
///     if (!eqnn::within_tolerance(r, eqnn::equivariance_tolerance(at::kDouble))) ...
std::vector<EquivarianceResult> check_model(Model& model, at::ScalarType dtype, uint64_t seed = 0);
/// 1e-10 for float64, 1e-5 for float32.
double equivariance_tolerance(at::ScalarType dtype);
/// True when the error is finite and at most `tolerance` (NaN and Inf fail).
bool within_tolerance(const EquivarianceResult& result, double tolerance);

}  // namespace eqnn
