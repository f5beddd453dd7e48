// ENormNonlinearity: a nonlinearity for any orthogonal representation that acts on the norm of each
// irreducible copy. With x̂ = Qᵀx (Q = in_rep.Q(), the change of basis to in_rep's decomposition; copy c is
// the c-th column block of Q, in in_rep.irreps() order), n_c = ‖x̂_c‖ and a learnable bias b_c per copy:
//   relu     (default; escnn 'n_relu')     ŷ_c = x̂_c · relu(n_c + b_c) / n_c    (norm form: new norm relu(n +
//   b)) softplus (escnn 'n_softplus')          ŷ_c = x̂_c · softplus(n_c + b_c) / n_c sigmoid  (gate form) ŷ_c
//   = x̂_c · sigmoid(n_c + b_c) squash   (escnn 'squash', no bias)     ŷ_c = x̂_c / (1 + n_c) (new norm n / (1
//   + n))
// and y = Q ŷ. ρ(g) acts on x̂_c by the orthogonal ψ_k(g), which preserves n_c: every copy is scaled by an
// invariant, so the layer is exactly equivariant and out_rep = in_rep. The copies must be Q's column
// blocks: within an isotypic component of multiplicity > 1 another orthonormal split of the same space
// would give other norms (a different, also equivariant, layer), so the layer is tied to in_rep's own Q.
// The norm-form scales are evaluated at max(n_c, 1e-12): finite everywhere, exact for n_c > 1e-12, and the
// output of a zero copy is 0 (x̂_c = 0); gradients at 0 are finite (the norm has a zero subgradient there).
// Norm-form softplus (and relu with b_c > 0) is discontinuous at 0 (the output norm tends to f(b_c) > 0),
// as escnn's. The bias starts at 0 (escnn subtracts exp(θ), θ = 0, i.e. starts at b = −1); with bias =
// false, relu would be the identity (norms are ≥ 0) and is refused.
#pragma once

#include <cstdint>
#include <memory>
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

namespace detail {
struct CopyNormIndex;
}

/// Options of ENormNonlinearity: `function` one of norm_nonlinearity_functions() (default "relu", as
/// escnn's NormNonLinearity), `bias` a learnable bias per irrep copy (default true, as escnn; starts at 0).
struct ENormNonlinearityOptions {
  explicit ENormNonlinearityOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, function) = "relu";
  TORCH_ARG(bool, bias) = true;
};

/// relu, sigmoid, softplus, squash (the order error messages list them).
const std::vector<std::string>& norm_nonlinearity_functions();

/// What is wrong with a set of options (key "in_rep", "function" or "bias").
std::optional<OptionError> validate(const ENormNonlinearityOptions& options);

/// A norm nonlinearity on any orthogonal representation.
///
///   auto g = registry.make_group("D4");
///   ENormNonlinearity act(ENormNonlinearityOptions(parse_rep(g, "2x regular +
///   standard")).function("sigmoid")); at::Tensor y = act(at::randn({5, 18}));
class ENormNonlinearityImpl : public Layer {
 public:
  explicit ENormNonlinearityImpl(ENormNonlinearityOptions options);
  ~ENormNonlinearityImpl() override;
  /// Called by the constructor: checks the options (ConfigError), finds the copies, makes the bias (zeros).
  void reset();
  /// Sets the bias to 0.
  void reset_parameters();

  /// (..., D) → (..., D).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// No stock module computes it: empty (so `eqnn export` refuses a model with the bias by name).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// The bias entries (one per irrep copy; 0 without bias).
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// Number of irreducible copies of in_rep (the size of the bias).
  int64_t copies() const;
  /// The bias parameter (one entry per copy); undefined without bias.
  at::Tensor bias() const;

  ENormNonlinearityOptions options;

 private:
  std::shared_ptr<const detail::CopyNormIndex> copies_;
  bool identity_basis_ = false;
  /// Q (float64 master) and the index tensors, per (dtype, device).
  at::Tensor q_master_;
  DeviceCache<std::vector<at::Tensor>> converted_;
};
TORCH_MODULE(ENormNonlinearity);

}  // namespace eqnn
