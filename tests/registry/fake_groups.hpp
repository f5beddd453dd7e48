// Fake group types for the registry tests: each make() records the parameters it was given, so a test can
// see what a group spec was turned into without any real group plugin.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "eqnn/registry/registry.hpp"

namespace eqnn::testing {

/// Group types whose make() records the parameters it was given and returns the trivial group (a factory
/// may not return null).
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

}  // namespace eqnn::testing
