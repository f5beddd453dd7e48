// Representations of a finite group: ρ(g) = Q (⊕_k ψ_k(g)) Qᵀ with Q orthogonal, plus, when there is
// one, the permutation structure behind it (ρ(g) = B P(g) Bᵀ, P a permutation rep) or the signed
// permutation structure (ρ(g) e_i = ±e_{π_g(i)}, a robot's joints under a reflection) that fast paths use.
// Permutation representations (regular included) decompose lazily: only irreps(), Q() and what uses
// them compute the decomposition, never the permutation structure, the character or the content.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

class Representation;
using RepPtr = std::shared_ptr<const Representation>;

/// A signed permutation matrix: column i is sign[i] · e_{perm[i]} (sign[i] = ±1).
struct SignedPermutation {
  Permutation perm;
  std::vector<int> sign;
  bool operator==(const SignedPermutation& o) const { return perm == o.perm && sign == o.sign; }
  bool operator!=(const SignedPermutation& o) const { return !(*this == o); }
};

/// A real orthogonal representation of a finite group.
///
///   auto g = ...;                                   // a GroupPtr
///   auto x = Representation::direct_sum({Representation::regular(g), Representation::trivial(g)});
///   x->size();                                      // |G| + 1
class Representation {
 public:
  static RepPtr trivial(GroupPtr g, int copies = 1);
  /// Left action on element indices: ρ(g) e_h = e_{g·h}.
  static RepPtr regular(GroupPtr g);
  static RepPtr irrep(GroupPtr g, int k);
  /// Permutation representation from an action given on the generators: ρ(g) e_i = e_{π_g(i)}.
  static RepPtr permutation(GroupPtr g, const PermutationAction& action);
  /// From orthogonal matrices on the generators; decomposed numerically into irreps.
  static RepPtr from_generator_matrices(GroupPtr g, const std::vector<Matrix>& generator_matrices,
                                        const std::string& name = "matrices");
  static RepPtr direct_sum(const std::vector<RepPtr>& reps);
  /// ρ'(g) = M ρ(g) Mᵀ for an orthogonal M.
  static RepPtr change_basis(const RepPtr& rep, const Matrix& M);
  /// A compact group's band-limited regular representation: every irrep of band <= L with multiplicity
  /// d/S (its multiplicity in L²(G)), in index order, Q = I. Throws for a finite group (use regular()).
  static RepPtr band_limited_regular(GroupPtr g, int L);
  /// The group's defining representation: a finite group's standard matrices, a compact group's
  /// defining matrices (SO(3): R acting on (x, y, z)). Throws GroupError when the group has none.
  static RepPtr standard(GroupPtr g);
  /// The tensor product ρ_a ⊗ ρ_b (coordinate i·size_b + j holds e_i ⊗ e_j; rep strings: tensor(a, b) or
  /// a ⊗ b), decomposed pair of irreps by pair of irreps (each distinct pair once): a compact group's by its
  /// definition's Clebsch–Gordan decomposition (GroupError when an irrep of the product lies beyond the band
  /// limit), a finite group's numerically from ψ_i ⊗ ψ_j on the generators.
  static RepPtr tensor(const RepPtr& a, const RepPtr& b);
  /// A representation given directly by its decomposition (checked: Q orthogonal, sizes add up).
  static RepPtr from_decomposition(GroupPtr g, std::vector<int> irreps, Matrix Q, std::string name = "");

