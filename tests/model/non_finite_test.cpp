// NaN and Inf are failures wherever equivariance or agreement is judged: the library check behind
// `eqnn check`, the CLI (exit 1, "not finite"), the shared test helpers and the export check script.
// `std::max(NaN, x)`, Python's `max(x, nan)` and `err > tol` all let NaN through; each case here would
// have passed before.
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/utils.h>

#include "command.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/model/checkpoint.hpp"
#include "eqnn/model/equivariance_check.hpp"
#include "eqnn/model/model.hpp"
#include "equivariance.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

// The issue's case: C1, one trivial feature, a norm without eps: (x - mean) / sqrt(0) = 0/0.
constexpr const char* kNaNModel = R"(eqnn: 1
group: C1
input: trivial
layers:
  - {type: LayerNorm, eps: 0}
)";

// An equivariant model whose weights are then set to NaN (no config can refuse that).
constexpr const char* kLinearModel = R"(eqnn: 1
group: D4
reps: {x: permutation(vertices), h: 2x regular}
input: x
layers:
  - {type: eLinear, out_rep: h}
  - {type: eReLU}
  - {type: eLinear, out_rep: x}
)";

ModelPtr nan_weights_model() {
  torch::manual_seed(0);
  auto model = load_model_from_string(registry(), kLinearModel, "nan-weights.yaml");
  torch::NoGradGuard no_grad;
  for (auto& p : model->parameters()) p.fill_(std::numeric_limits<double>::quiet_NaN());
  return model;
}

TEST(NonFinite, CheckModelFailsEveryLayerWhoseOutputIsNaN) {
  for (auto dtype : {at::kDouble, at::kFloat}) {
    SCOPED_TRACE(c10::toString(dtype));
    auto model = nan_weights_model();
    const auto results = check_model(*model, dtype, 0);
    ASSERT_EQ(results.size(), 4u);
    for (const auto& r : results) {
      SCOPED_TRACE(r.path);
      ASSERT_TRUE(r.checked);
      if (r.type == "eReLU") {  // gets a finite random input: finite, equivariant
        EXPECT_TRUE(within_tolerance(r, equivariance_tolerance(dtype)));
        continue;
      }
      EXPECT_TRUE(std::isnan(r.max_error));
      EXPECT_FALSE(within_tolerance(r, equivariance_tolerance(dtype)));
      EXPECT_HAS(r.note, "not finite");
    }
    EXPECT_EQ(results.back().path, "model");
    EXPECT_FALSE(within_tolerance(results.back(), 1.0));
  }
}

TEST(NonFinite, NaNOutputOfTheIssueModelIsNotEquivariant) {
  for (auto dtype : {at::kDouble, at::kFloat}) {
    auto model = load_model_from_string(registry(), kNaNModel, "nan.yaml");
    const auto results = check_model(*model, dtype, 0);
    EXPECT_FALSE(within_tolerance(results.back(), equivariance_tolerance(dtype)));
    EXPECT_HAS(results.back().note, "not finite: f(x) has NaN or Inf");
  }
}

TEST(NonFinite, InfOnOneGroupElementIsReportedWithThatElement) {
  auto g = group("C4");
  auto rep = Representation::regular(g);
  int calls = 0;
  // f(x) and f(g0·x) finite; from the third call on, +Inf.
  auto f = [&](const at::Tensor& x) {
    return ++calls <= 2 ? x : x * std::numeric_limits<double>::infinity();
  };
  const auto r = equivariance_error(f, rep, rep, at::kDouble, 3, 0);
  EXPECT_TRUE(std::isnan(r.max_error));
  EXPECT_EQ(r.worst_element, 1);
  EXPECT_HAS(r.note, "not finite: f(g·x) for g = 1 has NaN or Inf");
  EXPECT_FALSE(within_tolerance(r, 1e300));
  // A finite, exactly equivariant function passes; a finite error above the tolerance fails.
  const auto ok = equivariance_error([](const at::Tensor& x) { return x; }, rep, rep, at::kDouble, 3, 0);
  EXPECT_TRUE(within_tolerance(ok, 1e-10));
  EXPECT_FALSE(within_tolerance(EquivarianceResult{"", "", true, 1e-3, 0, ""}, 1e-5));
}

TEST(NonFinite, CliCheckExitsWithStatus1AndSaysNotFinite) {
  TempDir dir;
  write_text(dir.file("nan.yaml"), kNaNModel);
  for (const std::string dtype : {"float32", "float64"}) {
    SCOPED_TRACE(dtype);
    auto r = eqnn_cli("check " + dir.file("nan.yaml") + " --dtype " + dtype);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_HAS(r.output, "not finite");
    EXPECT_HAS(r.output, "FAIL");
    EXPECT_HAS(r.output, "is not equivariant within");
    EXPECT_EQ(r.output.find("equivariant: every checked layer"), std::string::npos) << r.output;
  }
}

TEST(NonFinite, TestHelpersReportNaNAndNeverPassIt) {
  auto g = group("D4");
  auto rep = parse_rep(g, "regular");
  const at::Tensor x = at::randn({3, int64_t{rep->size()}}, at::kDouble);
  const TensorFn nan_everywhere = [](const at::Tensor& t) { return t * std::nan(""); };
  EXPECT_TRUE(std::isnan(equivariance_error(nan_everywhere, *rep, *rep, x)));
  int calls = 0;
  const TensorFn nan_later = [&](const at::Tensor& t) { return ++calls > 1 ? t * std::nan("") : t; };
  EXPECT_TRUE(std::isnan(equivariance_error(nan_later, *rep, *rep, x)));
  EXPECT_TRUE(std::isnan(nan_max(0.0, std::nan(""))));
  EXPECT_TRUE(std::isnan(nan_max(std::nan(""), 1.0)));
  EXPECT_EQ(nan_max(1.0, 2.0), 2.0);
  EXPECT_FALSE(all_finite(at::tensor({1.0, std::numeric_limits<double>::infinity()})));
  EquivarianceSweep sweep;
  sweep.inputs = [&](at::ScalarType dtype) -> std::vector<at::Tensor> {
    return random_inputs(rep->size(), dtype, 1);
  };
  // ExpectEquivariant fails once per dtype and input (2 x 3), never passes.
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter intercept(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    ExpectEquivariant(nan_everywhere, *rep, *rep, sweep, "nan");
  }
  ASSERT_EQ(failures.size(), 6);
  for (int i = 0; i < failures.size(); ++i) EXPECT_TRUE(failures.GetTestPartResult(i).nonfatally_failed());
}

TEST(NonFinite, ExportCheckRefusesNaNOutputs) {
  TempDir dir;
  write_text(dir.file("model.yaml"), kLinearModel);
  auto model = load_model(registry(), dir.file("model.yaml"));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.fill_(std::numeric_limits<double>::quiet_NaN());
  }
  save_checkpoint(*model, registry(), dir.file("nan.pt"));
  auto r = run_command(std::string(EQNN_PYTHON) + " " + source_path("tests/model/export_check.py") + " " +
                       EQNN_CLI + " " + dir.file("model.yaml") + " " + dir.file("work") + " float64 " +
                       dir.file("nan.pt"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_HAS(r.output, "not finite");
}

}  // namespace
}  // namespace eqnn::testing
