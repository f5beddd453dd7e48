// Small string helpers for parsing names and lists out of user text (group specs, EQNN_PLUGIN_PATH) and
// for listing names in messages.
#pragma once

#include <string>
#include <vector>

namespace eqnn::strings {

/// `s` without leading and trailing blanks (space, tab, CR, LF).
std::string trim(const std::string& s);
/// The parts between separators, empty parts kept: split("a::b", ':') = {"a", "", "b"}; split("", ':') =
/// {""}.
std::vector<std::string> split(const std::string& s, char separator);
/// "a, b, c", or "(none)" for an empty list.
std::string join_names(const std::vector<std::string>& names);

}  // namespace eqnn::strings
