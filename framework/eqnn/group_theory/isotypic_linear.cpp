// IsotypicHom::linear (isotypic_execution.hpp): eLinear's isotypic product without regrouping features, and
// its autograd node.
//
// Layout. A run of m identical r × r blocks of Q gets a buffer (r, m, N): entry [j][b][n] is coordinate j
// of block b of token n in the block's basis, whose columns are ordered [irrep k][component i][copy c].
// Irrep k's rows of the buffer are then (d, c, m, N) = (d, c·m, N), copy c·m + b, so
//   - a change of basis is one matrix product per block, basisᵀ x_bᵀ, written in place (strided output);
//   - the product of irrep k is one matrix product per component (W_k (c_o m_o × c_i m_i) times the
//     component's (c_i m_i, N) rows), or one product of the whole Kronecker matrix for a complex or
//     quaternionic irrep, written or accumulated in place;
//   - the change back is one matrix product per block, written into y's columns with the bias (by the
//     AVX-512 kernel of internal/change_of_basis_kernel.hpp where it serves).
// No feature tensor is permuted or concatenated; the only copies are those BLAS makes for its panels. The
// buffers of all runs are rows of one (D, N) tensor, so a packed end (attention's q, k, v and heads) is one
// permutation of its rows and one transpose.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>
#include <torch/csrc/autograd/saved_variable.h>

#include "eqnn/group_theory/internal/autograd_support.hpp"
#include "eqnn/group_theory/internal/change_of_basis_kernel.hpp"
#include "eqnn/group_theory/internal/index_vectors.hpp"
#include "eqnn/group_theory/internal/isotypic_state.hpp"
#include "eqnn/group_theory/isotypic_execution.hpp"

