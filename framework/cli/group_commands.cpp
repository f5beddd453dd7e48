// `eqnn groups`, `eqnn group info SPEC`, `eqnn rep info --group SPEC REP`, `eqnn hom --group SPEC --in REP
// --out REP`: the group theory from the command line, as text or as JSON that scripts depend on.
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::cli {
namespace {

nlohmann::json matrix_json(const Matrix& m) {
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index j = 0; j < m.cols(); ++j) row.push_back(std::abs(m(i, j)) < 1e-14 ? 0.0 : m(i, j));
    rows.push_back(row);
  }
  return rows;
}

std::string fmt_number(double x) {
  if (std::abs(x) < 1e-12) x = 0;
  if (std::abs(x - std::round(x)) < 1e-9) return fmt::format("{}", static_cast<long long>(std::llround(x)));
  return fmt::format("{:.4f}", x);
}

// Parses a REP argument; a syntax error is shown with the string and a caret under the column.
RepPtr rep_argument(const GroupPtr& g, const std::string& text, const std::string& option) {
  try {
    return parse_rep(g, text);
  } catch (const ConfigError& e) {
    std::string caret =
        e.column() > 0 ? fmt::format("\n  {}\n  {}^", text, std::string(e.column() - 1, ' ')) : "";
    throw ConfigError(fmt::format("{}{}: {}{}", option,
                                  e.column() > 0 ? fmt::format(" (column {})", e.column()) : "", e.message(),
                                  caret));
  }
}

struct GroupOptions {
  std::string spec;
  bool json = false;
};

void run_groups(CliContext& context) {
  const Registry& r = context.registry();
  fmt::print("{:<18} {:<14} {}\n", "TYPE", "SHORT NAMES", "PARAMETERS");
  for (const auto& name : r.names(Kind::group)) {
    const auto& t = r.get_group_type(name);
    fmt::print("{:<18} {:<14} {}\n", name,
               t.short_names.empty() ? "-" : fmt::format("{}", fmt::join(t.short_names, ", ")), t.parameters);
  }
  fmt::print(
      "\nSPEC is a short name (C8, D4, S5, A5, Ico, Octa, C2xD4, SO2, O2, SO3, O3) or a YAML mapping such as "
      "'{{type: DihedralGroup, n: 6}}' or '{{type: SO3, band_limit: 8}}'.\n");
}

