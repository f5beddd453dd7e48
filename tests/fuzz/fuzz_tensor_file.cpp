// Fuzz target: the tensor-file and checkpoint loaders (torch.save's zip + pickle format). The input is
// written to a file and read as `eqnn run`'s input (load_inputs), as a training set (load_dataset), as a
// bare tensor (load_tensor_file), as a checkpoint of a small model (load_checkpoint) and for its model text
// (checkpoint_source). A checkpoint that loads must leave the forward of the right shape;
// one that is refused must leave the model unchanged.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <ATen/ops/equal.h>
#include <ATen/ops/randn.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_data.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/util/error.hpp"
#include "fuzz_support.hpp"

namespace {

const char* const kModel = R"(eqnn: 1
group: C2
input: 2x regular
layers:
  - {type: eLinear, out_rep: regular}
)";

const std::string& scratch_file() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir != nullptr ? dir : "/tmp") + "/eqnn-fuzz-tensor-file-" + std::to_string(getpid()) +
           ".pt";
  }();
  return path;
}

template <typename F>
void expect_error_or_value(F&& read) {
  try {
    read();
  } catch (const eqnn::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  eqnn::fuzz::registry();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = scratch_file();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  expect_error_or_value([&] { eqnn::load_inputs(path); });
  expect_error_or_value([&] { eqnn::load_dataset(path); });
  expect_error_or_value([&] { eqnn::load_tensor_file(path); });
  expect_error_or_value([&] { eqnn::checkpoint_source(path); });

  static const eqnn::ModelPtr model =
      eqnn::load_model_from_string(eqnn::fuzz::registry(), kModel, "fuzz.yaml");
  static const at::Tensor x = at::randn({3, model->input_size()});
  torch::NoGradGuard no_grad;
  const at::Tensor before = model->forward(x);
  try {
    eqnn::load_checkpoint(*model, path);
  } catch (const eqnn::Error&) {
    if (!at::equal(model->forward(x), before)) __builtin_trap();  // refused, but changed the model
    return 0;
  }
  const at::Tensor after = model->forward(x);
  if (after.sizes() != before.sizes()) __builtin_trap();
  // Loaded: put the original weights back for the next input.
  for (auto& p : model->parameters()) p.normal_();
  return 0;
}
