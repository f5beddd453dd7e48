// Block-diagonal (isotypic) execution of equivariant linear maps (DESIGN §11).
//
// With ρ = Q (⊕ ψ) Qᵀ, a G-map W: ρ_in → ρ_out is, in the isotypic bases, ⊕_k K_k over the irreps k with
// K_k = Σ_s Ê_s ⊗ T_{k,s} acting on (d_k components) × (M_k copies), Ê_s the orthonormal endomorphisms of ψ_k
// and T_{k,s} an M_out,k × M_in,k matrix; for a real irrep K_k = I_d ⊗ T_k. Applying it costs
// Σ_k d_k M_out,k M_in,k multiply-adds per token (d_k² for complex and quaternionic irreps) instead of
// D_out D_in, plus the changes of basis, which are cheap when Q splits into small blocks along contiguous
// coordinate ranges (a sum of copies of one rep: I_m ⊗ Q_R, applied as one batched product).
//
//   auto in = IsotypicLayout::get(rep_in, 1, &why), out = IsotypicLayout::get(rep_out, 1, &why);
//   auto hom = IsotypicHom::get(HomSpace::get(rep_in, rep_out), *in, *out, &why);
//   at::Tensor y = out->merge(hom->apply(hom->blocks(theta), in->split(x)));   // = x Wᵀ, W = expand(θ)
//
// Everything is differentiable through ordinary ATen operations; θ keeps the HomSpace's parametrisation
// (orbit or isotypic coefficients), so the dense and the isotypic path compute the same function.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Features of a representation split by irrep: parts[k] is (N, d_k, M_k) for every irrep k of the group with
/// M_k > 0 copies (undefined otherwise): component-major, the copies in the order of the coordinates.
using IsotypicParts = std::vector<at::Tensor>;

/// How a representation's coordinates reach its isotypic parts and back.
class IsotypicLayout {
 public:
  /// The layout of `rep`, keeping `groups` equal contiguous coordinate ranges apart in pack()/unpack() (the
  /// heads of an attention layer). Null, with the reason in `*why`, when `groups` does not divide the size or
  /// a block of Q straddles two groups.
  static std::shared_ptr<const IsotypicLayout> get(const RepPtr& rep, int64_t groups, std::string* why);

  const RepPtr& rep() const { return rep_; }
  int64_t groups() const { return groups_; }
  /// M_k for every irrep k of the group.
  const std::vector<int64_t>& multiplicities() const { return mult_; }
  /// Multiply-adds per token of one change of basis (split or merge).
  int64_t change_cost() const { return change_cost_; }
  /// The largest block of Q (its side).
  int64_t largest_block() const { return largest_block_; }
  /// Blocks of Q narrower than this change basis in IsotypicHom::linear by one tiled transpose and one
  /// product for all the run's blocks, instead of one product per block (one per 1 × 1 block would be all
  /// call overhead): one more read and write of every feature of the run.
  static constexpr int64_t kSmallBlock = 16;
  /// The position of each copy of irrep k (in this layout's order) among the copies of k in Q's column order.
  const std::vector<int64_t>& q_order(int k) const { return q_order_[static_cast<size_t>(k)]; }

  /// x (N, D) in ρ's coordinates → its parts.
  IsotypicParts split(const at::Tensor& x) const;
  /// parts → (N, D) in ρ's coordinates, plus `bias` (D) when it is defined (fused into the last product).
  at::Tensor merge(const IsotypicParts& parts, const at::Tensor& bias = at::Tensor()) const;
  /// parts → (N, D) in the grouped isotypic coordinates: group by group, irrep by irrep, (d_k, M_g,k)
  /// component-major. An orthogonal change of basis that keeps every group's coordinate range.
  at::Tensor pack(const IsotypicParts& parts) const;
  /// The inverse of pack().
  IsotypicParts unpack(const at::Tensor& x) const;

  struct Run;  // consecutive identical blocks of Q

 private:
  friend class IsotypicHom;
  IsotypicLayout() = default;
  const std::vector<at::Tensor>& bases_for(const at::TensorOptions& options) const;

  RepPtr rep_;
  int64_t groups_ = 1, change_cost_ = 0, largest_block_ = 0;
  std::vector<int64_t> dims_, mult_;
  std::vector<std::vector<int64_t>> q_order_;
  std::vector<std::shared_ptr<const Run>> runs_;
  std::vector<std::vector<int64_t>> group_copies_;  // [group][k]: copies of k in the group
  DeviceCache<std::vector<at::Tensor>> converted_;  // each run's basis in a dtype/device
};

