// Lazy loading of the registry for the `eqnn` command.
#include <filesystem>

#include "commands.hpp"
#include "eqnn/registry/registry.hpp"

namespace eqnn::cli {

CliContext::CliContext() = default;
CliContext::~CliContext() = default;

Registry& CliContext::registry() {
  if (!registry_) {
    std::vector<std::string> paths;
    for (const auto& path : plugin_paths)
      paths.push_back(std::filesystem::absolute(path).lexically_normal().string());
    auto registry = std::make_unique<Registry>();
    registry->load_default_plugins(paths);
    registry_ = std::move(registry);
  }
  return *registry_;
}

}  // namespace eqnn::cli