namespace eqnn {

using Run = IsotypicLayout::Run;
using internal::long_tensor;

namespace {

constexpr int64_t kSmallBlock = IsotypicLayout::kSmallBlock;

// The copies of irrep k in a run in buffer order (copy within the block major, block minor), as indices
// among the irrep's copies in layout order (block major): copy0 + b·count + c.
std::vector<int64_t> buffer_order(const Run& run, size_t k) {
  std::vector<int64_t> order;
  const int64_t count = run.count[k];
  for (int64_t c = 0; c < count; ++c)
    for (int64_t b = 0; b < run.m; ++b) order.push_back(run.copy0[k] + b * count + c);
  return order;
}

// out (A, B) with out[a, b] = src[ia[a] + ib[b]] (element offsets into src's storage), in 32 × 32 tiles so
// that a transposing read stays in cache: the row permutation and the transpose of a packed end in one pass.
at::Tensor gather2d(const at::Tensor& src, const std::vector<int64_t>& ia, const std::vector<int64_t>& ib) {
  const auto A = static_cast<int64_t>(ia.size()), B = static_cast<int64_t>(ib.size());
  at::Tensor out = at::empty({A, B}, src.options());
  if (!src.device().is_cpu()) {
    // Elsewhere (CUDA) the same as two ATen operations: one flat gather by the offsets.
    const auto offsets = at::tensor(at::ArrayRef<int64_t>(ia), at::kLong).view({A, 1}) +
                         at::tensor(at::ArrayRef<int64_t>(ib), at::kLong).view({1, B});
    return src.reshape({-1}).index_select(0, offsets.reshape({-1}).to(src.device())).view({A, B});
  }
  AT_DISPATCH_FLOATING_TYPES(src.scalar_type(), "gather2d", [&] {
    const scalar_t* s = src.const_data_ptr<scalar_t>();
    scalar_t* o = out.mutable_data_ptr<scalar_t>();
    constexpr int64_t kTile = 32;
    for (int64_t a0 = 0; a0 < A; a0 += kTile)
      for (int64_t b0 = 0; b0 < B; b0 += kTile) {
        const int64_t a1 = std::min(A, a0 + kTile), b1 = std::min(B, b0 + kTile);
        for (int64_t a = a0; a < a1; ++a) {
          const scalar_t* sa = s + ia[static_cast<size_t>(a)];
          scalar_t* oa = o + a * B;
          for (int64_t b = b0; b < b1; ++b) oa[b] = sa[ib[static_cast<size_t>(b)]];
        }
      }
  });
  return out;
}

// buf (r, m, N) ← the run's coordinates of x (N, D) in the block's basis: buf[:, b, :] = basisᵀ x_bᵀ.
void to_buffer(const at::Tensor& x, const Run& run, const at::Tensor& basis, at::Tensor& buf) {
  const int64_t N = x.size(0);
  if (run.r < kSmallBlock) {
    // The run's columns transposed in tiles, component-major: t[i][b][n] = x[n, row0 + b·r + i]; then one
    // product by basisᵀ for every block at once.
    TORCH_INTERNAL_ASSERT(x.is_contiguous());
    std::vector<int64_t> ia(static_cast<size_t>(run.r * run.m)), ib(static_cast<size_t>(N));
    for (int64_t i = 0; i < run.r; ++i)
      for (int64_t b = 0; b < run.m; ++b) ia[static_cast<size_t>(i * run.m + b)] = run.row0 + b * run.r + i;
    for (int64_t n = 0; n < N; ++n) ib[static_cast<size_t>(n)] = n * x.size(1);
    at::Tensor flat = buf.view({run.r, run.m * N});
    at::mm_out(flat, basis.t(), gather2d(x, ia, ib).view({run.r, run.m * N}));
    return;
  }
  const at::Tensor bt = basis.t();
  for (int64_t b = 0; b < run.m; ++b) {
    at::Tensor out = buf.select(1, b);
    at::mm_out(out, bt, x.narrow(1, run.row0 + b * run.r, run.r).t());
  }
}

// y's coordinates of the run ← buf[:, b, :]ᵀ basisᵀ for every block b, plus `bias` when defined.
void from_buffer(const at::Tensor& buf, const Run& run, const at::Tensor& basis, const at::Tensor& bias,
                 at::Tensor& y) {
  const int64_t N = y.size(0);
  if (run.r < kSmallBlock) {
    // One product for every block, z[j][b][n] = Σ_i basis[j, i] buf[i][b][n], then y[n, row0 + b·r + j] =
    // z[j][b][n] transposed in tiles.
    const at::Tensor zt = at::mm(basis, buf.reshape({run.r, run.m * N}));
    std::vector<int64_t> ia(static_cast<size_t>(N)), ib(static_cast<size_t>(run.r * run.m));
    for (int64_t n = 0; n < N; ++n) ia[static_cast<size_t>(n)] = n;
    for (int64_t b = 0; b < run.m; ++b)
      for (int64_t j = 0; j < run.r; ++j) ib[static_cast<size_t>(b * run.r + j)] = (j * run.m + b) * N;
    at::Tensor dst = y.narrow(1, run.row0, run.m * run.r);
    const at::Tensor z = gather2d(zt, ia, ib);
    if (bias.defined())
      at::add_out(dst, z, bias.narrow(0, run.row0, run.m * run.r));
    else
      dst.copy_(z);
    return;
  }
  if (internal::change_back(buf, basis, bias, y, run.row0)) return;
  const at::Tensor bt = basis.t();
  for (int64_t b = 0; b < run.m; ++b) {
    at::Tensor out = y.narrow(1, run.row0 + b * run.r, run.r);
    if (bias.defined())
      at::addmm_out(out, bias.narrow(0, run.row0 + b * run.r, run.r), buf.select(1, b).t(), bt);
    else
      at::mm_out(out, buf.select(1, b).t(), bt);
  }
}

// dst = a·b, or dst += a·b when `accumulate`.
void product(at::Tensor dst, const at::Tensor& a, const at::Tensor& b, bool accumulate) {
  if (accumulate)
    dst.addmm_(a, b);
  else
    at::mm_out(dst, a, b);
}

}  // namespace

// What linear() needs of two layouts besides the blocks, made once per (input layout, output layout,
// device) and kept by the IsotypicHom (IsotypicHom::fused_plan): the products, irrep k from an input run to
// an output run, with where their weights sit in the blocks, and each layout's packed column of every
// buffer row.
struct IsotypicHom::FusedPlan {
  struct Step {
    size_t out_run = 0, in_run = 0, k = 0;
    int64_t d = 1, S = 1;
    at::Tensor row_index, col_index;  // where the step's weight rows and columns sit in T_k (S = 1) or in the
                                      // Kronecker matrix (d·M_out, d·M_in)
  };
  std::shared_ptr<const IsotypicLayout> in, out;  // held, so that the cache key's addresses stay theirs
  std::string device;
  std::vector<Step> steps;
  std::vector<int64_t> in_column, out_column;  // packed_column() of each layout

