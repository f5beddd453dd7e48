// The irreducible copies of a representation (irrep_copies.hpp).
#include "eqnn/group_theory/irrep_copies.hpp"

#include <map>
#include <utility>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

IrrepCopies irrep_copies(const Representation& rep) {
  IrrepCopies copies;
  const auto& irreps = rep.group().irreps();
  int64_t column = 0;
  for (int k : rep.irreps()) {
    const int64_t d = irreps[static_cast<size_t>(k)].dim;
    if (k == 0) copies.trivial_columns.push_back(column);
    copies.copy_of_column.insert(copies.copy_of_column.end(), static_cast<size_t>(d), copies.count());
    copies.irrep.push_back(k);
    copies.dim.push_back(d);
    copies.start.push_back(column);
    column += d;
  }
  return copies;
}

CopiesByDimension group_by_dimension(const IrrepCopies& copies) {
  std::map<int64_t, std::vector<int64_t>> columns_by_dim, copies_by_dim;
  for (int64_t c = 0; c < copies.count(); ++c) {
    const auto i = static_cast<size_t>(c);
    for (int64_t j = 0; j < copies.dim[i]; ++j) columns_by_dim[copies.dim[i]].push_back(copies.start[i] + j);
    copies_by_dim[copies.dim[i]].push_back(c);
  }
  CopiesByDimension grouped;
  grouped.position.resize(static_cast<size_t>(copies.count()));
  int64_t position = 0;
  for (auto& [d, columns] : columns_by_dim) {
    grouped.dims.push_back(d);
    grouped.columns.push_back(std::move(columns));
    for (int64_t c : copies_by_dim[d]) grouped.position[static_cast<size_t>(c)] = position++;
  }
  return grouped;
}

}  // namespace eqnn
