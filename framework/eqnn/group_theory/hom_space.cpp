// Hom_G(ρ_in, ρ_out) and the invariant subspace: orbit fast path for permutation structures, isotypic
// blocks otherwise. Plans are float64 CPU tensors, converted once per dtype/device.
//
// Parametrisation (optimiser-fair): the basis elements B_s are Frobenius-orthogonal with Σ_s ‖B_s‖² =
// D_out·D_in, the number of entries of a dense weight. Orbit path: B_s = indicator of orbit s, so expand is
// a gather and every entry is one coefficient. Isotypic path: B_s = sqrt(D_out D_in / dim) · (an
// orthonormal element). Either way a first Adam step (every |Δθ_s| = lr) changes the effective weight by
// exactly the Frobenius norm a stock layer's step has (lr·sqrt(D_out D_in)). analyse is the pseudo-inverse
// of expand (orbit mean; ⟨W, B̂_s⟩ / scale), so expand∘analyse is still the orthogonal projection Π.
#include "eqnn/group_theory/hom_space.hpp"

#include <atomic>
#include <cmath>
#include <numeric>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/internal/orbit_expand.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/limits.hpp"
#include "eqnn/util/weak_cache.hpp"

namespace eqnn {
namespace {

std::atomic<bool> hash_collisions_for_testing{false};

// Cache keys: the content hashes, or one key for everything while the collision test hook is on.
uint64_t cache_key(uint64_t hash) { return hash_collisions_for_testing ? 0 : hash; }
uint64_t pair_key(const RepPtr& a, const RepPtr& b) {
  return cache_key(a->content_hash() * 1000003ULL ^ b->content_hash());
}

// Whole content, not hashes. Two groups are the same when their generators act identically on every
// element (that fixes the whole Cayley table: every element is a word in the generators).
bool same_group(const Group& a, const Group& b) {
  if (&a == &b) return true;
  if (a.is_compact() || b.is_compact()) return a.same_content(b);
  if (a.content_hash() != b.content_hash() || a.order() != b.order() || a.generators() != b.generators())
    return false;
  for (int s : a.generators())
    for (int g = 0; g < a.order(); ++g)
      if (a.mul(s, g) != b.mul(s, g)) return false;
  return true;
}

// Groups with one table may still carry different irreps (a plugin may supply its own): the isotypic
// plan is built from them, so they are compared too (matrices on the generators and End bases).
bool same_irreps(const Group& a, const Group& b) {
  if (&a == &b) return true;
  const auto& x = a.irreps();
  const auto& y = b.irreps();
  if (x.size() != y.size()) return false;
  auto equal = [](const Matrix& p, const Matrix& q) {
    return p.rows() == q.rows() && p.cols() == q.cols() && (p - q).cwiseAbs().maxCoeff() <= 1e-12;
  };
  for (size_t k = 0; k < x.size(); ++k) {
    if (x[k].dim != y[k].dim || x[k].type != y[k].type) return false;
    for (int s : a.generators())
      if (!equal(x[k].matrices[s], y[k].matrices[s])) return false;
    for (size_t e = 0; e < x[k].endomorphism_basis.size(); ++e)
      if (!equal(x[k].endomorphism_basis[e], y[k].endomorphism_basis[e])) return false;
  }
  return true;
}

// A cached space answers for `rep` only when everything its plan is built from is equal: the group,
// the representation's content (irreps, Q, permutation structure) and, where the plan uses them, the
// group's irreps.
bool same_rep(const RepPtr& cached, const RepPtr& rep, bool uses_irreps) {
  if (cached == rep) return true;
  if (!same_group(cached->group(), rep->group()) || !cached->same_content(*rep)) return false;
  return !uses_irreps || same_irreps(cached->group(), rep->group());
}

// The orbit path serves two permutation structures (each in its basis B) or two signed permutation
// representations (B = I).
bool orbit_path_applies(const Representation& in, const Representation& out) {
  return (in.has_permutation_structure() && out.has_permutation_structure()) ||
         (in.has_signed_permutation_structure() && out.has_signed_permutation_structure());
}

std::vector<SignedPermutation> orbit_generators(const Representation& r) {
  if (!r.has_permutation_structure()) return r.signed_permutation_generators();
  std::vector<SignedPermutation> out;
  for (const auto& p : r.permutation_generators()) out.push_back({p, std::vector<int>(p.size(), 1)});
  return out;
}

// The first index of each contiguous range of 0..n-1 that is a union of the generators' orbits (the
// transitive parts of a permutation rep; one range when they interleave). Orbits of pairs stay inside the
// product of two such ranges: the tiles of OrbitExpansion.
std::vector<int64_t> component_starts(const std::vector<SignedPermutation>& gens, int64_t n) {
  std::vector<int64_t> parent(static_cast<size_t>(n));
  std::iota(parent.begin(), parent.end(), int64_t{0});
  auto find = [&](int64_t x) {
    while (parent[static_cast<size_t>(x)] != x)
      x = parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    return x;
  };
  for (const auto& s : gens)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t a = find(i), b = find(s.perm[i]);
      if (a != b) parent[static_cast<size_t>(std::min(a, b))] = std::max(a, b);
    }
  // The root is the largest index of its orbit (unions point to the larger root).
  std::vector<int64_t> reach(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) reach[static_cast<size_t>(i)] = find(i);
  std::vector<int64_t> starts;
  int64_t end = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (i > end) starts.push_back(i);
    end = std::max(end, reach[static_cast<size_t>(i)]);
  }
  return starts;
}

