// Internal to libeqnn: the bounded reader behind every file eqnn loads with torch.load's format
// (tensor_file.hpp, and through it checkpoints and data sets). A truncated or corrupt file is an Error
// naming the file, never a read past a buffer, a huge allocation or a crash in LibTorch.
#pragma once

#include <string>

#include <ATen/core/ivalue.h>

namespace eqnn::detail {

/// Reads the value that torch.save wrote to `path` (its zip format). Checks, before LibTorch's unpickler
/// sees them, that no length in the pickle claims more bytes than follow it; after, that every tensor is
/// a dense tensor of a dtype eqnn computes with and lies inside its storage. Throws Error naming `what`
/// (the kind of file: "checkpoint", "data set", ...) and `path`.
at::IValue read_pickle_file(const std::string& path, const std::string& what);

}  // namespace eqnn::detail