  const Group& group() const { return *group_; }
  const GroupPtr& group_ptr() const { return group_; }
  int size() const { return size_; }
  const std::string& name() const { return name_; }
  /// Irrep indices in the order of Q's column blocks (repeats are multiplicities). Decomposes on first use.
  const std::vector<int>& irreps() const;
  /// multiplicities()[k] = number of copies of irrep k.
  std::vector<int> multiplicities() const;
  /// Columns of Q that belong to copies of irrep k, in order (copy-major: copy c occupies d_k columns).
  std::vector<int> columns_of_irrep(int k) const;
  /// Decomposes on first use. A Q that is the identity is built dense only here (see q_is_identity()).
  const Matrix& Q() const;
  /// True when Q = I (irreps in this basis already): a direct sum of such reps is one without a dense Q
  /// until Q() is asked for. Decomposes on first use.
  bool q_is_identity() const;
  /// True once irreps()/Q() are known (always, except for permutation structures not yet decomposed).
  bool is_decomposed() const;
  /// Dense ρ(g) (size × size). For large permutation representations prefer permutation(g).
  Matrix matrix(int g) const;
  /// Dense ρ(g) for an element of a compact group given by its defining matrix (checked to be one).
  Matrix matrix(const Matrix& element) const;
  /// ρ(g) as a permutation, p[i] = image of basis vector i (requires has_permutation_structure(); in the
  /// basis of the permutation rep P, i.e. before permutation_basis()). O(size · word length).
  Permutation permutation(int g) const;
  /// χ(g); for a permutation structure the number of fixed points (no decomposition).
  double character(int g) const;

  /// True when every ρ(g) is a permutation matrix in this basis.
  bool is_permutation() const { return perm_generators_.has_value() && !perm_basis_.has_value(); }
  /// True when ρ(g) = B P(g) Bᵀ for a permutation rep P and an orthogonal B (B = I when is_permutation()).
  bool has_permutation_structure() const { return perm_generators_.has_value(); }
  /// π per generator of the permutation rep behind this one (requires has_permutation_structure()).
  const std::vector<Permutation>& permutation_generators() const { return *perm_generators_; }
  /// The basis B (empty optional when B = I).
  const std::optional<Matrix>& permutation_basis() const { return perm_basis_; }
  /// True when every ρ(g) is a signed permutation matrix in this basis: is_permutation(), or a rep given by
  /// signed permutation matrices (from_generator_matrices detects them; direct sums of such reps and of
  /// permutation reps keep it; a change of basis drops it).
  bool has_signed_permutation_structure() const { return signed_generators_.has_value() || is_permutation(); }
  /// The signed permutation per generator (requires has_signed_permutation_structure(); signs all +1 for a
  /// permutation rep).
  std::vector<SignedPermutation> signed_permutation_generators() const;

  /// Columns of the trivial copies (Q_triv); the invariant projector is Q_triv Q_trivᵀ.
  Matrix invariant_basis() const;
  Matrix invariant_projector() const;
  /// Isotypic projector P_k = (d_k / (S_k |G|)) Σ_g χ_k(g) ρ(g).
  Matrix isotypic_projector(int k) const;

  /// "4x regular + trivial"-like description used in messages.
  std::string describe() const;
  /// Hash of the content (group, permutation structure, and irreps and Q or how they are derived),
  /// not the name. Computed without decomposing.
  uint64_t content_hash() const { return hash_; }
  /// Same group content and the same ρ in the same decomposition basis. Representations built the same
  /// way compare without decomposing; otherwise both are decomposed and Q compared.
  bool same_content(const Representation& other) const;

 private:
  // How the decomposition is obtained: given (eager), from the permutation structure (lazy, cached by
  // content), block-diagonal from parts, or a change of basis of one part.
  enum class Kind { eager, permutation, sum, basis };
  struct Decomposition;
  Representation() = default;
  void finish();
  const Decomposition& decomposition() const;
  /// The parts' irreps in order; Q block-diagonal from the parts' (left empty when every part's is I).
  static void sum_decomposition(const std::vector<RepPtr>& parts, int size, Decomposition& d);
  bool same_recipe(const Representation& other) const;

  GroupPtr group_;
  std::string name_;
  int size_ = 0;
  Kind kind_ = Kind::eager;
  std::vector<RepPtr> parts_;  // sum: the parts; basis: {the rep the basis change applies to}
  Matrix change_;              // basis: the orthogonal M
  std::shared_ptr<Decomposition> decomposition_;
  std::optional<std::vector<Permutation>> perm_generators_;
  std::optional<Matrix> perm_basis_;
  /// Only when some sign is -1 (a rep with all signs +1 holds perm_generators_ instead).
  std::optional<std::vector<SignedPermutation>> signed_generators_;
  uint64_t hash_ = 0;
};

}  // namespace eqnn
