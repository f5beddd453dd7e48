// The size limits eqnn checks before it allocates: group orders, representation sizes and dense matrix
// entries, each with a default and an environment variable that moves it. A limit is read when checked, so a
// test (or a user) can change the variable between calls.
#pragma once

#include <cstdint>
#include <string>

namespace eqnn {

/// Default limit on the order of any group.
inline constexpr int64_t kDefaultMaxGroupOrder = 5000;
/// The largest group order eqnn builds: EQNN_MAX_GROUP_ORDER when set (an integer 1 .. 46340), else
/// kDefaultMaxGroupOrder. Group::check_order applies it.
int64_t max_group_order();

/// Default limit on the entries of one dense matrix eqnn builds (2²⁸: 1 GiB in float32).
inline constexpr int64_t kDefaultMaxMatrixEntries = int64_t{1} << 28;
/// The largest dense matrix eqnn builds — a D_out x D_in weight and its basis, a D x D change of basis — in
/// entries: EQNN_MAX_WEIGHT_ENTRIES when set (a positive integer), else kDefaultMaxMatrixEntries.
int64_t max_matrix_entries();
/// Throws GroupError "WHAT: a KIND of ROWS x COLS = N entries (X GiB in float32) is larger than eqnn builds
/// (at most LIMIT entries; ...)" when rows · cols > max_matrix_entries(); call it before allocating.
void check_matrix_entries(int64_t rows, int64_t cols, const std::string& what, const std::string& kind);

/// Default limit on a representation's size (2²⁴ coordinates).
inline constexpr int64_t kDefaultMaxRepSize = int64_t{1} << 24;
/// The largest representation eqnn builds, in coordinates: EQNN_MAX_REP_SIZE when set (an integer
/// 1 .. 2³¹ - 1), else kDefaultMaxRepSize. Direct sums and the rep-string parser check it before building.
int64_t max_rep_size();
/// Throws GroupError "WHAT would have SIZE coordinates, more than eqnn builds (at most LIMIT; set
/// EQNN_MAX_REP_SIZE to allow more)" when size > max_rep_size().
void check_rep_size(int64_t size, const std::string& what);

}  // namespace eqnn
