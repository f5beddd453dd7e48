// OrbitExpansion: tiling of the orbit index into shared int32 patterns, the gather and per-orbit sum
// kernels, and the two autograd functions (each one's backward is the other).
#include "eqnn/group_theory/internal/orbit_expand.hpp"

#include <algorithm>
#include <map>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/record_function.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "eqnn/group_theory/internal/autograd_support.hpp"

namespace eqnn {
namespace {

using Layout = OrbitExpansion::Layout;

// A tile's row: row0, rows, col0, cols, base orbit id, pattern offset, flags: kBijective if every row of
// the pattern is a permutation of 0..cols-1 (each row meets each of the tile's orbits once: regular ⊗
// regular blocks), kSmall if every local id is in [0, 64) and c = 1 (a register table serves the tile).
constexpr int64_t kTileFields = 7;
constexpr int64_t kBijective = 1, kSmall = 2;

#if defined(__x86_64__) && defined(__GNUC__)
#define EQNN_ORBIT_AVX512 1
// float32 tiles whose local ids fit a 64-entry table held in four AVX-512 registers: one row of 16
// outputs is two two-register permutes and a blend. The same loads and the same additions, in the same
// order per orbit, as the scalar loops.
using internal::has_avx512;

__attribute__((target("avx512f"))) inline __mmask16 lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1);
}

__attribute__((target("avx512f"))) inline __m512 lookup(const __m512* t, __m512i id) {
  const __m512 lo = _mm512_permutex2var_ps(t[0], id, t[1]), hi = _mm512_permutex2var_ps(t[2], id, t[3]);
  return _mm512_mask_blend_ps(_mm512_test_epi32_mask(id, _mm512_set1_epi32(32)), lo, hi);
}

// o[h] = tb[p[h]] for h < nc; tb has `avail` readable entries.
__attribute__((target("avx512f"))) void gather_row_avx512(const float* tb, int64_t avail, const int32_t* p,
                                                          int64_t nc, float* o) {
  __m512 t[4];
  for (int k = 0; k < 4; ++k) t[k] = _mm512_maskz_loadu_ps(lanes(avail - 16 * k), tb + 16 * k);
  for (int64_t h = 0; h < nc; h += 16) {
    const __mmask16 m = lanes(nc - h);
    _mm512_mask_storeu_ps(o + h, m, lookup(t, _mm512_maskz_loadu_epi32(m, p + h)));
  }
}

// ob[m] = Σ_g gt[g · cols + inv[g · nc + m]] over ascending g, for a bijective tile with nc ≤ 64.
__attribute__((target("avx512f"))) void reduce_tile_avx512(const float* gt, int64_t cols, const int32_t* inv,
                                                           int64_t nr, int64_t nc, float* ob) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  const int64_t chunks = (nc + 15) / 16;
  for (int64_t g = 0; g < nr; ++g) {
    __m512 row[4];
    for (int k = 0; k < 4; ++k) row[k] = _mm512_maskz_loadu_ps(lanes(nc - 16 * k), gt + g * cols + 16 * k);
    for (int64_t k = 0; k < chunks; ++k) {
      const __m512i q = _mm512_maskz_loadu_epi32(lanes(nc - 16 * k), inv + g * nc + 16 * k);
      acc[k] = _mm512_add_ps(acc[k], lookup(row, q));
    }
  }
  for (int64_t k = 0; k < chunks; ++k) _mm512_mask_storeu_ps(ob + 16 * k, lanes(nc - 16 * k), acc[k]);
}
#endif

// Tiles that hold whole orbits: no orbit id in two tiles.
bool tiles_hold_whole_orbits(const int64_t* ip, const double* cp, int64_t cols, int64_t dim,
                             const std::vector<int64_t>& rs, const std::vector<int64_t>& cs) {
  std::vector<int64_t> owner(static_cast<size_t>(dim), -1);
  for (size_t a = 0; a + 1 < rs.size(); ++a)
    for (size_t b = 0; b + 1 < cs.size(); ++b) {
      const auto tile = static_cast<int64_t>(a * cs.size() + b);
      for (int64_t r = rs[a]; r < rs[a + 1]; ++r)
        for (int64_t c = cs[b]; c < cs[b + 1]; ++c) {
          const int64_t x = r * cols + c;
          if (cp && cp[x] == 0.0) continue;  // dead pair
          auto& o = owner[static_cast<size_t>(ip[x])];
          if (o >= 0 && o != tile) return false;
          o = tile;
        }
    }
  return true;
}

