// eLinear (128x regular of C8 → itself, 1024 features) against torch::nn::Linear(1024, 1024), batch 4096, one
// CPU thread: eval forward (the expanded weight cached) and train step (expansion + forward + backward).
// `eqnn bench linear` prints the ratios and the GFLOP/s of a plain at::mm.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <torch/nn/modules/linear.h>

#include "e_linear.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "support.hpp"

namespace {

struct Setup {
  eqnn::ELinear equivariant = nullptr;
  torch::nn::Linear stock = nullptr;
  at::Tensor x;
};

Setup make() {
  at::set_num_threads(1);
  Setup s;
  auto rep = eqnn::parse_rep(eqnn::testing::group("C8"), "128x regular");
  s.equivariant = eqnn::ELinear(rep, rep);
  s.stock = torch::nn::Linear(rep->size(), rep->size());
  s.x = at::randn({4096, rep->size()});
  return s;
}

void BM_EvalForward(benchmark::State& state, bool equivariant) {
  Setup s = make();
  s.equivariant->eval();
  s.stock->eval();
  at::NoGradGuard no_grad;
  for (auto _ : state)
    benchmark::DoNotOptimize((equivariant ? s.equivariant->forward(s.x) : s.stock->forward(s.x)).data_ptr());
}
BENCHMARK_CAPTURE(BM_EvalForward, equivariant, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_EvalForward, stock, false)->Unit(benchmark::kMillisecond);

void BM_TrainStep(benchmark::State& state, bool equivariant) {
  Setup s = make();
  for (auto _ : state) (equivariant ? s.equivariant->forward(s.x) : s.stock->forward(s.x)).sum().backward();
}
BENCHMARK_CAPTURE(BM_TrainStep, equivariant, true)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TrainStep, stock, false)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
