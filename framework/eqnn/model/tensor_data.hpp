// Data sets in tensor files, as Python writes them: torch.save({"x": inputs, "y": targets}, path).
// Reading checks everything that does not need the model (keys, types, lengths, NaN/Inf, emptiness) and
// says what was found; training.hpp checks the shapes against a model.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

namespace eqnn {

/// A supervised data set: x (N, D_in) or (N, T, D_in), floating point; y (N, D_out) or (N, T, D_out),
/// floating point (regression), or class labels (N,) or (N, T) (int64 after loading).
///
///   # Python
///   torch.save({"x": torch.randn(512, 4), "y": torch.randn(512, 4)}, "train.pt")
///   // C++
///   eqnn::TensorDataset train = eqnn::load_dataset("train.pt");
struct TensorDataset {
  at::Tensor x, y;   ///< y is undefined when the file has no targets (eqnn run's input)
  std::string path;  ///< the file, for messages
  int64_t size() const { return x.size(0); }
  bool has_labels() const { return y.defined() && !at::isFloatingType(y.scalar_type()); }
};

/// Reads a dict {"x": Tensor, "y": Tensor} written by torch.save (Python or save_dataset). Integer labels
/// are converted to int64, nothing else is converted. Throws Error, naming the file and what it found,
/// for: a file that is not a dict, missing or unknown keys, values that are not tensors, complex or
/// boolean tensors, x that is not floating point, an empty set, x and y of different lengths, and NaN
/// or Inf (the tensor and the index of the first one).
TensorDataset load_dataset(const std::string& path);

/// The input of `eqnn run`: a bare tensor file (torch.save(x, path)) or a data set file ({"x": ...}
/// with an optional "y"). The same checks as load_dataset.
TensorDataset load_inputs(const std::string& path);

/// Writes {"x": x, "y": y} (y may be undefined: {"x": x}) so that torch.load and load_dataset read it.
void save_dataset(const TensorDataset& data, const std::string& path);

/// Throws Error "PATH: NAME has NaN at index [i, j] (first of K non-finite values)" when `t` is floating
/// point and not all finite.
void check_finite(const at::Tensor& t, const std::string& name, const std::string& path);

}  // namespace eqnn
