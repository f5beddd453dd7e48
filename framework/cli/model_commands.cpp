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
#include "eqnn/error.hpp"
#include "eqnn/model.hpp"
#include "eqnn/registry.hpp"
#include "eqnn/tensor_data.hpp"
#include "eqnn/training.hpp"

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
  nlohmann::json out = {{"model", model.name()},
                        {"group", model.group()->name()},
                        {"order", model.group()->order()},
                        {"input_size", model.input_size()},
                        {"output_size", model.output_size()},
                        {"trainable", model.parameter_count()},
                        {"layers", layers}};
  fmt::print("{}\n", out.dump(2));
}

void describe(CliContext& context, const std::string& path, bool json) {
  auto model = load_model(context.registry(), path);
  if (json) return describe_json(*model);
  const Group& g = *model->group();
  fmt::print("model   {}\ngroup   {} (order {})\ninput   {}\noutput  {}\n\n", path, g.name(), g.order(),
             rep_cell(*model, model->input_rep(), model->input_size()),
             rep_cell(*model, model->output_rep(), model->output_size()));
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
  fmt::print("equivariance of '{}' on all {} elements of {} ({} on {}, tolerance {:g}, relative max error)\n\n",
             path, model->group()->order(), model->group()->name(), dtype_name, device.str(), tol);
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

void demo(CliContext& context, int64_t steps, uint64_t seed) {
  if (steps < 1) throw UsageError(fmt::format("--steps must be at least 1, found {}", steps));
  auto task = make_ring_task(8, seed);
  fmt::print("eqnn demo: {}\n", task->description());
  fmt::print("training set {} windows, held-out test set {} windows; {} Adam steps of batch 32 each\n\n",
             task->data().train_x.size(0), task->data().test_x.size(0), steps);
  struct Row {
    std::string name;
    double test = 0, equivariance = 0, seconds = 0;
    int64_t params = 0;
  };
  std::vector<Row> rows;
  for (auto [label, text] : {std::pair<std::string, const char*>{"equivariant (D8)", kDemoEquivariant},
                             std::pair<std::string, const char*>{"stock twin", kDemoStock}}) {
    torch::manual_seed(seed);
    const auto start = std::chrono::steady_clock::now();
    auto model = load_model_from_string(context.registry(), text, "<demo: " + label + ">");
    TrainOptions options;
    options.steps = steps;
    options.seed = seed;
    options.label = pad(label, 16);
    auto result = train_model(*model, *task, options);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    model->to(at::kDouble);
    auto checks = check_model(*model, at::kDouble, seed);
    rows.push_back(
        {label, result.test_relative_error, checks.back().max_error, seconds, model->parameter_count()});
  }
  fmt::print("\n");
  std::vector<std::vector<std::string>> table = {{"", rows[0].name, rows[1].name}};
  auto add = [&](const std::string& what, auto cell) {
    table.push_back({what, cell(rows[0]), cell(rows[1])});
  };
  add("relative test error", [](const Row& r) { return fmt::format("{:.4f}", r.test); });
  add("equivariance error", [](const Row& r) { return fmt::format("{:.2e}", r.equivariance); });
  add("trainable parameters", [](const Row& r) { return fmt::format("{}", r.params); });
  add("wall time", [](const Row& r) { return fmt::format("{:.1f} s", r.seconds); });
  print_table(table, {false, true, true});
  fmt::print(
      "\nrelative test error = sqrt(test MSE / MSE of predicting 'no change'); equivariance error = max over "
      "the 16 elements of D8 of the relative error of f(g·x) - g·f(x), in float64\n");
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
    auto* cmd = app.add_subcommand("run", "Apply a model to a tensor saved with torch.save (or the x of a data set file)");
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
        "demo", "Train a D8-equivariant transformer and its stock twin on the oscillator ring, side by side");
    auto steps = std::make_shared<int64_t>(2000);
    auto seed = std::make_shared<uint64_t>(0);
    cmd->add_option("--steps", *steps, "Adam steps for each model")->capture_default_str();
    cmd->add_option("--seed", *seed, "Seed")->capture_default_str();
    cmd->callback([&context, steps, seed] { demo(context, *steps, *seed); });
  }
}

}  // namespace eqnn::cli