  FusedPlan(const IsotypicHom& h, std::shared_ptr<const IsotypicLayout> i,
            std::shared_ptr<const IsotypicLayout> o, const at::Device& dev, std::string key);

  static std::vector<int64_t> packed_column(const IsotypicLayout& layout);
};

std::shared_ptr<const IsotypicHom::FusedPlan> IsotypicHom::fused_plan(
    const std::shared_ptr<const IsotypicLayout>& in, const std::shared_ptr<const IsotypicLayout>& out,
    const at::Device& device) const {
  const std::string key = device.str();
  std::lock_guard<std::mutex> lock(fused_mutex_);
  for (const auto& p : fused_plans_)
    if (p->in == in && p->out == out && p->device == key) return p;
  fused_plans_.push_back(std::make_shared<const FusedPlan>(*this, in, out, device, key));
  return fused_plans_.back();
}

IsotypicHom::FusedPlan::FusedPlan(const IsotypicHom& h, std::shared_ptr<const IsotypicLayout> i,
                                  std::shared_ptr<const IsotypicLayout> o, const at::Device& dev,
                                  std::string key)
    : in(std::move(i)), out(std::move(o)), device(std::move(key)) {
  const size_t K = h.dims_.size();
  TORCH_CHECK(in->mult_.size() == K && out->mult_.size() == K,
              "IsotypicHom::linear: the layouts are not of the Hom space's group");
  for (size_t k = 0; k < K; ++k) {
    const int64_t d = h.dims_[k], S = h.types_[k], Mo = out->mult_[k], Mi = in->mult_[k];
    if (Mo == 0 || Mi == 0) continue;
    for (size_t jo = 0; jo < out->runs_.size(); ++jo) {
      const Run& ro = *out->runs_[jo];
      if (ro.count[k] == 0) continue;
      const std::vector<int64_t> rows = buffer_order(ro, k);
      for (size_t ji = 0; ji < in->runs_.size(); ++ji) {
        const Run& ri = *in->runs_[ji];
        if (ri.count[k] == 0) continue;
        const std::vector<int64_t> cols = buffer_order(ri, k);
        Step step;
        step.out_run = jo;
        step.in_run = ji;
        step.k = k;
        step.d = d;
        step.S = S;
        if (S == 1) {
          step.row_index = long_tensor(rows, dev);
          step.col_index = long_tensor(cols, dev);
        } else {
          std::vector<int64_t> fr, fc;
          for (int64_t a = 0; a < d; ++a) {
            for (int64_t v : rows) fr.push_back(a * Mo + v);
            for (int64_t v : cols) fc.push_back(a * Mi + v);
          }
          step.row_index = long_tensor(fr, dev);
          step.col_index = long_tensor(fc, dev);
        }
        steps.push_back(std::move(step));
      }
    }
  }
  in_column = packed_column(*in);
  out_column = packed_column(*out);
}

// The packed column (IsotypicLayout::pack) of every row of the layout's buffers.
std::vector<int64_t> IsotypicHom::FusedPlan::packed_column(const IsotypicLayout& layout) {
  const size_t K = layout.dims_.size();
  // column[k][i·M_k + t]: component i of copy t (layout order) of irrep k.
  std::vector<std::vector<int64_t>> column(K);
  std::vector<int64_t> start(K, 0);
  for (size_t k = 0; k < K; ++k) column[k].resize(static_cast<size_t>(layout.dims_[k] * layout.mult_[k]));
  int64_t base = 0;
  for (const auto& per_group : layout.group_copies_)
    for (size_t k = 0; k < K; ++k) {
      const int64_t n = per_group[k], d = layout.dims_[k];
      for (int64_t i = 0; i < d; ++i)
        for (int64_t t = 0; t < n; ++t)
          column[k][static_cast<size_t>(i * layout.mult_[k] + start[k] + t)] = base + i * n + t;
      base += d * n;
      start[k] += n;
    }
  std::vector<int64_t> out(static_cast<size_t>(layout.rep_->size()));
  int64_t row0 = 0;
  for (const auto& run : layout.runs_) {
    for (size_t k = 0; k < K; ++k)
      for (int64_t i = 0; i < layout.dims_[k]; ++i)
        for (int64_t c = 0; c < run->count[k]; ++c)
          for (int64_t b = 0; b < run->m; ++b) {
            const int64_t row = row0 + (run->offset[k] + i * run->count[k] + c) * run->m + b;
            const int64_t copy = run->copy0[k] + b * run->count[k] + c;
            out[static_cast<size_t>(row)] = column[k][static_cast<size_t>(i * layout.mult_[k] + copy)];
          }
    row0 += run->r * run->m;
  }
  return out;
}

// One call of linear(): its plan and the weight of every step, taken from the blocks.
struct IsotypicHom::Fused {
  const IsotypicHom* hom;
  std::shared_ptr<const FusedPlan> plan;
  const IsotypicLayout *in, *out;
  std::vector<at::Tensor> W;     // per step: S = 1: (c·m out, c·m in); else (d·c·m out, d·c·m in)
  std::vector<at::Tensor> full;  // per irrep with S > 1: Σ_s E_s ⊗ T_s

