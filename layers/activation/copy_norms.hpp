// Internal to the activation layers: the irreducible copies of a representation in its decomposition basis
// Q (the column blocks of Q, in rep.irreps() order) and the Euclidean norm of each copy of x̂ = Qᵀx,
// computed with one norm call per irrep dimension (zero subgradient at 0, never NaN).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/representation.hpp"

namespace eqnn::detail {

/// Int64 index tensors for per-copy norms (moved to a device on use), from the shared copy structure
/// (eqnn/group_theory/irrep_copies.hpp).
struct CopyNormIndex {
  int64_t count = 0;
  /// Irrep dimensions present, ascending; per dimension, the columns of x̂ of its copies (copy-major).
  std::vector<int64_t> dims;
  std::vector<at::Tensor> columns;  // int64
  /// Position of copy c in the concatenation of the per-dimension norms (int64, size count).
  at::Tensor order;
  /// Copy index of every column of x̂ (int64, size D).
  at::Tensor copy_of_column;

  explicit CopyNormIndex(const Representation& rep) {
    const IrrepCopies copies = irrep_copies(rep);
    const CopiesByDimension grouped = group_by_dimension(copies);
    count = copies.count();
    dims = grouped.dims;
    for (const auto& c : grouped.columns) columns.push_back(at::tensor(c, at::kLong));
    order = at::tensor(grouped.position, at::kLong);
    copy_of_column = at::tensor(copies.copy_of_column, at::kLong);
  }
};

/// The index tensors of `copies` on `device`: columns..., order, copy_of_column.
inline std::vector<at::Tensor> on_device(const CopyNormIndex& copies, const at::Device& device) {
  std::vector<at::Tensor> out;
  for (const auto& c : copies.columns) out.push_back(c.to(device));
  out.push_back(copies.order.to(device));
  out.push_back(copies.copy_of_column.to(device));
  return out;
}

/// ‖x̂_c‖ for every copy c: (..., D) → (..., count). `index` = on_device(copies, ...).
inline at::Tensor copy_norms(const CopyNormIndex& copies, const std::vector<at::Tensor>& index,
                             const at::Tensor& xhat) {
  std::vector<at::Tensor> norms;
  for (size_t i = 0; i < copies.dims.size(); ++i) {
    at::Tensor y = copies.dims.size() == 1 ? xhat : xhat.index_select(-1, index[i]);
    auto shape = y.sizes().vec();
    shape.back() = shape.back() / copies.dims[i];
    shape.push_back(copies.dims[i]);
    norms.push_back(at::linalg_vector_norm(y.reshape(shape), 2, at::IntArrayRef{-1}));
  }
  if (copies.dims.size() == 1) return norms[0];
  return at::cat(norms, -1).index_select(-1, index[copies.dims.size()]);
}

}  // namespace eqnn::detail
