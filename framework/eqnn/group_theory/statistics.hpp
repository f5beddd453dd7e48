// Symmetry-constrained sample statistics of a G-distributed random vector x ∈ R^D with a representation ρ:
// the mean lies in the invariant subspace, the variance is constant on every irreducible copy, and the
// cross-covariance is G-equivariant. Each is the empirical statistic projected onto the set a G-invariant
// distribution's statistic lies in (symm_learning's stats module, with its time-axis fold corrected).
//
//   x: (N, D) samples, or (N, D, T): a time axis is folded into the samples, x.permute(0, 2, 1).reshape(-1,
//   D) mean(x)      = P_inv x̄                          P_inv = Q_triv Q_trivᵀ var(x)       = (Q∘Q) v,  v_j =
//   avg over j's irreducible copy of Σ_n ẑ_nj² / n,   ẑ = Qᵀ(x − μ) cov(x, y)    = Π_Hom(ρx→ρy)(Σ_n y*_n
//   x*_nᵀ / n)   (D_y × D_x), x* = x − mean(x) unless uncentered
// n = N−1 when unbiased (and centred), else N; the uncentred second moment always divides by N.
#pragma once

#include <optional>
#include <utility>

#include <ATen/core/Tensor.h>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn::stats {

/// The samples of `x` as rows of an (M, D) matrix: (N, D) as is, (N, D, T) as x.permute(0, 2, 1).reshape(-1,
/// D) (sample n at time t is one row). Throws ConfigError, prefixed by `who`, for any other shape, a feature
/// axis that is not `rep`'s size, no samples, or a non-floating dtype.
at::Tensor fold_samples(const at::Tensor& x, const Representation& rep, const char* who,
                        const char* name = "x");

/// The G-invariant sample mean, (D,):  auto mu = eqnn::stats::mean(x, rep);
at::Tensor mean(const at::Tensor& x, const RepPtr& rep);

/// The per-dimension variance constrained to be constant on each irreducible copy of ρ (in the basis Q of
/// `rep`), (D,). `center` (D,) defaults to mean(x, rep); unbiased divides by N−1 (needs N ≥ 2), else by N.
at::Tensor var(const at::Tensor& x, const RepPtr& rep, const std::optional<at::Tensor>& center = std::nullopt,
               bool unbiased = true);

/// (var(x, rep, mean(x, rep), unbiased), mean(x, rep)).
std::pair<at::Tensor, at::Tensor> var_mean(const at::Tensor& x, const RepPtr& rep, bool unbiased = true);

/// The G-equivariant cross-covariance Cov(y, x), (D_y, D_x): the orthogonal projection onto Hom_G(ρx, ρy) of
/// the empirical one. x and y have the same samples (same N, and same T for 3-D inputs).
at::Tensor cov(const at::Tensor& x, const at::Tensor& y, const RepPtr& rep_x, const RepPtr& rep_y,
               bool uncentered = false, bool unbiased = true);

}  // namespace eqnn::stats
