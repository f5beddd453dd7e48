// Group specs (registry/group_spec.hpp) with the shipped group plugins: short names, products and mappings
// name the same groups, and a mapping written as a string reports its errors where they are in the file.
#include <gtest/gtest.h>

#include <string>

#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/group.hpp"
#include "eqnn/registry/group_spec.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

using eqnn::testing::group;

TEST(Groups, ShortNamesAndMappingsAgree) {
  EXPECT_EQ(group("D4")->content_hash(), group("{type: DihedralGroup, n: 4}")->content_hash());
  EXPECT_EQ(group("C2xD4")->order(), 16);
  EXPECT_EQ(group("{type: DirectProduct, factors: [C2, D4]}")->content_hash(),
            group("C2xD4")->content_hash());
  EXPECT_EQ(group("{type: FiniteGroup, generators: [[1, 2, 0], [1, 0, 2]]}")->order(), 6);
}

namespace eqnn::testing {
namespace {

TEST(GroupSpec, TheFreeFunctionIsWhatTheRegistryCalls) {
  const GroupPtr a = group_from_spec(registry(), YAML::Node("D6"));
  const GroupPtr b = registry().make_group("D6");
  EXPECT_EQ(a->order(), 12);
  EXPECT_TRUE(a->same_content(*b));
}

TEST(GroupSpec, AMappingInAStringIsLocatedInTheFile) {
  // The YAML error inside the string is on the string's line of the file, not on line 1.
  const YAML::Node model = YAML::Load("eqnn: 1\ngroup: \"{type: CyclicGroup, n: [}\"\n");
  try {
    group_from_spec(registry(), model["group"], "m.yaml");
    FAIL() << "nothing thrown";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "m.yaml");
    EXPECT_EQ(e.line(), 2);
    EXPECT_HAS(std::string(e.what()), "is not a valid YAML mapping");
  }
}

TEST(GroupSpec, UnknownNamesSuggestTheNearest) {
  EXPECT_HAS(error_text([] { group_from_spec(registry(), YAML::Node("{type: CyclicGrop, n: 3}")); }),
             "unknown group type 'CyclicGrop'; did you mean 'CyclicGroup'? Known group types: ");
  const std::string far = error_text([] { group_from_spec(registry(), YAML::Node("{type: Zzzzzzzz}")); });
  EXPECT_HAS(far, "unknown group type 'Zzzzzzzz'. Known group types: ");
}

}  // namespace
}  // namespace eqnn::testing
