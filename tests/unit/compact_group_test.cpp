// Compact groups (SO2, O2, SO3, O3) against oracles that share none of their code: the defining matrices
// themselves, textbook characters (χ_l(θ) = sin((2l+1)θ/2) / sin(θ/2) for SO(3)), and Hom dimensions from
// character inner products integrated numerically over the Haar measure (Weyl's integration formula);
// homomorphism and orthogonality on Haar-random pairs; the spellings and every refusal.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/autograd.h>
#include <yaml-cpp/yaml.h>
#include <Eigen/Dense>
#include <unsupported/Eigen/KroneckerProduct>
#include <unsupported/Eigen/MatrixFunctions>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/group_theory/representation.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"
#include "scoped_env.hpp"
#include "support.hpp"

using eqnn::GroupPtr;
using eqnn::Matrix;
using eqnn::Representation;
using eqnn::testing::error_text;
using eqnn::testing::group;

namespace {

double max_abs(const Matrix& m) { return m.cwiseAbs().maxCoeff(); }

Matrix rotation_z(double theta) {
  Matrix r = Matrix::Identity(3, 3);
  r(0, 0) = r(1, 1) = std::cos(theta);
  r(1, 0) = std::sin(theta);
  r(0, 1) = -std::sin(theta);
  return r;
}

Matrix rotation2(double theta) {
  Matrix r(2, 2);
  r << std::cos(theta), -std::sin(theta), std::sin(theta), std::cos(theta);
  return r;
}

// A Haar-random rotation by the QR of a Gaussian matrix (not the plugins' quaternions).
Matrix random_rotation3(std::mt19937_64& rng, bool improper = false) {
  std::normal_distribution<double> n;
  Matrix a(3, 3);
  for (int i = 0; i < 9; ++i) a(i % 3, i / 3) = n(rng);
  Eigen::HouseholderQR<Matrix> qr(a);
  Matrix q = qr.householderQ();
  Matrix r = qr.matrixQR().triangularView<Eigen::Upper>();
  for (int i = 0; i < 3; ++i)
    if (r(i, i) < 0) q.col(i) *= -1;
  if (q.determinant() < 0) q.col(0) *= -1;
  return improper ? Matrix(-q) : q;
}

TEST(CompactGroup, So3IrrepsAreHomomorphismsToDegree16) {
  const GroupPtr g = group("SO3");
  std::mt19937_64 rng(1);
  double hom = 0, orth = 0;
  for (int l = 0; l <= 16; ++l) {
    const auto rep = Representation::irrep(g, l);
    ASSERT_EQ(rep->size(), 2 * l + 1);
    for (int trial = 0; trial < 8; ++trial) {
      const Matrix a = random_rotation3(rng), b = random_rotation3(rng);
      const Matrix ra = rep->matrix(a), rb = rep->matrix(b), rab = rep->matrix(Matrix(a * b));
      hom = std::max(hom, max_abs(rab - ra * rb));
      orth = std::max(orth, max_abs(ra.transpose() * ra - Matrix::Identity(2 * l + 1, 2 * l + 1)));
    }
  }
  EXPECT_LT(hom, 1e-12);
  EXPECT_LT(orth, 1e-12);
}

// The recursion D^k = Cᵀ (D^{k−1} ⊗ D¹) C against its definition, the exponential of the generators
// exp(θ Σ n_i A_i) (axis and angle from Rodrigues' formula here), to degree 16: on Haar rotations, near the
// identity and at θ = π.
TEST(CompactGroup, So3WignerDIsTheExponentialOfTheGenerators) {
  std::mt19937_64 rng(11);
  std::vector<Matrix> rotations{rotation_z(1e-7), rotation_z(M_PI), Matrix::Identity(3, 3)};
  for (int trial = 0; trial < 6; ++trial) rotations.push_back(random_rotation3(rng));
  double worst = 0;
  for (const Matrix& R : rotations) {
    Eigen::Vector3d n(R(2, 1) - R(1, 2), R(0, 2) - R(2, 0), R(1, 0) - R(0, 1));  // 2 sin θ n
    const double theta = std::atan2(n.norm() / 2, (R.trace() - 1) / 2);
    if (n.norm() > 1e-12) {
      n.normalize();
    } else if (theta > 1) {  // θ = π: the axis is the column of R + I of largest norm
      Eigen::Index c = 0;
      (R + Matrix::Identity(3, 3)).colwise().norm().maxCoeff(&c);
      n = (R + Matrix::Identity(3, 3)).col(c).normalized();
    }
    for (int l = 0; l <= 16; ++l) {
      const auto& A = eqnn::compact::so3_generators(l);
      const Matrix want =
          l == 0 ? Matrix::Identity(1, 1) : Matrix((theta * (n[0] * A[0] + n[1] * A[1] + n[2] * A[2])).exp());
      worst = std::max(worst, max_abs(eqnn::compact::wigner_d(l, R) - want));
    }
  }
  EXPECT_LT(worst, 1e-12);
  EXPECT_THROW(eqnn::compact::wigner_d(-1, Matrix::Identity(3, 3)), eqnn::GroupError);
}

TEST(CompactGroup, So3CharactersAreTheTextbookOnes) {
  const GroupPtr g = group("SO3");
  std::mt19937_64 rng(2);
  for (int l = 0; l <= 16; ++l) {
    const auto rep = Representation::irrep(g, l);
    for (int trial = 0; trial < 6; ++trial) {
      const Matrix R = random_rotation3(rng);
      const double theta = std::acos(std::clamp((R.trace() - 1) / 2, -1.0, 1.0));
      const double chi = std::sin((2 * l + 1) * theta / 2) / std::sin(theta / 2);
      EXPECT_NEAR(rep->matrix(R).trace(), chi, 1e-10) << "l = " << l << ", θ = " << theta;
    }
    // Near the identity and at θ = π, where the axis comes from the symmetric part.
    EXPECT_NEAR(rep->matrix(rotation_z(1e-7)).trace(), 2 * l + 1, 1e-9);
    EXPECT_NEAR(rep->matrix(rotation_z(M_PI)).trace(), (l % 2 ? -1.0 : 1.0), 1e-9) << l;
  }
}

TEST(CompactGroup, StandardIsTheDefiningMatrix) {
  std::mt19937_64 rng(3);
  for (const char* name : {"SO3", "O3"}) {
    const auto std_rep = eqnn::parse_rep(group(name), "standard");
    for (int trial = 0; trial < 10; ++trial) {
      const Matrix R = random_rotation3(rng, std::string(name) == "O3" && trial % 2);
      EXPECT_LT(max_abs(std_rep->matrix(R) - R), 1e-13) << name;
    }
  }
  for (const char* name : {"SO2", "O2"}) {
    const auto std_rep = eqnn::parse_rep(group(name), "standard");
    for (int trial = 0; trial < 10; ++trial) {
      Matrix R = rotation2(0.37 * trial - 1.2);
      if (std::string(name) == "O2" && trial % 2) R.col(1) *= -1;
      EXPECT_LT(max_abs(std_rep->matrix(R) - R), 1e-14) << name;
    }
  }
  // O(3)'s vectors flip under the inversion; irrep(1, 1) (pseudovectors) does not.
  const GroupPtr o3 = group("O3");
  EXPECT_LT(max_abs(eqnn::parse_rep(o3, "irrep(1, -1)")->matrix(Matrix(-Matrix::Identity(3, 3))) +
                    Matrix::Identity(3, 3)),
            1e-14);
  EXPECT_LT(max_abs(eqnn::parse_rep(o3, "irrep(1, 1)")->matrix(Matrix(-Matrix::Identity(3, 3))) -
                    Matrix::Identity(3, 3)),
            1e-14);
}

TEST(CompactGroup, PlaneGroupsAreTheTextbookOnes) {
  const GroupPtr so2 = group("SO2"), o2 = group("O2");
  for (int k = 0; k <= 5; ++k)
    for (double t : {0.3, -2.0, 3.1}) {
      const Matrix m = eqnn::parse_rep(so2, fmt::format("irrep({})", k))->matrix(rotation2(t));
      if (k == 0) {
        EXPECT_NEAR(m(0, 0), 1, 1e-15);
      } else {
        EXPECT_LT(max_abs(m - rotation2(k * t)), 1e-14);
      }
    }
  Matrix f = rotation2(0.7);
  f.col(1) *= -1;  // a reflection
  EXPECT_NEAR(eqnn::parse_rep(o2, "irrep(1, 0)")->matrix(f)(0, 0), -1, 0);
  for (int k = 1; k <= 5; ++k)
    EXPECT_NEAR(eqnn::parse_rep(o2, fmt::format("irrep(1, {})", k))->matrix(f).trace(), 0, 1e-14);
  // SO(2)'s 2-dim irreps are of complex type: two endomorphisms; O(2)'s are of real type.
  EXPECT_EQ(so2->irreps()[1].S(), 2);
  EXPECT_EQ(o2->irreps()[2].S(), 1);
}

// ∫ χ_in χ_out dg over the Haar measure, by Weyl's integration formula on the class angle: SO(2): the
// mean over θ; SO(3): the mean over θ of χ(θ)(1 − cos θ); O(n): half each component (the reflections
// rot(θ)F for O(2), −R for O(3)). The integrands are trigonometric polynomials, so the mean over N
// equally spaced angles is exact once N exceeds their degree.
double haar_hom_dimension(const eqnn::RepPtr& in, const eqnn::RepPtr& out) {
  const std::string name = in->group().name();
  const int N = 512;
  double sum = 0;
  for (int j = 0; j < N; ++j) {
    const double t = 2 * M_PI * j / N;
    if (name == "SO2" || name == "O2") {
      const Matrix r = rotation2(t);
      Matrix f = r;
      f.col(1) *= -1;
      double v = in->matrix(r).trace() * out->matrix(r).trace();
      if (name == "O2") v = (v + in->matrix(f).trace() * out->matrix(f).trace()) / 2;
      sum += v;
    } else {
      const Matrix r = rotation_z(t);
      double v = in->matrix(r).trace() * out->matrix(r).trace();
      if (name == "O3") v = (v + in->matrix(Matrix(-r)).trace() * out->matrix(Matrix(-r)).trace()) / 2;
      sum += v * (1 - std::cos(t));
    }
  }
  return sum / N;
}

TEST(CompactGroup, HomDimensionsMatchHaarIntegration) {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"SO2", "2x regular(3)", "regular(2) + 3x irrep(1)"},
      {"SO2", "standard + trivial", "irrep(1) + irrep(2)"},
      {"O2", "2x regular(2)", "regular(3) + irrep(1, 0)"},
      {"SO3", "regular(2)", "3x regular(1) + standard"},
      {"SO3", "2x standard + irrep(3)", "irrep(3) + 4x irrep(1)"},
      {"O3", "regular(2)", "2x irrep(1, -1) + irrep(1, 1) + irrep(2, 1)"},
  };
  for (const auto& [name, a, b] : cases) {
    const GroupPtr g = group(name);
    const auto in = eqnn::parse_rep(g, a), out = eqnn::parse_rep(g, b);
    const double expected = haar_hom_dimension(in, out);
    EXPECT_NEAR(double(eqnn::HomSpace::get(in, out)->dim()), expected, 1e-8)
        << name << ": " << a << " → " << b;
    EXPECT_GT(expected, 0.5) << name << ": " << a << " → " << b;
  }
}

