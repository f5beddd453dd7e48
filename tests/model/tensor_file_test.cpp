// Tensor and pickle files (tensor_file.hpp) and the bounded reader behind every loader: round trips,
// and tensors that LibTorch's own reader would take (dtypes eqnn does not compute with, strides reaching
// past the storage) refused by every loader, naming the tensor, before anything is copied.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "command.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/util/error.hpp"
#include "refused_checkpoint.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

// A checkpoint whose parameter is a sub-byte UInt5 tensor (found by the tensor_file fuzzer): refused with the
// tensor's place and dtype when read, before anything is copied (LibTorch threw NotImplementedError from a
// copy deep inside the load).
TEST(Checkpoint, TensorsOfDtypesEqnnDoesNotComputeWithAreRefusedByName) {
  const std::string file = source_path("tests/fuzz/regressions/tensor_file/uint5_tensor");
  EXPECT_HAS(refused_checkpoint(file),
             "UInt5 tensor; eqnn reads dense float, integer, bool and complex tensors");
  EXPECT_HAS(error_text<Error>([&] { load_tensor_file(file); }), "UInt5");
}

// A zip record whose listed size is larger than the file (the tensor_file fuzzer: 'version' claimed 4 GiB,
// which LibTorch's reader allocated and cleared before failing) is refused before the reader sees it.
TEST(Checkpoint, RecordsLargerThanTheFileAreRefusedBeforeReading) {
  const std::string file = source_path("tests/fuzz/regressions/tensor_file/huge_record_size");
  const std::string expected =
      "is not readable (truncated or corrupt?): its record 'negative_offset/version' claims 4294967295 "
      "bytes, "
      "more than the whole file (1633 bytes)";
  EXPECT_HAS(error_text<Error>([&] { load_tensor_file(file); }), expected);
  EXPECT_HAS(error_text<Error>([&] { load_dataset(file); }), expected);
  EXPECT_HAS(refused_checkpoint(file), expected);
}

// A storage whose pickle declares more elements than its record holds (the tensor_file fuzzer: a 4-byte
// record under a 16-element storage; LibTorch's unpickler sized the storage by the declaration, and loading
// the checkpoint read past the record in eLinear's expansion): each storage is its record's size, so the
// tensor is refused as reaching past its storage. Python's torch.load refuses the file too.
TEST(Checkpoint, StoragesLargerThanTheirRecordAreRefused) {
  const std::string file = source_path("tests/fuzz/regressions/tensor_file/record_smaller_than_storage");
  const std::string text = refused_checkpoint(file);
  EXPECT_HAS(text, "is corrupt: the tensor at ");
  EXPECT_HAS(text, "of a storage of 1 elements");
}

// A tensor whose sizes and strides reach past its storage (shape [3, 4], strides [4, 245] over 12 floats, a
// tensor_file fuzzer finding): LibTorch's unpickler accepts it and its first copy read far out of bounds
// (a SEGV or other memory). Every loader refuses it naming the tensor, as it does a negative offset and a
// stride whose extent overflows (fixtures written by Python's torch.save through _rebuild_tensor_v2 with
// those arguments; Python's torch.load refuses both too). A view inside its storage still loads.
TEST(Checkpoint, TensorsReachingPastTheirStorageAreRefused) {
  const std::string file = source_path("tests/fuzz/regressions/tensor_file/strides_past_storage");
  const std::string expected =
      "the tensor at the top level (shape [3, 4], strides [4, 245], offset 0) reaches "
      "element 743 of a storage of 12 elements";
  EXPECT_HAS(error_text<Error>([&] { load_inputs(file); }), expected);
  EXPECT_HAS(error_text<Error>([&] { load_dataset(file); }), expected);
  EXPECT_HAS(error_text<Error>([&] { load_tensor_file(file); }), expected);
  EXPECT_HAS(refused_checkpoint(file), "is corrupt: " + expected);
  EXPECT_HAS(
      error_text<Error>(
          [&] { load_tensor_file(source_path("tests/model/fixtures/tensor_negative_offset.pt")); }),
      "(shape [3], strides [1], offset -2) has a negative or overflowing extent, outside of a storage of 12 "
      "elements");
  EXPECT_HAS(
      error_text<Error>(
          [&] { load_tensor_file(source_path("tests/model/fixtures/tensor_overflowing_stride.pt")); }),
      "(shape [3, 4], strides [4, 4611686018427387904], offset 0) has a negative or overflowing extent");

  // Python's torch.save of arange(12.)[2:10].view(2, 4)[:, :3]: offset 2, strides [4, 1] over 12 floats.
  const at::IValue view =
      load_pickle_file(source_path("tests/model/fixtures/tensor_view_inside.pt"), "tensor file");
  ASSERT_TRUE(view.isTensor());
  const at::Tensor t = view.toTensor();
  EXPECT_EQ(t.storage_offset(), 2);
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{4, 1}));
  EXPECT_TRUE(at::equal(t, at::tensor({2.f, 3.f, 4.f, 6.f, 7.f, 8.f}).view({2, 3})));
}

TEST(Checkpoint, TensorFilesRoundTrip) {
  TempDir dir;
  at::Tensor t = at::randn({2, 3, 4}, at::kDouble);
  save_tensor_file(t, dir.file("t.pt"));
  EXPECT_TRUE(at::equal(load_tensor_file(dir.file("t.pt")), t));
  auto model = load_model(registry(), example("d4_mlp"));
  export_weights(*model, dir.file("w.pt"));
  const std::string msg = error_text<Error>([&] { load_tensor_file(dir.file("w.pt")); });
  EXPECT_NE(msg.find("holds a GenericDict, expected a tensor"), std::string::npos) << msg;
}

}  // namespace
}  // namespace eqnn::testing
