// Checkpoints, exported weights and tensor files, all as pickled IValues in the zip format that Python's
// torch.load / torch.save use; every file is written through write_file_atomically (atomic_file.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include "eqnn/util/atomic_file.hpp"
#include "eqnn/nn/basis_fingerprint.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/registry/version.hpp"

namespace eqnn {
namespace {

constexpr const char* kFormat = "eqnn-checkpoint";
// 2: records the basis fingerprint and the effective tensor of every constrained parameter (loading
//    re-projects or refuses when the bases differ). 1: coefficients only; refused (see open_checkpoint).
constexpr int64_t kFormatVersion = 2;

std::string shape_of(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

std::vector<char> read_bytes(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(fmt::format("cannot open {} '{}': {}", what, path, std::strerror(errno)));
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.empty()) throw Error(fmt::format("{} '{}' is empty", what, path));
  return bytes;
}

// The bytes of a file for LibTorch's zip reader. LibTorch's own in-memory reader (behind
// torch::jit::pickle_load) copies as many bytes as miniz asks for, so a truncated file made it read past the
// end of the buffer (AddressSanitizer: heap overflow in VectorReader::read); this one never reads beyond
// the end, and the reader then reports the file as corrupt.
class BoundedReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(std::vector<char> bytes) : bytes_(std::move(bytes)) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  std::vector<char> bytes_;
};

// Walks the pickle program and checks that no length-prefixed argument (bytes, strings, long integers)
// claims more bytes than follow it: LibTorch's Unpickler allocates and clears the claimed length before it
// reads, so a corrupt length of gigabytes cost seconds and gigabytes before the error, and grows its memo
// table to any index it is given (both found by the tensor_file fuzzer). Stops quietly at an opcode it
// does not know; the Unpickler then reports that one.
void check_pickle_lengths(const char* data, size_t size, const std::string& what, const std::string& path) {
  const auto* p = reinterpret_cast<const unsigned char*>(data);
  size_t pos = 0;
  auto little_endian = [&](size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[at + i];
    return v;
  };
  while (pos < size) {
    const unsigned char op = p[pos++];
    int fixed = -1;     // bytes of a fixed-size argument
    int length_of = 0;  // bytes of a length prefix
    switch (op) {
      case '.':
        return;  // STOP
      case 'K':
      case 'h':
      case 'q':
      case 0x80:
      case 0x82:
        fixed = 1;
        break;
      case 'M':
      case 0x83:
        fixed = 2;
        break;
      case 'J':
      case 'j':
      case 'r':
      case 0x84:
        fixed = 4;
        break;
      case 'G':
      case 0x95:
        fixed = 8;
        break;
      case 'C':
      case 'U':
      case 0x8c:
      case 0x8a:
        length_of = 1;
        break;
      case 'B':
      case 'T':
      case 'X':
      case 0x8b:
        length_of = 4;
        break;
      case 0x8d:
      case 0x8e:
      case 0x96:
        length_of = 8;
        break;
      case 'c':
      case 'I':
      case 'L':
      case 'S':
      case 'V':
      case 'F':
      case 'g':
      case 'p':
      case 'P':
      case 0x93: {
        // Newline-terminated arguments (GLOBAL has two lines; STACK_GLOBAL 0x93 has none).
        if (op == 0x93) break;
        for (int lines = op == 'c' ? 2 : 1; lines > 0; --lines) {
          const void* nl = std::memchr(p + pos, '\n', size - pos);
          if (nl == nullptr) return;
          pos = static_cast<const unsigned char*>(nl) - p + 1;
        }
        break;
      }
      case '(':
      case ')':
      case ']':
      case '}':
      case 'N':
      case 0x88:
      case 0x89:
      case 'R':
      case 'b':
      case 'a':
      case 'e':
      case 's':
      case 'u':
      case 't':
      case 'l':
      case 'd':
      case '0':
      case '1':
      case '2':
      case 'Q':
      case 0x81:
      case 0x85:
      case 0x86:
      case 0x87:
      case 0x91:
      case 0x92:
      case 0x94:
      case 0x97:
      case 0x98:
        break;
      default:
        return;
    }
    if (fixed >= 0) {
      if (size - pos < static_cast<size_t>(fixed)) return;
      // BINPUT/LONG_BINPUT: the Unpickler grows its memo table to the index, so a corrupt index of 10⁹
      // allocated gigabytes. A valid pickle numbers its memo entries 0, 1, 2, ...: never beyond its size.
      if ((op == 'q' || op == 'r') && little_endian(pos, fixed) > size) {
        throw Error(
            fmt::format("{} '{}' is not readable (truncated or corrupt?): its pickle stores memo entry {} "
                        "(offset {}), more than a {}-byte pickle can hold",
                        what, path, little_endian(pos, fixed), pos, size));
      }
      pos += static_cast<size_t>(fixed);
    } else if (length_of > 0) {
      if (size - pos < static_cast<size_t>(length_of)) return;
      const uint64_t length = little_endian(pos, length_of);
      pos += static_cast<size_t>(length_of);
      if (length > size - pos) {
        throw Error(
            fmt::format("{} '{}' is not readable (truncated or corrupt?): its pickle claims {} bytes at "
                        "offset {}, but only {} follow",
                        what, path, length, pos, size - pos));
      }
      pos += static_cast<size_t>(length);
    }
  }
}

// The last element a strided tensor reads must lie inside its storage. LibTorch's unpickler takes the
// sizes, strides and offset from the file as they are: a tensor of shape [3, 4] with strides [4, 245] over
// 12 floats read far past the storage on its first copy (found by the tensor_file fuzzer: a SEGV in
// LibTorch's copy kernel, or silently other memory).
void check_storage_bounds(const at::Tensor& t, const std::string& where, const std::string& what,
                          const std::string& path) {
  bool empty = false, bad = t.storage_offset() < 0;
  int64_t last = t.storage_offset();
  for (int64_t i = 0; i < t.dim(); ++i) {
    const int64_t size = t.size(i), stride = t.stride(i);
    bad = bad || size < 0 || stride < 0;
    if (size == 0) empty = true;
    int64_t step = 0;
    bad = bad || __builtin_mul_overflow(size - 1, stride, &step) || __builtin_add_overflow(last, step, &last);
  }
  if (empty && !bad) return;  // reads nothing
  const int64_t item = static_cast<int64_t>(t.element_size());
  const int64_t available = t.has_storage() ? static_cast<int64_t>(t.storage().nbytes()) / item : 0;
  if (!bad && last < available) return;
  throw Error(
      fmt::format("{} '{}' is corrupt: the tensor at {} (shape [{}], strides [{}], offset {}) {} of a "
                  "storage of {} elements",
                  what, path, where.empty() ? "the top level" : where, fmt::join(t.sizes(), ", "),
                  fmt::join(t.strides(), ", "), t.storage_offset(),
                  bad ? std::string("has a negative or overflowing extent, outside")
                      : fmt::format("reaches element {}", last),
                  available));
}

// Every tensor in a loaded file must be a dense tensor of a dtype eqnn computes with (or refuses with its
// own message: complex, bool), inside its storage. Others — the sub-byte UInt1..7/Int1..7, float8,
// quantized, sparse — made LibTorch throw NotImplementedError deep inside a later copy (found by the
// tensor_file fuzzer).
void check_tensors(const at::IValue& value, const std::string& where, const std::string& what,
                   const std::string& path) {
  if (value.isTensor()) {
    const at::Tensor& t = value.toTensor();
    const at::ScalarType dtype = t.scalar_type();
    const bool known = at::isFloatingType(dtype) || at::isComplexType(dtype) || dtype == at::kBool ||
                       dtype == at::kByte || dtype == at::kChar || dtype == at::kShort || dtype == at::kInt ||
                       dtype == at::kLong;
    const bool float8 = dtype == at::kFloat8_e5m2 || dtype == at::kFloat8_e4m3fn ||
                        dtype == at::kFloat8_e5m2fnuz || dtype == at::kFloat8_e4m3fnuz;
    if (!known || float8 || t.layout() != at::kStrided || t.is_quantized()) {
      throw Error(fmt::format(
          "{} '{}': the tensor at {} is a {} {} tensor; eqnn reads dense float, integer, bool "
          "and complex tensors",
          what, path, where.empty() ? "the top level" : where, c10::str(t.layout()), c10::toString(dtype)));
    }
    check_storage_bounds(t, where, what, path);
  } else if (value.isGenericDict()) {
    for (const auto& entry : value.toGenericDict()) {
      const std::string key = entry.key().isString() ? entry.key().toStringRef() : "?";
      check_tensors(entry.value(), where.empty() ? "'" + key + "'" : where + "['" + key + "']", what, path);
    }
  } else if (value.isList()) {
    const auto list = value.toListRef();
    for (size_t i = 0; i < list.size(); ++i)
      check_tensors(list[i], fmt::format("{}[{}]", where, i), what, path);
  } else if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    for (size_t i = 0; i < elements.size(); ++i)
      check_tensors(elements[i], fmt::format("{}[{}]", where, i), what, path);
  }
}

