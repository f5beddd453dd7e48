// Every file in tests/model/malformed/ is a broken model description whose first line says where the
// error must point and what it must say: `# expect: LINE:COL: MESSAGE-PREFIX`. The builder must throw a
// ConfigError `FILE:LINE:COL: error: MESSAGE...`, and the CLI must print it and exit with status 2.
#include <algorithm>
#include <filesystem>
#include <regex>
#include <stdexcept>

#include <gtest/gtest.h>

#include "command.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

struct Expectation {
  std::string file;
  int line = 0, column = 0;
  std::string message;
};

std::vector<Expectation> malformed_files() {
  std::vector<Expectation> out;
  for (const auto& entry : std::filesystem::directory_iterator(source_path("tests/model/malformed"))) {
    if (entry.path().extension() != ".yaml") continue;
    Expectation e;
    e.file = entry.path().string();
    const std::string first = read_text(e.file).substr(0, read_text(e.file).find('\n'));
    std::smatch m;
    static const std::regex pattern(R"(^# expect: (\d+):(\d+): (.+)$)");
    if (std::regex_match(first, m, pattern)) {
      e.line = std::stoi(m[1]);
      e.column = std::stoi(m[2]);
      e.message = m[3];
    }
    out.push_back(e);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.file < b.file; });
  return out;
}

TEST(Malformed, AtLeastThirtyFilesEachWithAnExpectation) {
  const auto files = malformed_files();
  EXPECT_GE(files.size(), 30u);
  for (const auto& e : files)
    EXPECT_GT(e.line, 0) << e.file << " has no '# expect: LINE:COL: MESSAGE' first line";
}

TEST(Malformed, BuilderReportsFileLineColumnAndMessage) {
  for (const auto& e : malformed_files()) {
    SCOPED_TRACE(e.file);
    try {
      load_model(registry(), e.file);
      ADD_FAILURE() << "no error for " << e.file;
    } catch (const ConfigError& error) {
      EXPECT_EQ(error.file(), e.file);
      EXPECT_EQ(error.line(), e.line);
      EXPECT_EQ(error.column(), e.column);
      EXPECT_EQ(error.message().rfind(e.message, 0), 0u) << "message: " << error.message();
      const std::string prefix =
          e.file + ":" + std::to_string(e.line) + ":" + std::to_string(e.column) + ": error: ";
      EXPECT_EQ(std::string(error.what()).rfind(prefix, 0), 0u) << error.what();
    }
  }
}

TEST(Malformed, CliPrintsTheLocatedErrorAndExitsWithStatus2) {
  for (const auto& e : malformed_files()) {
    SCOPED_TRACE(e.file);
    for (const std::string command : {"describe", "check"}) {
      auto r = eqnn_cli(command + " " + e.file);
      EXPECT_EQ(r.status, 2) << r.output;
      const std::string expected = "eqnn: error: " + e.file + ":" + std::to_string(e.line) + ":" +
                                   std::to_string(e.column) + ": error: " + e.message;
      EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
      EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
    }
  }
}

TEST(Malformed, FromStringUsesTheGivenName) {
  const std::string msg = error_text<ConfigError>([&] {
    load_model_from_string(registry(), "eqnn: 1\ngroup: C4\ninput: regular\nlayers:\n  - {type: eRelu}\n",
                           "inline.yaml");
  });
  EXPECT_EQ(msg.rfind("inline.yaml:5:12: error: unknown layer type 'eRelu' (did you mean 'eReLU'?)", 0), 0u)
      << msg;
}

TEST(Malformed, MissingFileIsAConfigError) {
  EXPECT_HAS(error_text<ConfigError>([&] { load_model(registry(), "/nonexistent/model.yaml"); }),
             "/nonexistent/model.yaml: error: cannot open the model file");
}

TEST(Malformed, AnyExceptionFromALayerFactoryIsLocatedAtItsType) {
  // A factory that fails with a plain std::exception (as std::stoi would) still gets FILE:LINE:COL.
  Registry r;
  r.load_default_plugins();
  r.register_builtin("test_throwing_layer", [](Registrar& reg) {
    reg.add_layer("Throwing", [](const LayerArgs&) -> LayerPtr { throw std::out_of_range("stoi"); });
  });
  EXPECT_EQ(error_text<ConfigError>([&] {
              load_model_from_string(
                  r, "eqnn: 1\ngroup: C4\ninput: regular\nlayers:\n  - {type: eReLU}\n  - {type: Throwing}\n",
                  "throwing.yaml");
            }),
            "throwing.yaml:6:12: error: Throwing: stoi");
}

TEST(Malformed, GroupSpecsOnTheCommandLineRefuseDuplicateKeysAndOversizedIntegers) {
  auto dup = eqnn_cli("group info '{type: CyclicGroup, n: 4, n: 5}'");
  EXPECT_EQ(dup.status, 2) << dup.output;
  EXPECT_HAS(dup.output, "duplicate key 'n'");
  auto big = eqnn_cli("group info '{type: CyclicGroup, n: 4294967297}'");
  EXPECT_EQ(big.status, 2) << big.output;
  EXPECT_HAS(big.output, "'n' must be an integer between 1 and 2147483647, found 4294967297 (too large)");
  auto irrep = eqnn_cli("rep info --group C4 'irrep(99999999999)'");
  EXPECT_EQ(irrep.status, 2) << irrep.output;
  EXPECT_HAS(irrep.output, "irrep(99999999999) does not exist: C4 has irreps 0..2");
  EXPECT_EQ(irrep.output.find("internal error"), std::string::npos) << irrep.output;
}

}  // namespace
}  // namespace eqnn::testing
