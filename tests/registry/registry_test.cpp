// Lookups and suggestions on registrations made in-process (register_builtin); versions; error locations.
#include <memory>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"
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

TEST(Registry, UnknownNameSuggestsTheNearestAndListsKnownNames) {
  Registry registry;
  registry.register_builtin("fake", [](Registrar& r) {
    r.add_constraint("CommutingConstraint", [](const ConstraintRequest&) { return ConstraintPtr(); });
    r.add_constraint("InvariantConstraint", [](const ConstraintRequest&) { return ConstraintPtr(); });
  });
  EXPECT_EQ(registry.try_get_constraint("ComutingConstraint"), nullptr);
  EXPECT_THAT(error_text<LookupError>([&] { registry.get_constraint("ComutingConstraint"); }),
              AllOf(HasSubstr("unknown constraint 'ComutingConstraint'"),
                    HasSubstr("did you mean 'CommutingConstraint'?"),
                    HasSubstr("Known constraints: CommutingConstraint, InvariantConstraint")));
  EXPECT_THAT(error_text<LookupError>([&] { registry.get_constraint("Zzz"); }),
              AllOf(HasSubstr("unknown constraint 'Zzz'."), Not(HasSubstr("did you mean"))));
  EXPECT_THAT(error_text<LookupError>([&] { registry.get_layer("eLinear"); }),
              AllOf(HasSubstr("unknown layer 'eLinear'"), HasSubstr("no layers are registered")));
  EXPECT_THAT(error_text<LookupError>([&] { registry.get_group_type("Cyclic"); }),
              HasSubstr("unknown group type 'Cyclic'"));
}

TEST(Registry, BuiltinRegistrationsAreListed) {
  Registry registry;
  FakeGroups fake;
  fake.register_into(registry);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0].file, "<builtin>");
  EXPECT_EQ(registry.names(Kind::group),
            (std::vector<std::string>{"CyclicGroup", "DihedralGroup", "DirectProduct"}));
  EXPECT_TRUE(registry.names(Kind::layer).empty());
}

TEST(Registry, DuplicateWithinOnePluginIsAnError) {
  Registry registry;
  auto noop = [](const ConstraintRequest&) { return ConstraintPtr(); };
  EXPECT_THAT(error_text<PluginError>([&] {
                registry.register_builtin("twice", [&](Registrar& r) {
                  r.add_constraint("A", noop);
                  r.add_constraint("A", noop);
                });
              }),
              HasSubstr("plugin 'twice' ('<builtin>') registers the constraint 'A' twice"));
  EXPECT_EQ(registry.try_get_constraint("A"), nullptr);
}

TEST(ConfigError, FormatsTheLocation) {
  EXPECT_STREQ(ConfigError("m.yaml", 3, 7, "bad rep").what(), "m.yaml:3:7: error: bad rep");
  EXPECT_EQ(ConfigError("m.yaml", 3, 7, "bad rep").message(), "bad rep");
  EXPECT_STREQ(ConfigError("m.yaml", 0, 0, "bad file").what(), "m.yaml: error: bad file");
  EXPECT_STREQ(ConfigError("plain").what(), "plain");
}

TEST(Version, NumbersAndFingerprint) {
  EXPECT_EQ(version(), EQNN_VERSION_STRING);
  EXPECT_EQ(torch_version().rfind(std::to_string(TORCH_VERSION_MAJOR) + ".", 0), 0u);
  EXPECT_EQ(build_fingerprint(), EQNN_BUILD_FINGERPRINT);
  EXPECT_EQ(to_string(Kind::group), "group");
  EXPECT_EQ(to_string(Kind::constraint), "constraint");
  EXPECT_EQ(to_string(Kind::layer), "layer");
}

}  // namespace
}  // namespace eqnn
