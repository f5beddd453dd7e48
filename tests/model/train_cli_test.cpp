// `eqnn train --data` as users run it, on files written by the project venv's Python: the JSON summary and
// its metrics recomputed in Python from `eqnn run`'s predictions, the CSV log, best and last checkpoints,
// exact resume through the command line, classification and token sequences, and every refusal (status
// and message).
#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include "command.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

// Runs a Python script (written to the scratch directory) with the project venv; argv[1] is the directory.
CommandResult python(const TempDir& dir, const std::string& name, const std::string& code) {
  write_text(dir.file(name + ".py"), "import json, os, sys, torch\nd = sys.argv[1] + '/'\n" + code);
  return run_command(std::string(EQNN_PYTHON) + " " + dir.file(name + ".py") + " " + dir.path());
}

// A D4-symmetric regression problem on the 4 vertices of a square: y_i = tanh(x_i) + x_i (x_{i-1} + x_{i+1})
// / 2. Rotating or reflecting the square permutes x and y alike.
void write_ring_data(const TempDir& dir, int64_t train, int64_t val, const std::string& tokens = "") {
  auto r = python(dir, "make_data",
                  "g = torch.Generator().manual_seed(0)\n"
                  "def make(n):\n"
                  "    x = torch.randn(n" +
                      tokens +
                      ", 4, generator=g)\n"
                      "    return {'x': x, 'y': torch.tanh(x) + 0.5 * x * (x.roll(1, -1) + x.roll(-1, -1))}\n"
                      "torch.save(make(" +
                      std::to_string(train) +
                      "), d + 'train.pt')\n"
                      "torch.save(make(" +
                      std::to_string(val) + "), d + 'val.pt')\n");
  ASSERT_EQ(r.status, 0) << r.output;
}

// D4 on the square's vertices -> 3 invariant logits; a stock model with dropout.
const std::string kClassifierFile = source_path("tests/model/classifier.yaml");
const std::string kStockDropoutFile = source_path("tests/model/stock_dropout.yaml");

// `eqnn ARGS` with stdout to OUT.json and stderr to OUT.txt.
CommandResult eqnn_json(const TempDir& dir, const std::string& args, const std::string& out) {
  return run_command("(" + std::string(EQNN_CLI) + " " + args + " > " + dir.file(out + ".json") + " 2> " +
                     dir.file(out + ".txt") + ")");
}

std::vector<at::Tensor> checkpoint_parameters(const std::string& model_text, const std::string& path) {
  auto model = load_model_from_string(registry(), model_text, "m.yaml");
  load_checkpoint(*model, path);
  std::vector<at::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

TEST(TrainCli, OwnDataWithValidationJsonLogAndBestCheckpoint) {
  TempDir dir;
  write_ring_data(dir, 256, 128);
  auto r = eqnn_json(dir,
                     "train " + example("d4_mlp") + " --data " + dir.file("train.pt") + " --val " +
                         dir.file("val.pt") + " --epochs 3 --out " + dir.file("run.pt") + " --log " +
                         dir.file("log.csv") + " --json",
                     "train");
  const std::string text = read_text(dir.file("train.txt"));
  ASSERT_EQ(r.status, 0) << text;
  // Plain lines in a log (stderr is not a TTY): no carriage returns, a validation line per epoch.
  EXPECT_FALSE(contains(text, "\r")) << text;
  EXPECT_TRUE(contains(text, "data    " + dir.file("train.pt") + ": 256 samples, x 256x4 -> y 256x4 (mse)"))
      << text;
  EXPECT_TRUE(contains(text, "train   24 steps (3 epochs of 8), batch 32, adam lr 0.003 (constant)")) << text;
  for (const std::string epoch : {"epoch 1  step 8  train loss", "epoch 2  step 16", "epoch 3  step 24"}) {
    EXPECT_TRUE(contains(text, epoch)) << epoch << "\n" << text;
  }
  EXPECT_TRUE(contains(text, "val_relative_error")) << text;
  EXPECT_TRUE(contains(text, "step 24/24  epoch 3/3")) << text;
  EXPECT_TRUE(contains(text, "saved   " + dir.file("run.pt") + " (last: step 24)")) << text;
  EXPECT_TRUE(contains(text, "best    " + dir.file("run.best.pt") + " (step ")) << text;
  EXPECT_TRUE(std::filesystem::exists(dir.file("run.best.pt")));

  const std::string csv = read_text(dir.file("log.csv"));
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 25) << csv;
  EXPECT_EQ(csv.rfind("step,epoch,lr,train_loss,val_loss,val_relative_error\n", 0), 0u) << csv;

  // The JSON's validation error, recomputed in Python from eqnn run's predictions with the last checkpoint.
  auto run = eqnn_cli("run " + example("d4_mlp") + " --checkpoint " + dir.file("run.pt") + " --input " +
                      dir.file("val.pt") + " --output " + dir.file("pred.pt"));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "y in " + dir.file("val.pt") + ": mse loss ")) << run.output;
  auto check =
      python(dir, "check",
             "s = json.load(open(d + 'train.json'))\n"
             "val = torch.load(d + 'val.pt'); pred = torch.load(d + 'pred.pt')\n"
             "mse = ((pred - val['y']) ** 2).mean().item()\n"
             "rel = (mse / (val['y'] ** 2).mean().item()) ** 0.5\n"
             "assert abs(s['val_relative_error'] - rel) < 1e-5 * rel, (s['val_relative_error'], rel)\n"
             "assert abs(s['val_loss'] - mse) < 1e-5 * mse, (s['val_loss'], mse)\n"
             "assert s['steps'] == 24 and s['epochs'] == 3.0 and s['loss'] == 'mse', s\n"
             "assert s['checkpoint'] == d + 'run.pt' and s['best_checkpoint'] == d + 'run.best.pt', s\n"
             "assert s['best_val_loss'] <= s['val_loss'] and 1 <= s['best_step'] <= 24, s\n"
             "for k in ['train_loss', 'seconds', 'parameters', 'best_val_relative_error']: assert k in s, k\n"
             "c = torch.load(d + 'run.pt')\n"  // weights_only: the training state is plain data
             "t = c['training']\n"
             "assert t['step'] == 24 and t['optimizer'] == 'adam' and len(t['params']) > 0, t.keys()\n"
             "print('OK', rel)\n");
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_TRUE(contains(check.output, "OK")) << check.output;
}

