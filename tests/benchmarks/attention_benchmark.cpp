// eMultiheadAttention against torch::nn::MultiheadAttention of the same size: eval forward (no grad) and
// train step (forward + backward). Compare the pairs' times; `eqnn bench attention` prints the ratios.
#include <benchmark/benchmark.h>
#include <torch/nn/modules/activation.h>

#include "e_multihead_attention.hpp"
#include "eqnn/rep_parser.hpp"
#include "support.hpp"

namespace {

struct Setup {
  eqnn::EMultiheadAttention equivariant = nullptr;
  torch::nn::MultiheadAttention stock = nullptr;
  at::Tensor x;  // (seq, batch, D)
};

Setup make(const char* group, const char* rep, int64_t heads, int64_t batch, int64_t seq) {
  Setup s;
  auto r = eqnn::parse_rep(eqnn::testing::group(group), rep);
  s.equivariant = eqnn::EMultiheadAttention(r, heads);
  s.stock = torch::nn::MultiheadAttention(r->size(), heads);
  s.x = at::randn({seq, batch, r->size()});
  return s;
}

void BM_EvalForward(benchmark::State& state, bool equivariant) {
  Setup s = make("C8", "16x regular", 4, 8, 64);
  s.equivariant->eval();
  s.stock->eval();
  at::NoGradGuard no_grad;
  for (auto _ : state) {
    auto out = equivariant ? s.equivariant->forward(s.x, s.x, s.x, {}, false)
                           : s.stock->forward(s.x, s.x, s.x, {}, false);
    benchmark::DoNotOptimize(std::get<0>(out).data_ptr());
  }
}
BENCHMARK_CAPTURE(BM_EvalForward, equivariant, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EvalForward, stock, false)->Unit(benchmark::kMillisecond);

void BM_TrainStep(benchmark::State& state, bool equivariant) {
  Setup s = make("C8", "16x regular", 4, 8, 64);
  for (auto _ : state) {
    auto out = equivariant ? s.equivariant->forward(s.x, s.x, s.x, {}, false)
                           : s.stock->forward(s.x, s.x, s.x, {}, false);
    std::get<0>(out).sum().backward();
  }
}
BENCHMARK_CAPTURE(BM_TrainStep, equivariant, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, stock, false)->Unit(benchmark::kMillisecond);

void BM_ConstructIco(benchmark::State& state) {
  // HomSpaces are cached by content, so after the first iteration this is the cost of a rebuild in a
  // process that already built one; `eqnn bench attention` reports the cold first construction.
  auto rep = eqnn::parse_rep(eqnn::testing::group("Ico"), "2x regular");
  for (auto _ : state) benchmark::DoNotOptimize(eqnn::EMultiheadAttention(rep, 2).ptr().get());
}
BENCHMARK(BM_ConstructIco)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
