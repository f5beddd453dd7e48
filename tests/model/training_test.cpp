// Training on your own data, through the C++ API (the data set files themselves: tensor_data_test.cpp):
// the shape checks against a model, the metrics against formulas computed here, the learning-rate
// schedule, and the resume guarantee: 2N steps in one run give exactly the parameters of N steps + a
// restored state + N more steps.
#include <cmath>
#include <filesystem>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "command.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/model/training.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

// tests/model/classifier.yaml: D4 on the square's vertices -> 3 invariant logits; stock_dropout.yaml: a
// stock model with dropout (resuming must restore the random state too).
const std::string kClassifier = read_text(source_path("tests/model/classifier.yaml"));
const std::string kStockDropout = read_text(source_path("tests/model/stock_dropout.yaml"));

ModelPtr model_from(const std::string& text, const std::string& name, uint64_t seed = 0) {
  torch::manual_seed(seed);
  return load_model_from_string(registry(), text, name);
}

TensorDataset dataset(at::Tensor x, at::Tensor y, const std::string& path = "mem.pt") {
  TensorDataset d;
  d.x = std::move(x);
  d.y = std::move(y);
  d.path = path;
  return d;
}

// ---- shapes against the model ----

TEST(TensorData, ShapesThatDoNotFitTheModelNameBothSides) {
  auto mlp = model_from(read_text(example("d4_mlp")), "d4_mlp.yaml");
  auto fits = [&](Model& m, TensorDataset d, LossKind loss) {
    return error_text([&] { check_fits(m, d, loss); });
  };
  EXPECT_EQ(fits(*mlp, dataset(at::randn({5, 4}), at::randn({5, 4})), LossKind::mse), "");
  EXPECT_EQ(fits(*mlp, dataset(at::randn({5, 3, 4}), at::randn({5, 3, 4})), LossKind::mse), "");
  std::string e = fits(*mlp, dataset(at::randn({5, 7}), at::randn({5, 4})), LossKind::mse);
  EXPECT_TRUE(contains(e,
                       "data set 'mem.pt': x has shape [5, 7], 7 features per sample; model 'd4_mlp.yaml' "
                       "(input rep x [4] -> output rep x [4]) takes 4"))
      << e;
  e = fits(*mlp, dataset(at::randn({5, 4}), at::randn({5, 3})), LossKind::mse);
  EXPECT_TRUE(
      contains(e,
               "y has shape [5, 3], but model 'd4_mlp.yaml' (input rep x [4] -> output rep x [4]) maps x "
               "[5, 4] to [5, 4]; y must have the output's shape"))
      << e;
  e = fits(*mlp, dataset(at::randn({5, 3, 4}), at::randn({5, 4})), LossKind::mse);
  EXPECT_TRUE(
      contains(e,
               "y has shape [5, 4], but model 'd4_mlp.yaml' (input rep x [4] -> output rep x [4]) maps x "
               "[5, 3, 4] to [5, 3, 4]"))
      << e;
  e = fits(*mlp, dataset(at::randn({5, 4}), at::zeros({5}, at::kLong)), LossKind::mse);
  EXPECT_TRUE(
      contains(e,
               "y holds integer class labels (shape [5]); --loss mse needs floating-point targets of the "
               "output's shape [5, 4]"))
      << e;

  auto cls = model_from(kClassifier, "classifier.yaml");
  EXPECT_EQ(
      fits(*cls, dataset(at::randn({5, 4}), at::tensor({0, 1, 2, 1, 0}, at::kLong)), LossKind::cross_entropy),
      "");
  e = fits(*cls, dataset(at::randn({5, 4}), at::randn({5, 3})), LossKind::cross_entropy);
  EXPECT_TRUE(
      contains(e,
               "y is Float (shape [5, 3]); --loss cross_entropy needs integer class labels (int64) of "
               "shape [5], one per sample (model 'classifier.yaml' (input rep x [4] -> output rep c [3]) "
               "maps x [5, 4] to [5, 3], logits last); for regression use --loss mse"))
      << e;
  e = fits(*cls, dataset(at::randn({5, 4}), at::tensor({0, 1, 3, 1, 7}, at::kLong)), LossKind::cross_entropy);
  EXPECT_TRUE(contains(e,
                       "y has label 3 at index [2] (2 labels out of range in all); the model's output has 3 "
                       "classes, so labels must be 0..2"))
      << e;
  e = fits(*cls, dataset(at::randn({5, 4}), at::tensor({0, 1, -1, 1, 0}, at::kLong)),
           LossKind::cross_entropy);
  EXPECT_TRUE(contains(e, "y has label -1 at index [2]")) << e;
  e = fits(*cls, dataset(at::randn({5, 2, 4}), at::zeros({5}, at::kLong)), LossKind::cross_entropy);
  EXPECT_TRUE(
      contains(e,
               "y has shape [5], but model 'classifier.yaml' (input rep x [4] -> output rep c [3]) maps x "
               "[5, 2, 4] to [5, 2, 3]: logits over 3 classes (last dimension), so y must be the labels "
               "of shape [5, 2]"))
      << e;
  auto one = model_from(
      "eqnn: 1\ngroup: {type: DihedralGroup, n: 4}\nreps: {x: permutation(vertices)}\ninput: x\n"
      "layers:\n  - {type: eLinear, out_rep: trivial}\n",
      "one.yaml");
  e = fits(*one, dataset(at::randn({5, 4}), at::zeros({5}, at::kLong)), LossKind::cross_entropy);
  EXPECT_TRUE(contains(e, "cross entropy needs logits over at least 2 classes")) << e;
}

