// The FFT path for cyclic groups (cyclic_fourier.hpp): the generator's powers order each regular copy, θ
// gives the circulants' first columns, and ATen's real FFT does the changes of basis.
#include "eqnn/group_theory/cyclic_fourier.hpp"

#include <algorithm>
#include <atomic>
#include <complex>
#include <utility>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/custom_function.h>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/internal/autograd_support.hpp"
#include "eqnn/group_theory/internal/cyclic_fourier_kernels.hpp"
#include "eqnn/group_theory/internal/index_vectors.hpp"

namespace eqnn {

struct CyclicFourierHom::Tensors {
  at::Tensor in_order;     // (D_in) int64: coordinate of (copy, power) in the input; undefined if identity
  at::Tensor out_inverse;  // (D_out) int64: position in (copy, power) order of each output coordinate; ditto
  at::Tensor c_index;      // (m_out · m_in · n) int64: θ index of c_ai[s]
  at::Tensor c_factor;     // same shape, θ's dtype: its factor; undefined when every factor is 1

  std::shared_ptr<const Tensors> to(const at::TensorOptions& o) const {
    auto t = std::make_shared<Tensors>();
    auto dev = [&](const at::Tensor& x) { return x.defined() ? x.to(o.device()) : x; };
    t->in_order = dev(in_order);
    t->out_inverse = dev(out_inverse);
    t->c_index = dev(c_index);
    t->c_factor = c_factor.defined() ? c_factor.to(o) : c_factor;
    return t;
  }
};

namespace {

// The first element of order n (a generator of the cyclic group), or -1.
int cyclic_generator(const Group& g) {
  const int n = g.order();
  if (n == 1) return 0;
  for (int a = 1; a < n; ++a) {
    int x = a, k = 1;
    for (; x != 0; ++k) x = g.mul(x, a);
    if (k == n) return a;
  }
  return -1;
}

// The coordinates of each regular orbit of `perm` (the generator's permutation) in the order of its powers,
// starting from the orbit's smallest coordinate; empty when an orbit is not of length n.
std::vector<int64_t> power_order(const Permutation& perm, int64_t n) {
  const auto D = static_cast<int64_t>(perm.size());
  std::vector<char> seen(static_cast<size_t>(D), 0);
  std::vector<int64_t> order;
  order.reserve(static_cast<size_t>(D));
  for (int64_t i = 0; i < D; ++i) {
    if (seen[static_cast<size_t>(i)]) continue;
    int64_t x = i, length = 0;
    do {
      seen[static_cast<size_t>(x)] = 1;
      order.push_back(x);
      x = perm[static_cast<size_t>(x)];
      ++length;
    } while (x != i && length <= n);
    if (length != n || x != i) return {};
  }
  return order;
}

// rfft along the last axis, with a cheaper backward than ATen's (which pads the half spectrum and runs a full
// complex FFT): for a real input ∂L/∂x_t = Σ_k Re(G_k e^{2πikt/n}) over the half spectrum, that is an
// unnormalised inverse real FFT of G with the bins that irfft doubles (0 < k < n/2) halved.
struct HalfSpectrumFunction : torch::autograd::Function<HalfSpectrumFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t n) {
    ctx->saved_data["n"] = n;
    return at::fft_rfft(x, n, -1);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const int64_t n = ctx->saved_data["n"].toInt();
    const at::Tensor& g = grads[0];
    at::Tensor w = at::full({n / 2 + 1}, 0.5, g.options().dtype(c10::toRealValueType(g.scalar_type())));
    w[0] = 1.0;
    if (n % 2 == 0) w[n / 2] = 1.0;
    return {at::fft_irfft(g * w, n, -1, "forward"), at::Tensor()};
  }
};

