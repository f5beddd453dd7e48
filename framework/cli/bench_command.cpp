// `eqnn bench attention`: construction time of eMultiheadAttention (built through the registry, as a model
// would) and its eval-forward and train-step times against torch::nn::MultiheadAttention of the same size,
// measured in the same run (medians after warm-up), reported as ratios.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <vector>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/nn/modules/activation.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/registry.hpp"
#include "eqnn/rep_parser.hpp"

namespace eqnn::cli {
namespace {

struct AttentionBenchOptions {
  std::string group;
  std::string rep;
  int64_t heads = 1;
  int64_t batch = 32;
  int64_t seq = 32;
  int iters = 30;
  int warmup = 5;
  bool json = false;
};

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct Pair {
  double equivariant_ms, stock_ms;
  nlohmann::json to_json() const {
    return {{"equivariant_ms", equivariant_ms}, {"stock_ms", stock_ms}, {"ratio", equivariant_ms / stock_ms}};
  }
};

/// Times `a` and `b` alternately (so drift hits both alike): warm-up, then the median of `iters` runs.
template <typename A, typename B, typename Between>
Pair time_pair(const AttentionBenchOptions& o, A&& a, B&& b, Between&& between) {
  for (int i = 0; i < o.warmup; ++i) {
    a();
    between();
    b();
    between();
  }
  std::vector<double> ta, tb;
  for (int i = 0; i < o.iters; ++i) {
    auto start = Clock::now();
    a();
    ta.push_back(ms_since(start));
    between();
    start = Clock::now();
    b();
    tb.push_back(ms_since(start));
    between();
  }
  return {median(ta), median(tb)};
}

void run_attention(CliContext& context, const AttentionBenchOptions& o) {
  if (o.iters < 1) throw UsageError(fmt::format("--iters must be >= 1, got {}", o.iters));
  if (o.heads < 1 || o.batch < 1 || o.seq < 1)
    throw UsageError(
        fmt::format("--heads, --batch and --seq must be >= 1, got {}, {}, {}", o.heads, o.batch, o.seq));
  const Registry& registry = context.registry();  // plugin loading is not part of the measurement

  auto start = Clock::now();
  GroupPtr group = registry.make_group(o.group);
  RepPtr rep = parse_rep(group, o.rep);
  group->irreps();
  const double group_ms = ms_since(start);

  start = Clock::now();
  LayerArgs args;
  args.group = group;
  args.in_rep = rep;
  args.kwargs = YAML::Load(fmt::format("{{num_heads: {}}}", o.heads));
  args.registry = &registry;
  args.resolve_rep = [group](const YAML::Node& n) { return parse_rep(group, n.as<std::string>()); };
  std::shared_ptr<Layer> layer = registry.get_layer("eMultiheadAttention")(args);
  const double construct_ms = ms_since(start);

  const int64_t d = rep->size();
  torch::nn::MultiheadAttention stock(torch::nn::MultiheadAttentionOptions(d, o.heads));
  // The Layer interface is batch-first self-attention; give the stock module the same transposes.
  auto stock_forward = [&](const at::Tensor& x) {
    at::Tensor s = x.transpose(0, 1);
    return std::get<0>(stock->forward(s, s, s, {}, /*need_weights=*/false)).transpose(0, 1);
  };
  at::Tensor x = at::randn({o.batch, o.seq, d});
  auto nothing = [] {};

  layer->eval();
  stock->eval();
  Pair eval;
  {
    at::NoGradGuard no_grad;
    eval = time_pair(
        o, [&] { layer->forward(x); }, [&] { stock_forward(x); }, nothing);
  }

  layer->train();
  stock->train();
  auto clear_grads = [&] {
    for (auto& p : layer->parameters()) p.mutable_grad() = at::Tensor();
    for (auto& p : stock->parameters()) p.mutable_grad() = at::Tensor();
  };
  Pair train = time_pair(
      o, [&] { layer->forward(x).sum().backward(); }, [&] { stock_forward(x).sum().backward(); },
      clear_grads);

  if (o.json) {
    nlohmann::json out = {{"construct_ms", construct_ms},
                          {"group_ms", group_ms},
                          {"eval_forward", eval.to_json()},
                          {"train_step", train.to_json()},
                          {"config",
                           {{"group", group->name()},
                            {"rep", rep->describe()},
                            {"embed_dim", d},
                            {"heads", o.heads},
                            {"batch", o.batch},
                            {"seq", o.seq},
                            {"iters", o.iters},
                            {"threads", at::get_num_threads()}}}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  fmt::print("eMultiheadAttention on {} {}, {} heads, batch {}, seq {} ({} threads, median of {} runs)\n",
             group->name(), rep->describe(), o.heads, o.batch, o.seq, at::get_num_threads(), o.iters);
  fmt::print("  construction    {:9.2f} ms   (group, irreps and rep before it: {:.2f} ms)\n", construct_ms,
             group_ms);
  fmt::print("  {:<14}{:>12}{:>12}{:>8}\n", "", "equivariant", "stock", "ratio");
  fmt::print("  {:<14}{:>9.3f} ms{:>9.3f} ms{:>8.3f}\n", "eval forward", eval.equivariant_ms, eval.stock_ms,
             eval.equivariant_ms / eval.stock_ms);
  fmt::print("  {:<14}{:>9.3f} ms{:>9.3f} ms{:>8.3f}\n", "train step", train.equivariant_ms, train.stock_ms,
             train.equivariant_ms / train.stock_ms);
}

}  // namespace

void add_bench_command(CLI::App& app, CliContext& context) {
  CLI::App* bench =
      app.add_subcommand("bench", "Measure equivariant layers against their stock LibTorch modules");
  bench->require_subcommand(1);
  auto o = std::make_shared<AttentionBenchOptions>();
  CLI::App* attention = bench->add_subcommand(
      "attention",
      "eMultiheadAttention vs torch::nn::MultiheadAttention: construction, eval forward, train step");
  attention->add_option("--group", o->group, "Group SPEC, e.g. C8, Ico, \"{type: DihedralGroup, n: 4}\"")
      ->required();
  attention->add_option("--rep", o->rep, "Representation, e.g. \"2x regular\"")->required();
  attention->add_option("--heads", o->heads, "Number of heads")->required();
  attention->add_option("--batch", o->batch, "Batch size")->required();
  attention->add_option("--seq", o->seq, "Sequence length")->required();
  attention->add_option("--iters", o->iters, "Timed iterations per measurement (median reported)")
      ->capture_default_str();
  attention->add_option("--warmup", o->warmup, "Untimed iterations first")->capture_default_str();
  attention->add_flag("--json", o->json, "Print JSON instead of text");
  attention->callback([&context, o] { run_attention(context, *o); });
}

}  // namespace eqnn::cli
