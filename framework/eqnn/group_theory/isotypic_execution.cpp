// Block-diagonal (isotypic) execution (isotypic_execution.hpp): Q's blocks and runs, the parts of a
// feature tensor, and θ → per-irrep blocks for the isotypic and the orbit parametrisation of a HomSpace.
#include "eqnn/group_theory/isotypic_execution.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/internal/index_vectors.hpp"
#include "eqnn/group_theory/internal/isotypic_state.hpp"
#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/union_find.hpp"

namespace eqnn {

using internal::is_identity;
using internal::long_tensor;

namespace {

// Entries of an orthogonal Q below this are zeros of its block structure (decompositions are exact to
// ~1e-15).
constexpr double kZero = 1e-12;
// An orbit space is tabulated per pair of blocks: (orbits of the pair) × (pair size) numbers at most.
constexpr int64_t kMaxTable = 20'000'000;

}  // namespace

std::shared_ptr<const IsotypicLayout> IsotypicLayout::get(const RepPtr& rep, int64_t groups,
                                                          std::string* why) {
  const int64_t D = rep->size();
  if (groups < 1 || D % groups != 0) {
    if (why)
      *why = fmt::format("{} (size {}) cannot be cut into {} equal groups", rep->describe(), D, groups);
    return nullptr;
  }
  // Q = I (e.g. 16x regular(4) of SO(3)) is read without building it dense: column j has its one entry
  // at row j.
  const bool eye = rep->q_is_identity();
  const Matrix* Q = eye ? nullptr : &rep->Q();
  const auto copies = irrep_copies(*rep);
  const auto& irreps = rep->group().irreps();
  const auto K = static_cast<int64_t>(irreps.size());

  // Blocks of Q: rows and columns linked by a nonzero entry, the columns of one copy kept together, then
  // grown to contiguous row ranges.
  UnionFind uf(2 * D);
  std::vector<int64_t> row_of_column(static_cast<size_t>(D), -1);
  for (int64_t j = 0; j < D; ++j)
    for (int64_t i = eye ? j : 0; i < (eye ? j + 1 : D); ++i)
      if (eye || std::abs((*Q)(i, j)) > kZero) {
        uf.unite(i, D + j);
        if (row_of_column[static_cast<size_t>(j)] < 0) row_of_column[static_cast<size_t>(j)] = i;
      }
  for (int64_t c = 0; c < copies.count(); ++c)
    for (int64_t a = 1; a < copies.dim[static_cast<size_t>(c)]; ++a)
      uf.unite(D + copies.start[static_cast<size_t>(c)], D + copies.start[static_cast<size_t>(c)] + a);
  std::vector<int64_t> lo(static_cast<size_t>(2 * D), D), hi(static_cast<size_t>(2 * D), -1);
  for (int64_t i = 0; i < D; ++i) {
    const auto root = static_cast<size_t>(uf.find(i));
    lo[root] = std::min(lo[root], i);
    hi[root] = std::max(hi[root], i);
  }
  // Each component's rows [lo, hi], merged into disjoint ranges.
  std::vector<std::pair<int64_t, int64_t>> spans;
  for (int64_t x = 0; x < 2 * D; ++x)
    if (hi[static_cast<size_t>(x)] >= 0)
      spans.emplace_back(lo[static_cast<size_t>(x)], hi[static_cast<size_t>(x)]);
  std::sort(spans.begin(), spans.end());
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (const auto& s : spans) {
    if (!ranges.empty() && s.first <= ranges.back().second)
      ranges.back().second = std::max(ranges.back().second, s.second);
    else
      ranges.push_back(s);
  }
  std::vector<int64_t> range_of_row(static_cast<size_t>(D));
  for (size_t b = 0; b < ranges.size(); ++b)
    for (int64_t i = ranges[b].first; i <= ranges[b].second; ++i)
      range_of_row[static_cast<size_t>(i)] = static_cast<int64_t>(b);
  const int64_t group_size = D / groups;
  for (const auto& [a, b] : ranges)
    if (a / group_size != b / group_size) {
      if (why)
        *why = fmt::format(
            "the change of basis of {} mixes coordinates {} and {}, which lie in different groups of {} "
            "coordinates",
            rep->describe(), a, b, group_size);
      return nullptr;
    }

  // Copies of each range (ascending), and each copy's rank among the copies of its irrep in Q's order.
  std::vector<std::vector<int64_t>> range_copies(ranges.size());
  std::vector<int64_t> rank(static_cast<size_t>(copies.count())), seen(static_cast<size_t>(K), 0);
  for (int64_t c = 0; c < copies.count(); ++c) {
    const auto cs = static_cast<size_t>(c);
    rank[cs] = seen[static_cast<size_t>(copies.irrep[cs])]++;
    const int64_t row = row_of_column[static_cast<size_t>(copies.start[cs])];
    range_copies[static_cast<size_t>(range_of_row[static_cast<size_t>(row)])].push_back(c);
  }

  auto layout = std::shared_ptr<IsotypicLayout>(new IsotypicLayout());
  layout->rep_ = rep;
  layout->groups_ = groups;
  layout->dims_.resize(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) layout->dims_[static_cast<size_t>(k)] = irreps[static_cast<size_t>(k)].dim;
  layout->mult_.assign(static_cast<size_t>(K), 0);
  layout->q_order_.assign(static_cast<size_t>(K), {});
  layout->group_copies_.assign(static_cast<size_t>(groups), std::vector<int64_t>(static_cast<size_t>(K), 0));

  std::shared_ptr<Run> run;
  Matrix previous;
  for (size_t b = 0; b < ranges.size(); ++b) {
    const int64_t row0 = ranges[b].first, r = ranges[b].second - ranges[b].first + 1;
    std::vector<int64_t> count(static_cast<size_t>(K), 0), offset(static_cast<size_t>(K), 0), columns;
    int64_t width = 0;
    for (int64_t c : range_copies[b]) ++count[static_cast<size_t>(copies.irrep[static_cast<size_t>(c)])];
    for (int64_t k = 0; k < K; ++k) {
      offset[static_cast<size_t>(k)] = static_cast<int64_t>(columns.size());
      const int64_t d = layout->dims_[static_cast<size_t>(k)];
      for (int64_t a = 0; a < d; ++a)
        for (int64_t c : range_copies[b])
          if (copies.irrep[static_cast<size_t>(c)] == k)
            columns.push_back(copies.start[static_cast<size_t>(c)] + a);
    }
    width = static_cast<int64_t>(columns.size());
    if (width != r) {
      if (why)
        *why = fmt::format("the change of basis of {} is not square on coordinates {}..{}", rep->describe(),
                           row0, row0 + r - 1);
      return nullptr;
    }
    Matrix block = Matrix::Zero(r, r);
    for (int64_t j = 0; j < r; ++j) {
      const int64_t column = columns[static_cast<size_t>(j)];
      if (!eye)
        block.col(j) = Q->block(row0, column, r, 1);
      else if (column >= row0 && column < row0 + r)
        block(column - row0, j) = 1;
    }
    const bool same = run && run->r == r && run->count == count && previous.rows() == r &&
                      (block - previous).cwiseAbs().maxCoeff() <= 1e-13;
    if (same) {
      ++run->m;
    } else {
      run = std::make_shared<Run>();
      run->row0 = row0;
      run->r = r;
      run->count = count;
      run->offset = offset;
      run->copy0 = layout->mult_;
      run->basis = to_tensor(block);
      layout->runs_.push_back(run);
      previous = block;
    }
    for (int64_t k = 0; k < K; ++k) {
      layout->mult_[static_cast<size_t>(k)] += count[static_cast<size_t>(k)];
      layout->group_copies_[static_cast<size_t>(row0 / group_size)][static_cast<size_t>(k)] +=
          count[static_cast<size_t>(k)];
    }
    for (int64_t k = 0; k < K; ++k)
      for (int64_t c : range_copies[b])
        if (copies.irrep[static_cast<size_t>(c)] == k)
          layout->q_order_[static_cast<size_t>(k)].push_back(rank[static_cast<size_t>(c)]);
  }
  for (const auto& ru : layout->runs_) {
    layout->change_cost_ += ru->m * ru->r * ru->r;
    layout->largest_block_ = std::max(layout->largest_block_, ru->r);
  }
  return layout;
}

const std::vector<at::Tensor>& IsotypicLayout::bases_for(const at::TensorOptions& options) const {
  return converted_.get(options, [this](const at::TensorOptions& o) {
    std::vector<at::Tensor> bases;
    for (const auto& run : runs_) bases.push_back(run->basis.to(o));
    return bases;
  });
}

IsotypicParts IsotypicLayout::split(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == rep_->size(), "IsotypicLayout::split: expected (N, ", rep_->size(),
              ") features, got ", x.sizes());
  const int64_t N = x.size(0);
  const auto& bases = bases_for(x.options());
  std::vector<std::vector<at::Tensor>> pieces(dims_.size());
  for (size_t i = 0; i < runs_.size(); ++i) {
    const Run& run = *runs_[i];
    at::Tensor z = at::mm(x.narrow(1, run.row0, run.m * run.r).reshape({N * run.m, run.r}), bases[i])
                       .view({N, run.m, run.r});
    for (size_t k = 0; k < dims_.size(); ++k) {
      const int64_t c = run.count[k], d = dims_[k];
      if (c == 0) continue;
      pieces[k].push_back(z.narrow(2, run.offset[k], d * c)
                              .view({N, run.m, d, c})
                              .permute({0, 2, 1, 3})
                              .reshape({N, d, run.m * c}));
    }
  }
  IsotypicParts parts(dims_.size());
  for (size_t k = 0; k < dims_.size(); ++k)
    if (!pieces[k].empty()) parts[k] = pieces[k].size() == 1 ? pieces[k][0] : at::cat(pieces[k], 2);
  return parts;
}

