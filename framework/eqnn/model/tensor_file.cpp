// Tensor and pickle files as torch.save / torch.load use them: read through the bounded pickle reader,
// written as plain pickles in the zip format, atomically (atomic_file.hpp).
#include "eqnn/model/tensor_file.hpp"

#include <string_view>
#include <vector>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "eqnn/model/internal/pickle_reader.hpp"
#include "eqnn/util/atomic_file.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

// torch.save's zip format without type tags on dicts and lists: jit::pickle_save tags them with
// torch.jit._pickle.restore_type_tag, which Python's torch.load refuses under its default
// weights_only=True (PyTorch >= 2.6). Plain dicts, lists, strings, numbers and tensors load everywhere.
std::vector<char> pickle_save(const at::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* buf, size_t size) { pickled.insert(pickled.end(), buf, buf + size); },
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

void write_pickle_file(const at::IValue& value, const std::string& path) {
  const std::vector<char> bytes = pickle_save(value);
  write_file_atomically(path, std::string_view(bytes.data(), bytes.size()));
}

}  // namespace

at::Tensor load_tensor_file(const std::string& path) {
  at::IValue value = detail::read_pickle_file(path, "tensor file");
  if (!value.isTensor()) {
    throw Error(fmt::format("'{}' holds a {}, expected a tensor (write it with torch.save(tensor, path))",
                            path, value.tagKind()));
  }
  return value.toTensor();
}

void save_tensor_file(const at::Tensor& tensor, const std::string& path) {
  write_pickle_file(tensor.detach().contiguous(), path);
}

at::IValue load_pickle_file(const std::string& path, const std::string& what) {
  return detail::read_pickle_file(path, what);
}

void save_pickle_file(const at::IValue& value, const std::string& path) { write_pickle_file(value, path); }

}  // namespace eqnn
