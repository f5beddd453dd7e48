// The isotypic product's change back to original coordinates (isotypic_linear.cpp's from_buffer), as a
// hand-written AVX-512 kernel: BLAS runs this product (a wide operand read transposed, an output of narrow
// strided rows) at about 40% of its dense rate. Internal: included by .cpp files and tests only.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace eqnn::internal {

/// y[n, col0 + b·r + i] = bias[col0 + b·r + i] + Σ_j buf[j, b, n] basis[i, j] for every block b < m, token
/// n < N and coordinate i < r, where buf is (r, m, N) with unit stride along N, basis (r, r) and y (N, ·)
/// with unit stride along its columns; bias may be undefined (then 0). Returns false without touching y
/// where the kernel does not serve (not a CPU tensor, not float or double, no AVX-512, or the portable
/// test hook set): the caller then computes it with ATen.
bool change_back(const at::Tensor& buf, const at::Tensor& basis, const at::Tensor& bias, at::Tensor& y,
                 int64_t col0);

/// Test hook: make change_back decline, so that tests compare the kernel with ATen's product on a machine
/// that has AVX-512.
void set_change_back_portable(bool portable);

}  // namespace eqnn::internal
