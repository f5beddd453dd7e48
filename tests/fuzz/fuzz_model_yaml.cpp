// Fuzz target: the YAML model builder (load_model_from_string), from any text to a model or a
// ConfigError. A model that builds must also run: one forward on a batch of one (with random extra inputs
// where its first layer takes a step or conditioning) gives an output of the declared size or a clear
// eqnn::Error (an input too short for a convolution), never a crash.
#include <ATen/ops/elu.h>
#include <ATen/ops/gelu.h>
#include <ATen/ops/randn.h>
#include <ATen/ops/relu.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/silu.h>
#include <ATen/ops/tanh.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/util/error.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  eqnn::fuzz::limit_sizes();
  eqnn::fuzz::registry();
  // oneDNN compiles an elementwise kernel on its first use, which under ASan can take most of the 1 s an
  // input may run (a seed model with GELU once timed out so while another fuzzer shared the machine): the
  // activations the models use are compiled here, before any input is timed.
  const at::Tensor x = at::randn({2, 64});
  (void)at::gelu(x);
  (void)at::gelu(x, "tanh");
  (void)at::relu(x);
  (void)at::silu(x);
  (void)at::tanh(x);
  (void)at::sigmoid(x);
  (void)at::elu(x);
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
  at::Tensor y;
  try {
    y = model->forward(
        at::randn({1, frames, model->input_size()}),
        eqnn::random_extra_inputs(model->extra_inputs(), 1, frames, at::TensorOptions(at::kFloat)));
  } catch (const eqnn::Error&) {
    // A model may refuse this input with a clear error: e.g. a strided, dilated eConv1d needs more than two
    // frames ("input length 2 is too short for kernel_size 2, dilation 4 and padding 1").
    return 0;
  }
  if (model->output_size() > 0 && y.size(-1) != model->output_size()) __builtin_trap();
  return 0;
}