// The products in frequency: Y[b, o, k] = Σ_i C[o, i, k] X[b, i, k], and its adjoints, in the layouts the
// FFTs read and write (no transposes). Each output row is a sum over strided rows of complex products, kept
// in registers: out[k] = Σ_r f(a_r[k], b_r[k]) with a_r = a + r·sa, b_r = b + r·sb (complex numbers,
// interleaved re/im), f(α, β) = αβ or conj(α)β.
template <typename T, bool Conj>
void sum_rows_scalar(const T* a, int64_t sa, const T* b, int64_t sb, int64_t rows, T* out, int64_t K,
                     bool add) {
  if (!add)
    for (int64_t k = 0; k < 2 * K; ++k) out[k] = T(0);
  for (int64_t r = 0; r < rows; ++r, a += sa, b += sb)
    for (int64_t k = 0; k < K; ++k) {
      const T ar = a[2 * k], ai = a[2 * k + 1], br = b[2 * k], bi = b[2 * k + 1];
      out[2 * k] += Conj ? ar * br + ai * bi : ar * br - ai * bi;
      out[2 * k + 1] += Conj ? ar * bi - ai * br : ar * bi + ai * br;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
using internal::has_avx512;

// Eight complex float lanes: re·re ∓ im·im in the even lanes, re·im ± im·re in the odd ones (fmaddsub and
// fmsubadd), the accumulator in a register across the rows.
template <bool Conj>
__attribute__((target("avx512f"))) void sum_rows_avx512(const float* a, int64_t sa, const float* b,
                                                        int64_t sb, int64_t rows, float* out, int64_t K,
                                                        bool add) {
  for (int64_t j = 0; j < 2 * K; j += 16) {
    const int64_t left = 2 * K - j;
    const auto m = static_cast<__mmask16>(left >= 16 ? 0xFFFF : (1u << left) - 1u);
    __m512 acc = add ? _mm512_maskz_loadu_ps(m, out + j) : _mm512_setzero_ps();
    const float* pa = a + j;
    const float* pb = b + j;
    for (int64_t r = 0; r < rows; ++r, pa += sa, pb += sb) {
      const __m512 va = _mm512_maskz_loadu_ps(m, pa), vb = _mm512_maskz_loadu_ps(m, pb);
      const __m512 t = _mm512_mul_ps(_mm512_movehdup_ps(va), _mm512_permute_ps(vb, 0xB1));
      acc = _mm512_add_ps(acc, Conj ? _mm512_fmsubadd_ps(_mm512_moveldup_ps(va), vb, t)
                                    : _mm512_fmaddsub_ps(_mm512_moveldup_ps(va), vb, t));
    }
    _mm512_mask_storeu_ps(out + j, m, acc);
  }
}

template <bool Conj>
__attribute__((target("avx512f"))) void sum_rows_avx512(const double* a, int64_t sa, const double* b,
                                                        int64_t sb, int64_t rows, double* out, int64_t K,
                                                        bool add) {
  for (int64_t j = 0; j < 2 * K; j += 8) {
    const int64_t left = 2 * K - j;
    const auto m = static_cast<__mmask8>(left >= 8 ? 0xFF : (1u << left) - 1u);
    __m512d acc = add ? _mm512_maskz_loadu_pd(m, out + j) : _mm512_setzero_pd();
    const double* pa = a + j;
    const double* pb = b + j;
    for (int64_t r = 0; r < rows; ++r, pa += sa, pb += sb) {
      const __m512d va = _mm512_maskz_loadu_pd(m, pa), vb = _mm512_maskz_loadu_pd(m, pb);
      const __m512d t = _mm512_mul_pd(_mm512_permute_pd(va, 0xFF), _mm512_permute_pd(vb, 0x55));
      acc = _mm512_add_pd(acc, Conj ? _mm512_fmsubadd_pd(_mm512_movedup_pd(va), vb, t)
                                    : _mm512_fmaddsub_pd(_mm512_movedup_pd(va), vb, t));
    }
    _mm512_mask_storeu_pd(out + j, m, acc);
  }
}
#endif

std::atomic<bool> portable_kernels{false};

// out = Σ_r f(a_r, b_r), or out += it when `add`.
template <typename T, bool Conj>
void sum_rows(const T* a, int64_t sa, const T* b, int64_t sb, int64_t rows, T* out, int64_t K,
              bool add = false) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (!portable_kernels.load(std::memory_order_relaxed) && has_avx512())
    return sum_rows_avx512<Conj>(a, sa, b, sb, rows, out, K, add);
#endif
  sum_rows_scalar<T, Conj>(a, sa, b, sb, rows, out, K, add);
}

// Y (B, mo, K) = Σ_i C[o, i] ⊙ X[b, i];  X (B, mi, K), C (mo, mi, K), contiguous complex.
at::Tensor mix(const at::Tensor& X, const at::Tensor& C) {
  const int64_t B = X.size(0), mi = X.size(1), K = X.size(2), mo = C.size(0);
  at::Tensor Y = at::empty({B, mo, K}, X.options());
  AT_DISPATCH_FLOATING_TYPES(c10::toRealValueType(X.scalar_type()), "cyclic_fourier_mix", [&] {
    const auto* x = reinterpret_cast<const scalar_t*>(X.const_data_ptr());
    const auto* c = reinterpret_cast<const scalar_t*>(C.const_data_ptr());
    auto* y = reinterpret_cast<scalar_t*>(Y.mutable_data_ptr());
    at::parallel_for(0, B * mo, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t b = r / mo, o = r % mo;
        sum_rows<scalar_t, false>(c + o * mi * 2 * K, 2 * K, x + b * mi * 2 * K, 2 * K, mi, y + r * 2 * K, K);
      }
    });
  });
  return Y;
}