// Union-find over 0..n-1 with a sign per element relative to its root: unite(a, b, s) records
// value(b) = s · value(a). A set that receives two contradicting signs is dead (every value is 0). Each set
// is represented by its smallest element, whose sign is +1.
class SignedOrbits {
 public:
  explicit SignedOrbits(int64_t n) : parent_(static_cast<size_t>(n)), sign_(n, 1), dead_(n, false) {
    std::iota(parent_.begin(), parent_.end(), int64_t{0});
  }
  /// The root of x and value(x) = sign · value(root).
  std::pair<int64_t, int> find(int64_t x) {
    int s = 1;
    int64_t r = x;
    while (parent_[r] != r) {
      s *= sign_[r];
      r = parent_[r];
    }
    // Path compression: point every element on the path straight at the root.
    int64_t y = x;
    int sy = s;
    while (parent_[y] != r && parent_[y] != y) {
      const int64_t next = parent_[y];
      const int next_sign = sy * sign_[y];
      parent_[y] = r;
      sign_[y] = sy;
      y = next;
      sy = next_sign;
    }
    return {r, s};
  }
  void unite(int64_t a, int64_t b, int s) {
    auto [ra, sa] = find(a);
    auto [rb, sb] = find(b);
    if (ra == rb) {
      if (sb != s * sa) dead_[ra] = true;
      return;
    }
    // value(rb) = sb · value(b) = sb · s · sa · value(ra), and symmetrically.
    if (rb < ra) std::swap(ra, rb);
    parent_[rb] = ra;
    sign_[rb] = sb * s * sa;
    dead_[ra] = dead_[ra] || dead_[rb];
  }
  bool dead(int64_t root) const { return dead_[root]; }

 private:
  std::vector<int64_t> parent_;
  std::vector<int> sign_;
  std::vector<bool> dead_;
};

}  // namespace

void testing_hooks::set_cache_hash_collisions(bool on) { hash_collisions_for_testing = on; }

struct HomSpace::Plan {
  // orbit
  at::Tensor index;      // (D_out * D_in) int64 orbit id
  at::Tensor coef;       // optional (D_out * D_in): scale · sign of each pair, 0 on a dead orbit
  at::Tensor inv_count;  // (dim) 1/(|orbit| scale²): analyse is the (signed) orbit mean
  // index and coef as shared int32 tiles: expand's CPU path (a gather whose backward is a per-orbit sum);
  // device-independent, shared by every converted plan
  std::shared_ptr<const OrbitExpansion> tiled;
  // isotypic: B_s = scale · (orthonormal basis element), scale = sqrt(D_out D_in / dim)
  double scale = 1.0;
  at::Tensor basis_out;   // optional (D_out, D_out)
  at::Tensor basis_in_t;  // optional (D_in, D_in), already transposed
  // isotypic
  struct Block {
    int64_t offset, m_out, m_in, S, d;
    // Q's columns of this irrep: dense (D, m d), or, where Q = I, undefined and the rows they select
    // (m d, int64): the block is then placed and read by index, not by a product with a selection matrix.
    at::Tensor q_out;  // (D_out, m_out d)
    at::Tensor q_in;   // (D_in, m_in d)
    at::Tensor endo;   // (S, d, d), orthonormal (‖E‖ = 1)
    at::Tensor rows_out, rows_in;
  };
  std::vector<Block> blocks;

