// `eqnn plugins [--json]`: every loaded plugin, its file, version and what it registers.
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "eqnn/registry/registry.hpp"

namespace eqnn::cli {
namespace {

struct PluginsOptions {
  bool json = false;
};

void run_plugins(CliContext& context, const PluginsOptions& options) {
  const Registry& registry = context.registry();
  if (options.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& plugin : registry.plugins()) {
      nlohmann::json registers = nlohmann::json::array();
      for (const auto& [kind, name] : plugin.registered)
        registers.push_back({{"kind", to_string(kind)}, {"name", name}});
      out.push_back({{"file", plugin.file},
                     {"name", plugin.name},
                     {"version", plugin.version},
                     {"registers", registers}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  if (registry.plugins().empty()) {
    fmt::print("no plugins found; searched: {}\n",
               registry.searched_directories().empty()
                   ? std::string("(nothing)")
                   : fmt::format("{}", fmt::join(registry.searched_directories(), ", ")));
    fmt::print("set EQNN_PLUGIN_PATH or pass --plugin-path DIR to add plugin directories\n");
    return;
  }
  for (const auto& plugin : registry.plugins()) {
    fmt::print("{} {}  {}\n", plugin.name, plugin.version, plugin.file);
    for (const auto& [kind, name] : plugin.registered) fmt::print("  {:<11} {}\n", to_string(kind), name);
  }
}

}  // namespace

void add_plugins_command(CLI::App& app, CliContext& context) {
  auto options = std::make_shared<PluginsOptions>();
  CLI::App* command = app.add_subcommand("plugins", "List the loaded plugins and what each registers");
  command->add_flag("--json", options->json, "Print JSON instead of text");
  command->callback([&context, options] { run_plugins(context, *options); });
}

}  // namespace eqnn::cli
