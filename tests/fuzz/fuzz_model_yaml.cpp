// Fuzz target: the YAML model builder (load_model_from_string), from any text to a model or a
// ConfigError. A model that builds must also run: one forward on a batch of one (with random extra inputs
// where its first layer takes a step or conditioning), and its output must have the declared size.
#include <ATen/ops/randn.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/util/error.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  eqnn::fuzz::limit_sizes();
  eqnn::fuzz::registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  eqnn::ModelPtr model;
  try {
    model =
        eqnn::load_model_from_string(eqnn::fuzz::registry(), eqnn::fuzz::text_of(data, size), "fuzz.yaml");
  } catch (const eqnn::Error&) {
    return 0;
  }
  // Small models only: a valid description of a wide model is not a finding.
  if (model->input_size() > 4096) return 0;
  torch::NoGradGuard no_grad;
  model->eval();
  // Two frames, or the one length a first layer such as eTimeCNNEncoder takes.
  const int64_t frames = eqnn::input_sequence_length(*model, 2);
  const at::Tensor y = model->forward(
      at::randn({1, frames, model->input_size()}),
      eqnn::random_extra_inputs(model->extra_inputs(), 1, frames, at::TensorOptions(at::kFloat)));
  if (model->output_size() > 0 && y.size(-1) != model->output_size()) __builtin_trap();
  return 0;
}
