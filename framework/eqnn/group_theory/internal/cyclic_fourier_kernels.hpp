// Test hook of the FFT path's frequency products (cyclic_fourier.cpp): run the portable loops even where the
// AVX-512 kernels would serve, so tests cover both on a machine that has AVX-512.
#pragma once

namespace eqnn {

void set_cyclic_fourier_portable_kernels(bool portable);

}  // namespace eqnn
