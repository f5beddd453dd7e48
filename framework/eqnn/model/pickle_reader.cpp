// The bounded pickle reader (internal/pickle_reader.hpp): LibTorch's zip and pickle readers behind checks
// that keep a truncated or corrupt file from reading out of bounds, allocating gigabytes or crashing.
#include "eqnn/model/internal/pickle_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/jit/serialization/import_read.h>
#include <torch/csrc/jit/serialization/storage_context.h>

#include "eqnn/util/error.hpp"

namespace eqnn::detail {
namespace {

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

// Checks the size of every record the zip central directory lists against the file before LibTorch's
// reader sees it: miniz hands getRecord the claimed uncompressed size, which LibTorch allocates and clears
// before reading, so a corrupt size of gigabytes cost seconds and gigabytes before the error (found by the
// tensor_file fuzzer; PyTorchStreamReader's constructor already reads one record). torch.save stores records
// uncompressed, so none can be larger than the file. A central directory this walk cannot find or read is
// left to the reader, which reports the file as corrupt.
void check_record_sizes(const std::vector<char>& bytes, const std::string& what, const std::string& path) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const uint64_t n = bytes.size();
  auto le = [&](uint64_t at, int width) {
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | p[at + i];
    return v;
  };
  // End of central directory: 22 bytes plus a comment of up to 65535 at the end of the file.
  if (n < 22) return;
  uint64_t eocd = n - 22;
  const uint64_t lowest = n > 22 + 65535 ? n - 22 - 65535 : 0;
  while (le(eocd, 4) != 0x06054b50) {
    if (eocd == lowest) return;
    --eocd;
  }
  uint64_t cd_size = le(eocd + 12, 4), cd_offset = le(eocd + 16, 4);
  // ZIP64 (torch.save writes it): the locator just before the record points at the 64-bit one.
  if (eocd >= 20 && le(eocd - 20, 4) == 0x07064b50) {
    const uint64_t z = le(eocd - 20 + 8, 8);
    if (z > n || n - z < 56 || le(z, 4) != 0x06064b50) return;
    cd_size = le(z + 40, 8);
    cd_offset = le(z + 48, 8);
  }
  if (cd_offset > n || cd_size > n - cd_offset) return;
  const uint64_t end = cd_offset + cd_size;
  for (uint64_t at = cd_offset; end - at >= 46 && le(at, 4) == 0x02014b50;) {
    uint64_t compressed = le(at + 20, 4), size = le(at + 24, 4);
    const uint64_t name_length = le(at + 28, 2), extra_length = le(at + 30, 2),
                   comment_length = le(at + 32, 2);
    if (n - at - 46 < name_length + extra_length) return;
    const std::string name(reinterpret_cast<const char*>(p + at + 46), name_length);
    // ZIP64 extra field (id 1): the 64-bit sizes, each present only where the 32-bit one is 0xFFFFFFFF.
    for (uint64_t x = at + 46 + name_length, x_end = x + extra_length; x_end - x >= 4;) {
      const uint64_t id = le(x, 2), length = le(x + 2, 2);
      if (x_end - x - 4 < length) break;
      if (id == 1) {
        uint64_t field = x + 4;
        const uint64_t field_end = field + length;
        if (size == 0xFFFFFFFFu && field_end - field >= 8) size = le(field, 8), field += 8;
        if (compressed == 0xFFFFFFFFu && field_end - field >= 8) compressed = le(field, 8);
      }
      x += 4 + length;
    }
    if (size > n || compressed > n)
      throw Error(
          fmt::format("{} '{}' is not readable (truncated or corrupt?): its record '{}' claims {} bytes, "
                      "more than the whole file ({} bytes)",
                      what, path, name, std::max(size, compressed), n));
    at += 46 + name_length + extra_length + comment_length;
    if (at > end) return;
  }
}

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

}  // namespace

at::IValue read_pickle_file(const std::string& path, const std::string& what) {
  auto bytes = read_bytes(path, what);
  check_record_sizes(bytes, what, path);
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReader>(std::move(bytes)));
    if (reader.hasRecord("data.pkl")) {
      const auto [pickle, pickle_size] = reader.getRecord("data.pkl");
      check_pickle_lengths(static_cast<const char*>(pickle.get()), pickle_size, what, path);
    }
    // Every storage is its record, of the record's own size. LibTorch's unpickler otherwise sizes a storage
    // by the element count the pickle declares, over a record that may hold fewer bytes: a tensor inside that
    // declared size read past the record (found by the tensor_file fuzzer: a heap overflow in eLinear's
    // expansion of a checkpoint's coefficients). With the records' sizes, check_storage_bounds below
    // refuses such a tensor.
    auto storages = std::make_shared<torch::jit::DeserializationStorageContext>();
    for (const std::string& name : reader.getAllRecords()) {
      const std::string prefix = "data/";
      if (name.rfind(prefix, 0) != 0 || name.find('/', prefix.size()) != std::string::npos) continue;
      auto [data, size] = reader.getRecord(name);
      storages->addStorage(name.substr(prefix.size()), c10::Storage(c10::Storage::use_byte_size_t(), size,
                                                                    std::move(data), nullptr, false));
    }
    at::IValue value = torch::jit::readArchiveAndTensors(
        "data", /*pickle_prefix=*/"", /*tensor_prefix=*/"", /*type_resolver=*/std::nullopt,
        /*obj_loader=*/std::nullopt, /*device=*/std::nullopt, reader,
        torch::jit::Unpickler::defaultTypeParser, storages);
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

}  // namespace eqnn::detail
