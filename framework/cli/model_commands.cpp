// Model commands: eqnn describe / check / run / export / demo (train: train_command.cpp).
#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "device_option.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/model/training.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::cli {
namespace {

std::string pad(const std::string& s, size_t width) {
  // Pads by display width (counts UTF-8 code points), so "θ" lines up.
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n >= width ? s : s + std::string(width - n, ' ');
}

void print_table(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right = {}) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) {
      size_t n = 0;
      for (unsigned char c : row[i]) n += (c & 0xC0) != 0x80;
      widths[i] = std::max(widths[i], n);
    }
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    std::string line;
    for (size_t i = 0; i < rows[r].size(); ++i) {
      const std::string& cell = rows[r][i];
      size_t n = 0;
      for (unsigned char c : cell) n += (c & 0xC0) != 0x80;
      const bool align_right = i < right.size() && right[i];
      std::string padded = align_right ? std::string(widths[i] - n, ' ') + cell : pad(cell, widths[i]);
      line += (i == 0 ? "" : "  ") + padded;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    fmt::print("{}\n", line);
    if (r == 0) {
      size_t total = 0;
      for (size_t w : widths) total += w + 2;
      fmt::print("{}\n", std::string(total - 2, '-'));
    }
  }
}

std::string rep_cell(const Model& model, const RepPtr& rep, int64_t size) {
  if (!rep) return fmt::format("({} features)", size);
  return fmt::format("{} [{}]", model.rep_label(rep), rep->size());
}

/// Loads the model with parameters from a checkpoint, or initialised from `seed`.
ModelPtr load_initialised(const Registry& registry, const std::string& path, const std::string& checkpoint,
                          uint64_t seed) {
  torch::manual_seed(seed);
  auto model = load_model(registry, path);
  if (checkpoint.empty()) return model;
  const auto info = load_checkpoint(*model, checkpoint);
  const std::string reprojected =
      info.reprojected.empty()
          ? std::string()
          : fmt::format("; {} constrained parameter(s) saved in another basis were re-projected exactly ({})",
                        info.reprojected.size(), fmt::join(info.reprojected, ", "));
  if (checkpoint_source(checkpoint) != model->source()) {
    fmt::print(stderr,
               "eqnn: warning: the model text of '{}' differs from the one stored in checkpoint '{}'; its "
               "weights were checked against this model's bases and load unchanged{}\n",
               path, checkpoint, reprojected);
  } else if (!reprojected.empty()) {
    fmt::print(stderr, "eqnn: note: checkpoint '{}'{}\n", checkpoint, reprojected);
  }
  return model;
}

nlohmann::json to_json(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return nullptr;
  if (node.IsSequence()) {
    auto out = nlohmann::json::array();
    for (const auto& item : node) out.push_back(to_json(item));
    return out;
  }
  if (node.IsMap()) {
    auto out = nlohmann::json::object();
    for (auto it = node.begin(); it != node.end(); ++it) out[it->first.Scalar()] = to_json(it->second);
    return out;
  }
  if (node.Tag() != "!") {  // plain scalars may be numbers or booleans; quoted ones are strings
    int64_t i = 0;
    double d = 0;
    bool b = false;
    if (YAML::convert<int64_t>::decode(node, i)) return i;
    if (YAML::convert<double>::decode(node, d)) return d;
    if (YAML::convert<bool>::decode(node, b)) return b;
  }
  return node.Scalar();
}

/// The structure of a model as JSON (tests and tools rebuild the stock equivalent from it).
const char* extra_kind(const ExtraInput& e) {
  switch (e.kind) {
    case ExtraInput::Kind::step:
      return "step";
    case ExtraInput::Kind::vector:
      return "vector";
    case ExtraInput::Kind::sequence:
      return "sequence";
  }
  return "?";
}

