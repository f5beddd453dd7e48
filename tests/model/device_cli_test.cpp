// The --device option of run / check / train / bench, and the output of `eqnn bench attention` and
// `eqnn bench linear` (keys, both stock paths, the at::mm rate). Timings are printed, never asserted.
#include <torch/cuda.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "support.hpp"

namespace eqnn::testing {
namespace {

const std::string kTinyAttention =
    "bench attention --group C4 --rep \"2x regular\" --heads 2 --batch 2 --seq 3 --iters 2 --warmup 1";

nlohmann::json parse_json(const CommandResult& r) {
  EXPECT_EQ(r.status, 0) << r.output;
  try {
    return nlohmann::json::parse(r.output);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.output;
    return {};
  }
}

void expect_positive(const nlohmann::json& j, const std::string& key, const std::string& what) {
  ASSERT_TRUE(j.contains(key)) << what << " has no '" << key << "': " << j.dump();
  EXPECT_GT(j[key].get<double>(), 0.0) << what << "." << key;
}

TEST(BenchCli, AttentionReportsBothStockPathsAndTheMatrixProductRate) {
  auto j = parse_json(eqnn_cli(kTinyAttention + " --json"));
  for (const char* part : {"eval_forward", "train_step"}) {
    ASSERT_TRUE(j.contains(part)) << j.dump();
    for (const char* key :
         {"equivariant_ms", "stock_ms", "ratio", "stock_sdpa_ms", "ratio_sdpa", "ratio_fastest_stock"})
      expect_positive(j[part], key, part);
    EXPECT_NEAR(j[part]["ratio_sdpa"].get<double>(),
                j[part]["equivariant_ms"].get<double>() / j[part]["stock_sdpa_ms"].get<double>(), 1e-9);
  }
  expect_positive(j["machine"], "mm_1024_gflops_1_thread", "machine");
  EXPECT_EQ(j["machine"]["device"], "cpu");
  EXPECT_EQ(j["config"]["threads"], 1);  // one thread unless --threads says otherwise
  expect_positive(j, "construct_ms", "bench");

  auto text = eqnn_cli(kTinyAttention + " --threads 2");
  EXPECT_EQ(text.status, 0) << text.output;
  for (const char* part : {"stock MHA", "stock SDPA", "eval forward", "train step", "1024x1024 at::mm",
                           "ratio to the faster stock path", "2 threads"})
    EXPECT_NE(text.output.find(part), std::string::npos) << part << "\n" << text.output;
}

TEST(BenchCli, LinearComparesWithStockLinear) {
  auto j = parse_json(
      eqnn_cli("bench linear --group C4 --rep \"4x regular\" --batch 8 --iters 2 --warmup 1 --json"));
  for (const char* part : {"eval_forward", "train_step"})
    for (const char* key : {"equivariant_ms", "stock_ms", "ratio"}) expect_positive(j[part], key, part);
  EXPECT_EQ(j["config"]["features"], 16);
  expect_positive(j["machine"], "mm_1024_gflops_1_thread", "machine");
  auto help = eqnn_cli("bench linear --help");
  EXPECT_NE(help.output.find("128x regular"), std::string::npos) << help.output;  // 1024 features by default
  EXPECT_NE(help.output.find("4096"), std::string::npos) << help.output;
}

TEST(BenchCli, BadNumbersAreUsageErrors) {
  auto r = eqnn_cli(kTinyAttention + " --threads 0");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.output.find("--threads must be >= 1, got 0"), std::string::npos) << r.output;
}

TEST(DeviceCli, UnknownDeviceIsAUsageError) {
  for (const std::string command :
       {kTinyAttention, std::string("check ") + source_path("examples/models/d4_mlp.yaml")}) {
    auto r = eqnn_cli(command + " --device tpu");
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_NE(r.output.find("--device must be cpu, cuda or cuda:N (N a GPU index), found 'tpu'"),
              std::string::npos)
        << r.output;
  }
}

TEST(DeviceCli, CudaWithoutAGpuSaysSoAndWhatVersionReports) {
  if (torch::cuda::is_available()) {
    // With a GPU the same commands run there.
    auto r = eqnn_cli("check " + source_path("examples/models/d4_mlp.yaml") + " --device cuda");
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("on cuda"), std::string::npos) << r.output;
    auto b = eqnn_cli(kTinyAttention + " --device cuda --json");
    EXPECT_EQ(parse_json(b)["machine"]["device"], "cuda") << b.output;
    return;
  }
  const std::string model = source_path("examples/models/d4_mlp.yaml");
  for (const std::string command :
       {kTinyAttention, std::string("bench linear --batch 4"), "check " + model,
        "run " + model + " --input x.pt --output y.pt", "train " + model + " --steps 1"}) {
    auto r = eqnn_cli(command + " --device cuda");
    EXPECT_EQ(r.status, 2) << command << "\n" << r.output;
    EXPECT_NE(r.output.find("eqnn: error: --device cuda: "), std::string::npos) << command << "\n"
                                                                                << r.output;
    const bool cuda_build = r.output.find("built with CUDA") != std::string::npos;
    EXPECT_NE(r.output.find(cuda_build ? "no CUDA GPU is visible to this process ('eqnn --version' reports "
                                       : "LibTorch without CUDA"),
              std::string::npos)
        << r.output;
    EXPECT_NE(r.output.find("or use --device cpu"), std::string::npos) << r.output;
  }
}

TEST(DeviceCli, CpuIsTheDefaultAndAccepted) {
  const std::string model = source_path("examples/models/d4_mlp.yaml");
  auto r = eqnn_cli("check " + model + " --device cpu");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("(float32 on cpu,"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace eqnn::testing
