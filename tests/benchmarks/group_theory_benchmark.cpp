// Construction cost of the group theory: closing groups from generators, their irreps (closed forms,
// Young's orthogonal form, tensor products, or the character-table path), decompositions of regular
// stacks. Results are cached by content, so the "cold" benchmarks run one iteration in a fresh process
// (the first use), and the "cached" ones measure a repeated use (a hit compares full content).
#include <benchmark/benchmark.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
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

void BM_GroupAndIrrepsCached(benchmark::State& state, const char* spec) {
  for (auto _ : state) {
    auto g = eqnn::testing::registry().make_group(spec);
    benchmark::DoNotOptimize(g->irreps().size());
  }
}
BENCHMARK_CAPTURE(BM_GroupAndIrrepsCached, S5, "S5")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_GroupAndIrrepsCached, C2xD4, "C2xD4")->Unit(benchmark::kMillisecond);

void BM_GroupIrrepsAndTwoRegularCold(benchmark::State& state, const char* spec) {
  for (auto _ : state) {
    auto g = eqnn::testing::registry().make_group(spec);
    auto rep = eqnn::parse_rep(g, "2x regular");
    benchmark::DoNotOptimize(rep->multiplicities().size());
  }
}
#define COLD(name, spec) \
  BENCHMARK_CAPTURE(BM_GroupIrrepsAndTwoRegularCold, name, spec)->Unit(benchmark::kMillisecond)->Iterations(1)
COLD(C128, "C128");
COLD(D48, "D48");
COLD(C512, "C512");
COLD(D512, "D512");
COLD(S6, "S6");
COLD(A6, "A6");
COLD(C32xC32, "C32xC32");
COLD(S4xS4, "S4xS4");
// Given only by generators (character-table path): C4 wreath C4 (order 1024, permutations of 16
// points) and S6.
COLD(C4wrC4_by_generators,
     "{type: FiniteGroup, generators: [[1,2,3,0,4,5,6,7,8,9,10,11,12,13,14,15], "
     "[4,5,6,7,8,9,10,11,12,13,14,15,0,1,2,3]]}");
COLD(S6_by_generators, "{type: FiniteGroup, generators: [[1,0,2,3,4,5], [1,2,3,4,5,0]]}");

// Every C_n and D_n with n <= 512: group, closed-form irreps (checked) and the "2x regular"
// decomposition, all in one iteration (per-group time = total / 1024).
void BM_CyclicAndDihedralUpTo512(benchmark::State& state) {
  for (auto _ : state)
    for (int n = 1; n <= 512; ++n)
      for (const char* family : {"C", "D"}) {
        auto g = eqnn::testing::registry().make_group(family + std::to_string(n));
        benchmark::DoNotOptimize(eqnn::parse_rep(g, "2x regular")->multiplicities().size());
      }
}
BENCHMARK(BM_CyclicAndDihedralUpTo512)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
