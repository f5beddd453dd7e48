// Linear algebra under a symmetry constraint: the invariant projector, the orthogonal projection onto
// Hom_G(ρx, ρy), and exact equivariance-constrained least squares
//   W* = argmin_{W ∈ Hom_G(ρx, ρy)} ‖X Wᵀ − Y‖²_F,
// solved in the isotypic basis: with x̃ = Q_xᵀx and ỹ = Q_yᵀy, Q_yᵀ W Q_x is block-diagonal over irrep types
// (Schur) and each block W̃_k[o, i] = Σ_s θ_ois E_s lies in the irrep's endomorphisms End(ψ_k) = span{E_s}.
// The loss splits per type, L = Σ_k ‖Z_k Θ_k − T_k‖² with Z_k[(n,a),(i,s)] = (E_s x̃_ni)_a and
// T_k[(n,a),o] = ỹ_noa, so Θ_k is one unconstrained least-squares solve of (N·d)×(m_x·S) (minimum norm, which
// is the minimum-Frobenius W since ⟨E_s, E_t⟩ = d δ_st). symm_learning instead solves each isotypic block
// without the constraint and then projects, Π(Syx Sxx⁻¹), which is optimal only when Sxx = XᵀX commutes with
// ρx (G-closed data) or every irrep involved is 1-dimensional.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/TensorOptions.h>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn::linalg {

/// P_inv = Q_triv Q_trivᵀ (D × D), the orthogonal projector onto ρ's invariant vectors.
at::Tensor invariant_projector(const RepPtr& rep, const at::TensorOptions& options = at::kDouble);

/// Π_Hom(W) for W of shape (..., D_y, D_x): the Frobenius-orthogonal projection onto Hom_G(ρx, ρy)
/// (= (1/|G|) Σ_g ρy(g) W ρx(g)ᵀ), batched and differentiable.
at::Tensor equivariant_projection(const at::Tensor& W, const RepPtr& rep_x, const RepPtr& rep_y);

/// The exact equivariance-constrained least-squares map, (D_y, D_x), from x (N, D_x) and y (N, D_y):
///   auto W = eqnn::linalg::lstsq(x, y, rep_x, rep_y);   // y ≈ x Wᵀ, W ∈ Hom_G(ρx, ρy)
/// The minimum-norm solution when the constrained problem is rank deficient. Computes in the promoted dtype
/// of x and y; on CPU with LAPACK's gelsd, elsewhere with the pseudo-inverse.
at::Tensor lstsq(const at::Tensor& x, const at::Tensor& y, const RepPtr& rep_x, const RepPtr& rep_y);

}  // namespace eqnn::linalg