at::IValue unpickle(const std::string& path, const std::string& what) {
  auto bytes = read_bytes(path, what);
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(std::move(bytes)));
    if (reader.hasRecord("data.pkl")) {
      const auto [pickle, pickle_size] = reader.getRecord("data.pkl");
      check_pickle_lengths(static_cast<const char*>(pickle.get()), pickle_size, what, path);
    }
    at::IValue value =
        torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                          /*type_resolver=*/std::nullopt,
                                          /*obj_loader=*/std::nullopt, /*device=*/std::nullopt, reader);
    check_tensors(value, "", what, path);
    return value;
  } catch (const Error&) {
    throw;
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

c10::Dict<std::string, at::Tensor> tensor_dict(const std::vector<std::pair<std::string, at::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : items)
    dict.insert(name, t.detach().cpu().contiguous());  // loadable without a GPU
  return dict;
}

// Checks that `stored` has exactly the tensors of `live` (same names, same shapes), naming the first
// mismatch.
void check_entries(const std::string& what, const std::vector<std::pair<std::string, at::Tensor>>& live,
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
}

// Copies `stored` into `live` (checked by check_entries).
void restore(const std::string& what, const std::vector<std::pair<std::string, at::Tensor>>& live,
             const c10::impl::GenericDict& stored, const std::string& path, const std::string& model) {
  check_entries(what, live, stored, path, model);
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : live) {
    at::Tensor t = tensor;  // copy_ bumps the version counter, so cached expansions are invalidated
    t.copy_(stored.at(name).toTensor());
  }
}