  Fused(const IsotypicHom& h, std::shared_ptr<const FusedPlan> p, const std::vector<at::Tensor>& blocks,
        const at::TensorOptions& options)
      : hom(&h), plan(std::move(p)), in(plan->in.get()), out(plan->out.get()), full(h.dims_.size()) {
    const size_t K = h.dims_.size();
    TORCH_CHECK(blocks.size() == K, "IsotypicHom::linear: expected one block per irrep of ", K, ", got ",
                blocks.size());
    const auto& t = h.tensors_for(options);
    for (size_t k = 0; k < K; ++k) {
      const int64_t S = h.types_[k], Mo = out->mult_[k], Mi = in->mult_[k];
      if (Mo == 0 || Mi == 0) continue;
      TORCH_CHECK(blocks[k].defined() && blocks[k].dim() == 3 && blocks[k].size(0) == S &&
                      blocks[k].size(1) == Mo && blocks[k].size(2) == Mi,
                  "IsotypicHom::linear: block ", k, " should be (", S, ", ", Mo, ", ", Mi, ")");
      if (S > 1) {
        at::Tensor f = at::kron(t.endo[k][0], blocks[k][0]);
        for (int64_t s = 1; s < S; ++s) f = f + at::kron(t.endo[k][s], blocks[k][s]);
        full[k] = f;
      }
    }
    for (const auto& step : plan->steps) {
      const at::Tensor& M = step.S == 1 ? blocks[step.k][0] : full[step.k];
      W.push_back(M.index_select(0, step.row_index).index_select(1, step.col_index));
    }
  }

  // The buffers of a layout's runs: rows of one (D, N) tensor, run j's (r, m, N) from row Σ_{j'<j} r m.
  struct Buffers {
    at::Tensor flat;
    std::vector<at::Tensor> runs;
  };

  static Buffers views(const IsotypicLayout& layout, at::Tensor flat) {
    Buffers b;
    int64_t row = 0;
    for (const auto& run : layout.runs_) {
      b.runs.push_back(flat.narrow(0, row, run->r * run->m).view({run->r, run->m, flat.size(1)}));
      row += run->r * run->m;
    }
    b.flat = std::move(flat);
    return b;
  }

  // `column`: the layout's FusedPlan::packed_column (read for a packed end only).
  static Buffers to_buffers(const IsotypicLayout& layout, const std::vector<int64_t>& column,
                            const at::Tensor& x, Coordinates coordinates) {
    const int64_t N = x.size(0);
    if (coordinates == Coordinates::packed) {
      // Buffer row r of token n is x[n, column[r]].
      const int64_t D = layout.rep_->size();
      std::vector<int64_t> tokens(static_cast<size_t>(N));
      for (int64_t n = 0; n < N; ++n) tokens[static_cast<size_t>(n)] = n * D;
      return views(layout, gather2d(x, column, tokens));
    }
    Buffers bufs = views(layout, at::empty({layout.rep_->size(), N}, x.options()));
    const auto& bases = layout.bases_for(x.options());
    for (size_t j = 0; j < layout.runs_.size(); ++j) to_buffer(x, *layout.runs_[j], bases[j], bufs.runs[j]);
    return bufs;
  }

