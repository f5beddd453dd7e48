// Hom_G(ρ_in, ρ_out): the linear maps W with ρ_out(g) W = W ρ_in(g). Dimension, an optimiser-fair
// Frobenius-orthogonal basis (never materialised), expansion from coefficients, the orthogonal projection Π
// and initial sampling. Uses the orbit fast path when both representations have a permutation structure.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include "eqnn/group_theory/init_scheme.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// The equivariant linear maps between two representations of the same group.
///
///   auto hom = HomSpace::get(in, out);       // cached by content
///   at::Tensor theta = hom->sample(InitScheme::stock, at::kFloat);
///   at::Tensor W = hom->expand(theta);       // (out.size, in.size), exactly equivariant
///
/// The basis is optimiser-fair rather than orthonormal: its elements are Frobenius-orthogonal with
/// Σ_s ‖B_s‖² = D_out·D_in (orbit indicators on the orbit path; orthonormal elements times
/// sqrt(D_out D_in / dim) on the isotypic path), so Adam at a stock learning rate moves the effective
/// weight as much as it moves a stock layer's.
class HomSpace {
 public:
  enum class Method { orbit, isotypic };

  /// Cached by the representations' content; thread-safe.
  static std::shared_ptr<const HomSpace> get(const RepPtr& in, const RepPtr& out);
  /// Builds without the cache, forcing a method (tests compare the two paths).
  static std::shared_ptr<const HomSpace> build(const RepPtr& in, const RepPtr& out, Method method);
  // get() and build() throw GroupError, naming both sizes and the limit, for a weight of more than
  // max_matrix_entries() (util/limits.hpp) entries, before allocating anything of that size.

  const RepPtr& in() const { return in_; }
  const RepPtr& out() const { return out_; }
  int64_t dim() const { return dim_; }
  Method method() const { return method_; }
  std::string method_name() const { return method_ == Method::orbit ? "orbit" : "isotypic"; }

  /// (..., dim) → (..., D_out, D_in), W = Σ_s θ_s B_s. Differentiable; dtype/device of the input.
  at::Tensor expand(const at::Tensor& coefficients) const;
  /// (..., D_out, D_in) → (..., dim), θ_s = ⟨W, B_s⟩ / ‖B_s‖² (the pseudo-inverse of expand: the orbit
  /// mean on the orbit path). Differentiable. analyse(expand(θ)) = θ and expand(analyse(W)) = Π(W).
  at::Tensor analyse(const at::Tensor& W) const;
  /// Orthogonal (Frobenius) projection onto Hom_G. Idempotent and self-adjoint.
  at::Tensor project(const at::Tensor& W) const { return expand(analyse(W)); }
  /// Multiply-adds of one expand() in matrix products: an orbit space's change of basis (where its reps are
  /// permutation reps in a changed basis), an isotypic space's products with Q's columns (none where Q = I)
  /// and with the endomorphism bases. The orbit gather and the index copies are not counted. What auto's
  /// cost model (layers/linear/linear_execution.cpp) charges the dense path for expanding its weight.
  int64_t expansion_products() const;
  /// The orbit path's entries: W[rows[x], cols[x]] = factor[x] · θ[index[x]] (factor 0 on a pair that no
  /// coefficient reaches). rows, cols: int64 (any shape); returns {index int64, factor float64} of that
  /// shape, read from the plan (no expansion). Throws on the isotypic path.
  std::pair<at::Tensor, at::Tensor> orbit_entries(const at::Tensor& rows, const at::Tensor& cols) const;
  /// Coefficients whose expansion has, on average, the scheme's per-entry variance for a dense
  /// (D_out × D_in) weight: θ_s i.i.d. with the scheme's law and variance (Σ_s ‖B_s‖² = D_out·D_in). On the
  /// orbit path every entry then has exactly the stock scheme's distribution.
  at::Tensor sample(InitScheme scheme, const at::TensorOptions& options,
                    c10::optional<at::Generator> generator = c10::nullopt) const;

 private:
  HomSpace() = default;
  struct Plan;  // float64 CPU tensors; converted per (dtype, device) on demand
  const Plan& plan_for(const at::TensorOptions& options) const;

  RepPtr in_, out_;
  int64_t dim_ = 0;
  Method method_ = Method::isotypic;
  std::shared_ptr<Plan> base_;
  DeviceCache<std::shared_ptr<Plan>> converted_;
};

using HomSpacePtr = std::shared_ptr<const HomSpace>;

/// The invariant vectors of ρ: dim = multiplicity of the trivial irrep; expansion b = Q_triv θ.
class InvariantSpace {
 public:
  static std::shared_ptr<const InvariantSpace> get(const RepPtr& rep);
  const RepPtr& rep() const { return rep_; }
  int64_t dim() const { return dim_; }
  /// (..., dim) → (..., D)
  at::Tensor expand(const at::Tensor& coefficients) const;
  /// (..., D) → (..., dim)
  at::Tensor analyse(const at::Tensor& v) const;
  at::Tensor project(const at::Tensor& v) const { return expand(analyse(v)); }

 private:
  InvariantSpace() = default;
  /// basis_ converted once per dtype/device.
  at::Tensor basis_for(const at::TensorOptions& options) const;
  RepPtr rep_;
  int64_t dim_ = 0;
  at::Tensor basis_;  // (D, dim) float64, orthonormal columns
  DeviceCache<at::Tensor> converted_;
};

}  // namespace eqnn
