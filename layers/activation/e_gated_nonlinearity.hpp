// EGatedNonlinearity: a nonlinearity for any orthogonal representation in which every non-trivial irreducible
// copy is scaled by σ of its own invariant gate (escnn's GatedNonLinearity1). With x̂ = Qᵀx (Q = in_rep.Q();
// copies are Q's column blocks in in_rep.irreps() order), let n_gated be the number of non-trivial copies.
// The gates are the first n_gated trivial copies of x̂ in that order: the i-th non-trivial copy is gated by
// the i-th trivial copy, ŷ_i = x̂_i · σ(gate_i), and the gates are dropped from the output (as escnn). The
// remaining trivial copies t are gated by themselves, t · σ(t) (SiLU for sigmoid): one rule for every output
// copy (each is multiplied by σ of an invariant), so no output coordinate is left linear.
// out_rep = the kept copies in Q order (their irreps, Q_out = I, built with
// Representation::from_decomposition), and y = ŷ: the output is already in out_rep's basis. Exactly
// equivariant: each kept copy transforms by its ψ_k(g) and is multiplied by an invariant. An input with fewer
// than n_gated trivial copies is refused, saying how many to add. σ ∈ gated_nonlinearity_functions() (sigmoid
// default, as escnn). No parameters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of EGatedNonlinearity: `function` (σ) one of gated_nonlinearity_functions(), default "sigmoid".
struct EGatedNonlinearityOptions {
  explicit EGatedNonlinearityOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, function) = "sigmoid";
};

/// sigmoid, tanh, softplus (the order error messages list them).
const std::vector<std::string>& gated_nonlinearity_functions();

/// What is wrong with a set of options (key "in_rep" or "function"), e.g. too few trivial copies.
std::optional<OptionError> validate(const EGatedNonlinearityOptions& options);

/// The representation of the gated output: in_rep's copies without the gates, Q = I.
RepPtr gated_output_rep(const RepPtr& in_rep);

/// A gated nonlinearity on any orthogonal representation with enough trivial copies.
///
///   auto g = registry.make_group("C4");
///   EGatedNonlinearity act(EGatedNonlinearityOptions(parse_rep(g, "2x regular + 3x trivial + irrep(1)")));
///   at::Tensor y = act(at::randn({5, 12}));   // (5, 7): the 5 gates are dropped
class EGatedNonlinearityImpl : public Layer {
 public:
  explicit EGatedNonlinearityImpl(EGatedNonlinearityOptions options);
  ~EGatedNonlinearityImpl() override;
  /// Called by the constructor: checks the options (ConfigError), pairs copies with gates, builds out_rep.
  void reset();

  /// (..., D) → (..., out_rep.size).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return out_; }
  /// No parameters: the empty list is the complete export.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }
  void pretty_print(std::ostream& stream) const override;

  /// Number of gated (non-trivial) copies = number of gates.
  int64_t gated_copies() const { return gated_; }

  EGatedNonlinearityOptions options;

 private:
  RepPtr out_;
  int64_t gated_ = 0;
  /// Float64 masters: [Q_kept | Q_gates] (D, D_out + n_gated) and, per output column, the column of
  /// x·[Q_kept | Q_gates] that holds its gate (int64).
  at::Tensor basis_, gate_index_;
  DeviceCache<std::pair<at::Tensor, at::Tensor>> converted_;
};
TORCH_MODULE(EGatedNonlinearity);

}  // namespace eqnn
