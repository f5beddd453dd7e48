// The `reps:` section of a model file with a representation given by matrices on the generators
// ({matrices: [...]}): it equals the rep string with the same matrices, a model on it is equivariant, and
// every malformed or non-homomorphic list is refused at the offending matrix, row or entry (file:line:col).
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "command.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/util/error.hpp"
#include "support.hpp"
#include "temp_dir.hpp"

namespace eqnn::testing {
namespace {

// D4's generators (see `eqnn group info D4`): g0 the rotation by 90°, g1 a reflection; in the standard rep
// these matrices; on the 4 vertices the permutations as matrices.
std::string model_with(const std::string& reps) {
  return "eqnn: 1\ngroup: D4\nreps:\n" + reps +
         "input: x\nlayers:\n  - {type: eLinear, out_rep: \"2x regular\"}\n  - {type: eReLU}\n"
         "  - {type: eLinear, out_rep: x}\n";
}

std::string matrices_of(const RepPtr& rep) {
  std::string out = "[";
  for (size_t s = 0; s < rep->group().generators().size(); ++s) {
    const Matrix m = rep->matrix(rep->group().generators()[s]);
    out += s ? ", [" : "[";
    for (int r = 0; r < m.rows(); ++r) {
      out += r ? ", [" : "[";
      for (int c = 0; c < m.cols(); ++c) out += (c ? ", " : "") + fmt::format("{:.17g}", m(r, c));
      out += "]";
    }
    out += "]";
  }
  return out + "]";
}

TEST(ModelReps, MatricesEqualTheRepStringAndTheModelIsEquivariant) {
  auto g = group("D4");
  for (const std::string text : {"standard", "permutation(vertices)"}) {
    RepPtr ref = parse_rep(g, text);
    const std::string yaml = model_with("  x: {matrices: " + matrices_of(ref) + "}\n");
    auto model = load_model_from_string(registry(), yaml, "m.yaml");
    ASSERT_EQ(model->reps().size(), 1u);
    const RepPtr x = model->reps()[0].second;
    EXPECT_EQ(x->size(), ref->size());
    for (int e = 0; e < g->order(); ++e)
      EXPECT_LT((x->matrix(e) - ref->matrix(e)).cwiseAbs().maxCoeff(), 1e-12) << text << " element " << e;
    EXPECT_EQ(x->multiplicities(), ref->multiplicities());
    const at::Tensor in = at::randn({3, x->size()}, at::kDouble);
    model->to(at::kDouble);
    model->eval();
    const at::Tensor y = model->forward(in);
    for (int e = 0; e < g->order(); ++e) {
      const at::Tensor R = at::empty({x->size(), x->size()}, at::kDouble);
      const Matrix m = x->matrix(e);
      for (int i = 0; i < m.rows(); ++i)
        for (int j = 0; j < m.cols(); ++j) R[i][j] = m(i, j);
      EXPECT_LT((model->forward(at::matmul(in, R.t())) - at::matmul(y, R.t())).abs().max().item<double>(),
                1e-10);
    }
  }
}

TEST(ModelReps, RefusedAtTheOffendingMatrix) {
  auto expect_error = [](const std::string& reps, int line, int column, const std::string& needle) {
    try {
      load_model_from_string(registry(), model_with(reps), "m.yaml");
      ADD_FAILURE() << "no error for " << reps;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.line(), line) << e.what();
      EXPECT_EQ(e.column(), column) << e.what();
      EXPECT_NE(e.message().find(needle), std::string::npos) << e.what();
    }
  };
  // Lines: 1 eqnn, 2 group, 3 reps, 4 the rep.
  // Swapped generators: the rotation's relation r·r = ... fails at one of the matrices.
  expect_error("  x: {matrices: [[[1, 0], [0, -1]], [[0, -1], [1, 0]]]}\n", 4, 18,
               "rep 'x': the matrices are not a representation of D4: the relation g");
  expect_error("  x: {matrices: [[[0, -1], [1, 0]], [[2, 0], [0, -1]]]}\n", 4, 37,
               "rep 'x': matrix 1 (generator g1) is not orthogonal: max |MᵀM − I| = 3");
  expect_error("  x: {matrices: [[[0, -1], [1, 0]]]}\n", 4, 17, "1 matrices given, but D4 has 2 generators");
  expect_error("  x: {matrices: [[[0, -1], [1, 0]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]]}\n", 4, 37,
               "matrix 1 (generator g1) is 3x3; every matrix must be square, of one size (2x2");
  expect_error("  x: {matrices: [[[0, -1], [1, 0]], [[1, 0], [0]]]}\n", 4, 46,
               "row 1 of matrix 1 has 1 entries");
  expect_error("  x: {matrices: [[[0, -1], [1, 0]], [[1, a], [0, 1]]]}\n", 4, 42,
               "entry (0, 1) of matrix 1 must be a number");
  expect_error("  x: {matrices: 3}\n", 4, 17, "'matrices' must be a list of matrices");
  expect_error("  x: {matrix: []}\n", 4, 7, "matrix");
  expect_error("  x: [1, 2]\n", 4, 6, "or a mapping {matrices: [M_0, M_1, ...]}");
}

// A model with a rep given by matrices and eIsotypicBasis both ways: equivariant, and exported to stock
// PyTorch (eIsotypicBasis as Linear(bias=False)) it computes what `eqnn run` computes.
TEST(ModelReps, IsotypicBasisModelExportsToStockLinear) {
  const std::string model = source_path("tests/model/isotypic_export.yaml");
  auto m = load_model(registry(), model);
  ASSERT_EQ(m->layers().size(), 4u);
  EXPECT_TRUE(m->layers()[2]->out_rep()->same_content(*m->layers()[1]->in_rep()));
  TempDir dir;
  for (const std::string dtype : {"float32", "float64"}) {
    auto r = run_command(std::string(EQNN_PYTHON) + " " + source_path("tests/model/export_check.py") + " " +
                         EQNN_CLI + " " + model + " " + dir.file("work") + " " + dtype);
    EXPECT_EQ(r.status, 0) << r.output;
    EXPECT_NE(r.output.find("OK max_error="), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace eqnn::testing