void describe_json(const Model& model) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& info : model.layer_infos()) {
    int64_t trainable = 0;
    for (const auto& p : info.layer->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
    layers.push_back(
        {{"path", info.path},
         {"type", info.type},
         {"depth", info.depth},
         {"in_size", info.in_size},
         {"out_size", info.out_size},
         {"in_rep", info.layer->in_rep() ? nlohmann::json(model.rep_label(info.layer->in_rep())) : nullptr},
         {"out_rep",
          info.layer->out_rep() ? nlohmann::json(model.rep_label(info.layer->out_rep())) : nullptr},
         {"trainable", trainable},
         {"unconstrained", info.layer->unconstrained_parameter_count()},
         {"kwargs", to_json(info.kwargs)}});
  }
  nlohmann::json extra = nlohmann::json::array();
  for (const auto& e : model.extra_inputs())
    extra.push_back({{"name", e.name},
                     {"kind", extra_kind(e)},
                     {"rep", e.rep ? nlohmann::json(model.rep_label(e.rep)) : nullptr},
                     {"size", e.rep ? nlohmann::json(e.rep->size()) : nullptr},
                     {"required", e.required},
                     {"max_length", e.length > 0 ? nlohmann::json(e.length) : nullptr}});
  nlohmann::json out = {{"model", model.name()},
                        {"group", model.group()->name()},
                        {"order", model.group()->is_compact() ? nlohmann::json(nullptr)
                                                              : nlohmann::json(model.group()->order())},
                        {"compact", model.group()->is_compact()},
                        {"input_size", model.input_size()},
                        {"extra_inputs", extra},
                        {"output_size", model.output_size()},
                        {"trainable", model.parameter_count()},
                        {"layers", layers}};
  fmt::print("{}\n", out.dump(2));
}

void describe(CliContext& context, const std::string& path, bool json) {
  auto model = load_model(context.registry(), path);
  if (json) return describe_json(*model);
  const Group& g = *model->group();
  fmt::print("model   {}\ngroup   {} ({})\ninput   {}\n", path, g.name(),
             g.is_compact() ? fmt::format("compact, band limit {}", g.band_limit())
                            : fmt::format("order {}", g.order()),
             rep_cell(*model, model->input_rep(), model->input_size()));
  // What forward takes after x (the first layer's extra inputs, in order), one line each.
  const auto extra = model->extra_inputs();
  for (size_t i = 0; i < extra.size(); ++i) {
    const auto& e = extra[i];
    std::string what = e.kind == ExtraInput::Kind::step
                           ? std::string("step, a scalar or (batch), invariant")
                           : extra_kind(e) + std::string(" of ") + rep_cell(*model, e.rep, e.rep->size());
    if (e.kind == ExtraInput::Kind::sequence && e.length > 0)
      what += fmt::format(", at most {} long", e.length);
    fmt::print("{}{}: {}{}\n", i == 0 ? "then    " : "        ", e.name, what,
               e.required ? "" : " (optional)");
  }
  fmt::print("output  {}\n\n", rep_cell(*model, model->output_rep(), model->output_size()));
  std::vector<std::vector<std::string>> rows = {
      {"layer", "type", "in rep", "out rep", "trainable", "unconstrained"}};
  for (const auto& info : model->layer_infos()) {
    int64_t trainable = 0;
    for (const auto& p : info.layer->parameters()) trainable += p.requires_grad() ? p.numel() : 0;
    rows.push_back({std::string(2 * info.depth, ' ') + info.path, info.type,
                    rep_cell(*model, info.layer->in_rep(), info.in_size),
                    rep_cell(*model, info.layer->out_rep(), info.out_size), fmt::format("{}", trainable),
                    fmt::format("{}", info.layer->unconstrained_parameter_count())});
  }
  const int64_t total = model->parameter_count();
  const int64_t stock = model->unconstrained_parameter_count();
  rows.push_back({"total", "", "", "", fmt::format("{}", total), fmt::format("{}", stock)});
  print_table(rows, {false, false, false, false, true, true});
  if (stock > total)
    fmt::print("\n{} trainable parameters, {:.1f}x fewer than the unconstrained equivalent\n", total,
               static_cast<double>(stock) / std::max<int64_t>(total, 1));
}

