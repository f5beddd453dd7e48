// change_back (internal/change_of_basis_kernel.hpp): the isotypic product's change back to original
// coordinates as an AVX-512 micro-kernel.
//
// For a block b and 6 tokens at a time it keeps a 6 × 64 (float; 6 × 32 double) tile of y in 24
// registers: one pass over j broadcasts buf[j, b, n] (6 consecutive values of a row of the buffer) and
// multiplies a row of basisᵀ packed in 64-wide panels (in L1 for r ≤ 64). Each output row of the tile is
// then stored once, with the bias. BLAS handles the same product as a GEMM whose wide operand is read
// transposed and whose output rows are narrow and strided; on the Ico 16x regular case (60 × 60 blocks,
// 4096 tokens, float) it runs 12.5 ms where this runs 5.6.
#include "eqnn/group_theory/internal/change_of_basis_kernel.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include <ATen/Parallel.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "eqnn/group_theory/internal/autograd_support.hpp"
#define EQNN_CHANGE_BACK_AVX512 1
#endif

namespace eqnn::internal {
namespace {

std::atomic<bool> portable{false};

#ifdef EQNN_CHANGE_BACK_AVX512
#define EQNN_AVX512 __attribute__((target("avx512f"))) static inline

template <typename T>
struct Lanes;

template <>
struct Lanes<float> {
  using V = __m512;
  using M = __mmask16;
  static constexpr int64_t L = 16;
  static M mask(int64_t n) { return n >= L ? M(0xFFFF) : n <= 0 ? M(0) : M((1u << n) - 1u); }
  EQNN_AVX512 V zero() { return _mm512_setzero_ps(); }
  EQNN_AVX512 V load(const float* p) { return _mm512_loadu_ps(p); }
  EQNN_AVX512 V load(M m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
  EQNN_AVX512 V broadcast(float a) { return _mm512_set1_ps(a); }
  EQNN_AVX512 V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  EQNN_AVX512 void store(float* p, M m, V v) { _mm512_mask_storeu_ps(p, m, v); }
};

template <>
struct Lanes<double> {
  using V = __m512d;
  using M = __mmask8;
  static constexpr int64_t L = 8;
  static M mask(int64_t n) { return n >= L ? M(0xFF) : n <= 0 ? M(0) : M((1u << n) - 1u); }
  EQNN_AVX512 V zero() { return _mm512_setzero_pd(); }
  EQNN_AVX512 V load(const double* p) { return _mm512_loadu_pd(p); }
  EQNN_AVX512 V load(M m, const double* p) { return _mm512_maskz_loadu_pd(m, p); }
  EQNN_AVX512 V broadcast(double a) { return _mm512_set1_pd(a); }
  EQNN_AVX512 V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  EQNN_AVX512 void store(double* p, M m, V v) { _mm512_mask_storeu_pd(p, m, v); }
};

constexpr int kVectors = 4;  // vectors of output coordinates in a panel
constexpr int kTokens =
    6;  // tokens of a tile: 6 × 4 accumulators, 4 panel rows and a broadcast in 32 registers

// y[t, w] = bias[w] + Σ_j a[j·sj + t] panel[j, w] for t < MR and the panel's W = kVectors·L coordinates w
// (those whose mask lane is set).
template <typename T, int MR>
__attribute__((target("avx512f"))) void tile(const T* a, int64_t sj, int64_t r, const T* panel, const T* bias,
                                             const typename Lanes<T>::M* masks, T* y, int64_t ldy) {
  using S = Lanes<T>;
  using V = typename S::V;
  constexpr int64_t W = kVectors * S::L;
  V acc[MR][kVectors];
#pragma GCC unroll 4
  for (int v = 0; v < kVectors; ++v) {
    const V b0 = bias != nullptr ? S::load(masks[v], bias + v * S::L) : S::zero();
#pragma GCC unroll 8
    for (int t = 0; t < MR; ++t) acc[t][v] = b0;
  }
  for (int64_t j = 0; j < r; ++j, a += sj, panel += W) {
    // The buffer's r rows are r streams, more than the hardware prefetcher follows: ask for the line two
    // tiles ahead (measured: 7.1 -> 5.6 ms on the Ico case).
    _mm_prefetch(reinterpret_cast<const char*>(a + 128 / sizeof(T)), _MM_HINT_T0);
    const V p0 = S::load(panel), p1 = S::load(panel + S::L), p2 = S::load(panel + 2 * S::L),
            p3 = S::load(panel + 3 * S::L);
#pragma GCC unroll 8
    for (int t = 0; t < MR; ++t) {
      const V s = S::broadcast(a[t]);
      acc[t][0] = S::fma(s, p0, acc[t][0]);
      acc[t][1] = S::fma(s, p1, acc[t][1]);
      acc[t][2] = S::fma(s, p2, acc[t][2]);
      acc[t][3] = S::fma(s, p3, acc[t][3]);
    }
  }
#pragma GCC unroll 8
  for (int t = 0; t < MR; ++t)
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) S::store(y + t * ldy + v * S::L, masks[v], acc[t][v]);
}

template <typename T>
void change_back_avx512(const T* buf, int64_t sj, int64_t sb, int64_t m, int64_t N, int64_t r, const T* basis,
                        const T* bias, T* y, int64_t ldy) {
  using S = Lanes<T>;
  constexpr int64_t W = kVectors * S::L;
  const int64_t P = (r + W - 1) / W;
  // packed[(p·r + j)·W + w] = basis[p·W + w, j], zero beyond r.
  std::vector<T> packed(static_cast<size_t>(P * r * W), T(0));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t j = 0; j < r; ++j)
      for (int64_t w = 0; w < W && p * W + w < r; ++w)
        packed[static_cast<size_t>((p * r + j) * W + w)] = basis[(p * W + w) * r + j];
  std::vector<typename S::M> masks(static_cast<size_t>(P * kVectors));
  for (int64_t p = 0; p < P; ++p)
    for (int v = 0; v < kVectors; ++v)
      masks[static_cast<size_t>(p * kVectors + v)] = S::mask(r - p * W - v * S::L);
  const int64_t tiles = (N + kTokens - 1) / kTokens;
  // Tiles write disjoint parts of y. at::parallel_for splits them only in a translation unit compiled with
  // OpenMP, which eqnn's are not (LibTorch's OpenMP runtime is its own bundled libgomp): today this runs on
  // one thread, as do the orbit expansion's and the FFT path's kernels.
  at::parallel_for(0, m * tiles, 64, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / tiles, n0 = (i % tiles) * kTokens, nt = std::min<int64_t>(kTokens, N - n0);
      for (int64_t p = 0; p < P; ++p) {
        const T* a = buf + b * sb + n0;
        const T* panel = packed.data() + p * r * W;
        const T* bp = bias != nullptr ? bias + b * r + p * W : nullptr;
        const auto* mk = masks.data() + p * kVectors;
        T* out = y + n0 * ldy + b * r + p * W;
        if (nt == kTokens)
          tile<T, kTokens>(a, sj, r, panel, bp, mk, out, ldy);
        else
          for (int64_t t = 0; t < nt; ++t) tile<T, 1>(a + t, sj, r, panel, bp, mk, out + t * ldy, ldy);
      }
    }
  });
}
#undef EQNN_AVX512
#endif

}  // namespace

