// Representations given by matrices on the generators: the check that they are an orthogonal
// representation (Representation::from_generator_matrices, the `matrices:` of a model file and
// eqnn.rep(G, matrices=...) all use it), with a message that names the matrix and the failing relation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eqnn/group_theory/group.hpp"

namespace eqnn {

/// What is wrong with a list of generator matrices (check_generator_matrices): the generator whose matrix
/// fails (-1: the list as a whole, e.g. the wrong count) and a message that says why, with the residual.
struct GeneratorMatrixProblem {
  int generator = -1;
  std::string message;
};

/// Checks that `gens` (one matrix per generator of g, in the order of g.generators()) define an orthogonal
/// representation: as many matrices as generators, all square of one size, finite, orthogonal
/// (max |MᵀM − I| ≤ tol), and a homomorphism. Groups carry no list of defining relations, so the relations
/// are checked by closure: ρ(e) is the product along e's word (Group::word_generator/word_parent), and
/// ρ(s)ρ(e) = ρ(s·e) must hold for every generator s and element e (max abs residual ≤ tol); that is
/// every relation of the group. tol = 1e-9 · max(1, size). On success fills `all` (ρ(e) for every
/// element) when given.
std::optional<GeneratorMatrixProblem> check_generator_matrices(const Group& g,
                                                               const std::vector<Matrix>& gens,
                                                               std::vector<Matrix>* all = nullptr);

/// A real orthogonal representation of a finite group.
///
///   auto g = ...;                                   // a GroupPtr
///   auto x = Representation::direct_sum({Representation::regular(g), Representation::trivial(g)});
///   x->size();                                      // |G| + 1

}  // namespace eqnn
