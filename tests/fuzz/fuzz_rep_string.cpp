// Fuzz target: the representation-string parser (parse_rep). The first byte picks one of a few groups,
// the rest is the text. A representation that parses must be one: ρ(g)ρ(h) = ρ(gh) and ρ(g) orthogonal
// for sampled pairs (small sizes; Haar-random pairs for the compact groups), and its irreps' dimensions must
// add up to its size.
#include <algorithm>
#include <array>
#include <cmath>
#include <random>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/util/error.hpp"
#include "fuzz_support.hpp"

namespace {

const std::array<const char*, 8> kGroups = {"C1", "C4", "D4", "S3", "C2xD4", "Ico", "SO3", "O2"};

const eqnn::GroupPtr& group(size_t index) {
  static std::array<eqnn::GroupPtr, kGroups.size()> groups;
  if (!groups[index]) groups[index] = eqnn::fuzz::registry().make_group(std::string(kGroups[index]));
  return groups[index];
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  eqnn::fuzz::limit_sizes();
  eqnn::fuzz::registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const eqnn::GroupPtr& g = group(data[0] % kGroups.size());
  eqnn::RepPtr rep;
  try {
    rep = eqnn::parse_rep(g, eqnn::fuzz::text_of(data + 1, size - 1));
  } catch (const eqnn::Error&) {
    return 0;
  }
  if (rep->size() <= 0) __builtin_trap();
  if (rep->size() > 64) return 0;  // dense checks of large ones would only be slow
  int total = 0;
  for (int k : rep->irreps()) total += g->irreps()[k].dim;
  if (total != rep->size()) __builtin_trap();
  if (const eqnn::CompactGroupDefinition* def = g->compact()) {
    std::mt19937_64 rng(size);
    for (int i = 0; i < 4; ++i) {
      const eqnn::Matrix a = def->sample(rng), b = def->sample(rng);
      const eqnn::Matrix ra = rep->matrix(a), rb = rep->matrix(b), rab = rep->matrix(eqnn::Matrix(a * b));
      if ((ra * rb - rab).cwiseAbs().maxCoeff() > 1e-9) __builtin_trap();
      if ((ra * ra.transpose() - eqnn::Matrix::Identity(rep->size(), rep->size())).cwiseAbs().maxCoeff() >
          1e-9)
        __builtin_trap();
    }
    return 0;
  }
  const int n = g->order();
  for (int i = 0; i < std::min(n, 4); ++i) {
    const int a = (i * 7 + 1) % n, b = (i * 13 + 3) % n;
    const eqnn::Matrix ra = rep->matrix(a), rb = rep->matrix(b), rab = rep->matrix(g->mul(a, b));
    if ((ra * rb - rab).cwiseAbs().maxCoeff() > 1e-9) __builtin_trap();
    if ((ra * ra.transpose() - eqnn::Matrix::Identity(rep->size(), rep->size())).cwiseAbs().maxCoeff() >
        1e-9) {
      __builtin_trap();
    }
  }
  return 0;
}
