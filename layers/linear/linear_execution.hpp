// How an equivariant linear map is computed: `dense` (expand W = Σ θ_s B_s, one matrix product), `isotypic`
// (block-diagonal in the isotypic bases, DESIGN §11: the changes of basis plus Σ_k d_k M_out,k M_in,k
// multiply-adds per token; for copies of a cyclic group's regular representation the changes of basis are
// real FFTs, cyclic_fourier.hpp) or `auto` (per call, by a cost model of this machine's CPU). Both paths
// compute the same function from the same coefficients θ; layers built on eLinear (attention, transformer,
// conv) share the plan.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "eqnn/group_theory/cyclic_fourier.hpp"
#include "eqnn/group_theory/isotypic_execution.hpp"
#include "eqnn/nn/constraint.hpp"

namespace eqnn {

enum class Execution { dense, isotypic, automatic };

/// The execution of every layer that has the option, unless asked otherwise.
inline constexpr const char* kDefaultExecution = "auto";

/// "dense", "isotypic" or "auto"; nullopt for another name.
std::optional<Execution> parse_execution(const std::string& name);
std::string execution_name(Execution mode);
/// Why `name` is not an execution mode ("did you mean" included), or nullopt when it is one.
std::optional<std::string> execution_error(const std::string& name);

/// Whether `mode` may take the isotypic (or FFT) path on `device`: an explicit isotypic anywhere; auto, whose
/// cost model is fitted to CPUs, on a CPU only; dense never.
inline bool isotypic_allowed_on(Execution mode, const at::Device& device) {
  return mode == Execution::isotypic || (mode == Execution::automatic && device.is_cpu());
}

/// The isotypic plan of one weight: the layouts of its two representations and θ → blocks.
struct IsotypicPlan {
  std::shared_ptr<const IsotypicLayout> in, out;
  std::shared_ptr<const IsotypicHom> hom;
  /// Multiply-adds per token: the dense product, and the two changes of basis plus the blocks.
  int64_t dense_cost = 0, isotypic_cost = 0;
};

/// The plan for a weight constraint (a CommutingConstraint) with its input cut into `in_groups` and its
/// output into `out_groups` groups (attention heads); null with the reason in `*why` when it has none.
std::shared_ptr<const IsotypicPlan> make_isotypic_plan(const ConstraintPtr& weight, int64_t in_groups,
                                                       int64_t out_groups, std::string* why);

/// A convolution's FFT path (eConv1d): its weight is `taps` maps of `inner`'s Hom space (a
/// CommutingConstraint). Null for dense, and for auto where the FFT is not predicted faster per output
/// position; throws ConfigError naming `what` when `mode` is isotypic and the FFT path does not apply (there
/// is no block path for convolutions). `*describe` gets what the layer reports: "dense", "isotypic by FFT
/// over C64", "auto (isotypic by FFT over C64)" or "auto (dense: <why>)".
std::shared_ptr<const CyclicFourierHom> conv_fourier_plan(Execution mode, const ConstraintPtr& inner,
                                                          int64_t taps, const std::string& what,
                                                          std::string* describe);

/// A layer's choice: the mode asked for and, where one exists, the plan.
class LinearExecution {
 public:
  LinearExecution() = default;
  /// Throws ConfigError naming `what` and the reason when `mode` is isotypic and there is no plan. A layer
  /// that computes the whole map with apply() (`whole_map`) may get the FFT path; one that uses plan()'s
  /// layouts and blocks itself (attention) always has plan() when isotypic() says so.
  LinearExecution(Execution mode, const ConstraintPtr& weight, const std::string& what, int64_t in_groups = 1,
                  int64_t out_groups = 1, bool whole_map = false);
  Execution mode() const { return mode_; }
  const IsotypicPlan* plan() const { return plan_.get(); }
  /// The FFT path apply() takes for float32/float64 features (whole maps only), or null.
  const CyclicFourierHom* fourier() const { return fourier_.get(); }
  /// Whether a call on `tokens` rows (training: θ needs a gradient) on `device` runs isotypic. auto's cost
  /// model is fitted to CPUs: on another device auto runs dense.
  bool isotypic(int64_t tokens, bool training, const at::Device& device = at::kCPU) const;
  /// Whether two maps that run isotypic only together (attention's in- and out-projection, whose packed
  /// coordinates join them) do so for calls on `tokens_a` and `tokens_b` rows: both when both are isotypic,
  /// neither when either is dense, and under auto when the model predicts the two together faster.
  static bool isotypic_together(const LinearExecution& a, int64_t tokens_a, const LinearExecution& b,
                                int64_t tokens_b, bool training, const at::Device& device = at::kCPU);
  /// "dense", "isotypic", or "auto (isotypic from N tokens ...)" / "auto (isotypic in training up to N tokens
  /// ...)" / "auto (dense: <why>)".
  std::string describe() const;
  /// describe() for two maps that run together on the same rows (isotypic_together).
  static std::string describe_together(const LinearExecution& a, const LinearExecution& b);
  /// y = x Wᵀ + bias (bias in the output's coordinates, may be undefined), x (N, D_in) in the input's: by
  /// FFT where it serves x's dtype, else by the plan's blocks, else (no plan: a half-precision x on the FFT
  /// path) densely.
  at::Tensor apply(const at::Tensor& theta, const at::Tensor& x, const at::Tensor& bias = at::Tensor()) const;

 private:
  Execution mode_ = Execution::dense;
  std::shared_ptr<const IsotypicPlan> plan_;
  std::shared_ptr<const CyclicFourierHom> fourier_;
  HomSpacePtr hom_;
  std::string why_not_;
  int64_t threshold_eval_ = -1, threshold_train_ = -1;  // auto: isotypic from these token counts (-1: never)
  int64_t train_limit_ = -1;  // auto: isotypic in training up to this token count (-1: none), where it loses
                              // per token but the dense path's expansion of its weight costs more
  // auto: the predicted saving of the isotypic path, `gain_` seconds per token less a fixed cost per call
  // (eval, training); gain_ may be negative, and is unset where there is no plan.
  std::optional<double> gain_;
  double fixed_eval_ = 0.0, fixed_train_ = 0.0;
  double saving(int64_t tokens, bool training) const;
  // The least token count with a saving of tokens·gain − fixed ≥ 0 for gain > 0 (-1 otherwise), and the
  // greatest for gain ≤ 0 and fixed < 0 (-1 otherwise).
  static int64_t threshold(double gain, double fixed);
  static int64_t limit(double gain, double fixed);
  static std::string auto_text(const std::string& how, int64_t from_eval, int64_t from_train,
                               int64_t train_limit, const std::string& why);
};

}  // namespace eqnn