TEST(TrainCli, ResumeContinuesExactlyWhereItStopped) {
  TempDir dir;
  write_ring_data(dir, 100, 20);
  const std::string common = "train " + kStockDropoutFile + " --data " + dir.file("train.pt") +
                             " --batch-size 16 --optimizer adamw --warmup 5 --clip-grad 1 --seed 3";
  auto whole = eqnn_cli(common + " --steps 30 --out " + dir.file("whole.pt"));
  ASSERT_EQ(whole.status, 0) << whole.output;
  auto first = eqnn_cli(common + " --steps 10 --out " + dir.file("first.pt"));  // stops inside epoch 2
  ASSERT_EQ(first.status, 0) << first.output;
  auto rest =
      eqnn_cli(common + " --steps 30 --resume " + dir.file("first.pt") + " --out " + dir.file("rest.pt"));
  ASSERT_EQ(rest.status, 0) << rest.output;
  EXPECT_TRUE(contains(rest.output, "resume  " + dir.file("first.pt") + " at step 10")) << rest.output;
  EXPECT_TRUE(contains(rest.output, "step 30/30")) << rest.output;
  const auto a = checkpoint_parameters(read_text(kStockDropoutFile), dir.file("whole.pt"));
  const auto b = checkpoint_parameters(read_text(kStockDropoutFile), dir.file("rest.pt"));
  const auto c = checkpoint_parameters(read_text(kStockDropoutFile), dir.file("first.pt"));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(at::equal(a[i], b[i])) << i << ": " << (a[i] - b[i]).abs().max().item<double>();
    EXPECT_FALSE(at::equal(a[i], c[i])) << i;  // the last 20 steps changed it: the comparison is not vacuous
  }
  // An edit of the comments is the same model.
  write_text(dir.file("commented.yaml"), "# the same model, commented\n" + read_text(kStockDropoutFile));
  auto commented = eqnn_cli("train " + dir.file("commented.yaml") + " --data " + dir.file("train.pt") +
                            " --batch-size 16 --optimizer adamw --steps 12 --resume " + dir.file("first.pt"));
  EXPECT_EQ(commented.status, 0) << commented.output;
}

TEST(TrainCli, AModelThatTakesAStepOrConditioningIsRefusedBeforeTraining) {
  // eqnn train feeds x only: the U-Net also needs its step and global conditioning (extra inputs).
  auto r = eqnn_cli("train " + example("c2_unet") + " --steps 1");
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output,
                       "its first layer also takes timestep, global_cond (extra inputs); eqnn train "
                       "feeds x only: train it from Python, model(x, timestep, global_cond)"))
      << r.output;
  EXPECT_FALSE(contains(r.output, "task ")) << r.output;  // refused before any data is made
}