// Opens and checks the header; `current` also requires this eqnn's format version (loading weights),
// while reading the stored model text works for every version.
c10::impl::GenericDict open_checkpoint(const std::string& path, bool current = true) {
  at::IValue value = unpickle(path, "checkpoint");
  if (!value.isGenericDict()) throw Error(fmt::format("'{}' is not an eqnn checkpoint (not a dict)", path));
  auto dict = value.toGenericDict();
  auto format = dict.find("format");
  if (format == dict.end() || !format->value().isString() || format->value().toStringRef() != kFormat) {
    throw Error(fmt::format("'{}' is not an eqnn checkpoint (no 'format: {}' entry)", path, kFormat));
  }
  auto version = dict.find("format_version");
  if (version == dict.end() || !version->value().isInt()) {
    throw Error(
        fmt::format("checkpoint '{}' has no integer 'format_version' entry (truncated or not written by "
                    "eqnn?); this eqnn reads format version {}",
                    path, kFormatVersion));
  }
  const int64_t v = version->value().toInt();
  if (current && v < kFormatVersion) {
    throw Error(fmt::format(
        "checkpoint '{}' has format version {}, which this eqnn does not load: format version 1 stored "
        "constraint coefficients without the bases they are coordinates in, so loading them could silently "
        "change the model's function (another eqnn build or model file may derive other bases). This eqnn "
        "reads format version {}, which records the bases and the effective weights; re-create the "
        "checkpoint with this eqnn (eqnn train MODEL --out CKPT), or keep using the eqnn that wrote it",
        path, v, kFormatVersion));
  }
  if (v > kFormatVersion) {
    throw Error(
        fmt::format("checkpoint '{}' has format version {}, newer than this eqnn reads ({}); load it "
                    "with a newer eqnn",
                    path, v, kFormatVersion));
  }
  std::vector<const char*> required = {"parameters", "buffers", "model"};
  if (current) {
    required.push_back("bases");
    required.push_back("effective");
  }
  for (const char* key : required) {
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

// ---- format version 2: bases and effective weights of constrained parameters ----

// "layer layers.1.block.0 (eMultiheadAttention)": the deepest layer whose path prefixes the parameter.
std::string layer_of(const Model& model, const std::string& parameter) {
  const ModelLayerInfo* best = nullptr;
  for (const auto& info : model.layer_infos()) {
    if (parameter.rfind(info.path + ".", 0) == 0 && (best == nullptr || info.path.size() > best->path.size()))
      best = &info;
  }
  return best ? fmt::format("layer {} ({})", best->path, best->type) : std::string("the model");
}

// Adds, for every constrained parameter, its basis fingerprint ("bases") and its effective tensor
// expand(θ) ("effective"): what a loader needs to tell whether the coefficients mean the same weights.
void add_basis_records(c10::impl::GenericDict& dict, Model& model) {
  torch::NoGradGuard no_grad;
  c10::Dict<std::string, std::string> bases;
  c10::Dict<std::string, at::Tensor> effective;
  for (const auto& item : model.named_parameters()) {
    const ConstraintPtr c = ConstrainedParameter::constraint_of(item.value());
    if (!c) continue;
    bases.insert(item.key(), basis_fingerprint(*c));
    effective.insert(item.key(), c->expand(item.value()).detach().contiguous());
  }
  dict.insert("bases", bases);
  dict.insert("effective", effective);
}

c10::impl::GenericDict dict_entry(const c10::impl::GenericDict& dict, const std::string& key,
                                  const std::string& path) {
  const at::IValue v = dict.at(key);
  if (!v.isGenericDict()) throw Error(fmt::format("checkpoint '{}': '{}' must be a dict", path, key));
  return v.toGenericDict();
}

at::Tensor tensor_entry(const c10::impl::GenericDict& dict, const std::string& key, const std::string& what,
                        const std::string& path) {
  const at::IValue v = dict.at(key);
  if (!v.isTensor()) throw Error(fmt::format("checkpoint '{}': {} '{}' is not a tensor", path, what, key));
  return v.toTensor();
}

// The value every parameter of `model` gets from the checkpoint, all checked before anything is copied.
// A constrained parameter whose basis fingerprint matches takes the stored coefficients; otherwise its
// stored effective tensor is re-projected onto this model's basis, accepted only when the projection
// reproduces it to kReprojectionTolerance (the weight is then equivariant for this model, and the
// function is unchanged); else loading is refused naming the layer.
std::vector<std::pair<at::Tensor, at::Tensor>> plan_parameters(Model& model,
                                                               const c10::impl::GenericDict& dict,
                                                               const std::string& path,
                                                               CheckpointInfo& info) {
  torch::NoGradGuard no_grad;
  const auto stored = dict_entry(dict, "parameters", path);
  const auto bases = dict_entry(dict, "bases", path);
  const auto effective = dict_entry(dict, "effective", path);
  const std::string fits = fmt::format("checkpoint '{}' does not fit model '{}'", path, model.name());
  std::vector<std::pair<at::Tensor, at::Tensor>> plan;
  for (const auto& [name, tensor] : items(model.named_parameters())) {
    const ConstraintPtr c = ConstrainedParameter::constraint_of(tensor);
    const auto recorded = bases.find(name);
    if (stored.find(name) == stored.end()) {
      throw Error(fmt::format("{}: parameter '{}' (shape {}) is missing from the checkpoint", fits, name,
                              shape_of(tensor)));
    }
    if (!c) {
      if (recorded != bases.end()) {
        throw Error(
            fmt::format("{}: {}: '{}' holds constraint coefficients in the checkpoint ({}), but is a "
                        "plain parameter in this model",
                        fits, layer_of(model, name), name, recorded->value().toStringRef()));
      }
      const at::Tensor value = tensor_entry(stored, name, "parameter", path);
      if (value.sizes() != tensor.sizes()) {
        throw Error(fmt::format("{}: parameter '{}' has shape {} in the checkpoint but {} in the model", fits,
                                name, shape_of(value), shape_of(tensor)));
      }
      plan.emplace_back(tensor, value);
      continue;
    }
    const std::string where = fmt::format("{}: {}", fits, layer_of(model, name));
    if (recorded == bases.end() || !recorded->value().isString() || effective.find(name) == effective.end()) {
      throw Error(
          fmt::format("{}: the checkpoint has no basis record for '{}' (the model holds it as {} "
                      "coefficients)",
                      where, name, c->name()));
    }
    const std::string saved_basis = recorded->value().toStringRef();
    const at::Tensor weight = tensor_entry(effective, name, "effective tensor", path);
    if (weight.sizes() != at::IntArrayRef(c->shape())) {
      throw Error(fmt::format("{}: parameter '{}' expands to shape {} in the checkpoint but {} in the model",
                              where, name, shape_of(weight),
                              fmt::format("[{}]", fmt::join(c->shape(), ", "))));
    }
    const BasisFit fit = fit_basis(*c, saved_basis, tensor_entry(stored, name, "parameter", path), weight);
    switch (fit.kind) {
      case BasisFit::Kind::same_basis:
        plan.emplace_back(tensor, fit.coefficients);
        continue;
      case BasisFit::Kind::wrong_shape:
        throw Error(fmt::format("{}: parameter '{}' has shape {} in the checkpoint but {} in the model", fits,
                                name, shape_of(tensor_entry(stored, name, "parameter", path)),
                                shape_of(tensor)));
      case BasisFit::Kind::inconsistent:
        // A damaged file would otherwise load silently: the zip container does not check its data.
        throw Error(
            fmt::format("checkpoint '{}' is not readable (truncated or corrupt?): the stored coefficients "
                        "of '{}' do not expand to the effective weight stored next to them",
                        path, name));
      case BasisFit::Kind::not_equivariant:
        throw Error(fmt::format(
            "{}: '{}' was saved in another basis (checkpoint: {}; this model: {}), and its weight {} is not "
            "equivariant for this model: re-projecting it leaves a relative error of {:.2e}, above the {:g} "
            "loading accepts. The model's group or representations differ from the ones it was trained with; "
            "loading would change its function. Load it into the model text stored in the checkpoint",
            where, name, saved_basis, fit.live_basis, shape_of(weight), fit.residual,
            kReprojectionTolerance));
      case BasisFit::Kind::reprojected:
        break;
    }
    plan.emplace_back(tensor, fit.coefficients);
    info.reprojected.push_back(name);
  }
  const auto live = model.named_parameters();
  for (const auto& entry : stored) {
    const std::string name = entry.key().toStringRef();
    if (live.find(name) == nullptr) {
      throw Error(fmt::format("{}: the checkpoint has parameter '{}' (shape {}) that the model does not have",
                              fits, name,
                              entry.value().isTensor() ? shape_of(entry.value().toTensor()) : "?"));
    }
  }
  return plan;
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
  add_basis_records(dict, model);
  dict.insert("step", info.step);
  dict.insert("task", info.task);
  c10::Dict<std::string, double> metrics;
  for (const auto& [k, v] : info.metrics) metrics.insert(k, v);
  dict.insert("metrics", metrics);
  if (!info.training.isNone()) dict.insert("training", info.training);  // training.cpp: optimiser + step
  write_file_atomically(path, pickle_save(dict));
}

CheckpointInfo load_checkpoint(Model& model, const std::string& path) {
  auto dict = open_checkpoint(path);
  const auto buffers = dict.at("buffers");
  if (!buffers.isGenericDict()) {
    throw Error(fmt::format("checkpoint '{}': 'parameters' and 'buffers' must be dicts of tensors", path));
  }
  CheckpointInfo info;
  // Every check (parameters, then buffers) happens before the first copy: a refused load changes nothing.
  const auto parameters = plan_parameters(model, dict, path, info);
  check_entries("buffer", items(model.named_buffers()), buffers.toGenericDict(), path, model.name());
  {
    torch::NoGradGuard no_grad;
    for (const auto& [target, value] : parameters) {
      at::Tensor t = target;  // copy_ bumps the version counter, so cached expansions are invalidated
      t.copy_(value);
    }
  }
  restore("buffer", items(model.named_buffers()), buffers.toGenericDict(), path, model.name());
  if (auto it = dict.find("step"); it != dict.end() && it->value().isInt()) info.step = it->value().toInt();
  if (auto it = dict.find("task"); it != dict.end() && it->value().isString())
    info.task = it->value().toStringRef();
  if (auto it = dict.find("metrics"); it != dict.end() && it->value().isGenericDict()) {
    for (const auto& m : it->value().toGenericDict()) {
      if (m.value().isDouble()) info.metrics[m.key().toStringRef()] = m.value().toDouble();
    }
  }
  if (auto it = dict.find("training"); it != dict.end()) info.training = it->value();
  return info;
}

std::string checkpoint_source(const std::string& path) {
  auto dict = open_checkpoint(path, /*current=*/false);
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

at::IValue load_pickle_file(const std::string& path, const std::string& what) { return unpickle(path, what); }

void save_pickle_file(const at::IValue& value, const std::string& path) {
  write_file_atomically(path, pickle_save(value));
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