// ---- metrics, loss, schedule ----

TEST(Training, MetricsAreTheDocumentedFormulas) {
  auto mlp = model_from(read_text(example("d4_mlp")), "d4_mlp.yaml", 3);
  const at::Tensor x = at::randn({300, 4}, at::kDouble), y = at::randn({300, 4}, at::kDouble);
  auto m = evaluate(*mlp, dataset(x, y), LossKind::mse);
  mlp->eval();
  torch::NoGradGuard no_grad;
  const at::Tensor out = mlp->forward(x.to(at::kFloat)).to(at::kDouble);
  const double mse = (out - y).pow(2).mean().item<double>();
  EXPECT_NEAR(m.at("loss"), mse, 1e-6 * mse);
  EXPECT_NEAR(m.at("relative_error"), std::sqrt(mse / y.pow(2).mean().item<double>()), 1e-6);

  auto cls = model_from(kClassifier, "classifier.yaml", 4);
  const at::Tensor labels = at::randint(0, 3, {300}, at::kLong);
  auto c = evaluate(*cls, dataset(x, labels), LossKind::cross_entropy);
  cls->eval();
  const at::Tensor logits = cls->forward(x.to(at::kFloat)).to(at::kDouble);
  const at::Tensor logp = logits - logits.exp().sum(1, true).log();  // log-softmax, written out
  const double ce = -logp.gather(1, labels.unsqueeze(1)).mean().item<double>();
  EXPECT_NEAR(c.at("loss"), ce, 1e-5);
  EXPECT_DOUBLE_EQ(c.at("accuracy"), logits.argmax(1).eq(labels).to(at::kDouble).mean().item<double>());
}

TEST(Training, WarmUpAndCosineSchedule) {
  auto mlp = model_from(read_text(example("d4_mlp")), "d4_mlp.yaml");
  TrainOptions o;
  o.steps = 104;
  o.learning_rate = 0.01;
  o.warmup = 4;
  o.schedule = ScheduleKind::cosine;
  o.progress = false;
  Trainer t(*mlp, {at::randn({64, 4}), at::randn({64, 4}), {}}, o);
  EXPECT_DOUBLE_EQ(t.learning_rate_at(1), 0.0025);
  EXPECT_DOUBLE_EQ(t.learning_rate_at(4), 0.01);
  EXPECT_DOUBLE_EQ(t.learning_rate_at(5), 0.01);      // cosine starts at the top
  EXPECT_NEAR(t.learning_rate_at(55), 0.005, 1e-15);  // half way through the 100 cosine steps
  EXPECT_NEAR(t.learning_rate_at(104), 0.01 * 0.5 * (1 + std::cos(M_PI * 0.99)), 1e-15);
  EXPECT_EQ(t.steps_per_epoch(), 2);
  EXPECT_EQ(t.total_steps(), 104);
}

