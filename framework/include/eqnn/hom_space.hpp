// Hom_G(ρ_in, ρ_out): the linear maps W with ρ_out(g) W = W ρ_in(g). Dimension, a Frobenius-orthonormal
// basis (never materialised), expansion from coefficients, the orthogonal projection Π and initial
// sampling. Uses the orbit fast path when both representations have a permutation structure.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include "eqnn/representation.hpp"

namespace at {
class Generator;
}

namespace eqnn {

enum class InitScheme { xavier_normal, xavier_uniform, kaiming_normal, kaiming_uniform, zeros };
/// Parses "xavier_normal", ...; throws ConfigError listing the known schemes (with "did you mean").
InitScheme parse_init_scheme(const std::string& name);
std::string to_string(InitScheme s);
/// The per-entry variance the stock scheme gives a dense (rows × cols) weight.
double stock_variance(InitScheme s, int64_t rows, int64_t cols);

/// The equivariant linear maps between two representations of the same group.
///
///   auto hom = HomSpace::get(in, out);       // cached by content
///   at::Tensor theta = hom->sample(InitScheme::xavier_normal, at::kFloat);
///   at::Tensor W = hom->expand(theta);       // (out.size, in.size), exactly equivariant
class HomSpace {
 public:
  enum class Method { orbit, isotypic };

  /// Cached by the representations' content; thread-safe.
  static std::shared_ptr<const HomSpace> get(const RepPtr& in, const RepPtr& out);
  /// Builds without the cache, forcing a method (tests compare the two paths).
  static std::shared_ptr<const HomSpace> build(const RepPtr& in, const RepPtr& out, Method method);

  const RepPtr& in() const { return in_; }
  const RepPtr& out() const { return out_; }
  int64_t dim() const { return dim_; }
  Method method() const { return method_; }
  std::string method_name() const { return method_ == Method::orbit ? "orbit" : "isotypic"; }

  /// (..., dim) → (..., D_out, D_in), W = Σ_s θ_s B_s. Differentiable; dtype/device of the input.
  at::Tensor expand(const at::Tensor& coefficients) const;
  /// (..., D_out, D_in) → (..., dim), θ_s = ⟨W, B_s⟩. Differentiable. expand(analyse(W)) = Π(W).
  at::Tensor analyse(const at::Tensor& W) const;
  /// Orthogonal (Frobenius) projection onto Hom_G. Idempotent and self-adjoint.
  at::Tensor project(const at::Tensor& W) const { return expand(analyse(W)); }
  /// Coefficients whose expansion has, on average, the stock scheme's per-entry variance for a dense
  /// (D_out × D_in) weight: Var θ = σ² D_out D_in / dim.
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
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::shared_ptr<Plan>> converted_;
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
  mutable std::mutex mutex_;
  mutable std::map<std::string, at::Tensor> converted_;
};

}  // namespace eqnn