// ∂/∂X: G_X[b, i] = Σ_o conj(C[o, i]) ⊙ G[b, o].
at::Tensor mix_grad_x(const at::Tensor& G, const at::Tensor& C) {
  const int64_t B = G.size(0), mo = G.size(1), K = G.size(2), mi = C.size(1);
  at::Tensor GX = at::empty({B, mi, K}, G.options());
  AT_DISPATCH_FLOATING_TYPES(c10::toRealValueType(G.scalar_type()), "cyclic_fourier_mix_grad_x", [&] {
    const auto* g = reinterpret_cast<const scalar_t*>(G.const_data_ptr());
    const auto* c = reinterpret_cast<const scalar_t*>(C.const_data_ptr());
    auto* gx = reinterpret_cast<scalar_t*>(GX.mutable_data_ptr());
    at::parallel_for(0, B * mi, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        const int64_t b = r / mi, i = r % mi;
        sum_rows<scalar_t, true>(c + i * 2 * K, mi * 2 * K, g + b * mo * 2 * K, 2 * K, mo, gx + r * 2 * K, K);
      }
    });
  });
  return GX;
}

// ∂/∂C: G_C[o, i] = Σ_b conj(X[b, i]) ⊙ G[b, o], by tiles of tokens (which stay in cache while every pair
// (o, i) sums over them in registers) into a (mo, mi, K) sum; one partial sum per chunk of tokens when
// threads share the work, added in chunk order.
constexpr int64_t kTokenTile = 32;

at::Tensor mix_grad_c(const at::Tensor& G, const at::Tensor& X) {
  const int64_t B = G.size(0), mo = G.size(1), K = G.size(2), mi = X.size(1);
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), B / 256));
  at::Tensor partial = at::zeros({chunks, mo, mi, K}, G.options());
  AT_DISPATCH_FLOATING_TYPES(c10::toRealValueType(G.scalar_type()), "cyclic_fourier_mix_grad_c", [&] {
    const auto* g = reinterpret_cast<const scalar_t*>(G.const_data_ptr());
    const auto* x = reinterpret_cast<const scalar_t*>(X.const_data_ptr());
    auto* gc = reinterpret_cast<scalar_t*>(partial.mutable_data_ptr());
    at::parallel_for(0, chunks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t ch = lo; ch < hi; ++ch) {
        scalar_t* acc = gc + ch * mo * mi * 2 * K;
        const int64_t end = (ch + 1) * B / chunks;
        for (int64_t b0 = ch * B / chunks; b0 < end; b0 += kTokenTile) {
          const int64_t nb = std::min(kTokenTile, end - b0);
          for (int64_t o = 0; o < mo; ++o)
            for (int64_t i = 0; i < mi; ++i)
              sum_rows<scalar_t, true>(x + (b0 * mi + i) * 2 * K, mi * 2 * K, g + (b0 * mo + o) * 2 * K,
                                       mo * 2 * K, nb, acc + (o * mi + i) * 2 * K, K, true);
        }
      }
    });
  });
  return chunks == 1 ? partial[0] : partial.sum(0);
}

// The product as one autograd node. A backward that must itself be differentiable (create_graph) is
// written in ATen operations.
struct SpectralMixFunction : torch::autograd::Function<SpectralMixFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& X, const at::Tensor& C) {
    ctx->save_for_backward({X, C});
    return mix(X, C);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &X = saved[0], &C = saved[1];
    const at::Tensor G = grads[0].contiguous();
    at::Tensor gx, gc;
    if (c10::GradMode::is_enabled()) {
      if (ctx->needs_input_grad(0)) gx = at::einsum("bok,oik->bik", {G, C.conj()});
      if (ctx->needs_input_grad(1)) gc = at::einsum("bok,bik->oik", {G, X.conj()});
    } else {
      if (ctx->needs_input_grad(0)) gx = mix_grad_x(G, C);
      if (ctx->needs_input_grad(1)) gc = mix_grad_c(G, X);
    }
    return {gx, gc};
  }
};

