// Construction cost of the group theory, with no disk cache: closing Ico from its generator matrices
// and computing all of its irreps; the regular representation; Hom spaces used by attention layers.
#include <benchmark/benchmark.h>

#include "eqnn/hom_space.hpp"
#include "eqnn/rep_parser.hpp"
#include "support.hpp"

namespace {

void BM_IcoGroupAndIrreps(benchmark::State& state) {
  const auto& type = eqnn::testing::registry().get_group_type("Icosahedral");
  for (auto _ : state) {
    auto g = type.make(YAML::Node(YAML::NodeType::Map), eqnn::testing::registry());
    benchmark::DoNotOptimize(g->irreps().size());
  }
}
BENCHMARK(BM_IcoGroupAndIrreps)->Unit(benchmark::kMillisecond);

void BM_GroupAndIrreps(benchmark::State& state, const char* spec) {
  for (auto _ : state) {
    auto g = eqnn::testing::registry().make_group(spec);
    benchmark::DoNotOptimize(g->irreps().size());
  }
}
BENCHMARK_CAPTURE(BM_GroupAndIrreps, S5, "S5")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GroupAndIrreps, C2xD4, "C2xD4")->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
