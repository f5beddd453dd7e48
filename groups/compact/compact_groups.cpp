// The compact groups SO(2), O(2), SO(3), O(3) (DESIGN §10): elements are their defining orthogonal matrices,
// irreps in closed form up to the band limit (YAML {type: SO3, band_limit: L}, default 32). Spellings:
//   SO2: irrep(k), k >= 0, the rotation by kθ (type C for k >= 1)
//   O2:  irrep(0, 0) trivial, irrep(1, 0) the determinant, irrep(1, k) k >= 1 the 2-dim (escnn's (j, k))
//   SO3: irrep(l), the real Wigner-D matrix of degree l
//   O3:  irrep(l, p), p = 1 or -1: D^l(det(g)·g) times p when det(g) = -1 (standard = irrep(1, -1))
// Every group defines the tensor products of its irreps (SO(3), O(3): real Clebsch–Gordan coefficients).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <Eigen/Dense>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/registry/plugin.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/yaml_args.hpp"

namespace {

using eqnn::CompactIrrep;
using eqnn::GroupError;
using eqnn::IrrepType;
using eqnn::Matrix;
namespace compact = eqnn::compact;

Matrix scalar(double x) { return Matrix::Constant(1, 1, x); }
Matrix reflection2d() { return Eigen::Vector2d(1, -1).asDiagonal(); }

// An integer argument (optionally signed) or an error saying how the irreps are spelled.
int integer(const std::string& arg, const std::string& spelling) {
  size_t used = 0;
  int v = 0;
  try {
    v = std::stoi(arg, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (arg.empty() || used != arg.size())
    throw GroupError(fmt::format("'{}' is not an integer; {}", arg, spelling));
  // No irrep index of a band limit <= Group::kMaxBandLimit is near this, and 2l + 1 must not overflow.
  if (std::abs(static_cast<int64_t>(v)) > 1000000)
    throw GroupError(fmt::format("{} is too large (no compact group holds irreps of band above {}); {}", arg,
                                 eqnn::Group::kMaxBandLimit, spelling));
  return v;
}

double orthogonality_error(const Matrix& m) {
  return (m.transpose() * m - Matrix::Identity(m.cols(), m.cols())).cwiseAbs().maxCoeff();
}

class SO2 : public eqnn::CompactGroupDefinition {
 public:
  std::string name() const override { return "SO2"; }
  int defining_dim() const override { return 2; }
  int num_irreps(int L) const override { return L + 1; }
  CompactIrrep irrep(int k) const override {
    if (k == 0) return {"irrep(0)", 1, IrrepType::R, 0, {scalar(1)}};
    return {fmt::format("irrep({})", k),
            2,
            IrrepType::C,
            k,
            {Matrix::Identity(2, 2), compact::rotation2d(M_PI / 2)}};
  }
  Matrix irrep_matrix(int k, const Matrix& g) const override {
    return k == 0 ? scalar(1) : compact::rotation2d(k * std::atan2(g(1, 0), g(0, 0)));
  }
  int irrep_index(const std::vector<std::string>& a) const override {
    const std::string spelling = "SO2's irreps are irrep(k), k >= 0 (the rotation by kθ)";
    if (a.size() != 1) throw GroupError(spelling);
    const int k = integer(a[0], spelling);
    if (k < 0) throw GroupError(spelling);
    return k;
  }
  Matrix sample(std::mt19937_64& rng) const override {
    return compact::rotation2d(std::uniform_real_distribution<double>(-M_PI, M_PI)(rng));
  }
  std::vector<Matrix> lie_algebra_basis() const override { return {compact::rotation2d(M_PI / 2)}; }
  double distance_from_group(const Matrix& m) const override {
    return orthogonality_error(m) + std::abs(m.determinant() - 1);
  }
  std::pair<std::vector<int>, Matrix> standard() const override { return {{1}, Matrix::Identity(2, 2)}; }
  // k, m >= 1: ψ_k ⊗ ψ_m = ψ_{k+m} ⊕ ψ_{|k−m|} (two trivials when k = m).
  std::pair<std::vector<int>, Matrix> tensor_product(int k, int m) const override {
    if (k == 0 || m == 0) return {{k + m}, Matrix::Identity(k + m ? 2 : 1, k + m ? 2 : 1)};
    if (k == m) return {{2 * k, 0, 0}, frequency_basis(k, m)};
    return {{k + m, std::abs(k - m)}, frequency_basis(k, m)};
  }
  // SO(2)/C_n: ψ_k is fixed by the rotation by 2π/n exactly when n divides k.
  std::vector<int> quotient(const std::string& subgroup, int L) const override {
    const std::string spelling =
        "SO2's quotients are quotient(Cn, L), n >= 1 (the functions on the circle "
        "that the rotation by 2π/n fixes: frequencies 0, n, 2n, ... <= L)";
    if (subgroup.size() < 2 || subgroup[0] != 'C') throw GroupError(spelling);
    const int n = integer(subgroup.substr(1), spelling);
    if (n < 1) throw GroupError(spelling);
    std::vector<int> out;
    for (int k = 0; k <= L; k += n) out.push_back(k);
    return out;
  }
  // The rotations by 2πi/n: a band-limited function of frequency < n/2 is sampled exactly.
  std::vector<Matrix> grid(int n) const override {
    std::vector<Matrix> out;
    for (int i = 0; i < n; ++i) out.push_back(compact::rotation2d(2 * M_PI * i / n));
    return out;
  }

 protected:
  // With z = e₀ + i e₁ (ψ_k(θ) z = e^{−ikθ} z), the real and imaginary parts of z ⊗ z carry frequency
  // k + m, those of z ⊗ z̄ (k > m) or z̄ ⊗ z (k < m) frequency |k − m| (coordinate 2i + j holds e_i ⊗ e_j).
  static Matrix frequency_basis(int k, int m) {
    const double r = 1 / std::sqrt(2.0);
    Matrix Q(4, 4);
    const double s = k >= m ? 1 : -1;
    Q << r, 0, r, 0,      //
        0, r, 0, -s * r,  //
        0, r, 0, s * r,   //
        -r, 0, r, 0;
    return Q;
  }
};

class O2 : public SO2 {
 public:
  std::string name() const override { return "O2"; }
  // 0 trivial, 1 the determinant, k >= 2 the 2-dim irrep of frequency k - 1.
  int num_irreps(int L) const override { return L + 2; }
  CompactIrrep irrep(int k) const override {
    if (k == 0) return {"irrep(0, 0)", 1, IrrepType::R, 0, {scalar(1)}};
    if (k == 1) return {"irrep(1, 0)", 1, IrrepType::R, 0, {scalar(1)}};
    return {fmt::format("irrep(1, {})", k - 1), 2, IrrepType::R, k - 1, {Matrix::Identity(2, 2)}};
  }
  Matrix irrep_matrix(int k, const Matrix& g) const override {
    const bool reflection = g.determinant() < 0;
    if (k == 0) return scalar(1);
    if (k == 1) return scalar(reflection ? -1 : 1);
    // g = rot(θ) F^s with F = diag(1, -1): its first column is (cos θ, sin θ).
    const Matrix r = compact::rotation2d((k - 1) * std::atan2(g(1, 0), g(0, 0)));
    return reflection ? Matrix(r * reflection2d()) : r;
  }
  int irrep_index(const std::vector<std::string>& a) const override {
    const std::string spelling =
        "O2's irreps are irrep(0, 0) (trivial), irrep(1, 0) (the determinant) and irrep(1, k), k >= 1";
    if (a.size() != 2) throw GroupError(spelling);
    const int j = integer(a[0], spelling), k = integer(a[1], spelling);
    if (j == 0 && k == 0) return 0;
    if (j == 1 && k >= 0) return k + 1;
    throw GroupError(spelling);
  }
  Matrix sample(std::mt19937_64& rng) const override {
    const Matrix r = compact::rotation2d(std::uniform_real_distribution<double>(-M_PI, M_PI)(rng));
    return std::bernoulli_distribution(0.5)(rng) ? Matrix(r * reflection2d()) : r;
  }
  std::vector<Matrix> lie_algebra_basis() const override { return {compact::rotation2d(M_PI / 2)}; }
  double distance_from_group(const Matrix& m) const override {
    return orthogonality_error(m) + std::abs(std::abs(m.determinant()) - 1);
  }
  std::pair<std::vector<int>, Matrix> standard() const override { return {{2}, Matrix::Identity(2, 2)}; }
  // Index 0 trivial, 1 determinant, f + 1 frequency f. The determinant times a 2-dim irrep is the same irrep
  // after the rotation by π/2 (which turns F into −F); two 2-dim irreps couple as in SO(2), the reflection
  // acting on the difference frequency's pair by ±1 when the frequencies are equal.
  std::pair<std::vector<int>, Matrix> tensor_product(int a, int b) const override {
    if (a == 0 || b == 0) {
      const int d = std::max(a, b) >= 2 ? 2 : 1;
      return {{std::max(a, b)}, Matrix::Identity(d, d)};
    }
    if (a == 1 && b == 1) return {{0}, scalar(1)};
    if (a == 1 || b == 1) return {{std::max(a, b)}, compact::rotation2d(M_PI / 2)};
    const int k = a - 1, m = b - 1;
    if (k == m) return {{2 * k + 1, 0, 1}, frequency_basis(k, m)};
    return {{k + m + 1, std::abs(k - m) + 1}, frequency_basis(k, m)};
  }
  // ⌈n/2⌉ rotations and ⌊n/2⌋ reflections, each evenly spaced.
  std::vector<Matrix> grid(int n) const override {
    std::vector<Matrix> out = SO2::grid((n + 1) / 2);
    for (const Matrix& r : SO2::grid(n / 2)) out.push_back(r * reflection2d());
    return out;
  }
  // O(2)/C_n: the trivial and determinant irreps once, ψ_k (type R, two copies in regular(L)) twice when
  // n divides k (the rotation by 2π/n fixes all of it).
  std::vector<int> quotient(const std::string& subgroup, int L) const override {
    const std::string spelling = "O2's quotients are quotient(Cn, L), n >= 1 (C_n the rotations by 2π/n)";
    if (subgroup.size() < 2 || subgroup[0] != 'C') throw GroupError(spelling);
    const int n = integer(subgroup.substr(1), spelling);
    if (n < 1) throw GroupError(spelling);
    std::vector<int> out{0, 1};
    for (int k = n; k <= L; k += n) out.insert(out.end(), {k + 1, k + 1});
    return out;
  }
};

// so(3)'s basis on (x, y, z): (G_i)_jk = −ε_ijk, exp(θ G_i) the rotation by θ about axis i.
std::vector<Matrix> so3_algebra() {
  std::vector<Matrix> out;
  for (int i = 0; i < 3; ++i) {
    Matrix G = Matrix::Zero(3, 3);
    G((i + 2) % 3, (i + 1) % 3) = 1;
    G((i + 1) % 3, (i + 2) % 3) = -1;
    out.push_back(G);
  }
  return out;
}

// The orthogonal Q with R = Q D¹(R) Qᵀ: the intertwiner of SO(3)'s generators on (x, y, z) and of degree 1.
Matrix so3_standard_basis() {
  const auto& A = compact::so3_generators(1);
  Eigen::MatrixXd system(27, 9);
  const Matrix I = Matrix::Identity(3, 3);
  const std::vector<Matrix> algebra = so3_algebra();
  for (int i = 0; i < 3; ++i) {
    const Matrix& G = algebra[i];
    // vec(Q A − G Q) = (Aᵀ ⊗ I − I ⊗ G) vec(Q)
    Matrix K(9, 9);
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c)
        K.block(3 * r, 3 * c, 3, 3) = A[i](c, r) * I - (r == c ? G : Matrix::Zero(3, 3));
    system.middleRows(9 * i, 9) = K;
  }
  Eigen::JacobiSVD<Matrix> svd(system, Eigen::ComputeFullV);
  Eigen::VectorXd v = svd.matrixV().col(8);
  Matrix Q = Eigen::Map<Matrix>(v.data(), 3, 3);
  return Q * (std::sqrt(3.0) / Q.norm());
}

class SO3 : public eqnn::CompactGroupDefinition {
 public:
  std::string name() const override { return "SO3"; }
  int defining_dim() const override { return 3; }
  int num_irreps(int L) const override { return L + 1; }
  CompactIrrep irrep(int l) const override {
    return {
        fmt::format("irrep({})", l), 2 * l + 1, IrrepType::R, l, {Matrix::Identity(2 * l + 1, 2 * l + 1)}};
  }
  Matrix irrep_matrix(int l, const Matrix& g) const override { return compact::wigner_d(l, g); }
  int irrep_index(const std::vector<std::string>& a) const override {
    const std::string spelling = "SO3's irreps are irrep(l), l >= 0 (the real Wigner-D matrices of degree l)";
    if (a.size() != 1) throw GroupError(spelling);
    const int l = integer(a[0], spelling);
    if (l < 0) throw GroupError(spelling);
    return l;
  }
  Matrix sample(std::mt19937_64& rng) const override { return compact::haar_rotation3d(rng); }
  std::vector<Matrix> lie_algebra_basis() const override { return so3_algebra(); }
  double distance_from_group(const Matrix& m) const override {
    return orthogonality_error(m) + std::abs(m.determinant() - 1);
  }
  std::pair<std::vector<int>, Matrix> standard() const override { return {{1}, so3_standard_basis()}; }
  // D^{l1} ⊗ D^{l2} = ⊕_{l=|l1−l2|}^{l1+l2} D^l by the real Clebsch–Gordan coefficients.
  std::pair<std::vector<int>, Matrix> tensor_product(int l1, int l2) const override {
    return couple(l1, l2, [](int l) { return l; });
  }
  std::vector<Matrix> grid(int n) const override { return compact::rotation_grid3d(n); }
  // SO(3)/SO(2), the sphere: every degree once (its m = 0 vector is the one SO(2)-invariant), the real
  // spherical harmonics of degree 0..L.
  std::vector<int> quotient(const std::string& subgroup, int L) const override {
    if (subgroup != "SO2")
      throw GroupError(
          "SO3's quotient is quotient(SO2, L): the sphere SO(3)/SO(2), spherical harmonics of "
          "degree 0..L");
    std::vector<int> out;
    for (int l = 0; l <= L; ++l) out.push_back(l);
    return out;
  }

 protected:
  template <class Index>
  static std::pair<std::vector<int>, Matrix> couple(int l1, int l2, Index index) {
    const int n = (2 * l1 + 1) * (2 * l2 + 1);
    std::vector<int> irreps;
    Matrix Q(n, n);
    for (int l = std::abs(l1 - l2), col = 0; l <= l1 + l2; col += 2 * l + 1, ++l) {
      Q.middleCols(col, 2 * l + 1) = compact::so3_clebsch_gordan(l1, l2, l);
      irreps.push_back(index(l));
    }
    return {irreps, Q};
  }
};

class O3 : public SO3 {
 public:
  std::string name() const override { return "O3"; }
  // irrep 2l + (p = -1): degree l, parity p.
  int num_irreps(int L) const override { return 2 * (L + 1); }
  CompactIrrep irrep(int k) const override {
    const int l = k / 2, d = 2 * l + 1;
    return {fmt::format("irrep({}, {})", l, k % 2 ? -1 : 1), d, IrrepType::R, l, {Matrix::Identity(d, d)}};
  }
  Matrix irrep_matrix(int k, const Matrix& g) const override {
    const bool improper = g.determinant() < 0;
    const Matrix d = compact::wigner_d(k / 2, improper ? Matrix(-g) : g);
    return improper && k % 2 ? Matrix(-d) : d;
  }
  int irrep_index(const std::vector<std::string>& a) const override {
    const std::string spelling =
        "O3's irreps are irrep(l, p): degree l >= 0, parity p = 1 or -1 (e.g. irrep(1, -1), the vectors)";
    if (a.size() != 2) throw GroupError(spelling);
    const int l = integer(a[0], spelling), p = integer(a[1], spelling);
    if (l < 0 || (p != 1 && p != -1)) throw GroupError(spelling);
    return 2 * l + (p < 0);
  }
  Matrix sample(std::mt19937_64& rng) const override {
    const Matrix r = compact::haar_rotation3d(rng);
    return std::bernoulli_distribution(0.5)(rng) ? Matrix(-r) : r;
  }
  double distance_from_group(const Matrix& m) const override {
    return orthogonality_error(m) + std::abs(std::abs(m.determinant()) - 1);
  }
  std::pair<std::vector<int>, Matrix> standard() const override { return {{3}, so3_standard_basis()}; }
  // O(3)/SO(2), two spheres (one per component): every degree once with each parity.
  std::vector<int> quotient(const std::string& subgroup, int L) const override {
    if (subgroup != "SO2")
      throw GroupError(
          "O3's quotient is quotient(SO2, L): O(3)/SO(2), spherical harmonics of degree 0..L "
          "of both parities");
    std::vector<int> out;
    for (int l = 0; l <= L; ++l) out.insert(out.end(), {2 * l, 2 * l + 1});
    return out;
  }
  // Degrees couple as in SO(3), parities multiply.
  std::pair<std::vector<int>, Matrix> tensor_product(int a, int b) const override {
    const int odd = (a % 2) ^ (b % 2);
    return couple(a / 2, b / 2, [odd](int l) { return 2 * l + odd; });
  }
  // ⌈n/2⌉ rotations and ⌊n/2⌋ improper ones (−R), each spread evenly.
  std::vector<Matrix> grid(int n) const override {
    std::vector<Matrix> out = compact::rotation_grid3d((n + 1) / 2);
    for (const Matrix& r : compact::rotation_grid3d(n / 2)) out.push_back(-r);
    return out;
  }
};

template <class Definition>
eqnn::GroupType compact_type(const std::string& name) {
  auto make = [name](const YAML::Node& params, const eqnn::Registry&) {
    eqnn::yaml::check_keys(params, {"band_limit"}, name);
    const auto L = eqnn::yaml::get_int(params, "band_limit", 32, 1, eqnn::Group::kMaxBandLimit);
    return eqnn::GroupPtr(eqnn::Group::from_compact(std::make_shared<Definition>(), static_cast<int>(L)));
  };
  auto parse = [name](const std::string& s) -> std::optional<YAML::Node> {
    if (s != name) return std::nullopt;
    return YAML::Node(YAML::NodeType::Map);
  };
  return {name,
          fmt::format("band_limit: integer in 1..{} (default 32): the irreps of band <= it",
                      eqnn::Group::kMaxBandLimit),
          {name},
          make,
          parse};
}

void register_all(eqnn::Registrar& r) {
  r.add_group_type(compact_type<SO2>("SO2"));
  r.add_group_type(compact_type<O2>("O2"));
  r.add_group_type(compact_type<SO3>("SO3"));
  r.add_group_type(compact_type<O3>("O3"));
}

}  // namespace

EQNN_PLUGIN("compact_groups", "0.1.0", register_all)
