// Checkpoints, exported weights and tensor files, all as pickled IValues in the zip format that Python's
// torch.load / torch.save use; every file is written through write_file_atomically (atomic_file.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "eqnn/atomic_file.hpp"
#include "eqnn/error.hpp"
#include "eqnn/model.hpp"
#include "eqnn/version.hpp"

namespace eqnn {
namespace {

constexpr const char* kFormat = "eqnn-checkpoint";
constexpr int64_t kFormatVersion = 1;

std::string shape_of(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

std::vector<char> read_bytes(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {} '{}': {}", what, path, std::strerror(errno)));
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw Error(fmt::format("{} '{}' is empty", what, path));
  return bytes;
}

at::IValue unpickle(const std::string& path, const std::string& what) {
  auto bytes = read_bytes(path, what);
  try {
    return torch::jit::pickle_load(bytes);
  } catch (const c10::Error& e) {
    throw Error(fmt::format("{} '{}' is not readable (truncated or corrupt?): {}", what, path,
                            e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{} '{}' is not readable (truncated or corrupt?): {}", what, path, e.what()));
  }
}

// torch.save's zip format without type tags on dicts and lists: jit::pickle_save tags them with
// torch.jit._pickle.restore_type_tag, which Python's torch.load refuses under its default
// weights_only=True (PyTorch >= 2.6). Plain dicts, lists, strings, numbers and tensors load everywhere.
std::vector<char> pickle_save(const at::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler([&](const char* buf, size_t size) { pickled.insert(pickled.end(), buf, buf + size); },
                              /*tensor_table=*/nullptr, /*type_renamer=*/nullptr,
                              /*memoized_class_types=*/nullptr, /*get_tensor_id=*/nullptr,
                              /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> archive;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) {
    const char* bytes = static_cast<const char*>(data);
    archive.insert(archive.end(), bytes, bytes + size);
    return size;
  });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return archive;
}

c10::Dict<std::string, at::Tensor> tensor_dict(const std::vector<std::pair<std::string, at::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : items) dict.insert(name, t.detach().contiguous());
  return dict;
}

// Copies `stored` into `live` (same names, same shapes), naming the first mismatch.
void restore(const std::string& what, const std::vector<std::pair<std::string, at::Tensor>>& live,
             const c10::impl::GenericDict& stored, const std::string& path, const std::string& model) {
  for (const auto& [name, tensor] : live) {
    auto found = stored.find(name);
    if (found == stored.end()) {
      throw Error(
          fmt::format("checkpoint '{}' does not fit model '{}': {} '{}' (shape {}) is missing from the "
                      "checkpoint",
                      path, model, what, name, shape_of(tensor)));
    }
    if (!found->value().isTensor()) {
      throw Error(fmt::format("checkpoint '{}': {} '{}' is not a tensor", path, what, name));
    }
    const at::Tensor value = found->value().toTensor();
    if (value.sizes() != tensor.sizes()) {
      throw Error(
          fmt::format("checkpoint '{}' does not fit model '{}': {} '{}' has shape {} in the checkpoint "
                      "but {} in the model",
                      path, model, what, name, shape_of(value), shape_of(tensor)));
    }
  }
  for (const auto& entry : stored) {
    const std::string name = entry.key().toStringRef();
    bool known = false;
    for (const auto& item : live) known = known || item.first == name;
    if (!known) {
      throw Error(fmt::format(
          "checkpoint '{}' does not fit model '{}': the checkpoint has {} '{}' (shape {}) "
          "that the model does not have",
          path, model, what, name, entry.value().isTensor() ? shape_of(entry.value().toTensor()) : "?"));
    }
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : live) {
    at::Tensor t = tensor;  // copy_ bumps the version counter, so cached expansions are invalidated
    t.copy_(stored.at(name).toTensor());
  }
}

c10::impl::GenericDict open_checkpoint(const std::string& path) {
  at::IValue value = unpickle(path, "checkpoint");
  if (!value.isGenericDict()) throw Error(fmt::format("'{}' is not an eqnn checkpoint (not a dict)", path));
  auto dict = value.toGenericDict();
  auto format = dict.find("format");
  if (format == dict.end() || !format->value().isString() || format->value().toStringRef() != kFormat) {
    throw Error(fmt::format("'{}' is not an eqnn checkpoint (no 'format: {}' entry)", path, kFormat));
  }
  for (const char* key : {"parameters", "buffers", "model"}) {
    if (dict.find(key) == dict.end())
      throw Error(fmt::format("checkpoint '{}' has no '{}' entry", path, key));
  }
  return dict;
}

std::vector<std::pair<std::string, at::Tensor>> items(const torch::OrderedDict<std::string, at::Tensor>& d) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : d) out.emplace_back(item.key(), item.value());
  return out;
}

}  // namespace