at::Tensor IsotypicLayout::merge(const IsotypicParts& parts, const at::Tensor& bias) const {
  int64_t N = -1;
  for (size_t k = 0; k < dims_.size(); ++k)
    if (mult_[k] > 0) {
      TORCH_CHECK(parts.size() == dims_.size() && parts[k].defined() && parts[k].dim() == 3 &&
                      parts[k].size(1) == dims_[k] && parts[k].size(2) == mult_[k],
                  "IsotypicLayout::merge: the parts do not match ", rep_->describe());
      N = parts[k].size(0);
    }
  TORCH_CHECK(N >= 0, "IsotypicLayout::merge: no parts");
  const auto first =
      std::find_if(mult_.begin(), mult_.end(), [](int64_t m) { return m > 0; }) - mult_.begin();
  const auto& bases = bases_for(parts[static_cast<size_t>(first)].options());
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < runs_.size(); ++i) {
    const Run& run = *runs_[i];
    // Each irrep's copies of this run in the run's (N, m, r) block coordinates, irrep by irrep as the
    // block's columns are, joined out of place (an in-place copy into a fresh tensor would fail under vmap).
    std::vector<at::Tensor> pieces;
    for (size_t k = 0; k < dims_.size(); ++k) {
      const int64_t c = run.count[k], d = dims_[k];
      if (c == 0) continue;
      pieces.push_back(parts[k]
                           .narrow(2, run.copy0[k], run.m * c)
                           .reshape({N, d, run.m, c})
                           .permute({0, 2, 1, 3})
                           .reshape({N, run.m, d * c}));
    }
    at::Tensor flat = (pieces.size() == 1 ? pieces[0] : at::cat(pieces, 2)).reshape({N * run.m, run.r});
    if (runs_.size() == 1 && run.m == 1 && bias.defined()) return at::addmm(bias, flat, bases[i].t());
    out.push_back(at::mm(flat, bases[i].t()).view({N, run.m * run.r}));
  }
  at::Tensor y = out.size() == 1 ? out[0] : at::cat(out, 1);
  return bias.defined() ? y + bias : y;
}