std::vector<int64_t> checked_starts(const std::vector<int64_t>& starts, int64_t n) {
  std::vector<int64_t> out = starts;
  if (out.empty() || out.front() != 0) out.insert(out.begin(), 0);
  if (out.back() != n) out.push_back(n);
  for (size_t k = 1; k < out.size(); ++k)
    if (out[k] <= out[k - 1]) return {0, n};
  return out;
}

template <typename T>
void gather_kernel(const Layout& L, const T* theta, T* out) {
  const int64_t* tl = L.tiles.data_ptr<int64_t>();
  const int32_t* pat = L.patterns.data_ptr<int32_t>();
  const double* cf = L.coef.defined() ? L.coef.data_ptr<double>() : nullptr;
  const int64_t cols = L.cols;
  // Tiles come in row bands (same row0, ascending col0): W is written one full row at a time.
  std::vector<int64_t> bands{0};
  for (int64_t t = 1; t < L.tiles.size(0); ++t)
    if (tl[kTileFields * t] != tl[kTileFields * (t - 1)]) bands.push_back(t);
  bands.push_back(L.tiles.size(0));
  at::parallel_for(0, static_cast<int64_t>(bands.size()) - 1, 1, [&](int64_t begin, int64_t end) {
    for (int64_t band = begin; band < end; ++band) {
      const int64_t first = bands[static_cast<size_t>(band)], last = bands[static_cast<size_t>(band) + 1];
      const int64_t r0 = tl[kTileFields * first], nr = tl[kTileFields * first + 1];
      for (int64_t g = 0; g < nr; ++g)
        for (int64_t t = first; t < last; ++t) {
          const int64_t* d = tl + kTileFields * t;
          const int64_t c0 = d[2], nc = d[3];
          const T* tb = theta + d[4];
          T* o = out + (r0 + g) * cols + c0;
          const int32_t* p = pat + d[5] + g * nc;
#ifdef EQNN_ORBIT_AVX512
          if constexpr (std::is_same_v<T, float>) {
            if ((d[6] & kSmall) && has_avx512()) {
              gather_row_avx512(tb, L.dim - d[4], p, nc, o);
              continue;
            }
          }
#endif
          if (!cf) {
            for (int64_t h = 0; h < nc; ++h) o[h] = tb[p[h]];
          } else {
            const double* c = cf + d[5] + g * nc;
            for (int64_t h = 0; h < nc; ++h) o[h] = tb[p[h]] * static_cast<T>(c[h]);
          }
        }
    }
  });
}

// Σ over each orbit in ascending x (tiles hold whole orbits and are walked row-major), as index_add.
template <typename T>
void reduce_kernel(const Layout& L, const T* grad, T* out) {
  const int64_t* tl = L.tiles.data_ptr<int64_t>();
  const int32_t* pat = L.patterns.data_ptr<int32_t>();
  const double* cf = L.coef.defined() ? L.coef.data_ptr<double>() : nullptr;
  const int64_t cols = L.cols;
  // Tiles own disjoint orbits, except dead pairs (c = 0), which all add 0 · g to orbit 0 as index_add does:
  // only then is the walk serial.
  const int64_t grain = cf ? L.tiles.size(0) : 1;
  at::parallel_for(0, L.tiles.size(0), grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t* d = tl + kTileFields * t;
      const int64_t r0 = d[0], nr = d[1], c0 = d[2], nc = d[3];
      T* ob = out + d[4];
      if (!cf && (d[6] & kBijective)) {
        // Every row holds each of the tile's nc orbits once: orbit m is Σ_g G[g, inv[g][m]], summed in
        // registers over ascending rows (ascending x, the order of index_add), eight orbits at a time.
        const int32_t* inv = L.inverse.data_ptr<int32_t>() + d[5];
        const T* gt = grad + r0 * cols + c0;
#ifdef EQNN_ORBIT_AVX512
        if constexpr (std::is_same_v<T, float>) {
          if ((d[6] & kSmall) && has_avx512()) {
            reduce_tile_avx512(gt, cols, inv, nr, nc, ob);
            continue;
          }
        }
#endif
        int64_t m = 0;
        for (; m + 8 <= nc; m += 8) {
          T a0(0), a1(0), a2(0), a3(0), a4(0), a5(0), a6(0), a7(0);
          for (int64_t g = 0; g < nr; ++g) {
            const T* row = gt + g * cols;
            const int32_t* q = inv + g * nc + m;
            a0 += row[q[0]];
            a1 += row[q[1]];
            a2 += row[q[2]];
            a3 += row[q[3]];
            a4 += row[q[4]];
            a5 += row[q[5]];
            a6 += row[q[6]];
            a7 += row[q[7]];
          }
          ob[m] = a0;
          ob[m + 1] = a1;
          ob[m + 2] = a2;
          ob[m + 3] = a3;
          ob[m + 4] = a4;
          ob[m + 5] = a5;
          ob[m + 6] = a6;
          ob[m + 7] = a7;
        }
        for (; m < nc; ++m) {
          T a(0);
          for (int64_t g = 0; g < nr; ++g) a += gt[g * cols + inv[g * nc + m]];
          ob[m] = a;
        }
        continue;
      }
      for (int64_t g = 0; g < nr; ++g) {
        const T* gi = grad + (r0 + g) * cols + c0;
        const int32_t* p = pat + d[5] + g * nc;
        if (!cf) {
          for (int64_t h = 0; h < nc; ++h) ob[p[h]] += gi[h];
        } else {
          const double* c = cf + d[5] + g * nc;
          for (int64_t h = 0; h < nc; ++h) ob[p[h]] += gi[h] * static_cast<T>(c[h]);
        }
      }
    }
  });
}

