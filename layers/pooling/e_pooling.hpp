// Invariant pooling: maps features in any representation to exactly invariant features.
// - EInvariantPool: the coordinates of the invariant component, θ = Q_trivᵀ x (out_rep = m₀x trivial).
//   Linear; it equals torch::nn::Linear(D, m₀, bias=false) with the fixed weight Q_trivᵀ.
// - ENormPool: one Euclidean norm per irrep copy of Qᵀx (out_rep = trivial^(number of copies)), in the
//   order of in_rep's irreps. Invariant because ρ(g) acts on each copy by an orthogonal matrix.
// Constant matrices are kept in float64 and converted per (dtype, device) on first use, so a module moved
// to float64 is exact to float64 precision (a float32 buffer cast up would not be). No parameters.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/pimpl.h>

#include "eqnn/group_theory/hom_space.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"
#include "eqnn/util/device_cache.hpp"

namespace eqnn {

/// Options of EInvariantPool (in_rep must contain the trivial irrep, else the output would be empty) and
/// of ENormPool: the representation alone.
using EInvariantPoolOptions = RepOptions<struct EInvariantPoolTag>;
using ENormPoolOptions = RepOptions<struct ENormPoolTag>;

/// What is wrong with a set of options (see OptionError; key "in_rep"). The constructors throw it as
/// ConfigError; the YAML factories locate it at the layer's arguments.
std::optional<OptionError> validate(const EInvariantPoolOptions& options);
std::optional<OptionError> validate(const ENormPoolOptions& options);

/// The coordinates of the invariant part of the input in an orthonormal basis of the invariant subspace.
///
///   auto g = registry.make_group("D4");
///   EInvariantPool pool(EInvariantPoolOptions(parse_rep(g, "2x regular + trivial")));
///   at::Tensor theta = pool(at::randn({5, 17}));   // (5, 3): 3x trivial
class EInvariantPoolImpl : public Layer {
 public:
  explicit EInvariantPoolImpl(EInvariantPoolOptions options);
  ~EInvariantPoolImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and builds the invariant space.
  void reset();

  /// (..., D) → (..., m₀).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return out_; }
  /// Stock equivalent: torch::nn::Linear(D, m₀, bias=false) with weight Q_trivᵀ (float64; cast on export).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  EInvariantPoolOptions options;

 private:
  RepPtr out_;
  std::shared_ptr<const InvariantSpace> space_;
};
TORCH_MODULE(EInvariantPool);

/// One Euclidean norm per irrep copy of in_rep: invariant, nonlinear, with a zero subgradient at 0.
///
///   ENormPool pool(ENormPoolOptions(parse_rep(g, "regular + irrep(1)")));
class ENormPoolImpl : public Layer {
 public:
  explicit ENormPoolImpl(ENormPoolOptions options);
  ~ENormPoolImpl() override;
  /// Called by the constructor: groups the irrep copies by dimension.
  void reset();

  /// (..., D) → (..., number of irrep copies).
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return out_; }
  /// Nonlinear, no stock module computes it: no stock equivalent, so an honest empty list.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }
  void pretty_print(std::ostream& stream) const override;

  ENormPoolOptions options;

 private:
  const std::vector<at::Tensor>& converted(const at::TensorOptions& options) const;

  RepPtr out_;
  std::vector<int64_t> dims_;
  /// Float64 masters: per irrep dimension a slice of Q, then the output permutation (int64).
  std::vector<at::Tensor> masters_;
  DeviceCache<std::vector<at::Tensor>> converted_;
};
TORCH_MODULE(ENormPool);

}  // namespace eqnn
