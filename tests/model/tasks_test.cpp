// The built-in tasks (tasks.hpp): "auto" picks the ring for a model on a polygon's vertices and the
// teacher otherwise, the ring's data have the documented shapes and its prediction adds the model's
// output to the last state, and an unknown name is an error that lists the tasks.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "command.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

TEST(Tasks, AutoPicksTheRingForAPolygonAndTheTeacherOtherwise) {
  EXPECT_EQ(task_names(), (std::vector<std::string>{"auto", "ring", "teacher"}));
  auto d4 = load_model(registry(), example("d4_mlp"));
  EXPECT_EQ(make_task("auto", *d4)->name(), "ring");
  EXPECT_EQ(make_task("teacher", *d4)->name(), "teacher");
  auto q8 = load_model(registry(), example("q8_generators"));
  EXPECT_EQ(make_task("auto", *q8)->name(), "teacher");
  EXPECT_HAS(error_text<Error>([&] { make_task("rings", *q8); }),
             "unknown task 'rings' (did you mean 'ring'?); built-in tasks: auto, ring, teacher");
}

TEST(Tasks, RingDataHaveTheDocumentedShapes) {
  auto task = make_ring_task(5, /*seed=*/3, /*train_size=*/16, /*test_size=*/8, /*window=*/4);
  const TaskData& d = task->data();
  EXPECT_EQ(d.train_x.sizes(), (std::vector<int64_t>{16, 4, 5}));
  EXPECT_EQ(d.train_y.sizes(), (std::vector<int64_t>{16, 5}));
  EXPECT_EQ(d.test_x.sizes(), (std::vector<int64_t>{8, 4, 5}));
  EXPECT_TRUE(all_finite(d.train_x) && all_finite(d.train_y));
  // Zero model output predicts persistence: the last state of the window.
  EXPECT_TRUE(at::equal(task->predict(at::zeros({8, 5}), d.test_x), d.test_x.select(1, 3)));
}

}  // namespace
}  // namespace eqnn::testing