at::Tensor IsotypicLayout::pack(const IsotypicParts& parts) const {
  std::vector<at::Tensor> segs;
  std::vector<int64_t> start(dims_.size(), 0);
  for (const auto& per_group : group_copies_)
    for (size_t k = 0; k < dims_.size(); ++k) {
      const int64_t n = per_group[k];
      if (n == 0) continue;
      const at::Tensor& p = parts[k];
      segs.push_back(p.narrow(2, start[k], n).reshape({p.size(0), dims_[k] * n}));
      start[k] += n;
    }
  return segs.size() == 1 ? segs[0] : at::cat(segs, 1);
}

IsotypicParts IsotypicLayout::unpack(const at::Tensor& x) const {
  TORCH_CHECK(x.dim() == 2 && x.size(1) == rep_->size(), "IsotypicLayout::unpack: expected (N, ",
              rep_->size(), ") features, got ", x.sizes());
  const int64_t N = x.size(0);
  std::vector<std::vector<at::Tensor>> pieces(dims_.size());
  int64_t offset = 0;
  for (const auto& per_group : group_copies_)
    for (size_t k = 0; k < dims_.size(); ++k) {
      const int64_t n = per_group[k], d = dims_[k];
      if (n == 0) continue;
      pieces[k].push_back(x.narrow(1, offset, d * n).view({N, d, n}));
      offset += d * n;
    }
  IsotypicParts parts(dims_.size());
  for (size_t k = 0; k < dims_.size(); ++k)
    if (!pieces[k].empty()) parts[k] = pieces[k].size() == 1 ? pieces[k][0] : at::cat(pieces[k], 2);
  return parts;
}