at::Tensor gather_impl(const Layout& L, const at::Tensor& theta_in) {
  RECORD_FUNCTION("eqnn::orbit_gather", std::vector<c10::IValue>({theta_in}));
  const at::Tensor theta = theta_in.contiguous();
  at::Tensor out = at::empty({L.rows, L.cols}, theta.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, theta.scalar_type(), "eqnn::orbit_gather", [&] {
    gather_kernel<scalar_t>(L, theta.data_ptr<scalar_t>(), out.data_ptr<scalar_t>());
  });
  return out;
}

at::Tensor reduce_impl(const Layout& L, const at::Tensor& grad_in) {
  TORCH_CHECK(grad_in.dim() == 2 && grad_in.size(0) == L.rows && grad_in.size(1) == L.cols,
              "OrbitExpansion::reduce: expected a tensor of shape (", L.rows, ", ", L.cols, "), got ",
              grad_in.sizes());
  RECORD_FUNCTION("eqnn::orbit_reduce", std::vector<c10::IValue>({grad_in}));
  const at::Tensor grad = grad_in.contiguous();
  // Bijective tiles store their sums (and cover every orbit here); the others add into zeros.
  at::Tensor out = L.assigns_all ? at::empty({L.dim}, grad.options()) : at::zeros({L.dim}, grad.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "eqnn::orbit_reduce", [&] {
    reduce_kernel<scalar_t>(L, grad.data_ptr<scalar_t>(), out.data_ptr<scalar_t>());
  });
  return out;
}

void save(torch::autograd::AutogradContext* ctx, const Layout& L) {
  ctx->saved_data["tiles"] = L.tiles;
  ctx->saved_data["patterns"] = L.patterns;
  ctx->saved_data["inverse"] = L.inverse;
  ctx->saved_data["has_coef"] = L.coef.defined();
  ctx->saved_data["assigns_all"] = L.assigns_all;
  if (L.coef.defined()) ctx->saved_data["coef"] = L.coef;
  ctx->saved_data["rows"] = L.rows;
  ctx->saved_data["cols"] = L.cols;
  ctx->saved_data["dim"] = L.dim;
}

Layout load(torch::autograd::AutogradContext* ctx) {
  Layout L;
  L.tiles = ctx->saved_data["tiles"].toTensor();
  L.patterns = ctx->saved_data["patterns"].toTensor();
  L.inverse = ctx->saved_data["inverse"].toTensor();
  L.assigns_all = ctx->saved_data["assigns_all"].toBool();
  if (ctx->saved_data["has_coef"].toBool()) L.coef = ctx->saved_data["coef"].toTensor();
  L.rows = ctx->saved_data["rows"].toInt();
  L.cols = ctx->saved_data["cols"].toInt();
  L.dim = ctx->saved_data["dim"].toInt();
  return L;
}

// A gradient that needs its own graph (double backward) goes through the other function.
bool needs_graph(const at::Tensor& g) { return c10::GradMode::is_enabled() && g.requires_grad(); }

struct OrbitReduceFunction;

