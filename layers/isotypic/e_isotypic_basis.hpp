// EIsotypicBasis: the change to the isotypic (disentangled) basis, symm_learning's Change2DisentangledBasis.
// With ρ_in(g) = Q_iso (⊕ ψ(g)) Q_isoᵀ and Q_iso's columns ordered by isotypic component (the trivial
// component first, then by ascending size m_k·d_k, ties by irrep index; see eqnn::isotypic_basis),
//   forward:  x ↦ Q_isoᵀ x,   in_rep = ρ_in, out_rep = ρ̂ with ρ̂(g) = Q_isoᵀ ρ_in(g) Q_iso = ⊕ ψ(g);
//   inverse:  x ↦ Q_iso x,    in_rep = ρ̂,   out_rep = ρ_in   (options.inverse(true); in_rep stays ρ_in).
// Equivariant by construction: Q_isoᵀ ρ_in(g) x = ρ̂(g) Q_isoᵀ x. Linear without bias: it equals
// torch::nn::Linear(D, D, bias=false) with the fixed weight Q_isoᵀ (Q_iso for the inverse). No parameters;
// the float64 matrix is converted per (dtype, device) on first use.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "eqnn/group_theory/isotypic.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of EIsotypicBasis: the representation (in the original basis) and the direction.
struct EIsotypicBasisOptions {
  explicit EIsotypicBasisOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  /// The representation ρ_in whose isotypic basis is used (for inverse(true) the layer maps back to it).
  TORCH_ARG(RepPtr, in_rep);
  /// false: x ↦ Q_isoᵀ x (to the isotypic basis); true: x ↦ Q_iso x (back from it).
  TORCH_ARG(bool, inverse) = false;
};

/// What is wrong with a set of options (key "in_rep"). The constructor throws it as ConfigError.
std::optional<OptionError> validate(const EIsotypicBasisOptions& options);

/// The change of basis to (or from) the isotypic basis of in_rep.
///
///   auto g = registry.make_group("D4");
///   EIsotypicBasis iso(EIsotypicBasisOptions(parse_rep(g, "regular")));
///   at::Tensor y = iso(at::randn({5, 8}));   // (5, 8): trivial first, then the isotypic components
///   iso->slices();                           // [(irrep, start, stop), ...]
class EIsotypicBasisImpl : public Layer {
 public:
  explicit EIsotypicBasisImpl(EIsotypicBasisOptions options);
  ~EIsotypicBasisImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and computes the isotypic basis.
  void reset();

  /// (..., D) → (..., D).
  at::Tensor forward(const at::Tensor& x) override;
  /// ρ_in (forward) or ρ̂ (inverse).
  RepPtr in_rep() const override;
  /// ρ̂ (forward) or ρ_in (inverse).
  RepPtr out_rep() const override;
  /// Stock equivalent: torch::nn::Linear(D, D, bias=false) with weight Q_isoᵀ (forward) or Q_iso (inverse).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  /// The isotypic components in the isotypic basis, in order.
  const std::vector<IsotypicSlice>& slices() const { return basis_.slices; }
  /// The isotypic basis (Q_iso, the -Iso rep, ρ̂).
  const IsotypicBasis& basis() const { return basis_; }

  EIsotypicBasisOptions options;

 private:
  IsotypicBasis basis_;
  at::Tensor weight_;  // float64 master: Q_isoᵀ or Q_iso, (D, D)
  DeviceCache<at::Tensor> converted_;
};
TORCH_MODULE(EIsotypicBasis);

}  // namespace eqnn
