// Representations of a finite group: ρ(g) = Q (⊕_k ψ_k(g)) Qᵀ with Q orthogonal, plus, when there is
// one, the permutation structure behind it (ρ(g) = B P(g) Bᵀ, P a permutation rep) that fast paths use.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "eqnn/group.hpp"

namespace eqnn {

class Representation;
using RepPtr = std::shared_ptr<const Representation>;

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
  /// A representation given directly by its decomposition (checked: Q orthogonal, sizes add up).
  static RepPtr from_decomposition(GroupPtr g, std::vector<int> irreps, Matrix Q, std::string name = "");

  const Group& group() const { return *group_; }
  const GroupPtr& group_ptr() const { return group_; }
  int size() const { return size_; }
  const std::string& name() const { return name_; }
  /// Irrep indices in the order of Q's column blocks (repeats are multiplicities).
  const std::vector<int>& irreps() const { return irreps_; }
  /// multiplicities()[k] = number of copies of irrep k.
  std::vector<int> multiplicities() const;
  /// Columns of Q that belong to copies of irrep k, in order (copy-major: copy c occupies d_k columns).
  std::vector<int> columns_of_irrep(int k) const;
  const Matrix& Q() const { return Q_; }
  Matrix matrix(int g) const;
  double character(int g) const;

  /// True when every ρ(g) is a permutation matrix in this basis.
  bool is_permutation() const { return perm_generators_.has_value() && !perm_basis_.has_value(); }
  /// True when ρ(g) = B P(g) Bᵀ for a permutation rep P and an orthogonal B (B = I when is_permutation()).
  bool has_permutation_structure() const { return perm_generators_.has_value(); }
  /// π per generator of the permutation rep behind this one (requires has_permutation_structure()).
  const std::vector<Permutation>& permutation_generators() const { return *perm_generators_; }
  /// The basis B (empty optional when B = I).
  const std::optional<Matrix>& permutation_basis() const { return perm_basis_; }

  /// Columns of the trivial copies (Q_triv); the invariant projector is Q_triv Q_trivᵀ.
  Matrix invariant_basis() const;
  Matrix invariant_projector() const;
  /// Isotypic projector P_k = (d_k / (S_k |G|)) Σ_g χ_k(g) ρ(g).
  Matrix isotypic_projector(int k) const;

  /// "4x regular + trivial"-like description used in messages.
  std::string describe() const;
  /// Hash of the group, irreps, Q and permutation structure (content, not name).
  uint64_t content_hash() const { return hash_; }
  bool same_content(const Representation& other) const;

 private:
  Representation() = default;
  void finish();

  GroupPtr group_;
  std::string name_;
  int size_ = 0;
  std::vector<int> irreps_;
  Matrix Q_;
  std::optional<std::vector<Permutation>> perm_generators_;
  std::optional<Matrix> perm_basis_;
  uint64_t hash_ = 0;
};

/// Decomposes matrices ρ(g) (one per element, orthogonal) into irreps: returns (irrep indices, Q) with
/// ρ(g) = Q (⊕ ψ_k(g)) Qᵀ. Throws GroupError if the matrices are not a representation.
std::pair<std::vector<int>, Matrix> decompose(const Group& g, const std::vector<Matrix>& rho);

}  // namespace eqnn