void check(CliContext& context, const std::string& path, const std::string& dtype_name, uint64_t seed,
           const std::string& device_name) {
  const c10::Device device = parse_device(device_name);
  at::ScalarType dtype = at::kFloat;
  if (dtype_name == "float64") {
    dtype = at::kDouble;
  } else if (dtype_name != "float32") {
    throw UsageError(fmt::format("--dtype must be float32 or float64, found '{}'", dtype_name));
  }
  torch::manual_seed(seed);
  auto model = load_model(context.registry(), path);
  model->to(device, dtype);
  const double tol = equivariance_tolerance(dtype);
  auto results = check_model(*model, dtype, seed);
  const Group& group = *model->group();
  // A compact group: Haar-random elements and elements near the identity (each result's note says how many).
  const std::string elements =
      group.is_compact() ? fmt::format("Haar-random elements (seed {}) and elements near the identity of {}",
                                       seed, group.name())
                         : fmt::format("all {} elements of {}", group.order(), group.name());
  fmt::print("equivariance of '{}' on {} ({} on {}, tolerance {:g}, relative max error)\n\n", path, elements,
             dtype_name, device.str(), tol);
  std::vector<std::vector<std::string>> rows = {{"layer", "type", "error", "worst g", "status"}};
  std::vector<std::string> failures;
  for (const auto& r : results) {
    std::string error = "n/a", worst = "", status = r.note;
    if (r.checked) {
      error = fmt::format("{:.3e}", r.max_error);
      worst = fmt::format("{}", r.worst_element);
      const bool ok = within_tolerance(r, tol);
      status = ok ? "ok" : "FAIL";
      if (!r.note.empty()) status += " (" + r.note + ")";
      if (!ok)
        failures.push_back(std::isfinite(r.max_error) ? fmt::format("{} ({:.3e})", r.path, r.max_error)
                                                      : fmt::format("{} ({})", r.path, r.note));
    } else if (r.path == "model") {
      failures.push_back("model (" + r.note + ")");
      status = "FAIL: " + r.note;
    }
    rows.push_back({r.path, r.type, error, worst, status});
  }
  print_table(rows, {false, false, true, true, false});
  if (!failures.empty()) {
    throw Error(fmt::format("'{}' is not equivariant within {:g}: {}", path, tol, fmt::join(failures, ", ")));
  }
  fmt::print("\nequivariant: every checked layer and the whole model are within {:g}\n", tol);
}

void run(CliContext& context, const std::string& path, const std::string& checkpoint, uint64_t seed,
         const std::string& input, const std::string& output, const std::string& device_name) {
  const c10::Device device = parse_device(device_name);
  auto model = load_initialised(context.registry(), path, checkpoint, seed);
  // A bare tensor (torch.save(x, path)) or a data set file {"x": x[, "y": y]}, as `eqnn train --data` reads.
  const TensorDataset inputs = load_inputs(input);
  const at::Tensor& x = inputs.x;
  model->to(device, x.scalar_type());
  const LossKind loss = inputs.has_labels() ? LossKind::cross_entropy : LossKind::mse;
  if (inputs.y.defined()) check_fits(*model, inputs, loss);
  model->eval();
  at::Tensor y;
  try {
    torch::NoGradGuard no_grad;
    y = model->forward(x.to(device)).cpu();
  } catch (const c10::Error& e) {
    throw Error(fmt::format("input '{}': {}", input, e.what_without_backtrace()));
  }
  save_tensor_file(y, output);
  fmt::print(stderr, "{} {} -> {} {}\n", input, fmt::join(x.sizes(), "x"), output, fmt::join(y.sizes(), "x"));
  if (inputs.y.defined()) {
    const auto metrics = evaluate(*model, inputs, loss);
    const std::string metric = metric_name(loss);
    fmt::print(stderr, "y in {}: {} loss {:.6g}{}\n", input, to_string(loss), metrics.at("loss"),
               metrics.count(metric) ? fmt::format(", {} {:.6g}", metric, metrics.at(metric)) : "");
  }
}