  static at::Tensor from_buffers(const IsotypicLayout& layout, const std::vector<int64_t>& column,
                                 const Buffers& bufs, const at::Tensor& bias, Coordinates coordinates) {
    const int64_t N = bufs.flat.size(1);
    if (coordinates == Coordinates::packed) {
      // Row p of the packed features is the buffer row whose packed column is p.
      std::vector<int64_t> offset(column.size()), tokens(static_cast<size_t>(N));
      for (size_t r = 0; r < column.size(); ++r)
        offset[static_cast<size_t>(column[r])] = static_cast<int64_t>(r) * N;
      for (int64_t n = 0; n < N; ++n) tokens[static_cast<size_t>(n)] = n;
      at::Tensor y = gather2d(bufs.flat, tokens, offset);
      if (bias.defined()) y.add_(bias);
      return y;
    }
    at::Tensor y = at::empty({N, layout.rep_->size()}, bufs.flat.options());
    const auto& bases = layout.bases_for(y.options());
    for (size_t j = 0; j < layout.runs_.size(); ++j)
      from_buffer(bufs.runs[j], *layout.runs_[j], bases[j], bias, y);
    return y;
  }

  // Irrep k's rows of a run's buffer: (d, c·m, N).
  static at::Tensor part(const at::Tensor& buf, const Run& run, size_t k, int64_t d) {
    return buf.narrow(0, run.offset[k], d * run.count[k]).view({d, run.count[k] * run.m, buf.size(2)});
  }

  // The buffers of `in` mapped by the steps into fresh buffers of `out` (transposed: of `out` by the
  // transposed steps into `in`); rows no step writes are zero.
  Buffers map(const Buffers& src, bool transposed) const {
    const IsotypicLayout& to = transposed ? *in : *out;
    const IsotypicLayout& from = transposed ? *out : *in;
    const int64_t N = src.flat.size(1);
    Buffers dst = views(to, at::empty({to.rep_->size(), N}, src.flat.options()));
    std::vector<std::vector<bool>> written(to.runs_.size(), std::vector<bool>(hom->dims_.size(), false));
    for (size_t i = 0; i < plan->steps.size(); ++i) {
      const FusedPlan::Step& s = plan->steps[i];
      const size_t j_to = transposed ? s.in_run : s.out_run, j_from = transposed ? s.out_run : s.in_run;
      const at::Tensor y = part(dst.runs[j_to], *to.runs_[j_to], s.k, s.d);
      const at::Tensor z = part(src.runs[j_from], *from.runs_[j_from], s.k, s.d);
      const at::Tensor M = transposed ? W[i].t() : W[i];
      const bool accumulate = written[j_to][s.k];
      if (s.S == 1)
        for (int64_t c = 0; c < s.d; ++c) product(y.select(0, c), M, z.select(0, c), accumulate);
      else
        product(y.view({-1, N}), M, z.view({-1, N}), accumulate);
      written[j_to][s.k] = true;
    }
    for (size_t j = 0; j < to.runs_.size(); ++j) {
      const Run& run = *to.runs_[j];
      for (size_t k = 0; k < hom->dims_.size(); ++k)
        if (run.count[k] > 0 && !written[j][k]) part(dst.runs[j], run, k, hom->dims_[k]).zero_();
    }
    return dst;
  }

