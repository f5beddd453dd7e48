// EFourierPointwise (see e_fourier_pointwise.hpp).
#include "e_fourier_pointwise.hpp"

#include <cmath>
#include <ostream>
#include <set>
#include <tuple>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <Eigen/Dense>

#include "e_activation.hpp"
#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/limits.hpp"
#include "function_choice.hpp"

namespace eqnn {
namespace {

// regular(L)'s irreps in order (k with multiplicity d_k/S_k), without building it (its dense Q could be
// larger than eqnn builds).
std::vector<int> regular_irreps(const Group& g, int band) {
  std::vector<int> out;
  for (int k = 0; k < g.compact()->num_irreps(band); ++k)
    out.insert(out.end(), g.irreps()[k].dim / g.irreps()[k].S(), k);
  return out;
}

// L when `rep`'s irreps are m ≥ 1 copies of regular(L)'s, in its order; nullopt otherwise. `copies` gets m.
std::optional<int> regular_band(const Representation& rep, int64_t* copies) {
  const Group& g = rep.group();
  int band = 0;
  const std::set<int> distinct(rep.irreps().begin(), rep.irreps().end());
  for (int k : distinct) band = std::max(band, g.compact()->irrep(k).band);
  const std::vector<int> block = regular_irreps(g, band);
  const auto& irreps = rep.irreps();
  if (irreps.size() % block.size() != 0) return std::nullopt;
  for (size_t i = 0; i < irreps.size(); ++i)
    if (irreps[i] != block[i % block.size()]) return std::nullopt;
  *copies = static_cast<int64_t>(irreps.size() / block.size());
  return band;
}

}  // namespace

std::optional<OptionError> validate(const EFourierPointwiseOptions& o) {
  const std::string what = "eFourierPointwise";
  if (auto error = detail::check_function(what, o.function(), pointwise_functions())) return error;
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  const Representation& rep = *o.in_rep();
  if (!rep.group().is_compact())
    return OptionError{"in_rep", fmt::format("{}: {} is a finite group; its regular features take the exact "
                                             "pointwise activations (eReLU, eELU, ..., ePointwise)",
                                             what, rep.group().name())};
  int64_t copies = 0;
  if (!regular_band(rep, &copies))
    return OptionError{"in_rep", fmt::format("{}: in_rep {} is not m copies of regular(L) in regular(L)'s "
                                             "order, e.g. '4x regular(2)'; for other representations use "
                                             "eNormNonlinearity or eGatedNonlinearity",
                                             what, rep.describe())};
  if (o.grid_size() < 0 || o.grid_size() > 1000000)
    return OptionError{"grid_size", fmt::format("{}: grid_size must be 0 (automatic) or 1..1000000, found {}",
                                                what, o.grid_size())};
  return std::nullopt;
}

EFourierPointwiseImpl::EFourierPointwiseImpl(EFourierPointwiseOptions options_)
    : Layer("eqnn::EFourierPointwise"), options(std::move(options_)) {
  reset();
}

EFourierPointwiseImpl::~EFourierPointwiseImpl() = default;

void EFourierPointwiseImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const Representation& rep = *options.in_rep();
  const Group& g = rep.group();
  const CompactGroupDefinition* def = g.compact();
  band_ = *regular_band(rep, &copies_);
  const std::vector<int> regular = regular_irreps(g, band_);
  block_ = rep.size() / copies_;
  grid_size_ = options.grid_size() > 0 ? options.grid_size() : kFourierGridPerCoefficient * block_;
  check_matrix_entries(grid_size_, block_, fmt::format("eFourierPointwise on {}", rep.describe()),
                       "sampling matrix");
  // Row n of A evaluates f at g_n: A[n, (k, copy j, m)] = √d_k ψ_k(g_n)[m, j].
  const std::vector<Matrix> grid = def->grid(static_cast<int>(grid_size_));
  Matrix A(grid_size_, block_);
  for (int64_t n = 0; n < grid_size_; ++n) {
    int64_t col = 0;
    for (size_t i = 0; i < regular.size();) {
      const int k = regular[i];
      const Irrep& ir = g.irreps()[k];
      const int c = ir.dim / ir.S();
      const Matrix psi = def->irrep_matrix(k, grid[n]);
      for (int j = 0; j < c; ++j)
        for (int m = 0; m < ir.dim; ++m) A(n, col++) = std::sqrt(double(ir.dim)) * psi(m, j);
      i += c;
    }
  }
  // The least-squares projection A⁺ = (AᵀA)⁻¹Aᵀ through the Gram matrix's eigenvectors: n³ + N n² work
  // where an SVD of the N × n matrix A costs several times more (N = 16 n by default). A grid that resolves
  // regular(L) keeps AᵀA well conditioned (the default grids: 1.08 at most); an ill-conditioned one is
  // refused, as the squared condition number would cost the projection its digits.
  const Matrix gram = A.transpose() * A;
  Eigen::SelfAdjointEigenSolver<Matrix> eig(gram);
  const Eigen::VectorXd& lambda = eig.eigenvalues();  // ascending
  if (grid_size_ < block_ || lambda(0) <= 1e-12 * lambda(lambda.size() - 1))
    throw ConfigError(
        fmt::format("eFourierPointwise: a grid of {} elements cannot resolve regular({}) of {} "
                    "({} coefficients); raise grid_size",
                    grid_size_, band_, g.name(), block_));
  const Matrix pinv = eig.eigenvectors() * lambda.cwiseInverse().asDiagonal() *
                      (eig.eigenvectors().transpose() * A.transpose());
  A_ = to_tensor(A);
  pinv_ = to_tensor(pinv);
  identity_basis_ = rep.q_is_identity();  // without building a dense identity
  if (!identity_basis_) Q_ = to_tensor(rep.Q());
  std::tie(function_, description_) = pointwise_function(EPointwiseOptions(nullptr, options.function()));
  converted_.clear();
}

at::Tensor EFourierPointwiseImpl::forward(const at::Tensor& x) {
  const int64_t D = options.in_rep()->size();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == D, "eFourierPointwise: expected input of shape (..., ", D,
              ") for in_rep ", options.in_rep()->describe(), ", got ", x.sizes());
  const auto& t = converted_.get(x.options(), [&](const at::TensorOptions& o) {
    std::vector<at::Tensor> out{A_.t().contiguous().to(o), pinv_.t().contiguous().to(o)};
    if (!identity_basis_) out.push_back(Q_.to(o));
    return out;
  });
  // Irrep coordinates x̂ = Qᵀx (row vectors: x Q), then per copy y = A⁺ σ(A x̂), back with Q.
  at::Tensor h = identity_basis_ ? x : at::matmul(x, t[2]);
  auto shape = x.sizes().vec();
  shape.back() = copies_;
  shape.push_back(block_);
  h = at::matmul(function_(at::matmul(h.reshape(shape), t[0])), t[1]).reshape(x.sizes());
  return identity_basis_ ? h : at::matmul(h, t[2].t());
}

void EFourierPointwiseImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::EFourierPointwise(" << description_ << ", in_rep=" << options.in_rep()->describe() << ", "
         << copies_ << "x regular(" << band_ << "), grid_size=" << grid_size_ << ")";
}

}  // namespace eqnn
