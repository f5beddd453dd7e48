// eTensorProduct: z = W (x ⊗ y) + b with W ∈ Hom_G(in_rep ⊗ in2_rep, out_rep), e3nn's fully connected tensor
// product (one learned weight per path l1 ⊗ l2 → l3 and per triple of copies) and the equivariant
// torch::nn::Bilinear: effective_parameters() are Bilinear's "weight" (D_out, D_1, D_2) and "bias". The
// weight is an eLinear on the product representation (Representation::tensor: Clebsch–Gordan for a compact
// group), so its constraint, initialisation and execution are eLinear's. y is an extra input (ExtraInputs):
// a model whose first layer this is takes it as model(x, y); without y the layer computes x ⊗ x (in2_rep
// then must be in_rep).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/arg.h>
#include <torch/nn/pimpl.h>

#include "e_linear.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/nn/layer_options.hpp"

namespace eqnn {

/// Options of ETensorProduct; `in2_rep` null means in_rep (x ⊗ x when y is not given). The rest as
/// ELinearOptions, with the product x ⊗ y as eLinear's input (fan-in D_1·D_2).
struct ETensorProductOptions {
  ETensorProductOptions(RepPtr in_rep, RepPtr out_rep)
      : in_rep_(std::move(in_rep)), out_rep_(std::move(out_rep)) {}
  TORCH_ARG(RepPtr, in_rep);
  TORCH_ARG(RepPtr, out_rep);
  TORCH_ARG(RepPtr, in2_rep) = nullptr;
  TORCH_ARG(bool, bias) = true;
  TORCH_ARG(std::string, init_scheme) = "stock";
  TORCH_ARG(std::string, weight_constraint) = "CommutingConstraint";
  TORCH_ARG(std::string, bias_constraint) = "InvariantConstraint";
  TORCH_ARG(RegistryPointer, registry) = nullptr;
  TORCH_ARG(std::string, execution) = kDefaultExecution;
};

/// What is wrong with a set of options (key "in_rep", "in2_rep", "out_rep" or eLinear's keys).
std::optional<OptionError> validate(const ETensorProductOptions& options);

/// z = W (x ⊗ y) + b on the last dimension, exactly equivariant:
/// f(ρ_1(g) x, ρ_2(g) y) = ρ_out(g) f(x, y).
///
///   auto g = registry.make_group("SO3");
///   ETensorProduct tp(ETensorProductOptions(parse_rep(g, "2x standard"), parse_rep(g, "trivial + irrep(2)"))
///                         .in2_rep(parse_rep(g, "irrep(1) + irrep(2)")));
///   at::Tensor z = tp->forward_with(at::randn({5, 6}), {at::randn({5, 8})});   // (5, 6)
class ETensorProductImpl : public Layer, public ExtraInputs, public ExecutionReport {
 public:
  explicit ETensorProductImpl(ETensorProductOptions options);
  ~ETensorProductImpl() override;

  void reset();
  void reset_parameters();

  /// x ⊗ x: (..., D_1) → (..., D_out); requires in2_rep = in_rep.
  at::Tensor forward(const at::Tensor& x) override;
  /// x ⊗ y: x (..., D_1), y (..., D_2) with the same leading dimensions, or y (N, D_2) for x (N, L, D_1) (one
  /// y per sample, paired with every position); {} or an undefined y: x ⊗ x.
  at::Tensor forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) override;
  std::vector<ExtraInput> extra_inputs() const override;
  RepPtr in_rep() const override { return options.in_rep(); }
  RepPtr out_rep() const override { return options.out_rep(); }
  RepPtr in2_rep() const { return options.in2_rep() ? options.in2_rep() : options.in_rep(); }
  /// torch::nn::Bilinear's: {"weight", (D_out, D_1, D_2)} and, with bias, {"bias", (D_out)}.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  int64_t unconstrained_parameter_count() override;
  void pretty_print(std::ostream& stream) const override;
  std::string execution() const override { return linear->execution(); }

  ETensorProductOptions options;
  /// The map x ⊗ y → z, an eLinear on tensor(in_rep, in2_rep).
  ELinear linear{nullptr};

 private:
  bool self_product_ = false;  // in2_rep is in_rep: y may be left out
};

TORCH_MODULE(ETensorProduct);

}  // namespace eqnn
