// Eigen (group theory, float64) → ATen: the one conversion every layer and the core use to turn bases and
// representation matrices into tensors.
#pragma once

#include <ATen/core/Tensor.h>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

/// A float64 CPU tensor holding `m` (row-major, contiguous): at::Tensor t = to_tensor(rep->Q());
at::Tensor to_tensor(const Matrix& m);

}  // namespace eqnn
