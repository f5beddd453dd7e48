// eqnn train: a model on your own tensors (--data TRAIN.pt [--val VAL.pt]) or on a built-in task, with
// the shared training loop (eqnn/training.hpp); checkpoints that resume exactly (--out, --resume), a CSV
// log and a JSON summary.
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/cuda.h>
#include <torch/utils.h>
#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "device_option.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/model/training.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::cli {
namespace {

struct TrainArgs {
  std::string model, task = "auto", data, val, loss, out, resume, init, log, optimizer = "adam",
                     schedule = "constant", device = "cpu";
  int64_t steps = 300, epochs = 0, batch_size = 32, warmup = 0;
  double lr = 3e-3, weight_decay = 0, momentum = 0, clip_grad = 0;
  uint64_t seed = 0;
  bool json = false;
  // which options were given
  bool has_steps = false, has_epochs = false, has_task = false, has_weight_decay = false, has_clip = false;
};

// The YAML of a model description without comments and formatting, to tell another model from an edit of
// the comments.
std::string normalised(const std::string& yaml) {
  try {
    return YAML::Dump(YAML::Load(yaml));
  } catch (const YAML::Exception&) {
    return yaml;
  }
}

std::string first_difference(const std::string& a, const std::string& b) {
  std::istringstream sa(a), sb(b);
  std::string la, lb;
  for (int line = 1;; ++line) {
    const bool ga = static_cast<bool>(std::getline(sa, la)), gb = static_cast<bool>(std::getline(sb, lb));
    if (!ga && !gb) return "";
    if (!ga) la = "(end)";
    if (!gb) lb = "(end)";
    if (la != lb) return fmt::format("checkpoint has '{}', MODEL has '{}'", la, lb);
  }
}

std::string best_path(const std::string& out) {
  const std::filesystem::path p(out);
  return (p.parent_path() / (p.stem().string() + ".best" + p.extension().string())).string();
}

std::string fmt_metric(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? "" : fmt::format("{:.8g}", it->second);
}

nlohmann::json json_metric(const std::map<std::string, double>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? nlohmann::json(nullptr) : nlohmann::json(it->second);
}

// A CSV log written as training goes: one row per step; metric cells filled on the row that ends an
// epoch (validation) or the run (test).
class CsvLog {
 public:
  CsvLog(const std::string& path, std::vector<std::string> metrics)
      : path_(path), metrics_(std::move(metrics)) {
    if (path.empty()) return;
    out_.open(path, std::ios::trunc);
    if (!out_) throw Error(fmt::format("cannot write the log '{}': {}", path, std::strerror(errno)));
    out_ << "step,epoch,lr,train_loss";
    for (const auto& m : metrics_) out_ << "," << m;
    out_ << "\n";
  }
  bool enabled() const { return out_.is_open(); }
  void row(int64_t step, int64_t epoch, double lr, double loss) {
    if (!enabled()) return;
    flush_row();
    pending_ = fmt::format("{},{},{:.8g},{:.8g}", step, epoch, lr, loss);
    cells_.assign(metrics_.size(), "");
  }
  void metrics(const std::map<std::string, double>& values) {
    if (!enabled()) return;
    for (size_t i = 0; i < metrics_.size(); ++i) {
      auto it = values.find(metrics_[i]);
      if (it != values.end()) cells_[i] = fmt::format("{:.8g}", it->second);
    }
  }
  void close() {
    if (!enabled()) return;
    flush_row();
    out_.close();
    if (!out_) throw Error(fmt::format("cannot write the log '{}'", path_));
  }

