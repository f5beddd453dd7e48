// Execution modes of the equivariant linear maps (linear_execution.hpp).
#include "linear_execution.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "commuting_constraint.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

const std::vector<std::string>& execution_names() {
  static const std::vector<std::string> names{"dense", "isotypic", "auto"};
  return names;
}

// The cost model of `auto` (seconds), fitted to eLinear's eval forward on this project's reference machine
// (one CPU thread; regular copies of 10 groups, 14 cases, 128 to 4096 tokens; docs/guide/performance.md):
// the dense product costs kMac per multiply-add; the isotypic path's block products (one per irrep
// component, inner sizes of a few dozen) kBlockMac, its changes of basis (one per block of Q) kChangeMac; it
// moves a feature (a packed end, a tiled transpose) for kMove; each ATen call of either path costs kCall;
// the dense path pays, when θ needs a gradient, the expansion and its backward, kExpand per weight entry.
constexpr double kMac = 1.0 / 42e9;
constexpr double kBlockMac = 1.0 / 14e9;
constexpr double kChangeMac = 1.0 / 26e9;
constexpr double kMove = 2.0e-9;
constexpr double kCall = 5e-6;
constexpr double kExpand = 0.6e-9;
// The FFT path (fitted to C4, C8, C16, C64 and C128 on the same machine): a real FFT costs kFftPoint per
// point and log2 n (ATen's pocketfft), the frequency products kSpectralLane per 16-float vector step (m_out
// m_in ⌈2K/16⌉ per token, K = n/2 + 1 bins), and each copy kSpectralCopy per token (calls, bias, moves); a
// convolution's bins are one grouped convolution, kSpectralMac per multiply-add.
constexpr double kFftPoint = 0.2e-9;
constexpr double kSpectralLane = 1.0e-9;
constexpr double kSpectralCopy = 8e-9;
constexpr double kSpectralMac = 1.0 / 35e9;
// auto takes the isotypic path only where the model predicts it at least this much faster per token (Octa
// `8x regular`, predicted 0.74 of dense, measured 0.93 to 1.16).
constexpr double kMargin = 0.7;

}  // namespace

std::optional<Execution> parse_execution(const std::string& name) {
  if (name == "dense") return Execution::dense;
  if (name == "isotypic") return Execution::isotypic;
  if (name == "auto") return Execution::automatic;
  return std::nullopt;
}

std::string execution_name(Execution mode) {
  switch (mode) {
    case Execution::dense:
      return "dense";
    case Execution::isotypic:
      return "isotypic";
    case Execution::automatic:
      return "auto";
  }
  return "dense";
}

std::optional<std::string> execution_error(const std::string& name) {
  if (parse_execution(name)) return std::nullopt;
  return fmt::format("unknown execution '{}'{} (one of dense, isotypic, auto)", name,
                     did_you_mean_clause(name, execution_names()));
}

std::shared_ptr<const IsotypicPlan> make_isotypic_plan(const ConstraintPtr& weight, int64_t in_groups,
                                                       int64_t out_groups, std::string* why) {
  const auto* commuting = dynamic_cast<const CommutingConstraint*>(weight.get());
  if (!commuting) {
    if (why) *why = fmt::format("the weight constraint '{}' is not CommutingConstraint", weight->name());
    return nullptr;
  }
  const HomSpacePtr& hom = commuting->hom_space();
  auto plan = std::make_shared<IsotypicPlan>();
  plan->in = IsotypicLayout::get(hom->in(), in_groups, why);
  if (!plan->in) return nullptr;
  plan->out = IsotypicLayout::get(hom->out(), out_groups, why);
  if (!plan->out) return nullptr;
  plan->hom = IsotypicHom::get(hom, *plan->in, *plan->out, why);
  if (!plan->hom) return nullptr;
  plan->dense_cost = int64_t{hom->in()->size()} * hom->out()->size();
  plan->isotypic_cost = plan->in->change_cost() + plan->out->change_cost() + plan->hom->block_cost();
  return plan;
}

