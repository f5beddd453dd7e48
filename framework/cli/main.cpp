// Entry point of the `eqnn` command: builds the CLI11 app from the command-group hooks, dispatches,
// and turns every error into `eqnn: error: ...` with exit status 2 (usage/config) or 1 (the rest).
#include <cstdlib>
#include <iostream>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <torch/cuda.h>

#include "commands.hpp"
#include "eqnn/registry/version.hpp"
#include "eqnn/util/error.hpp"

namespace {

int fail(int status, const std::string& message) {
  std::cerr << "eqnn: error: " << message << "\n";
  return status;
}

// glibc gives a freed block of more than a few MB back to the system (mmap, or trimming the heap's top) and
// faults its pages in again on the next allocation: for steps that allocate and free tensors of 16 MB and
// more, that is tens of milliseconds per call (measured: eLinear Ico 16x regular at 4096 tokens, 50 → 30 ms
// eval). The eqnn process keeps such memory for reuse instead, unless the environment sets glibc's malloc
// parameters itself.
void keep_freed_memory() {
#if defined(__GLIBC__)
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") || std::getenv("MALLOC_MMAP_THRESHOLD_") ||
      std::getenv("GLIBC_TUNABLES"))
    return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest: blocks up to 32 MB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // and the heap's free top is kept up to 1 GB
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace eqnn::cli;
  keep_freed_memory();
  CliContext context;
  CLI::App app{"eqnn: group-equivariant neural networks on LibTorch", "eqnn"};
  app.fallthrough();  // global options may follow the subcommand
  app.require_subcommand(0, 1);
  bool show_version = false;
  app.add_flag("--version", show_version,
               "Print the eqnn, plugin ABI and LibTorch versions, and whether CUDA is there");
  app.add_option("--plugin-path", context.plugin_paths,
                 "Also load plugins from this directory or file (repeatable; after EQNN_PLUGIN_PATH)")
      ->type_name("PATH")
      ->allow_extra_args(false);

  // ---- command groups: one hook per file, declared in commands.hpp ----
  add_plugins_command(app, context);
  add_group_commands(app, context);
  add_model_commands(app, context);
  add_bench_command(app, context);

  try {
    app.parse(argc, argv);
    if (show_version) {
      const bool gpu = torch::cuda::is_available();
      fmt::print("eqnn {}\nplugin ABI {}\nLibTorch {} ({})\nCUDA GPUs visible: {}\n", eqnn::version(),
                 EQNN_PLUGIN_ABI_VERSION, eqnn::torch_version(),
                 eqnn::torch_has_cuda() ? "built with CUDA" : "CPU only",
                 gpu ? std::to_string(torch::cuda::device_count()) : std::string("none"));
      return 0;
    }
    if (app.get_subcommands().empty()) {
      std::cerr << app.help();
      return fail(2, "no command given; try 'eqnn plugins'");
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    return fail(2, fmt::format("{} (see 'eqnn --help')", e.what()));
  } catch (const UsageError& e) {
    return fail(2, e.what());
  } catch (const eqnn::ConfigError& e) {
    return fail(2, e.what());
  } catch (const eqnn::LookupError& e) {
    return fail(2, e.what());
  } catch (const eqnn::Error& e) {
    return fail(1, e.what());
  } catch (const c10::Error& e) {
    // A LibTorch check (a layer's TORCH_CHECK on a shape, say) says what is wrong; its C++ backtrace does
    // not.
    return fail(1, e.what_without_backtrace());
  } catch (const std::exception& e) {
    return fail(1, fmt::format("internal error: {}", e.what()));
  } catch (...) {
    return fail(1, "internal error: unknown exception");
  }
  return 0;
}
