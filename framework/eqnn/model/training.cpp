// The shared training loop (Trainer), its checkpointable state, and the checks and metrics for training
// on a data set file.
//
// Batches: every epoch is a fresh permutation of the training set drawn from (seed, epoch), cut into
// batches of batch_size (the last one may be smaller). Step s belongs to epoch (s - 1) / steps_per_epoch,
// so a resumed run draws exactly the batches the uninterrupted run would have drawn.
#include "eqnn/model/training.hpp"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <tuple>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Dict.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include "eqnn/model/internal/ivalue_dict.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

constexpr const char* kStateFormat = "eqnn-training-state";
constexpr int64_t kStateVersion = 1;
constexpr int64_t kEvalBatch = 256;

std::string shape_of(at::IntArrayRef sizes) { return fmt::format("[{}]", fmt::join(sizes, ", ")); }

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  return fmt::format("{}:{:02d}", s / 60, s % 60);
}

at::ScalarType model_dtype(Model& model) {
  auto params = model.parameters();
  return params.empty() ? at::kFloat : params.front().scalar_type();
}

c10::Device model_device(Model& model) {
  auto params = model.parameters();
  return params.empty() ? c10::Device(c10::kCPU) : params.front().device();
}

uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  uint64_t h = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 17;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 29);
}

// The model's in → out description for messages: "model 'm.yaml' (input rep x [4] → output rep x [4])".
std::string model_io(const Model& model) {
  auto rep = [&](const RepPtr& r, int64_t size) {
    return r ? fmt::format("rep {} [{}]", model.rep_label(r), size) : fmt::format("{} features", size);
  };
  return fmt::format("model '{}' (input {} -> output {})", model.name(),
                     rep(model.input_rep(), model.input_size()),
                     rep(model.output_rep(), model.output_size()));
}

at::IValue entry(const c10::impl::GenericDict& dict, const std::string& key, const std::string& where) {
  return detail::required_entry(dict, key, where + ": the training state");
}

// Adam and AdamW keep the same state per parameter.
template <class State>
void save_adam_state(const State& state, c10::impl::GenericDict& out) {
  out.insert("step", state.step());
  for (const auto& [key, t] : {std::pair<const char*, at::Tensor>{"exp_avg", state.exp_avg()},
                               {"exp_avg_sq", state.exp_avg_sq()},
                               {"max_exp_avg_sq", state.max_exp_avg_sq()}}) {
    if (t.defined()) out.insert(key, t.detach().cpu().contiguous());
  }
}

template <class State, class TensorOf>
std::unique_ptr<State> load_adam_state(int64_t step, const TensorOf& tensor) {
  auto state = std::make_unique<State>();
  state->step(step).exp_avg(tensor("exp_avg")).exp_avg_sq(tensor("exp_avg_sq"));
  if (at::Tensor m = tensor("max_exp_avg_sq"); m.defined()) state->max_exp_avg_sq(m);
  return state;
}

// The prediction error of "model output zero" (persistence for ring, zero for teacher): the scale the
// relative error is measured against.
double trivial_mse(const Task& task) {
  const auto& d = task.data();
  const at::Tensor zero_out = at::zeros_like(d.test_y);
  return at::mse_loss(task.predict(zero_out, d.test_x), d.test_y).item<double>();
}

}  // namespace

std::string to_string(OptimizerKind kind) {
  switch (kind) {
    case OptimizerKind::adam:
      return "adam";
    case OptimizerKind::adamw:
      return "adamw";
    case OptimizerKind::sgd:
      return "sgd";
  }
  return "?";
}

std::string to_string(ScheduleKind kind) { return kind == ScheduleKind::cosine ? "cosine" : "constant"; }

std::string to_string(LossKind kind) { return kind == LossKind::cross_entropy ? "cross_entropy" : "mse"; }

