// The group-theory commands as scripts use them: the exact JSON of `eqnn group info`, `eqnn rep info`
// and `eqnn hom`, checked against facts recomputed from the JSON itself (not from the code).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "command.hpp"

namespace {

struct Run {
  int status;
  std::string out;
};

// `eqnn ARGS`, stdout and stderr together.
Run run(const std::string& args) {
  auto r = eqnn::testing::eqnn_cli(args);
  return {r.status, r.output};
}

using Json = nlohmann::json;

}  // namespace

TEST(CliGroup, GroupInfoJson) {
  for (const char* spec : {"D4", "C8", "A4", "'{type: DihedralGroup, n: 6}'"}) {
    auto r = run(std::string("group info ") + spec + " --json");
    ASSERT_EQ(r.status, 0) << r.out;
    Json j = Json::parse(r.out);
    const int n = j["order"];
    EXPECT_TRUE(j["name"].is_string());
    // Each generator is a permutation of 0..order-1 (left multiplication).
    for (const auto& gen : j["generators"]) {
      ASSERT_EQ(static_cast<int>(gen.size()), n);
      std::vector<int> seen(n, 0);
      for (int x : gen) seen.at(x)++;
      for (int c : seen) EXPECT_EQ(c, 1);
    }
    double completeness = 0;
    const auto& irreps = j["irreps"];
    for (const auto& a : irreps) {
      const int d = a["dim"];
      const std::string t = a["type"];
      const int S = t == "R" ? 1 : t == "C" ? 2 : 4;
      completeness += double(d) * d / S;
      ASSERT_EQ(static_cast<int>(a["character"].size()), n);
      EXPECT_NEAR(a["character"][0].get<double>(), d, 1e-9);  // χ(identity) = dim
      EXPECT_EQ(a["generator_matrices"].size(), j["generators"].size());
      for (const auto& b : irreps) {
        double ip = 0;
        for (int g = 0; g < n; ++g) ip += a["character"][g].get<double>() * b["character"][g].get<double>();
        EXPECT_NEAR(ip / n, a["index"] == b["index"] ? S : 0, 1e-9);
      }
      // χ(s_k · g) for generator s_k equals the trace of ψ(s_k) ψ(g) — check on g = s_k' for consistency
      // of generator_matrices with the characters: χ(s_k) = tr ψ(s_k).
      for (size_t k = 0; k < j["generators"].size(); ++k) {
        const auto& m = a["generator_matrices"][k];
        double tr = 0;
        for (int i = 0; i < d; ++i) tr += m[i][i].get<double>();
        const int s_index = j["generators"][k][0];  // s_k · identity = s_k
        EXPECT_NEAR(tr, a["character"][s_index].get<double>(), 1e-9);
      }
    }
    EXPECT_NEAR(completeness, n, 1e-9) << spec;
  }
}

TEST(CliGroup, RepInfoAndHomJson) {
  auto r = run("rep info --group D4 'permutation(vertices) + regular' --json");
  ASSERT_EQ(r.status, 0) << r.out;
  Json j = Json::parse(r.out);
  EXPECT_EQ(j["size"], 12);
  EXPECT_EQ(j["is_permutation"], true);
  ASSERT_EQ(j["generator_matrices"].size(), 2u);
  for (const auto& m : j["generator_matrices"]) {
    ASSERT_EQ(m.size(), 12u);
    for (const auto& row : m) {
      double s = 0;
      for (double x : row) {
        EXPECT_TRUE(x == 0.0 || x == 1.0);
        s += x;
      }
      EXPECT_EQ(s, 1.0);
    }
  }
  int total = 0;
  auto g = Json::parse(run("group info D4 --json").out);
  for (int k : j["irreps"]) total += g["irreps"][k]["dim"].get<int>();
  EXPECT_EQ(total, 12);

  auto s = run("rep info --group Ico standard --json");
  ASSERT_EQ(s.status, 0) << s.out;
  EXPECT_EQ(Json::parse(s.out)["is_permutation"], false);

  auto h = run("hom --group C8 --in '2x regular' --out '3x regular' --json");
  ASSERT_EQ(h.status, 0) << h.out;
  EXPECT_EQ(Json::parse(h.out), (Json{{"dim", 48}, {"method", "orbit"}}));
  auto h2 = run("hom --group Ico --in standard --out '2x regular' --json");
  EXPECT_EQ(Json::parse(h2.out), (Json{{"dim", 6}, {"method", "isotypic"}}));
}

TEST(CliGroup, ErrorsAreClearAndExitTwo) {
  auto r = run("hom --group C8 --in '2x regulr' --out regular");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.out.find("eqnn: error: --in (column 4)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("did you mean 'regular'"), std::string::npos) << r.out;
  auto g = run("group info D0");
  EXPECT_EQ(g.status, 2) << g.out;
  EXPECT_NE(g.out.find("eqnn: error:"), std::string::npos) << g.out;
  auto t = run("group info '{type: DihedralGrup, n: 4}'");
  EXPECT_EQ(t.status, 2);
  EXPECT_NE(t.out.find("did you mean 'DihedralGroup'"), std::string::npos) << t.out;
  auto p = run("rep info --group D4 'permutation(points)'");
  EXPECT_EQ(p.status, 2);
  EXPECT_NE(p.out.find("D4 has no permutation action 'points'; its actions: vertices"), std::string::npos)
      << p.out;
}
