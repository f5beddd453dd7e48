// Basis fingerprints: expand() of deterministic probes, rounded and hashed.
#include "eqnn/nn/basis_fingerprint.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/nn/constrained_parameter.hpp"

namespace eqnn {
namespace {

constexpr int kProbes = 2;

std::mutex salt_mutex;
std::string& salt() {
  static auto* s = new std::string();
  return *s;
}

// splitmix64: a fixed, portable generator, so the probes are the same in every build (std:: and
// torch generators are implementation-defined or version-dependent).
uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// FNV-1a over bytes.
struct Hasher {
  uint64_t h = 0xcbf29ce484222325ULL;
  void bytes(const void* p, size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    for (size_t i = 0; i < n; ++i) h = (h ^ c[i]) * 0x100000001b3ULL;
  }
  void text(const std::string& s) {
    const uint64_t n = s.size();
    bytes(&n, sizeof n);
    bytes(s.data(), s.size());
  }
  void number(int64_t v) { bytes(&v, sizeof v); }
};

// Saved coefficients and saved effective weight of one basis agree to float32 rounding.
constexpr double kConsistencyTolerance = 1e-5;

// ‖a − b‖_F / ‖b‖_F (0 when both vanish; NaN propagates, so a non-finite weight is never "exact").
double relative_residual(const at::Tensor& a, const at::Tensor& b) {
  const double diff = (a - b).norm().item<double>(), scale = b.norm().item<double>();
  if (scale == 0) return diff == 0 ? 0.0 : std::numeric_limits<double>::infinity();
  return diff / scale;
}

// True when `a` and `b` agree to `relative` (max-abs, relative to max|b|) on their finite entries and
// have the same NaN / +Inf / −Inf entries (a diverged model's checkpoint still round-trips).
bool reproduces(const at::Tensor& a, const at::Tensor& b, double relative) {
  const at::Tensor x = a.to(at::TensorOptions().dtype(at::kDouble).device(at::kCPU));
  const at::Tensor y = b.to(at::TensorOptions().dtype(at::kDouble).device(at::kCPU));
  if (x.sizes() != y.sizes() || !at::equal(at::isnan(x), at::isnan(y)) ||
      !at::equal(at::isposinf(x), at::isposinf(y)) || !at::equal(at::isneginf(x), at::isneginf(y)))
    return false;
  if (x.numel() == 0) return true;
  const at::Tensor finite = at::isfinite(y);
  const double diff = at::where(finite, x - y, 0.0).abs().max().item<double>();
  const double scale = at::where(finite, y, 0.0).abs().max().item<double>();
  return diff <= relative * scale;
}

}  // namespace

std::string basis_fingerprint(const Constraint& constraint) {
  torch::NoGradGuard no_grad;
  const int64_t dim = constraint.dim();
  const auto shape = constraint.shape();
  at::Tensor probes = at::empty({kProbes, dim}, at::kDouble);
  uint64_t state = 0x6571'6e6e'6261'7365ULL;  // "eqnnbase"
  auto* p = probes.data_ptr<double>();
  for (int64_t i = 0; i < probes.numel(); ++i)
    p[i] = static_cast<double>(splitmix(state) >> 11) * 0x1.0p-53 * 2.0 - 1.0;  // uniform in [-1, 1)
  at::Tensor values =
      dim == 0 ? at::zeros({0}, at::kDouble) : constraint.expand(probes).contiguous().to(at::kDouble);
  Hasher h;
  {
    std::lock_guard<std::mutex> lock(salt_mutex);
    h.text(salt());
  }
  h.text(constraint.name());
  h.text(constraint.method());
  h.number(dim);
  for (int64_t s : shape) h.number(s);
  const auto* v = values.data_ptr<double>();
  for (int64_t i = 0; i < values.numel(); ++i)
    h.number(std::llround(v[i] * 1e9));  // robust to last-bit noise
  return fmt::format("{}/{} dim={} shape=[{}] {:016x}", constraint.name(), constraint.method(), dim,
                     fmt::join(shape, ","), h.h);
}

std::vector<std::pair<std::string, std::string>> basis_fingerprints(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : module.named_parameters()) {
    if (auto c = ConstrainedParameter::constraint_of(item.value()))
      out.emplace_back(item.key(), basis_fingerprint(*c));
  }
  return out;
}

BasisFit fit_basis(const Constraint& constraint, const std::string& saved_basis,
                   const at::Tensor& saved_coefficients, const at::Tensor& saved_effective) {
  torch::NoGradGuard no_grad;
  BasisFit fit;
  fit.live_basis = basis_fingerprint(constraint);
  if (saved_basis == fit.live_basis) {
    if (saved_coefficients.sizes() != at::IntArrayRef{constraint.dim()}) {
      fit.kind = BasisFit::Kind::wrong_shape;
    } else if (!reproduces(constraint.expand(saved_coefficients.to(saved_effective.options())),
                           saved_effective, kConsistencyTolerance)) {
      fit.kind = BasisFit::Kind::inconsistent;
    } else {
      fit.coefficients = saved_coefficients;
    }
    return fit;
  }
  const at::Tensor w = saved_effective.to(at::TensorOptions().dtype(at::kDouble).device(at::kCPU));
  const at::Tensor theta = constraint.analyse(w);
  fit.residual = relative_residual(constraint.expand(theta), w);
  if (fit.residual <= kReprojectionTolerance) {  // false for NaN
    fit.kind = BasisFit::Kind::reprojected;
    fit.coefficients = theta;
  } else {
    fit.kind = BasisFit::Kind::not_equivariant;
  }
  return fit;
}

void testing_hooks::set_fingerprint_salt(const std::string& s) {
  std::lock_guard<std::mutex> lock(salt_mutex);
  salt() = s;
}

}  // namespace eqnn
