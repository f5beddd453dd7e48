// Internal to libeqnn: typed access to the dicts of IValues that checkpoints, training states and data
// sets are made of, each check throwing an Error whose parts the caller gives (so every message keeps
// its own wording), and the str → Tensor dicts they store.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Dict.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn::detail {

using IValueDict = c10::impl::GenericDict;

/// The dict `value` holds; otherwise throws Error "WHERE: 'NAME' PROBLEM".
inline IValueDict dict_value(const at::IValue& value, const std::string& where, const std::string& name,
                             const char* problem = "is not a dict") {
  if (!value.isGenericDict()) throw Error(fmt::format("{}: '{}' {}", where, name, problem));
  return value.toGenericDict();
}

/// dict[key], required to be a dict: dict_value with the key as the name.
inline IValueDict dict_entry(const IValueDict& dict, const std::string& key, const std::string& where,
                             const char* problem = "is not a dict") {
  return dict_value(dict.at(key), where, key, problem);
}

/// dict[key]; when there is none, throws Error "OWNER has no 'KEY' entry".
inline at::IValue required_entry(const IValueDict& dict, const std::string& key, const std::string& owner) {
  auto it = dict.find(key);
  if (it == dict.end()) throw Error(fmt::format("{} has no '{}' entry", owner, key));
  return it->value();
}

/// The tensor `value` holds; otherwise throws Error "WHERE: LABEL PROBLEM" (LABEL names the entry, e.g.
/// "parameter 'w'").
inline at::Tensor tensor_value(const at::IValue& value, const std::string& where, const std::string& label,
                               const std::string& problem = "is not a tensor") {
  if (!value.isTensor()) throw Error(fmt::format("{}: {} {}", where, label, problem));
  return value.toTensor();
}

/// A str → Tensor dict of `items`, detached, contiguous and on the CPU (loadable without a GPU).
inline c10::Dict<std::string, at::Tensor> tensor_dict(
    const std::vector<std::pair<std::string, at::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : items) dict.insert(name, t.detach().cpu().contiguous());
  return dict;
}

}  // namespace eqnn::detail
