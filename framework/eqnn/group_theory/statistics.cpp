// Symmetry-constrained statistics (statistics.hpp). The projections are HomSpace's and InvariantSpace's; this
// file folds the samples, divides by the right count and averages the variance per irreducible copy.
#include "eqnn/group_theory/statistics.hpp"

#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::stats {
namespace {

std::string shape_of(const at::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + (t.dim() == 1 ? ",)" : ")");
}

void check_same_group(const Representation& a, const Representation& b, const char* who) {
  if (!a.group().same_content(b.group()))
    throw GroupError(
        fmt::format("{}: rep_x and rep_y belong to different groups ({} and {}); both must be "
                    "representations of one group",
                    who, a.group().name(), b.group().name()));
}

// x and y must pair their samples: the same N (and T for a time axis).
void check_paired(const at::Tensor& x, const at::Tensor& y, const char* who) {
  const bool paired =
      x.dim() == y.dim() && x.size(0) == y.size(0) && (x.dim() != 3 || x.size(2) == y.size(2));
  if (!paired)
    throw ConfigError(
        fmt::format("{}: x {} and y {} do not pair their samples: expected (N, D_x) and (N, D_y), "
                    "or (N, D_x, T) and (N, D_y, T)",
                    who, shape_of(x), shape_of(y)));
}

int64_t divisor(int64_t samples, bool unbiased, const char* who) {
  if (!unbiased) return samples;
  if (samples < 2)
    throw ConfigError(
        fmt::format("{}: unbiased=True divides by N - 1 and needs at least 2 samples, got {}; pass "
                    "unbiased=False to divide by N",
                    who, samples));
  return samples - 1;
}

// (Q∘Q) A, where A averages a vector over each irreducible copy of Q's column blocks: var = M v.
Matrix copy_average_map(const Representation& rep) {
  const Matrix& Q = rep.Q();
  const auto& irreps = rep.group().irreps();
  const int D = rep.size();
  Matrix A = Matrix::Zero(D, D);
  int offset = 0;
  for (int k : rep.irreps()) {
    const int d = irreps[static_cast<size_t>(k)].dim;
    A.block(offset, offset, d, d).setConstant(1.0 / d);
    offset += d;
  }
  return Q.cwiseProduct(Q) * A;
}

}  // namespace

at::Tensor fold_samples(const at::Tensor& x, const Representation& rep, const char* who, const char* name) {
  if (!x.defined()) throw ConfigError(fmt::format("{}: {} is not a tensor", who, name));
  if (!c10::isFloatingType(x.scalar_type()))
    throw ConfigError(fmt::format("{}: {} must be a floating-point tensor, got {}", who, name,
                                  std::string(c10::toString(x.scalar_type()))));
  const int64_t D = rep.size();
  if ((x.dim() != 2 && x.dim() != 3) || x.size(1) != D)
    throw ConfigError(
        fmt::format("{}: expected {} of shape (N, {}) or (N, {}, T) for the representation {}, got {}", who,
                    name, D, D, rep.describe(), shape_of(x)));
  at::Tensor flat = x.dim() == 2 ? x : x.permute({0, 2, 1}).reshape({-1, D});
  if (flat.size(0) == 0) throw ConfigError(fmt::format("{}: {} {} has no samples", who, name, shape_of(x)));
  return flat;
}

at::Tensor mean(const at::Tensor& x, const RepPtr& rep) {
  at::Tensor flat = fold_samples(x, *rep, "eqnn.stats.mean");
  return InvariantSpace::get(rep)->project(flat.mean(0));
}

at::Tensor var(const at::Tensor& x, const RepPtr& rep, const std::optional<at::Tensor>& center,
               bool unbiased) {
  const char* who = "eqnn.stats.var";
  at::Tensor flat = fold_samples(x, *rep, who);
  const int64_t n = divisor(flat.size(0), unbiased, who);
  at::Tensor c;
  if (center && center->defined()) {
    c = *center;
    if (c.dim() != 1 || c.size(0) != rep->size())
      throw ConfigError(
          fmt::format("{}: expected center of shape ({},), got {}", who, rep->size(), shape_of(c)));
  } else {
    c = InvariantSpace::get(rep)->project(flat.mean(0));
  }
  const auto options = flat.options();
  at::Tensor Q = to_tensor(rep->Q()).to(options);
  at::Tensor z = at::matmul(flat - c, Q);  // rows ẑ_n = Qᵀ(x_n − c)
  at::Tensor v = z.pow(2).sum(0) / static_cast<double>(n);
  return at::matmul(to_tensor(copy_average_map(*rep)).to(options), v);
}

std::pair<at::Tensor, at::Tensor> var_mean(const at::Tensor& x, const RepPtr& rep, bool unbiased) {
  at::Tensor mu = mean(x, rep);
  return {var(x, rep, mu, unbiased), mu};
}

at::Tensor cov(const at::Tensor& x, const at::Tensor& y, const RepPtr& rep_x, const RepPtr& rep_y,
               bool uncentered, bool unbiased) {
  const char* who = "eqnn.stats.cov";
  check_same_group(*rep_x, *rep_y, who);
  at::Tensor xf = fold_samples(x, *rep_x, who, "x");
  at::Tensor yf = fold_samples(y, *rep_y, who, "y");
  check_paired(x, y, who);
  const auto dtype = at::promote_types(xf.scalar_type(), yf.scalar_type());
  xf = xf.to(dtype);
  yf = yf.to(dtype);
  int64_t n = xf.size(0);
  if (!uncentered) {
    n = divisor(n, unbiased, who);
    xf = xf - InvariantSpace::get(rep_x)->project(xf.mean(0));
    yf = yf - InvariantSpace::get(rep_y)->project(yf.mean(0));
  }
  at::Tensor C = at::matmul(yf.t(), xf) / static_cast<double>(n);
  return HomSpace::get(rep_x, rep_y)->project(C);
}

}  // namespace eqnn::stats
