// Data set files: {"x": inputs, "y": targets} as torch.save writes them, checked on reading.
#include "eqnn/model/tensor_data.hpp"

#include <cmath>
#include <fstream>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <fmt/format.h>

#include "eqnn/model/internal/ivalue_dict.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

constexpr const char* kLayout =
    "expected a dict {\"x\": inputs (N, D_in) or (N, T, D_in), \"y\": targets}, written with "
    "torch.save({\"x\": x, \"y\": y}, path)";

std::string shape_of(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

std::string dtype_of(const at::Tensor& t) { return c10::toString(t.scalar_type()); }

at::Tensor tensor_entry(const at::IValue& value, const std::string& key, const std::string& path) {
  at::Tensor t = detail::tensor_value(value, fmt::format("data set '{}'", path), fmt::format("'{}'", key),
                                      fmt::format("is a {}, expected a tensor (torch.tensor(...) or "
                                                  "torch.from_numpy(...) before torch.save)",
                                                  value.tagKind()))
                     .detach();
  if (!t.is_cpu()) t = t.cpu();
  return t.contiguous();
}

void check_x(const at::Tensor& x, const std::string& path) {
  if (!at::isFloatingType(x.scalar_type())) {
    throw Error(fmt::format("data set '{}': x is {} (shape {}); inputs must be floating point (x.float())",
                            path, dtype_of(x), shape_of(x)));
  }
  if (x.dim() != 2 && x.dim() != 3) {
    throw Error(fmt::format("data set '{}': x has shape {}; expected (N, D_in) or (N, T, D_in){}", path,
                            shape_of(x), x.dim() == 1 ? " (one feature per sample: x.unsqueeze(1))" : ""));
  }
  if (x.size(0) == 0) {
    throw Error(fmt::format("data set '{}' is empty: x has shape {} (no samples)", path, shape_of(x)));
  }
  check_finite(x, "x", path);
}

at::Tensor check_y(at::Tensor y, const at::Tensor& x, const std::string& path) {
  const auto type = y.scalar_type();
  if (at::isComplexType(type) || type == at::kBool) {
    throw Error(fmt::format(
        "data set '{}': y is {} (shape {}); targets must be floating point (regression, --loss mse) or "
        "integer class labels (--loss cross_entropy)",
        path, dtype_of(y), shape_of(y)));
  }
  if (y.dim() == 0) {
    throw Error(
        fmt::format("data set '{}': y is a single number; expected one target per sample "
                    "(first dimension {}, as x {})",
                    path, x.size(0), shape_of(x)));
  }
  if (y.size(0) != x.size(0)) {
    throw Error(
        fmt::format("data set '{}': x has {} samples (shape {}) but y has {} (shape {}); the first "
                    "dimensions must agree",
                    path, x.size(0), shape_of(x), y.size(0), shape_of(y)));
  }
  if (at::isFloatingType(type)) {
    check_finite(y, "y", path);
    return y;
  }
  return y.to(at::kLong);  // labels of any integer type
}

TensorDataset from_dict(const at::IValue& value, const std::string& path, bool need_y) {
  if (!value.isGenericDict()) {
    throw Error(fmt::format("data set '{}' holds a {}; {}", path, value.tagKind(), kLayout));
  }
  std::vector<std::string> keys;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString()) {
      throw Error(
          fmt::format("data set '{}' has a key of type {}; {}", path, entry.key().tagKind(), kLayout));
    }
    keys.push_back(fmt::format("'{}'", entry.key().toStringRef()));
  }
  const auto dict = value.toGenericDict();
  for (const auto& entry : dict) {
    const std::string& key = entry.key().toStringRef();
    if (key != "x" && key != "y") {
      throw Error(fmt::format("data set '{}' has an entry '{}' (its keys: {}); only 'x' and 'y' are read: {}",
                              path, key, fmt::join(keys, ", "), kLayout));
    }
  }
  for (const char* key : {"x", "y"}) {
    if (dict.find(key) == dict.end() && (need_y || std::string(key) == "x")) {
      throw Error(fmt::format("data set '{}' has no '{}' entry (its keys: {}); {}", path, key,
                              keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ", ")), kLayout));
    }
  }
  TensorDataset data;
  data.path = path;
  data.x = tensor_entry(dict.at("x"), "x", path);
  check_x(data.x, path);
  if (dict.find("y") != dict.end()) data.y = check_y(tensor_entry(dict.at("y"), "y", path), data.x, path);
  return data;
}

// load_pickle_file with the two usual causes of an unreadable file spelled out.
at::IValue read_file(const std::string& path, const std::string& what) {
  {
    std::ifstream in(path, std::ios::binary);
    char magic[2] = {0, 0};
    if (in && in.read(magic, 2) && !(magic[0] == 'P' && magic[1] == 'K')) {
      throw Error(
          fmt::format("{} '{}' is not a zip archive as torch.save writes (the legacy format of "
                      "torch.save(..., _use_new_zipfile_serialization=False), or plain pickle?); save it "
                      "again with torch.save's default format",
                      what, path));
    }
  }
  try {
    return load_pickle_file(path, what);
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.find("numpy") == std::string::npos) throw;
    throw Error(message + " (numpy arrays are not read: torch.from_numpy(a) before torch.save)");
  }
}

}  // namespace

void check_finite(const at::Tensor& t, const std::string& name, const std::string& path) {
  if (!at::isFloatingType(t.scalar_type()) || at::isfinite(t).all().item<bool>()) return;
  const at::Tensor bad = at::nonzero(at::logical_not(at::isfinite(t)));
  std::vector<int64_t> index(bad.size(1));
  for (int64_t i = 0; i < bad.size(1); ++i) index[i] = bad[0][i].item<int64_t>();
  at::Tensor at_index = t;
  for (int64_t i : index) at_index = at_index.select(0, i);
  const double v = at_index.item<double>();
  const std::string what = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
  throw Error(
      fmt::format("data set '{}': {} has {} at index [{}] ({} non-finite value{} in all); clean or "
                  "drop those samples",
                  path, name, what, fmt::join(index, ", "), bad.size(0), bad.size(0) == 1 ? "" : "s"));
}

TensorDataset load_dataset(const std::string& path) {
  return from_dict(read_file(path, "data set"), path, /*need_y=*/true);
}

TensorDataset load_inputs(const std::string& path) {
  at::IValue value = read_file(path, "tensor file");
  if (value.isTensor()) {
    TensorDataset data;
    data.path = path;
    data.x = tensor_entry(value, "x", path);
    if (!at::isFloatingType(data.x.scalar_type())) {
      throw Error(fmt::format("'{}' holds a {} tensor; the model needs floating-point input", path,
                              dtype_of(data.x)));
    }
    check_finite(data.x, "x", path);
    return data;
  }
  if (!value.isGenericDict()) {
    throw Error(fmt::format("'{}' holds a {}; expected a tensor (torch.save(x, path)) or a data set {}", path,
                            value.tagKind(), "{\"x\": x[, \"y\": y]}"));
  }
  return from_dict(value, path, /*need_y=*/false);
}

void save_dataset(const TensorDataset& data, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  dict.insert("x", data.x.detach().cpu().contiguous());
  if (data.y.defined()) dict.insert("y", data.y.detach().cpu().contiguous());
  save_pickle_file(dict, path);
}

}  // namespace eqnn
