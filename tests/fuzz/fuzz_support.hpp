// Shared by the libFuzzer targets in this folder: the real registry with the shipped plugins, loaded once,
// and the rule every target follows. An input may be rejected only with an eqnn::Error (the documented
// way every bad input is reported); any other exception escapes the target and aborts the run, as do
// crashes, sanitizer reports, leaks and inputs slower than the fuzzer's -timeout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "eqnn/registry/registry.hpp"

namespace eqnn::fuzz {

/// The registry with the shipped plugins (built next to libeqnn in this tree).
inline const Registry& registry() {
  static const Registry* r = [] {
    auto* reg = new Registry();
    reg->load_default_plugins();
    return reg;
  }();
  return *r;
}

inline std::string text_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// Smaller size limits while fuzzing, through the documented knobs (unless the environment sets others):
/// groups of order at most 120 (EQNN_MAX_GROUP_ORDER), weights of at most 2¹⁸ entries
/// (EQNN_MAX_WEIGHT_ENTRIES) and representations of at most 4096 coordinates (EQNN_MAX_REP_SIZE). The
/// fuzzers explore the parsers and builders, not how long a group of order 5000, a 16k x 16k weight or a
/// representation of 16M coordinates takes to build; an input inside these limits that takes more than the
/// fuzzer's -timeout is a finding.
inline void limit_sizes() {
  setenv("EQNN_MAX_GROUP_ORDER", "120", /*overwrite=*/0);
  setenv("EQNN_MAX_WEIGHT_ENTRIES", "262144", /*overwrite=*/0);
  setenv("EQNN_MAX_REP_SIZE", "4096", /*overwrite=*/0);
}

}  // namespace eqnn::fuzz
