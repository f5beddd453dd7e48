// Group specs (registry/group_spec.hpp) on fake group types registered in-process: short names, flow
// mappings, products, suggestions, and errors located in the file. tests/unit/group_spec_test.cpp runs
// specs against the shipped group plugins.
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "fake_groups.hpp"
#include "support.hpp"

namespace eqnn {
namespace {

using ::testing::AllOf;
using testing::error_text;
using testing::FakeGroups;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(MakeGroup, ShortName) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  registry.make_group("C8");
  ASSERT_EQ(fake.calls->size(), 1u);
  EXPECT_EQ(fake.calls->at(0).first, "CyclicGroup");
  EXPECT_EQ(fake.calls->at(0).second["n"].as<int>(), 8);
}

TEST(MakeGroup, FlowMappingPassesTheOtherKeysAsParameters) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  registry.make_group("{type: DihedralGroup, n: 4}");
  ASSERT_EQ(fake.calls->size(), 1u);
  EXPECT_EQ(fake.calls->at(0).first, "DihedralGroup");
  EXPECT_EQ(fake.calls->at(0).second["n"].as<int>(), 4);
  EXPECT_FALSE(fake.calls->at(0).second["type"]);
}

TEST(MakeGroup, ProductOfShortNames) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  registry.make_group("C2xD4");
  ASSERT_EQ(fake.calls->size(), 3u);
  EXPECT_EQ(fake.calls->at(0).first, "DirectProduct");
  EXPECT_EQ(fake.calls->at(0).second["factors"].size(), 2u);
  EXPECT_EQ(fake.calls->at(1).first, "CyclicGroup");
  EXPECT_EQ(fake.calls->at(2).first, "DihedralGroup");
  EXPECT_THAT(error_text<ConfigError>([&] { registry.make_group("C2x"); }), HasSubstr("has an empty factor"));
}

TEST(MakeGroup, UnknownShortNameSuggests) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  EXPECT_THAT(error_text<ConfigError>([&] { registry.make_group("Q4"); }),
              AllOf(HasSubstr("unknown group 'Q4'"), HasSubstr("did you mean 'C4'?"),
                    HasSubstr("Short names look like: C4, D4"),
                    HasSubstr("group types: CyclicGroup, DihedralGroup, DirectProduct")));
  EXPECT_THAT(error_text<ConfigError>([&] { registry.make_group("  "); }), HasSubstr("empty group spec"));
}

TEST(MakeGroup, MappingErrors) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  EXPECT_THAT(error_text<ConfigError>([&] { registry.make_group("{type: CylicGroup, n: 3}"); }),
              AllOf(HasSubstr("unknown group type 'CylicGroup'"), HasSubstr("did you mean 'CyclicGroup'?")));
  EXPECT_THAT(error_text<ConfigError>([&] { registry.make_group("{n: 3}"); }),
              HasSubstr("needs 'type: NAME'"));
  EXPECT_THAT(error_text<ConfigError>([&] { registry.make_group("{type: [}"); }),
              HasSubstr("is not a valid YAML mapping"));
}

TEST(MakeGroup, ErrorsInAFilePointAtTheNode) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  YAML::Node model = YAML::Load("eqnn: 1\ngroup: {type: DihedralGrop, n: 4}\n");
  try {
    registry.make_group(model["group"], "model.yaml");
    FAIL() << "nothing thrown";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.file(), "model.yaml");
    EXPECT_EQ(e.line(), 2);
    EXPECT_EQ(e.column(), 15);
    EXPECT_THAT(e.what(),
                AllOf(::testing::StartsWith("model.yaml:2:15: error: unknown group type 'DihedralGrop'"),
                      HasSubstr("did you mean 'DihedralGroup'?")));
  }
}

}  // namespace
}  // namespace eqnn