  std::shared_ptr<Plan> converted(const at::TensorOptions& o) const {
    auto p = std::make_shared<Plan>();
    p->scale = scale;
    p->tiled = tiled;
    auto cv = [&](const at::Tensor& t) { return t.defined() ? t.to(o) : t; };
    if (index.defined()) p->index = index.to(o.device());
    p->coef = cv(coef);
    p->inv_count = cv(inv_count);
    p->basis_out = cv(basis_out);
    p->basis_in_t = cv(basis_in_t);
    auto dev = [&](const at::Tensor& t) { return t.defined() ? t.to(o.device()) : t; };
    for (const auto& b : blocks)
      p->blocks.push_back(Block{b.offset, b.m_out, b.m_in, b.S, b.d, cv(b.q_out), cv(b.q_in), cv(b.endo),
                                dev(b.rows_out), dev(b.rows_in)});
    return p;
  }
};

std::shared_ptr<const HomSpace> HomSpace::get(const RepPtr& in, const RepPtr& out) {
  static auto* cache = new WeakCache<HomSpace>();
  return cache->get(
      pair_key(in, out),
      [&](const HomSpace& h) {
        const bool isotypic = h.method_ == Method::isotypic;
        return same_rep(h.in_, in, isotypic) && same_rep(h.out_, out, isotypic);
      },
      [&] {
        auto method = orbit_path_applies(*in, *out) ? Method::orbit : Method::isotypic;
        return build(in, out, method);
      });
}

