// `eqnn bench attention|encoder|linear|conv`: an equivariant layer built through the registry (as a model
// would) against the stock LibTorch computation of the same size, measured in the same run (alternating
// calls, medians after warm-up) and reported as ratios, with the same keys for every subcommand
// (construct_ms, execution, eval_forward and train_step with equivariant_ms, stock_ms, ratio and
// ratio_fastest_stock). Attention and the encoder layer are compared with two stock paths: the LibTorch
// module (torch::nn::MultiheadAttention / TransformerEncoderLayer, unfused) and the fused one Python's
// module takes without weights (at::linear + at::scaled_dot_product_attention + out-projection, keys
// stock_sdpa_ms and ratio_sdpa). Each run also reports the single-thread GFLOP/s of a 1024x1024 at::mm,
// which shows whether fast CPU kernels (MKL/oneDNN) are in use.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/enum.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/transformerlayer.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "device_option.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/execution_report.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn::cli {
namespace {

struct BenchOptions {
  std::string group;
  std::string rep;
  int64_t heads = 1;
  int64_t batch = 32;
  int64_t seq = 32;
  int64_t dim_feedforward = -1;  ///< -1: the layer's default
  int64_t kernel_size = 3;
  int64_t length = 128;
  int iters = 30;
  int warmup = 5;
  int threads = 1;
  std::string device = "cpu";
  std::string execution = "auto";  // the layers' default
  bool json = false;
};

using Clock = std::chrono::steady_clock;

/// The clock of the timed regions: on one CPU thread the CPU time of that thread (so a busy machine, which
/// delays the process, does not inflate one side of a ratio); otherwise (threads or a GPU) wall time.
struct Timer {
  bool thread_cpu = false;
  double now_ms() const {
    if (!thread_cpu)
      return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return 1e3 * static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_nsec);
  }
  const char* name() const { return thread_cpu ? "thread CPU time" : "wall time"; }
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Times each function in turn, round-robin (so drift hits all alike): warm-up, then the median of `iters`
/// rounds. `between` runs untimed after each call (e.g. clearing gradients). The device is synchronised
/// before each clock read.
std::vector<double> time_all(const BenchOptions& o, const c10::Device& device,
                             const std::vector<std::function<void()>>& fns,
                             const std::function<void()>& between) {
  const Timer timer{device.is_cpu() && at::get_num_threads() == 1};
  std::vector<std::vector<double>> times(fns.size());
  for (int i = 0; i < o.warmup + o.iters; ++i)
    for (size_t f = 0; f < fns.size(); ++f) {
      synchronize(device);
      const double start = timer.now_ms();
      fns[f]();
      synchronize(device);
      if (i >= o.warmup) times[f].push_back(timer.now_ms() - start);
      between();
    }
  std::vector<double> out;
  for (auto& t : times) out.push_back(median(t));
  return out;
}

/// GFLOP/s of a 1024x1024 float32 at::mm with `threads` CPU threads (median of 10), or on `device`.
double mm_gflops(const c10::Device& device, int threads) {
  const int before = at::get_num_threads();
  if (device.is_cpu()) at::set_num_threads(threads);
  at::NoGradGuard no_grad;
  const auto options = at::TensorOptions().device(device);
  at::Tensor a = at::randn({1024, 1024}, options), b = at::randn({1024, 1024}, options);
  BenchOptions o;
  o.warmup = 3;
  o.iters = device.is_cpu() ? 10 : 50;
  const double ms = time_all(o, device, {[&] { at::mm(a, b); }}, [] {})[0];
  if (device.is_cpu()) at::set_num_threads(before);
  return 2.0 * 1024 * 1024 * 1024 / (ms * 1e6);
}

struct Setup {
  c10::Device device{c10::kCPU};
  GroupPtr group;
  RepPtr rep;
  double group_ms = 0;
  double cpu_mm_gflops = 0, device_mm_gflops = 0;
  std::string execution = "auto";  ///< --execution, given to the layer as its `execution` key
};

Setup prepare(CliContext& context, const BenchOptions& o) {
  if (o.iters < 1) throw UsageError(fmt::format("--iters must be >= 1, got {}", o.iters));
  if (o.warmup < 0) throw UsageError(fmt::format("--warmup must be >= 0, got {}", o.warmup));
  if (o.threads < 1) throw UsageError(fmt::format("--threads must be >= 1, got {}", o.threads));
  Setup s;
  s.execution = o.execution;
  s.device = parse_device(o.device);
  const Registry& registry = context.registry();  // plugin loading is not part of the measurement
  at::set_num_threads(o.threads);
  s.cpu_mm_gflops = mm_gflops(c10::Device(c10::kCPU), 1);
  if (s.device.is_cuda()) s.device_mm_gflops = mm_gflops(s.device, o.threads);
  const auto start = Clock::now();
  s.group = registry.make_group(o.group);
  s.rep = parse_rep(s.group, o.rep);
  s.group->irreps();
  s.group_ms = ms_since(start);
  return s;
}

LayerArgs layer_args(const Registry& registry, const Setup& s, const std::string& kwargs) {
  LayerArgs args;
  args.group = s.group;
  args.in_rep = s.rep;
  args.kwargs = YAML::Load(kwargs);
  args.registry = &registry;
  GroupPtr group = s.group;
  args.resolve_rep = [group](const YAML::Node& n) { return parse_rep(group, n.as<std::string>()); };
  return args;
}

nlohmann::json machine_json(const Setup& s, const BenchOptions& o) {
  nlohmann::json j = {{"device", s.device.str()},
                      {"threads", o.threads},
                      {"clock", Timer{s.device.is_cpu() && o.threads == 1}.name()},
                      {"mm_1024_gflops_1_thread", s.cpu_mm_gflops}};
  if (s.device.is_cuda()) j["mm_1024_gflops_device"] = s.device_mm_gflops;
  return j;
}

void print_machine(const Setup& s) {
  fmt::print("  1024x1024 at::mm: {:.1f} GFLOP/s on 1 CPU thread", s.cpu_mm_gflops);
  if (s.device.is_cuda()) fmt::print(", {:.0f} GFLOP/s on {}", s.device_mm_gflops, s.device.str());
  fmt::print("; times are {}\n", Timer{s.device.is_cpu() && at::get_num_threads() == 1}.name());
}

/// Drops the gradients of every parameter of `modules`: run untimed between train steps.
std::function<void()> clear_grads(std::vector<std::shared_ptr<torch::nn::Module>> modules) {
  return [modules] {
    for (const auto& m : modules)
      for (auto& p : m->parameters()) p.mutable_grad() = at::Tensor();
  };
}

std::string ratio_text(double r) { return fmt::format("{:.3f}", r); }

/// How the equivariant layer computes, reported by every subcommand ("execution"): the first
/// ExecutionReport among the layer and its sub-layers (a transformer layer reports its attention's).
std::string execution_mode(const Layer& layer) {
  for (const auto& module : layer.modules(/*include_self=*/true))
    if (const auto* report = dynamic_cast<const ExecutionReport*>(module.get())) return report->execution();
  return "dense";
}

/// Builds registry layer `name` on the bench's group and rep with YAML keyword arguments `kwargs`, timing
/// the construction into `construct_ms` (the group, its irreps and the rep are ready before: Setup).
std::shared_ptr<Layer> build_layer(const Registry& registry, const Setup& s, const std::string& name,
                                   const std::string& kwargs, double& construct_ms) {
  // --execution goes to the layer as a key (every layer the bench builds has the option).
  const std::string keys = fmt::format("{{execution: {}, {}", s.execution, kwargs.substr(1));
  const auto start = Clock::now();
  std::shared_ptr<Layer> layer = registry.get_layer(name)(layer_args(registry, s, keys));
  construct_ms = ms_since(start);
  return layer;
}

/// One stock computation the equivariant layer is compared with, on the same input.
struct StockPath {
  std::string column;        ///< its text column ("stock MHA")
  std::string ratio_column;  ///< the text column of equivariant / it ("/ MHA")
  std::string key;           ///< JSON: "" gives stock_ms and ratio; "sdpa" stock_sdpa_ms and ratio_sdpa
  std::function<at::Tensor(const at::Tensor& x, bool training)> forward;
};

/// What a subcommand measures: the equivariant layer (built through the registry, as a model would build
/// it), the stock modules of the same size and the computations on them, and the input.
struct BenchCase {
  std::string title;  ///< the first text line, less the run's settings
  std::shared_ptr<Layer> layer;
  double construct_ms = 0;
  std::vector<std::shared_ptr<torch::nn::Module>> stock_modules;
  double stock_construct_ms = 0;
  std::vector<StockPath> stock;
  at::Tensor x;
  nlohmann::json config;  ///< the case's sizes (group, rep, iters, threads and device are added)
};

/// The medians of one measurement: the equivariant layer and each stock path.
struct Times {
  double equivariant_ms = 0;
  std::vector<double> stock_ms;
  double fastest() const { return *std::min_element(stock_ms.begin(), stock_ms.end()); }
  nlohmann::json to_json(const std::vector<StockPath>& paths) const {
    nlohmann::json j = {{"equivariant_ms", equivariant_ms}};
    for (size_t p = 0; p < paths.size(); ++p) {
      const std::string suffix = paths[p].key.empty() ? "" : "_" + paths[p].key;
      j["stock" + suffix + "_ms"] = stock_ms[p];
      j["ratio" + suffix] = equivariant_ms / stock_ms[p];
    }
    j["ratio_fastest_stock"] = equivariant_ms / fastest();
    return j;
  }
  void print(const char* what) const {
    fmt::print("  {:<14}{:>9.3f} ms", what, equivariant_ms);
    for (double t : stock_ms) fmt::print("{:>9.3f} ms", t);
    for (double t : stock_ms) fmt::print("{:>10}", ratio_text(equivariant_ms / t));
    fmt::print("\n");
  }
};

/// Eval forward (no grad) or train step (forward + backward of the sum, no optimiser; gradients dropped
/// untimed between steps) of the layer and every stock path, round-robin in one run.
Times measure(const BenchOptions& o, const Setup& s, const BenchCase& c, bool training) {
  std::vector<std::shared_ptr<torch::nn::Module>> modules = c.stock_modules;
  modules.push_back(c.layer);
  for (const auto& m : modules) m->train(training);
  std::vector<std::function<void()>> fns;
  if (training) {
    fns.emplace_back([&c] { c.layer->forward(c.x).sum().backward(); });
    for (const auto& p : c.stock) fns.emplace_back([&p, &c] { p.forward(c.x, true).sum().backward(); });
  } else {
    fns.emplace_back([&c] { c.layer->forward(c.x); });
    for (const auto& p : c.stock) fns.emplace_back([&p, &c] { p.forward(c.x, false); });
  }
  std::vector<double> medians;
  if (training) {
    medians = time_all(o, s.device, fns, clear_grads(modules));
  } else {
    at::NoGradGuard no_grad;
    medians = time_all(o, s.device, fns, [] {});
  }
  Times t;
  t.equivariant_ms = medians[0];
  t.stock_ms.assign(medians.begin() + 1, medians.end());
  return t;
}

/// Before any timing (eval mode, no grad): the layer's output has the stock output's shape, and every stock
/// path computes what the first one does (they share the stock module's weights), so the comparison is
/// between computations of the same size and the second path is the same function.
void check_case(const BenchCase& c) {
  at::NoGradGuard no_grad;
  c.layer->eval();
  for (const auto& m : c.stock_modules) m->eval();
  const at::Tensor y = c.layer->forward(c.x);
  const at::Tensor reference = c.stock.front().forward(c.x, false);
  if (y.sizes() != reference.sizes())
    throw Error(fmt::format("bench: the equivariant layer's output has shape ({}), the stock one ({})",
                            fmt::join(y.sizes(), ", "), fmt::join(reference.sizes(), ", ")));
  for (size_t p = 1; p < c.stock.size(); ++p)
    if (!at::allclose(c.stock[p].forward(c.x, false), reference, 1e-3, 1e-3))  // float32, TF32 on a GPU
      throw Error(fmt::format("bench: the stock paths '{}' and '{}' compute different outputs",
                              c.stock.front().column, c.stock[p].column));
}

/// Measures a case and reports it (text or --json): the same keys for every subcommand.
void run_case(const BenchOptions& o, const Setup& s, BenchCase& c) {
  c.layer->to(s.device);
  for (const auto& m : c.stock_modules) m->to(s.device);
  check_case(c);
  const Times eval = measure(o, s, c, false);
  const Times train = measure(o, s, c, true);
  const std::string execution = execution_mode(*c.layer);
  const int threads = at::get_num_threads();

  if (o.json) {
    nlohmann::json config = c.config;
    config["group"] = s.group->name();
    config["rep"] = s.rep->describe();
    config["iters"] = o.iters;
    config["threads"] = threads;
    config["device"] = s.device.str();
    nlohmann::json out = {{"construct_ms", c.construct_ms},
                          {"stock_construct_ms", c.stock_construct_ms},
                          {"group_ms", s.group_ms},
                          {"execution", execution},
                          {"eval_forward", eval.to_json(c.stock)},
                          {"train_step", train.to_json(c.stock)},
                          {"machine", machine_json(s, o)},
                          {"config", config}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  fmt::print("{} ({}, {} thread{}, median of {} runs)\n", c.title, s.device.str(), threads,
             threads == 1 ? "" : "s", o.iters);
  print_machine(s);
  fmt::print(
      "  construction    {:9.2f} ms   (group, irreps and rep before it: {:.2f} ms; stock: {:.2f} ms)\n",
      c.construct_ms, s.group_ms, c.stock_construct_ms);
  fmt::print("  execution       {}\n", execution);
  fmt::print("  {:<14}{:>12}", "", "equivariant");
  for (const auto& p : c.stock) fmt::print("{:>12}", p.column);
  for (const auto& p : c.stock) fmt::print("{:>10}", p.ratio_column);
  fmt::print("\n");
  eval.print("eval forward");
  train.print("train step");
  if (c.stock.size() > 1)
    fmt::print("  ratio to the faster stock path: eval forward {:.3f}, train step {:.3f}\n",
               eval.equivariant_ms / eval.fastest(), train.equivariant_ms / train.fastest());
}

/// The sizes must be positive (a subcommand's unused ones keep their positive defaults); checked before any
/// measurement.
void check_sizes(const BenchOptions& o) {
  const std::pair<const char*, int64_t> sizes[] = {{"--heads", o.heads},
                                                   {"--batch", o.batch},
                                                   {"--seq", o.seq},
                                                   {"--kernel-size", o.kernel_size},
                                                   {"--length", o.length}};
  for (const auto& [name, value] : sizes)
    if (value < 1) throw UsageError(fmt::format("{} must be >= 1, got {}", name, value));
  if (o.dim_feedforward != -1 && o.dim_feedforward < 1)
    throw UsageError(fmt::format("--dim-feedforward must be >= 1, got {}", o.dim_feedforward));
}

// ---- attention -------------------------------------------------------------------------------------------

/// The stock fused path with the stock module's weights: what Python's torch.nn.MultiheadAttention runs
/// without attention weights. Batch-first self-attention (N, L, D).
at::Tensor stock_sdpa(const torch::nn::MultiheadAttentionImpl& m, const at::Tensor& x, int64_t heads,
                      bool training) {
  const int64_t n = x.size(0), l = x.size(1), d = x.size(2);
  at::Tensor qkv = at::linear(x, m.in_proj_weight, m.in_proj_bias).view({n, l, 3, heads, d / heads});
  at::Tensor q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2),
             v = qkv.select(2, 2).transpose(1, 2);
  at::Tensor o =
      at::scaled_dot_product_attention(q, k, v, c10::nullopt, training ? m.options.dropout() : 0.0);
  return at::linear(o.transpose(1, 2).reshape({n, l, d}), m.out_proj->weight, m.out_proj->bias);
}

/// torch::nn::MultiheadAttention on batch-first (N, L, D): the same transposes as Python's batch_first=True
/// module (the C++ module is sequence-first).
at::Tensor stock_mha(torch::nn::MultiheadAttentionImpl& m, const at::Tensor& x) {
  at::Tensor t = x.transpose(0, 1);
  return std::get<0>(m.forward(t, t, t, {}, /*need_weights=*/false)).transpose(0, 1);
}

BenchCase attention_case(const Registry& registry, const Setup& s, const BenchOptions& o) {
  BenchCase c;
  const int64_t d = s.rep->size();
  const int64_t heads = o.heads;
  c.title = fmt::format("eMultiheadAttention on {} {}, {} heads, batch {}, seq {}", s.group->name(),
                        s.rep->describe(), heads, o.batch, o.seq);
  c.layer = build_layer(registry, s, "eMultiheadAttention", fmt::format("{{num_heads: {}}}", heads),
                        c.construct_ms);
  const auto start = Clock::now();
  auto stock =
      std::make_shared<torch::nn::MultiheadAttentionImpl>(torch::nn::MultiheadAttentionOptions(d, heads));
  c.stock_construct_ms = ms_since(start);
  c.stock_modules = {stock};
  c.stock = {{"stock MHA", "/ MHA", "", [stock](const at::Tensor& x, bool) { return stock_mha(*stock, x); }},
             {"stock SDPA", "/ SDPA", "sdpa", [stock, heads](const at::Tensor& x, bool training) {
                return stock_sdpa(*stock, x, heads, training);
              }}};
  c.x = at::randn({o.batch, o.seq, d}, at::TensorOptions().device(s.device));
  c.config = {{"embed_dim", d}, {"heads", heads}, {"batch", o.batch}, {"seq", o.seq}};
  return c;
}

// ---- encoder ---------------------------------------------------------------------------------------------

BenchCase encoder_case(const Registry& registry, const Setup& s, const BenchOptions& o) {
  BenchCase c;
  const int64_t d = s.rep->size();
  const int64_t heads = o.heads;
  // Dropout 0 on both sides; relu and post-norm are eqnn's defaults and the only placement LibTorch's C++
  // layer has. dim_feedforward: the layer's default unless given (rounded up to whole regular copies).
  std::string kwargs =
      fmt::format("{{num_heads: {}, dropout: 0.0, activation: relu, norm_first: false", heads);
  if (o.dim_feedforward != -1) kwargs += fmt::format(", dim_feedforward: {}", o.dim_feedforward);
  c.layer = build_layer(registry, s, "eTransformerEncoderLayer", kwargs + "}", c.construct_ms);
  // The stock layer gets the width eqnn's feed-forward block has (its hidden representation's size).
  const auto children = c.layer->named_children();
  const auto* linear1 = children.find("linear1");
  const auto* hidden_layer = linear1 ? dynamic_cast<const Layer*>(linear1->get()) : nullptr;
  if (!hidden_layer)
    throw Error(
        "bench encoder: eTransformerEncoderLayer has no eqnn layer 'linear1' to read its "
        "feed-forward width from");
  const int64_t hidden = hidden_layer->out_rep()->size();
  c.title = fmt::format(
      "eTransformerEncoderLayer on {} {}, {} heads, feed-forward {}, batch {}, seq {} vs "
      "torch::nn::TransformerEncoderLayer({}, {}, {})",
      s.group->name(), s.rep->describe(), heads, hidden, o.batch, o.seq, d, heads, hidden);
  const auto start = Clock::now();
  auto stock = std::make_shared<torch::nn::TransformerEncoderLayerImpl>(
      torch::nn::TransformerEncoderLayerOptions(d, heads).dim_feedforward(hidden).dropout(0.0));
  c.stock_construct_ms = ms_since(start);
  c.stock_modules = {stock};
  // The C++ layer is sequence-first: the transposes of Python's batch_first=True layer. The second path is
  // what Python's layer computes with the same weights (its attention on SDPA; dropout 0, relu, post-norm).
  c.stock = {
      {"stock", "/ stock", "",
       [stock](const at::Tensor& x, bool) { return stock->forward(x.transpose(0, 1)).transpose(0, 1); }},
      {"stock SDPA", "/ SDPA", "sdpa", [stock, heads](const at::Tensor& x, bool training) {
         at::Tensor h = stock->norm1(x + stock_sdpa(*stock->self_attn, x, heads, training));
         return stock->norm2(h + stock->linear2(at::relu(stock->linear1(h))));
       }}};
  c.x = at::randn({o.batch, o.seq, d}, at::TensorOptions().device(s.device));
  c.config = {
      {"d_model", d}, {"heads", heads}, {"dim_feedforward", hidden}, {"batch", o.batch}, {"seq", o.seq}};
  return c;
}

// ---- linear ----------------------------------------------------------------------------------------------

BenchCase linear_case(const Registry& registry, const Setup& s, const BenchOptions& o) {
  BenchCase c;
  const int64_t d = s.rep->size();
  c.title = fmt::format("eLinear on {} {} -> itself vs torch::nn::Linear({}, {}), batch {}", s.group->name(),
                        s.rep->describe(), d, d, o.batch);
  c.layer = build_layer(registry, s, "eLinear", fmt::format("{{out_rep: \"{}\"}}", o.rep), c.construct_ms);
  const auto start = Clock::now();
  auto stock = std::make_shared<torch::nn::LinearImpl>(d, d);
  c.stock_construct_ms = ms_since(start);
  c.stock_modules = {stock};
  c.stock = {{"stock", "ratio", "", [stock](const at::Tensor& x, bool) { return stock->forward(x); }}};
  c.x = at::randn({o.batch, d}, at::TensorOptions().device(s.device));
  c.config = {{"features", d}, {"batch", o.batch}};
  return c;
}

// ---- conv ------------------------------------------------------------------------------------------------

BenchCase conv_case(const Registry& registry, const Setup& s, const BenchOptions& o) {
  BenchCase c;
  const int64_t d = s.rep->size();
  c.title = fmt::format(
      "eConv1d on {} {} -> itself vs torch::nn::Conv1d({}, {}, {}, padding 'same'), batch {}, length {}",
      s.group->name(), s.rep->describe(), d, d, o.kernel_size, o.batch, o.length);
  c.layer =
      build_layer(registry, s, "eConv1d",
                  fmt::format("{{out_rep: \"{}\", kernel_size: {}, padding: same}}", o.rep, o.kernel_size),
                  c.construct_ms);
  const auto start = Clock::now();
  auto stock = std::make_shared<torch::nn::Conv1dImpl>(
      torch::nn::Conv1dOptions(d, d, o.kernel_size).padding(torch::kSame));
  c.stock_construct_ms = ms_since(start);
  c.stock_modules = {stock};
  // A model file's eConv1d takes tokens features last, (N, L, C); the stock module gets the same layout
  // through the same transposes.
  c.stock = {{"stock", "ratio", "", [stock](const at::Tensor& x, bool) {
                return stock->forward(x.transpose(1, 2)).transpose(1, 2);
              }}};
  c.x = at::randn({o.batch, o.length, d}, at::TensorOptions().device(s.device));
  c.config = {{"channels", d}, {"kernel_size", o.kernel_size}, {"batch", o.batch}, {"length", o.length}};
  return c;
}

using CaseBuilder = BenchCase (*)(const Registry&, const Setup&, const BenchOptions&);

void run(CliContext& context, const BenchOptions& o, CaseBuilder make_case) {
  check_sizes(o);
  const Setup s = prepare(context, o);
  BenchCase c = make_case(context.registry(), s, o);
  run_case(o, s, c);
}

void add_common(CLI::App* cmd, BenchOptions& o) {
  cmd->add_option("--iters", o.iters, "Timed iterations per measurement (median reported)")
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Untimed iterations first")->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (at::set_num_threads)")->capture_default_str();
  add_device_option(cmd, o.device);
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
  cmd->add_option(
         "--execution", o.execution,
         "How the equivariant layer computes: dense, isotypic or auto (eLinear, eMultiheadAttention, "
         "eTransformerEncoderLayer)")
      ->capture_default_str();
}

/// A bench subcommand with --group and --rep (required unless `o` has defaults for them) and the common
/// options; the caller adds the case's own.
CLI::App* add_case_command(CLI::App* bench, CliContext& context, const std::shared_ptr<BenchOptions>& o,
                           const std::string& name, const std::string& description, CaseBuilder make_case) {
  CLI::App* cmd = bench->add_subcommand(name, description);
  auto* group =
      cmd->add_option("--group", o->group, "Group SPEC, e.g. C8, Ico, \"{type: DihedralGroup, n: 4}\"");
  auto* rep = cmd->add_option("--rep", o->rep, "Representation of input and output, e.g. \"2x regular\"");
  for (auto* option : {group, rep}) {
    if (o->group.empty())
      option->required();
    else
      option->capture_default_str();
  }
  add_common(cmd, *o);
  cmd->callback([&context, o, make_case] { run(context, *o, make_case); });
  return cmd;
}

}  // namespace

