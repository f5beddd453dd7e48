// Lookups, suggestions and group specs on registrations made in-process (register_builtin).
#include <memory>
#include <optional>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

namespace eqnn {
namespace {

using ::testing::AllOf;
using testing::error_text;
using ::testing::HasSubstr;
using ::testing::Not;

// Group types whose make() records the parameters it was given and returns the trivial group (a factory
// may not return null).
struct FakeGroups {
  static GroupPtr trivial() { return Group::from_cayley_table("trivial", {{0}}); }

  std::shared_ptr<std::vector<std::pair<std::string, YAML::Node>>> calls =
      std::make_shared<std::vector<std::pair<std::string, YAML::Node>>>();

  GroupType type(const std::string& name, char letter) const {
    GroupType t;
    t.name = name;
    t.parameters = "n: integer >= 1";
    t.short_names = {std::string(1, letter) + "4"};
    auto log = calls;
    t.make = [log, name](const YAML::Node& params, const Registry&) {
      log->emplace_back(name, YAML::Clone(params));
      return trivial();
    };
    t.parse_short_name = [letter](const std::string& s) -> std::optional<YAML::Node> {
      if (s.size() < 2 || s[0] != letter || s.find_first_not_of("0123456789", 1) != std::string::npos) {
        return std::nullopt;
      }
      YAML::Node params;
      params["n"] = std::stoi(s.substr(1));
      return params;
    };
    return t;
  }

  void register_into(Registry& registry) const {
    registry.register_builtin("fake_groups", [this](Registrar& r) {
      r.add_group_type(type("CyclicGroup", 'C'));
      r.add_group_type(type("DihedralGroup", 'D'));
      GroupType product;
      product.name = "DirectProduct";
      product.parameters = "factors: list of group specs";
      auto log = calls;
      product.make = [log](const YAML::Node& params, const Registry& registry) {
        log->emplace_back("DirectProduct", YAML::Clone(params));
        for (const auto& factor : params["factors"]) registry.make_group(factor);
        return trivial();
      };
      r.add_group_type(std::move(product));
    });
  }
};

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
