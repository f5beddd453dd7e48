// eqnn/eqnn.hpp, the one include for programs outside this tree: it compiles on its own (first include of
// this file) and holds every floor, from the registry to a model.
#include "eqnn/eqnn.hpp"

#include <gtest/gtest.h>

#include "support.hpp"

namespace eqnn {
namespace {

TEST(UmbrellaHeader, BuildsAModelFromEveryFloor) {
  ModelPtr model = load_model_from_string(
      testing::registry(),
      "eqnn: 1\ngroup: C4\ninput: regular\nlayers:\n  - {type: eLinear, out_rep: regular}\n",
      "umbrella.yaml");
  EXPECT_EQ(model->input_size(), 4);
  EXPECT_LE(check_model(*model, at::kDouble).back().max_error, equivariance_tolerance(at::kDouble));
}

}  // namespace
}  // namespace eqnn
