// The model commands as users run them: describe, check, train, run, export, demo.
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "command.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

TEST(Cli, DescribeShowsLayersRepsAndParameterCounts) {
  auto r = eqnn_cli("describe " + example("d4_mlp"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "group   D4 (order 8)")) << r.output;
  EXPECT_TRUE(contains(r.output, "layers.2.block.0")) << r.output;
  EXPECT_TRUE(contains(r.output, "Residual")) << r.output;
  EXPECT_TRUE(contains(r.output, "x [4]")) << r.output;
  EXPECT_TRUE(contains(r.output, "h [32]")) << r.output;
  torch::manual_seed(0);
  auto model = load_model(registry(), example("d4_mlp"));
  EXPECT_TRUE(contains(r.output, std::to_string(model->parameter_count()))) << r.output;
  EXPECT_TRUE(contains(r.output, std::to_string(model->unconstrained_parameter_count()))) << r.output;
  auto json = eqnn_cli("describe --json " + example("c8_transformer"));
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_TRUE(contains(json.output, "\"path\": \"layers.2\"")) << json.output;
  EXPECT_TRUE(contains(json.output, "\"num_heads\": 2")) << json.output;
}

TEST(Cli, CheckPassesEveryExampleInBothPrecisions) {
  // Every model of examples/models, so that a new one is checked too (c5_time_cnn needs 16 frames: the
  // check takes the length from the layer, FixedSequenceLength).
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(source_path("examples/models")))
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem().string());
  ASSERT_GE(names.size(), 9u);
  for (const std::string& name : names) {
    for (const std::string dtype : {"float32", "float64"}) {
      auto r = eqnn_cli("check " + example(name) + " --dtype " + dtype);
      EXPECT_EQ(r.status, 0) << name << " " << dtype << "\n" << r.output;
      EXPECT_TRUE(contains(r.output, "equivariant: every checked layer and the whole model are within"))
          << r.output;
      EXPECT_FALSE(contains(r.output, "FAIL")) << r.output;
    }
  }
}

// A model whose transformer layers use the positional attentions (default positions in a model) runs and
// passes the check in both precisions.
TEST(Cli, CheckPassesTransformerLayersWithPositionalAttention) {
  TempDir dir;
  write_text(dir.file("rope.yaml"), R"(eqnn: 1
group: C4
reps: {x: permutation(vertices), h: 4x regular}
input: x
output: x
layers:
  - {type: eLinear, out_rep: h}
  - {type: eTransformerEncoderLayer, attention: rope, num_heads: 2, dim_feedforward: 16, dropout: 0.0}
  - {type: eTransformerEncoder, attention: additive_rel, max_distance: 4, num_layers: 2, num_heads: 1,
     dim_feedforward: 16, dropout: 0.0}
  - {type: eTransformerEncoderLayer, attention: additive_pos, max_len: 8, num_heads: 2, dim_feedforward: 16,
     dropout: 0.0}
  - {type: eLinear, out_rep: x}
)");
  for (const std::string dtype : {"float32", "float64"}) {
    auto r = eqnn_cli("check " + dir.file("rope.yaml") + " --dtype " + dtype);
    EXPECT_EQ(r.status, 0) << dtype << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, "equivariant: every checked layer and the whole model are within"))
        << r.output;
    EXPECT_FALSE(contains(r.output, "FAIL")) << r.output;
  }
  auto d = eqnn_cli("describe " + dir.file("rope.yaml"));
  EXPECT_EQ(d.status, 0) << d.output;
}

TEST(Cli, CheckFailsAStockModelAndMarksStockLayersNotApplicable) {
  TempDir dir;
  write_text(dir.file("stock.yaml"), R"(eqnn: 1
group: D8
reps: {x: permutation(vertices)}
input: x
output: x
layers:
  - {type: Linear, out_features: 16}
  - {type: ReLU}
  - {type: Linear, out_features: 8}
)");
  auto r = eqnn_cli("check " + dir.file("stock.yaml"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "n/a (no group action)")) << r.output;
  EXPECT_TRUE(contains(
      r.output, "eqnn: error: '" + dir.file("stock.yaml") + "' is not equivariant within 1e-05: model"))
      << r.output;
  // Without an output rep and with a different output size, the whole model cannot be checked: a failure.
  write_text(dir.file("unknown.yaml"),
             "eqnn: 1\ngroup: C4\ninput: regular\nlayers:\n  - {type: Linear, out_features: 3}\n");
  auto u = eqnn_cli("check " + dir.file("unknown.yaml"));
  EXPECT_EQ(u.status, 1) << u.output;
  EXPECT_TRUE(contains(u.output, "has no known representation; declare it with 'output: REP'")) << u.output;
  auto bad = eqnn_cli("check " + example("d4_mlp") + " --dtype float16");
  EXPECT_EQ(bad.status, 2) << bad.output;
}

