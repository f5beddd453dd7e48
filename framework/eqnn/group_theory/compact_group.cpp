// Compact groups: Group::from_compact and the closed forms the shipped plugins share (rotations, the
// matrix exponential, axis and angle, Haar rotations, SO(3)'s real generators and Wigner-D matrices).
#include "eqnn/group_theory/compact_group.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <map>
#include <mutex>

#include <fmt/format.h>
#include <Eigen/Dense>
#include <unsupported/Eigen/MatrixFunctions>

#include "eqnn/util/error.hpp"
#include "eqnn/util/hash.hpp"

namespace eqnn {

std::shared_ptr<Group> Group::from_compact(std::shared_ptr<const CompactGroupDefinition> definition,
                                           int band_limit) {
  if (!definition) throw GroupError("Group::from_compact: no definition given");
  if (band_limit < 1 || band_limit > kMaxBandLimit)
    throw GroupError(
        fmt::format("{}: band_limit {} is outside 1..{}", definition->name(), band_limit, kMaxBandLimit));
  auto g = std::shared_ptr<Group>(new Group());
  g->name_ = definition->name();
  g->band_limit_ = band_limit;
  auto irreps = std::make_shared<std::vector<Irrep>>();
  const int n = definition->num_irreps(band_limit);
  for (int k = 0; k < n; ++k) {
    CompactIrrep c = definition->irrep(k);
    Irrep ir;
    ir.index = k;
    ir.name = std::move(c.name);
    ir.dim = c.dim;
    ir.type = c.type;
    ir.endomorphism_basis = std::move(c.endomorphism_basis);
    if (static_cast<int>(ir.endomorphism_basis.size()) != ir.S())
      throw GroupError(fmt::format("{}: {} of type {} gives {} endomorphisms, not {}", g->name_, ir.name,
                                   type_letter(ir.type), ir.endomorphism_basis.size(), ir.S()));
    irreps->push_back(std::move(ir));
  }
  if (irreps->empty() || (*irreps)[0].dim != 1)
    throw GroupError(fmt::format("{}: irrep 0 must be the trivial one", g->name_));
  g->irreps_ = std::move(irreps);
  g->irreps_ready_ = true;
  g->hash_ =
      hash::mix(hash::mix(0xc0a9ac7, std::hash<std::string>()(g->name_)), static_cast<uint64_t>(band_limit));
  g->compact_ = std::move(definition);
  return g;
}

std::pair<std::vector<int>, Matrix> CompactGroupDefinition::tensor_product(int a, int b) const {
  throw GroupError(
      fmt::format("{} defines no tensor products of its irreps (its plugin does not implement "
                  "CompactGroupDefinition::tensor_product); irreps {} and {} cannot be coupled",
                  name(), a, b));
}

std::vector<int> CompactGroupDefinition::quotient(const std::string& subgroup, int) const {
  throw GroupError(
      fmt::format("{} defines no quotient spaces (its plugin does not implement "
                  "CompactGroupDefinition::quotient), so quotient({}, ...) is not available",
                  name(), subgroup));
}

std::vector<Matrix> CompactGroupDefinition::grid(int n) const {
  std::mt19937_64 rng(0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(n));
  std::vector<Matrix> out;
  for (int i = 0; i < n; ++i) out.push_back(sample(rng));
  return out;
}

void Group::throw_compact(const char* what) const {
  throw GroupError(
      fmt::format("{} is a compact group: it has no {} (no Cayley table, no element indices); "
                  "give its elements by their defining matrices",
                  name_, what));
}

namespace compact {

Matrix rotation2d(double theta) {
  Matrix r(2, 2);
  r << std::cos(theta), -std::sin(theta), std::sin(theta), std::cos(theta);
  return r;
}

Matrix expm(const Matrix& a) { return a.exp(); }

std::pair<Eigen::Vector3d, double> axis_angle(const Matrix& R) {
  // R = I + sin θ K + (1 − cos θ) K², K = [n]×: the antisymmetric part gives sin θ · n, the trace cos θ.
  Eigen::Vector3d v(R(2, 1) - R(1, 2), R(0, 2) - R(2, 0), R(1, 0) - R(0, 1));
  v /= 2;
  const double s = v.norm();
  const double c = std::clamp((R.trace() - 1) / 2, -1.0, 1.0);
  const double theta = std::atan2(s, c);
  if (s > 1e-3 || c > 0) return {s > 0 ? Eigen::Vector3d(v / s) : Eigen::Vector3d::UnitZ(), theta};
  // Near θ = π: n nᵀ = ((R + Rᵀ)/2 − cos θ I) / (1 − cos θ); the largest diagonal entry's column, with
  // the sign the antisymmetric part asks for.
  const Matrix S = ((R + R.transpose()) / 2 - c * Matrix::Identity(3, 3)) / (1 - c);
  Eigen::Index i = 0;
  S.diagonal().maxCoeff(&i);
  Eigen::Vector3d n = S.col(i) / std::sqrt(std::max(S(i, i), 1e-300));
  n.normalize();
  if (n.dot(v) < 0) n = -n;
  return {n, theta};
}

namespace {

Matrix quaternion_rotation(double w, double x, double y, double z) {
  Matrix R(3, 3);
  R << 1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),  //
      2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),   //
      2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y);
  return R;
}

}  // namespace