void write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
  write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
}

void save_checkpoint(Model& model, const Registry& registry, const std::string& path,
                     const CheckpointInfo& info) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", kFormat);
  dict.insert("format_version", kFormatVersion);
  dict.insert("eqnn_version", version());
  dict.insert("model", model.source());
  dict.insert("model_name", model.name());
  c10::Dict<std::string, std::string> plugins;
  for (const auto& plugin : registry.plugins()) plugins.insert(plugin.name, plugin.version);
  dict.insert("plugins", plugins);
  dict.insert("parameters", tensor_dict(items(model.named_parameters())));
  dict.insert("buffers", tensor_dict(items(model.named_buffers())));
  dict.insert("step", info.step);
  dict.insert("task", info.task);
  c10::Dict<std::string, double> metrics;
  for (const auto& [k, v] : info.metrics) metrics.insert(k, v);
  dict.insert("metrics", metrics);
  write_file_atomically(path, pickle_save(dict));
}

CheckpointInfo load_checkpoint(Model& model, const std::string& path) {
  auto dict = open_checkpoint(path);
  const auto params = dict.at("parameters");
  const auto buffers = dict.at("buffers");
  if (!params.isGenericDict() || !buffers.isGenericDict()) {
    throw Error(fmt::format("checkpoint '{}': 'parameters' and 'buffers' must be dicts of tensors", path));
  }
  restore("parameter", items(model.named_parameters()), params.toGenericDict(), path, model.name());
  restore("buffer", items(model.named_buffers()), buffers.toGenericDict(), path, model.name());
  CheckpointInfo info;
  if (auto it = dict.find("step"); it != dict.end() && it->value().isInt()) info.step = it->value().toInt();
  if (auto it = dict.find("task"); it != dict.end() && it->value().isString())
    info.task = it->value().toStringRef();
  if (auto it = dict.find("metrics"); it != dict.end() && it->value().isGenericDict()) {
    for (const auto& m : it->value().toGenericDict()) {
      if (m.value().isDouble()) info.metrics[m.key().toStringRef()] = m.value().toDouble();
    }
  }
  return info;
}

std::string checkpoint_source(const std::string& path) {
  auto dict = open_checkpoint(path);
  const auto model = dict.at("model");
  if (!model.isString()) throw Error(fmt::format("checkpoint '{}': 'model' is not a string", path));
  return model.toStringRef();
}

at::Tensor load_tensor_file(const std::string& path) {
  at::IValue value = unpickle(path, "tensor file");
  if (!value.isTensor()) {
    throw Error(fmt::format("'{}' holds a {}, expected a tensor (write it with torch.save(tensor, path))",
                            path, value.tagKind()));
  }
  return value.toTensor();
}

void save_tensor_file(const at::Tensor& tensor, const std::string& path) {
  write_file_atomically(path, pickle_save(tensor.detach().contiguous()));
}

void export_weights(Model& model, const std::string& path) {
  torch::NoGradGuard no_grad;
  for (const auto& info : model.layer_infos()) {
    if (dynamic_cast<const BlockLayer*>(info.layer.get()) != nullptr) continue;
    if (!info.layer->parameters().empty() && info.layer->effective_parameters().empty()) {
      throw Error(
          fmt::format("cannot export '{}': layer {} ({}) has parameters but no stock PyTorch equivalent; "
                      "export works for models built from eLinear, eMultiheadAttention, pointwise "
                      "activations, blocks and stock layers",
                      model.name(), info.path, info.type));
    }
  }
  write_file_atomically(path, pickle_save(tensor_dict(model.effective_parameters())));
}

}  // namespace eqnn