struct OrbitGatherFunction : torch::autograd::Function<OrbitGatherFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& theta, const Layout* L) {
    save(ctx, *L);
    return gather_impl(*L, theta);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads);
};

struct OrbitReduceFunction : torch::autograd::Function<OrbitReduceFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& grad, const Layout* L) {
    save(ctx, *L);
    return reduce_impl(*L, grad);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const Layout L = load(ctx);
    const at::Tensor& g = grads[0];
    if (!g.defined()) return {at::Tensor(), at::Tensor()};
    return {needs_graph(g) ? OrbitGatherFunction::apply(g, &L) : gather_impl(L, g), at::Tensor()};
  }
};

torch::autograd::variable_list OrbitGatherFunction::backward(torch::autograd::AutogradContext* ctx,
                                                             torch::autograd::variable_list grads) {
  const Layout L = load(ctx);
  const at::Tensor& g = grads[0];
  if (!g.defined()) return {at::Tensor(), at::Tensor()};
  return {needs_graph(g) ? OrbitReduceFunction::apply(g, &L) : reduce_impl(L, g), at::Tensor()};
}

}  // namespace

OrbitExpansion::OrbitExpansion(const at::Tensor& index_in, const at::Tensor& coef_in, int64_t rows,
                               int64_t cols, int64_t dim, const std::vector<int64_t>& row_starts,
                               const std::vector<int64_t>& col_starts) {
  TORCH_CHECK(index_in.numel() == rows * cols && dim >= 0, "OrbitExpansion: ", index_in.numel(),
              " orbit ids for a (", rows, ", ", cols, ") matrix");
  TORCH_CHECK(dim < (int64_t{1} << 31), "OrbitExpansion: ", dim, " orbits exceed int32 ids");
  const at::Tensor index = index_in.to(at::kLong).contiguous();
  const at::Tensor coef = coef_in.defined() ? coef_in.to(at::kDouble).contiguous() : coef_in;
  const int64_t* ip = index.data_ptr<int64_t>();
  const double* cp = coef.defined() ? coef.data_ptr<double>() : nullptr;
  for (int64_t x = 0; x < rows * cols; ++x)
    TORCH_CHECK(ip[x] >= 0 && ip[x] < std::max<int64_t>(dim, 1), "OrbitExpansion: orbit id ", ip[x],
                " out of [0, ", dim, ")");
  std::vector<int64_t> rs = checked_starts(row_starts, rows), cs = checked_starts(col_starts, cols);
  if (!tiles_hold_whole_orbits(ip, cp, cols, dim, rs, cs)) rs = {0, rows}, cs = {0, cols};

  layout_.rows = rows;
  layout_.cols = cols;
  layout_.dim = dim;
  // Patterns shared by content (local ids and coefficients).
  std::map<std::pair<std::vector<int32_t>, std::vector<double>>, int64_t> seen;
  std::vector<int32_t> patterns, inverses;
  std::vector<double> coefs;
  std::vector<int64_t> tiles;
  for (size_t a = 0; a + 1 < rs.size(); ++a)
    for (size_t b = 0; b + 1 < cs.size(); ++b) {
      const int64_t r0 = rs[a], nr = rs[a + 1] - rs[a], c0 = cs[b], nc = cs[b + 1] - cs[b];
      if (nr == 0 || nc == 0) continue;
      // Base: the smallest live id; a dead pair reads (and adds 0 to) orbit 0, as index_select/index_add.
      int64_t base = -1;
      for (int64_t r = r0; r < r0 + nr; ++r)
        for (int64_t c = c0; c < c0 + nc; ++c) {
          const int64_t x = r * cols + c;
          if (cp && cp[x] == 0.0) continue;
          base = base < 0 ? ip[x] : std::min(base, ip[x]);
        }
      if (base < 0) base = 0;
      std::vector<int32_t> local(static_cast<size_t>(nr * nc));
      std::vector<double> lc(cp ? local.size() : 0);
      for (int64_t g = 0; g < nr; ++g)
        for (int64_t h = 0; h < nc; ++h) {
          const int64_t x = (r0 + g) * cols + c0 + h;
          local[static_cast<size_t>(g * nc + h)] = static_cast<int32_t>(ip[x] - base);
          if (cp) lc[static_cast<size_t>(g * nc + h)] = cp[x];
        }
      int64_t bijective = cp ? 0 : 1;
      std::vector<int32_t> inverse(bijective ? local.size() : 0, -1);
      for (int64_t g = 0; g < nr && bijective; ++g)
        for (int64_t h = 0; h < nc && bijective; ++h) {
          const int32_t m = local[static_cast<size_t>(g * nc + h)];
          auto& slot = inverse[static_cast<size_t>(g * nc + std::clamp<int64_t>(m, 0, nc - 1))];
          bijective = m >= 0 && m < nc && slot < 0;
          slot = static_cast<int32_t>(h);
        }
      const bool small =
          !cp && std::all_of(local.begin(), local.end(), [](int32_t m) { return m >= 0 && m < 64; });
      const int64_t flags = (bijective ? kBijective : 0) | (small ? kSmall : 0);
      auto key = std::make_pair(std::move(local), std::move(lc));
      auto it = seen.find(key);
      if (it == seen.end()) {
        const auto offset = static_cast<int64_t>(patterns.size());
        patterns.insert(patterns.end(), key.first.begin(), key.first.end());
        if (bijective)
          inverses.insert(inverses.end(), inverse.begin(), inverse.end());
        else
          inverses.resize(patterns.size(), 0);
        coefs.insert(coefs.end(), key.second.begin(), key.second.end());
        it = seen.emplace(std::move(key), offset).first;
      }
      tiles.insert(tiles.end(), {r0, nr, c0, nc, base, it->second, flags});
    }
  patterns_count_ = static_cast<int64_t>(seen.size());
  // Every tile bijective (nc orbits each, tiles disjoint) and Σ nc = dim: reduce writes every entry.
  int64_t covered = 0;
  bool all_bijective = !cp;
  for (size_t t = 0; t < tiles.size(); t += kTileFields) {
    covered += tiles[t + 3];
    all_bijective = all_bijective && (tiles[t + 6] & kBijective);
  }
  layout_.assigns_all = all_bijective && covered == dim;
  const auto n_tiles = static_cast<int64_t>(tiles.size()) / kTileFields;
  layout_.tiles = at::empty({n_tiles, kTileFields}, at::kLong);
  std::copy(tiles.begin(), tiles.end(), layout_.tiles.data_ptr<int64_t>());
  layout_.patterns = at::empty({static_cast<int64_t>(patterns.size())}, at::kInt);
  std::copy(patterns.begin(), patterns.end(), layout_.patterns.data_ptr<int32_t>());
  layout_.inverse = at::empty({static_cast<int64_t>(inverses.size())}, at::kInt);
  std::copy(inverses.begin(), inverses.end(), layout_.inverse.data_ptr<int32_t>());
  if (cp) {
    layout_.coef = at::empty({static_cast<int64_t>(coefs.size())}, at::kDouble);
    std::copy(coefs.begin(), coefs.end(), layout_.coef.data_ptr<double>());
  }
}

