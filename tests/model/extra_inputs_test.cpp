// Models whose first layer takes inputs besides x (eqnn::ExtraInputs: a step, a conditioning vector or
// sequence): Model::forward(x, extra), the messages for missing or malformed extra inputs, the builder's
// refusal of such a layer anywhere but first, and check_model acting on the extra inputs by their reps.
// The layers here are test-only (registered under test names): y = x + c (1 + sin t) broadcast over the
// sequence, equivariant when c carries the rep of x; a "Twisted" one that reverses c first, which is not.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/registry/registry.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

class Conditioned : public Layer, public ExtraInputs {
 public:
  Conditioned(RepPtr rep, bool required, bool twisted, bool sequence)
      : Layer("Conditioned"),
        rep_(std::move(rep)),
        required_(required),
        twisted_(twisted),
        sequence_(sequence) {}
  at::Tensor forward(const at::Tensor& x) override { return forward_with(x, {at::Tensor(), at::Tensor()}); }
  at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) override {
    check_extra_inputs("Conditioned", extra_inputs(), extra, x.size(0), x.dim() == 3 ? x.size(1) : -1);
    if (!extra[1].defined()) return x;
    at::Tensor c = twisted_ ? extra[1].flip(-1) : extra[1];
    at::Tensor scale =
        extra[0].defined() ? 1 + at::sin(extra[0]).reshape({-1, 1}) : at::ones({1, 1}, x.options());
    if (sequence_) return x + c * scale.unsqueeze(1);
    return x + (x.dim() == 3 ? (c * scale).unsqueeze(1) : c * scale);
  }
  std::vector<ExtraInput> extra_inputs() const override {
    return {{"timestep", ExtraInput::Kind::step, nullptr, required_, 0},
            {"cond", sequence_ ? ExtraInput::Kind::sequence : ExtraInput::Kind::vector, rep_, required_, 0}};
  }
  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return rep_; }
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }

 private:
  RepPtr rep_;
  bool required_, twisted_, sequence_;
};

const Registry& test_registry() {
  static const std::unique_ptr<Registry> r = [] {
    auto reg = std::make_unique<Registry>();
    reg->load_default_plugins();
    reg->register_builtin("test_extra_inputs", [](Registrar& add) {
      auto factory = [](bool required, bool twisted, bool sequence) {
        return [=](const LayerArgs& a) -> LayerPtr {
          return std::make_shared<Conditioned>(a.in_rep, required, twisted, sequence);
        };
      };
      add.add_layer("Conditioned", factory(true, false, false));
      add.add_layer("ConditionedSeq", factory(true, false, true));
      add.add_layer("OptionallyConditioned", factory(false, false, false));
      add.add_layer("Twisted", factory(true, true, false));
    });
    return reg;
  }();
  return *r;
}

ModelPtr model_with(const std::string& first, const std::string& rest = "  - {type: eReLU}\n") {
  return load_model_from_string(
      test_registry(),
      "eqnn: 1\ngroup: D4\ninput: permutation(vertices)\nlayers:\n  - {type: " + first + "}\n" + rest,
      "extra.yaml");
}

TEST(ExtraInputs, ModelForwardPassesThemToTheFirstLayer) {
  auto model = model_with("Conditioned");
  ASSERT_EQ(model->extra_inputs().size(), 2u);
  EXPECT_EQ(model->extra_inputs()[1].name, "cond");
  auto x = at::randn({3, 5, 4}, at::kDouble);
  auto t = at::rand({3}, at::kDouble) * 10;
  auto c = at::randn({3, 4}, at::kDouble);
  model->to(at::kDouble);
  auto y = model->forward(x, {t, c});
  auto expected = at::relu(x + (c * (1 + at::sin(t)).unsqueeze(1)).unsqueeze(1));
  EXPECT_LE((y - expected).abs().max().item<double>(), 1e-15);
}

