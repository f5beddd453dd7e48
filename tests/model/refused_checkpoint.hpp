// Model tests only: loading a checkpoint that must be refused, checking that the refusal changed nothing
// (checkpoint_test.cpp, and tensor_file_test.cpp for the files every loader refuses).
#pragma once

#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "command.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"

namespace eqnn::testing {

// Loads `file` into the model of tests/model/fixtures/c2_linear.yaml, expecting a refusal that leaves the
// model's output bit-identical; returns the error text.
inline std::string refused_checkpoint(const std::string& file) {
  auto model = load_model(registry(), source_path("tests/model/fixtures/c2_linear.yaml"));
  torch::NoGradGuard no_grad;
  const at::Tensor x = at::randn({3, 2});
  const at::Tensor before = model->forward(x);
  const std::string msg = error_text<Error>([&] { load_checkpoint(*model, file); });
  EXPECT_TRUE(at::equal(model->forward(x), before)) << file;
  return msg;
}

}  // namespace eqnn::testing
