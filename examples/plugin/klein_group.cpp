// KleinFourGroup: the symmetries of a rectangle (identity, two mirror flips, the half turn), short name
// "V4", as an out-of-tree group plugin. Elements are bit pairs (h, v); the product is XOR. Its four real
// irreps are signs, given in closed form on the generators h = 1 and v = 2.
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

eqnn::GroupPtr make_klein(const YAML::Node& params, const eqnn::Registry&) {
  eqnn::yaml::check_keys(params, {}, "KleinFourGroup");
  std::vector<std::vector<int>> table(4, std::vector<int>(4));
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) table[a][b] = a ^ b;
  auto g = eqnn::Group::from_cayley_table("V4", std::move(table), {1, 2});
  const eqnn::Matrix plus = eqnn::Matrix::Identity(1, 1), minus = -plus;
  g->set_irreps({{plus, plus}, {minus, plus}, {plus, minus}, {minus, minus}});
  g->set_standard({eqnn::Matrix{{-1.0, 0.0}, {0.0, 1.0}}, eqnn::Matrix{{1.0, 0.0}, {0.0, -1.0}}});
  // The rectangle's corners 0..3 counter-clockwise from the top right: h swaps 0↔1 and 2↔3, v swaps 0↔3, 1↔2.
  g->add_action({"corners", 4, {{1, 0, 3, 2}, {3, 2, 1, 0}}});
  return g;
}

std::optional<YAML::Node> parse_short_name(const std::string& s) {
  return s == "V4" ? std::optional<YAML::Node>(YAML::Node(YAML::NodeType::Map)) : std::nullopt;
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type({"KleinFourGroup", "no parameters (order 4)", {"V4"}, make_klein, parse_short_name});
}

}  // namespace

EQNN_PLUGIN("example_klein_group", "0.1.0", register_all)
