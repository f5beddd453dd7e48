// The size limits (util/limits.hpp): defaults, the environment variables that move them, and the
// located errors the representation parser and direct sums give above them.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/util/limits.hpp"
#include "scoped_env.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

TEST(Limits, DefaultsAndTheEnvironment) {
  EXPECT_EQ(max_group_order(), 5000);
  EXPECT_EQ(Group::max_order(), max_group_order());
  EXPECT_EQ(max_matrix_entries(), int64_t{268435456});
  {
    ScopedEnv limit("EQNN_MAX_GROUP_ORDER", "12");
    EXPECT_EQ(max_group_order(), 12);
  }
  {
    ScopedEnv limit("EQNN_MAX_GROUP_ORDER", "");  // empty: the default
    EXPECT_EQ(max_group_order(), 5000);
  }
  {
    ScopedEnv limit("EQNN_MAX_GROUP_ORDER", "46341");  // its table would not be indexable
    EXPECT_HAS(error_text([] { max_group_order(); }),
               "EQNN_MAX_GROUP_ORDER='46341' is not a group-order limit: expected an integer 1 .. 46340 "
               "(default 5000)");
  }
  {
    ScopedEnv limit("EQNN_MAX_WEIGHT_ENTRIES", "0");
    EXPECT_HAS(error_text([] { max_matrix_entries(); }),
               "EQNN_MAX_WEIGHT_ENTRIES='0' is not a weight-size limit: expected a positive integer");
  }
  {
    ScopedEnv limit("EQNN_MAX_WEIGHT_ENTRIES", "10");
    check_matrix_entries(2, 5, "w", "weight");  // exactly at the limit
    EXPECT_HAS(
        error_text([] { check_matrix_entries(3, 4, "W", "weight"); }),
        "W: a weight of 3 x 4 = 12 entries (0.0 GiB in float32) is larger than eqnn builds (at most 10 "
        "entries; set EQNN_MAX_WEIGHT_ENTRIES to allow more)");
  }
}

TEST(RepresentationLimit, ARepresentationAboveTheLimitIsAClearErrorBeforeItIsBuilt) {
  EXPECT_EQ(max_rep_size(), int64_t{1} << 24);
  auto g = group("C4");
  // More than 2²⁴ coordinates are refused by the parser (located, before the copies are summed).
  EXPECT_HAS(error_text([&] { parse_rep(group("C24"), "700000x regular"); }),
             "700000x regular would have 16800000 coordinates, more than eqnn builds (at most 16777216; set "
             "EQNN_MAX_REP_SIZE to allow more)");
  {
    ScopedEnv limit("EQNN_MAX_REP_SIZE", "100");
    EXPECT_EQ(parse_rep(g, "25x regular")->size(), 100);
    EXPECT_HAS(error_text([&] { parse_rep(g, "26x regular"); }), "26x regular would have 104 coordinates");
    EXPECT_HAS(error_text([&] { parse_rep(g, "20x regular + 6x regular"); }),
               "the representation would have 104 coordinates");
    const RepPtr r = parse_rep(g, "20x regular");
    EXPECT_HAS(
        error_text([&] {
          Representation::direct_sum({r, r});
        }),
        "the direct sum of 2 representations would have 160 coordinates, more than eqnn builds (at most 100");
  }
  {
    ScopedEnv limit("EQNN_MAX_REP_SIZE", "lots");
    EXPECT_HAS(
        error_text([&] { parse_rep(g, "2x regular"); }),
        "EQNN_MAX_REP_SIZE='lots' is not a representation-size limit: expected an integer 1 .. 2147483647");
  }
}

}  // namespace
}  // namespace eqnn::testing