TEST(CompactGroup, HomSpaceMapsAreEquivariant) {
  std::mt19937_64 rng(5);
  for (const char* name : {"SO2", "O2", "SO3", "O3"}) {
    const GroupPtr g = group(name);
    const auto in = eqnn::parse_rep(g, "2x regular(2) + standard"), out = eqnn::parse_rep(g, "regular(3)");
    const auto hom = eqnn::HomSpace::get(in, out);
    EXPECT_EQ(hom->method(), eqnn::HomSpace::Method::isotypic);
    const at::Tensor W = hom->expand(at::randn({hom->dim()}, at::kDouble));
    Matrix w(W.size(0), W.size(1));
    auto acc = W.accessor<double, 2>();
    for (int i = 0; i < w.rows(); ++i)
      for (int j = 0; j < w.cols(); ++j) w(i, j) = acc[i][j];
    const auto* def = g->compact();
    double err = 0;
    for (int t = 0; t < 16; ++t) {
      const Matrix x = def->sample(rng);
      err = std::max(err, max_abs(out->matrix(x) * w - w * in->matrix(x)));
    }
    EXPECT_LT(err / max_abs(w), 1e-12) << name;
  }
}

TEST(CompactGroup, RegularSizesAndSpellings) {
  EXPECT_EQ(eqnn::parse_rep(group("SO2"), "regular(3)")->size(), 7);             // 1 + 3·2
  EXPECT_EQ(eqnn::parse_rep(group("O2"), "regular(3)")->size(), 1 + 1 + 3 * 4);  // + the 2-dim twice
  EXPECT_EQ(eqnn::parse_rep(group("SO3"), "regular(2)")->size(), 1 + 9 + 25);
  EXPECT_EQ(eqnn::parse_rep(group("O3"), "regular(1)")->size(), 2 * (1 + 9));
  EXPECT_EQ(eqnn::parse_rep(group("SO3"), "4x regular(2) + standard")->size(), 4 * 35 + 3);
  EXPECT_EQ(eqnn::parse_rep(group("O3"), "irrep(2, -1) + irrep(0, 1)")->size(), 6);
  EXPECT_EQ(group("SO3")->irreps().size(), 33u);  // band limit 32 by default
  EXPECT_EQ(eqnn::testing::registry().make_group(YAML::Load("{type: SO3, band_limit: 4}"))->irreps().size(),
            5u);
}