// ---------------------------------------------------------------------------------------------------------

struct IsotypicHom::Tabulated {
  struct Pair {
    size_t out_run, in_run;
    int64_t orbits = 0;            // n: the orbits one pair of blocks meets
    std::vector<int64_t> iso_off;  // per irrep: offset of its (c_out, c_in, S) numbers in a table row
  };
  std::vector<Pair> pairs;  // out run major
  std::vector<std::shared_ptr<const IsotypicLayout::Run>> out_runs, in_runs;
};

const IsotypicHom::Tensors& IsotypicHom::tensors_for(const at::TensorOptions& options) const {
  if (options.dtype() == at::kDouble && options.device().is_cpu()) return *base_;
  return *converted_.get(options, [this](const at::TensorOptions& o) { return base_->to(o); });
}

std::shared_ptr<const IsotypicHom> IsotypicHom::get(const HomSpacePtr& hom, const IsotypicLayout& in,
                                                    const IsotypicLayout& out, std::string* why) {
  TORCH_CHECK(hom && in.rep()->size() == hom->in()->size() && out.rep()->size() == hom->out()->size(),
              "IsotypicHom: the layouts do not match the Hom space");
  const auto& irreps = hom->in()->group().irreps();
  const auto K = irreps.size();
  auto h = std::shared_ptr<IsotypicHom>(new IsotypicHom());
  auto base = std::make_shared<Tensors>();
  h->hom_ = hom;
  h->mult_in_ = in.multiplicities();
  h->mult_out_ = out.multiplicities();
  h->dims_.resize(K);
  h->types_.resize(K);
  for (size_t k = 0; k < K; ++k) {
    const auto& ir = irreps[k];
    h->dims_[k] = ir.dim;
    h->types_[k] = ir.S();
    at::Tensor e = at::empty({ir.S(), ir.dim, ir.dim}, at::kDouble);
    for (int s = 0; s < ir.S(); ++s)
      e[s].copy_(to_tensor(ir.endomorphism_basis[static_cast<size_t>(s)] / std::sqrt(double(ir.dim))));
    base->endo.push_back(e);
    const int64_t mo = h->mult_out_[k], mi = h->mult_in_[k], d = ir.dim;
    if (mo > 0 && mi > 0) h->block_cost_ += (ir.S() == 1 ? d : d * d) * mo * mi;
  }
  const int64_t Do = hom->out()->size(), Di = hom->in()->size();

  if (hom->method() == HomSpace::Method::isotypic) {
    int64_t offset = 0;
    h->iso_offset_.assign(K, -1);
    base->perm_out.resize(K);
    base->perm_in.resize(K);
    for (size_t k = 0; k < K; ++k) {
      const int64_t mo = h->mult_out_[k], mi = h->mult_in_[k];
      if (mo == 0 || mi == 0) continue;
      h->iso_offset_[k] = offset;
      offset += mo * mi * h->types_[k];
      if (!is_identity(out.q_order(static_cast<int>(k))))
        base->perm_out[k] = long_tensor(out.q_order(static_cast<int>(k)));
      if (!is_identity(in.q_order(static_cast<int>(k))))
        base->perm_in[k] = long_tensor(in.q_order(static_cast<int>(k)));
    }
    TORCH_CHECK(offset == hom->dim(), "IsotypicHom: the isotypic coefficients do not add up (", offset,
                " vs ", hom->dim(), ")");
    if (offset > 0) h->iso_scale_ = std::sqrt(double(Do) * double(Di) / double(offset));
    h->base_ = base;
    return h;
  }

  // Orbit space: W[i, j] = coef[i, j] θ[index[i, j]] (index -1 on a dead pair), read from the Hom space.
  if (hom->in()->permutation_basis() || hom->out()->permutation_basis()) {
    if (why)
      *why = fmt::format("Hom({}, {}) is parametrised by orbits in a changed basis", hom->in()->describe(),
                         hom->out()->describe());
    return nullptr;
  }
  const int64_t dim = hom->dim();
  auto [index, coef] = hom->orbit_entries(at::arange(Do, at::kLong).repeat_interleave(Di),
                                          at::arange(Di, at::kLong).repeat({Do}));
  index = index.masked_fill(coef == 0.0, -1).contiguous();
  coef = coef.contiguous();
  auto tab = std::make_shared<Tabulated>();
  tab->out_runs = out.runs_;
  tab->in_runs = in.runs_;
  const auto* ip = index.data_ptr<int64_t>();
  const auto* cp = coef.data_ptr<double>();
  std::vector<int64_t> local(static_cast<size_t>(std::max<int64_t>(dim, 1)), -1);
  for (size_t A = 0; A < out.runs_.size(); ++A)
    for (size_t B = 0; B < in.runs_.size(); ++B) {
      const auto& ra = *out.runs_[A];
      const auto& rb = *in.runs_[B];
      Tabulated::Pair pair{A, B, 0, std::vector<int64_t>(K, -1)};
      // The orbits of each pair of blocks, numbered by first appearance; every pair must show the same
      // pattern.
      std::vector<int64_t> pattern, ids;
      std::vector<double> signs;
      for (int64_t t = 0; t < ra.m; ++t)
        for (int64_t u = 0; u < rb.m; ++u) {
          std::vector<int64_t> order;
          std::vector<int64_t> pat;
          std::vector<double> sg;
          pat.reserve(static_cast<size_t>(ra.r * rb.r));
          for (int64_t i = 0; i < ra.r; ++i)
            for (int64_t j = 0; j < rb.r; ++j) {
              const int64_t x = (ra.row0 + t * ra.r + i) * Di + (rb.row0 + u * rb.r + j);
              const int64_t g = ip[x];
              if (g < 0) {
                pat.push_back(-1);
                sg.push_back(0.0);
                continue;
              }
              if (local[static_cast<size_t>(g)] < 0) {
                local[static_cast<size_t>(g)] = static_cast<int64_t>(order.size());
                order.push_back(g);
              }
              pat.push_back(local[static_cast<size_t>(g)]);
              sg.push_back(cp[x]);
            }
          for (int64_t g : order) local[static_cast<size_t>(g)] = -1;
          if (t == 0 && u == 0) {
            pattern = std::move(pat);
            signs = std::move(sg);
            pair.orbits = static_cast<int64_t>(order.size());
          } else if (pat != pattern || sg != signs) {
            if (why)
              *why = fmt::format("the orbits of Hom({}, {}) differ between copies of one block",
                                 hom->in()->describe(), hom->out()->describe());
            return nullptr;
          }
          ids.insert(ids.end(), order.begin(), order.end());
        }
      const int64_t n = pair.orbits;
      if (n * ra.r * rb.r > kMaxTable) {
        if (why)
          *why = fmt::format(
              "Hom({}, {}) has blocks of {} x {} coordinates with {} orbits: too large to tabulate",
              hom->in()->describe(), hom->out()->describe(), ra.r, rb.r, n);
        return nullptr;
      }
      // Each orbit's indicator (with its signs) in the blocks' isotypic bases, read as T (component-major).
      at::Tensor E = at::zeros({std::max<int64_t>(n, 1), ra.r, rb.r}, at::kDouble);
      {
        auto* ep = E.data_ptr<double>();
        for (int64_t x = 0; x < ra.r * rb.r; ++x)
          if (pattern[static_cast<size_t>(x)] >= 0)
            ep[pattern[static_cast<size_t>(x)] * ra.r * rb.r + x] = signs[static_cast<size_t>(x)];
      }
      std::vector<at::Tensor> columns;
      int64_t width = 0;
      for (size_t k = 0; k < K; ++k) {
        const int64_t co = ra.count[k], ci = rb.count[k], d = h->dims_[k], S = h->types_[k];
        if (co == 0 || ci == 0) continue;
        const at::Tensor qo = ra.basis.narrow(1, ra.offset[k], d * co),
                         qi = rb.basis.narrow(1, rb.offset[k], d * ci);
        at::Tensor blk = at::matmul(at::matmul(qo.t(), E), qi).view({E.size(0), d, co, d, ci});
        at::Tensor T = at::einsum("sab,naobi->nois", {base->endo[k], blk});
        if (S == 1) T = T / std::sqrt(double(d));  // K = I_d ⊗ T for a real irrep
        pair.iso_off[k] = width;
        width += co * ci * S;
        columns.push_back(T.reshape({E.size(0), co * ci * S}));
      }
      at::Tensor table = columns.empty() ? at::zeros({E.size(0), 0}, at::kDouble) : at::cat(columns, 1);
      base->tables.push_back(table.narrow(0, 0, n).contiguous());
      base->ids.push_back(long_tensor(ids).view({ra.m * rb.m, n}));
      tab->pairs.push_back(std::move(pair));
    }
  h->tab_ = tab;
  h->base_ = base;
  return h;
}