TEST(TrainCli, ResumeRefusesWhatCannotBeContinued) {
  TempDir dir;
  write_ring_data(dir, 64, 16);
  const std::string data = " --data " + dir.file("train.pt");
  ASSERT_EQ(eqnn_cli("train " + example("d4_mlp") + data + " --steps 10 --out " + dir.file("a.pt")).status,
            0);
  auto model = load_model(registry(), example("d4_mlp"));
  save_checkpoint(*model, registry(), dir.file("weights.pt"));  // no training state

  auto none =
      eqnn_cli("train " + example("d4_mlp") + data + " --steps 20 --resume " + dir.file("weights.pt"));
  EXPECT_EQ(none.status, 1) << none.output;
  EXPECT_TRUE(contains(none.output, "--resume '" + dir.file("weights.pt") + "' has no optimiser state"))
      << none.output;
  EXPECT_TRUE(contains(none.output, "start from its weights with --init")) << none.output;
  auto init = eqnn_cli("train " + example("d4_mlp") + data + " --steps 3 --init " + dir.file("weights.pt"));
  EXPECT_EQ(init.status, 0) << init.output;

  auto other = eqnn_cli("train " + example("q8_generators") + " --steps 20 --resume " + dir.file("a.pt"));
  EXPECT_EQ(other.status, 1) << other.output;
  EXPECT_TRUE(contains(other.output, "--resume '" + dir.file("a.pt") +
                                         "': the checkpoint was written for another "
                                         "model than '" +
                                         example("q8_generators") + "' (checkpoint has '"))
      << other.output;

  auto sgd = eqnn_cli("train " + example("d4_mlp") + data + " --steps 20 --optimizer sgd --resume " +
                      dir.file("a.pt"));
  EXPECT_EQ(sgd.status, 1) << sgd.output;
  EXPECT_TRUE(contains(sgd.output, "holds adam optimiser state, but this run uses --optimizer sgd"))
      << sgd.output;

  auto done = eqnn_cli("train " + example("d4_mlp") + data + " --steps 10 --resume " + dir.file("a.pt"));
  EXPECT_EQ(done.status, 1) << done.output;
  EXPECT_TRUE(contains(done.output,
                       "is at step 10, and this run ends at step 10 (--steps and --epochs count from "
                       "the start, not from the checkpoint)"))
      << done.output;

  auto both = eqnn_cli("train " + example("d4_mlp") + data + " --resume " + dir.file("a.pt") + " --init " +
                       dir.file("a.pt"));
  EXPECT_EQ(both.status, 2) << both.output;
  EXPECT_TRUE(contains(both.output, "--resume and --init both given")) << both.output;
}

TEST(TrainCli, ClassificationWithIntegerLabels) {
  TempDir dir;
  auto r =
      python(dir, "make_labels",
             "g = torch.Generator().manual_seed(1)\n"
             "for name, n in [('train', 192), ('val', 96)]:\n"
             "    x = torch.randn(n, 4, generator=g)\n"
             "    y = torch.bucketize(x.sum(1), torch.tensor([-1.0, 1.0]))\n"  // invariant labels 0, 1, 2
             "    torch.save({'x': x, 'y': y}, d + name + '.pt')\n");
  ASSERT_EQ(r.status, 0) << r.output;
  auto t = eqnn_json(dir,
                     "train " + kClassifierFile + " --data " + dir.file("train.pt") + " --val " +
                         dir.file("val.pt") + " --epochs 4 --lr 0.01 --schedule cosine --out " +
                         dir.file("c.pt") + " --json",
                     "train");
  const std::string text = read_text(dir.file("train.txt"));
  ASSERT_EQ(t.status, 0) << text;
  EXPECT_TRUE(contains(text, "x 192x4 -> y 192 (cross_entropy)")) << text;  // the default for integer labels
  EXPECT_TRUE(contains(text, "val_accuracy")) << text;
  auto run = eqnn_cli("run " + kClassifierFile + " --checkpoint " + dir.file("c.pt") + " --input " +
                      dir.file("val.pt") + " --output " + dir.file("logits.pt"));
  ASSERT_EQ(run.status, 0) << run.output;
  EXPECT_TRUE(contains(run.output, "cross_entropy loss")) << run.output;
  auto check = python(dir, "check",
                      "s = json.load(open(d + 'train.json'))\n"
                      "val = torch.load(d + 'val.pt'); logits = torch.load(d + 'logits.pt')\n"
                      "acc = (logits.argmax(1) == val['y']).double().mean().item()\n"
                      "ce = torch.nn.functional.cross_entropy(logits, val['y']).item()\n"
                      "assert abs(s['val_accuracy'] - acc) < 1e-12, (s['val_accuracy'], acc)\n"
                      "assert abs(s['val_loss'] - ce) < 1e-5 * ce, (s['val_loss'], ce)\n"
                      "assert s['loss'] == 'cross_entropy' and s['schedule'] == 'cosine', s\n"
                      "print('OK')\n");
  EXPECT_EQ(check.status, 0) << check.output;
  auto mse = eqnn_cli("train " + kClassifierFile + " --data " + dir.file("train.pt") + " --loss mse");
  EXPECT_EQ(mse.status, 1) << mse.output;
  EXPECT_TRUE(contains(mse.output,
                       "y holds integer class labels (shape [192]); --loss mse needs floating-point "
                       "targets of the output's shape [192, 3]"))
      << mse.output;
}

