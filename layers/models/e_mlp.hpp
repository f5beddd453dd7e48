// EMLP and IMLP: symm_learning's eMLP and iMLP as composite eqnn layers, built from eqnn's single layers.
//   EMLP: x ↦ L_{n}(σ(L_{n-1}(… σ(L_0(x)) …))) with L_i ∈ Hom_G(h_{i-1}, h_i) (ELinear, h_{-1} = in_rep,
//         h_n = out_rep), σ a pointwise function (EPointwise) on the hidden reps h_i = hidden_rep^{k_i},
//         k_i = max(1, ⌈u_i / |hidden_rep|⌉), and an optional Dropout after each σ. Equivariant:
//         f(ρ_in(g)x) = ρ_out(g) f(x), because each L_i commutes with the actions and σ, applied coordinate
//         by coordinate, commutes with the permutation matrices of a permutation rep.
//   IMLP: the same backbone with last map L_n ∈ Hom_G(h_{n-1}, h_{n-1}), then σ, ENormPool (the Euclidean
//         norm of every irreducible copy of h_{n-1}: invariant) and an unconstrained torch Linear head from
//         the copies to out_dim. Invariant: f(ρ_in(g)x) = f(x); out_rep = out_dim x trivial.
// The sub-modules sit in `net` (a ModuleList) with symm_learning's indices net.{i}: a converted
// symm_learning model's state_dict keys are the same (less iMLP's `emlp_backbone.*` alias).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// Options of EMLP: symm_learning's eMLP arguments in its order. `hidden_units` (non-empty, each >= 1) are
/// widths rounded up to whole copies of `hidden_rep` (null: the regular representation), which must be a
/// permutation representation in its own basis (a pointwise activation is equivariant only there).
/// `activation` is a pointwise function name (relu, gelu, silu, tanh, sigmoid, mish, softplus, elu,
/// leaky_relu; torch's default parameters). `init_scheme` goes to every ELinear (see ELinearOptions; default
/// stock, torch.nn.Linear's own initialisation, where symm_learning's default is xavier_normal).
struct EMLPOptions {
  EMLPOptions(RepPtr in_rep, RepPtr out_rep, std::vector<int64_t> hidden_units)
      : in_rep_(std::move(in_rep)), out_rep_(std::move(out_rep)), hidden_units_(std::move(hidden_units)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  TORCH_ARG(std::vector<int64_t>, hidden_units);
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(RepPtr, hidden_rep) = nullptr;
  TORCH_ARG(std::string, init_scheme) = "stock";
};

/// Options of IMLP: symm_learning's iMLP arguments in its order (out_dim >= 1 invariant outputs); the rest
/// as EMLPOptions. The head (a torch Linear) starts as torch's default with init_scheme stock or zeros; with
/// xavier_normal, xavier_uniform, kaiming_normal or kaiming_uniform its weight is drawn as symm_learning
/// draws it (kaiming with nonlinearity "linear"), its bias kept at torch's default.
struct IMLPOptions {
  IMLPOptions(RepPtr in_rep, int64_t out_dim, std::vector<int64_t> hidden_units)
      : in_rep_(std::move(in_rep)), out_dim_(out_dim), hidden_units_(std::move(hidden_units)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(int64_t, out_dim);
  TORCH_ARG(std::vector<int64_t>, hidden_units);
  TORCH_ARG(std::string, activation) = "relu";
  TORCH_ARG(double, dropout) = 0.0;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(RepPtr, hidden_rep) = nullptr;
  TORCH_ARG(std::string, init_scheme) = "stock";
};

/// What is wrong with a set of options (see OptionError; keys "in_rep", "out_rep"/"out_dim",
/// "hidden_units", "activation", "dropout", "hidden_rep", "init_scheme"). The constructors throw it as
/// ConfigError; the YAML factories locate it at the key.
std::optional<OptionError> validate(const EMLPOptions& options);
std::optional<OptionError> validate(const IMLPOptions& options);

/// The hidden representation of one width: hidden_rep^{max(1, ⌈units / |hidden_rep|⌉)}.
RepPtr mlp_hidden_rep(const RepPtr& hidden_rep, int64_t units);
/// The refusal of a model whose hidden layers are pointwise on regular copies when in_rep's group is compact
/// (nullopt for a finite group); `what` names the layer.
std::optional<OptionError> compact_group_error(const std::string& what, const RepPtr& in_rep,
                                               const std::string& activation);

/// Shared machinery of EMLP and IMLP: `net`, its forward and its sizes.
class MLPBase : public Layer {
 public:
  ~MLPBase() override;
  /// (..., in_rep.size) → (..., out_rep.size).
  at::Tensor forward(const at::Tensor& x) override;
  /// No single stock module computes a stack: an honest empty list (export refuses by name).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  /// The stock MLP with the same sizes: the sum over net of the torch Linear (and its bias) each map is.
  int64_t unconstrained_parameter_count() override;
  /// The hidden representations h_0, …, h_{n-1}.
  const std::vector<RepPtr>& hidden_reps() const { return hidden_; }

  /// net.{i} in symm_learning's order (ELinear, EPointwise, Dropout, …).
  torch::nn::ModuleList net{nullptr};

 protected:
  explicit MLPBase(std::string name) : Layer(std::move(name)) {}
  /// Appends the module and the step that applies it.
  void push(const std::shared_ptr<torch::nn::Module>& module,
            std::function<at::Tensor(const at::Tensor&)> step);
  /// Starts `net` afresh with [ELinear(prev, h_i), σ, (Dropout)] for every hidden width (h_i from `base`);
  /// returns the rep flowing out (in_rep when there are no hidden widths).
  RepPtr push_hidden_blocks(const RepPtr& in_rep, const RepPtr& base,
                            const std::vector<int64_t>& hidden_units, const std::string& activation,
                            double dropout, bool bias, const std::string& init_scheme);

  std::vector<RepPtr> hidden_;
  std::vector<std::function<at::Tensor(const at::Tensor&)>> steps_;
  std::vector<std::shared_ptr<Layer>> layers_;
};

/// An equivariant MLP.
///
///   auto g = registry.make_group("C5");
///   EMLP mlp(EMLPOptions(parse_rep(g, "regular"), parse_rep(g, "2x regular"), {64, 64}));
///   at::Tensor y = mlp(at::randn({8, 5}));   // (8, 10); hidden 13x regular twice
class EMLPImpl : public MLPBase {
 public:
  explicit EMLPImpl(EMLPOptions options);
  ~EMLPImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and builds net.
  void reset();
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.out_rep(); }
  void pretty_print(std::ostream& stream) const override;

  EMLPOptions options;
};
TORCH_MODULE(EMLP);

/// An invariant MLP.
///
///   IMLP mlp(IMLPOptions(parse_rep(g, "regular"), 3, {64, 64}));
///   at::Tensor y = mlp(at::randn({8, 5}));   // (8, 3), unchanged when x is acted on
class IMLPImpl : public MLPBase {
 public:
  explicit IMLPImpl(IMLPOptions options);
  ~IMLPImpl() override;
  /// Called by the constructor: checks the options (ConfigError) and builds net.
  void reset();
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return out_; }
  /// The backbone's maps plus the head's weight and bias.
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;

  IMLPOptions options;
  /// The last entry of net.
  torch::nn::Linear head{nullptr};

 private:
  RepPtr out_;
};
TORCH_MODULE(IMLP);

}  // namespace eqnn