 private:
  void flush_row() {
    if (pending_.empty()) return;
    out_ << pending_;
    for (const auto& c : cells_) out_ << "," << c;
    out_ << "\n";
    pending_.clear();
  }
  std::string path_;
  std::vector<std::string> metrics_;
  std::ofstream out_;
  std::string pending_;
  std::vector<std::string> cells_;
};

void check_combinations(const TrainArgs& a) {
  if (a.has_steps && a.has_epochs) {
    throw UsageError(
        fmt::format("--steps {} and --epochs {} both given: give one (--steps counts optimiser "
                    "steps, --epochs passes over the training set)",
                    a.steps, a.epochs));
  }
  if (a.has_epochs && a.epochs < 1)
    throw UsageError(fmt::format("--epochs must be at least 1, found {}", a.epochs));
  if (a.data.empty()) {
    for (const auto& [given, name] :
         {std::pair{!a.val.empty(), "--val"}, std::pair{!a.loss.empty(), "--loss"}}) {
      if (given)
        throw UsageError(fmt::format("{} needs --data TRAIN.pt (the built-in tasks bring their own)", name));
    }
  } else if (a.has_task) {
    throw UsageError(
        fmt::format("--task {} and --data {} both given: train on a built-in task or on your data, "
                    "not both",
                    a.task, a.data));
  }
  if (!a.resume.empty() && !a.init.empty()) {
    throw UsageError(
        "--resume and --init both given: --resume continues a run (weights, optimiser state, "
        "step), --init starts a new run from a checkpoint's weights");
  }
  if (a.has_clip && !(a.clip_grad > 0)) {
    throw UsageError(fmt::format("--clip-grad must be a positive gradient norm, found {:g}", a.clip_grad));
  }
}

OptimizerKind optimizer_kind(const std::string& s) {
  return s == "adamw" ? OptimizerKind::adamw : s == "sgd" ? OptimizerKind::sgd : OptimizerKind::adam;
}

void train(CliContext& context, const TrainArgs& a) {
  check_combinations(a);
  TrainOptions options;
  options.steps = a.steps;
  options.epochs = a.has_epochs ? a.epochs : 0;
  options.batch_size = a.batch_size;
  options.learning_rate = a.lr;
  options.optimizer = optimizer_kind(a.optimizer);
  if (a.has_weight_decay) options.weight_decay = a.weight_decay;
  options.momentum = a.momentum;
  options.schedule = a.schedule == "cosine" ? ScheduleKind::cosine : ScheduleKind::constant;
  options.warmup = a.warmup;
  options.clip_grad = a.clip_grad;
  options.seed = a.seed;
  options.device = parse_device(a.device);
  // Human-readable lines go to stdout, or to stderr when stdout carries the JSON summary.
  std::FILE* text = a.json ? stderr : stdout;

  torch::manual_seed(a.seed);
  auto model = load_model(context.registry(), a.model);
  std::vector<std::string> needs;
  for (const auto& e : model->extra_inputs())
    if (e.required) needs.push_back(e.name);
  if (!needs.empty())
    throw Error(
        fmt::format("{}: its first layer also takes {} (extra inputs); eqnn train feeds x only: train it "
                    "from Python, model(x, {}), or C++, model->forward(x, {{...}})",
                    a.model, fmt::join(needs, ", "), fmt::join(needs, ", ")));
  if (!a.init.empty()) load_checkpoint(*model, a.init);

  // ---- the data: your tensors or a built-in task ----
  std::optional<TensorDataset> train_set, val_set;
  std::unique_ptr<Task> task;
  LossKind loss = LossKind::mse;
  TrainingData data;
  if (!a.data.empty()) {
    train_set = load_dataset(a.data);
    if (!a.loss.empty()) {
      loss = a.loss == "cross_entropy" ? LossKind::cross_entropy : LossKind::mse;
    } else {
      loss = train_set->has_labels() ? LossKind::cross_entropy : LossKind::mse;
    }
    check_fits(*model, *train_set, loss);
    if (!a.val.empty()) {
      val_set = load_dataset(a.val);
      check_fits(*model, *val_set, loss);
    }
    data = {train_set->x, train_set->y,
            [loss](const at::Tensor& out, const at::Tensor&, const at::Tensor& y) {
              return batch_loss(loss, out, y);
            }};
  } else {
    task = make_task(a.task, *model, a.seed);
    data = task_training_data(*task);
  }

  Trainer trainer(*model, data, options);
  std::string resumed;
  if (!a.resume.empty()) {
    const std::string where = fmt::format("--resume '{}'", a.resume);
    const std::string stored = checkpoint_source(a.resume);
    if (normalised(stored) != normalised(model->source())) {
      throw Error(
          fmt::format("{}: the checkpoint was written for another model than '{}' ({}); resume with the "
                      "model it was trained with (its description is stored in the checkpoint)",
                      where, a.model, first_difference(normalised(stored), normalised(model->source()))));
    }
    CheckpointInfo info = load_checkpoint(*model, a.resume);
    trainer.restore(info.training, where);
    resumed = a.resume;
  }

  // ---- header ----
  const int64_t params = model->parameter_count();
  fmt::print(text, "model   {} ({} trainable parameters, group {})\n", a.model, params,
             model->group()->name());
  if (train_set) {
    fmt::print(text, "data    {}: {} samples, x {} -> y {} ({}){}\n", a.data, train_set->size(),
               fmt::join(train_set->x.sizes(), "x"), fmt::join(train_set->y.sizes(), "x"), to_string(loss),
               val_set ? fmt::format("; validation {}: {} samples", a.val, val_set->size()) : "; no --val");
  } else {
    fmt::print(text, "task    {}: {}\n", task->name(), task->description());
  }
  const double epochs =
      static_cast<double>(trainer.total_steps()) / static_cast<double>(trainer.steps_per_epoch());
  fmt::print(text, "train   {} steps ({:.3g} epochs of {}), batch {}, {} lr {:g} ({}{}){}{}, seed {}, {}\n",
             trainer.total_steps(), epochs, trainer.steps_per_epoch(),
             std::min<int64_t>(a.batch_size, data.x.size(0)), a.optimizer, a.lr, a.schedule,
             a.warmup > 0 ? fmt::format(", warm-up {}", a.warmup) : "",
             a.has_weight_decay ? fmt::format(", weight decay {:g}", a.weight_decay) : "",
             a.clip_grad > 0 ? fmt::format(", clip {:g}", a.clip_grad) : "", a.seed, options.device.str());
  if (!resumed.empty()) fmt::print(text, "resume  {} at step {}\n", resumed, trainer.step());
  std::fflush(text);

  // ---- hooks: log, validation, best checkpoint ----
  std::vector<std::string> columns;
  if (val_set) columns = {"val_loss", "val_" + metric_name(loss)};
  if (task) columns = {"test_mse", "test_relative_error"};
  CsvLog log(a.log, columns);
  const std::string best_file = !a.out.empty() && val_set ? best_path(a.out) : "";
  std::map<std::string, double> val_metrics, best_metrics;
  int64_t best_step = -1;
  const std::string label = train_set ? "data:" + a.data : task->name();
  auto save = [&](const std::string& path, const std::map<std::string, double>& metrics) {
    CheckpointInfo info;
    info.step = trainer.step();
    info.task = label;
    info.metrics = metrics;
    info.training = trainer.state();
    save_checkpoint(*model, context.registry(), path, info);
  };
  auto last_save = std::chrono::steady_clock::now();
  trainer.on_step = [&](int64_t step, double value, double lr) {
    log.row(step, (step - 1) / trainer.steps_per_epoch() + 1, lr, value);
  };
  trainer.on_epoch = [&](const EpochEnd& end) -> std::string {
    std::map<std::string, double> metrics = {{"train_loss", end.train_loss}};
    std::string line =
        fmt::format("epoch {}  step {}  train loss {:.5f}", end.epoch, end.step, end.train_loss);
    if (val_set) {
      val_metrics.clear();
      for (const auto& [k, v] : evaluate(*model, *val_set, loss)) val_metrics["val_" + k] = v;
      log.metrics(val_metrics);
      metrics.insert(val_metrics.begin(), val_metrics.end());
      const std::string metric = "val_" + metric_name(loss);
      line += fmt::format("  val loss {:.5f}", val_metrics.at("val_loss"));
      if (val_metrics.count(metric)) line += fmt::format("  {} {:.4f}", metric, val_metrics.at(metric));
      if (best_step < 0 || val_metrics.at("val_loss") < best_metrics.at("val_loss")) {
        best_metrics = metrics;
        best_step = end.step;
        line += "  (best)";
        if (!best_file.empty()) save(best_file, best_metrics);
      }
    }
    const auto now = std::chrono::steady_clock::now();
    if (!a.out.empty() && !end.last && now - last_save >= std::chrono::seconds(60)) {
      save(a.out, metrics);  // an interrupted run can --resume from here
      last_save = now;
    }
    return line;
  };

  const LoopResult result = trainer.run();

  // ---- results ----
  nlohmann::json summary = {
      {"model", a.model},
      {"parameters", params},
      {"steps", result.steps},
      {"epochs", static_cast<double>(result.steps) / trainer.steps_per_epoch()},
      {"batch_size", std::min<int64_t>(a.batch_size, data.x.size(0))},
      {"optimizer", a.optimizer},
      {"learning_rate", a.lr},
      {"schedule", a.schedule},
      {"seed", a.seed},
      {"device", options.device.str()},
      {"train_loss", result.train_loss},
      {"seconds", result.seconds},
      {"resumed_from", resumed.empty() ? nlohmann::json(nullptr) : nlohmann::json(resumed)}};
  std::map<std::string, double> final_metrics = {{"train_loss", result.train_loss}};
  if (task) {
    auto [mse, rel] = evaluate_model(*model, *task);
    final_metrics["test_mse"] = mse;
    final_metrics["test_relative_error"] = rel;
    log.metrics(final_metrics);
    summary["task"] = task->name();
    summary["test_mse"] = mse;
    summary["test_relative_error"] = rel;
    fmt::print(text,
               "result  final train loss {:.5f}, test MSE {:.5f}, relative test error {:.4f}, {:.1f} s\n",
               result.train_loss, mse, rel, result.seconds);
  } else {
    final_metrics.insert(val_metrics.begin(), val_metrics.end());
    const std::string metric = "val_" + metric_name(loss);
    summary["data"] = a.data;
    summary["val"] = val_set ? nlohmann::json(a.val) : nlohmann::json(nullptr);
    summary["loss"] = to_string(loss);
    summary["val_loss"] = json_metric(val_metrics, "val_loss");
    summary[metric] = json_metric(val_metrics, metric);
    summary["best_step"] = best_step > 0 ? nlohmann::json(best_step) : nlohmann::json(nullptr);
    summary["best_val_loss"] = json_metric(best_metrics, "val_loss");
    summary["best_" + metric] = json_metric(best_metrics, metric);
    std::string line = fmt::format("result  train loss {:.5f} (mean over the last epoch)", result.train_loss);
    if (val_set) {
      line += fmt::format(", val loss {:.5f}", val_metrics.at("val_loss"));
      if (val_metrics.count(metric)) line += fmt::format(", {} {:.4f}", metric, val_metrics.at(metric));
    }
    fmt::print(text, "{}, {} steps, {:.1f} s\n", line, result.steps, result.seconds);
  }
  log.close();
  if (!a.log.empty()) fmt::print(text, "log     {}\n", a.log);
  summary["log"] = a.log.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.log);
  summary["checkpoint"] = nullptr;
  summary["best_checkpoint"] = nullptr;
  if (!a.out.empty()) {
    save(a.out, final_metrics);
    summary["checkpoint"] = a.out;
    fmt::print(text, "saved   {} (last: step {})\n", a.out, result.steps);
    if (!best_file.empty() && best_step > 0) {
      summary["best_checkpoint"] = best_file;
      fmt::print(text, "best    {} (step {}, lowest val loss {:.5f})\n", best_file, best_step,
                 best_metrics.at("val_loss"));
    } else if (train_set) {
      fmt::print(text, "best    none (no --val to choose by)\n");
    }
  }
  if (a.json) fmt::print("{}\n", summary.dump(2));
}

}  // namespace