std::shared_ptr<const CyclicFourierHom> conv_fourier_plan(Execution mode, const ConstraintPtr& inner,
                                                          int64_t taps, const std::string& what,
                                                          std::string* describe) {
  auto say = [&](std::string text) {
    if (describe) *describe = std::move(text);
  };
  say(execution_name(mode));
  if (mode == Execution::dense) return nullptr;
  std::string why;
  std::shared_ptr<const CyclicFourierHom> fourier;
  const auto* commuting = dynamic_cast<const CommutingConstraint*>(inner.get());
  if (commuting)
    fourier = CyclicFourierHom::get(commuting->hom_space(), &why);
  else
    why = fmt::format("the weight constraint '{}' is not CommutingConstraint", inner->name());
  if (!fourier) {
    if (mode == Execution::isotypic)
      throw ConfigError(fmt::format(
          "{}: execution 'isotypic' is not available: convolutions run it by FFT, for copies of a cyclic "
          "group's regular representation, and {}; use execution 'dense' or 'auto'",
          what, why));
    say(fmt::format("auto (dense: {})", why));
    return nullptr;
  }
  const std::string how = "isotypic by FFT over " + commuting->hom_space()->in()->group().name();
  const auto& f = *fourier;
  const double n = double(f.order()), copies = double(f.copies_in() + f.copies_out());
  const double d_in = n * double(f.copies_in()), d_out = n * double(f.copies_out());
  // Per output position: the dense kernel, against the FFTs, the bins' products (a grouped convolution)
  // and the two regroupings of complex features.
  const double dense = d_in * d_out * double(taps) * kMac;
  const double fft = copies * n * std::log2(std::max(n, 2.0)) * kFftPoint +
                     double(f.block_cost() * taps) * kSpectralMac + 2.0 * (d_in + d_out) * kMove +
                     copies * kSpectralCopy;
  if (mode == Execution::automatic && fft >= kMargin * dense) {
    say(fmt::format("auto (dense: by FFT predicted {:.0f}% of dense's time per position)",
                    100.0 * fft / dense));
    return nullptr;
  }
  say(mode == Execution::automatic ? "auto (" + how + ")" : how);
  return fourier;
}

