// What group_theory's hand-written kernels and custom autograd nodes share: whether this CPU runs AVX-512
// and whether a tensor may go through a C++ autograd node. Internal: included by .cpp files only.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/functorch/DynamicLayer.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

namespace eqnn::internal {

#if defined(__x86_64__) && defined(__GNUC__)
/// Whether this CPU has AVX-512F (asked once).
inline bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
#endif

/// No forward-mode tangent, functorch transform (vmap, grad) or JIT trace: a C++ autograd node may serve
/// `t`. Otherwise ATen's own operations must, since the node has no forward derivative, functorch refuses
/// it and the tracer would not see inside it.
inline bool plain_autograd(const at::Tensor& t) {
  return !t._fw_grad(/*level=*/0).defined() && !at::functorch::maybeCurrentDynamicLayer().has_value() &&
         !c10::impl::tls_is_dispatch_key_included(c10::DispatchKey::Tracer);
}

}  // namespace eqnn::internal
