// Data set files (tensor_data.hpp): what Python's torch.save writes is read, what save_dataset writes
// Python reads, and every bad file is an error whose message is checked.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "command.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

TEST(TensorData, ReadsWhatPythonWrites) {
  TempDir dir;
  auto r = run_python(
      "import sys, torch\n"
      "x = torch.arange(24.).reshape(6, 4)\n"
      "torch.save({\"x\": x, \"y\": x[:, 1:3]}, sys.argv[1] + \"/view.pt\")\n"  // a strided view
      "torch.save({\"x\": x.double(), \"y\": torch.arange(6, dtype=torch.int32) % 3}, sys.argv[1] + "
      "\"/labels.pt\")\n"
      "torch.save({\"x\": x.reshape(2, 3, 4), \"y\": x.reshape(2, 3, 4) * 2}, sys.argv[1] + \"/seq.pt\")\n"
      "torch.save(x, sys.argv[1] + \"/bare.pt\")\n",
      dir.path());
  ASSERT_EQ(r.status, 0) << r.output;
  const at::Tensor x = at::arange(24.0, at::kFloat).reshape({6, 4});
  auto view = load_dataset(dir.file("view.pt"));
  EXPECT_TRUE(at::equal(view.x, x));
  EXPECT_TRUE(at::equal(view.y, x.slice(1, 1, 3)));
  EXPECT_FALSE(view.has_labels());
  auto labels = load_dataset(dir.file("labels.pt"));
  EXPECT_EQ(labels.x.scalar_type(), at::kDouble);
  EXPECT_EQ(labels.y.scalar_type(), at::kLong);  // int32 labels become int64
  EXPECT_TRUE(at::equal(labels.y, at::arange(6, at::kLong) % 3));
  EXPECT_TRUE(labels.has_labels());
  auto seq = load_dataset(dir.file("seq.pt"));
  EXPECT_EQ(seq.x.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(at::equal(seq.y, x.reshape({2, 3, 4}) * 2));
  // eqnn run's input: a bare tensor or a data set's x.
  EXPECT_TRUE(at::equal(load_inputs(dir.file("bare.pt")).x, x));
  EXPECT_FALSE(load_inputs(dir.file("bare.pt")).y.defined());
  EXPECT_TRUE(at::equal(load_inputs(dir.file("view.pt")).x, x));
}

TEST(TensorData, PythonReadsWhatSaveDatasetWrites) {
  TempDir dir;
  save_dataset(TensorDataset{at::arange(8.0, at::kFloat).reshape({2, 4}), at::tensor({1, 0}, at::kLong)},
               dir.file("d.pt"));
  auto r = run_python(
      "import sys, torch\n"
      "d = torch.load(sys.argv[1])\n"  // weights_only=True, the default
      "print(sorted(d), d[\"x\"].sum().item(), d[\"y\"].tolist(), d[\"y\"].dtype)\n",
      dir.file("d.pt"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "['x', 'y'] 28.0 [1, 0] torch.int64")) << r.output;
  auto back = load_dataset(dir.file("d.pt"));
  EXPECT_TRUE(at::equal(back.y, at::tensor({1, 0}, at::kLong)));
}

TEST(TensorData, EveryBadFileIsAClearError) {
  TempDir dir;
  auto r = run_python(
      "import sys, torch\n"
      "d = sys.argv[1] + \"/\"\n"
      "x = torch.randn(5, 4)\n"
      "torch.save(x, d + \"bare.pt\")\n"
      "torch.save([x, x], d + \"list.pt\")\n"
      "torch.save({\"inputs\": x, \"targets\": x}, d + \"keys.pt\")\n"
      "torch.save({\"x\": x}, d + \"no_y.pt\")\n"
      "torch.save({\"x\": x, \"y\": x, \"w\": x}, d + \"extra.pt\")\n"
      "torch.save({\"x\": x, \"y\": [1, 2]}, d + \"list_y.pt\")\n"
      "torch.save({\"x\": x.long(), \"y\": x}, d + \"int_x.pt\")\n"
      "torch.save({\"x\": torch.randn(5), \"y\": x}, d + \"flat_x.pt\")\n"
      "torch.save({\"x\": torch.randn(0, 4), \"y\": torch.randn(0, 4)}, d + \"empty.pt\")\n"
      "torch.save({\"x\": x, \"y\": torch.randn(4, 4)}, d + \"short_y.pt\")\n"
      "n = x.clone(); n[3, 2] = float(\"nan\"); n[4, 0] = float(\"nan\")\n"
      "torch.save({\"x\": n, \"y\": x}, d + \"nan_x.pt\")\n"
      "i = x.clone(); i[1, 3] = -float(\"inf\")\n"
      "torch.save({\"x\": x, \"y\": i}, d + \"inf_y.pt\")\n"
      "torch.save({\"x\": x, \"y\": x > 0}, d + \"bool_y.pt\")\n"
      "torch.save({\"x\": x, \"y\": x}, d + \"legacy.pt\", _use_new_zipfile_serialization=False)\n"
      "import numpy\n"
      "torch.save({\"x\": x, \"y\": numpy.zeros((5, 4))}, d + \"numpy.pt\")\n"
      "torch.save({\"x\": x, \"y\": x}, d + \"whole.pt\")\n"
      "open(d + \"truncated.pt\", \"wb\").write(open(d + \"whole.pt\", \"rb\").read()[:300])\n",
      dir.path());
  ASSERT_EQ(r.status, 0) << r.output;
  write_text(dir.file("corrupt.pt"), "not a pickle at all");
  auto err = [&](const std::string& name) {
    return error_text<Error>([&] { load_dataset(dir.file(name)); });
  };
  const std::string p = dir.file("");
  EXPECT_TRUE(
      contains(err("bare.pt"), "data set '" + p + "bare.pt' holds a Tensor; expected a dict {\"x\": "))
      << err("bare.pt");
  EXPECT_TRUE(contains(err("list.pt"), "holds a GenericList; expected a dict")) << err("list.pt");
  EXPECT_TRUE(contains(err("keys.pt"),
                       "has an entry 'inputs' (its keys: 'inputs', 'targets'); only 'x' and 'y' "
                       "are read"))
      << err("keys.pt");
  EXPECT_TRUE(contains(err("no_y.pt"), "has no 'y' entry (its keys: 'x')")) << err("no_y.pt");
  EXPECT_TRUE(contains(err("extra.pt"), "has an entry 'w' (its keys: 'x', 'y', 'w')")) << err("extra.pt");
  EXPECT_TRUE(contains(err("list_y.pt"), "'y' is a GenericList, expected a tensor")) << err("list_y.pt");
  EXPECT_TRUE(contains(err("int_x.pt"), "x is Long (shape [5, 4]); inputs must be floating point"))
      << err("int_x.pt");
  EXPECT_TRUE(contains(err("flat_x.pt"),
                       "x has shape [5]; expected (N, D_in) or (N, T, D_in) (one feature per "
                       "sample: x.unsqueeze(1))"))
      << err("flat_x.pt");
  EXPECT_TRUE(contains(err("empty.pt"), "is empty: x has shape [0, 4] (no samples)")) << err("empty.pt");
  EXPECT_TRUE(contains(err("short_y.pt"), "x has 5 samples (shape [5, 4]) but y has 4 (shape [4, 4])"))
      << err("short_y.pt");
  EXPECT_TRUE(contains(err("nan_x.pt"), "x has NaN at index [3, 2] (2 non-finite values in all)"))
      << err("nan_x.pt");
  EXPECT_TRUE(contains(err("inf_y.pt"), "y has -Inf at index [1, 3] (1 non-finite value in all)"))
      << err("inf_y.pt");
  EXPECT_TRUE(contains(err("bool_y.pt"), "y is Bool (shape [5, 4]); targets must be floating point"))
      << err("bool_y.pt");
  EXPECT_TRUE(
      contains(err("corrupt.pt"), "data set '" + p + "corrupt.pt' is not a zip archive as torch.save writes"))
      << err("corrupt.pt");
  EXPECT_TRUE(contains(err("legacy.pt"),
                       "is not a zip archive as torch.save writes (the legacy format of "
                       "torch.save(..., _use_new_zipfile_serialization=False), or plain pickle?); "
                       "save it again with torch.save's default format"))
      << err("legacy.pt");
  EXPECT_TRUE(contains(err("numpy.pt"), "(numpy arrays are not read: torch.from_numpy(a) before torch.save)"))
      << err("numpy.pt");
  EXPECT_TRUE(contains(err("truncated.pt"),
                       "data set '" + p + "truncated.pt' is not readable (truncated or corrupt?)"))
      << err("truncated.pt");
  EXPECT_TRUE(contains(err("missing.pt"), "cannot open data set '" + p + "missing.pt'")) << err("missing.pt");
  // eqnn run's input: a list is neither a tensor nor a data set.
  const std::string list = error_text<Error>([&] { load_inputs(dir.file("list.pt")); });
  EXPECT_TRUE(contains(list, "holds a GenericList; expected a tensor (torch.save(x, path)) or a data set"))
      << list;
}

}  // namespace
}  // namespace eqnn::testing
