// The training loop shared by `eqnn train --data` (your tensors) and the built-in tasks (`eqnn train`,
// `eqnn demo`): optimiser, learning-rate schedule, gradient clipping, shuffled epochs, a progress bar,
// and the optimiser state + step that a checkpoint stores so that training can be resumed exactly.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <c10/core/Device.h>

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace eqnn {

class Model;
class Task;
struct TensorDataset;

enum class OptimizerKind { adam, adamw, sgd };
enum class ScheduleKind { constant, cosine };
enum class LossKind { mse, cross_entropy };

std::string to_string(OptimizerKind kind);
std::string to_string(ScheduleKind kind);
std::string to_string(LossKind kind);

/// Settings of the training loop. The defaults are the same for equivariant and stock models.
struct TrainOptions {
  int64_t steps = 300;  ///< optimiser steps in all (with a resumed state: the step to stop at)
  int64_t epochs = 0;   ///< > 0: train this many passes over the training set instead of `steps`
  int64_t batch_size = 32;
  double learning_rate = 3e-3;
  OptimizerKind optimizer = OptimizerKind::adam;
  std::optional<double> weight_decay;  ///< unset: torch's default (adam 0, adamw 0.01, sgd 0)
  double momentum = 0;                 ///< sgd only (torch's default 0)
  ScheduleKind schedule = ScheduleKind::constant;
  int64_t warmup = 0;    ///< steps of linear warm-up from lr/warmup to lr
  double clip_grad = 0;  ///< > 0: clip the global gradient norm to this value
  uint64_t seed = 0;     ///< batch order (the model's initialisation is seeded by the caller)
  c10::Device device = c10::kCPU;
  bool progress = true;  ///< progress bar on stderr (a TTY) or plain periodic lines (a log)
  std::string label;     ///< shown before the bar
};

/// Throws Error naming the option and the value for settings the loop cannot use (steps < 1, lr <= 0,
/// warmup not shorter than the run, ...). `train_size` is the number of training samples.
void validate(const TrainOptions& options, int64_t train_size);

/// What the loop trains on: the training set and how a batch (model output, x, y) becomes a loss.
struct TrainingData {
  at::Tensor x, y;
  std::function<at::Tensor(const at::Tensor& output, const at::Tensor& x, const at::Tensor& y)> loss;
};

/// The end of an epoch (or of the run, when it stops inside one).
struct EpochEnd {
  int64_t epoch = 0;      ///< 1-based
  int64_t step = 0;       ///< optimiser steps done so far
  double train_loss = 0;  ///< mean training loss over the steps of this epoch
  double learning_rate = 0;
  bool last = false;  ///< the run ends here
};

/// The loop's result.
struct LoopResult {
  int64_t steps = 0;       ///< the step the run stopped at
  int64_t first_step = 1;  ///< 1, or the resumed step + 1
  double train_loss = 0;   ///< mean over the last epoch's steps (or the steps of a partial one)
  double last_batch_loss = 0;
  double seconds = 0;
};

/// A training run on one model: owns the optimiser; `run` trains up to total_steps(), `state()`
/// and `restore()` carry the optimiser state, the step and the CPU random state through a checkpoint.
///
///   eqnn::Trainer trainer(*model, {x, y, loss}, options);
///   trainer.run({});
///   eqnn::CheckpointInfo info{trainer.step()};
///   info.training = trainer.state();
class Trainer {
 public:
  Trainer(Model& model, TrainingData data, TrainOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t total_steps() const { return total_steps_; }
  int64_t step() const { return step_; }
  const TrainOptions& options() const { return options_; }
  /// The learning rate of step `step` (1-based) under the schedule and warm-up.
  double learning_rate_at(int64_t step) const;

  /// Called after every step with (step, loss, learning rate).
  std::function<void(int64_t, double, double)> on_step;
  /// Called at the end of every epoch and at the last step; what it returns (if not empty) is printed on
  /// stderr between progress lines (on a TTY every epoch; in a log, at most about 25 epochs).
  std::function<std::string(const EpochEnd&)> on_epoch;

  /// Trains from step() + 1 to total_steps().
  LoopResult run();

  /// The training state as a dict of plain values (torch.load reads it): format, step, optimiser name,
  /// per-parameter optimiser state by parameter name, the CPU generator state.
  at::IValue state() const;
  /// Restores a state(); throws Error naming `where` when it belongs to another optimiser or model, or
  /// when its step is not before total_steps().
  void restore(const at::IValue& state, const std::string& where);

 private:
  void write_progress(int64_t step, double loss, double rate, bool final);
  Model& model_;
  TrainingData data_;
  TrainOptions options_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<std::pair<std::string, at::Tensor>> params_;
  int64_t steps_per_epoch_ = 1, total_steps_ = 0, step_ = 0;
  bool tty_ = false;
  int64_t last_report_ = -1;
  double last_draw_ = -1;
};

// ---- your own data (eqnn train --data) ----

/// What `model` maps a data set's x to: the output shape for the first samples (eval mode, no grad).
/// Throws Error naming the file, x's shape and the model's input rep and size when x does not fit.
std::vector<int64_t> model_output_shape(Model& model, const TensorDataset& data);

/// Checks that `data` fits `model` under `loss`: x's last dimension is the input size, y has the shape
/// of the model's output (mse) or of its output without the class dimension (cross_entropy: logits last),
/// labels in [0, classes), the dtype of y matches the loss. Every message names the file, both shapes and
/// the model's in/out reps and sizes.
void check_fits(Model& model, const TensorDataset& data, LossKind loss);

/// The loss of a batch: mean squared error, or cross entropy of logits (class dimension last).
at::Tensor batch_loss(LossKind loss, const at::Tensor& output, const at::Tensor& y);

/// Metrics of `model` on `data` (eval mode, no grad, batches of 256): "loss" and, for mse,
/// "relative_error" = sqrt(MSE / mean(y^2)); for cross_entropy, "accuracy".
std::map<std::string, double> evaluate(Model& model, const TensorDataset& data, LossKind loss);

/// The name of the metric evaluate() adds besides "loss": relative_error or accuracy.
std::string metric_name(LossKind loss);
/// True when a smaller value of metric_name(loss) is better.
bool metric_lower_is_better(LossKind loss);

// ---- built-in tasks (tasks.hpp) ----

struct TrainResult {
  int64_t steps = 0;
  double final_train_loss = 0;  ///< mean over the last epoch
  double test_mse = 0;
  double test_relative_error = 0;  ///< sqrt(test MSE / MSE of the trivial prediction)
  double seconds = 0;
};

/// Trains on the task's training set with the shared loop, then evaluates on the held-out set (eval
/// mode). `on_step(step, loss)` is called after every step (CSV logging).
TrainResult train_model(Model& model, const Task& task, const TrainOptions& options,
                        const std::function<void(int64_t, double)>& on_step = {});
/// MSE and relative error of the model on the task's test set (eval mode, no grad).
std::pair<double, double> evaluate_model(Model& model, const Task& task);

/// The task's training set and loss, for a Trainer (x, y on the CPU).
TrainingData task_training_data(const Task& task);

}  // namespace eqnn