void export_command(CliContext& context, const std::string& path, const std::string& checkpoint,
                    uint64_t seed, const std::string& out, const std::string& dtype) {
  auto model = load_initialised(context.registry(), path, checkpoint, seed);
  if (dtype == "float64") model->to(at::kDouble);
  model->eval();
  export_weights(*model, out);
  auto weights = model->effective_parameters();
  fmt::print("wrote {} tensors to {}:\n", weights.size(), out);
  for (const auto& [name, t] : weights) fmt::print("  {} [{}]\n", name, fmt::join(t.sizes(), ", "));
}

// ---- demo ----

constexpr const char* kDemoEquivariant = R"(eqnn: 1
description: D8-equivariant transformer for a ring of 8 oscillators (pre-residual blocks, no norms)
group: D8
reps:
  x: permutation(vertices)
  h: 4x regular
  f: 8x regular
input: x
layers:
  - {type: eLinear, out_rep: h}
  - type: Sequential
    repeat: 2
    layers:
      - {type: Residual, layers: [{type: eMultiheadAttention, num_heads: 4}]}
      - {type: Residual, layers: [{type: eLinear, out_rep: f}, {type: eReLU}, {type: eLinear, out_rep: h}]}
  - {type: eLinear, out_rep: x}
)";

constexpr const char* kDemoStock = R"(eqnn: 1
description: the stock twin (the same file without the e prefixes)
group: D8
reps:
  x: permutation(vertices)
input: x
output: x
layers:
  - {type: Linear, out_features: 64}
  - type: Sequential
    repeat: 2
    layers:
      - {type: Residual, layers: [{type: MultiheadAttention, num_heads: 4}]}
      - {type: Residual, layers: [{type: Linear, out_features: 128}, {type: ReLU}, {type: Linear, out_features: 64}]}
  - {type: Linear, out_features: 8}
)";

struct DemoRun {
  double test = 0, equivariance = 0, seconds = 0;
  int64_t params = 0;
};

DemoRun demo_run(CliContext& context, const std::string& label, const char* text, const Task& task,
                 int64_t steps, uint64_t seed) {
  torch::manual_seed(seed);
  const auto start = std::chrono::steady_clock::now();
  auto model = load_model_from_string(context.registry(), text, "<demo: " + label + ">");
  TrainOptions options;
  options.steps = steps;
  options.seed = seed;
  options.label = label;
  auto result = train_model(*model, task, options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  model->to(at::kDouble);
  auto checks = check_model(*model, at::kDouble, seed);
  return {result.test_relative_error, checks.back().max_error, seconds, model->parameter_count()};
}

// "0.0412" or, over several seeds, "0.0412 ± 0.0031" (mean ± sample standard deviation).
std::string mean_spread(const std::vector<double>& v, const char* format) {
  double mean = 0;
  for (double x : v) mean += x / static_cast<double>(v.size());
  if (v.size() < 2) return fmt::format(fmt::runtime(format), mean);
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean) / static_cast<double>(v.size() - 1);
  return fmt::format(fmt::runtime(format), mean) + " ± " + fmt::format(fmt::runtime(format), std::sqrt(var));
}