std::shared_ptr<const HomSpace> HomSpace::build(const RepPtr& in, const RepPtr& out, Method method) {
  if (in->group().content_hash() != out->group().content_hash())
    throw GroupError(fmt::format("Hom({}, {}): the representations belong to different groups ({} and {})",
                                 in->name(), out->name(), in->group().name(), out->group().name()));
  check_matrix_entries(out->size(), in->size(), fmt::format("Hom({}, {})", in->describe(), out->describe()),
                       "weight");
  auto h = std::shared_ptr<HomSpace>(new HomSpace());
  h->in_ = in;
  h->out_ = out;
  h->method_ = method;
  auto plan = std::make_shared<Plan>();
  const int64_t Do = out->size(), Di = in->size();
  if (method == Method::orbit) {
    if (!orbit_path_applies(*in, *out))
      throw GroupError(
          "Hom: the orbit method needs two representations with a permutation structure or two signed "
          "permutation representations");
    // Union-find over pairs (i, j) ~ (π_out(i), π_in(j)) for every generator, with the sign
    // W[π_out(i), π_in(j)] = s_out(i) s_in(j) W[i, j] of a signed permutation structure (all +1 otherwise).
    // An orbit that reaches a pair with both signs is forced to zero.
    SignedOrbits orbits(Do * Di);
    const auto go = orbit_generators(*out), gi = orbit_generators(*in);
    for (size_t s = 0; s < go.size(); ++s)
      for (int64_t i = 0; i < Do; ++i)
        for (int64_t j = 0; j < Di; ++j)
          orbits.unite(i * Di + j, static_cast<int64_t>(go[s].perm[i]) * Di + gi[s].perm[j],
                       go[s].sign[i] * gi[s].sign[j]);
    // Orbits numbered by their smallest pair, whose sign is +1.
    std::vector<int64_t> id(static_cast<size_t>(Do * Di), -1), count;
    auto index = at::zeros({Do * Di}, at::kLong);
    auto coef = at::zeros({Do * Di}, at::kDouble);
    auto* ip = index.data_ptr<int64_t>();
    auto* cp = coef.data_ptr<double>();
    int64_t live = 0;
    bool plain = true;
    for (int64_t x = 0; x < Do * Di; ++x) {
      auto [root, sign] = orbits.find(x);
      if (orbits.dead(root)) {
        plain = false;
        continue;
      }
      if (id[root] < 0) {
        id[root] = static_cast<int64_t>(count.size());
        count.push_back(0);
      }
      ip[x] = id[root];
      cp[x] = sign;
      plain = plain && sign > 0;
      ++count[id[root]];
      ++live;
    }
    h->dim_ = static_cast<int64_t>(count.size());
    plan->index = index;
    // Dead pairs make Σ_s ‖indicator_s‖² < D_out·D_in: B_s = scale · (signed indicator) restores it.
    if (live > 0) plan->scale = std::sqrt(double(Do) * double(Di) / double(live));
    if (!plain) plan->coef = coef * plan->scale;
    if (h->dim_ > 0)
      plan->tiled = std::make_shared<OrbitExpansion>(plan->index, plan->coef, Do, Di, h->dim_,
                                                     component_starts(go, Do), component_starts(gi, Di));
    plan->inv_count = at::empty({h->dim_}, at::kDouble);
    for (int64_t o = 0; o < h->dim_; ++o)
      plan->inv_count.data_ptr<double>()[o] = 1.0 / (double(count[o]) * plan->scale * plan->scale);
    if (out->permutation_basis()) plan->basis_out = to_tensor(*out->permutation_basis());
    if (in->permutation_basis()) plan->basis_in_t = to_tensor(in->permutation_basis()->transpose());
  } else {
    const auto& irreps = in->group().irreps();
    auto mi = in->multiplicities(), mo = out->multiplicities();
    int64_t offset = 0;
    for (size_t k = 0; k < irreps.size(); ++k) {
      if (mi[k] == 0 || mo[k] == 0) continue;
      const auto& ir = irreps[k];
      Plan::Block b{offset, mo[k], mi[k], ir.S(), ir.dim, {}, {}, {}, {}, {}};
      auto columns = [k](const Representation& rep, int64_t D, at::Tensor* q, at::Tensor* rows) {
        const auto cols = rep.columns_of_irrep(static_cast<int>(k));
        if (rep.q_is_identity()) {
          *rows = at::empty({static_cast<int64_t>(cols.size())}, at::kLong);
          std::copy(cols.begin(), cols.end(), rows->data_ptr<int64_t>());
          return;
        }
        Matrix m(D, static_cast<Eigen::Index>(cols.size()));
        for (size_t c = 0; c < cols.size(); ++c) m.col(c) = rep.Q().col(cols[c]);
        *q = to_tensor(m);
      };
      columns(*out, Do, &b.q_out, &b.rows_out);
      columns(*in, Di, &b.q_in, &b.rows_in);
      b.endo = at::empty({b.S, b.d, b.d}, at::kDouble);
      for (int s = 0; s < ir.S(); ++s)
        b.endo[s].copy_(to_tensor(ir.endomorphism_basis[s] / std::sqrt(double(ir.dim))));
      offset += b.m_out * b.m_in * b.S;
      plan->blocks.push_back(std::move(b));
    }
    h->dim_ = offset;
    if (offset > 0) plan->scale = std::sqrt(double(Do) * double(Di) / double(offset));
  }
  h->base_ = plan;
  return h;
}

const HomSpace::Plan& HomSpace::plan_for(const at::TensorOptions& options) const {
  if (options.dtype() == at::kDouble && options.device().is_cpu()) return *base_;
  return *converted_.get(options, [this](const at::TensorOptions& o) { return base_->converted(o); });
}