LinearExecution::LinearExecution(Execution mode, const ConstraintPtr& weight, const std::string& what,
                                 int64_t in_groups, int64_t out_groups, bool whole_map)
    : mode_(mode) {
  if (mode == Execution::dense) return;
  const auto* commuting = dynamic_cast<const CommutingConstraint*>(weight.get());
  if (whole_map && commuting && in_groups == 1 && out_groups == 1) {
    hom_ = commuting->hom_space();
    std::string why_fft;
    fourier_ = CyclicFourierHom::get(hom_, &why_fft);
  }
  // The FFT path needs no block plan (half precision falls back to the dense product).
  if (!fourier_) plan_ = make_isotypic_plan(weight, in_groups, out_groups, &why_not_);
  if (!plan_ && !fourier_) {
    if (mode == Execution::isotypic)
      throw ConfigError(
          fmt::format("{}: execution 'isotypic' is not available: {}; use execution 'dense' or "
                      "'auto'",
                      what, why_not_));
    return;
  }
  if (mode == Execution::isotypic) return;
  // auto: the token count from which the isotypic path is predicted faster, in eval and in training.
  const double d_in = commuting->hom_space()->in()->size(), d_out = commuting->hom_space()->out()->size();
  const double dense_cost = d_in * d_out;
  const double per_token_dense = dense_cost * kMac;
  double per_token_iso = 0.0, calls = 0.0;
  int64_t iso_cost = 0;
  if (fourier_) {
    const auto& f = *fourier_;
    const double n = double(f.order()), copies = double(f.copies_in() + f.copies_out());
    const double steps =
        double(f.copies_out() * f.copies_in()) * std::ceil(2.0 * std::floor(n / 2 + 1) / 16.0);
    per_token_iso =
        copies * n * std::log2(std::max(n, 2.0)) * kFftPoint + steps * kSpectralLane + copies * kSpectralCopy;
    iso_cost = f.block_cost();
    calls = 12.0;
  } else {
    const auto& p = *plan_;
    // The fused product (IsotypicHom::linear) regroups nothing: an end in the representation's coordinates
    // (one group) pays its change of basis, one call per block of Q; an end in packed head coordinates
    // (attention) pays one permutation of its features instead. Then one call per irrep component.
    const bool in_packed = in_groups > 1, out_packed = out_groups > 1;
    const int64_t change = (in_packed ? 0 : p.in->change_cost()) + (out_packed ? 0 : p.out->change_cost());
    iso_cost = p.hom->block_cost() + change;
    const auto& group_irreps = commuting->hom_space()->in()->group().irreps();
    double components = 0.0, irreps = 0.0;
    for (size_t k = 0; k < group_irreps.size(); ++k)
      if (p.out->multiplicities()[k] > 0) {
        components += group_irreps[k].dim;
        irreps += 1.0;
      }
    // An end whose blocks are narrower than IsotypicLayout::kSmallBlock is transposed in tiles on its way
    // into or out of the product (two calls for the whole end, one more read and write per feature, as a
    // packed end); a wider one takes one call per block of Q.
    auto moves = [](const IsotypicLayout& layout, bool packed) {
      return packed || layout.largest_block() < IsotypicLayout::kSmallBlock;
    };
    auto end_calls = [&](const IsotypicLayout& layout, bool packed, double d) {
      if (packed) return 1.0;
      return moves(layout, false) ? 2.0 : d / double(std::max<int64_t>(1, layout.largest_block()));
    };
    per_token_iso =
        double(p.hom->block_cost()) * kBlockMac + double(change) * kChangeMac +
        ((moves(*p.in, in_packed) ? d_in : 0.0) + (moves(*p.out, out_packed) ? d_out : 0.0)) * kMove;
    calls = 8.0 + end_calls(*p.in, in_packed, d_in) + end_calls(*p.out, out_packed, d_out) + components +
            2.0 * irreps;
  }
  gain_ = kMargin * per_token_dense - per_token_iso;
  fixed_eval_ = calls * kCall;
  // In training the dense path expands its weight every step, forward and backward: the gather per entry,
  // and the matrix products of a Hom space whose Q is dense (a tensor product's Clebsch–Gordan basis:
  // 52 × 2704 × 2704 multiply-adds for SO3 h ⊗ h with h of size 52). Where that costs more than the
  // isotypic path's calls, fixed_train_ is negative, and the isotypic path wins below a token count even
  // where it loses per token.
  const double expansion =
      dense_cost * kExpand + 2.0 * double(commuting->hom_space()->expansion_products()) * kMac;
  fixed_train_ = calls * kCall - expansion;
  threshold_eval_ = threshold(*gain_, fixed_eval_);
  threshold_train_ = threshold(*gain_, fixed_train_);
  train_limit_ = limit(*gain_, fixed_train_);
  if (*gain_ <= 0.0)
    why_not_ = fmt::format(
        "{} multiply-adds per token {} against {} dense, predicted {:.0f}% of dense's time per token",
        iso_cost, fourier_ ? "by FFT" : "isotypic", int64_t(dense_cost),
        100.0 * per_token_iso / per_token_dense);
}

int64_t LinearExecution::threshold(double gain, double fixed) {
  return gain > 0.0 ? std::max<int64_t>(0, static_cast<int64_t>(std::ceil(fixed / gain))) : -1;
}

int64_t LinearExecution::limit(double gain, double fixed) {
  if (gain > 0.0 || fixed >= 0.0) return -1;
  if (gain == 0.0 || fixed / gain >= 9e18) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(std::floor(fixed / gain));
}