Matrix haar_rotation3d(std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Eigen::Vector4d q;
  for (int i = 0; i < 4; ++i) q[i] = normal(rng);
  q.normalize();
  return quaternion_rotation(q[0], q[1], q[2], q[3]);
}

std::vector<Matrix> rotation_grid3d(int n) {
  // s_i = i + 1/2, r = √(s/n), R = √(1 − s/n), α = 2π s/√2, β = 2π s/ψ with ψ⁴ = ψ + 4.
  const double phi = std::sqrt(2.0), psi = 1.533751168755204288118041;
  std::vector<Matrix> out;
  for (int i = 0; i < n; ++i) {
    const double s = i + 0.5, r = std::sqrt(s / n), R = std::sqrt(1 - s / n);
    const double alpha = 2 * M_PI * s / phi, beta = 2 * M_PI * s / psi;
    out.push_back(quaternion_rotation(R * std::cos(beta), r * std::sin(alpha), r * std::cos(alpha),
                                      R * std::sin(beta)));
  }
  return out;
}

namespace {

// Row a of U: the real spherical harmonic of index a − l in the complex basis |l, m⟩ (column m + l),
// S_m = (Y_{−m} + (−1)^m Y_m)/√2 (m > 0), Y_0, i (Y_m − (−1)^m Y_{−m})/√2 (m < 0) (Condon–Shortley).
Eigen::MatrixXcd real_basis(int l) {
  const int d = 2 * l + 1;
  const std::complex<double> i(0, 1);
  Eigen::MatrixXcd U = Eigen::MatrixXcd::Zero(d, d);
  const double r = 1 / std::sqrt(2.0);
  for (int m = -l; m <= l; ++m) {
    const double sign = (m % 2 == 0) ? 1.0 : -1.0;
    if (m > 0) {
      U(m + l, -m + l) = r;
      U(m + l, m + l) = sign * r;
    } else if (m == 0) {
      U(l, l) = 1;
    } else {
      U(m + l, m + l) = i * r;
      U(m + l, -m + l) = -sign * i * r;
    }
  }
  return U;
}

// The real generators of degree l: −i J_k in the complex basis |l, m⟩, carried to the real basis U.
std::vector<Matrix> make_generators(int l) {
  using C = std::complex<double>;
  const int d = 2 * l + 1;
  Eigen::MatrixXcd jz = Eigen::MatrixXcd::Zero(d, d), jp = Eigen::MatrixXcd::Zero(d, d);
  for (int m = -l; m <= l; ++m) {
    jz(m + l, m + l) = m;
    if (m < l) jp(m + l + 1, m + l) = std::sqrt(static_cast<double>(l * (l + 1) - m * (m + 1)));
  }
  const Eigen::MatrixXcd jm = jp.adjoint();
  const C i(0, 1);
  const Eigen::MatrixXcd jx = (jp + jm) / 2.0;
  const Eigen::MatrixXcd jy = (jp - jm) / (2.0 * i);
  const Eigen::MatrixXcd U = real_basis(l);
  std::vector<Matrix> out;
  for (const Eigen::MatrixXcd* j : std::vector<const Eigen::MatrixXcd*>{&jx, &jy, &jz}) {
    const Eigen::MatrixXcd a = U.conjugate() * (-i * *j) * U.transpose();
    if (a.imag().cwiseAbs().maxCoeff() > 1e-12)
      throw GroupError(fmt::format("SO(3) generators of degree {} are not real (internal error)", l));
    out.push_back(a.real());
  }
  return out;
}

double log_factorial(int n) { return std::lgamma(n + 1.0); }

// ⟨j1 m1 j2 m2 | J m1+m2⟩ in the complex basis (Condon–Shortley), by Racah's formula in logarithms.
double complex_clebsch_gordan(int j1, int m1, int j2, int m2, int J) {
  const int M = m1 + m2;
  if (std::abs(M) > J) return 0;
  const auto lf = log_factorial;
  const double pre = 0.5 * (std::log(2.0 * J + 1) + lf(J + j1 - j2) + lf(J - j1 + j2) + lf(j1 + j2 - J) -
                            lf(j1 + j2 + J + 1) + lf(J + M) + lf(J - M) + lf(j1 - m1) + lf(j1 + m1) +
                            lf(j2 - m2) + lf(j2 + m2));
  const int kmin = std::max({0, j2 - J - m1, j1 - J + m2});
  const int kmax = std::min({j1 + j2 - J, j1 - m1, j2 + m2});
  double sum = 0;
  for (int k = kmin; k <= kmax; ++k) {
    const double t = pre - (lf(k) + lf(j1 + j2 - J - k) + lf(j1 - m1 - k) + lf(j2 + m2 - k) +
                            lf(J - j2 + m1 + k) + lf(J - j1 - m2 + k));
    sum += (k % 2 ? -1.0 : 1.0) * std::exp(t);
  }
  return sum;
}

// C_real = (conj U1 ⊗ conj U2) C_complex U3ᵀ, then divided by the phase of its largest entry. U has at most
// two entries per row, so the product is summed over them (O(d1 d2) work, not the dense Kronecker product).
Matrix make_clebsch_gordan(int l1, int l2, int l3) {
  const int d1 = 2 * l1 + 1, d2 = 2 * l2 + 1, d3 = 2 * l3 + 1;
  const Eigen::MatrixXcd U1 = real_basis(l1), U2 = real_basis(l2), U3 = real_basis(l3);
  Matrix cg(d1, d2);
  for (int m1 = -l1; m1 <= l1; ++m1)
    for (int m2 = -l2; m2 <= l2; ++m2) cg(m1 + l1, m2 + l2) = complex_clebsch_gordan(l1, m1, l2, m2, l3);
  Eigen::MatrixXcd C = Eigen::MatrixXcd::Zero(d1 * d2, d3);
  for (int a1 = 0; a1 < d1; ++a1)
    for (int m1 = -l1; m1 <= l1; ++m1) {
      if (U1(a1, m1 + l1) == 0.0) continue;
      for (int a2 = 0; a2 < d2; ++a2)
        for (int m2 = -l2; m2 <= l2; ++m2) {
          const int m3 = m1 + m2;
          if (U2(a2, m2 + l2) == 0.0 || std::abs(m3) > l3) continue;
          const std::complex<double> coef =
              std::conj(U1(a1, m1 + l1)) * std::conj(U2(a2, m2 + l2)) * cg(m1 + l1, m2 + l2);
          for (int c = 0; c < d3; ++c) C(a1 * d2 + a2, c) += coef * U3(c, m3 + l3);
        }
    }
  Eigen::Index r = 0, c = 0;
  C.cwiseAbs().maxCoeff(&r, &c);
  C /= C(r, c) / std::abs(C(r, c));
  if (C.imag().cwiseAbs().maxCoeff() > 1e-9)
    throw GroupError(fmt::format(
        "SO(3) Clebsch-Gordan coefficients ({}, {}, {}) are not real (internal error)", l1, l2, l3));
  return C.real();
}

// The nonzero entries of so3_clebsch_gordan(l − 1, 1, l), column by column: (i, j, value) at row i·3 + j.
// At most a handful per column (m3 = m1 + m2 in the complex basis, two real entries per m), which is what
// makes the Wigner-D recursion cheap.
struct LadderEntry {
  int i, j;
  double value;
};
using Ladder = std::vector<std::vector<LadderEntry>>;

Ladder make_ladder(int l) {
  const Matrix& C = so3_clebsch_gordan(l - 1, 1, l);
  Ladder columns(C.cols());
  for (Eigen::Index c = 0; c < C.cols(); ++c)
    for (Eigen::Index r = 0; r < C.rows(); ++r)
      if (std::abs(C(r, c)) > 1e-15)
        columns[c].push_back({static_cast<int>(r / 3), static_cast<int>(r % 3), C(r, c)});
  return columns;
}

const Ladder& ladder(int l) {
  static std::mutex mutex;
  static std::map<int, Ladder> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(l);
  if (it == cache.end()) it = cache.emplace(l, make_ladder(l)).first;
  return it->second;
}

}  // namespace