void add_bench_command(CLI::App& app, CliContext& context) {
  CLI::App* bench =
      app.add_subcommand("bench", "Measure equivariant layers against their stock LibTorch modules");
  bench->require_subcommand(1);
  {
    auto o = std::make_shared<BenchOptions>();
    CLI::App* attention = add_case_command(
        bench, context, o, "attention",
        "eMultiheadAttention vs torch::nn::MultiheadAttention and the stock fused (SDPA) path: construction, "
        "eval forward, train step",
        attention_case);
    attention->add_option("--heads", o->heads, "Number of heads")->required();
    attention->add_option("--batch", o->batch, "Batch size")->required();
    attention->add_option("--seq", o->seq, "Sequence length")->required();
  }
  {
    auto o = std::make_shared<BenchOptions>();
    o->group = "C8";
    o->rep = "128x regular";
    o->batch = 4096;
    CLI::App* linear = add_case_command(
        bench, context, o, "linear",
        "eLinear (rep -> rep) vs torch::nn::Linear of the same size: construction, eval forward, train step",
        linear_case);
    linear->add_option("--batch", o->batch, "Batch size")->capture_default_str();
  }
  {
    auto o = std::make_shared<BenchOptions>();
    o->heads = 4;
    o->batch = 64;
    o->seq = 32;
    CLI::App* encoder = add_case_command(
        bench, context, o, "encoder",
        "One eTransformerEncoderLayer vs torch::nn::TransformerEncoderLayer of the same d_model, heads and "
        "feed-forward width (dropout 0, relu, post-norm) and the stock SDPA path: construction, eval "
        "forward, train step",
        encoder_case);
    encoder->add_option("--heads", o->heads, "Number of heads")->capture_default_str();
    encoder->add_option("--batch", o->batch, "Batch size")->capture_default_str();
    encoder->add_option("--seq", o->seq, "Sequence length")->capture_default_str();
    encoder->add_option("--dim-feedforward", o->dim_feedforward,
                        "Feed-forward width (default: the layer's own, 2048, rounded up to whole regular "
                        "copies; the stock layer gets the rounded width)");
  }
  {
    auto o = std::make_shared<BenchOptions>();
    o->batch = 32;
    CLI::App* conv = add_case_command(
        bench, context, o, "conv",
        "eConv1d (rep -> rep, padding 'same') vs torch::nn::Conv1d of the same channels and kernel: "
        "construction, eval forward, train step",
        conv_case);
    conv->add_option("--kernel-size", o->kernel_size, "Kernel size")->capture_default_str();
    conv->add_option("--batch", o->batch, "Batch size")->capture_default_str();
    conv->add_option("--length", o->length, "Sequence length")->capture_default_str();
  }
}

}  // namespace eqnn::cli
