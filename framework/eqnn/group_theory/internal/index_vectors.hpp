// Index vectors of group_theory's execution plans: as a LibTorch index tensor, and whether one is the
// identity permutation. Internal: included by .cpp files only.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace eqnn::internal {

/// `v` as a long tensor on `device`.
inline at::Tensor long_tensor(const std::vector<int64_t>& v, const at::Device& device = at::kCPU) {
  at::Tensor t = at::tensor(at::ArrayRef<int64_t>(v), at::TensorOptions().dtype(at::kLong));
  return device.is_cpu() ? t : t.to(device);
}

/// Whether v[i] = i for every i.
inline bool is_identity(const std::vector<int64_t>& v) {
  for (size_t i = 0; i < v.size(); ++i)
    if (v[i] != static_cast<int64_t>(i)) return false;
  return true;
}

}  // namespace eqnn::internal