bool OrbitExpansion::serves(const at::Tensor& theta) const {
  if (layout_.dim == 0 && layout_.rows * layout_.cols > 0) return false;  // every pair dead: nothing to read
  return theta.defined() && theta.dim() == 1 && theta.size(0) == layout_.dim && theta.device().is_cpu() &&
         theta.layout() == at::kStrided && theta.has_storage() && at::isFloatingType(theta.scalar_type()) &&
         // Under a functorch transform (vmap of the inputs, grad) a C++ autograd function is refused, and
         // the JIT tracer would not see the kernels: index_select serves both.
         internal::plain_autograd(theta);
}

at::Tensor OrbitExpansion::expand(const at::Tensor& theta) const {
  TORCH_CHECK(serves(theta), "OrbitExpansion::expand: expected a floating-point CPU tensor of shape (",
              layout_.dim, "), got ", theta.sizes(), " on ", theta.device());
  return OrbitGatherFunction::apply(theta, &layout_);
}

at::Tensor OrbitExpansion::gather(const at::Tensor& theta) const {
  TORCH_CHECK(theta.dim() == 1 && theta.size(0) == layout_.dim && theta.device().is_cpu(),
              "OrbitExpansion::gather: expected a CPU tensor of shape (", layout_.dim, "), got ",
              theta.sizes());
  return gather_impl(layout_, theta);
}

at::Tensor OrbitExpansion::reduce(const at::Tensor& grad) const {
  TORCH_CHECK(grad.device().is_cpu(), "OrbitExpansion::reduce: expected a CPU tensor");
  return reduce_impl(layout_, grad);
}

}  // namespace eqnn