TEST(CompactGroup, RefusalsNameTheCompactGroup) {
  const GroupPtr so3 = group("SO3"), o3 = group("O3");
  EXPECT_HAS(error_text<eqnn::GroupError>([&] { (void)so3->order(); }), "SO3 is a compact group");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "regular"); }), "regular(L)");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "regular(40)"); }), "band_limit: 40");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "irrep(33)"); }),
             "beyond the band limit 32");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(o3, "irrep(1)"); }), "irrep(l, p)");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(o3, "irrep(1, 2)"); }), "p = 1 or -1");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "irrep(x)"); }),
             "'x' is not an integer");
  // Spaces inside an argument are not dropped (a fuzzer found "regular(1\f0)" read as regular(10)).
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "regular(1 0)"); }), "one band limit");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(o3, "irrep(1 1, -1)"); }), "not an integer");
  EXPECT_EQ(eqnn::parse_rep(o3, "irrep( 1 ,\t-1 )")->size(), 3);
  // Huge indices are refused before anything of their size is built (and 2l + 1 never overflows).
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "irrep(999999999)"); }), "too large");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(o3, "irrep(2000000, -1)"); }), "too large");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "irrep(5000)"); }), "at most 64");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "permutation(points)"); }), "points");
  const auto v = eqnn::parse_rep(so3, "standard");
  EXPECT_HAS(error_text<eqnn::GroupError>([&] { v->matrix(0); }), "compact group");
  EXPECT_HAS(error_text<eqnn::GroupError>([&] { v->matrix(Matrix(-Matrix::Identity(3, 3))); }),
             "not an element of SO3");
  EXPECT_HAS(error_text<eqnn::GroupError>([&] { v->matrix(Matrix::Identity(2, 2)); }), "3x3 defining matrix");
  // What needs only the decomposition works: the projector onto the vectors, from Q.
  EXPECT_LT(max_abs(v->isotypic_projector(1) - Matrix::Identity(3, 3)), 1e-14);
  EXPECT_HAS(error_text<eqnn::ConfigError>(
                 [&] { eqnn::testing::registry().make_group(YAML::Load("{type: SO3, band_limit: 0}")); }),
             "band_limit");
}

