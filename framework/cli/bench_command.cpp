// `eqnn bench attention` and `eqnn bench linear`: an equivariant layer built through the registry (as a model
// would) against the stock LibTorch computation of the same size, measured in the same run (alternating
// calls, medians after warm-up) and reported as ratios. Attention is compared with both stock paths:
// torch::nn::MultiheadAttention and the fused one Python's module takes without weights (at::linear +
// at::scaled_dot_product_attention + out-projection). Each run also reports the single-thread GFLOP/s of a
// 1024x1024 at::mm, which shows whether fast CPU kernels (MKL/oneDNN) are in use.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "device_option.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"

namespace eqnn::cli {
namespace {

struct BenchOptions {
  std::string group;
  std::string rep;
  int64_t heads = 1;
  int64_t batch = 32;
  int64_t seq = 32;
  int iters = 30;
  int warmup = 5;
  int threads = 1;
  std::string device = "cpu";
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
};

Setup prepare(CliContext& context, const BenchOptions& o) {
  if (o.iters < 1) throw UsageError(fmt::format("--iters must be >= 1, got {}", o.iters));
  if (o.warmup < 0) throw UsageError(fmt::format("--warmup must be >= 0, got {}", o.warmup));
  if (o.threads < 1) throw UsageError(fmt::format("--threads must be >= 1, got {}", o.threads));
  Setup s;
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

// ---- attention -------------------------------------------------------------------------------------------

/// The stock fused path with the stock module's weights: what Python's torch.nn.MultiheadAttention runs
/// without attention weights. Batch-first self-attention (N, L, D).
at::Tensor stock_sdpa(const torch::nn::MultiheadAttention& m, const at::Tensor& x, int64_t heads,
                      bool training) {
  const int64_t n = x.size(0), l = x.size(1), d = x.size(2);
  at::Tensor qkv = at::linear(x, m->in_proj_weight, m->in_proj_bias).view({n, l, 3, heads, d / heads});
  at::Tensor q = qkv.select(2, 0).transpose(1, 2), k = qkv.select(2, 1).transpose(1, 2),
             v = qkv.select(2, 2).transpose(1, 2);
  at::Tensor o =
      at::scaled_dot_product_attention(q, k, v, c10::nullopt, training ? m->options.dropout() : 0.0);
  return at::linear(o.transpose(1, 2).reshape({n, l, d}), m->out_proj->weight, m->out_proj->bias);
}

struct Triple {
  double equivariant_ms, stock_ms, sdpa_ms;
  double fastest() const { return std::min(stock_ms, sdpa_ms); }
  nlohmann::json to_json() const {
    return {{"equivariant_ms", equivariant_ms},       {"stock_ms", stock_ms},
            {"ratio", equivariant_ms / stock_ms},     {"stock_sdpa_ms", sdpa_ms},
            {"ratio_sdpa", equivariant_ms / sdpa_ms}, {"ratio_fastest_stock", equivariant_ms / fastest()}};
  }
  void print(const char* what) const {
    fmt::print("  {:<14}{:>9.3f} ms{:>9.3f} ms{:>9.3f} ms{:>10}{:>10}\n", what, equivariant_ms, stock_ms,
               sdpa_ms, ratio_text(equivariant_ms / stock_ms), ratio_text(equivariant_ms / sdpa_ms));
  }
};

void run_attention(CliContext& context, const BenchOptions& o) {
  if (o.heads < 1 || o.batch < 1 || o.seq < 1)
    throw UsageError(
        fmt::format("--heads, --batch and --seq must be >= 1, got {}, {}, {}", o.heads, o.batch, o.seq));
  const Setup s = prepare(context, o);
  const Registry& registry = context.registry();

  auto start = Clock::now();
  std::shared_ptr<Layer> layer = registry.get_layer("eMultiheadAttention")(
      layer_args(registry, s, fmt::format("{{num_heads: {}}}", o.heads)));
  const double construct_ms = ms_since(start);

  const int64_t d = s.rep->size();
  torch::nn::MultiheadAttention stock(torch::nn::MultiheadAttentionOptions(d, o.heads));
  layer->to(s.device);
  stock->to(s.device);
  // The Layer interface is batch-first self-attention; the stock module gets the same transposes as
  // Python's batch_first=True module.
  auto stock_forward = [&](const at::Tensor& x) {
    at::Tensor t = x.transpose(0, 1);
    return std::get<0>(stock->forward(t, t, t, {}, /*need_weights=*/false)).transpose(0, 1);
  };
  at::Tensor x = at::randn({o.batch, o.seq, d}, at::TensorOptions().device(s.device));

  layer->eval();
  stock->eval();
  std::vector<double> eval;
  {
    at::NoGradGuard no_grad;
    eval = time_all(o, s.device,
                    {[&] { layer->forward(x); }, [&] { stock_forward(x); },
                     [&] { stock_sdpa(stock, x, o.heads, false); }},
                    [] {});
  }
  layer->train();
  stock->train();
  const auto clear = clear_grads({layer, stock.ptr()});
  std::vector<double> train =
      time_all(o, s.device,
               {[&] { layer->forward(x).sum().backward(); }, [&] { stock_forward(x).sum().backward(); },
                [&] { stock_sdpa(stock, x, o.heads, true).sum().backward(); }},
               clear);
  const Triple e{eval[0], eval[1], eval[2]}, t{train[0], train[1], train[2]};

  if (o.json) {
    nlohmann::json out = {{"construct_ms", construct_ms},
                          {"group_ms", s.group_ms},
                          {"eval_forward", e.to_json()},
                          {"train_step", t.to_json()},
                          {"machine", machine_json(s, o)},
                          {"config",
                           {{"group", s.group->name()},
                            {"rep", s.rep->describe()},
                            {"embed_dim", d},
                            {"heads", o.heads},
                            {"batch", o.batch},
                            {"seq", o.seq},
                            {"iters", o.iters},
                            {"threads", at::get_num_threads()},
                            {"device", s.device.str()}}}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  fmt::print(
      "eMultiheadAttention on {} {}, {} heads, batch {}, seq {} ({}, {} thread{}, median of {} runs)\n",
      s.group->name(), s.rep->describe(), o.heads, o.batch, o.seq, s.device.str(), at::get_num_threads(),
      at::get_num_threads() == 1 ? "" : "s", o.iters);
  print_machine(s);
  fmt::print("  construction    {:9.2f} ms   (group, irreps and rep before it: {:.2f} ms)\n", construct_ms,
             s.group_ms);
  fmt::print("  {:<14}{:>12}{:>12}{:>12}{:>10}{:>10}\n", "", "equivariant", "stock MHA", "stock SDPA",
             "/ MHA", "/ SDPA");
  e.print("eval forward");
  t.print("train step");
  fmt::print("  ratio to the faster stock path: eval forward {:.3f}, train step {:.3f}\n",
             e.equivariant_ms / e.fastest(), t.equivariant_ms / t.fastest());
}

// ---- linear ----------------------------------------------------------------------------------------------

void run_linear(CliContext& context, const BenchOptions& o) {
  if (o.batch < 1) throw UsageError(fmt::format("--batch must be >= 1, got {}", o.batch));
  const Setup s = prepare(context, o);
  const Registry& registry = context.registry();
  auto start = Clock::now();
  std::shared_ptr<Layer> layer =
      registry.get_layer("eLinear")(layer_args(registry, s, fmt::format("{{out_rep: \"{}\"}}", o.rep)));
  const double construct_ms = ms_since(start);
  const int64_t d = s.rep->size();
  torch::nn::Linear stock(d, d);
  layer->to(s.device);
  stock->to(s.device);
  at::Tensor x = at::randn({o.batch, d}, at::TensorOptions().device(s.device));

  layer->eval();
  stock->eval();
  std::vector<double> eval;
  {
    at::NoGradGuard no_grad;
    eval = time_all(o, s.device, {[&] { layer->forward(x); }, [&] { stock->forward(x); }}, [] {});
  }
  layer->train();
  stock->train();
  const auto clear = clear_grads({layer, stock.ptr()});
  std::vector<double> train = time_all(
      o, s.device, {[&] { layer->forward(x).sum().backward(); }, [&] { stock->forward(x).sum().backward(); }},
      clear);
  auto pair = [](double a, double b) {
    return nlohmann::json{{"equivariant_ms", a}, {"stock_ms", b}, {"ratio", a / b}};
  };
  if (o.json) {
    nlohmann::json out = {{"construct_ms", construct_ms},
                          {"group_ms", s.group_ms},
                          {"eval_forward", pair(eval[0], eval[1])},
                          {"train_step", pair(train[0], train[1])},
                          {"machine", machine_json(s, o)},
                          {"config",
                           {{"group", s.group->name()},
                            {"rep", s.rep->describe()},
                            {"features", d},
                            {"batch", o.batch},
                            {"iters", o.iters},
                            {"threads", at::get_num_threads()},
                            {"device", s.device.str()}}}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  fmt::print(
      "eLinear on {} {} -> itself vs torch::nn::Linear({}, {}), batch {} ({}, {} thread{}, median of {} "
      "runs)\n",
      s.group->name(), s.rep->describe(), d, d, o.batch, s.device.str(), at::get_num_threads(),
      at::get_num_threads() == 1 ? "" : "s", o.iters);
  print_machine(s);
  fmt::print("  construction    {:9.2f} ms   (group, irreps and rep before it: {:.2f} ms)\n", construct_ms,
             s.group_ms);
  fmt::print("  {:<14}{:>12}{:>12}{:>10}\n", "", "equivariant", "stock", "ratio");
  fmt::print("  {:<14}{:>9.3f} ms{:>9.3f} ms{:>10}\n", "eval forward", eval[0], eval[1],
             ratio_text(eval[0] / eval[1]));
  fmt::print("  {:<14}{:>9.3f} ms{:>9.3f} ms{:>10}\n", "train step", train[0], train[1],
             ratio_text(train[0] / train[1]));
}

void add_common(CLI::App* cmd, BenchOptions& o) {
  cmd->add_option("--iters", o.iters, "Timed iterations per measurement (median reported)")
      ->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Untimed iterations first")->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads (at::set_num_threads)")->capture_default_str();
  add_device_option(cmd, o.device);
  cmd->add_flag("--json", o.json, "Print JSON instead of text");
}

}  // namespace

void add_bench_command(CLI::App& app, CliContext& context) {
  CLI::App* bench =
      app.add_subcommand("bench", "Measure equivariant layers against their stock LibTorch modules");
  bench->require_subcommand(1);
  {
    auto o = std::make_shared<BenchOptions>();
    CLI::App* attention = bench->add_subcommand(
        "attention",
        "eMultiheadAttention vs torch::nn::MultiheadAttention and the stock fused (SDPA) path: construction, "
        "eval forward, train step");
    attention->add_option("--group", o->group, "Group SPEC, e.g. C8, Ico, \"{type: DihedralGroup, n: 4}\"")
        ->required();
    attention->add_option("--rep", o->rep, "Representation, e.g. \"2x regular\"")->required();
    attention->add_option("--heads", o->heads, "Number of heads")->required();
    attention->add_option("--batch", o->batch, "Batch size")->required();
    attention->add_option("--seq", o->seq, "Sequence length")->required();
    add_common(attention, *o);
    attention->callback([&context, o] { run_attention(context, *o); });
  }
  {
    auto o = std::make_shared<BenchOptions>();
    o->group = "C8";
    o->rep = "128x regular";
    o->batch = 4096;
    CLI::App* linear = bench->add_subcommand(
        "linear", "eLinear (rep -> rep) vs torch::nn::Linear of the same size: eval forward, train step");
    linear->add_option("--group", o->group, "Group SPEC")->capture_default_str();
    linear->add_option("--rep", o->rep, "Representation of input and output")->capture_default_str();
    linear->add_option("--batch", o->batch, "Batch size")->capture_default_str();
    add_common(linear, *o);
    linear->callback([&context, o] { run_linear(context, *o); });
  }
}

}  // namespace eqnn::cli
