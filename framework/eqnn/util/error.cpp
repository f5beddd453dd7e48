// Out-of-line parts of the error types, including each one's key function (its destructor): the
// vtables and typeinfo are emitted here only, never in a plugin.
#include "eqnn/util/error.hpp"

#include <utility>

namespace eqnn {
namespace {

std::string located(const std::string& file, int line, int column, const std::string& message) {
  if (file.empty() && line <= 0) return message;
  std::string where = file.empty() ? "<input>" : file;
  if (line > 0) {
    where += ":" + std::to_string(line);
    if (column > 0) where += ":" + std::to_string(column);
  }
  return where + ": error: " + message;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, int column, const std::string& message)
    : Error(located(file, line, column, message)),
      file_(std::move(file)),
      line_(line),
      column_(column),
      message_(message) {}

Error::~Error() = default;
PluginError::~PluginError() = default;
LookupError::~LookupError() = default;
GroupError::~GroupError() = default;
ConfigError::~ConfigError() = default;

}  // namespace eqnn