// kron(A, B): coordinate i·rows(B) + j.
Matrix kron(const Matrix& a, const Matrix& b) {
  Matrix k(a.rows() * b.rows(), a.cols() * b.cols());
  for (int i = 0; i < a.rows(); ++i)
    for (int j = 0; j < a.cols(); ++j) k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}

double so3_character(int l, const Matrix& R) {
  const double theta = std::acos(std::clamp((R.trace() - 1) / 2, -1.0, 1.0));
  return std::sin((2 * l + 1) * theta / 2) / std::sin(theta / 2);
}

TEST(CompactGroup, TensorProductsAreKroneckerProducts) {
  // tensor(a, b)'s matrix is kron(ρ_a(g), ρ_b(g)) on Haar-random elements, for every pair of irreps (and
  // sums of them, with a non-trivial Q) of every shipped group.
  std::mt19937_64 rng(11);
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"SO2", {"irrep(0)", "irrep(1)", "irrep(2)", "irrep(3)", "standard + irrep(2)"}},
      {"O2", {"irrep(0, 0)", "irrep(1, 0)", "irrep(1, 1)", "irrep(1, 2)", "irrep(1, 3)", "regular(1)"}},
      {"SO3", {"irrep(0)", "irrep(1)", "irrep(2)", "irrep(3)", "standard", "irrep(1) + standard"}},
      {"O3", {"irrep(0, -1)", "irrep(1, 1)", "irrep(2, -1)", "standard", "irrep(1, -1) + irrep(2, 1)"}},
  };
  for (const auto& [name, reps] : cases) {
    const GroupPtr g = group(name);
    for (const auto& a : reps)
      for (const auto& b : reps) {
        const auto ra = eqnn::parse_rep(g, a), rb = eqnn::parse_rep(g, b);
        const auto t = Representation::tensor(ra, rb);
        ASSERT_EQ(t->size(), ra->size() * rb->size());
        EXPECT_LT(max_abs(t->Q().transpose() * t->Q() - Matrix::Identity(t->size(), t->size())), 1e-13);
        double err = 0;
        for (int trial = 0; trial < 6; ++trial) {
          const Matrix x = g->compact()->sample(rng);
          err = std::max(err, max_abs(t->matrix(x) - kron(ra->matrix(x), rb->matrix(x))));
        }
        EXPECT_LT(err, 1e-12) << name << ": " << a << " ⊗ " << b;
      }
  }
}

