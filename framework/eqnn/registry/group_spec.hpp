// Group specs: how a model file, the command line and Python name a group — a short name ("C8", "C2xD4")
// or a YAML mapping ("{type: DihedralGroup, n: 4}", also as a string) — built with the registry's group
// types.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

class Registry;

/// The group a SPEC names, made by the registered group types; errors are ConfigError, located at the spec's
/// node in `file` (FILE:LINE:COL) when `file` is given. Registry::make_group is the usual way in.
///
///   GroupPtr g = group_from_spec(registry, YAML::Load("{type: DihedralGroup, n: 4}"), "model.yaml");
GroupPtr group_from_spec(const Registry& registry, const YAML::Node& spec, const std::string& file = "");

}  // namespace eqnn
