// Test-only equivariance checks on tensors: representation matrices as tensors, the group acting on
// features, tolerances per dtype, seeded random inputs, the relative equivariance (or invariance) error
// of a function over every group element, and ExpectEquivariant, which sweeps float64 and float32.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "eqnn/group_theory/representation.hpp"
#include "eqnn/nn/layer.hpp"
#include "support.hpp"

namespace eqnn::testing {

using TensorFn = std::function<at::Tensor(const at::Tensor&)>;

/// A dense matrix as a (rows, cols) tensor in `dtype` (filled in float64, then converted).
inline at::Tensor to_tensor(const Matrix& m, at::ScalarType dtype = at::kDouble) {
  at::Tensor t = at::empty({m.rows(), m.cols()}, at::kDouble);
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < m.rows(); ++i)
    for (int64_t j = 0; j < m.cols(); ++j) a[i][j] = m(i, j);
  return t.to(dtype);
}

/// ρ(g) for every element g, shape (|G|, D, D), in `dtype`.
inline at::Tensor rep_matrices(const Representation& rep, at::ScalarType dtype = at::kDouble) {
  const int n = rep.group().order(), d = rep.size();
  at::Tensor out = at::empty({n, d, d}, at::kDouble);
  auto* p = out.data_ptr<double>();
  for (int g = 0; g < n; ++g) {
    Matrix m = rep.matrix(g);
    for (int i = 0; i < d; ++i)
      for (int j = 0; j < d; ++j) p[(static_cast<int64_t>(g) * d + i) * d + j] = m(i, j);
  }
  return out.to(dtype);
}

/// The group acting on features (last dimension): x ρ(g)ᵀ.
inline at::Tensor act(const at::Tensor& rho_g, const at::Tensor& x) { return at::matmul(x, rho_g.t()); }

/// Tolerance of an equivariance error relative to the output scale.
inline double tolerance(at::ScalarType dtype) { return dtype == at::kDouble ? 1e-10 : 1e-5; }

/// The dtypes every equivariance sweep runs in, in this order.
inline const std::vector<at::ScalarType>& float_dtypes() {
  static const std::vector<at::ScalarType> d = {at::kDouble, at::kFloat};
  return d;
}

/// N(0, 1) inputs with last dimension D from one seeded generator: unbatched (D), (3, D) and (2, 3, D).
inline std::vector<at::Tensor> random_inputs(int64_t D, at::ScalarType dtype, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto o = at::TensorOptions().dtype(dtype);
  return {at::normal(0, 1, {D}, gen, o), at::normal(0, 1, {3, D}, gen, o),
          at::normal(0, 1, {2, 3, D}, gen, o)};
}

/// Scale floors for the relative errors: relative to max|f(x)| alone, or to max(1, max|f(x)|).
inline constexpr double kRelativeToOutput = 1e-30;
inline constexpr double kRelativeToOne = 1.0;

/// max over every g of max|f(x ρ_in(g)ᵀ) − f(x) ρ_out(g)ᵀ|, divided by max(min_scale, max|f(x)|).
/// With `out` null the target is f(x) itself (invariance: ρ_out(g) = I). NaN when f(x), any f(x ρ_in(g)ᵀ)
/// or the error is NaN or Inf, so that every `EXPECT_LE(err, tol)` fails on it.
inline double equivariance_error(const TensorFn& f, const Representation& in, const Representation* out,
                                 const at::Tensor& x, double min_scale) {
  const at::Tensor rin = rep_matrices(in, x.scalar_type());
  const at::Tensor rout = out ? rep_matrices(*out, x.scalar_type()) : at::Tensor();
  const at::Tensor y = f(x);
  if (!all_finite(y)) return kNotFinite;
  const double scale = std::max(y.abs().max().item<double>(), min_scale);
  double worst = 0;
  for (int g = 0; g < in.group().order(); ++g) {
    const at::Tensor fgx = f(act(rin[g], x));
    if (!all_finite(fgx)) return kNotFinite;
    at::Tensor diff = fgx - (out ? act(rout[g], y) : y);
    worst = nan_max(worst, diff.abs().max().item<double>() / scale);
  }
  return worst;
}

/// The same relative to max|f(x)| (the default) or to max(min_scale, max|f(x)|).
inline double equivariance_error(const TensorFn& f, const Representation& in, const Representation& out,
                                 const at::Tensor& x, double min_scale = kRelativeToOutput) {
  return equivariance_error(f, in, &out, x, min_scale);
}

/// A layer's error between its own in_rep and out_rep (or invariance), under no-grad, relative to
/// max(1, max|f(x)|).
inline double equivariance_error(Layer& layer, const at::Tensor& x, bool invariant = false) {
  at::NoGradGuard no_grad;
  return equivariance_error([&](const at::Tensor& t) { return layer.forward(t); }, *layer.in_rep(),
                            invariant ? nullptr : layer.out_rep().get(), x, kRelativeToOne);
}

/// What ExpectEquivariant runs, per dtype of float_dtypes(): `prepare(dtype)` first (e.g. to move a
/// module; optional), then for each input of `inputs(dtype)` the error check and `also(x)` (optional
/// further checks on that input).
struct EquivarianceSweep {
  std::function<std::vector<at::Tensor>(at::ScalarType)> inputs;
  std::function<void(at::ScalarType)> prepare;
  std::function<void(const at::Tensor&)> also;
  /// Compare f(x ρ(g)ᵀ) with f(x) itself rather than f(x) ρ_out(g)ᵀ.
  bool invariant = false;
  /// The scale floor of the relative error (see equivariance_error).
  double min_scale = kRelativeToOne;
  /// The float32 tolerance when not tolerance(kFloat): for composite layers whose float32 rounding alone
  /// comes near 1e-5 (a broken symmetry shows as errors of order 1e-2 and more).
  double float32_tolerance = 0;
};

/// Expects f to be equivariant from `in` to `out` (or invariant) on every group element, in float64 and
/// float32: error <= tolerance(dtype) for every input. Failures name `what`, the dtype and input shape.
inline void ExpectEquivariant(const TensorFn& f, const Representation& in, const Representation& out,
                              const EquivarianceSweep& sweep, const std::string& what) {
  for (auto dtype : float_dtypes()) {
    if (sweep.prepare) sweep.prepare(dtype);
    for (const at::Tensor& x : sweep.inputs(dtype)) {
      const double err = equivariance_error(f, in, sweep.invariant ? nullptr : &out, x, sweep.min_scale);
      const double tol =
          dtype == at::kFloat && sweep.float32_tolerance > 0 ? sweep.float32_tolerance : tolerance(dtype);
      EXPECT_LE(err, tol) << what << " dtype=" << dtype << " input " << x.sizes();
      if (sweep.also) sweep.also(x);
    }
  }
}

/// The same for a layer between its own in_rep and out_rep, its forward under no-grad in the check.
inline void ExpectEquivariant(Layer& layer, const EquivarianceSweep& sweep, const std::string& what) {
  auto f = [&](const at::Tensor& t) {
    at::NoGradGuard no_grad;
    return layer.forward(t);
  };
  ExpectEquivariant(f, *layer.in_rep(), *layer.out_rep(), sweep, what);
}

}  // namespace eqnn::testing