TEST(CompactGroup, So3ClebschGordanMatchesCharactersAndE3nn) {
  // Multiplicities: χ_{l1} χ_{l2} = Σ χ_l over the product's irreps (textbook characters); the irreps are
  // e3nn's (o3.FullTensorProduct): 1o ⊗ 1o = 0e + 1e + 2e, 2e ⊗ 1o = 1o + 2o + 3o, 3o ⊗ 2o = 1e + ... + 5e.
  const GroupPtr so3 = group("SO3"), o3 = group("O3");
  std::mt19937_64 rng(12);
  double worst = 0, worst_hom = 0;
  // The goal: every product of degrees <= 8 (81 Clebsch–Gordan decompositions, 825 coupled blocks) in under
  // 100 ms; printed, not asserted.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<eqnn::RepPtr> products;
  for (int l1 = 0; l1 <= 8; ++l1)
    for (int l2 = 0; l2 <= 8; ++l2)
      products.push_back(
          Representation::tensor(Representation::irrep(so3, l1), Representation::irrep(so3, l2)));
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  for (int l1 = 0; l1 <= 8; ++l1)
    for (int l2 = 0; l2 <= 8; ++l2) {
      const auto& t = products[l1 * 9 + l2];
      std::vector<int> expected;
      for (int l = std::abs(l1 - l2); l <= l1 + l2; ++l) expected.push_back(l);
      EXPECT_EQ(t->irreps(), expected);
      const Matrix R = random_rotation3(rng);
      double chi = 0;
      for (int l : t->irreps()) chi += so3_character(l, R);
      worst = std::max(worst, std::abs(chi - so3_character(l1, R) * so3_character(l2, R)));
      const Matrix k =
          kron(Representation::irrep(so3, l1)->matrix(R), Representation::irrep(so3, l2)->matrix(R));
      worst_hom = std::max(worst_hom, max_abs(t->matrix(R) - k));
    }
  EXPECT_LT(worst, 1e-9);
  EXPECT_LT(worst_hom, 1e-12);
  std::printf("[ info ] SO3 tensor products of degrees l1, l2 <= 8: %.1f ms; max |ρ(R) − kron| %.2g\n", ms,
              worst_hom);
  auto names = [&](const std::string& a, const std::string& b) {
    std::vector<std::string> out;
    const auto rep = eqnn::parse_rep(o3, fmt::format("tensor({}, {})", a, b));  // kept alive for the loop
    for (int k : rep->irreps()) out.push_back(o3->irreps()[k].name);
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names("irrep(1, -1)", "irrep(1, -1)"), (V{"irrep(0, 1)", "irrep(1, 1)", "irrep(2, 1)"}));
  EXPECT_EQ(names("irrep(2, 1)", "irrep(1, -1)"), (V{"irrep(1, -1)", "irrep(2, -1)", "irrep(3, -1)"}));
  EXPECT_EQ(names("irrep(3, -1)", "irrep(2, -1)"),
            (V{"irrep(1, 1)", "irrep(2, 1)", "irrep(3, 1)", "irrep(4, 1)", "irrep(5, 1)"}));
}

TEST(CompactGroup, ClebschGordanIsExactToHighDegree) {
  // Racah's alternating sum in logarithms: orthogonality and the Kronecker check at l1 = l2 = 16 (the
  // product of degree 32 is the default band limit).
  const GroupPtr so3 = group("SO3");
  std::mt19937_64 rng(13);
  for (auto [l1, l2] : std::vector<std::pair<int, int>>{{16, 16}, {12, 7}, {16, 1}}) {
    const auto a = Representation::irrep(so3, l1), b = Representation::irrep(so3, l2);
    const auto t = Representation::tensor(a, b);
    EXPECT_LT(max_abs(t->Q().transpose() * t->Q() - Matrix::Identity(t->size(), t->size())), 1e-11) << l1;
    const Matrix R = random_rotation3(rng);
    EXPECT_LT(max_abs(t->matrix(R) - kron(a->matrix(R), b->matrix(R))), 1e-11) << l1 << " " << l2;
  }
}

TEST(CompactGroup, TensorSpellingsAndRefusals) {
  const GroupPtr so3 = group("SO3");
  const auto a = eqnn::parse_rep(so3, "tensor(irrep(1), irrep(2) + trivial)");
  EXPECT_EQ(a->size(), 3 * 6);
  EXPECT_EQ(eqnn::parse_rep(so3, "irrep(1) \u2297 irrep(2)")->irreps(), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(eqnn::parse_rep(so3, "2x standard \u2297 standard + trivial")->size(), 2 * 9 + 1);
  EXPECT_EQ(eqnn::parse_rep(so3, "tensor(standard, standard, standard)")->size(), 27);
  EXPECT_TRUE(eqnn::parse_rep(so3, "tensor(irrep(1), irrep(1))")
                  ->same_content(*eqnn::parse_rep(so3, "irrep(1) \u2297 irrep(1)")));
  // The product's irreps must lie within the band limit.
  const auto small = eqnn::testing::registry().make_group(YAML::Load("{type: SO3, band_limit: 3}"));
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(small, "tensor(irrep(2), irrep(2))"); }),
             "beyond the band limit 3");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "tensor(irrep(1))"); }), "two or more");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "tensor(irrep(1), irrep(1)"); }),
             "expected ')' to close tensor(");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "tensor(irrep(1); irrep(1))"); }),
             "expected '+', ',' or ')'");
  std::string deep = "irrep(1)";
  for (int i = 0; i < 40; ++i) deep = "tensor(trivial, " + deep + ")";
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, deep); }), "nested more than 16");
  // The size limit is checked before the product is built.
  EXPECT_HAS(
      error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, "tensor(40x regular(4), 40x regular(4))"); }),
      "the tensor product would have 43560000 coordinates");
  const char raw[] = "tensor(irrep(1)\0 irrep(1))";
  const std::string nul(raw, sizeof(raw) - 1);
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(so3, nul); }),
             "\"tensor(irrep(1)\\x00 irrep(1))\": expected '+', ',' or ')', found '\\x00'");
}