void add_train_command(CLI::App& app, CliContext& context) {
  auto* cmd = app.add_subcommand(
      "train",
      "Train a model on your tensors (--data TRAIN.pt) or on a built-in task; checkpoints resume exactly");
  auto a = std::make_shared<TrainArgs>();
  cmd->add_option("MODEL", a->model, "Model description (YAML)")->required();
  cmd->add_option("--data", a->data,
                  "Training set: torch.save({'x': x, 'y': y}, path); x (N, [T,] D_in) float, y the model's "
                  "output shape (float) or class labels (N[, T]) (int64)");
  cmd->add_option("--val", a->val,
                  "Validation set (same layout); evaluated every epoch, picks the best checkpoint");
  cmd->add_option("--loss", a->loss,
                  "mse or cross_entropy (logits last); default: cross_entropy for integer y")
      ->check(CLI::IsMember({"mse", "cross_entropy"}));
  auto* task = cmd->add_option("--task", a->task, "Built-in task without --data: auto, ring or teacher")
                   ->check(CLI::IsMember({"auto", "ring", "teacher"}))
                   ->capture_default_str();
  auto* steps =
      cmd->add_option("--steps", a->steps, "Optimiser steps in all (with --resume: counted from the start)")
          ->capture_default_str();
  auto* epochs = cmd->add_option("--epochs", a->epochs, "Passes over the training set instead of --steps");
  cmd->add_option("--batch-size", a->batch_size, "Batch size")->capture_default_str();
  cmd->add_option("--lr", a->lr, "Learning rate")->capture_default_str();
  cmd->add_option("--optimizer", a->optimizer, "adam, adamw or sgd")
      ->check(CLI::IsMember({"adam", "adamw", "sgd"}))
      ->capture_default_str();
  auto* wd = cmd->add_option("--weight-decay", a->weight_decay,
                             "Weight decay (default: torch's for the optimiser: adam 0, adamw 0.01, sgd 0)");
  cmd->add_option("--momentum", a->momentum, "SGD momentum")->capture_default_str();
  cmd->add_option("--schedule", a->schedule, "Learning rate: constant or cosine (to 0 at the last step)")
      ->check(CLI::IsMember({"constant", "cosine"}))
      ->capture_default_str();
  cmd->add_option("--warmup", a->warmup, "Steps of linear learning-rate warm-up")->capture_default_str();
  auto* clip = cmd->add_option("--clip-grad", a->clip_grad, "Clip the gradient norm to this value");
  cmd->add_option("--seed", a->seed, "Seed for the initialisation, the task data and the batch order")
      ->capture_default_str();
  add_device_option(cmd, a->device);
  cmd->add_option(
      "--out", a->out,
      "Checkpoint of the last step (with --val also OUT.best.pt, the lowest val loss); both resume");
  cmd->add_option("--resume", a->resume,
                  "Continue a run from its checkpoint: weights, optimiser state, step");
  cmd->add_option("--init", a->init, "Start a new run from a checkpoint's weights (no optimiser state)");
  cmd->add_option("--log", a->log, "Write step, epoch, lr, train loss (and val/test metrics) as CSV here");
  cmd->add_flag("--json", a->json, "Print one JSON object with the results on stdout (the rest on stderr)");
  cmd->callback([&context, a, steps, epochs, task, wd, clip] {
    a->has_steps = steps->count() > 0;
    a->has_epochs = epochs->count() > 0;
    a->has_task = task->count() > 0;
    a->has_weight_decay = wd->count() > 0;
    a->has_clip = clip->count() > 0;
    train(context, *a);
  });
}

}  // namespace eqnn::cli
