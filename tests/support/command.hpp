// Running the eqnn command, the project's Python or any shell command as a user would, capturing the exit
// status and output, and paths into the source tree. For test binaries built with EQNN_SOURCE_DIR,
// EQNN_CLI and EQNN_PYTHON defined (tests/CMakeLists.txt).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace eqnn::testing {

/// A file of the source tree by its path relative to the repository root.
inline std::string source_path(const std::string& relative) {
  return std::string(EQNN_SOURCE_DIR) + "/" + relative;
}

/// A model of examples/models by its name: example("d4_mlp") is examples/models/d4_mlp.yaml.
inline std::string example(const std::string& name) {
  return source_path("examples/models/" + name + ".yaml");
}

struct CommandResult {
  int status = -1;     ///< the exit status; -1 when the command did not exit normally
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command, capturing stdout and stderr.
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n = 0;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  const int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}

/// Runs Python code with the project venv (the torch eqnn is built against); `args` follow as sys.argv[1:].
/// The code is passed in single quotes, so it must not contain any.
inline CommandResult run_python(const std::string& code, const std::string& args) {
  return run_command(std::string(EQNN_PYTHON) + " -c '" + code + "' " + args);
}

/// Runs the eqnn command with `args`.
///
///   auto r = eqnn_cli("check " + source_path("examples/models/d4_mlp.yaml"));
///   EXPECT_EQ(r.status, 0) << r.output;
inline CommandResult eqnn_cli(const std::string& args) {
  return run_command(std::string(EQNN_CLI) + " " + args);
}

}  // namespace eqnn::testing