// A plugin's tensor products are checked before use: a plugin that defines none, and ones that return the
// wrong size, a Q that is not orthogonal, an irrep that does not exist, or an orthogonal Q that does not
// decompose the product, each get a message naming the group and the pair.
namespace {

enum class ProductFault {
  none_defined,
  correct,
  wrong_size,
  not_orthogonal,
  negative_irrep,
  not_intertwining
};

// The circle group, written here: irrep(0) trivial, irrep(k) the rotation by kθ; the products of the
// 2-dimensional ones (k, m >= 1) by the frequencies k ± m, or spoiled as `fault` says.
class Circle : public eqnn::CompactGroupDefinition {
 public:
  explicit Circle(ProductFault fault) : fault_(fault) {}
  std::string name() const override { return "Circle"; }
  int defining_dim() const override { return 2; }
  int num_irreps(int L) const override { return L + 1; }
  eqnn::CompactIrrep irrep(int k) const override {
    if (k == 0) return {"irrep(0)", 1, eqnn::IrrepType::R, 0, {Matrix::Identity(1, 1)}};
    return {
        fmt::format("irrep({})", k), 2, eqnn::IrrepType::C, k, {Matrix::Identity(2, 2), rotation2(M_PI / 2)}};
  }
  Matrix irrep_matrix(int k, const Matrix& g) const override {
    return k == 0 ? Matrix::Identity(1, 1) : rotation2(k * std::atan2(g(1, 0), g(0, 0)));
  }
  int irrep_index(const std::vector<std::string>& a) const override { return std::stoi(a.at(0)); }
  Matrix sample(std::mt19937_64& rng) const override {
    return rotation2(std::uniform_real_distribution<double>(-M_PI, M_PI)(rng));
  }
  std::vector<Matrix> lie_algebra_basis() const override { return {rotation2(M_PI / 2)}; }
  double distance_from_group(const Matrix& m) const override {
    return max_abs(m.transpose() * m - Matrix::Identity(2, 2)) + std::abs(m.determinant() - 1);
  }
  std::pair<std::vector<int>, Matrix> standard() const override { return {{1}, Matrix::Identity(2, 2)}; }
  std::pair<std::vector<int>, Matrix> tensor_product(int k, int m) const override {
    if (fault_ == ProductFault::none_defined) return CompactGroupDefinition::tensor_product(k, m);
    // k != m, both >= 1: with z = e0 + i e1, Re/Im of z ⊗ z carry k + m and those of z ⊗ z̄ carry k − m.
    const double r = 1 / std::sqrt(2.0), s = k > m ? 1 : -1;
    Matrix Q(4, 4);
    Q << r, 0, r, 0, 0, r, 0, -s * r, 0, r, 0, s * r, -r, 0, r, 0;
    std::vector<int> irreps{k + m, std::abs(k - m)};
    switch (fault_) {
      case ProductFault::wrong_size:
        return {irreps, Matrix::Identity(3, 3)};
      case ProductFault::not_orthogonal:
        return {irreps, Matrix(2 * Q)};
      case ProductFault::negative_irrep:
        return {{-1, 1}, Q};
      case ProductFault::not_intertwining:
        return {{k + m, std::abs(k - m) + 1}, Q};
      default:
        return {irreps, Q};
    }
  }

 private:
  ProductFault fault_;
};

std::string product_error(ProductFault fault) {
  const GroupPtr g = eqnn::Group::from_compact(std::make_shared<Circle>(fault), 8);
  return error_text<eqnn::GroupError>(
      [&] { Representation::tensor(Representation::irrep(g, 1), Representation::irrep(g, 3)); });
}

}  // namespace

TEST(CompactGroup, APluginsTensorProductsAreCheckedBeforeUse) {
  // The correct one passes and is the Kronecker product.
  const GroupPtr g = eqnn::Group::from_compact(std::make_shared<Circle>(ProductFault::correct), 8);
  const auto product = Representation::tensor(Representation::irrep(g, 1), Representation::irrep(g, 3));
  const Matrix x = rotation2(0.7);
  EXPECT_LT(max_abs(product->matrix(x) - Matrix(Eigen::kroneckerProduct(rotation2(0.7), rotation2(2.1)))),
            1e-14);
  EXPECT_HAS(product_error(ProductFault::none_defined),
             "Circle defines no tensor products of its irreps (its plugin does not implement "
             "CompactGroupDefinition::tensor_product); irreps 1 and 3 cannot be coupled");
  EXPECT_HAS(product_error(ProductFault::wrong_size),
             "Circle: tensor_product(1, 3) gives irreps of total dimension 4 and a 3x3 Q for a product of "
             "dimension 4");
  EXPECT_HAS(product_error(ProductFault::not_orthogonal),
             "Circle: tensor_product(1, 3): the change of basis must be orthogonal");
  EXPECT_HAS(product_error(ProductFault::negative_irrep), "Circle: tensor_product(1, 3) names irrep -1");
  EXPECT_HAS(product_error(ProductFault::not_intertwining),
             "Circle: tensor_product(1, 3) is not a decomposition of irrep(1) ⊗ irrep(3): its Q does not "
             "intertwine");
}