const std::vector<Matrix>& so3_generators(int l) {
  static std::mutex mutex;
  static std::map<int, std::vector<Matrix>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(l);
  if (it == cache.end()) it = cache.emplace(l, make_generators(l)).first;
  return it->second;
}

const Matrix& so3_clebsch_gordan(int l1, int l2, int l3) {
  if (l1 < 0 || l2 < 0 || l3 < std::abs(l1 - l2) || l3 > l1 + l2)
    throw GroupError(
        fmt::format("SO(3): degrees {} and {} do not couple to degree {} (it must lie in {}..{})", l1, l2, l3,
                    std::abs(l1 - l2), l1 + l2));
  static std::mutex mutex;
  static std::map<std::array<int, 3>, Matrix> cache;
  std::lock_guard<std::mutex> lock(mutex);
  const std::array<int, 3> key{l1, l2, l3};
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_clebsch_gordan(l1, l2, l3)).first;
  return it->second;
}

Matrix wigner_d(int l, const Matrix& R) {
  if (l < 0) throw GroupError(fmt::format("SO(3): no irrep of degree {}", l));
  if (l == 0) return Matrix::Identity(1, 1);
  // Degree 1 is R itself on (y, z, x); degree k couples k − 1 and 1: D^k = Cᵀ (D^{k−1} ⊗ D¹) C with C the
  // Clebsch–Gordan isometry, summed over C's few nonzero entries per column. The degrees of the last
  // rotation are kept per thread, so evaluating regular(L) (every degree of one R in turn) costs one ladder.
  thread_local Matrix last;
  thread_local std::vector<Matrix> degrees;  // degrees[k − 1] = D^k(last)
  if (R.rows() != 3 || R.cols() != 3) throw GroupError("SO(3): a rotation is a 3 x 3 matrix");
  if (degrees.empty() || last != R) {
    static const std::array<int, 3> yzx{1, 2, 0};
    Matrix d1(3, 3);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) d1(a, b) = R(yzx[a], yzx[b]);
    last = R;
    degrees.assign(1, d1);
  }
  for (int k = static_cast<int>(degrees.size()) + 1; k <= l; ++k) {
    const Ladder& columns = ladder(k);
    const Matrix &d1 = degrees.front(), &d = degrees.back();  // fetched per degree: push_back moves them
    Matrix next(2 * k + 1, 2 * k + 1);
    for (int a = 0; a <= 2 * k; ++a)
      for (int b = 0; b <= 2 * k; ++b) {
        double sum = 0;
        for (const LadderEntry& p : columns[a])
          for (const LadderEntry& q : columns[b]) sum += p.value * q.value * d(p.i, q.i) * d1(p.j, q.j);
        next(a, b) = sum;
      }
    degrees.push_back(std::move(next));
  }
  return degrees[l - 1];
}

std::vector<Matrix> check_elements(const CompactGroupDefinition& group, int haar, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Matrix> out;
  for (int i = 0; i < haar; ++i) out.push_back(group.sample(rng));
  for (const Matrix& x : group.lie_algebra_basis())
    for (double t : {1e-2, -1e-2, 1e-5, -1e-5}) out.push_back(expm(t * x));
  return out;
}

}  // namespace compact
}  // namespace eqnn