bool change_back(const at::Tensor& buf, const at::Tensor& basis, const at::Tensor& bias, at::Tensor& y,
                 int64_t col0) {
#ifdef EQNN_CHANGE_BACK_AVX512
  const auto dtype = y.scalar_type();
  if (portable.load(std::memory_order_relaxed) || !has_avx512() || !y.device().is_cpu() ||
      (dtype != at::kFloat && dtype != at::kDouble))
    return false;
  TORCH_INTERNAL_ASSERT(buf.dim() == 3 && buf.stride(2) == 1 && buf.scalar_type() == dtype &&
                        buf.device().is_cpu());
  const int64_t r = buf.size(0), m = buf.size(1), N = buf.size(2);
  TORCH_INTERNAL_ASSERT(basis.dim() == 2 && basis.size(0) == r && basis.size(1) == r &&
                        basis.scalar_type() == dtype);
  TORCH_INTERNAL_ASSERT(y.dim() == 2 && y.size(0) == N && y.stride(1) == 1 && col0 >= 0 &&
                        col0 + m * r <= y.size(1));
  TORCH_INTERNAL_ASSERT(!bias.defined() ||
                        (bias.dim() == 1 && bias.size(0) >= col0 + m * r && bias.scalar_type() == dtype));
  const at::Tensor B = basis.contiguous(), c = bias.defined() ? bias.contiguous() : bias;
  if (dtype == at::kFloat)
    change_back_avx512<float>(buf.const_data_ptr<float>(), buf.stride(0), buf.stride(1), m, N, r,
                              B.const_data_ptr<float>(),
                              c.defined() ? c.const_data_ptr<float>() + col0 : nullptr,
                              y.mutable_data_ptr<float>() + col0, y.stride(0));
  else
    change_back_avx512<double>(buf.const_data_ptr<double>(), buf.stride(0), buf.stride(1), m, N, r,
                               B.const_data_ptr<double>(),
                               c.defined() ? c.const_data_ptr<double>() + col0 : nullptr,
                               y.mutable_data_ptr<double>() + col0, y.stride(0));
  return true;
#else
  (void)buf, (void)basis, (void)bias, (void)y, (void)col0;
  return false;
#endif
}

void set_change_back_portable(bool p) { portable.store(p); }

}  // namespace eqnn::internal
