// The orbit path's expansion W[x] = c[x] · θ[o(x)] (o(x) the orbit of the pair x = (row, col), c[x] its
// scale · sign, 0 on a dead pair) as one autograd node on the CPU, and its adjoint, the per-orbit sum
// g_θ[s] = Σ_{o(x) = s} c[x] g_W[x]. The pairs are stored as tiles (a row range × a column range, each a
// union of orbits' supports) that share int32 patterns of local orbit ids: Ico "8x regular" → "24x regular"
// keeps one 60×60 pattern instead of a 691 200-entry int64 index, so both directions stream W once.
// Values are those of θ.index_select(o) · c and its gradient index_add's, bit for bit: each orbit's
// pairs are summed in ascending x, the order of index_add.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

namespace eqnn {

class OrbitExpansion {
 public:
  /// index: (rows·cols) int64 orbit ids in [0, dim), row-major; coef: undefined (every c = 1) or
  /// (rows·cols) float64. row_starts / col_starts: the first row (column) of each tile range, starting at 0,
  /// increasing; a range that cuts an orbit's support makes the whole matrix one tile (still exact).
  OrbitExpansion(const at::Tensor& index, const at::Tensor& coef, int64_t rows, int64_t cols, int64_t dim,
                 const std::vector<int64_t>& row_starts, const std::vector<int64_t>& col_starts);

  /// expand() serves θ when it is a CPU floating-point tensor of shape (dim) with storage (not a functorch
  /// wrapper), no forward-mode tangent, and no functorch transform or JIT trace is running; otherwise
  /// callers use index_select.
  bool serves(const at::Tensor& theta) const;
  /// (dim) → (rows, cols), differentiable any number of times (the backward of one is the other).
  at::Tensor expand(const at::Tensor& theta) const;
  /// The two kernels without autograd: (dim) → (rows, cols) and (rows, cols) → (dim).
  at::Tensor gather(const at::Tensor& theta) const;
  at::Tensor reduce(const at::Tensor& grad) const;

  int64_t tiles() const { return layout_.tiles.size(0); }
  int64_t patterns() const { return patterns_count_; }

  /// The tensors one autograd node keeps (shared, never copied).
  struct Layout {
    at::Tensor tiles;     // (T, 7) int64: row0, rows, col0, cols, base orbit id, pattern offset, flags
    at::Tensor patterns;  // int32 orbit ids relative to the tile's base, row-major per tile
    at::Tensor
        inverse;      // int32, aligned with patterns: in a row that is a permutation, the column of each id
    at::Tensor coef;  // undefined, or float64 aligned with patterns
    int64_t rows = 0, cols = 0, dim = 0;
    bool assigns_all = false;  // every tile bijective and together they hold every orbit
  };

 private:
  Layout layout_;
  int64_t patterns_count_ = 0;
};

}  // namespace eqnn