void validate(const TrainOptions& o, int64_t train_size) {
  if (o.epochs < 0) throw ConfigError(fmt::format("--epochs must be at least 1, found {}", o.epochs));
  if (o.epochs == 0 && o.steps < 1)
    throw ConfigError(fmt::format("--steps must be at least 1, found {}", o.steps));
  if (o.batch_size < 1)
    throw ConfigError(fmt::format("--batch-size must be at least 1, found {}", o.batch_size));
  if (!(o.learning_rate > 0) || !std::isfinite(o.learning_rate)) {
    throw ConfigError(
        fmt::format("--lr must be a positive number, found {:g} (the default is 3e-3)", o.learning_rate));
  }
  if (o.weight_decay && (!(*o.weight_decay >= 0) || !std::isfinite(*o.weight_decay))) {
    throw ConfigError(fmt::format("--weight-decay must be 0 or more, found {:g}", *o.weight_decay));
  }
  if (!(o.momentum >= 0 && o.momentum < 1)) {
    throw ConfigError(fmt::format("--momentum must be in [0, 1), found {:g}", o.momentum));
  }
  if (o.momentum > 0 && o.optimizer != OptimizerKind::sgd) {
    throw ConfigError(fmt::format("--momentum is an sgd setting; --optimizer {} has its own (betas)",
                                  to_string(o.optimizer)));
  }
  if (o.clip_grad < 0 || !std::isfinite(o.clip_grad)) {
    throw ConfigError(fmt::format("--clip-grad must be a positive gradient norm, found {:g}", o.clip_grad));
  }
  if (o.warmup < 0) throw ConfigError(fmt::format("--warmup must be 0 or more steps, found {}", o.warmup));
  if (train_size < 1) throw ConfigError("the training set is empty");
  const int64_t per_epoch =
      (train_size + std::min(o.batch_size, train_size) - 1) / std::min(o.batch_size, train_size);
  const int64_t total = o.epochs > 0 ? o.epochs * per_epoch : o.steps;
  if (o.warmup >= total) {
    throw ConfigError(fmt::format(
        "--warmup {} is not shorter than the run ({} steps); warm up for fewer steps", o.warmup, total));
  }
}

// ---- Trainer ----

Trainer::Trainer(Model& model, TrainingData data, TrainOptions options)
    : model_(model), data_(std::move(data)), options_(std::move(options)) {
  validate(options_, data_.x.size(0));
  model_.to(options_.device);
  const at::ScalarType dtype = model_dtype(model_);
  data_.x =
      data_.x.to(options_.device, at::isFloatingType(data_.x.scalar_type()) ? dtype : data_.x.scalar_type());
  data_.y =
      data_.y.to(options_.device, at::isFloatingType(data_.y.scalar_type()) ? dtype : data_.y.scalar_type());
  std::vector<at::Tensor> tensors;
  for (const auto& item : model_.named_parameters()) {
    if (!item.value().requires_grad()) continue;
    params_.emplace_back(item.key(), item.value());
    tensors.push_back(item.value());
  }
  if (tensors.empty()) {
    throw Error(fmt::format("model '{}' has no trainable parameters: nothing to train", model_.name()));
  }
  const double lr = options_.learning_rate;
  switch (options_.optimizer) {
    case OptimizerKind::adam:
      optimizer_ = std::make_unique<torch::optim::Adam>(
          tensors, torch::optim::AdamOptions(lr).weight_decay(options_.weight_decay.value_or(0.0)));
      break;
    case OptimizerKind::adamw:
      optimizer_ = std::make_unique<torch::optim::AdamW>(
          tensors, torch::optim::AdamWOptions(lr).weight_decay(options_.weight_decay.value_or(1e-2)));
      break;
    case OptimizerKind::sgd:
      optimizer_ = std::make_unique<torch::optim::SGD>(
          tensors, torch::optim::SGDOptions(lr)
                       .momentum(options_.momentum)
                       .weight_decay(options_.weight_decay.value_or(0.0)));
      break;
  }
  const int64_t n = data_.x.size(0), batch = std::min(options_.batch_size, n);
  steps_per_epoch_ = (n + batch - 1) / batch;
  total_steps_ = options_.epochs > 0 ? options_.epochs * steps_per_epoch_ : options_.steps;
  tty_ = isatty(fileno(stderr)) != 0;
}

Trainer::~Trainer() = default;

double Trainer::learning_rate_at(int64_t step) const {
  const double lr = options_.learning_rate;
  const int64_t warmup = options_.warmup;
  if (warmup > 0 && step <= warmup) return lr * static_cast<double>(step) / static_cast<double>(warmup);
  if (options_.schedule == ScheduleKind::constant) return lr;
  const double progress = static_cast<double>(step - warmup - 1) /
                          static_cast<double>(std::max<int64_t>(1, total_steps_ - warmup));
  return lr * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, std::max(0.0, progress))));
}

