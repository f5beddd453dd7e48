// The built-in tasks of `eqnn train` and `eqnn demo`: generated supervised data sets with a known
// symmetry (coupled oscillators on a ring, a random equivariant teacher). Training on them is in
// training.hpp (train_model).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace eqnn {

class Model;

/// A supervised data set: inputs (N, T, D_in) and targets (N, D_out) or (N, T, D_out).
struct TaskData {
  at::Tensor train_x, train_y, test_x, test_y;
};

/// A built-in task. `ring`: n coupled nonlinear oscillators on a ring (nearest-neighbour coupling,
/// identical around the ring: D_n symmetric), predict the next state from the last T states;
/// the prediction is x_T + (model output at the last token). `teacher`: targets from a fixed random
/// equivariant network (input rep → output rep) applied per token with a mean over the sequence.
///
///   auto task = eqnn::make_task("auto", *model);
///   eqnn::TrainResult result = eqnn::train_model(*model, *task, {});  // training.hpp
class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual const TaskData& data() const = 0;
  /// Prediction from the model output for inputs x (same leading shape as the targets).
  virtual at::Tensor predict(const at::Tensor& model_output, const at::Tensor& x) const = 0;
};

/// Names of the built-in tasks.
std::vector<std::string> task_names();
/// "auto" chooses `ring` when the model's input and output are n-dimensional permutation reps of a
/// cyclic or dihedral group acting on the n vertices of a polygon, `teacher` otherwise.
std::unique_ptr<Task> make_task(const std::string& name, Model& model, uint64_t seed = 0);
/// The ring task with n oscillators (usable without a model; the demo uses it).
std::unique_ptr<Task> make_ring_task(int64_t n, uint64_t seed = 0, int64_t train_size = 2048,
                                     int64_t test_size = 512, int64_t window = 8);

}  // namespace eqnn
