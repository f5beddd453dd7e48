// Internal to the activation layers: the irreducible copies of a representation in its decomposition basis
// Q (the column blocks of Q, in rep.irreps() order) and the Euclidean norm of each copy of x̂ = Qᵀx,
// computed with one norm call per irrep dimension (zero subgradient at 0, never NaN).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include <ATen/ATen.h>

#include "eqnn/group_theory/representation.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"

namespace eqnn::detail {

/// Float64 index tensors describing the copies of a representation (moved to a device on use).
struct IrrepCopies {
  int64_t count = 0;
  /// Irrep dimensions present, ascending; per dimension, the columns of x̂ of its copies (copy-major).
  std::vector<int64_t> dims;
  std::vector<at::Tensor> columns;  // int64
  /// Position of copy c in the concatenation of the per-dimension norms (int64, size count).
  at::Tensor order;
  /// Copy index of every column of x̂ (int64, size D).
  at::Tensor copy_of_column;

  explicit IrrepCopies(const Representation& rep) {
    const auto& irreps = rep.group().irreps();
    const auto& list = rep.irreps();
    count = static_cast<int64_t>(list.size());
    std::map<int, std::vector<int64_t>> columns_by_dim, copies_by_dim;
    std::vector<int64_t> copy_of(static_cast<size_t>(rep.size()));
    int64_t offset = 0;
    for (size_t c = 0; c < list.size(); ++c) {
      const int d = irreps[list[c]].dim;
      for (int i = 0; i < d; ++i) {
        columns_by_dim[d].push_back(offset + i);
        copy_of[offset + i] = static_cast<int64_t>(c);
      }
      copies_by_dim[d].push_back(static_cast<int64_t>(c));
      offset += d;
    }
    std::vector<int64_t> concatenated;
    for (const auto& [d, cols] : columns_by_dim) {
      dims.push_back(d);
      columns.push_back(at::tensor(cols, at::kLong));
      concatenated.insert(concatenated.end(), copies_by_dim[d].begin(), copies_by_dim[d].end());
    }
    std::vector<int64_t> inverse(concatenated.size());
    for (size_t p = 0; p < concatenated.size(); ++p) inverse[concatenated[p]] = static_cast<int64_t>(p);
    order = at::tensor(inverse, at::kLong);
    copy_of_column = at::tensor(copy_of, at::kLong);
  }
};

/// The index tensors of `copies` on `device`: columns..., order, copy_of_column.
inline std::vector<at::Tensor> on_device(const IrrepCopies& copies, const at::Device& device) {
  std::vector<at::Tensor> out;
  for (const auto& c : copies.columns) out.push_back(c.to(device));
  out.push_back(copies.order.to(device));
  out.push_back(copies.copy_of_column.to(device));
  return out;
}

/// ‖x̂_c‖ for every copy c: (..., D) → (..., count). `index` = on_device(copies, ...).
inline at::Tensor copy_norms(const IrrepCopies& copies, const std::vector<at::Tensor>& index,
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