std::pair<at::Tensor, at::Tensor> HomSpace::orbit_entries(const at::Tensor& rows,
                                                          const at::Tensor& cols) const {
  TORCH_CHECK(method_ == Method::orbit, "HomSpace::orbit_entries: Hom(", in_->describe(), ", ",
              out_->describe(), ") is not parametrised by orbits");
  TORCH_CHECK(rows.sizes() == cols.sizes(), "HomSpace::orbit_entries: rows ", rows.sizes(), " and columns ",
              cols.sizes(), " differ in shape");
  const at::Tensor r = rows.to(at::kLong), c = cols.to(at::kLong);
  TORCH_CHECK(r.numel() == 0 || (r.min().item<int64_t>() >= 0 && r.max().item<int64_t>() < out_->size() &&
                                 c.min().item<int64_t>() >= 0 && c.max().item<int64_t>() < in_->size()),
              "HomSpace::orbit_entries: an entry lies outside the ", out_->size(), " x ", in_->size(),
              " weight");
  const at::Tensor flat = (r * in_->size() + c).reshape({-1});
  at::Tensor index = base_->index.index_select(0, flat).view(rows.sizes());
  at::Tensor factor = base_->coef.defined() ? base_->coef.index_select(0, flat).view(rows.sizes())
                                            : at::full(rows.sizes(), base_->scale, at::kDouble);
  return {index, factor};
}

at::Tensor HomSpace::expand(const at::Tensor& theta) const {
  TORCH_CHECK(theta.dim() >= 1 && theta.size(-1) == dim_,
              "HomSpace::expand: expected coefficients of shape (..., ", dim_, "), got ", theta.sizes());
  const auto& p = plan_for(theta.options());
  const int64_t Do = out_->size(), Di = in_->size();
  auto lead = theta.sizes().slice(0, theta.dim() - 1).vec();
  auto shape = lead;
  shape.push_back(Do);
  shape.push_back(Di);
  if (method_ == Method::orbit) {
    if (dim_ == 0) return at::zeros(shape, theta.options());  // every orbit dead (signs)
    at::Tensor W;
    if (p.tiled && p.tiled->serves(theta)) {
      W = p.tiled->expand(theta);  // the same values and gradients, one node, no int64 index pass
    } else {
      // Batched coefficients, functorch wrappers, forward-mode tangents, other devices.
      W = theta.index_select(-1, p.index);
      if (p.coef.defined()) W = W * p.coef;
      W = W.view(shape);
    }
    if (p.basis_out.defined()) W = at::matmul(p.basis_out, W);
    if (p.basis_in_t.defined()) W = at::matmul(W, p.basis_in_t);
    return W;
  }
  at::Tensor W = at::zeros(shape, theta.options());
  for (const auto& b : p.blocks) {
    auto bshape = lead;
    bshape.insert(bshape.end(), {b.m_out, b.m_in, b.S});
    at::Tensor t = theta.narrow(-1, b.offset, b.m_out * b.m_in * b.S).reshape(bshape);
    // (..., o, i, s) x (s, a, b) -> (..., o, a, i, b)
    at::Tensor blk = at::einsum("...ois,sab->...oaib", {t, b.endo});
    auto fshape = lead;
    fshape.insert(fshape.end(), {b.m_out * b.d, b.m_in * b.d});
    blk = blk.reshape(fshape);
    // Rows, then columns: a product with Q's columns, or (Q = I) an index_copy into the rows the irrep's
    // copies occupy (each block has its own rows and columns, so copies never overlap).
    if (b.q_out.defined()) {
      blk = at::matmul(b.q_out, blk);
    } else {
      auto rshape = lead;
      rshape.insert(rshape.end(), {Do, b.m_in * b.d});
      blk = at::zeros(rshape, theta.options()).index_copy(-2, b.rows_out, blk);
    }
    W = b.q_in.defined() ? W + at::matmul(blk, b.q_in.t()) : W.index_copy(-1, b.rows_in, blk);
  }
  return W * p.scale;
}

int64_t HomSpace::expansion_products() const {
  const int64_t Do = out_->size(), Di = in_->size();
  const Plan& p = *base_;
  int64_t n = 0;
  if (method_ == Method::orbit) {
    if (p.basis_out.defined()) n += Do * Do * Di;
    if (p.basis_in_t.defined()) n += Do * Di * Di;
    return n;
  }
  for (const auto& b : p.blocks) {
    const int64_t rows = b.m_out * b.d, cols = b.m_in * b.d;
    n += b.m_out * b.m_in * b.S * b.d * b.d;
    if (b.q_out.defined()) n += Do * rows * cols;
    if (b.q_in.defined()) n += Do * cols * Di;
  }
  return n;
}

