// Size limits: defaults, the environment variables that move them, and the checks with their messages.
#include "eqnn/util/limits.hpp"

#include <cerrno>
#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

// A size limit from the environment variable `name`: `fallback` when unset or empty, else an integer in
// 1 .. max; anything else is a GroupError "NAME='VALUE' is not a WHAT: expected EXPECTED (default N)".
int64_t env_limit(const char* name, int64_t fallback, int64_t max, const char* what, const char* expected) {
  const char* env = std::getenv(name);
  if (!env || !*env) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(env, &end, 10);
  if (errno != 0 || *end != '\0' || v < 1 || v > max)
    throw GroupError(
        fmt::format("{}='{}' is not a {}: expected {} (default {})", name, env, what, expected, fallback));
  return v;
}

}  // namespace

int64_t max_group_order() {
  // 46340² < 2³¹: the Cayley table must stay indexable.
  return env_limit("EQNN_MAX_GROUP_ORDER", kDefaultMaxGroupOrder, 46340, "group-order limit",
                   "an integer 1 .. 46340");
}

int64_t max_matrix_entries() {
  return env_limit("EQNN_MAX_WEIGHT_ENTRIES", kDefaultMaxMatrixEntries, std::numeric_limits<int64_t>::max(),
                   "weight-size limit", "a positive integer");
}

int64_t max_rep_size() {
  return env_limit("EQNN_MAX_REP_SIZE", kDefaultMaxRepSize, std::numeric_limits<int>::max(),
                   "representation-size limit", "an integer 1 .. 2147483647");
}

void check_rep_size(int64_t size, const std::string& what) {
  const int64_t limit = max_rep_size();
  if (size <= limit) return;
  throw GroupError(
      fmt::format("{} would have {} coordinates, more than eqnn builds (at most {}; set "
                  "EQNN_MAX_REP_SIZE to allow more)",
                  what, size, limit));
}

void check_matrix_entries(int64_t rows, int64_t cols, const std::string& what, const std::string& kind) {
  const int64_t entries = rows * cols, limit = max_matrix_entries();
  if (entries <= limit) return;
  throw GroupError(
      fmt::format("{}: a {} of {} x {} = {} entries ({:.1f} GiB in float32) is larger than eqnn builds (at "
                  "most {} entries; "
                  "set EQNN_MAX_WEIGHT_ENTRIES to allow more)",
                  what, kind, rows, cols, entries, entries * 4.0 / (1 << 30), limit));
}

}  // namespace eqnn