void demo(CliContext& context, int64_t steps, uint64_t seed, const std::vector<int64_t>& sizes, int64_t seeds,
          int64_t threads) {
  if (steps < 1) throw UsageError(fmt::format("--steps must be at least 1, found {}", steps));
  if (threads < 1) throw UsageError(fmt::format("--threads must be at least 1, found {}", threads));
  at::set_num_threads(static_cast<int>(threads));
  if (seeds < 1) throw UsageError(fmt::format("--seeds must be at least 1, found {}", seeds));
  if (sizes.empty())
    throw UsageError("--sizes needs at least one training-set size, e.g. --sizes 128,512,2048");
  for (int64_t n : sizes)
    if (n < 1) throw UsageError(fmt::format("--sizes: a training set needs at least 1 window, found {}", n));
  const auto start = std::chrono::steady_clock::now();
  fmt::print("eqnn demo: {}\n", make_ring_task(8, seed, 1)->description());
  fmt::print(
      "the D8-equivariant transformer and its stock twin, trained with identical settings ({} Adam steps, "
      "batch 32, lr 3e-3) on {} training windows, {}; test set: the same 512 held-out windows\n\n",
      steps, fmt::join(sizes, " / "),
      seeds == 1 ? fmt::format("seed {}", seed) : fmt::format("seeds {}..{}", seed, seed + seeds - 1));
  struct Row {
    std::vector<DemoRun> eq, stock;
  };
  std::vector<Row> rows;
  for (int64_t n : sizes) {
    Row row;
    for (int64_t k = 0; k < seeds; ++k) {
      const uint64_t s = seed + static_cast<uint64_t>(k);
      auto task = make_ring_task(8, s, n);
      const std::string tag = fmt::format("{:>5} windows, seed {}", n, s);
      row.eq.push_back(demo_run(context, pad("equivariant " + tag, 36), kDemoEquivariant, *task, steps, s));
      row.stock.push_back(demo_run(context, pad("stock twin  " + tag, 36), kDemoStock, *task, steps, s));
    }
    rows.push_back(std::move(row));
  }
  auto column = [](const std::vector<DemoRun>& runs, double DemoRun::*field) {
    std::vector<double> v;
    for (const auto& r : runs) v.push_back(r.*field);
    return v;
  };
  std::vector<std::vector<std::string>> table = {{"training windows", "equivariant (D8)", "stock twin",
                                                  "ratio", "equivariance error", "(stock)", "time",
                                                  "(stock)"}};
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    std::vector<double> ratio;
    for (size_t k = 0; k < r.eq.size(); ++k) ratio.push_back(r.eq[k].test / r.stock[k].test);
    auto worst = [&](const std::vector<DemoRun>& runs) {
      double w = 0;
      for (const auto& x : runs) w = std::max(w, x.equivariance);
      return fmt::format("{:.1e}", w);
    };
    table.push_back({fmt::format("{}", sizes[i]), mean_spread(column(r.eq, &DemoRun::test), "{:.4f}"),
                     mean_spread(column(r.stock, &DemoRun::test), "{:.4f}"), mean_spread(ratio, "{:.2f}"),
                     worst(r.eq), worst(r.stock),
                     mean_spread(column(r.eq, &DemoRun::seconds), "{:.0f}") + " s",
                     mean_spread(column(r.stock, &DemoRun::seconds), "{:.0f}") + " s"});
  }
  fmt::print("\nrelative test error (mean ± sd over seeds where more than one):\n\n");
  print_table(table, {true, true, true, true, true, true, true, true});
  const double total = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      "\ntrainable parameters: equivariant {}, stock twin {}; whole demo {:.0f} s\n"
      "relative test error = sqrt(test MSE / MSE of predicting 'no change'); ratio = equivariant / stock "
      "(per seed); equivariance error = max over the 16 elements of D8 of the relative error of "
      "f(g·x) - g·f(x), in float64 (worst over seeds)\n",
      rows[0].eq[0].params, rows[0].stock[0].params, total);
}

// MODEL plus where its parameters come from: --checkpoint CKPT or --seed S (run and export).
void add_model_source(CLI::App* cmd, std::string& path, std::string& checkpoint, uint64_t& seed) {
  cmd->add_option("MODEL", path, "Model description (YAML)")->required();
  auto* ckpt = cmd->add_option("--checkpoint", checkpoint, "Parameters from this checkpoint");
  cmd->add_option("--seed", seed, "Initialise with this seed instead")->excludes(ckpt)->capture_default_str();
}

}  // namespace