at::Tensor HomSpace::analyse(const at::Tensor& W) const {
  const int64_t Do = out_->size(), Di = in_->size();
  TORCH_CHECK(W.dim() >= 2 && W.size(-2) == Do && W.size(-1) == Di,
              "HomSpace::analyse: expected a tensor of shape (..., ", Do, ", ", Di, "), got ", W.sizes());
  const auto& p = plan_for(W.options());
  auto lead = W.sizes().slice(0, W.dim() - 2).vec();
  if (method_ == Method::orbit) {
    at::Tensor V = W;
    if (p.basis_out.defined()) V = at::matmul(p.basis_out.t(), V);
    if (p.basis_in_t.defined()) V = at::matmul(V, p.basis_in_t.t());
    auto flat_shape = lead;
    flat_shape.push_back(Do * Di);
    auto out_shape = lead;
    out_shape.push_back(dim_);
    if (dim_ == 0) return at::zeros(out_shape, W.options());
    at::Tensor flat = V.reshape(flat_shape);
    if (p.coef.defined()) flat = flat * p.coef;
    at::Tensor sums = at::zeros(out_shape, W.options()).index_add(-1, p.index, flat);
    return sums * p.inv_count;
  }
  std::vector<at::Tensor> parts;
  for (const auto& b : p.blocks) {
    at::Tensor blk = b.q_out.defined() ? at::matmul(b.q_out.t(), W) : W.index_select(-2, b.rows_out);
    blk = b.q_in.defined() ? at::matmul(blk, b.q_in) : blk.index_select(-1, b.rows_in);
    auto s = lead;
    s.insert(s.end(), {b.m_out, b.d, b.m_in, b.d});
    at::Tensor c = at::einsum("...oaib,sab->...ois", {blk.reshape(s), b.endo});
    auto f = lead;
    f.push_back(b.m_out * b.m_in * b.S);
    parts.push_back(c.reshape(f) / p.scale);
  }
  if (parts.empty()) {
    auto s = lead;
    s.push_back(0);
    return at::zeros(s, W.options());
  }
  return at::cat(parts, -1);
}

at::Tensor HomSpace::sample(InitScheme scheme, const at::TensorOptions& options,
                            c10::optional<at::Generator> gen) const {
  // Σ_s ‖B_s‖² = D_out·D_in on both paths, so i.i.d. coefficients with the stock per-entry law give the
  // stock per-entry variance on average (on the orbit path every entry *is* one coefficient).
  at::Tensor theta = at::zeros({dim_}, options);
  fill_init(theta, scheme, stock_variance(scheme, out_->size(), in_->size()), gen);
  return theta;
}

std::shared_ptr<const InvariantSpace> InvariantSpace::get(const RepPtr& rep) {
  static auto* cache = new WeakCache<InvariantSpace>();
  return cache->get(
      cache_key(rep->content_hash()),
      [&](const InvariantSpace& s) { return same_rep(s.rep_, rep, /*uses_irreps=*/false); },
      [&] {
        auto s = std::shared_ptr<InvariantSpace>(new InvariantSpace());
        s->rep_ = rep;
        Matrix B = rep->invariant_basis();
        s->dim_ = B.cols();
        s->basis_ = to_tensor(B);
        return std::shared_ptr<const InvariantSpace>(s);
      });
}

at::Tensor InvariantSpace::basis_for(const at::TensorOptions& options) const {
  return converted_.get(options, [this](const at::TensorOptions& o) { return basis_.to(o); });
}

at::Tensor InvariantSpace::expand(const at::Tensor& theta) const {
  TORCH_CHECK(theta.dim() >= 1 && theta.size(-1) == dim_,
              "InvariantSpace::expand: expected coefficients of shape (..., ", dim_, "), got ",
              theta.sizes());
  return at::matmul(theta, basis_for(theta.options()).t());
}

at::Tensor InvariantSpace::analyse(const at::Tensor& v) const {
  TORCH_CHECK(v.dim() >= 1 && v.size(-1) == rep_->size(),
              "InvariantSpace::analyse: expected a tensor of shape (..., ", rep_->size(), "), got ",
              v.sizes());
  return at::matmul(v, basis_for(v.options()));
}

}  // namespace eqnn