// quotient(H, L) against Frobenius reciprocity computed here: ψ_k appears in the functions on G/H as often
// as it holds H-invariant vectors, counted per dim/S. The invariants are the trace of the projector
// mean_h ψ_k(h), averaged over C_n itself or over rotations about z by 2πj/M (exact for band <= L < M/2).
TEST(CompactGroup, QuotientsHoldTheIrrepsFrobeniusReciprocityGives) {
  struct Case {
    std::string group, subgroup;
    int L;
    std::vector<Matrix> h;
  };
  auto about_z = [](int m) {
    std::vector<Matrix> out;
    for (int j = 0; j < m; ++j) out.push_back(rotation_z(2 * M_PI * j / m));
    return out;
  };
  auto cyclic = [](int n) {
    std::vector<Matrix> out;
    for (int j = 0; j < n; ++j) out.push_back(rotation2(2 * M_PI * j / n));
    return out;
  };
  const std::vector<Case> cases = {{"SO3", "SO2", 4, about_z(20)}, {"O3", "SO2", 3, about_z(20)},
                                   {"SO2", "C3", 10, cyclic(3)},   {"SO2", "C1", 4, cyclic(1)},
                                   {"O2", "C4", 9, cyclic(4)},     {"O2", "C1", 3, cyclic(1)}};
  for (const Case& c : cases) {
    const GroupPtr g = group(c.group);
    const std::string text = fmt::format("quotient({}, {})", c.subgroup, c.L);
    const auto rep = eqnn::parse_rep(g, text);
    std::map<int, int> have, want;
    for (int k : rep->irreps()) ++have[k];
    for (int k = 0; k < static_cast<int>(g->irreps().size()); ++k) {
      const eqnn::CompactIrrep ir = g->compact()->irrep(k);
      if (ir.band > c.L) continue;
      Matrix P = Matrix::Zero(ir.dim, ir.dim);
      for (const Matrix& h : c.h) P += g->compact()->irrep_matrix(k, h);
      const double invariants = P.trace() / static_cast<double>(c.h.size());
      const int copies =
          static_cast<int>(std::lround(invariants)) / static_cast<int>(ir.endomorphism_basis.size());
      if (copies > 0) want[k] = copies;
    }
    EXPECT_EQ(have, want) << c.group << " " << text;
    EXPECT_TRUE(rep->Q().isIdentity(0)) << text;
    EXPECT_EQ(rep->describe().find(text), 0u) << rep->describe();
    // H = C1 is the group's own regular(L).
    if (c.subgroup == "C1") {
      std::vector<int> regular = eqnn::parse_rep(g, fmt::format("regular({})", c.L))->irreps();
      std::vector<int> mine = rep->irreps();
      std::sort(regular.begin(), regular.end());
      std::sort(mine.begin(), mine.end());
      EXPECT_EQ(mine, regular) << c.group;
    }
  }
  // The sphere's harmonics: degree l is a (2l + 1)-dim block of SO3's quotient.
  EXPECT_EQ(eqnn::parse_rep(group("SO3"), "quotient(SO2, 3)")->size(), 1 + 3 + 5 + 7);
  EXPECT_EQ(eqnn::parse_rep(group("SO3"), "2x quotient(SO2, 1) + standard")->size(), 2 * 4 + 3);
  // Refusals, located, with the spelling.
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("SO3"), "quotient(SO3, 2)"); }),
             "SO3's quotient is quotient(SO2, L)");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("SO2"), "quotient(D4, 2)"); }),
             "SO2's quotients are quotient(Cn, L)");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("SO2"), "quotient(C0, 2)"); }),
             "quotient(Cn, L), n >= 1");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("SO3"), "quotient(SO2)"); }),
             "quotient(H, L) takes a subgroup H and a band limit L >= 0");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("SO3"), "quotient(SO2, 40)"); }),
             "beyond the band limit 32 of SO3");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("D4"), "quotient(C2, 1)"); }),
             "quotient(H, L) is for compact groups; D4 is finite");
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(group("SO3"), "quotent(SO2, 1)"); }),
             "did you mean 'quotient'");
  // A plugin that defines no quotients says so.
  const GroupPtr circle = eqnn::Group::from_compact(std::make_shared<Circle>(ProductFault::correct), 8);
  EXPECT_HAS(error_text<eqnn::ConfigError>([&] { eqnn::parse_rep(circle, "quotient(C2, 2)"); }),
             "Circle defines no quotient spaces");
}

