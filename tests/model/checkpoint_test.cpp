// Checkpoints: save → load gives the same outputs (and invalidates eval-mode caches); loading into a
// different model names the first mismatching tensor and both shapes; truncated, corrupt and foreign
// files are errors, not crashes; writes are atomic.
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "eqnn/error.hpp"
#include "eqnn/model.hpp"
#include "model_test_util.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

std::string example(const std::string& name) { return source_path("examples/models/" + name + ".yaml"); }

ModelPtr seeded(const std::string& name, uint64_t seed) {
  torch::manual_seed(seed);
  return load_model(registry(), example(name));
}

TEST(Checkpoint, SaveLoadGivesTheSameOutputs) {
  ScratchDir dir;
  for (const std::string name : {"c8_transformer", "ico_attention", "q8_generators"}) {
    SCOPED_TRACE(name);
    auto a = seeded(name, 1), b = seeded(name, 2);
    torch::NoGradGuard no_grad;
    a->eval();
    b->eval();
    at::Tensor x = at::randn({3, 4, a->input_size()});
    const at::Tensor before = b->forward(x);  // fills b's eval-mode caches
    ASSERT_FALSE(at::allclose(a->forward(x), before));
    save_checkpoint(*a, registry(), dir.file(name + ".pt"), {12, "ring", {{"test_mse", 0.5}}});
    auto info = load_checkpoint(*b, dir.file(name + ".pt"));
    EXPECT_EQ(info.step, 12);
    EXPECT_EQ(info.task, "ring");
    EXPECT_DOUBLE_EQ(info.metrics.at("test_mse"), 0.5);
    EXPECT_TRUE(at::equal(a->forward(x), b->forward(x)));  // cache invalidated by the load
    EXPECT_EQ(checkpoint_source(dir.file(name + ".pt")), a->source());
  }
}

TEST(Checkpoint, TheStoredDescriptionRebuildsTheModel) {
  ScratchDir dir;
  auto a = seeded("d4_mlp", 3);
  save_checkpoint(*a, registry(), dir.file("ckpt.pt"));
  auto b = load_model_from_string(registry(), checkpoint_source(dir.file("ckpt.pt")), "from-checkpoint");
  load_checkpoint(*b, dir.file("ckpt.pt"));
  torch::NoGradGuard no_grad;
  at::Tensor x = at::randn({5, 4});
  EXPECT_TRUE(at::equal(a->forward(x), b->forward(x)));
}

TEST(Checkpoint, DifferentModelNamesTheFirstMismatch) {
  ScratchDir dir;
  auto d4 = seeded("d4_mlp", 0);
  save_checkpoint(*d4, registry(), dir.file("d4.pt"));
  // Same structure, wider hidden rep: the first tensor has a different shape.
  auto wider = load_model_from_string(registry(), R"(eqnn: 1
group: {type: DihedralGroup, n: 4}
reps: {x: permutation(vertices), h: 5x regular}
input: x
layers:
  - {type: eLinear, out_rep: h}
  - {type: eReLU}
  - type: Residual
    layers:
      - {type: eLinear, out_rep: h}
      - {type: eReLU}
  - {type: eLinear, out_rep: x}
)",
                                      "wider.yaml");
  const std::string msg = error_of([&] { load_checkpoint(*wider, dir.file("d4.pt")); });
  EXPECT_NE(
      msg.find("does not fit model 'wider.yaml': parameter 'layers.0.weight_coefficients' has shape [16] in "
               "the checkpoint but [20] in the model"),
      std::string::npos)
      << msg;
  auto c8 = seeded("c8_transformer", 0);
  const std::string other = error_of([&] { load_checkpoint(*c8, dir.file("d4.pt")); });
  EXPECT_NE(other.find("does not fit model"), std::string::npos) << other;
  EXPECT_NE(
      other.find("parameter 'layers.0.weight_coefficients' has shape [16] in the checkpoint but [32] in the "
                 "model"),
      std::string::npos)
      << other;
  // A model with more tensors than the checkpoint: the first one it lacks is named.
  auto deeper = load_model_from_string(registry(), R"(eqnn: 1
group: {type: DihedralGroup, n: 4}
reps: {x: permutation(vertices), h: 4x regular}
input: x
layers:
  - {type: eLinear, out_rep: h}
  - {type: eReLU}
  - type: Residual
    layers:
      - {type: eLinear, out_rep: h}
      - {type: eReLU}
  - {type: eLinear, out_rep: x}
  - {type: eLinear, out_rep: x}
)",
                                       "deeper.yaml");
  const std::string missing = error_of([&] { load_checkpoint(*deeper, dir.file("d4.pt")); });
  EXPECT_NE(
      missing.find("does not fit model 'deeper.yaml': parameter 'layers.4.weight_coefficients' (shape ["),
      std::string::npos)
      << missing;
}

