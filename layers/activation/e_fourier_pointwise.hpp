// eFourierPointwise: a pointwise nonlinearity for a compact group's band-limited regular features (escnn's
// FourierPointwise / FourierELU). in_rep is m copies of regular(L): each copy holds the Fourier coefficients
// of a band-limited function on the group, f(g) = Σ_k √d_k Σ_{j,m} x_{k,j,m} ψ_k(g)[m, j]. The layer samples
// f on N grid elements (the group plugin's grid(N): evenly spaced angles for SO(2)/O(2), the super-Fibonacci
// spiral for SO(3)/O(3)), applies the function there, and projects back by least squares: y = A⁺ σ(A x), A
// the N × D sampling matrix. A translation of f by h moves the samples off the grid, so the layer is
// equivariant only up to the error of that projection, which falls as N grows (docs/guide/groups.md has the
// table): it is not exact, unlike every other eqnn layer, and `eqnn check` reports its error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of EFourierPointwise: `function` one of pointwise_functions() (default "elu", escnn's FourierELU),
/// `grid_size` N, the number of grid elements (0: kFourierGridPerCoefficient times the coefficients of one
/// copy of regular(L)).
struct EFourierPointwiseOptions {
  explicit EFourierPointwiseOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(std::string, function) = "elu";
  TORCH_ARG(int64_t, grid_size) = 0;
};

/// The default grid: this many elements per coefficient of regular(L).
inline constexpr int64_t kFourierGridPerCoefficient = 16;

/// What is wrong with a set of options (key "in_rep", "function" or "grid_size").
std::optional<OptionError> validate(const EFourierPointwiseOptions& options);

/// y = A⁺ σ(A x) on every copy of regular(L).
///
///   auto g = registry.make_group("SO3");
///   EFourierPointwise act(EFourierPointwiseOptions(parse_rep(g, "4x regular(2)")));   // N = 16 · 35
///   at::Tensor y = act(at::randn({5, 140}));
class EFourierPointwiseImpl : public Layer {
 public:
  explicit EFourierPointwiseImpl(EFourierPointwiseOptions options);
  ~EFourierPointwiseImpl() override;
  /// Checks the options (ConfigError) and builds A and A⁺.
  void reset();
  void reset_parameters() {}

  /// (..., D) → (..., D).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.in_rep(); }
  /// No parameters, and no stock module computes it: empty.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }
  void pretty_print(std::ostream& stream) const override;

  /// L, the copies m and the grid size N in use.
  int band() const { return band_; }
  int64_t copies() const { return copies_; }
  int64_t grid_size() const { return grid_size_; }
  /// The sampling matrix A (N × D_L) and A⁺ (D_L × N), float64 on the CPU.
  const at::Tensor& sampling() const { return A_; }
  const at::Tensor& projection() const { return pinv_; }

  EFourierPointwiseOptions options;

 private:
  int band_ = 0;
  int64_t copies_ = 0, grid_size_ = 0, block_ = 0;
  bool identity_basis_ = true;
  at::Tensor A_, pinv_, Q_;
  std::function<at::Tensor(const at::Tensor&)> function_;
  std::string description_;
  DeviceCache<std::vector<at::Tensor>> converted_;  // {Aᵀ, A⁺ᵀ, Q} in the input's dtype and device
};

TORCH_MODULE(EFourierPointwise);

}  // namespace eqnn
