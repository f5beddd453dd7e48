// Small pieces the layers' option structs share: the error a validate(options) function reports, and the
// options of a layer that is configured by its input representation alone.
#pragma once

#include <string>
#include <utility>

#include <torch/arg.h>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

/// What is wrong with a set of layer options: the option's name (e.g. "num_heads", "in_rep") and a message
/// with the numbers and what would work. Constructors throw it as ConfigError; YAML factories locate it at
/// the key.
struct OptionError {
  std::string key;
  std::string message;
};

/// Options of a layer configured by its input representation alone (EReLUOptions, ENormPoolOptions, ...).
/// `Tag` makes each layer's options a type of its own, so validate() and constructors overload on them.
template <typename Tag>
struct RepOptions {
  explicit RepOptions(RepPtr in_rep) : in_rep_(std::move(in_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
};

}  // namespace eqnn