void add_model_commands(CLI::App& app, CliContext& context) {
  {
    auto* cmd = app.add_subcommand("describe", "Describe a YAML model: layers, reps, parameter counts");
    auto path = std::make_shared<std::string>();
    auto json = std::make_shared<bool>(false);
    cmd->add_option("MODEL", *path, "Model description (YAML)")->required();
    cmd->add_flag("--json", *json,
                  "Print the structure as JSON (path, type, sizes, reps, keyword arguments)");
    cmd->callback([&context, path, json] { describe(context, *path, *json); });
  }
  {
    auto* cmd = app.add_subcommand("check", "Check the equivariance of every layer and of the whole model");
    struct Args {
      std::string path, dtype = "float32", device = "cpu";
      uint64_t seed = 0;
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("MODEL", a->path, "Model description (YAML)")->required();
    cmd->add_option("--dtype", a->dtype, "float32 (tolerance 1e-5) or float64 (1e-10)")
        ->check(CLI::IsMember({"float32", "float64"}))
        ->capture_default_str();
    cmd->add_option("--seed", a->seed, "Seed for the initialisation and the random input")
        ->capture_default_str();
    add_device_option(cmd, a->device);
    cmd->callback([&context, a] { check(context, a->path, a->dtype, a->seed, a->device); });
  }
  add_train_command(app, context);  // train_command.cpp
  {
    auto* cmd = app.add_subcommand(
        "run", "Apply a model to a tensor saved with torch.save (or the x of a data set file)");
    struct Args {
      std::string path, checkpoint, input, output, device = "cpu";
      uint64_t seed = 0;
    };
    auto a = std::make_shared<Args>();
    add_model_source(cmd, a->path, a->checkpoint, a->seed);
    cmd->add_option("--input", a->input,
                    "Input: torch.save(x, path), or a data set {'x': x[, 'y': y]} (with y: prints the loss)")
        ->required();
    cmd->add_option("--output", a->output, "Output tensor (torch.load reads it)")->required();
    add_device_option(cmd, a->device);
    cmd->callback(
        [&context, a] { run(context, a->path, a->checkpoint, a->seed, a->input, a->output, a->device); });
  }
  {
    auto* cmd = app.add_subcommand("export", "Write the effective weights under stock PyTorch names");
    struct Args {
      std::string path, checkpoint, out, dtype = "float32";
      uint64_t seed = 0;
    };
    auto a = std::make_shared<Args>();
    add_model_source(cmd, a->path, a->checkpoint, a->seed);
    cmd->add_option("--out", a->out, "Output file (a dict of tensors; torch.load reads it)")->required();
    cmd->add_option("--dtype", a->dtype, "Compute the effective weights in float32 or float64")
        ->check(CLI::IsMember({"float32", "float64"}))
        ->capture_default_str();
    cmd->callback(
        [&context, a] { export_command(context, a->path, a->checkpoint, a->seed, a->out, a->dtype); });
  }
  {
    auto* cmd = app.add_subcommand(
        "demo",
        "Train a D8-equivariant transformer and its stock twin on the oscillator ring at several "
        "training-set sizes, side by side");
    struct Args {
      int64_t steps = 2000, seeds = 3, threads = 1;
      uint64_t seed = 0;
      std::vector<int64_t> sizes = {128, 512, 2048};
    };
    auto a = std::make_shared<Args>();
    cmd->add_option("--steps", a->steps, "Adam steps for each model")->capture_default_str();
    cmd->add_option("--seed", a->seed, "First seed (data, initialisation, batches)")->capture_default_str();
    cmd->add_option("--seeds", a->seeds, "Seeds per training-set size (mean ± sd)")->capture_default_str();
    cmd->add_option("--sizes", a->sizes, "Training-set sizes in windows")
        ->delimiter(',')
        ->capture_default_str();
    cmd->add_option("--threads", a->threads,
                    "Intra-op threads; the demo's models are tiny, and more threads than free cores make "
                    "OpenMP spin (measured 47x slower at 2 threads on a busy 2-core machine)")
        ->capture_default_str();
    cmd->callback([&context, a] { demo(context, a->steps, a->seed, a->sizes, a->seeds, a->threads); });
  }
}

}  // namespace eqnn::cli
