// The --device option of run / check / train / bench, and the output of `eqnn bench attention`, `encoder`,
// `linear` and `conv` (the keys every subcommand shares, both stock paths where there are two, the at::mm
// rate, the errors). Timings are printed, never asserted.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

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

/// The keys every bench subcommand reports: construct_ms, execution, and eval_forward / train_step with
/// equivariant_ms, stock_ms, ratio and ratio_fastest_stock (all positive; ratio = equivariant / stock).
void expect_common_keys(const nlohmann::json& j, const std::string& what) {
  expect_positive(j, "construct_ms", what);
  expect_positive(j, "stock_construct_ms", what);
  ASSERT_TRUE(j.contains("execution")) << what << ": " << j.dump();
  ASSERT_TRUE(j["execution"].is_string()) << what << ": " << j.dump();
  EXPECT_FALSE(j["execution"].get<std::string>().empty()) << what;
  for (const char* part : {"eval_forward", "train_step"}) {
    ASSERT_TRUE(j.contains(part)) << what << ": " << j.dump();
    for (const char* key : {"equivariant_ms", "stock_ms", "ratio", "ratio_fastest_stock"})
      expect_positive(j[part], key, what + "." + part);
    EXPECT_NEAR(j[part]["ratio"].get<double>(),
                j[part]["equivariant_ms"].get<double>() / j[part]["stock_ms"].get<double>(), 1e-9);
    // The fastest stock path takes at most the first one's time.
    EXPECT_GE(j[part]["ratio_fastest_stock"].get<double>(), j[part]["ratio"].get<double>() * (1 - 1e-12));
  }
  ASSERT_TRUE(j.contains("machine")) << what << ": " << j.dump();
  expect_positive(j["machine"], "mm_1024_gflops_1_thread", what + ".machine");
  ASSERT_TRUE(j.contains("config")) << what << ": " << j.dump();
  EXPECT_EQ(j["config"]["threads"], 1) << what;  // one thread unless --threads says otherwise
  EXPECT_EQ(j["config"]["iters"], 1) << what;
}

/// The stock SDPA path's keys (attention and encoder): stock_sdpa_ms and ratio_sdpa, and the fastest of the
/// two stock paths.
void expect_sdpa_keys(const nlohmann::json& j, const std::string& what) {
  for (const char* part : {"eval_forward", "train_step"}) {
    const auto& p = j[part];
    for (const char* key : {"stock_sdpa_ms", "ratio_sdpa"}) expect_positive(p, key, what + "." + part);
    EXPECT_NEAR(p["ratio_sdpa"].get<double>(),
                p["equivariant_ms"].get<double>() / p["stock_sdpa_ms"].get<double>(), 1e-9);
    EXPECT_NEAR(p["ratio_fastest_stock"].get<double>(),
                p["equivariant_ms"].get<double>() /
                    std::min(p["stock_ms"].get<double>(), p["stock_sdpa_ms"].get<double>()),
                1e-9);
  }
}

const std::string kQuick = " --iters 1 --warmup 0 --json";

TEST(BenchCli, EverySubcommandReportsTheSameKeys) {
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"attention", "bench attention --group C4 --rep \"2x regular\" --heads 2 --batch 2 --seq 3"},
      {"encoder",
       "bench encoder --group C4 --rep \"2x regular\" --heads 2 --batch 2 --seq 3 --dim-feedforward 8"},
      {"linear", "bench linear --group C4 --rep \"2x regular\" --batch 2"},
      {"conv", "bench conv --group C4 --rep \"2x regular\" --kernel-size 3 --batch 2 --length 5"}};
  for (const auto& [what, command] : commands) {
    auto j = parse_json(eqnn_cli(command + kQuick));
    expect_common_keys(j, what);
    EXPECT_EQ(j["config"]["group"], "C4") << what;
    if (what == "attention" || what == "encoder") expect_sdpa_keys(j, what);
  }
}

TEST(BenchCli, EncoderComparesWithTheStockLayerOfTheSameWidths) {
  // dim_feedforward 5 is rounded up to whole regular copies of C4 (8); the stock layer gets that width.
  auto j =
      parse_json(eqnn_cli("bench encoder --group C4 --rep \"2x regular\" --heads 2 --batch 2 --seq 3 "
                          "--dim-feedforward 5" +
                          kQuick));
  expect_common_keys(j, "encoder");
  expect_sdpa_keys(j, "encoder");
  EXPECT_EQ(j["config"]["d_model"], 8);
  EXPECT_EQ(j["config"]["heads"], 2);
  EXPECT_EQ(j["config"]["dim_feedforward"], 8);
  EXPECT_EQ(j["config"]["seq"], 3);

  // Without --dim-feedforward: the layer's default (2048) rounded up to whole copies of |G| = 3 (2049).
  auto d =
      parse_json(eqnn_cli("bench encoder --group C3 --rep \"regular\" --heads 1 --batch 1 --seq 2" + kQuick));
  EXPECT_EQ(d["config"]["dim_feedforward"], 2049);

  auto text = eqnn_cli(
      "bench encoder --group C4 --rep \"2x regular\" --heads 2 --batch 2 --seq 3 "
      "--dim-feedforward 8 --iters 1 --warmup 0");
  EXPECT_EQ(text.status, 0) << text.output;
  for (const char* part :
       {"eTransformerEncoderLayer on C4", "torch::nn::TransformerEncoderLayer(8, 2, 8)", "stock SDPA",
        "eval forward", "train step", "execution", "construction", "ratio to the faster stock path"})
    EXPECT_NE(text.output.find(part), std::string::npos) << part << "\n" << text.output;
  auto help = eqnn_cli("bench encoder --help");
  for (const char* part : {"--dim-feedforward", "--heads", "2048"})
    EXPECT_NE(help.output.find(part), std::string::npos) << part << "\n" << help.output;
}

