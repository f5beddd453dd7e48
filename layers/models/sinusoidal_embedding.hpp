// The sinusoidal embedding of a scalar step (a diffusion or flow-matching time), shared by
// eConditionalUnet1D and eCondTransformer, as diffusion_policy's SinusoidalPosEmb computes it:
//   half = dim / 2,  f_i = exp(−i · ln(10⁴) / max(half − 1, 1))  (i < half),
//   emb(t) = [sin(t f_0), …, sin(t f_{half−1}), cos(t f_0), …, cos(t f_{half−1})]   (concatenated halves).
// symm_learning's docstring describes interleaved sin/cos; its code (and this) concatenates. The group
// does not act on t, so the embedding is invariant.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace eqnn {

/// t: a scalar or (N) → (N, dim) (a scalar gives (1, dim)) in `t`'s floating dtype (an integer t is taken in
/// float32). `dim` must be even and ≥ 2 (checked: an odd dim would silently give dim − 1 features).
at::Tensor sinusoidal_embedding(const at::Tensor& t, int64_t dim);

}  // namespace eqnn