// A compact group: its irreps up to the band limit, each with its band; no elements to list.
void run_compact_group_info(const Group& g, bool json) {
  const CompactGroupDefinition& def = *g.compact();
  const auto& irreps = g.irreps();
  if (json) {
    nlohmann::json irr = nlohmann::json::array();
    for (const auto& ir : irreps)
      irr.push_back({{"index", ir.index},
                     {"name", ir.name},
                     {"dim", ir.dim},
                     {"type", std::string(1, type_letter(ir.type))},
                     {"band", def.irrep(ir.index).band}});
    nlohmann::json out = {{"name", g.name()},
                          {"compact", true},
                          {"band_limit", g.band_limit()},
                          {"defining_dim", def.defining_dim()},
                          {"irreps", irr}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  fmt::print(
      "group {}: compact, elements are its {}x{} defining matrices; {} real irreps up to band limit {}\n",
      g.name(), def.defining_dim(), def.defining_dim(), irreps.size(), g.band_limit());
  fmt::print("representations: irrep(...), standard, regular(L), trivial\n\n");
  fmt::print("{:<5} {:<14} {:>4} {:>5} {:>5}\n", "INDEX", "NAME", "DIM", "TYPE", "BAND");
  for (const auto& ir : irreps)
    fmt::print("{:<5} {:<14} {:>4} {:>5} {:>5}\n", ir.index, ir.name, ir.dim, type_letter(ir.type),
               def.irrep(ir.index).band);
}

void run_group_info(CliContext& context, const GroupOptions& o) {
  auto g = context.registry().make_group(o.spec);
  if (g->is_compact()) return run_compact_group_info(*g, o.json);
  const auto& irreps = g->irreps();
  if (o.json) {
    nlohmann::json gens = nlohmann::json::array();
    for (int s : g->generators()) {
      nlohmann::json perm = nlohmann::json::array();
      for (int j = 0; j < g->order(); ++j) perm.push_back(g->mul(s, j));
      gens.push_back(perm);
    }
    nlohmann::json irr = nlohmann::json::array();
    for (const auto& ir : irreps) {
      nlohmann::json mats = nlohmann::json::array();
      for (int s : g->generators()) mats.push_back(matrix_json(ir.matrices[s]));
      nlohmann::json chi = nlohmann::json::array();
      for (double c : ir.character) chi.push_back(std::abs(c) < 1e-12 ? 0.0 : c);
      irr.push_back({{"index", ir.index},
                     {"name", ir.name},
                     {"dim", ir.dim},
                     {"type", std::string(1, type_letter(ir.type))},
                     {"character", chi},
                     {"generator_matrices", mats}});
    }
    nlohmann::json out = {{"name", g->name()}, {"order", g->order()}, {"generators", gens}, {"irreps", irr}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  fmt::print("group {}: order {}, {} generators, {} real irreps, {} conjugacy classes\n", g->name(),
             g->order(), g->generators().size(), irreps.size(), g->conjugacy_classes().size());
  std::vector<std::string> actions;
  for (const auto& a : g->actions())
    actions.push_back(fmt::format("permutation({}) on {} points", a.name, a.num_points));
  if (g->standard())
    actions.push_back(fmt::format("standard ({}-dimensional matrices)", (*g->standard())[0].rows()));
  fmt::print("actions: {}\n\n", actions.empty() ? "none" : fmt::format("{}", fmt::join(actions, "; ")));
  fmt::print("{:<5} {:<10} {:>4} {:>5}  character on the first elements\n", "INDEX", "NAME", "DIM", "TYPE");
  for (const auto& ir : irreps) {
    std::vector<std::string> chi;
    for (int j = 0; j < std::min(g->order(), 12); ++j) chi.push_back(fmt_number(ir.character[j]));
    fmt::print("{:<5} {:<10} {:>4} {:>5}  [{}{}]\n", ir.index, ir.name, ir.dim, type_letter(ir.type),
               fmt::join(chi, ", "), g->order() > 12 ? ", ..." : "");
  }
}

struct RepOptions {
  std::string group, rep;
  bool json = false;
};

void run_rep_info(CliContext& context, const RepOptions& o) {
  auto g = context.registry().make_group(o.group);
  auto rep = rep_argument(g, o.rep, "REP");
  if (o.json) {
    nlohmann::json mats = nlohmann::json::array();
    for (int s : g->generators()) mats.push_back(matrix_json(rep->matrix(s)));
    nlohmann::json out = {{"size", rep->size()},
                          {"irreps", rep->irreps()},
                          {"is_permutation", rep->is_permutation()},
                          {"generator_matrices", mats}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  auto m = rep->multiplicities();
  std::vector<std::string> parts;
  for (size_t k = 0; k < m.size(); ++k)
    if (m[k] > 0)
      parts.push_back(fmt::format("{}x {} [dim {}, {}]", m[k],
                                  g->is_compact() ? g->irreps()[k].name : fmt::format("irrep({})", k),
                                  g->irreps()[k].dim, type_letter(g->irreps()[k].type)));
  fmt::print("representation {} of {}: size {}\n", rep->name(), g->name(), rep->size());
  fmt::print("decomposition: {}\n", fmt::join(parts, " + "));
  fmt::print("permutation representation: {}\n",
             rep->is_permutation()                     ? "yes"
             : rep->has_permutation_structure()        ? "behind an orthogonal change of basis"
             : rep->has_signed_permutation_structure() ? "signed (every rho(g) e_i = +-e_j)"
                                                       : "no");
  fmt::print("invariant subspace: dimension {}\n", m.empty() ? 0 : m[0]);
}

struct HomOptions {
  std::string group, in, out;
  bool json = false;
};

void run_hom(CliContext& context, const HomOptions& o) {
  auto g = context.registry().make_group(o.group);
  auto in = rep_argument(g, o.in, "--in");
  auto out = rep_argument(g, o.out, "--out");
  auto hom = HomSpace::get(in, out);
  if (o.json) {
    std::cout << nlohmann::json{{"dim", hom->dim()}, {"method", hom->method_name()}}.dump(2) << "\n";
    return;
  }
  fmt::print("Hom_G({}, {}) for {}: dimension {} (a dense map has {}), method {}\n", in->name(), out->name(),
             g->name(), hom->dim(), int64_t(in->size()) * out->size(), hom->method_name());
}

}  // namespace

void add_group_commands(CLI::App& app, CliContext& context) {
  app.add_subcommand("groups", "List the group types, their parameters and short names")
      ->callback([&context] { run_groups(context); });

  auto go = std::make_shared<GroupOptions>();
  CLI::App* group = app.add_subcommand("group", "Inspect a group");
  group->require_subcommand(1);
  CLI::App* info = group->add_subcommand("info", "Order, generators and real irreps of a group");
  info->add_option("SPEC", go->spec, "Short name (D4) or YAML mapping ('{type: DihedralGroup, n: 4}')")
      ->required();
  info->add_flag("--json", go->json, "Print JSON");
  info->callback([&context, go] { run_group_info(context, *go); });

  auto ro = std::make_shared<RepOptions>();
  CLI::App* rep = app.add_subcommand("rep", "Inspect a representation");
  rep->require_subcommand(1);
  CLI::App* rinfo = rep->add_subcommand("info", "Size, irreps and generator matrices of a representation");
  rinfo->add_option("--group", ro->group, "Group SPEC")->required();
  rinfo->add_option("REP", ro->rep, "Representation string, e.g. \"2x regular + trivial\"")->required();
  rinfo->add_flag("--json", ro->json, "Print JSON");
  rinfo->callback([&context, ro] { run_rep_info(context, *ro); });

  auto ho = std::make_shared<HomOptions>();
  CLI::App* hom = app.add_subcommand("hom", "Dimension of the space of equivariant linear maps");
  hom->add_option("--group", ho->group, "Group SPEC")->required();
  hom->add_option("--in", ho->in, "Input representation string")->required();
  hom->add_option("--out", ho->out, "Output representation string")->required();
  hom->add_flag("--json", ho->json, "Print JSON");
  hom->callback([&context, ho] { run_hom(context, *ho); });
}

}  // namespace eqnn::cli