std::vector<at::Tensor> IsotypicHom::blocks(const at::Tensor& theta) const {
  TORCH_CHECK(theta.dim() == 1 && theta.size(0) == hom_->dim(), "IsotypicHom::blocks: expected (",
              hom_->dim(), ") coefficients, got ", theta.sizes());
  const auto& t = tensors_for(theta.options());
  const size_t K = dims_.size();
  std::vector<at::Tensor> out(K);
  if (!tab_) {
    for (size_t k = 0; k < K; ++k) {
      const int64_t mo = mult_out_[k], mi = mult_in_[k], S = types_[k];
      if (mo == 0) continue;
      if (mi == 0) {
        out[k] = at::zeros({S, mo, 0}, theta.options());
        continue;
      }
      at::Tensor b = theta.narrow(0, iso_offset_[k], mo * mi * S).view({mo, mi, S}).permute({2, 0, 1});
      if (t.perm_out[k].defined()) b = b.index_select(1, t.perm_out[k]);
      if (t.perm_in[k].defined()) b = b.index_select(2, t.perm_in[k]);
      out[k] = b * (S == 1 ? iso_scale_ / std::sqrt(double(dims_[k])) : iso_scale_);
    }
    return out;
  }
  // Orbit space: per pair of runs, θ gathered per pair of blocks times the table, then laid out by irrep.
  const auto& tab = *tab_;
  std::vector<std::vector<std::vector<at::Tensor>>> rows(
      K, std::vector<std::vector<at::Tensor>>(tab.out_runs.size()));
  for (size_t p = 0; p < tab.pairs.size(); ++p) {
    const auto& pair = tab.pairs[p];
    const auto& ra = *tab.out_runs[pair.out_run];
    const auto& rb = *tab.in_runs[pair.in_run];
    at::Tensor T;
    if (pair.orbits > 0)
      T = at::mm(theta.index_select(0, t.ids[p].reshape({-1})).view({ra.m * rb.m, pair.orbits}), t.tables[p]);
    for (size_t k = 0; k < K; ++k) {
      if (mult_out_[k] == 0) continue;
      const int64_t co = ra.count[k], ci = rb.count[k], S = types_[k];
      at::Tensor piece;
      if (co == 0 || ci == 0 || pair.orbits == 0 || pair.iso_off[k] < 0)
        piece = at::zeros({S, ra.m * co, rb.m * ci}, theta.options());
      else
        piece = T.narrow(1, pair.iso_off[k], co * ci * S)
                    .view({ra.m, rb.m, co, ci, S})
                    .permute({4, 0, 2, 1, 3})
                    .reshape({S, ra.m * co, rb.m * ci});
      rows[k][pair.out_run].push_back(piece);
    }
  }
  for (size_t k = 0; k < K; ++k) {
    if (mult_out_[k] == 0) continue;
    std::vector<at::Tensor> stacked;
    for (auto& row : rows[k]) stacked.push_back(row.size() == 1 ? row[0] : at::cat(row, 2));
    out[k] = stacked.size() == 1 ? stacked[0] : at::cat(stacked, 1);
  }
  return out;
}