TEST(Training, OptionsThatCannotWorkAreRefused) {
  auto mlp = model_from(read_text(example("d4_mlp")), "d4_mlp.yaml");
  const TrainingData data{at::randn({10, 4}), at::randn({10, 4}), {}};
  auto with = [&](const std::function<void(TrainOptions&)>& edit) {
    TrainOptions o;
    o.progress = false;
    edit(o);
    return error_text<Error>([&] { Trainer t(*mlp, data, o); });
  };
  EXPECT_EQ(with([](TrainOptions& o) { o.learning_rate = 0; }),
            "--lr must be a positive number, found 0 (the default is 3e-3)");
  EXPECT_EQ(with([](TrainOptions& o) { o.learning_rate = -1e-3; }),
            "--lr must be a positive number, found -0.001 (the default is 3e-3)");
  EXPECT_EQ(with([](TrainOptions& o) { o.batch_size = 0; }), "--batch-size must be at least 1, found 0");
  EXPECT_EQ(with([](TrainOptions& o) { o.steps = 0; }), "--steps must be at least 1, found 0");
  EXPECT_EQ(with([](TrainOptions& o) { o.weight_decay = -1; }), "--weight-decay must be 0 or more, found -1");
  EXPECT_EQ(with([](TrainOptions& o) { o.momentum = 1; }), "--momentum must be in [0, 1), found 1");
  EXPECT_EQ(with([](TrainOptions& o) { o.momentum = 0.9; }),
            "--momentum is an sgd setting; --optimizer adam has its own (betas)");
  EXPECT_EQ(with([](TrainOptions& o) { o.warmup = 300; }),
            "--warmup 300 is not shorter than the run (300 steps); warm up for fewer steps");
  EXPECT_EQ(with([](TrainOptions& o) { o.epochs = 2, o.warmup = 2; }),
            "--warmup 2 is not shorter than the run (2 steps); warm up for fewer steps");  // 10 samples: 1
                                                                                           // step/epoch
  EXPECT_EQ(with([](TrainOptions& o) { o.clip_grad = -1; }),
            "--clip-grad must be a positive gradient norm, found -1");
}

TEST(Training, DivergenceIsAnErrorNotANaNModel) {
  auto mlp = model_from(read_text(example("d4_mlp")), "d4_mlp.yaml");
  TrainOptions o;
  o.progress = false;
  o.steps = 5;
  Trainer t(*mlp,
            {at::randn({10, 4}), at::full({10, 4}, 1e30),
             [](auto& out, auto&, auto& y) { return batch_loss(LossKind::mse, out, y); }},
            o);
  EXPECT_EQ(error_text<Error>([&] { t.run(); }),
            "training diverged at step 1: the loss is inf (learning rate 0.003); lower --lr, add --warmup or "
            "--clip-grad, or check the data's scale");
}

// ---- resume ----

struct ResumeCase {
  std::string name;
  OptimizerKind optimizer;
  double momentum = 0;
  double clip = 0;
  int64_t warmup = 0;
};

// Parameters after `steps` steps in one run, or after `first` steps, a state saved through a checkpoint
// file and read back into a fresh model and Trainer, and the rest.
std::vector<at::Tensor> train_parameters(const std::string& text, const ResumeCase& c, int64_t steps,
                                         int64_t first, const std::string& file) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor xs = at::randn({50, 4}, gen), ys = at::sin(xs * 2) + xs.roll(1, 1);
  TrainOptions o;
  o.progress = false;
  o.optimizer = c.optimizer;
  o.momentum = c.momentum;
  o.clip_grad = c.clip;
  o.warmup = c.warmup;
  o.batch_size = 16;  // 4 steps per epoch, the last one of 2 samples
  o.seed = 9;
  const TrainingData data{xs, ys,
                          [](auto& out, auto&, auto& y) { return batch_loss(LossKind::mse, out, y); }};
  auto model = model_from(text, "resume.yaml", 1);
  if (first == 0) {
    o.steps = steps;
    Trainer t(*model, data, o);
    t.run();
  } else {
    o.steps = first;
    {
      Trainer t(*model, data, o);
      t.run();
      CheckpointInfo info;
      info.step = t.step();
      info.training = t.state();
      save_checkpoint(*model, registry(), file, info);
    }
    at::randn({1000});  // disturb the global random state: the restore must undo it
    auto fresh = model_from(text, "resume.yaml", 2);
    o.steps = steps;
    Trainer t(*fresh, data, o);
    t.restore(load_checkpoint(*fresh, file).training, "resume");
    EXPECT_EQ(t.step(), first);
    t.run();
    model = fresh;
  }
  std::vector<at::Tensor> out;
  for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

