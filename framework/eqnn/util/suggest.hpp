// "Did you mean": the nearest known name to one a user typed, by edit distance, and the clause an error
// message gives it. Every lookup that lists what would work (registry, rep strings, YAML keys, layer
// options) suggests through here, so the wording is the same everywhere.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace eqnn {

/// The nearest of `candidates` to `name` by case-insensitive edit distance, if close enough to be a
/// plausible typo; else the one candidate that contains `name` (three letters or more), if exactly one does.
///
///   did_you_mean("eLiner", {"eLinear", "eReLU"});  // "eLinear"
std::optional<std::string> did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" for the suggestion, or "" when there is none: put it right after the unknown
/// name ("unknown key 'biass' (did you mean 'bias'?); allowed keys: ...").
std::string did_you_mean_clause(const std::string& name, const std::vector<std::string>& candidates);

/// "; did you mean 'x'?" for the suggestion, or "." when there is none: the end of a sentence that the
/// list of known names follows ("unknown layer 'eLiner'; did you mean 'eLinear'? Known layers: ...").
std::string did_you_mean_sentence_end(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace eqnn