void Trainer::write_progress(int64_t step, double loss, double rate, bool final) {
  const int64_t total = total_steps_;
  const int64_t epochs = (total + steps_per_epoch_ - 1) / steps_per_epoch_;
  const int64_t epoch = (step - 1) / steps_per_epoch_ + 1;
  const int width = 24;
  const int filled = static_cast<int>(width * step / total);
  const std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  fmt::print(stderr, "{}{}[{}] step {}/{}  epoch {}/{}  loss {:.5f}  {:.1f} steps/s  ETA {}{}",
             tty_ ? "\r\033[K" : "", options_.label.empty() ? "" : options_.label + " ", bar, step, total,
             epoch, epochs, loss, rate, format_duration((total - step) / rate), tty_ && !final ? "" : "\n");
  std::fflush(stderr);
}

LoopResult Trainer::run() {
  LoopResult result;
  result.first_step = step_ + 1;
  result.steps = step_;
  model_.train();
  const int64_t n = data_.x.size(0), batch = std::min(options_.batch_size, n);
  const int64_t total_epochs = (total_steps_ + steps_per_epoch_ - 1) / steps_per_epoch_;
  const int64_t report_every = std::max<int64_t>(1, (total_epochs + 24) / 25);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  at::Tensor order;
  int64_t order_epoch = -1;
  double epoch_sum = 0;
  int64_t epoch_count = 0;
  bool bar_open = false;
  for (int64_t step = step_ + 1; step <= total_steps_; ++step) {
    const int64_t epoch = (step - 1) / steps_per_epoch_, position = (step - 1) % steps_per_epoch_;
    if (epoch != order_epoch) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(epoch_seed(options_.seed, epoch));
      order = at::randperm(n, gen, at::TensorOptions().dtype(at::kLong)).to(options_.device);
      order_epoch = epoch;
    }
    const at::Tensor idx = order.narrow(0, position * batch, std::min(batch, n - position * batch));
    const at::Tensor x = data_.x.index_select(0, idx), y = data_.y.index_select(0, idx);
    const double lr = learning_rate_at(step);
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
    optimizer_->zero_grad();
    at::Tensor loss = data_.loss(model_.forward(x), x, y);
    loss.backward();
    if (options_.clip_grad > 0) {
      std::vector<at::Tensor> tensors;
      for (const auto& p : params_) tensors.push_back(p.second);
      torch::nn::utils::clip_grad_norm_(tensors, options_.clip_grad);
    }
    optimizer_->step();
    const double value = loss.item<double>();
    if (!std::isfinite(value)) {
      if (bar_open) fmt::print(stderr, "\n");
      throw Error(fmt::format(
          "training diverged at step {}: the loss is {} (learning rate {:g}); lower --lr, add --warmup or "
          "--clip-grad, or check the data's scale",
          step, value, lr));
    }
    step_ = step;
    result.steps = step;
    result.last_batch_loss = value;
    epoch_sum += value;
    ++epoch_count;
    if (on_step) on_step(step, value, lr);
    const bool last = step == total_steps_;
    if (options_.progress) {
      const double t = elapsed();
      const double rate = static_cast<double>(step - result.first_step + 1) / std::max(t, 1e-9);
      const int64_t tenth = step * 10 / total_steps_;
      const bool draw = tty_ ? (t - last_draw_ >= 0.1 || last || step == result.first_step)
                             : (tenth != last_report_ || last);
      if (draw) {
        last_draw_ = t;
        last_report_ = tenth;
        write_progress(step, value, rate, last);
        bar_open = tty_ && !last;
      }
    }
    if (position == steps_per_epoch_ - 1 || last) {
      EpochEnd end{epoch + 1, step, epoch_sum / static_cast<double>(epoch_count), lr, last};
      result.train_loss = end.train_loss;
      epoch_sum = 0;
      epoch_count = 0;
      if (on_epoch) {
        const std::string line = on_epoch(end);
        const bool report = last || (epoch + 1) % report_every == 0;
        if (options_.progress && report && !line.empty()) {
          fmt::print(stderr, "{}{}\n", tty_ && bar_open ? "\r\033[K" : "", line);
          std::fflush(stderr);
          last_draw_ = -1;  // redraw the bar below the line
          bar_open = false;
        }
        model_.train();
      }
    }
  }
  result.seconds = elapsed();
  return result;
}

// ---- the state a checkpoint stores (key "training") ----