std::string LinearExecution::auto_text(const std::string& how, int64_t from_eval, int64_t from_train,
                                       int64_t train_limit, const std::string& why) {
  if (from_eval >= 0)
    return fmt::format("auto (isotypic{} from {} tokens in eval, {} in training)", how, from_eval,
                       from_train);
  if (train_limit > 0)
    return fmt::format(
        "auto (isotypic{} in training up to {} tokens, where expanding the dense weight costs more; dense "
        "otherwise: {})",
        how, train_limit, why);
  return fmt::format("auto (dense: {})", why);
}

double LinearExecution::saving(int64_t tokens, bool training) const {
  if (!gain_) return -std::numeric_limits<double>::infinity();
  return double(tokens) * *gain_ - (training ? fixed_train_ : fixed_eval_);
}

bool LinearExecution::isotypic_together(const LinearExecution& a, int64_t tokens_a, const LinearExecution& b,
                                        int64_t tokens_b, bool training, const at::Device& device) {
  if (!a.plan_ || !b.plan_ || a.mode_ == Execution::dense || b.mode_ == Execution::dense) return false;
  if (a.mode_ == Execution::isotypic && b.mode_ == Execution::isotypic) return true;
  if (a.mode_ == Execution::isotypic || b.mode_ == Execution::isotypic)
    return a.isotypic(tokens_a, training, device) && b.isotypic(tokens_b, training, device);
  if (!isotypic_allowed_on(Execution::automatic, device)) return false;
  return a.saving(tokens_a, training) + b.saving(tokens_b, training) >= 0.0;
}

std::string LinearExecution::describe_together(const LinearExecution& a, const LinearExecution& b) {
  if (a.mode_ != Execution::automatic || b.mode_ != Execution::automatic || !a.plan_ || !b.plan_ ||
      !a.gain_ || !b.gain_)
    return a.describe();
  const double gain = *a.gain_ + *b.gain_, fixed_train = a.fixed_train_ + b.fixed_train_;
  return auto_text("", threshold(gain, a.fixed_eval_ + b.fixed_eval_), threshold(gain, fixed_train),
                   limit(gain, fixed_train), a.threshold_eval_ < 0 ? a.why_not_ : b.why_not_);
}

bool LinearExecution::isotypic(int64_t tokens, bool training, const at::Device& device) const {
  if (!plan_ && !fourier_) return false;
  if (mode_ == Execution::isotypic) return true;
  if (!isotypic_allowed_on(mode_, device)) return false;
  const int64_t t = training ? threshold_train_ : threshold_eval_;
  return (t >= 0 && tokens >= t) || (training && tokens <= train_limit_);
}

std::string LinearExecution::describe() const {
  const std::string how = fourier_ ? fmt::format(" by FFT over {}", hom_->in()->group().name()) : "";
  if (mode_ == Execution::isotypic) return "isotypic" + how;
  if (mode_ != Execution::automatic) return execution_name(mode_);
  if (!plan_ && !fourier_) return fmt::format("auto (dense: {})", why_not_);
  return auto_text(how, threshold_eval_, threshold_train_, train_limit_, why_not_);
}

at::Tensor LinearExecution::apply(const at::Tensor& theta, const at::Tensor& x,
                                  const at::Tensor& bias) const {
  if (fourier_ && CyclicFourierHom::serves(x)) return fourier_->apply(theta, x, bias);
  if (!plan_) {
    TORCH_CHECK(hom_, "LinearExecution::apply: no isotypic plan");
    const at::Tensor W = hom_->expand(theta);
    return bias.defined() ? at::addmm(bias, x, W.t()) : at::mm(x, W.t());
  }
  const auto& p = *plan_;
  if (IsotypicHom::linear_serves(x, theta, bias))
    return IsotypicHom::linear(p.hom, p.in, p.out, p.hom->blocks(theta), x, bias);
  return p.out->merge(p.hom->apply(p.hom->blocks(theta), p.in->split(x)), bias);
}

}  // namespace eqnn