TEST(Training, ResumingGivesTheParametersOfAnUninterruptedRun) {
  TempDir dir;
  const std::vector<ResumeCase> cases = {{"adam", OptimizerKind::adam},
                                         {"adamw_clip_warmup", OptimizerKind::adamw, 0, 0.5, 6},
                                         {"sgd_momentum", OptimizerKind::sgd, 0.9}};
  for (const auto& c : cases) {
    for (const std::string& text : {read_text(example("d4_mlp")), std::string(kStockDropout)}) {
      SCOPED_TRACE(c.name + (contains(text, "Dropout") ? " (stock, dropout)" : " (d4_mlp)"));
      const auto whole = train_parameters(text, c, 22, 0, "");
      const auto resumed = train_parameters(text, c, 22, 10, dir.file(c.name + ".pt"));  // resumes mid-epoch
      const auto other = train_parameters(text, c, 21, 0, "");
      ASSERT_EQ(whole.size(), resumed.size());
      bool differs = false;
      for (size_t i = 0; i < whole.size(); ++i) {
        EXPECT_TRUE(at::equal(whole[i], resumed[i]))
            << "parameter " << i << " max diff " << (whole[i] - resumed[i]).abs().max().item<double>();
        differs = differs || !at::equal(whole[i], other[i]);
      }
      EXPECT_TRUE(differs) << "one step more must change the parameters (the comparison is not vacuous)";
    }
  }
}

TEST(Training, RestoreRefusesStatesThatDoNotBelong) {
  TempDir dir;
  auto mlp = model_from(read_text(example("d4_mlp")), "d4_mlp.yaml");
  const TrainingData data{at::randn({20, 4}), at::randn({20, 4}),
                          [](auto& out, auto&, auto& y) { return batch_loss(LossKind::mse, out, y); }};
  TrainOptions o;
  o.progress = false;
  o.steps = 3;
  Trainer t(*mlp, data, o);
  t.run();
  const at::IValue state = t.state();

  EXPECT_EQ(error_text<Error>([&] { Trainer(*mlp, data, o).restore(at::IValue(), "--resume 'w.pt'"); }),
            "--resume 'w.pt' has no optimiser state (it holds weights only: written by 'eqnn train' before "
            "resuming "
            "existed, or by save_checkpoint without a Trainer state); start from its weights with --init "
            "instead of "
            "--resume");
  TrainOptions sgd = o;
  sgd.optimizer = OptimizerKind::sgd;
  EXPECT_EQ(error_text<Error>([&] { Trainer(*mlp, data, sgd).restore(state, "--resume 'a.pt'"); }),
            "--resume 'a.pt' holds adam optimiser state, but this run uses --optimizer sgd; resume with "
            "--optimizer "
            "adam, or start from its weights with --init");
  EXPECT_EQ(
      error_text<Error>([&] { Trainer(*mlp, data, o).restore(state, "--resume 'a.pt'"); }),
      "--resume 'a.pt' is at step 3, and this run ends at step 3 (--steps and --epochs count from the start, "
      "not from the checkpoint); ask for more than 3 steps");
  auto stock = model_from(kStockDropout, "stock.yaml");
  TrainOptions more = o;
  more.steps = 10;
  const std::string other =
      error_text<Error>([&] { Trainer(*stock, data, more).restore(state, "--resume 'a.pt'"); });
  EXPECT_TRUE(contains(other, "--resume 'a.pt': its optimiser state has parameter 'layers.0.weight"))
      << other;
  EXPECT_TRUE(contains(other, "which model 'stock.yaml' does not have (a checkpoint of another model?)"))
      << other;
}

TEST(Training, CrossEntropyOnSequencesTrains) {
  // Labels per token (N, T) with logits (N, T, C): the loss is the mean over every token.
  auto cls = model_from(kClassifier, "classifier.yaml", 2);
  const at::Tensor x = at::randn({40, 3, 4});
  const at::Tensor y = at::randint(0, 3, {40, 3}, at::kLong);
  ASSERT_EQ(error_text([&] { check_fits(*cls, dataset(x, y), LossKind::cross_entropy); }), "");
  torch::NoGradGuard no_grad;
  const at::Tensor out = cls->forward(x);
  const double loss = batch_loss(LossKind::cross_entropy, out, y).item<double>();
  double sum = 0;
  for (int64_t t = 0; t < 3; ++t) {
    sum += at::cross_entropy_loss(out.select(1, t), y.select(1, t)).item<double>();
  }
  EXPECT_NEAR(loss, sum / 3, 1e-6);
}

}  // namespace
}  // namespace eqnn::testing
