// Groups. A finite group: elements 0..|G|-1 (0 the identity), a Cayley table, inverses and generators, plus
// the named actions a group family offers to the representation language. A compact group (SO(2), O(2),
// SO(3), O(3); compact_group.hpp): closed forms on its defining matrices and the irreps up to a band limit,
// no element indices. All group theory is float64.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "eqnn/util/limits.hpp"

namespace eqnn {

using Matrix = Eigen::MatrixXd;
class CompactGroupDefinition;
/// p[i] is the image of point i.
using Permutation = std::vector<int>;

/// Number of independent real endomorphisms of a real irrep: R = 1, C = 2, H = 4.
enum class IrrepType : int { R = 1, C = 2, H = 4 };
char type_letter(IrrepType t);

/// A real irreducible representation: an orthogonal matrix for every element.
struct Irrep {
  int index = 0;
  std::string name;  ///< "irrep(k)" unless the group plugin named it
  int dim = 0;
  IrrepType type = IrrepType::R;
  std::vector<Matrix> matrices;   ///< one per element
  std::vector<double> character;  ///< χ(g) for every element
  /// Frobenius-orthogonal basis of End_G(ψ): S matrices, the first the identity, each ‖E‖²_F = dim.
  std::vector<Matrix> endomorphism_basis;
  int S() const { return static_cast<int>(type); }
};

/// A permutation action of the group on `num_points` points, given on the generators.
struct PermutationAction {
  std::string name;
  int num_points = 0;
  std::vector<Permutation> generator_images;  ///< one permutation per group generator
};

/// A finite group. Build it with one of the static constructors, add named actions, then share it as
/// `std::shared_ptr<const Group>`. Irreps are computed on first use (thread-safe) unless supplied.
///
///   auto g = Group::from_generator_permutations("C3", {{1, 2, 0}});
///   g->order();  // 3
class Group : public std::enable_shared_from_this<Group> {
 public:
  /// Default limit on the order of any group (see max_order()).
  static constexpr int64_t kDefaultMaxOrder = kDefaultMaxGroupOrder;
  /// The largest group order eqnn builds: max_group_order() (util/limits.hpp). Checked before anything of
  /// size |G| or |G|² is allocated.
  static int64_t max_order();
  /// Throws GroupError unless 1 <= order <= limit (limit 0: max_order()); `what` names the group, e.g.
  /// "C100xC100xC100". The message gives the order the group would have had and the limit.
  static void check_order(int64_t order, const std::string& what, int64_t limit = 0);

  /// `table[a][b]` = index of a·b; element 0 must be the identity. Generators default to all elements.
  static std::shared_ptr<Group> from_cayley_table(std::string name, std::vector<std::vector<int>> table,
                                                  std::vector<int> generators = {});
  /// Closes the set of permutations (p[i] = image of point i) by breadth-first search.
  /// max_order 0 means the configured limit, max_order().
  static std::shared_ptr<Group> from_generator_permutations(std::string name, std::vector<Permutation> gens,
                                                            int64_t max_order = 0);
  /// Closes a set of orthogonal matrices; they become the group's "standard" representation.
  static std::shared_ptr<Group> from_generator_matrices(std::string name, std::vector<Matrix> gens,
                                                        int64_t max_order = 0);
  /// A compact group: its irreps() are the definition's irreps of band at most `band_limit`
  /// (1 <= band_limit <= kMaxBandLimit), computed here (no numerics: the definition's closed forms).
  static std::shared_ptr<Group> from_compact(std::shared_ptr<const CompactGroupDefinition> definition,
                                             int band_limit);
  /// At most 64: SO(3)'s irreps to degree 64 hold Σ (2l+1)² ≈ 360k End-basis entries.
  static constexpr int kMaxBandLimit = 64;
  bool is_compact() const { return compact_ != nullptr; }
  /// The compact group's definition (nullptr for a finite group).
  const CompactGroupDefinition* compact() const { return compact_.get(); }
  /// The band limit of a compact group's irreps() (0 for a finite group).
  int band_limit() const { return band_limit_; }

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  /// |G|. Throws GroupError for a compact group (it has no finite order; see is_compact()).
  int order() const {
    if (compact_) throw_compact("order()");
    return order_;
  }
  int mul(int a, int b) const { return table_[static_cast<size_t>(a) * order_ + b]; }
  int inv(int a) const { return inverse_[a]; }
  const std::vector<int>& generators() const { return generators_; }
  /// For every element g != 0: g = generators()[word_gen[g]] · word_parent[g] (a spanning tree of the
  /// Cayley graph); used to extend maps given on generators to every element.
  int word_generator(int g) const { return word_gen_[g]; }
  int word_parent(int g) const { return word_parent_[g]; }
  /// Elements in breadth-first order from the identity (parents before children).
  const std::vector<int>& bfs_order() const { return bfs_order_; }

