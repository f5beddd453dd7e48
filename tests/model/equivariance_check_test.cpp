// The equivariance check (equivariance_check.hpp): check_model passes every layer of the example models
// in float64 and float32, and catches a layer that breaks the symmetry. Non-finite outputs:
// non_finite_test.cpp.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "command.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

const std::vector<std::string> kExamples = {"c8_transformer", "d4_mlp", "ico_attention", "q8_generators"};

TEST(EquivarianceCheck, CheckModelPassesEveryLayerOfTheExamples) {
  for (const auto& name : kExamples) {
    SCOPED_TRACE(name);
    auto model = load_model(registry(), example(name));
    for (auto dtype : {at::kDouble, at::kFloat}) {
      model->to(dtype);
      auto results = check_model(*model, dtype);
      ASSERT_EQ(results.size(), model->layer_infos().size() + 1);
      for (const auto& r : results) {
        EXPECT_TRUE(r.checked) << r.path;
        EXPECT_LE(r.max_error, equivariance_tolerance(dtype)) << r.path;
      }
    }
  }
}

TEST(EquivarianceCheck, CheckModelCatchesABrokenLayer) {
  // A stock Linear between reps the model declares: per-layer n/a, but the whole-model check fails.
  auto model = load_model_from_string(registry(), R"(eqnn: 1
group: D4
reps: {x: permutation(vertices)}
input: x
output: x
layers:
  - {type: Linear, out_features: 4}
)",
                                      "broken.yaml");
  auto results = check_model(*model, at::kDouble);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].checked);
  EXPECT_EQ(results[0].note, "n/a (no group action)");
  EXPECT_TRUE(results[1].checked);
  EXPECT_GT(results[1].max_error, 1e-3);
}

}  // namespace
}  // namespace eqnn::testing