/// A HomSpace applied in the isotypic bases of two layouts.
class IsotypicHom {
 public:
  /// Null, with the reason in `*why`, when θ cannot be turned into blocks cheaply (an orbit space whose
  /// representations carry a change of basis, or whose blocks are too large to tabulate).
  static std::shared_ptr<const IsotypicHom> get(const HomSpacePtr& hom, const IsotypicLayout& in,
                                                const IsotypicLayout& out, std::string* why);

  /// θ (dim) → T_k (S_k, M_out,k, M_in,k) for the irreps on both sides (undefined otherwise); for a real
  /// irrep T_k(0) is the whole block (K_k = I_d ⊗ T_k). Differentiable.
  std::vector<at::Tensor> blocks(const at::Tensor& theta) const;
  /// The blocks applied to parts of the input layout: parts of the output layout (zeros for an irrep the
  /// input lacks). `blocks` may be narrowed along their rows (attention's q, k, v).
  IsotypicParts apply(const std::vector<at::Tensor>& blocks, const IsotypicParts& x) const;
  /// Multiply-adds per token of apply().
  int64_t block_cost() const { return block_cost_; }

  /// Which coordinates an end of linear() is in: the representation's own (split/merge) or the layout's
  /// grouped isotypic ones (pack/unpack).
  enum class Coordinates { original, packed };

  /// out->merge(hom->apply(blocks, in->split(x)), bias), the same function in one autograd node that never
  /// regroups features: each block of Q writes its coordinates into an (r, m, N) buffer, where the copies
  /// of every irrep are contiguous rows (d, c·m, N), so both changes of basis and the products per irrep
  /// are matrix products reading and writing in place. The backward is the same three steps transposed; a
  /// backward that must itself be differentiable (create_graph) runs the parts path above. With a packed
  /// end, x is in->pack()ed coordinates (for in->unpack) or y is out->pack()ed (then `bias` is too), and
  /// that end is one permutation of rows and one transpose instead of a change of basis (attention's
  /// projections). blocks[k] is (S_k, M_k of out, M_k of in) for the layouts given, which share `hom`'s
  /// group (attention narrows the in-projection's rows to q, k or v). x (N, D_in) must pass linear_serves().
  static at::Tensor linear(const std::shared_ptr<const IsotypicHom>& hom,
                           const std::shared_ptr<const IsotypicLayout>& in,
                           const std::shared_ptr<const IsotypicLayout>& out,
                           const std::vector<at::Tensor>& blocks, const at::Tensor& x, const at::Tensor& bias,
                           Coordinates in_coordinates = Coordinates::original,
                           Coordinates out_coordinates = Coordinates::original);
  /// Whether linear() may serve x, θ and the bias (undefined: none): plain autograd for all three (no
  /// forward-mode tangent, functorch transform or JIT trace), float32 or float64, x two-dimensional.
  static bool linear_serves(const at::Tensor& x, const at::Tensor& theta, const at::Tensor& bias);

  struct Tabulated;  // an orbit space: θ → blocks through small tables

 private:
  struct FusedPlan;  // linear()'s products for two layouts on a device (isotypic_linear.cpp)
  struct Fused;      // one call of linear(): its plan and weights
  struct FusedNode;  // linear()'s backward
  IsotypicHom() = default;
  HomSpacePtr hom_;
  std::vector<int64_t> dims_, types_, mult_in_, mult_out_;
  int64_t block_cost_ = 0;
  std::shared_ptr<const Tabulated> tab_;  // orbit spaces
  std::vector<int64_t> iso_offset_;       // isotypic spaces: offset of irrep k's coefficients (-1: absent)
  double iso_scale_ = 1.0;                // isotypic spaces: the basis scale
  struct Tensors;                         // float64 CPU masters, converted per dtype/device
  std::shared_ptr<const Tensors> base_;
  DeviceCache<std::shared_ptr<const Tensors>> converted_;
  const Tensors& tensors_for(const at::TensorOptions& options) const;
  /// linear()'s plan for the layouts on `device`, made on first use and kept.
  std::shared_ptr<const FusedPlan> fused_plan(const std::shared_ptr<const IsotypicLayout>& in,
                                              const std::shared_ptr<const IsotypicLayout>& out,
                                              const at::Device& device) const;
  mutable std::mutex fused_mutex_;
  mutable std::vector<std::shared_ptr<const FusedPlan>> fused_plans_;
};

}  // namespace eqnn