  // ∂L/∂T_k for every block, from the output buffers' gradients and the input buffers.
  std::vector<at::Tensor> block_grads(const Buffers& dY, const Buffers& Z,
                                      const std::vector<at::Tensor>& blocks) const {
    const size_t K = hom->dims_.size();
    std::vector<at::Tensor> g(K), gfull(K);
    for (size_t i = 0; i < plan->steps.size(); ++i) {
      const FusedPlan::Step& s = plan->steps[i];
      const at::Tensor dy = part(dY.runs[s.out_run], *out->runs_[s.out_run], s.k, s.d);
      const at::Tensor z = part(Z.runs[s.in_run], *in->runs_[s.in_run], s.k, s.d);
      at::Tensor gW;
      if (s.S == 1) {
        gW = at::mm(dy.select(0, 0), z.select(0, 0).t());
        for (int64_t c = 1; c < s.d; ++c) gW.addmm_(dy.select(0, c), z.select(0, c).t());
        if (!g[s.k].defined()) g[s.k] = at::zeros_like(blocks[s.k]);
        g[s.k].select(0, 0).index_put_({s.row_index.unsqueeze(1), s.col_index.unsqueeze(0)}, gW,
                                       /*accumulate=*/true);
      } else {
        const int64_t N = dy.size(2);
        gW = at::mm(dy.reshape({-1, N}), z.reshape({-1, N}).t());
        if (!gfull[s.k].defined()) gfull[s.k] = at::zeros_like(full[s.k]);
        gfull[s.k].index_put_({s.row_index.unsqueeze(1), s.col_index.unsqueeze(0)}, gW, /*accumulate=*/true);
      }
    }
    const auto& t = hom->tensors_for(Z.flat.options());
    for (size_t k = 0; k < K; ++k) {
      if (!gfull[k].defined()) continue;
      const int64_t d = hom->dims_[k], Mo = out->mult_[k], Mi = in->mult_[k];
      // full = Σ_s E_s ⊗ T_s, so ∂L/∂T_s[a, b] = Σ_ij E_s[i, j] ∂L/∂full[(i, a), (j, b)].
      g[k] = at::einsum("sij,iajb->sab", {t.endo[k], gfull[k].view({d, Mo, d, Mi})});
    }
    return g;
  }
};

// The backward of linear(): inputs x, the blocks (one per irrep, some undefined), the bias.
struct IsotypicHom::FusedNode : torch::autograd::Node {
  std::shared_ptr<const IsotypicHom> hom;
  std::shared_ptr<const IsotypicLayout> in, out;
  Coordinates in_coordinates = Coordinates::original, out_coordinates = Coordinates::original;
  std::unique_ptr<Fused> fused;
  Fused::Buffers Z;  // the input buffers
  torch::autograd::SavedVariable x, bias;
  std::vector<torch::autograd::SavedVariable> blocks;
  std::vector<at::Tensor> block_values;  // the blocks without grad (for zeros_like)
  bool has_bias = false;

  std::string name() const override { return "IsotypicLinearBackward"; }

  void release_variables() override {
    x.reset_data();
    bias.reset_data();
    for (auto& b : blocks) b.reset_data();
    Z = Fused::Buffers();
    block_values.clear();
    fused.reset();
  }

  torch::autograd::variable_list apply(torch::autograd::variable_list&& grads) override {
    const size_t K = blocks.size();
    torch::autograd::variable_list result(K + 2);
    TORCH_CHECK(fused,
                "IsotypicLinearBackward: the graph was already freed (backward twice without "
                "retain_graph=True)");
    const at::Tensor& dy_in = grads[0];
    if (!dy_in.defined()) return result;
    if (at::GradMode::is_enabled()) return differentiable(dy_in);
    const at::Tensor dy = dy_in.contiguous();
    const FusedPlan& plan = *fused->plan;
    const Fused::Buffers dY = Fused::to_buffers(*out, plan.out_column, dy, out_coordinates);
    if (should_compute_output(0))
      result[0] = Fused::from_buffers(*in, plan.in_column, fused->map(dY, /*transposed=*/true), at::Tensor(),
                                      in_coordinates);
    bool any_block = false;
    for (size_t k = 0; k < K; ++k) any_block = any_block || should_compute_output(1 + k);
    if (any_block) {
      const auto g = fused->block_grads(dY, Z, block_values);
      for (size_t k = 0; k < K; ++k)
        if (should_compute_output(1 + k) && block_values[k].defined())
          result[1 + k] = g[k].defined() ? g[k] : at::zeros_like(block_values[k]);
    }
    if (has_bias && should_compute_output(K + 1)) result[K + 1] = dy.sum(0);
    return result;
  }

