// The FFT path of block-diagonal execution (DESIGN §11) for a cyclic group C_n acting on copies of its
// regular representation.
//
// Order each copy's coordinates by the powers of a generator g (e, g·e, g²·e, ...): ρ(g) becomes the cyclic
// shift, and every n × n block of a G-map W is circulant, W[(a, t), (i, u)] = c_ai[(t − u) mod n] with
// c_ai[s] = W[(a, s), (i, 0)]. So y_a = Σ_i c_ai ⊛ x_i, and with the real DFT over the group axis
// Y_a(k) = Σ_i C_ai(k) X_i(k) for k = 0..n/2: the Fourier basis is the isotypic basis of C_n, the changes of
// basis cost O(n log n) per copy instead of n², and the blocks n/2 + 1 complex m_out × m_in products.
//
//   auto fourier = CyclicFourierHom::get(hom, &why);         // null, with the reason, when it does not apply
//   at::Tensor y = fourier->apply(theta, x, bias);           // = x Wᵀ + bias, W = hom->expand(theta)
//
// θ keeps the HomSpace's orbit parametrisation (c is gathered from it), so the result is the dense path's
// function to rounding, differentiable in θ, x and bias through ATen's FFT.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

class CyclicFourierHom {
 public:
  /// Null, with the reason in `*why`, unless the group is cyclic and both representations are permutation
  /// representations whose orbits are all regular (copies of the regular representation, in any coordinate
  /// order).
  static std::shared_ptr<const CyclicFourierHom> get(const HomSpacePtr& hom, std::string* why);

  /// Whether apply() takes x's dtype (ATen's FFT: float32 and float64).
  static bool serves(const at::Tensor& x);
  /// y = x Wᵀ + bias; x (N, D_in) float32 or float64, bias (D_out) or undefined. Differentiable.
  at::Tensor apply(const at::Tensor& theta, const at::Tensor& x, const at::Tensor& bias = at::Tensor()) const;

  /// A real convolution over the sequence (the layer's stride, padding and dilation, no bias):
  /// (input (N, C_in, L), weight (C_out, C_in / groups, taps), groups) → (N, C_out, L').
  using RealConv =
      std::function<at::Tensor(const at::Tensor& input, const at::Tensor& weight, int64_t groups)>;
  /// A convolution whose every tap is a map of this space (eConv1d): θ (taps · dim), tap-major as
  /// TapConstraint lays it out; x (N, D_in, L) float32/float64, bias (D_out) or undefined → (N, D_out, L').
  /// Each frequency bin is a complex convolution, run as one real grouped convolution (a group per bin,
  /// [[Re, −Im], [Im, Re]] per tap). Differentiable.
  at::Tensor apply_conv(const at::Tensor& theta, int64_t taps, const at::Tensor& x, const at::Tensor& bias,
                        const RealConv& conv) const;

  int64_t order() const { return n_; }
  int64_t copies_in() const { return m_in_; }
  int64_t copies_out() const { return m_out_; }
  /// Real multiply-adds per token of the frequency products (4 per complex one).
  int64_t block_cost() const { return 4 * m_out_ * m_in_ * (n_ / 2 + 1); }

 private:
  CyclicFourierHom() = default;
  struct Tensors;  // the gathers, on one device
  const Tensors& tensors_for(const at::TensorOptions& options) const;

  HomSpacePtr hom_;
  int64_t n_ = 0, m_in_ = 0, m_out_ = 0;
  std::shared_ptr<const Tensors> base_;  // CPU, float64
  DeviceCache<std::shared_ptr<const Tensors>> converted_;
};

}  // namespace eqnn
