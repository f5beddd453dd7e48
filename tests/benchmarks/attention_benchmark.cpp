// eMultiheadAttention against both stock paths of the same size: torch::nn::MultiheadAttention and the fused
// computation Python's module runs without weights (at::linear + at::scaled_dot_product_attention +
// out-projection, the stock weights). Eval forward (no grad) and train step (forward + backward) on one CPU
// thread. Compare the times of a triple; `eqnn bench attention` prints the ratios.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/nn/modules/activation.h>

#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "support.hpp"

namespace {

enum class Kind { equivariant, stock, stock_sdpa };

struct Setup {
  eqnn::EMultiheadAttention equivariant = nullptr;
  torch::nn::MultiheadAttention stock = nullptr;
  int64_t heads = 0;
  at::Tensor x;  // (batch, seq, D)
};

Setup make(const char* group, const char* rep, int64_t heads, int64_t batch, int64_t seq) {
  at::set_num_threads(1);
  Setup s;
  auto r = eqnn::parse_rep(eqnn::testing::group(group), rep);
  s.equivariant = eqnn::EMultiheadAttention(eqnn::EMultiheadAttentionOptions(r, heads).batch_first(true));
  s.stock = torch::nn::MultiheadAttention(r->size(), heads);
  s.heads = heads;
  s.x = at::randn({batch, seq, r->size()});
  return s;
}

at::Tensor run(Setup& s, Kind kind) {
  const at::Tensor& x = s.x;
  switch (kind) {
    case Kind::equivariant:
      return s.equivariant->forward(x);
    case Kind::stock: {
      at::Tensor t = x.transpose(0, 1);  // what Python's batch_first module does
      return std::get<0>(s.stock->forward(t, t, t, {}, false)).transpose(0, 1);
    }
    case Kind::stock_sdpa: {
      const int64_t n = x.size(0), l = x.size(1), d = x.size(2);
      at::Tensor qkv =
          at::linear(x, s.stock->in_proj_weight, s.stock->in_proj_bias).view({n, l, 3, s.heads, d / s.heads});
      at::Tensor o =
          at::scaled_dot_product_attention(qkv.select(2, 0).transpose(1, 2), qkv.select(2, 1).transpose(1, 2),
                                           qkv.select(2, 2).transpose(1, 2));
      return at::linear(o.transpose(1, 2).reshape({n, l, d}), s.stock->out_proj->weight,
                        s.stock->out_proj->bias);
    }
  }
  return {};
}

void BM_EvalForward(benchmark::State& state, Kind kind) {
  Setup s = make("C8", "16x regular", 4, 32, 128);
  s.equivariant->eval();
  s.stock->eval();
  at::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(run(s, kind).data_ptr());
}
BENCHMARK_CAPTURE(BM_EvalForward, equivariant, Kind::equivariant)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EvalForward, stock, Kind::stock)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EvalForward, stock_sdpa, Kind::stock_sdpa)->Unit(benchmark::kMillisecond);

void BM_TrainStep(benchmark::State& state, Kind kind) {
  Setup s = make("C8", "16x regular", 4, 32, 128);
  for (auto _ : state) run(s, kind).sum().backward();
}
BENCHMARK_CAPTURE(BM_TrainStep, equivariant, Kind::equivariant)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, stock, Kind::stock)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, stock_sdpa, Kind::stock_sdpa)->Unit(benchmark::kMillisecond);

void BM_ConstructIco(benchmark::State& state) {
  // HomSpaces are cached by content, so after the first iteration this is the cost of a rebuild in a
  // process that already built one; `eqnn bench attention` reports the cold first construction.
  auto rep = eqnn::parse_rep(eqnn::testing::group("Ico"), "2x regular");
  for (auto _ : state) benchmark::DoNotOptimize(eqnn::EMultiheadAttention(rep, 2).ptr().get());
}
BENCHMARK(BM_ConstructIco)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