using internal::is_identity;
using internal::long_tensor;
using internal::plain_autograd;

at::Tensor spectral_mix(const at::Tensor& X, const at::Tensor& C) {
  if (X.device().is_cpu() && plain_autograd(X) && plain_autograd(C))
    return SpectralMixFunction::apply(X.contiguous(), C.contiguous());
  // Elsewhere (CUDA), batched over the frequencies.
  return at::bmm(X.permute({2, 0, 1}), C.permute({2, 1, 0})).permute({1, 2, 0});
}

// Forward-mode tangents, functorch transforms and the JIT tracer take ATen's own rfft.
at::Tensor half_spectrum(const at::Tensor& x, int64_t n) {
  return plain_autograd(x) ? HalfSpectrumFunction::apply(x, n) : at::fft_rfft(x, n, -1);
}

}  // namespace

std::shared_ptr<const CyclicFourierHom> CyclicFourierHom::get(const HomSpacePtr& hom, std::string* why) {
  auto fail = [&](std::string reason) -> std::shared_ptr<const CyclicFourierHom> {
    if (why) *why = std::move(reason);
    return nullptr;
  };
  const RepPtr& in = hom->in();
  const RepPtr& out = hom->out();
  const Group& group = in->group();
  if (group.is_compact())
    return fail(fmt::format("{} is a compact group, not a finite cyclic one", group.name()));
  const int gen = cyclic_generator(group);
  if (gen < 0) return fail(fmt::format("{} is not cyclic", group.name()));
  if (!in->is_permutation() || !out->is_permutation() || hom->method() != HomSpace::Method::orbit)
    return fail(fmt::format("Hom({}, {}) is not between permutation representations", in->describe(),
                            out->describe()));
  const int64_t n = group.order();
  const auto in_order = power_order(in->permutation(gen), n);
  const auto out_order = power_order(out->permutation(gen), n);
  if (in_order.empty() || out_order.empty())
    return fail(fmt::format("{} is not made of copies of the regular representation of {}",
                            in_order.empty() ? in->describe() : out->describe(), group.name()));

  auto h = std::shared_ptr<CyclicFourierHom>(new CyclicFourierHom());
  h->hom_ = hom;
  h->n_ = n;
  h->m_in_ = in->size() / n;
  h->m_out_ = out->size() / n;
  auto t = std::make_shared<Tensors>();
  if (!is_identity(in_order)) t->in_order = long_tensor(in_order);
  if (!is_identity(out_order)) {
    std::vector<int64_t> inverse(out_order.size());
    for (size_t j = 0; j < out_order.size(); ++j)
      inverse[static_cast<size_t>(out_order[j])] = static_cast<int64_t>(j);
    t->out_inverse = long_tensor(inverse);
  }
  // c_ai[s] = W[(a, s), (i, 0)].
  std::vector<int64_t> rows, cols;
  rows.reserve(static_cast<size_t>(h->m_out_ * h->m_in_ * n));
  cols.reserve(rows.capacity());
  for (int64_t a = 0; a < h->m_out_; ++a)
    for (int64_t i = 0; i < h->m_in_; ++i)
      for (int64_t s = 0; s < n; ++s) {
        rows.push_back(out_order[static_cast<size_t>(a * n + s)]);
        cols.push_back(in_order[static_cast<size_t>(i * n)]);
      }
  auto [index, factor] = hom->orbit_entries(long_tensor(rows), long_tensor(cols));
  t->c_index = index;
  if (!(factor == 1.0).all().item<bool>()) t->c_factor = factor;
  h->base_ = t;
  return h;
}

void set_cyclic_fourier_portable_kernels(bool portable) { portable_kernels.store(portable); }

bool CyclicFourierHom::serves(const at::Tensor& x) {
  return x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble;
}

const CyclicFourierHom::Tensors& CyclicFourierHom::tensors_for(const at::TensorOptions& options) const {
  if (options.dtype() == at::kDouble && options.device().is_cpu()) return *base_;
  return *converted_.get(options, [this](const at::TensorOptions& o) { return base_->to(o); });
}