TEST(CompactGroup, GoalsAreMetWithoutEnumeratingElements) {
  // Construction of a Hom space of 16x regular(4) (1, 9, ..., 81 coordinates: 16·165 = 2640) takes no
  // element enumeration; the time is printed, not asserted.
  const GroupPtr g = group("SO3");
  const auto t0 = std::chrono::steady_clock::now();
  const auto rep = eqnn::parse_rep(g, "16x regular(4)");
  const auto hom = eqnn::HomSpace::get(rep, rep);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(rep->size(), 16 * 165);
  EXPECT_EQ(hom->dim(), 16 * 16 * (1 + 9 + 25 + 49 + 81));  // Σ_l m_l², m_l = 16 (2l + 1)
  EXPECT_TRUE(rep->q_is_identity());  // a sum of regular(4)s, each already in its irreps' basis
  std::printf("[ info ] Hom(16x regular(4), itself) of SO3 in %.1f ms\n", ms);
  // Held implicitly, Q may be larger than eqnn builds dense: asking for it is an error that says so, before
  // anything is allocated; the rep and a Hom space to a small rep serve without it.
  {
    eqnn::testing::ScopedEnv limit("EQNN_MAX_WEIGHT_ENTRIES", "1000000");
    const auto wide = eqnn::parse_rep(g, "8x regular(4)");  // 1320² = 1742400 entries
    EXPECT_EQ(eqnn::HomSpace::get(wide, eqnn::parse_rep(g, "standard"))->dim(), 8 * 3);
    EXPECT_HAS(error_text<eqnn::GroupError>([&] { (void)wide->Q(); }),
               "a dense change of basis of 1320 x 1320 = 1742400 entries");
  }
}

// Where Q = I the Hom space places and reads its blocks by index instead of multiplying by Q's columns.
// The dense path is the same rep after an orthogonal change of basis M (ρ' = M ρ Mᵀ, Q' = M Q, a dense
// matrix): its maps are M_out W M_inᵀ for the same coefficients. Expand, gradients and analyse, on SO3
// (whose standard part keeps a dense Q: mixed), O2 and D4, with the dense path on one side or both.
TEST(CompactGroup, IdentityBasisHomEqualsTheDensePath) {
  for (const auto& [name, in_text, out_text] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"SO3", "2x regular(2) + standard", "regular(1) + 3x irrep(2)"},
           {"O2", "regular(2) + irrep(1, 0)", "2x regular(1)"},
           {"D4", "irrep(4) + 2x irrep(1) + trivial", "2x irrep(4) + irrep(1)"}}) {
    const GroupPtr g = group(name);
    const auto in = eqnn::parse_rep(g, in_text), out = eqnn::parse_rep(g, out_text);
    EXPECT_TRUE(out->q_is_identity()) << name;
    EXPECT_EQ(in->q_is_identity(), name != "SO3") << name;
    auto orthogonal = [](int n) {
      const at::Tensor q = std::get<0>(at::linalg_qr(at::randn({n, n}, at::kDouble)));
      return Matrix(Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
          q.contiguous().data_ptr<double>(), n, n));
    };
    const Matrix Mi = orthogonal(in->size()), Mo = orthogonal(out->size());
    const auto turned_in = Representation::change_basis(in, Mi);
    const auto turned_out = Representation::change_basis(out, Mo);
    ASSERT_FALSE(turned_out->q_is_identity());
    const at::Tensor ti = eqnn::to_tensor(Mi), to = eqnn::to_tensor(Mo),
                     Ii = at::eye(in->size(), at::kDouble), Io = at::eye(out->size(), at::kDouble);
    for (const auto& [a, b, ma, mb] :
         std::vector<std::tuple<eqnn::RepPtr, eqnn::RepPtr, at::Tensor, at::Tensor>>{
             {turned_in, turned_out, ti, to}, {in, turned_out, Ii, to}, {turned_in, out, ti, Io}}) {
      const auto fast = eqnn::HomSpace::get(in, out), slow = eqnn::HomSpace::get(a, b);
      ASSERT_EQ(fast->dim(), slow->dim()) << name;
      const at::Tensor theta = at::randn({3, fast->dim()}, at::kDouble).requires_grad_(true);
      const at::Tensor W = fast->expand(theta), V = at::matmul(at::matmul(mb.t(), slow->expand(theta)), ma);
      EXPECT_LT((W - V).abs().max().item<double>(), 1e-12) << name;
      const at::Tensor probe = at::randn(W.sizes(), at::kDouble);
      const at::Tensor gw = torch::autograd::grad({(W * probe).sum()}, {theta})[0];
      const at::Tensor gv = torch::autograd::grad({(V * probe).sum()}, {theta})[0];
      EXPECT_LT((gw - gv).abs().max().item<double>(), 1e-12) << name;
      const at::Tensor M = at::randn({out->size(), in->size()}, at::kDouble);
      EXPECT_LT((fast->analyse(M) - slow->analyse(at::matmul(at::matmul(mb, M), ma.t())))
                    .abs()
                    .max()
                    .item<double>(),
                1e-12)
          << name;
      // analyse is the left inverse of expand.
      EXPECT_LT((fast->analyse(W.detach()) - theta.detach()).abs().max().item<double>(), 1e-12) << name;
    }
  }
}

}  // namespace