TEST(Cli, TrainWritesACheckpointAndACsvLogThatRunUses) {
  TempDir dir;
  auto r = eqnn_cli("train " + example("d4_mlp") + " --steps 20 --seed 4 --out " + dir.file("ckpt.pt") +
                    " --log " + dir.file("log.csv"));
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "task    ring:")) << r.output;
  EXPECT_TRUE(contains(r.output, "step 20/20")) << r.output;
  EXPECT_TRUE(contains(r.output, "steps/s")) << r.output;
  EXPECT_TRUE(contains(r.output, "ETA")) << r.output;
  EXPECT_TRUE(contains(r.output, "relative test error")) << r.output;
  const std::string csv = read_text(dir.file("log.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 21);
  EXPECT_EQ(csv.rfind("step,epoch,lr,train_loss,test_mse,test_relative_error\n", 0), 0u);

  // run --checkpoint gives what the C++ API gives with the same checkpoint.
  save_tensor_file(at::randn({6, 3, 4}), dir.file("x.pt"));
  auto run = eqnn_cli("run " + example("d4_mlp") + " --checkpoint " + dir.file("ckpt.pt") + " --input " +
                      dir.file("x.pt") + " --output " + dir.file("y.pt"));
  ASSERT_EQ(run.status, 0) << run.output;
  auto model = load_model(registry(), example("d4_mlp"));
  auto info = load_checkpoint(*model, dir.file("ckpt.pt"));
  EXPECT_EQ(info.step, 20);
  EXPECT_EQ(info.task, "ring");
  EXPECT_TRUE(info.metrics.count("test_mse"));
  model->eval();
  torch::NoGradGuard no_grad;
  EXPECT_TRUE(at::allclose(load_tensor_file(dir.file("y.pt")),
                           model->forward(load_tensor_file(dir.file("x.pt"))), 1e-6, 1e-6));
}

TEST(Cli, TrainUsesTheTeacherTaskForOtherModels) {
  auto r = eqnn_cli("train " + example("q8_generators") + " --steps 5");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "task    teacher: equivariant teacher")) << r.output;
  auto ring = eqnn_cli("train " + example("q8_generators") + " --steps 5 --task ring");
  EXPECT_EQ(ring.status, 0) << ring.output;  // 5 -> 5 features: the ring task applies
  auto unknown = eqnn_cli("train " + example("q8_generators") + " --task rings");
  EXPECT_EQ(unknown.status, 2) << unknown.output;
  auto steps = eqnn_cli("train " + example("q8_generators") + " --steps 0");
  EXPECT_EQ(steps.status, 2) << steps.output;
  EXPECT_TRUE(contains(steps.output, "--steps must be at least 1, found 0")) << steps.output;
}

TEST(Cli, RunAndExportErrors) {
  TempDir dir;
  write_text(dir.file("bad.pt"), "not a tensor file");
  auto r = eqnn_cli("run " + example("d4_mlp") + " --input " + dir.file("bad.pt") + " --output " +
                    dir.file("y.pt"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "tensor file '" + dir.file("bad.pt") + "' is not a zip archive as torch.save writes"))
      << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.pt")));

  save_tensor_file(at::randn({2, 7}), dir.file("wide.pt"));
  auto wide = eqnn_cli("run " + example("d4_mlp") + " --input " + dir.file("wide.pt") + " --output " +
                       dir.file("y.pt"));
  EXPECT_EQ(wide.status, 1) << wide.output;
  EXPECT_TRUE(contains(wide.output, "expected 4 input features (the input rep x), got shape [2, 7]"))
      << wide.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("y.pt")));

  auto both =
      eqnn_cli("export " + example("d4_mlp") + " --seed 1 --checkpoint x.pt --out " + dir.file("w.pt"));
  EXPECT_EQ(both.status, 2) << both.output;
  auto transformer = eqnn_cli("export " + example("c8_transformer") + " --out " + dir.file("w.pt"));
  EXPECT_EQ(transformer.status, 1) << transformer.output;
  EXPECT_TRUE(contains(transformer.output, "has parameters or buffers but no stock PyTorch equivalent"))
      << transformer.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("w.pt")));
  auto missing = eqnn_cli("run " + example("d4_mlp") + " --checkpoint " + dir.file("none.pt") + " --input " +
                          dir.file("wide.pt") + " --output " + dir.file("y.pt"));
  EXPECT_EQ(missing.status, 1) << missing.output;
  EXPECT_TRUE(contains(missing.output, "cannot open checkpoint")) << missing.output;
}

TEST(Cli, DemoSmokeTest) {
  auto r = eqnn_cli("demo --steps 5 --sizes 16,32");
  ASSERT_EQ(r.status, 0) << r.output;
  for (const std::string part :
       {"equivariant (D8)", "stock twin", "ratio", "relative test error", "equivariance error",
        "trainable parameters", "training windows", "16 / 32 training windows"}) {
    EXPECT_TRUE(contains(r.output, part)) << part << "\n" << r.output;
  }
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--seeds 0", "--seeds must be at least 1, found 0"},
           {"--threads 0", "--threads must be at least 1, found 0"},
           {"--sizes 0", "--sizes: a training set needs at least 1 window, found 0"},
           {"--steps 0", "--steps must be at least 1, found 0"}}) {
    auto bad = eqnn_cli("demo " + args);
    EXPECT_EQ(bad.status, 2) << args << "\n" << bad.output;
    EXPECT_TRUE(contains(bad.output, message)) << args << "\n" << bad.output;
  }
}

}  // namespace
}  // namespace eqnn::testing
