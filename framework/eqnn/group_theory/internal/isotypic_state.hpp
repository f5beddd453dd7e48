// The private state of IsotypicLayout and IsotypicHom (isotypic_execution.hpp): a run of identical blocks
// of Q, and the tensors of a Hom space's blocks. Internal: shared by isotypic_execution.cpp and
// isotypic_linear.cpp only.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>

#include "eqnn/group_theory/isotypic_execution.hpp"

namespace eqnn {

struct IsotypicLayout::Run {
  int64_t row0 = 0, m = 1, r = 0;  // m consecutive blocks of r coordinates from row0
  std::vector<int64_t> count;      // copies of irrep k in one block
  std::vector<int64_t> offset;     // first column of irrep k in the block's basis
  std::vector<int64_t> copy0;      // first copy of irrep k (layout order) in the run
  at::Tensor basis;                // (r, r) float64: the block of Q, columns ordered [k][component][copy]
};

struct IsotypicHom::Tensors {
  std::vector<at::Tensor> endo;               // per irrep (S, d, d)
  std::vector<at::Tensor> perm_out, perm_in;  // isotypic spaces
  std::vector<at::Tensor> ids, tables;        // orbit spaces, per pair: (m_A m_B, n) long, (n, width)
  std::shared_ptr<const Tensors> to(const at::TensorOptions& o) const {
    auto t = std::make_shared<Tensors>();
    auto cv = [&](const at::Tensor& x) { return x.defined() ? x.to(o) : x; };
    auto cd = [&](const at::Tensor& x) { return x.defined() ? x.to(o.device()) : x; };
    for (const auto& x : endo) t->endo.push_back(cv(x));
    for (const auto& x : perm_out) t->perm_out.push_back(cd(x));
    for (const auto& x : perm_in) t->perm_in.push_back(cd(x));
    for (const auto& x : ids) t->ids.push_back(cd(x));
    for (const auto& x : tables) t->tables.push_back(cv(x));
    return t;
  }
};

}  // namespace eqnn
