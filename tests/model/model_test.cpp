// The model builder (model.hpp): the example models build and are equivariant on every group element
// (float32 and float64, (batch, features) and (batch, seq, features)), the representation flow and layer
// paths are right, blocks, repeat and stock layers behave as documented.
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "command.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "equivariance.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

const std::vector<std::string> kExamples = {"c8_transformer", "d4_mlp", "ico_attention", "q8_generators"};

// f(x ρ_in(g)ᵀ) = f(x) ρ_out(g)ᵀ for every g, by the test helper (not through check_model).
void expect_model_equivariant(Model& model, at::ScalarType dtype, const std::vector<int64_t>& shape) {
  torch::NoGradGuard no_grad;
  model.to(dtype);
  model.eval();
  const at::Tensor x = at::randn(shape, at::TensorOptions().dtype(dtype));
  ASSERT_GT(model.forward(x).abs().max().item<double>(), 0);
  EXPECT_LE(equivariance_error([&](const at::Tensor& t) { return model.forward(t); }, *model.input_rep(),
                               *model.output_rep(), x),
            tolerance(dtype))
      << "input " << x.sizes();
}

TEST(Builder, ExamplesAreEquivariantOnEveryElement) {
  for (const auto& name : kExamples) {
    SCOPED_TRACE(name);
    torch::manual_seed(1);
    auto model = load_model(registry(), example(name));
    ASSERT_TRUE(model->output_rep());
    for (auto dtype : {at::kDouble, at::kFloat}) {
      expect_model_equivariant(*model, dtype, {3, 4, model->input_size()});
      expect_model_equivariant(*model, dtype, {5, model->input_size()});
      expect_model_equivariant(*model, dtype, {1, model->input_size()});
    }
  }
}

TEST(Builder, RepresentationFlowPathsAndRepeat) {
  auto model = load_model(registry(), example("c8_transformer"));
  const auto& infos = model->layer_infos();
  ASSERT_EQ(infos.size(), 4u);  // repeat: 2 gives two layers
  EXPECT_EQ(infos[0].path, "layers.0");
  EXPECT_EQ(infos[1].path, "layers.1");
  EXPECT_EQ(infos[2].path, "layers.2");
  EXPECT_EQ(infos[2].type, "eTransformerEncoderLayer");
  EXPECT_NE(infos[1].layer, infos[2].layer);
  EXPECT_EQ(infos[0].in_size, 8);
  EXPECT_EQ(infos[0].out_size, 32);
  EXPECT_EQ(model->rep_label(infos[1].layer->in_rep()), "h");
  EXPECT_EQ(model->rep_label(model->output_rep()), "x");
  // Parameter names carry the layer path.
  bool found = false;
  for (const auto& p : model->named_parameters()) found = found || p.key().rfind("layers.1.", 0) == 0;
  EXPECT_TRUE(found);
  EXPECT_LT(model->parameter_count(), model->unconstrained_parameter_count());
}

TEST(Builder, BlocksNestAndResidualAddsTheInput) {
  auto model = load_model(registry(), example("d4_mlp"));
  const auto& infos = model->layer_infos();
  ASSERT_EQ(infos.size(), 6u);
  EXPECT_EQ(infos[2].path, "layers.2");
  EXPECT_EQ(infos[2].type, "Residual");
  EXPECT_EQ(infos[3].path, "layers.2.block.0");
  EXPECT_EQ(infos[3].depth, 1);
  EXPECT_EQ(infos[4].path, "layers.2.block.1");
  auto block = std::dynamic_pointer_cast<BlockLayer>(infos[2].layer);
  ASSERT_TRUE(block);
  torch::NoGradGuard no_grad;
  at::Tensor h = at::randn({3, 32});
  at::Tensor expected = h + block->layers()[1]->forward(block->layers()[0]->forward(h));
  EXPECT_TRUE(at::allclose(block->forward(h), expected));
  // Effective parameter names follow the paths.
  std::vector<std::string> names;
  for (const auto& [name, t] : model->effective_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.2.block.0.weight",
                                             "layers.2.block.0.bias", "layers.3.weight", "layers.3.bias"}));
}

TEST(Builder, ExplicitInRepEqualsInferredAndInlineRepStrings) {
  const std::string a = R"(eqnn: 1
group: C4
reps: {x: "2x regular"}
input: x
layers:
  - {type: eLinear, out_rep: "regular + trivial"}
  - {type: eLinear, in_rep: "regular + trivial", out_rep: x}
)";
  auto model = load_model_from_string(registry(), a, "inline.yaml");
  EXPECT_EQ(model->layer_infos()[1].in_size, 5);
  EXPECT_EQ(model->output_size(), 8);
}

TEST(Builder, StockLayersNeedAnExplicitInRepBeforeAnEquivariantLayer) {
  const std::string text = R"(eqnn: 1
group: C4
reps: {x: permutation(vertices), h: regular}
input: x
layers:
  - {type: Linear, out_features: 4}
  - {type: eLinear, in_rep: h, out_rep: x}
)";
  auto model = load_model_from_string(registry(), text, "mixed.yaml");
  EXPECT_EQ(model->layer_infos()[0].layer->in_rep(), nullptr);
  EXPECT_EQ(model->layer_infos()[1].layer->in_rep()->size(), 4);
  EXPECT_EQ(model->forward(at::randn({2, 4})).sizes(), (std::vector<int64_t>{2, 4}));
}

TEST(Builder, ForwardRefusesWrongShapes) {
  auto model = load_model(registry(), example("d4_mlp"));
  EXPECT_HAS(error_text<c10::Error>([&] {
               model->forward(at::randn({2, 5}));
             }),
             "expected 4 input features (the input rep x), got shape [2, 5]");
  EXPECT_HAS(error_text<c10::Error>([&] { model->forward(at::randn({4})); }),
             "expected input (batch, features) or (batch, seq, features), got shape [4]");
}

TEST(Builder, ModelOutlivesItsRegistry) {
  ModelPtr model;
  {
    Registry local;
    local.load_default_plugins();
    model = load_model(local, example("ico_attention"));
  }
  torch::NoGradGuard no_grad;
  EXPECT_EQ(model->forward(at::randn({2, 3, 12})).sizes(), (std::vector<int64_t>{2, 3, 12}));
}

}  // namespace
}  // namespace eqnn::testing
