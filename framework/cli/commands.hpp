// The `eqnn` command: the shared context every command group sees, and one hook per command group.
// Each hook lives in its own file (plugins_command.cpp, ...) and adds its subcommands to the app.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <stdexcept>

#include <CLI/CLI.hpp>

namespace eqnn {
class Registry;  // eqnn/registry.hpp pulls in ATen; only the commands that use it include it
}  // namespace eqnn

namespace eqnn::cli {

/// State shared by all commands. The registry is loaded on first use, after options are parsed, so
/// `eqnn --version` and `eqnn --help` never load a plugin.
class CliContext {
 public:
  /// Values of the global --plugin-path option (made absolute before loading).
  std::vector<std::string> plugin_paths;

  /// The registry with the shipped plugins, EQNN_PLUGIN_PATH and --plugin-path loaded.
  Registry& registry();

  CliContext();
  ~CliContext();
  CliContext(const CliContext&) = delete;
  CliContext& operator=(const CliContext&) = delete;

 private:
  std::unique_ptr<Registry> registry_;
};

/// A usage error found after parsing (bad combination of options...): main prints it, exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One hook per command group. Add a declaration here and one call in main.cpp for a new group.
void add_plugins_command(CLI::App& app, CliContext& context);
void add_model_commands(CLI::App& app, CliContext& context);  // eqnn describe/check/train/run/export/demo
void add_train_command(CLI::App& app, CliContext& context);   // eqnn train (called by add_model_commands)
// Planned, each in its own file:
void add_group_commands(CLI::App& app, CliContext& context);  // eqnn groups, group info, rep info, hom
void add_bench_command(CLI::App& app, CliContext& context);   // eqnn bench attention / linear

}  // namespace eqnn::cli