  // create_graph: the parts path recomputed from the saved inputs and differentiated by autograd, so the
  // gradients carry a graph of their own.
  torch::autograd::variable_list differentiable(const at::Tensor& dy) {
    const size_t K = blocks.size();
    const at::Tensor xv = x.unpack();
    std::vector<at::Tensor> bv(K);
    for (size_t k = 0; k < K; ++k) bv[k] = blocks[k].unpack();
    const at::Tensor biasv = has_bias ? bias.unpack() : at::Tensor();
    const IsotypicParts parts =
        hom->apply(bv, in_coordinates == Coordinates::packed ? in->unpack(xv) : in->split(xv));
    at::Tensor y;
    if (out_coordinates == Coordinates::packed)
      y = biasv.defined() ? out->pack(parts) + biasv : out->pack(parts);
    else
      y = out->merge(parts, biasv);
    torch::autograd::variable_list inputs;
    std::vector<size_t> where;
    auto want = [&](const at::Tensor& v, size_t i) {
      if (v.defined() && v.requires_grad() && should_compute_output(i)) {
        inputs.push_back(v);
        where.push_back(i);
      }
    };
    want(xv, 0);
    for (size_t k = 0; k < K; ++k) want(bv[k], 1 + k);
    want(biasv, K + 1);
    torch::autograd::variable_list result(K + 2);
    if (inputs.empty()) return result;
    const auto g = torch::autograd::grad({y}, inputs, {dy}, /*retain_graph=*/true, /*create_graph=*/true,
                                         /*allow_unused=*/true);
    for (size_t i = 0; i < where.size(); ++i) result[where[i]] = g[i];
    return result;
  }
};

bool IsotypicHom::linear_serves(const at::Tensor& x, const at::Tensor& theta, const at::Tensor& bias) {
  const auto dtype = x.scalar_type();
  return x.dim() == 2 && (dtype == at::kFloat || dtype == at::kDouble) && theta.scalar_type() == dtype &&
         internal::plain_autograd(x) && internal::plain_autograd(theta) &&
         (!bias.defined() || internal::plain_autograd(bias));
}

at::Tensor IsotypicHom::linear(const std::shared_ptr<const IsotypicHom>& hom,
                               const std::shared_ptr<const IsotypicLayout>& in,
                               const std::shared_ptr<const IsotypicLayout>& out,
                               const std::vector<at::Tensor>& blocks, const at::Tensor& x_in,
                               const at::Tensor& bias, Coordinates in_coordinates,
                               Coordinates out_coordinates) {
  TORCH_CHECK(hom && in && out, "IsotypicHom::linear: no Hom space or layout");
  TORCH_CHECK(x_in.dim() == 2 && x_in.size(1) == in->rep()->size(), "IsotypicHom::linear: expected (N, ",
              in->rep()->size(), ") features, got ", x_in.sizes());
  TORCH_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == out->rep()->size()),
              "IsotypicHom::linear: expected a bias of (", out->rep()->size(), "), got ", bias.sizes());
  const bool grad_mode = at::GradMode::is_enabled();
  bool requires_grad = grad_mode && (x_in.requires_grad() || (bias.defined() && bias.requires_grad()));
  for (const auto& b : blocks)
    requires_grad = requires_grad || (grad_mode && b.defined() && b.requires_grad());

  at::Tensor y;
  std::unique_ptr<Fused> fused;
  Fused::Buffers Z;
  std::vector<at::Tensor> plain(blocks.size());
  {
    at::NoGradGuard no_grad;
    const at::Tensor x = x_in.contiguous();
    for (size_t k = 0; k < blocks.size(); ++k)
      if (blocks[k].defined()) plain[k] = blocks[k].detach();
    fused = std::make_unique<Fused>(*hom, hom->fused_plan(in, out, x.device()), plain, x.options());
    const FusedPlan& plan = *fused->plan;
    Z = Fused::to_buffers(*in, plan.in_column, x, in_coordinates);
    y = Fused::from_buffers(*out, plan.out_column, fused->map(Z, /*transposed=*/false),
                            bias.defined() ? bias.detach() : bias, out_coordinates);
  }
  if (!requires_grad) return y;

  auto node = std::shared_ptr<FusedNode>(new FusedNode(), torch::autograd::deleteNode);
  node->hom = hom;
  node->in = in;
  node->out = out;
  node->in_coordinates = in_coordinates;
  node->out_coordinates = out_coordinates;
  node->fused = std::move(fused);
  node->Z = std::move(Z);
  node->x = torch::autograd::SavedVariable(x_in, /*is_output=*/false);
  node->has_bias = bias.defined();
  if (bias.defined()) node->bias = torch::autograd::SavedVariable(bias, /*is_output=*/false);
  for (const auto& b : blocks) node->blocks.emplace_back(b, /*is_output=*/false);
  node->block_values = std::move(plain);
  node->set_next_edges(torch::autograd::collect_next_edges(x_in, blocks, bias));
  torch::autograd::set_history(y, node);
  return y;
}

}  // namespace eqnn
