// Error types thrown by eqnn. Every message says what was expected, what was found and what would work.
// They cross the plugin boundary (a plugin throws, libeqnn catches): each class has an out-of-line
// destructor, its key function, so its vtable and typeinfo live once, in libeqnn, and a catch in the
// host matches a throw in a plugin by one and the same type_info.
#pragma once

#include <stdexcept>
#include <string>

namespace eqnn {

/// Base of every eqnn error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~Error() override;
};

/// A plugin could not be loaded or registered; the message names the file and the cause.
class PluginError : public Error {
 public:
  using Error::Error;
  ~PluginError() override;
};

/// A registry lookup of an unknown name; the message lists known names and the nearest one.
class LookupError : public Error {
 public:
  using Error::Error;
  ~LookupError() override;
};

/// Group-theory input that is not valid (not a group, not orthogonal, incompatible representations...).
class GroupError : public Error {
 public:
  using Error::Error;
  ~GroupError() override;
};

/// A user configuration (YAML model, representation string, option) that is not valid.
/// `what()` is `FILE:LINE:COL: error: MESSAGE` when a location is known.
class ConfigError : public Error {
 public:
  ConfigError(const std::string& message) : Error(message), message_(message) {}
  ConfigError(std::string file, int line, int column, const std::string& message);
  ~ConfigError() override;
  const std::string& file() const { return file_; }
  int line() const { return line_; }      ///< 1-based, 0 when unknown
  int column() const { return column_; }  ///< 1-based, 0 when unknown
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  int line_ = 0;
  int column_ = 0;
  std::string message_;
};

}  // namespace eqnn