TEST(TrainCli, TokenSequences) {
  TempDir dir;
  write_ring_data(dir, 64, 16, ", 5");  // x, y: (N, 5, 4)
  auto r = eqnn_cli("train " + example("d4_mlp") + " --data " + dir.file("train.pt") + " --val " +
                    dir.file("val.pt") + " --epochs 2 --batch-size 16");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "x 64x5x4 -> y 64x5x4 (mse)")) << r.output;
  EXPECT_TRUE(contains(r.output, "step 8/8")) << r.output;
}

TEST(TrainCli, RunReadsDataSetFilesAndBareTensors) {
  TempDir dir;
  write_ring_data(dir, 8, 4);
  auto r = python(dir, "split",
                  "t = torch.load(d + 'train.pt')\n"
                  "torch.save(t['x'], d + 'x.pt')\n"
                  "torch.save({'x': t['x']}, d + 'x_only.pt')\n");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string m = example("d4_mlp");
  for (const std::string in : {"train", "x", "x_only"}) {
    auto run = eqnn_cli("run " + m + " --seed 2 --input " + dir.file(in + ".pt") + " --output " +
                        dir.file(in + ".out"));
    ASSERT_EQ(run.status, 0) << run.output;
    EXPECT_EQ(contains(run.output, "y in "), in == "train") << run.output;
  }
  EXPECT_TRUE(at::equal(load_tensor_file(dir.file("train.out")), load_tensor_file(dir.file("x.out"))));
  EXPECT_TRUE(at::equal(load_tensor_file(dir.file("x_only.out")), load_tensor_file(dir.file("x.out"))));
}

TEST(TrainCli, BadCommandLinesAreUsageErrors) {
  TempDir dir;
  write_ring_data(dir, 64, 16);
  const std::string train = "train " + example("d4_mlp") + " --data " + dir.file("train.pt");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {train + " --steps 5 --epochs 2",
       "--steps 5 and --epochs 2 both given: give one (--steps counts optimiser steps, --epochs passes over "
       "the "
       "training set)"},
      {"train " + example("d4_mlp") + " --val " + dir.file("val.pt"),
       "--val needs --data TRAIN.pt (the built-in tasks bring their own)"},
      {"train " + example("d4_mlp") + " --loss mse", "--loss needs --data TRAIN.pt"},
      {train + " --task ring", "--task ring and --data " + dir.file("train.pt") + " both given"},
      {train + " --lr 0", "--lr must be a positive number, found 0 (the default is 3e-3)"},
      {train + " --lr -0.1", "--lr must be a positive number, found -0.1"},
      {train + " --batch-size 0", "--batch-size must be at least 1, found 0"},
      {train + " --epochs 0", "--epochs must be at least 1, found 0"},
      {train + " --steps 0", "--steps must be at least 1, found 0"},
      {train + " --clip-grad 0", "--clip-grad must be a positive gradient norm, found 0"},
      {train + " --weight-decay -1", "--weight-decay must be 0 or more, found -1"},
      {train + " --warmup 300", "--warmup 300 is not shorter than the run (300 steps)"},
      {train + " --momentum 0.9", "--momentum is an sgd setting; --optimizer adam has its own (betas)"},
      {train + " --device tpu", "--device must be cpu, cuda or cuda:N (N a GPU index), found 'tpu'"},
      {train + " --optimizer lion", "--optimizer: lion not in {adam,adamw,sgd}"},
  };
  for (const auto& [args, message] : cases) {
    auto r = eqnn_cli(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_TRUE(contains(r.output, "eqnn: error: " + message)) << args << "\n" << r.output;
  }
}