TEST(ExtraInputs, MissingOrMalformedExtraInputsAreRefusedByName) {
  auto model = model_with("Conditioned");
  model->to(at::kDouble);
  auto x = at::randn({3, 4}, at::kDouble);
  EXPECT_HAS(error_text<c10::Error>([&] { model->forward(x); }),
             "its first layer, Conditioned, also takes timestep, cond: call forward(x, {timestep, cond})");
  EXPECT_HAS(error_text<c10::Error>([&] { model->forward(x, {at::rand({3}, at::kDouble)}); }),
             "Conditioned takes x and 2 more input(s) (timestep, cond), got 1");
  EXPECT_HAS(error_text<c10::Error>([&] {
               model->forward(x, {at::rand({3}, at::kDouble), at::Tensor()});
             }),
             "Conditioned: the input 'cond' is required");
  EXPECT_HAS(error_text<c10::Error>([&] {
               model->forward(x, {at::rand({3}, at::kDouble), at::randn({3, 5}, at::kDouble)});
             }),
             "Conditioned: the input 'cond' must be (3, 4), got (3, 5)");
  EXPECT_HAS(error_text<c10::Error>([&] {
               model->forward(x, {at::rand({2}, at::kDouble), at::randn({3, 4}, at::kDouble)});
             }),
             "Conditioned: the input 'timestep' must be a scalar or (3), got (2)");
  auto seq = model_with("ConditionedSeq");
  EXPECT_HAS(error_text<c10::Error>([&] {
               seq->forward(at::randn({2, 5, 4}), {at::rand({2}), at::randn({2, 4, 4})});
             }),
             "Conditioned: the input 'cond' must be (2, 5, 4), got (2, 4, 4)");
  auto plain = load_model_from_string(
      registry(), "eqnn: 1\ngroup: D4\ninput: regular\nlayers:\n  - {type: eReLU}\n", "plain.yaml");
  EXPECT_HAS(error_text<c10::Error>([&] {
               plain->forward(at::randn({2, 8}), {at::rand({2})});
             }),
             "model 'plain.yaml' takes one input, x (its first layer, eReLU, takes no extra inputs), got 2");
}

TEST(ExtraInputs, OnlyTheFirstLayerMayRequireThem) {
  EXPECT_HAS(
      error_text<ConfigError>([&] { model_with("eReLU", "  - {type: Conditioned}\n"); }),
      "extra.yaml:6:12: error: Conditioned also takes timestep, cond, which only a model's first layer "
      "can be given (model(x, timestep, cond)): put it first");
  EXPECT_HAS(error_text<ConfigError>([&] { model_with("Sequential, layers: [{type: Conditioned}]"); }),
             "Conditioned also takes timestep, cond, which only a model's first layer can be given");
  // A layer whose extra inputs are all optional may stand anywhere and runs on x alone.
  auto model = model_with("eReLU", "  - {type: OptionallyConditioned}\n");
  auto x = at::randn({2, 4});
  EXPECT_TRUE(at::equal(model->forward(x), at::relu(x)));
}

TEST(ExtraInputs, CheckModelActsOnThemByTheirReps) {
  for (const char* first : {"Conditioned", "ConditionedSeq"}) {
    SCOPED_TRACE(first);
    auto model = model_with(first);
    for (auto dtype : {at::kDouble, at::kFloat}) {
      for (const auto& r : check_model(*model, dtype)) {
        EXPECT_TRUE(r.checked) << r.path;
        EXPECT_LE(r.max_error, equivariance_tolerance(dtype)) << r.path;
      }
    }
  }
  // Reversing c is not equivariant for D4 on the vertices: the check must see it (so it does act on c).
  auto twisted = model_with("Twisted");
  auto results = check_model(*twisted, at::kDouble);
  EXPECT_GT(results.front().max_error, 1e-3);
  EXPECT_GT(results.back().max_error, 1e-3);
}

}  // namespace
}  // namespace eqnn::testing
