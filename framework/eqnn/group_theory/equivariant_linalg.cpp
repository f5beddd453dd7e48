// Equivariant linear algebra (equivariant_linalg.hpp): projections through HomSpace/InvariantSpace, and the
// exact constrained least squares as one small unconstrained solve per irrep type in the isotypic basis.
#include "eqnn/group_theory/equivariant_linalg.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/statistics.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::linalg {
namespace {

void check_same_group(const Representation& a, const Representation& b, const char* who) {
  if (!a.group().same_content(b.group()))
    throw GroupError(
        fmt::format("{}: rep_x and rep_y belong to different groups ({} and {}); both must be "
                    "representations of one group",
                    who, a.group().name(), b.group().name()));
}

// The columns of Q that hold the copies of irrep k, as a (D, m·d) tensor.
at::Tensor copies_of(const Representation& rep, int k, const at::TensorOptions& options) {
  const auto cols = rep.columns_of_irrep(k);
  Matrix q(rep.size(), static_cast<Eigen::Index>(cols.size()));
  for (size_t c = 0; c < cols.size(); ++c) q.col(static_cast<Eigen::Index>(c)) = rep.Q().col(cols[c]);
  return to_tensor(q).to(options);
}

double epsilon_of(const at::Tensor& t) {
  return t.scalar_type() == at::kDouble ? std::numeric_limits<double>::epsilon()
                                        : std::numeric_limits<float>::epsilon();
}

// Minimum-norm least squares with singular values below eps · max(rows, cols) · σ_max counted as zero
// (gelsd's default): LAPACK's gelsd on CPU; the SVD pseudo-inverse where gelsd does not exist.
at::Tensor min_norm_solve(const at::Tensor& A, const at::Tensor& B) {
  if (A.device().is_cpu())
    return std::get<0>(at::linalg_lstsq(A, B, c10::nullopt, c10::string_view("gelsd")));
  const double rtol = epsilon_of(A) * static_cast<double>(std::max(A.size(0), A.size(1)));
  return at::matmul(at::linalg_pinv(A, c10::optional<double>(0.0), c10::optional<double>(rtol), false), B);
}

}  // namespace

at::Tensor invariant_projector(const RepPtr& rep, const at::TensorOptions& options) {
  return to_tensor(rep->invariant_projector()).to(options);
}

at::Tensor equivariant_projection(const at::Tensor& W, const RepPtr& rep_x, const RepPtr& rep_y) {
  const char* who = "eqnn.linalg.equivariant_projection";
  check_same_group(*rep_x, *rep_y, who);
  const int64_t Dy = rep_y->size(), Dx = rep_x->size();
  if (!W.defined() || W.dim() < 2 || W.size(-2) != Dy || W.size(-1) != Dx ||
      !c10::isFloatingType(W.scalar_type()))
    throw ConfigError(fmt::format(
        "{}: expected a floating-point W of shape (..., {}, {}) = (..., rep_y.size, "
        "rep_x.size) for {} -> {}, got {}",
        who, Dy, Dx, rep_x->describe(), rep_y->describe(),
        W.defined() ? c10::str(W.sizes()) + " " + c10::toString(W.scalar_type()) : std::string("no tensor")));
  return HomSpace::get(rep_x, rep_y)->project(W);
}

at::Tensor lstsq(const at::Tensor& x, const at::Tensor& y, const RepPtr& rep_x, const RepPtr& rep_y) {
  const char* who = "eqnn.linalg.lstsq";
  check_same_group(*rep_x, *rep_y, who);
  if (!x.defined() || !y.defined() || x.dim() != 2 || y.dim() != 2 || x.size(0) != y.size(0))
    throw ConfigError(fmt::format("{}: expected x of shape (N, {}) and y of shape (N, {}), got {} and {}",
                                  who, rep_x->size(), rep_y->size(),
                                  x.defined() ? c10::str(x.sizes()) : "no tensor",
                                  y.defined() ? c10::str(y.sizes()) : "no tensor"));
  at::Tensor xf = stats::fold_samples(x, *rep_x, who, "x");
  at::Tensor yf = stats::fold_samples(y, *rep_y, who, "y");
  if (x.device() != y.device())
    throw ConfigError(fmt::format("{}: x is on {} and y on {}; put both on one device", who, x.device().str(),
                                  y.device().str()));
  const auto dtype = at::promote_types(xf.scalar_type(), yf.scalar_type());
  const auto options = xf.options().dtype(dtype);
  xf = xf.to(dtype);
  yf = yf.to(dtype);
  const int64_t N = xf.size(0);
  const auto& irreps = rep_x->group().irreps();
  const auto mx = rep_x->multiplicities(), my = rep_y->multiplicities();
  at::Tensor W = at::zeros({rep_y->size(), rep_x->size()}, options);
  // A type whose design is rounding noise next to the data (x has no component of that type) contributes 0,
  // the minimum-norm answer; a relative cut-off inside the block alone would fit the noise.
  const double noise =
      epsilon_of(xf) * static_cast<double>(std::max<int64_t>(N, rep_x->size())) * xf.norm().item<double>();
  for (size_t k = 0; k < irreps.size(); ++k) {
    if (mx[k] == 0 || my[k] == 0) continue;  // Schur: no equivariant map between different types
    const auto& ir = irreps[k];
    const int64_t d = ir.dim, S = ir.S(), m_in = mx[k], m_out = my[k];
    at::Tensor qx = copies_of(*rep_x, static_cast<int>(k), options);  // (D_x, m_in·d)
    at::Tensor qy = copies_of(*rep_y, static_cast<int>(k), options);  // (D_y, m_out·d)
    at::Tensor E = at::empty({S, d, d}, at::kDouble);
    for (int64_t s = 0; s < S; ++s) E[s].copy_(to_tensor(ir.endomorphism_basis[static_cast<size_t>(s)]));
    E = E.to(options);
    at::Tensor xt = at::matmul(xf, qx).reshape({N, m_in, d});   // x̃_{n,i,b}
    at::Tensor yt = at::matmul(yf, qy).reshape({N, m_out, d});  // ỹ_{n,o,a}
    // Z[(n,a),(i,s)] = (E_s x̃_{n,i})_a;  T[(n,a),o] = ỹ_{n,o,a}
    at::Tensor Z = at::einsum("sab,nib->nais", {E, xt}).reshape({N * d, m_in * S});
    at::Tensor T = yt.permute({0, 2, 1}).reshape({N * d, m_out});
    if (Z.norm().item<double>() <= noise) continue;
    at::Tensor theta = min_norm_solve(Z, T).reshape({m_in, S, m_out});  // θ_{i,s,o}
    // W̃[(o,a),(i,b)] = Σ_s θ_{i,s,o} E_s[a,b]
    at::Tensor Wt = at::einsum("iso,sab->oaib", {theta, E}).reshape({m_out * d, m_in * d});
    W = W + at::matmul(at::matmul(qy, Wt), qx.t());
  }
  return W;
}

}  // namespace eqnn::linalg