TEST(Checkpoint, TruncatedCorruptEmptyAndForeignFilesAreErrors) {
  ScratchDir dir;
  auto model = seeded("d4_mlp", 0);
  save_checkpoint(*model, registry(), dir.file("good.pt"));
  const std::string good = read_text(dir.file("good.pt"));
  write_text(dir.file("truncated.pt"), good.substr(0, good.size() / 2));
  std::string corrupt = good;
  for (size_t i = corrupt.size() / 3; i < corrupt.size() / 3 + 64; ++i)
    corrupt[i] = static_cast<char>(i * 37);
  write_text(dir.file("corrupt.pt"), corrupt);
  write_text(dir.file("garbage.pt"), "this is not a checkpoint at all");
  write_text(dir.file("empty.pt"), "");
  save_tensor_file(at::ones({3}), dir.file("tensor.pt"));
  for (const std::string name : {"truncated.pt", "corrupt.pt", "garbage.pt"}) {
    const std::string msg = error_of([&] { load_checkpoint(*model, dir.file(name)); });
    EXPECT_NE(msg.find("checkpoint '" + dir.file(name) + "'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("not readable (truncated or corrupt?)"), std::string::npos) << msg;
  }
  EXPECT_NE(error_of([&] { load_checkpoint(*model, dir.file("empty.pt")); }).find("is empty"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              load_checkpoint(*model, dir.file("tensor.pt"));
            }).find("is not an eqnn checkpoint (not a dict)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { load_checkpoint(*model, dir.file("missing.pt")); }).find("cannot open checkpoint"),
            std::string::npos);
}

TEST(Checkpoint, WritesAreAtomic) {
  ScratchDir dir;
  auto model = seeded("d4_mlp", 0);
  const std::string msg =
      error_of([&] { save_checkpoint(*model, registry(), dir.file("no/such/dir/ckpt.pt")); });
  EXPECT_NE(msg.find("cannot write '" + dir.file("no/such/dir/ckpt.pt") + "'"), std::string::npos) << msg;
  // Overwriting keeps a complete file at every moment and leaves no temporary file behind.
  save_checkpoint(*model, registry(), dir.file("ckpt.pt"));
  save_checkpoint(*model, registry(), dir.file("ckpt.pt"));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "ckpt.pt");
  }
  EXPECT_EQ(files, 1);
  load_checkpoint(*model, dir.file("ckpt.pt"));
}

TEST(Checkpoint, TensorFilesRoundTrip) {
  ScratchDir dir;
  at::Tensor t = at::randn({2, 3, 4}, at::kDouble);
  save_tensor_file(t, dir.file("t.pt"));
  EXPECT_TRUE(at::equal(load_tensor_file(dir.file("t.pt")), t));
  c10::Dict<std::string, at::Tensor> dict;
  auto model = seeded("d4_mlp", 0);
  export_weights(*model, dir.file("w.pt"));
  const std::string msg = error_of([&] { load_tensor_file(dir.file("w.pt")); });
  EXPECT_NE(msg.find("holds a GenericDict, expected a tensor"), std::string::npos) << msg;
}

}  // namespace
}  // namespace eqnn::testing