at::IValue Trainer::state() const {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", kStateFormat);
  dict.insert("format_version", kStateVersion);
  dict.insert("step", step_);
  dict.insert("optimizer", to_string(options_.optimizer));
  dict.insert("learning_rate", options_.learning_rate);
  dict.insert("schedule", to_string(options_.schedule));
  dict.insert("warmup", options_.warmup);
  dict.insert("total_steps", total_steps_);
  dict.insert("seed", static_cast<int64_t>(options_.seed));
  c10::impl::GenericDict params(c10::StringType::get(), c10::AnyType::get());
  const auto& states = optimizer_->state();
  for (const auto& [name, p] : params_) {
    auto it = states.find(p.unsafeGetTensorImpl());
    if (it == states.end()) continue;  // no gradient yet (an unused parameter)
    c10::impl::GenericDict s(c10::StringType::get(), c10::AnyType::get());
    const auto* state = it->second.get();
    if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(state)) {
      save_adam_state(*adam, s);
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(state)) {
      save_adam_state(*adamw, s);
    } else if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(state)) {
      if (sgd->momentum_buffer().defined())
        s.insert("momentum_buffer", sgd->momentum_buffer().detach().cpu());
    }
    params.insert(name, s);
  }
  dict.insert("params", params);
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lock(gen.mutex());
    dict.insert("cpu_rng_state", gen.get_state());
  }
  return dict;
}

void Trainer::restore(const at::IValue& value, const std::string& where) {
  if (value.isNone()) {
    throw Error(
        fmt::format("{} has no optimiser state (it holds weights only: written by 'eqnn train' before "
                    "resuming existed, or by save_checkpoint without a Trainer state); start from its "
                    "weights with --init instead of --resume",
                    where));
  }
  const auto dict = detail::dict_value(value, where, "training");
  const at::IValue format = entry(dict, "format", where);
  if (!format.isString() || format.toStringRef() != kStateFormat) {
    throw Error(
        fmt::format("{}: 'training' is not an eqnn training state (no 'format: {}')", where, kStateFormat));
  }
  const std::string optimizer = entry(dict, "optimizer", where).toStringRef();
  if (optimizer != to_string(options_.optimizer)) {
    throw Error(
        fmt::format("{} holds {} optimiser state, but this run uses --optimizer {}; resume with "
                    "--optimizer {}, or start from its weights with --init",
                    where, optimizer, to_string(options_.optimizer), optimizer));
  }
  const int64_t step = entry(dict, "step", where).toInt();
  if (step >= total_steps_) {
    throw Error(
        fmt::format("{} is at step {}, and this run ends at step {} (--steps and --epochs count from "
                    "the start, not from the checkpoint); ask for more than {} steps",
                    where, step, total_steps_, step));
  }
  const auto stored = detail::dict_value(entry(dict, "params", where), where, "params");
  for (const auto& item : stored) {
    const std::string& name = item.key().toStringRef();
    bool known = false;
    for (const auto& p : params_) known = known || p.first == name;
    if (!known) {
      throw Error(
          fmt::format("{}: its optimiser state has parameter '{}', which model '{}' does not have "
                      "(a checkpoint of another model?)",
                      where, name, model_.name()));
    }
  }
  auto& states = optimizer_->state();
  states.clear();
  for (const auto& entry : params_) {
    // Named references, not a structured binding: lambdas below use them (C++17 cannot capture bindings).
    const auto& name = entry.first;
    const auto& p = entry.second;
    auto found = stored.find(name);
    if (found == stored.end()) continue;
    const auto s = detail::dict_value(found->value(), where, name);
    auto tensor = [&](const char* key) -> at::Tensor {
      auto it = s.find(key);
      if (it == s.end() || !it->value().isTensor()) return {};
      at::Tensor t = it->value().toTensor();
      if (t.sizes() != p.sizes()) {
        throw Error(
            fmt::format("{}: optimiser state '{}' of parameter '{}' has shape {}, the parameter {} "
                        "(a checkpoint of another model?)",
                        where, key, name, shape_of(t.sizes()), shape_of(p.sizes())));
      }
      return t.to(p.device(), p.scalar_type()).clone();
    };
    auto int_of = [&](const char* key) {
      auto it = s.find(key);
      return it != s.end() && it->value().isInt() ? it->value().toInt() : int64_t{0};
    };
    std::unique_ptr<torch::optim::OptimizerParamState> restored;
    switch (options_.optimizer) {
      case OptimizerKind::adam:
        restored = load_adam_state<torch::optim::AdamParamState>(int_of("step"), tensor);
        break;
      case OptimizerKind::adamw:
        restored = load_adam_state<torch::optim::AdamWParamState>(int_of("step"), tensor);
        break;
      case OptimizerKind::sgd: {
        auto sgd = std::make_unique<torch::optim::SGDParamState>();
        if (at::Tensor m = tensor("momentum_buffer"); m.defined()) sgd->momentum_buffer(m);
        restored = std::move(sgd);
        break;
      }
    }
    states[p.unsafeGetTensorImpl()] = std::move(restored);
  }
  if (auto it = dict.find("cpu_rng_state"); it != dict.end() && it->value().isTensor()) {
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(it->value().toTensor());
  }
  step_ = step;
}