at::Tensor CyclicFourierHom::apply(const at::Tensor& theta, const at::Tensor& x,
                                   const at::Tensor& bias) const {
  TORCH_CHECK(serves(x), "CyclicFourierHom::apply: the FFT path takes float32 or float64 features, got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() == 2 && x.size(1) == n_ * m_in_, "CyclicFourierHom::apply: expected (N, ", n_ * m_in_,
              ") features, got ", x.sizes());
  TORCH_CHECK(theta.dim() == 1 && theta.size(0) == hom_->dim(), "CyclicFourierHom::apply: expected (",
              hom_->dim(), ") coefficients, got ", theta.sizes());
  const auto& t = tensors_for(theta.options());
  const int64_t N = x.size(0);
  // The circulants' spectra, laid out for the product: (K, m_in, m_out).
  at::Tensor c = theta.index_select(0, t.c_index);
  if (t.c_factor.defined()) c = c * t.c_factor;
  const at::Tensor C = half_spectrum(c.view({m_out_, m_in_, n_}), n_);  // (m_out, m_in, K)
  // Features: (copy, power) order, spectra per copy (N, m_in, K), the products, and back.
  at::Tensor xs = t.in_order.defined() ? x.index_select(1, t.in_order) : x;
  const at::Tensor X = half_spectrum(xs.reshape({N, m_in_, n_}), n_);
  const at::Tensor Y = spectral_mix(X, C);  // (N, m_out, K)
  at::Tensor y = at::fft_irfft(Y, n_, -1).reshape({N, m_out_ * n_});
  if (t.out_inverse.defined()) y = y.index_select(1, t.out_inverse);
  // y is this call's own tensor, and neither irfft's nor index_select's backward reads it.
  return bias.defined() ? y.add_(bias) : y;
}

}  // namespace eqnn

namespace eqnn {

at::Tensor CyclicFourierHom::apply_conv(const at::Tensor& theta, int64_t taps, const at::Tensor& x,
                                        const at::Tensor& bias, const RealConv& conv) const {
  TORCH_CHECK(serves(x), "CyclicFourierHom::apply_conv: the FFT path takes float32 or float64 features, got ",
              x.scalar_type());
  TORCH_CHECK(x.dim() == 3 && x.size(1) == n_ * m_in_, "CyclicFourierHom::apply_conv: expected (N, ",
              n_ * m_in_, ", L) features, got ", x.sizes());
  TORCH_CHECK(taps >= 1 && theta.dim() == 1 && theta.size(0) == taps * hom_->dim(),
              "CyclicFourierHom::apply_conv: expected (", taps * hom_->dim(), ") coefficients, got ",
              theta.sizes());
  const auto& t = tensors_for(theta.options());
  const int64_t N = x.size(0), L = x.size(2), K = n_ / 2 + 1;
  // Per tap, the circulants' spectra (taps, m_out, m_in, K), as a real grouped kernel: bin-major output
  // channels (k, re/im, o), input channels (k, re/im, i), taps last.
  at::Tensor c = theta.view({taps, hom_->dim()}).index_select(1, t.c_index);
  if (t.c_factor.defined()) c = c * t.c_factor;
  const at::Tensor C = half_spectrum(c.view({taps, m_out_, m_in_, n_}), n_);
  const at::Tensor Cr = at::real(C), Ci = at::imag(C);
  const at::Tensor W = at::stack({at::cat({Cr, -Ci}, 2), at::cat({Ci, Cr}, 2)}, 1)  // (taps, 2, mo, 2 mi, K)
                           .permute({4, 1, 2, 3, 0})
                           .reshape({K * 2 * m_out_, 2 * m_in_, taps});
  // Features: (copy, power) order, spectra over the group axis, channels (k, re/im, i).
  const at::Tensor xs = t.in_order.defined() ? x.index_select(1, t.in_order) : x;
  const at::Tensor X =
      at::view_as_real(at::fft_rfft(xs.reshape({N, m_in_, n_, L}), n_, 2))  // (N, mi, K, L, 2)
          .permute({0, 2, 4, 1, 3})
          .reshape({N, K * 2 * m_in_, L});
  const at::Tensor Yr = conv(X, W, K);  // (N, K · 2 · mo, L')
  const int64_t Lo = Yr.size(2);
  const at::Tensor Y = at::view_as_complex(
      Yr.view({N, K, 2, m_out_, Lo}).permute({0, 3, 1, 4, 2}).contiguous());  // (N, mo, K, L')
  at::Tensor y = at::fft_irfft(Y, n_, 2).reshape({N, m_out_ * n_, Lo});
  if (t.out_inverse.defined()) y = y.index_select(1, t.out_inverse);
  return bias.defined() ? y.add_(bias.view({1, -1, 1})) : y;
}

}  // namespace eqnn