  /// Extends generator images to all elements, checking the homomorphism property on every
  /// (generator, element) pair. Throws GroupError naming the first failure.
  std::vector<Permutation> extend_permutations(const std::vector<Permutation>& generator_images,
                                               const std::string& what) const;
  std::vector<Matrix> extend_matrices(const std::vector<Matrix>& generator_images, const std::string& what,
                                      double tol = 1e-9) const;

  /// Named permutation actions ("vertices", "points", ...), for `permutation(NAME)`.
  void add_action(PermutationAction action);
  const std::vector<PermutationAction>& actions() const { return actions_; }
  const PermutationAction* find_action(const std::string& name) const;
  /// Orthogonal matrices of the "standard" representation on the generators, if the group has one.
  void set_standard(std::vector<Matrix> generator_matrices);
  const std::optional<std::vector<Matrix>>& standard() const { return standard_; }

  /// Supplies irreps (matrices on the generators, irrep 0 trivial). They are checked when first used:
  /// homomorphism, orthogonality, irreducibility (⟨χ,χ⟩ = dim End computed from the matrices, and
  /// E² = -I for the non-identity End basis of types C and H), pairwise non-isomorphic, as many as the
  /// real classes, Σ d²/S = |G|. Call before sharing the group: it changes its content.
  void set_irreps(std::vector<std::vector<Matrix>> generator_matrices, std::vector<std::string> names = {});
  bool has_supplied_irreps() const { return supplied_irreps_.has_value(); }
  /// True once irreps() has been computed (or checked) for this group object; lets tests verify that a
  /// path stays lazy.
  bool irreps_ready() const;
  /// The real irreps; irrep 0 is trivial. Computed numerically from the regular representation when not
  /// supplied. Throws GroupError if supplied irreps fail a check.
  const std::vector<Irrep>& irreps() const;
  /// Number of classes under g ~ hgh⁻¹ ~ hg⁻¹h⁻¹ (equals the number of real irreps).
  int num_real_classes() const;
  /// Conjugacy classes (each a sorted element list, class of the identity first).
  std::vector<std::vector<int>> conjugacy_classes() const;
  /// class_of()[g] = index of g's conjugacy class in conjugacy_classes().
  std::vector<int> class_of() const;

  /// A hash of the Cayley table, generators and supplied irreps, for content-keyed caches.
  uint64_t content_hash() const { return hash_; }
  /// Same table, generators and supplied irreps (names included): what every cache compares on a hit.
  bool same_content(const Group& other) const;

 private:
  Group() = default;
  [[noreturn]] void throw_compact(const char* what) const;
  void finish();  // inverses, words, hash; validates the table
  void rehash();

  std::string name_;
  int order_ = 0;
  std::vector<int> table_;
  std::vector<int> inverse_;
  std::vector<int> generators_;
  std::vector<int> word_gen_, word_parent_, bfs_order_;
  std::vector<PermutationAction> actions_;
  std::optional<std::vector<Matrix>> standard_;
  std::optional<std::vector<std::vector<Matrix>>> supplied_irreps_;
  std::vector<std::string> supplied_names_;
  uint64_t hash_ = 0;
  std::shared_ptr<const CompactGroupDefinition> compact_;
  int band_limit_ = 0;

  mutable std::once_flag irreps_once_;
  mutable std::shared_ptr<const std::vector<Irrep>> irreps_;  // shared with the content-keyed cache
  mutable std::atomic<bool> irreps_ready_{false};
};

using GroupPtr = std::shared_ptr<const Group>;

}  // namespace eqnn
