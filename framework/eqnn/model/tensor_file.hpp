// Files of pickled values in the zip format of Python's torch.save / torch.load: tensors, and dicts,
// lists, strings and numbers of them. Reading is bounded and checked (a corrupt file is an Error, never a
// crash); writing is atomic and loads under torch.load's default weights_only=True.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>

namespace eqnn {

/// Reads a tensor written by Python's torch.save(tensor, path).
///
///   at::Tensor x = eqnn::load_tensor_file("x.pt");
///   eqnn::save_tensor_file(model->forward(x), "y.pt");
at::Tensor load_tensor_file(const std::string& path);
/// Writes a tensor torch.load can read, atomically.
void save_tensor_file(const at::Tensor& tensor, const std::string& path);
/// Reads any value written by torch.save (dicts, lists, strings, numbers, tensors). `what` names the kind
/// of file in messages ("data set", ...).
at::IValue load_pickle_file(const std::string& path, const std::string& what);
/// Writes `value` (dicts, lists, strings, numbers, tensors) so that torch.load reads it, atomically.
void save_pickle_file(const at::IValue& value, const std::string& path);

}  // namespace eqnn
