// The model builder: the example models build, the representation flow and layer paths are right,
// every layer and the whole model are equivariant on every group element (float32 and float64,
// (batch, features) and (batch, seq, features)), blocks, repeat and stock layers behave as documented.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "eqnn/util/error.hpp"
#include "eqnn/model/model.hpp"
#include "model_test_util.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

const std::vector<std::string> kExamples = {"c8_transformer", "d4_mlp", "ico_attention", "q8_generators"};

std::string example(const std::string& name) { return source_path("examples/models/" + name + ".yaml"); }

at::Tensor rep_matrix(const RepPtr& rep, int g, at::ScalarType dtype) {
  const Matrix m = rep->matrix(g);
  at::Tensor t = at::empty({m.rows(), m.cols()}, at::kDouble);
  for (int i = 0; i < m.rows(); ++i)
    for (int j = 0; j < m.cols(); ++j) t[i][j] = m(i, j);
  return t.to(dtype);
}

// f(x ρ_in(g)ᵀ) = f(x) ρ_out(g)ᵀ for every g, by hand (not through check_model).
void expect_model_equivariant(Model& model, at::ScalarType dtype, std::vector<int64_t> shape) {
  torch::NoGradGuard no_grad;
  model.to(dtype);
  model.eval();
  at::Tensor x = at::randn(shape, at::TensorOptions().dtype(dtype));
  at::Tensor y = model.forward(x);
  const double tol = dtype == at::kDouble ? 1e-10 : 1e-5;
  const double scale = y.abs().max().item<double>();
  ASSERT_GT(scale, 0);
  for (int g = 0; g < model.group()->order(); ++g) {
    at::Tensor gy = model.forward(at::matmul(x, rep_matrix(model.input_rep(), g, dtype).t()));
    at::Tensor expected = at::matmul(y, rep_matrix(model.output_rep(), g, dtype).t());
    EXPECT_LE((gy - expected).abs().max().item<double>() / scale, tol) << "element " << g;
  }
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

TEST(Builder, CheckModelPassesEveryLayerOfTheExamples) {
  for (const auto& name : kExamples) {
    SCOPED_TRACE(name);
    auto model = load_model(registry(), example(name));
    for (auto dtype : {at::kDouble, at::kFloat}) {
      model->to(dtype);
      auto results = check_model(*model, dtype);
      ASSERT_EQ(results.size(), model->layer_infos().size() + 1);
      for (const auto& r : results) {
        EXPECT_TRUE(r.checked) << r.path;
        EXPECT_LE(r.max_error, equivariance_tolerance(dtype)) << r.path;
      }
    }
  }
}

TEST(Builder, CheckModelCatchesABrokenLayer) {
  // A stock Linear between reps the model declares: per-layer n/a, but the whole-model check fails.
  auto model = load_model_from_string(registry(), R"(eqnn: 1
group: D4
reps: {x: permutation(vertices)}
input: x
output: x
layers:
  - {type: Linear, out_features: 4}
)",
                                      "broken.yaml");
  auto results = check_model(*model, at::kDouble);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].checked);
  EXPECT_EQ(results[0].note, "n/a (no group action)");
  EXPECT_TRUE(results[1].checked);
  EXPECT_GT(results[1].max_error, 1e-3);
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
  try {
    model->forward(at::randn({2, 5}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected 4 input features (the input rep x), got shape [2, 5]"),
              std::string::npos)
        << e.what();
  }
  try {
    model->forward(at::randn({4}));
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "expected input (batch, features) or (batch, seq, features), got shape [4]"),
              std::string::npos);
  }
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

TEST(Builder, ExportRefusesLayersWithoutStockEquivalent) {
  auto model = load_model(registry(), example("c8_transformer"));
  ScratchDir dir;
  try {
    export_weights(*model, dir.file("w.pt"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(
        std::string(e.what()).find("layer layers.1 (eTransformerEncoderLayer) has parameters but no stock "
                                   "PyTorch equivalent"),
        std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("w.pt")));
}

}  // namespace
}  // namespace eqnn::testing
