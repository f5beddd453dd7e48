// Embedding eqnn in a program: load the shipped plugins, build a model from YAML, train it on the
// built-in task, check its equivariance and save a checkpoint.
//
//   eqnn_embed_example examples/models/d4_mlp.yaml [checkpoint.pt]
#include <iostream>

#include <torch/utils.h>

#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tasks.hpp"
#include "eqnn/model/training.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " MODEL.yaml [CHECKPOINT]\n";
    return 2;
  }
  try {
    eqnn::Registry registry;
    registry.load_default_plugins();
    torch::manual_seed(0);
    auto model = eqnn::load_model(registry, argv[1]);
    auto task = eqnn::make_task("auto", *model);
    std::cout << "task: " << task->description() << "\n";

    eqnn::TrainOptions options;
    options.steps = 200;
    auto result = eqnn::train_model(*model, *task, options);
    std::cout << "relative test error " << result.test_relative_error << " after " << result.steps
              << " steps\n";

    auto checks = eqnn::check_model(*model, at::kDouble);
    std::cout << "equivariance error (float64) " << checks.back().max_error << "\n";
    if (argc > 2) eqnn::save_checkpoint(*model, registry, argv[2]);
    return checks.back().max_error <= eqnn::equivariance_tolerance(at::kDouble) ? 0 : 1;
  } catch (const eqnn::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
