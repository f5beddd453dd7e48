// Export → stock PyTorch: the project venv's Python (EQNN_PYTHON, the torch eqnn builds against) builds the
// stock torch.nn model of the same structure, loads the exported weights with strict=True and must match
// `eqnn run` (float32 1e-5, float64 1e-10). Also: a checkpoint is readable by torch.load; a layer without a
// stock equivalent is refused by name.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "command.hpp"
#include "eqnn/model/export_weights.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

CommandResult export_check(const std::string& model, const std::string& work, const std::string& dtype,
                           const std::string& checkpoint = "") {
  return run_command(std::string(EQNN_PYTHON) + " " + source_path("tests/model/export_check.py") + " " +
                     EQNN_CLI + " " + model + " " + work + " " + dtype +
                     (checkpoint.empty() ? "" : " " + checkpoint));
}

TEST(Export, StockPyTorchLoadsStrictAndMatchesRun) {
  TempDir dir;
  for (const std::string model : {"tests/model/export_mix.yaml", "examples/models/d4_mlp.yaml"}) {
    for (const std::string dtype : {"float32", "float64"}) {
      SCOPED_TRACE(model + " " + dtype);
      auto r = export_check(source_path(model), dir.file("work"), dtype);
      EXPECT_EQ(r.status, 0) << r.output;
      EXPECT_NE(r.output.find("OK max_error="), std::string::npos) << r.output;
    }
  }
}

TEST(Export, FromATrainedCheckpoint) {
  TempDir dir;
  const std::string model = source_path("tests/model/export_mix.yaml");
  auto train = eqnn_cli("train " + model + " --steps 5 --out " + dir.file("ckpt.pt"));
  ASSERT_EQ(train.status, 0) << train.output;
  auto r = export_check(model, dir.file("work"), "float64", dir.file("ckpt.pt"));
  EXPECT_EQ(r.status, 0) << r.output;
}

TEST(Export, DifferentSeedsGiveDifferentWeights) {
  // The comparison above is not vacuous: the exported weights depend on the initialisation.
  TempDir dir;
  const std::string model = source_path("examples/models/d4_mlp.yaml");
  ASSERT_EQ(eqnn_cli("export " + model + " --seed 1 --out " + dir.file("w1.pt")).status, 0);
  ASSERT_EQ(eqnn_cli("export " + model + " --seed 2 --out " + dir.file("w2.pt")).status, 0);
  auto r = run_command(
      std::string(EQNN_PYTHON) +
      " -c \"import sys, torch; a = torch.load(sys.argv[1]); b = torch.load(sys.argv[2]); "
      "print(sorted(a) == sorted(b), max((a[k] - b[k]).abs().max().item() for k in a) > 1e-3)\" " +
      dir.file("w1.pt") + " " + dir.file("w2.pt"));
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("True True"), std::string::npos) << r.output;
}

TEST(Export, RefusesLayersWithoutStockEquivalent) {
  auto model = load_model(registry(), example("c8_transformer"));
  TempDir dir;
  EXPECT_HAS(
      error_text<Error>([&] { export_weights(*model, dir.file("w.pt")); }),
      "layer layers.1 (eTransformerEncoderLayer) has parameters or buffers but no stock PyTorch equivalent");
  EXPECT_FALSE(std::filesystem::exists(dir.file("w.pt")));
}

TEST(Export, RefusesALayerWhoseOnlyStateIsBuffers) {
  // eBatchNorm1d without affine has running statistics but no parameters; on a non-trivial rep it is not
  // the stock BatchNorm1d, so the export must refuse it rather than leave its buffers out.
  auto model = load_model_from_string(registry(), R"(eqnn: 1
group: D4
reps: {x: 2x regular}
input: x
output: x
layers:
  - {type: eBatchNorm1d, affine: false, channels_last: true}
)",
                                      "buffers.yaml");
  TempDir dir;
  EXPECT_HAS(error_text<Error>([&] { export_weights(*model, dir.file("w.pt")); }),
             "layer layers.0 (eBatchNorm1d) has parameters or buffers but no stock PyTorch equivalent");
  EXPECT_FALSE(std::filesystem::exists(dir.file("w.pt")));
}

}  // namespace
}  // namespace eqnn::testing