// ---- your own data ----

std::vector<int64_t> model_output_shape(Model& model, const TensorDataset& data) {
  const at::Tensor& x = data.x;
  if (x.size(-1) != model.input_size()) {
    throw Error(
        fmt::format("data set '{}': x has shape {}, {} features per {}; {} takes {} (x's last "
                    "dimension must be the input rep's size)",
                    data.path, shape_of(x.sizes()), x.size(-1), x.dim() == 3 ? "token" : "sample",
                    model_io(model), model.input_size()));
  }
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  at::Tensor out;
  try {
    out = model.forward(
        x.narrow(0, 0, std::min<int64_t>(2, x.size(0))).to(model_device(model), model_dtype(model)));
  } catch (const c10::Error& e) {
    model.train(was_training);
    throw Error(fmt::format("data set '{}': {} cannot take x of shape {}: {}", data.path, model_io(model),
                            shape_of(x.sizes()), e.what_without_backtrace()));
  }
  model.train(was_training);
  std::vector<int64_t> shape(out.sizes().begin(), out.sizes().end());
  shape[0] = x.size(0);
  return shape;
}

void check_fits(Model& model, const TensorDataset& data, LossKind loss) {
  if (!data.y.defined()) throw Error(fmt::format("data set '{}' has no targets 'y'", data.path));
  const std::vector<int64_t> out = model_output_shape(model, data);
  const at::Tensor& y = data.y;
  const std::string maps =
      fmt::format("{} maps x {} to {}", model_io(model), shape_of(data.x.sizes()), shape_of(out));
  if (loss == LossKind::mse) {
    if (data.has_labels()) {
      throw Error(
          fmt::format("data set '{}': y holds integer class labels (shape {}); --loss mse needs "
                      "floating-point targets of the output's shape {} ({}); for classification use "
                      "--loss cross_entropy",
                      data.path, shape_of(y.sizes()), shape_of(out), maps));
    }
    if (y.sizes().vec() != out) {
      throw Error(fmt::format("data set '{}': y has shape {}, but {}; y must have the output's shape",
                              data.path, shape_of(y.sizes()), maps));
    }
    return;
  }
  const int64_t classes = out.back();
  const std::vector<int64_t> labels(out.begin(), out.end() - 1);
  if (!data.has_labels()) {
    throw Error(
        fmt::format("data set '{}': y is {} (shape {}); --loss cross_entropy needs integer class "
                    "labels (int64) of shape {}, one per {} ({}, logits last); for regression use "
                    "--loss mse",
                    data.path, c10::toString(y.scalar_type()), shape_of(y.sizes()), shape_of(labels),
                    labels.size() == 1 ? "sample" : "token", maps));
  }
  if (classes < 2) {
    throw Error(
        fmt::format("data set '{}': {}; cross entropy needs logits over at least 2 classes in the "
                    "output's last dimension",
                    data.path, maps));
  }
  if (y.sizes().vec() != labels) {
    throw Error(
        fmt::format("data set '{}': y has shape {}, but {}: logits over {} classes (last dimension), so "
                    "y must be the labels of shape {}",
                    data.path, shape_of(y.sizes()), maps, classes, shape_of(labels)));
  }
  const at::Tensor bad = at::nonzero(at::logical_or(y < 0, y >= classes));
  if (bad.size(0) > 0) {
    std::vector<int64_t> index(bad.size(1));
    at::Tensor value = y;
    for (int64_t i = 0; i < bad.size(1); ++i) {
      index[i] = bad[0][i].item<int64_t>();
      value = value.select(0, index[i]);
    }
    throw Error(
        fmt::format("data set '{}': y has label {} at index [{}] ({} label{} out of range in all); the "
                    "model's output has {} classes, so labels must be 0..{}",
                    data.path, value.item<int64_t>(), fmt::join(index, ", "), bad.size(0),
                    bad.size(0) == 1 ? "" : "s", classes, classes - 1));
  }
}

