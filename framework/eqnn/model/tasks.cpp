// Built-in training tasks (`eqnn train`, `eqnn demo`); they train with the shared loop (training.cpp).
//
// ring:    n coupled pendulums on a ring, θ̈_i = −sin θ_i − k [sin(θ_i − θ_{i−1}) + sin(θ_i − θ_{i+1})] − γ
// θ̇_i.
//          The coupling is nearest-neighbour and the same around the ring, so the dynamics commute with
//          the rotations and reflections of the ring indices (D_n). Input: the last T angles (batch, T, n);
//          target: the next angles (batch, n); prediction: x_T + (model output at the last token).
// teacher: a fixed random equivariant network y_t = A tanh(B x_t + C mean_s x_s) from the model's input
//          rep to its output rep (hidden reps are regular, so tanh is equivariant); inputs are Gaussian.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

class RingTask : public Task {
 public:
  RingTask(int64_t n, uint64_t seed, int64_t train_size, int64_t test_size, int64_t window) : n_(n) {
    auto [tx, ty] = generate(train_size, window, seed);
    auto [vx, vy] = generate(test_size, window, seed + 0x9e3779b9ULL);
    data_ = {tx, ty, vx, vy};
  }
  std::string name() const override { return "ring"; }
  std::string description() const override {
    return fmt::format(
        "ring of {} coupled nonlinear oscillators: predict the next angles from the last {} "
        "(prediction = last input + model output at the last token)",
        n_, data_.train_x.size(1));
  }
  const TaskData& data() const override { return data_; }
  at::Tensor predict(const at::Tensor& out, const at::Tensor& x) const override {
    at::Tensor last = out.dim() == 3 ? out.select(1, out.size(1) - 1) : out;
    return x.select(1, x.size(1) - 1) + last;
  }

 private:
  std::pair<at::Tensor, at::Tensor> generate(int64_t count, int64_t window, uint64_t seed) const {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto opt = at::TensorOptions().dtype(at::kDouble);
    at::Tensor theta = (at::rand({count, n_}, gen, opt) * 2 - 1) * 1.5;
    at::Tensor omega = at::randn({count, n_}, gen, opt) * 0.5;
    const double dt = 0.05, k = 0.6, gamma = 0.02;
    const int substeps = 3;
    std::vector<at::Tensor> states;
    for (int64_t t = 0; t <= window; ++t) {
      states.push_back(theta.clone());
      for (int s = 0; s < substeps; ++s) {
        at::Tensor left = at::roll(theta, 1, 1), right = at::roll(theta, -1, 1);
        at::Tensor acc =
            -at::sin(theta) - k * (at::sin(theta - left) + at::sin(theta - right)) - gamma * omega;
        omega = omega + dt * acc;
        theta = theta + dt * omega;
      }
    }
    at::Tensor seq = at::stack(states, 1).to(at::kFloat);  // (count, window + 1, n)
    return {seq.narrow(1, 0, window).contiguous(), seq.select(1, window).contiguous()};
  }

  int64_t n_;
  TaskData data_;
};

class TeacherTask : public Task {
 public:
  TeacherTask(Model& model, uint64_t seed) {
    RepPtr in = model.input_rep();
    RepPtr out = model.output_rep();
    if (!out && model.output_size() == model.input_size()) out = in;
    if (!out) out = Representation::trivial(in->group_ptr(), static_cast<int>(model.output_size()));
    const int order = in->group().order();
    const int copies = std::max(1, (32 + order - 1) / order);
    std::vector<RepPtr> regs(copies, Representation::regular(in->group_ptr()));
    RepPtr hidden = Representation::direct_sum(regs);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto opt = at::TensorOptions().dtype(at::kDouble);
    auto sample = [&](const RepPtr& a, const RepPtr& b) {
      auto hom = HomSpace::get(a, b);
      if (hom->dim() == 0) {
        throw Error(
            fmt::format("teacher task: no equivariant map from {} to {}", a->describe(), b->describe()));
      }
      return hom->expand(hom->sample(InitScheme::xavier_normal, opt, gen));
    };
    B_ = sample(in, hidden) * 2.0;
    C_ = sample(in, hidden) * 2.0;
    A_ = sample(hidden, out);
    {
      torch::NoGradGuard no_grad;
      sequence_output_ = model.forward(at::zeros({1, kWindow, in->size()})).dim() == 3;
    }
    description_ = fmt::format(
        "equivariant teacher {} -> {} (hidden {}x regular, tanh), {} tokens per sample{}", in->describe(),
        out->describe(), copies, kWindow, sequence_output_ ? "" : ", target averaged over tokens");
    auto [tx, ty] = generate(4096, in->size(), seed + 1);
    auto [vx, vy] = generate(1024, in->size(), seed + 2);
    const double scale = 1.0 / std::max(1e-12, ty.pow(2).mean().sqrt().item<double>());
    data_ = {tx, ty * scale, vx, vy * scale};
  }
  std::string name() const override { return "teacher"; }
  std::string description() const override { return description_; }
  const TaskData& data() const override { return data_; }
  at::Tensor predict(const at::Tensor& out, const at::Tensor&) const override { return out; }

 private:
  static constexpr int64_t kWindow = 4;
  std::pair<at::Tensor, at::Tensor> generate(int64_t count, int64_t size, uint64_t seed) const {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    at::Tensor x = at::randn({count, kWindow, size}, gen, at::TensorOptions().dtype(at::kDouble));
    at::Tensor mean = x.mean(1, true);
    at::Tensor h = at::tanh(at::matmul(x, B_.t()) + at::matmul(mean, C_.t()));
    at::Tensor y = at::matmul(h, A_.t());
    if (!sequence_output_) y = y.mean(1);
    return {x.to(at::kFloat), y.to(at::kFloat)};
  }

  at::Tensor A_, B_, C_;
  bool sequence_output_ = true;
  std::string description_;
  TaskData data_;
};

// True when the model's input is the n vertices of a polygon under a cyclic or dihedral group.
bool ring_shaped(const Model& model) {
  const RepPtr& in = model.input_rep();
  if (!in->is_permutation() || model.output_size() != in->size()) return false;
  if (model.output_rep() && !model.output_rep()->same_content(*in)) return false;
  const std::string& g = in->group().name();
  const int n = in->size();
  const int order = in->group().order();
  const bool cyclic = !g.empty() && g[0] == 'C' && order == n;
  const bool dihedral = !g.empty() && g[0] == 'D' && order == 2 * n;
  return cyclic || dihedral;
}

}  // namespace

std::vector<std::string> task_names() { return {"auto", "ring", "teacher"}; }

std::unique_ptr<Task> make_ring_task(int64_t n, uint64_t seed, int64_t train_size, int64_t test_size,
                                     int64_t window) {
  return std::make_unique<RingTask>(n, seed, train_size, test_size, window);
}

std::unique_ptr<Task> make_task(const std::string& name, Model& model, uint64_t seed) {
  if (name == "ring" || (name == "auto" && ring_shaped(model))) {
    if (model.output_size() != model.input_size()) {
      throw Error(
          fmt::format("task 'ring' needs a model whose output has as many features as its input "
                      "(one per oscillator); this model maps {} to {}",
                      model.input_size(), model.output_size()));
    }
    return make_ring_task(model.input_size(), seed);
  }
  if (name == "teacher" || name == "auto") return std::make_unique<TeacherTask>(model, seed);
  throw Error(fmt::format("unknown task '{}'{}; built-in tasks: auto, ring, teacher", name,
                          did_you_mean_clause(name, task_names())));
}

}  // namespace eqnn
