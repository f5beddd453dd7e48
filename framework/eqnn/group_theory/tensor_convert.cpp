// Eigen → ATen conversion (see tensor_convert.hpp).
#include "eqnn/group_theory/tensor_convert.hpp"

#include <ATen/ATen.h>

namespace eqnn {

at::Tensor to_tensor(const Matrix& m) {
  // A copy (never a view of m's buffer, which is often a temporary); Eigen is column-major.
  at::Tensor t = at::empty({m.rows(), m.cols()}, at::kDouble);
  auto* p = t.data_ptr<double>();
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index j = 0; j < m.cols(); ++j) p[i * m.cols() + j] = m(i, j);
  return t;
}

}  // namespace eqnn