at::Tensor batch_loss(LossKind loss, const at::Tensor& output, const at::Tensor& y) {
  if (loss == LossKind::mse) return at::mse_loss(output, y);
  return at::cross_entropy_loss(output.reshape({-1, output.size(-1)}), y.reshape({-1}));
}

std::string metric_name(LossKind loss) { return loss == LossKind::mse ? "relative_error" : "accuracy"; }

bool metric_lower_is_better(LossKind loss) { return loss == LossKind::mse; }

std::map<std::string, double> evaluate(Model& model, const TensorDataset& data, LossKind loss) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const c10::Device device = model_device(model);
  const at::ScalarType dtype = model_dtype(model);
  double loss_sum = 0, second = 0;  // mse: sum of y^2; cross entropy: correct labels
  const int64_t n = data.size();
  for (int64_t start = 0; start < n; start += kEvalBatch) {
    const int64_t len = std::min(kEvalBatch, n - start);
    const at::Tensor x = data.x.narrow(0, start, len).to(device, dtype);
    at::Tensor y = data.y.narrow(0, start, len).to(device);
    const at::Tensor out = model.forward(x);
    if (loss == LossKind::mse) {
      y = y.to(out.scalar_type());
      loss_sum += at::mse_loss(out, y, at::Reduction::Sum).item<double>();
      second += y.to(at::kDouble).pow(2).sum().item<double>();
    } else {
      const at::Tensor logits = out.reshape({-1, out.size(-1)});
      loss_sum += at::cross_entropy_loss(logits, y.reshape({-1}), {}, at::Reduction::Sum).item<double>();
      second += logits.argmax(-1).eq(y.reshape({-1})).sum().item<double>();
    }
  }
  model.train(was_training);
  std::map<std::string, double> metrics;
  if (loss == LossKind::mse) {
    const auto count = static_cast<double>(data.y.numel());
    metrics["loss"] = loss_sum / count;
    if (second > 0) metrics["relative_error"] = std::sqrt(loss_sum / second);
  } else {
    const auto count = static_cast<double>(data.y.numel());
    metrics["loss"] = loss_sum / count;
    metrics["accuracy"] = second / count;
  }
  return metrics;
}

// ---- built-in tasks ----

std::pair<double, double> evaluate_model(Model& model, const Task& task) {
  torch::NoGradGuard no_grad;
  const bool was_training = model.is_training();
  model.eval();
  const auto& d = task.data();
  auto params = model.parameters();
  const c10::Device device = params.empty() ? c10::Device(c10::kCPU) : params.front().device();
  const at::ScalarType dtype = params.empty() ? at::kFloat : params.front().scalar_type();
  double sum = 0;
  const int64_t n = d.test_x.size(0);
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t len = std::min<int64_t>(256, n - start);
    at::Tensor x = d.test_x.narrow(0, start, len).to(device, dtype);
    at::Tensor y = d.test_y.narrow(0, start, len).to(device);
    auto pred = task.predict(model.forward(x), x);
    sum += at::mse_loss(pred.to(at::kFloat), y, at::Reduction::Sum).item<double>();
  }
  model.train(was_training);
  const double mse = sum / static_cast<double>(d.test_y.numel());
  const double reference = trivial_mse(task);
  return {mse, std::sqrt(mse / std::max(reference, 1e-30))};
}

TrainingData task_training_data(const Task& task) {
  const auto& d = task.data();
  return {d.train_x, d.train_y, [&task](const at::Tensor& output, const at::Tensor& x, const at::Tensor& y) {
            return at::mse_loss(task.predict(output, x), y);
          }};
}

TrainResult train_model(Model& model, const Task& task, const TrainOptions& options,
                        const std::function<void(int64_t, double)>& on_step) {
  Trainer trainer(model, task_training_data(task), options);
  if (on_step) trainer.on_step = [&on_step](int64_t step, double loss, double) { on_step(step, loss); };
  const LoopResult loop = trainer.run();
  TrainResult result;
  result.steps = loop.steps;
  result.final_train_loss = loop.train_loss;
  std::tie(result.test_mse, result.test_relative_error) = evaluate_model(model, task);
  result.seconds = loop.seconds;
  return result;
}

}  // namespace eqnn