TEST(TrainCli, DataThatDoesNotFitIsAnError) {
  TempDir dir;
  auto r = python(dir, "bad",
                  "x = torch.randn(64, 3)\n"
                  "torch.save({'x': x, 'y': x}, d + 'narrow.pt')\n"
                  "x = torch.randn(64, 4); y = x.clone(); y[10, 1] = float('nan')\n"
                  "torch.save({'x': x, 'y': y}, d + 'nan.pt')\n"
                  "torch.save({'x': x[:0], 'y': y[:0]}, d + 'empty.pt')\n"
                  "torch.save({'x': x, 'y': x.clone()}, d + 'ok.pt')\n");
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string m = example("d4_mlp");
  auto narrow = eqnn_cli("train " + m + " --data " + dir.file("narrow.pt"));
  EXPECT_EQ(narrow.status, 1) << narrow.output;
  EXPECT_TRUE(contains(narrow.output, "data set '" + dir.file("narrow.pt") +
                                          "': x has shape [64, 3], 3 features per "
                                          "sample; model '" +
                                          m + "' (input rep x [4] -> output rep x [4]) takes 4"))
      << narrow.output;
  auto nan = eqnn_cli("train " + m + " --data " + dir.file("nan.pt"));
  EXPECT_EQ(nan.status, 1) << nan.output;
  EXPECT_TRUE(contains(nan.output, "y has NaN at index [10, 1] (1 non-finite value in all)")) << nan.output;
  auto val = eqnn_cli("train " + m + " --data " + dir.file("ok.pt") + " --val " + dir.file("empty.pt"));
  EXPECT_EQ(val.status, 1) << val.output;
  EXPECT_TRUE(contains(val.output, "data set '" + dir.file("empty.pt") + "' is empty")) << val.output;
  auto empty = eqnn_cli("train " + m + " --data " + dir.file("empty.pt"));
  EXPECT_EQ(empty.status, 1) << empty.output;
  EXPECT_TRUE(contains(empty.output, "data set '" + dir.file("empty.pt") + "' is empty: x has shape [0, 4]"))
      << empty.output;
  auto missing = eqnn_cli("train " + m + " --data " + dir.file("none.pt"));
  EXPECT_EQ(missing.status, 1) << missing.output;
  EXPECT_TRUE(contains(missing.output, "cannot open data set '" + dir.file("none.pt") + "'"))
      << missing.output;
}

TEST(TrainCli, BuiltInTaskJsonAndDevice) {
  TempDir dir;
  auto r = eqnn_json(dir, "train " + example("q8_generators") + " --steps 6 --json", "task");
  ASSERT_EQ(r.status, 0) << read_text(dir.file("task.txt"));
  auto check = python(dir, "check",
                      "s = json.load(open(d + 'task.json'))\n"
                      "assert s['task'] == 'teacher' and s['steps'] == 6, s\n"
                      "assert s['test_relative_error'] > 0 and s['test_mse'] > 0, s\n"
                      "print('OK')\n");
  EXPECT_EQ(check.status, 0) << check.output;

  // --device cuda: trains where a GPU is visible (the checkpoint then loads on the CPU), a clear error
  // elsewhere.
  write_ring_data(dir, 64, 16);
  auto cuda = eqnn_cli("train " + example("d4_mlp") + " --data " + dir.file("train.pt") + " --val " +
                       dir.file("val.pt") + " --epochs 2 --device cuda --out " + dir.file("gpu.pt"));
  if (torch::cuda::is_available()) {
    ASSERT_EQ(cuda.status, 0) << cuda.output;
    EXPECT_TRUE(contains(cuda.output, ", cuda")) << cuda.output;
    auto run = eqnn_cli("run " + example("d4_mlp") + " --checkpoint " + dir.file("gpu.pt") + " --input " +
                        dir.file("val.pt") + " --output " + dir.file("pred.pt"));
    EXPECT_EQ(run.status, 0) << run.output;
  } else {
    EXPECT_EQ(cuda.status, 2) << cuda.output;
    EXPECT_TRUE(contains(cuda.output, "eqnn: error: --device cuda: no CUDA GPU is visible")) << cuda.output;
    EXPECT_TRUE(contains(cuda.output, "use --device cpu")) << cuda.output;
  }
}

}  // namespace
}  // namespace eqnn::testing
