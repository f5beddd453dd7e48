// The objects Python holds for groups, irreps, representations and Hom spaces: shared, immutable wrappers
// around the C++ ones (pybind11 holders cannot point to const objects). Bound in group_theory_bindings.cpp;
// the module handle and the layer factories take and return them too.
#pragma once

#include <cstddef>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/representation.hpp"

namespace eqnn::python {

struct PyGroup {
  GroupPtr g;
};
struct PyRep {
  RepPtr r;
};
struct PyHom {
  HomSpacePtr h;
};
struct PyIrrep {
  GroupPtr g;  // keeps the irrep alive
  int index;
  const Irrep& get() const { return g->irreps().at(static_cast<size_t>(index)); }
};

}  // namespace eqnn::python