TEST(BenchCli, ConvComparesWithStockConv1d) {
  auto j = parse_json(
      eqnn_cli("bench conv --group C4 --rep \"2x regular\" --kernel-size 3 --batch 2 --length 5" + kQuick));
  expect_common_keys(j, "conv");
  EXPECT_EQ(j["config"]["channels"], 8);
  EXPECT_EQ(j["config"]["kernel_size"], 3);
  EXPECT_EQ(j["config"]["length"], 5);
  auto text =
      eqnn_cli("bench conv --group C4 --rep \"2x regular\" --batch 2 --length 5 --iters 1 --warmup 0");
  EXPECT_EQ(text.status, 0) << text.output;
  for (const char* part : {"eConv1d on C4", "torch::nn::Conv1d(8, 8, 3", "eval forward", "train step"})
    EXPECT_NE(text.output.find(part), std::string::npos) << part << "\n" << text.output;
}

TEST(BenchCli, BadGroupRepOrSizeIsAClearError) {
  struct Case {
    std::string command, message;
  };
  const std::vector<Case> cases = {
      {"bench encoder --group Q7 --rep regular --heads 1", "Q7"},
      {"bench conv --group C4 --rep \"2x regulr\"", "regulr"},
      {"bench linear --group C4 --rep \"2x regulr\" --batch 2", "regulr"},
      // Heads hold whole regular copies: 3 heads cannot split 2 copies; the layer says so.
      {"bench encoder --group C4 --rep \"2x regular\" --heads 3 --batch 1 --seq 2",
       "eTransformerEncoderLayer"},
      {"bench conv --group C4 --rep regular --kernel-size 0", "--kernel-size must be >= 1, got 0"},
      {"bench encoder --group C4 --rep regular --heads 1 --dim-feedforward 0",
       "--dim-feedforward must be >= 1, got 0"},
      {"bench encoder --rep regular", "--group is required"},
      // --execution: a mode the layers know, and only on layers that have the option.
      {"bench linear --group C4 --rep regular --batch 2 --execution isotypc", "did you mean 'isotypic'"},
      // eConv1d runs isotypic by FFT only, for a cyclic group: D4 is refused with the reason.
      {"bench conv --group D4 --rep regular --execution isotypic", "D4 is not cyclic"},
  };
  for (const auto& c : cases) {
    auto r = eqnn_cli(c.command + kQuick);
    EXPECT_NE(r.status, 0) << c.command << "\n" << r.output;
    EXPECT_NE(r.output.find("eqnn: error: "), std::string::npos) << c.command << "\n" << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << c.command << "\n" << r.output;
  }
}

// --execution reaches the layer, and `execution` reports what it runs (auto: what it decided).
TEST(BenchCli, ExecutionModeReachesTheLayerAndIsReported) {
  for (const std::string mode : {"dense", "isotypic"}) {
    // eLinear and eConv1d run a cyclic group's regular copies by FFT, and say so.
    const std::string fft = mode == "isotypic" ? "isotypic by FFT over C4" : mode;
    auto lin = parse_json(
        eqnn_cli("bench linear --group C4 --rep \"2x regular\" --batch 4 --execution " + mode + kQuick));
    EXPECT_EQ(lin.value("execution", ""), fft) << lin.dump();
    auto conv = parse_json(eqnn_cli(
        "bench conv --group C4 --rep \"2x regular\" --batch 2 --length 8 --execution " + mode + kQuick));
    EXPECT_EQ(conv.value("execution", ""), fft) << conv.dump();
    auto att = parse_json(eqnn_cli(kTinyAttention + " --execution " + mode + " --json"));
    EXPECT_EQ(att.value("execution", ""), mode) << att.dump();
    auto enc =
        parse_json(eqnn_cli("bench encoder --group C4 --rep \"2x regular\" --heads 2 --batch 2 --seq 3 "
                            "--dim-feedforward 8 --execution " +
                            mode + kQuick));
    EXPECT_EQ(enc.value("execution", ""), mode) << enc.dump();
  }
  auto automatic = parse_json(eqnn_cli(
      "bench linear --group C4 --rep \"2x regular\" --batch 4 --execution auto" + std::string(kQuick)));
  EXPECT_EQ(automatic.value("execution", "").rfind("auto (", 0), 0u) << automatic.dump();
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
    for (const char* key : {"equivariant_ms", "stock_ms", "ratio", "ratio_fastest_stock"})
      expect_positive(j[part], key, part);
  expect_positive(j, "construct_ms", "bench linear");
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