IsotypicParts IsotypicHom::apply(const std::vector<at::Tensor>& blocks, const IsotypicParts& x) const {
  const size_t K = dims_.size();
  TORCH_CHECK(blocks.size() == K && x.size() == K, "IsotypicHom::apply: expected one entry per irrep");
  int64_t N = -1;
  at::TensorOptions options;
  for (size_t k = 0; k < K; ++k)
    if (x[k].defined()) {
      N = x[k].size(0);
      options = x[k].options();
    }
  TORCH_CHECK(N >= 0, "IsotypicHom::apply: no input parts");
  const auto& t = tensors_for(options);
  IsotypicParts y(K);
  for (size_t k = 0; k < K; ++k) {
    if (!blocks[k].defined()) continue;
    const at::Tensor& T = blocks[k];
    const int64_t d = dims_[k], mo = T.size(1), mi = T.size(2);
    if (mi == 0 || !x[k].defined()) {
      y[k] = at::zeros({N, d, mo}, options);
      continue;
    }
    TORCH_CHECK(x[k].size(1) == d && x[k].size(2) == mi, "IsotypicHom::apply: part ", k, " has shape ",
                x[k].sizes(), ", expected (N, ", d, ", ", mi, ")");
    if (T.size(0) == 1) {
      y[k] = at::mm(x[k].reshape({N * d, mi}), T[0].t()).view({N, d, mo});
    } else {
      at::Tensor full = at::kron(t.endo[k][0], T[0]);
      for (int64_t s = 1; s < T.size(0); ++s) full = full + at::kron(t.endo[k][s], T[s]);
      y[k] = at::mm(x[k].reshape({N, d * mi}), full.t()).view({N, d, mo});
    }
  }
  return y;
}

}  // namespace eqnn
