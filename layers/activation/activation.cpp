// Pointwise nonlinearities (eReLU, eGELU, eSiLU, eTanh, and ePointwise for any of the supported
// functions). A function applied coordinate by coordinate commutes with ρ(g) exactly when every ρ(g)
// permutes the coordinates, i.e. when in_rep is a permutation representation in its own basis
// (regular stacks, permutation actions, trivial copies and their sums). Elsewhere these layers refuse
// to be built, with a message that says what would work.
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/error.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/registry.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

using eqnn::RepPtr;
using Function = std::function<at::Tensor(const at::Tensor&)>;

/// Applies `function` to every coordinate; out_rep = in_rep.
class EPointwise : public eqnn::Layer {
 public:
  EPointwise(std::string layer_name, std::string description, RepPtr rep, Function function)
      : eqnn::Layer(std::move(layer_name)),
        description_(std::move(description)),
        rep_(std::move(rep)),
        function_(std::move(function)) {}

  at::Tensor forward(const at::Tensor& x) override {
    TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep_->size(), name(), ": expected input of shape (..., ",
                rep_->size(), ") for in_rep ", rep_->describe(), ", got ", x.sizes());
    return function_(x);
  }
  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return rep_; }
  // The stock activation modules have no parameters: the empty list is the complete export.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }
  void pretty_print(std::ostream& os) const override {
    os << name() << "(" << description_ << ", in_rep=" << rep_->describe() << ")";
  }

 private:
  std::string description_;
  RepPtr rep_;
  Function function_;
};

/// Throws unless `rep` is a permutation representation in its own basis.
void require_permutation_rep(const eqnn::LayerArgs& args, const std::string& what) {
  if (!args.in_rep)
    eqnn::yaml::fail(args.kwargs, what + ": no in_rep (give in_rep or put the layer after one)");
  const eqnn::Representation& rep = *args.in_rep;
  if (rep.is_permutation()) return;
  const std::string why =
      rep.has_permutation_structure()
          ? "it is a permutation representation seen in another (orthogonal) basis, so its matrices are not "
            "permutations and a coordinate-wise function does not commute with them"
          : "its matrices are not permutations (it is built from irreps or a general change of basis), so a "
            "coordinate-wise function does not commute with them";
  eqnn::yaml::fail(
      args.kwargs,
      fmt::format(
          "{}: a pointwise nonlinearity is equivariant only on a permutation representation in its own "
          "basis, but in_rep {} is not: {}. What works: apply it to features in a regular or "
          "permutation representation (e.g. an eLinear to '{}x regular' first), or use a norm-based "
          "nonlinearity (e.g. eNormPool for invariant features)",
          what, rep.describe(), why,
          std::max(1, (rep.size() + rep.group().order() - 1) / rep.group().order())));
}

std::string gelu_approximation(const eqnn::LayerArgs& args, const std::string& what) {
  const std::string approximate = eqnn::yaml::get_string(args.kwargs, "approximate", std::string("none"));
  if (approximate != "none" && approximate != "tanh")
    eqnn::yaml::fail(
        args.kwargs["approximate"],
        fmt::format("{}: 'approximate' must be 'none' or 'tanh', found '{}'", what, approximate));
  return approximate;
}

std::shared_ptr<eqnn::Layer> make_relu(const eqnn::LayerArgs& args) {
  eqnn::yaml::check_keys(args.kwargs, {}, "eReLU");
  require_permutation_rep(args, "eReLU");
  return std::make_shared<EPointwise>("eReLU", "relu", args.in_rep,
                                      [](const at::Tensor& x) { return at::relu(x); });
}

std::shared_ptr<eqnn::Layer> make_gelu(const eqnn::LayerArgs& args) {
  eqnn::yaml::check_keys(args.kwargs, {"approximate"}, "eGELU");
  require_permutation_rep(args, "eGELU");
  const std::string approximate = gelu_approximation(args, "eGELU");
  return std::make_shared<EPointwise>(
      "eGELU", "gelu, approximate=" + approximate, args.in_rep,
      [approximate](const at::Tensor& x) { return at::gelu(x, approximate); });
}

std::shared_ptr<eqnn::Layer> make_silu(const eqnn::LayerArgs& args) {
  eqnn::yaml::check_keys(args.kwargs, {}, "eSiLU");
  require_permutation_rep(args, "eSiLU");
  return std::make_shared<EPointwise>("eSiLU", "silu", args.in_rep,
                                      [](const at::Tensor& x) { return at::silu(x); });
}

std::shared_ptr<eqnn::Layer> make_tanh(const eqnn::LayerArgs& args) {
  eqnn::yaml::check_keys(args.kwargs, {}, "eTanh");
  require_permutation_rep(args, "eTanh");
  return std::make_shared<EPointwise>("eTanh", "tanh", args.in_rep,
                                      [](const at::Tensor& x) { return at::tanh(x); });
}

/// ePointwise(function: relu | gelu | silu | tanh | sigmoid | mish | softplus | elu | leaky_relu),
/// with `approximate` for gelu and `negative_slope` for leaky_relu.
std::shared_ptr<eqnn::Layer> make_pointwise(const eqnn::LayerArgs& args) {
  const std::string what = "ePointwise";
  eqnn::yaml::check_keys(args.kwargs, {"function", "approximate", "negative_slope"}, what);
  const std::vector<std::string> known = {"relu", "gelu",     "silu", "tanh",      "sigmoid",
                                          "mish", "softplus", "elu",  "leaky_relu"};
  const std::string f = eqnn::yaml::get_string(args.kwargs, "function");
  if (std::find(known.begin(), known.end(), f) == known.end()) {
    auto near = eqnn::did_you_mean(f, known);
    eqnn::yaml::fail(
        args.kwargs["function"],
        fmt::format("{}: unknown function '{}'{}; known functions: {}", what, f,
                    near ? fmt::format(" (did you mean '{}'?)", *near) : "", fmt::join(known, ", ")));
  }
  if (args.kwargs.IsMap() && args.kwargs["approximate"] && f != "gelu")
    eqnn::yaml::fail(args.kwargs["approximate"],
                     fmt::format("{}: 'approximate' applies only to function 'gelu', not '{}'", what, f));
  if (args.kwargs.IsMap() && args.kwargs["negative_slope"] && f != "leaky_relu")
    eqnn::yaml::fail(
        args.kwargs["negative_slope"],
        fmt::format("{}: 'negative_slope' applies only to function 'leaky_relu', not '{}'", what, f));
  require_permutation_rep(args, what);
  Function fn;
  std::string description = f;
  if (f == "relu") fn = [](const at::Tensor& x) { return at::relu(x); };
  if (f == "silu") fn = [](const at::Tensor& x) { return at::silu(x); };
  if (f == "tanh") fn = [](const at::Tensor& x) { return at::tanh(x); };
  if (f == "sigmoid") fn = [](const at::Tensor& x) { return at::sigmoid(x); };
  if (f == "mish") fn = [](const at::Tensor& x) { return at::mish(x); };
  if (f == "softplus") fn = [](const at::Tensor& x) { return at::softplus(x); };
  if (f == "elu") fn = [](const at::Tensor& x) { return at::elu(x); };
  if (f == "gelu") {
    const std::string approximate = gelu_approximation(args, what);
    description += ", approximate=" + approximate;
    fn = [approximate](const at::Tensor& x) { return at::gelu(x, approximate); };
  }
  if (f == "leaky_relu") {
    const double slope = eqnn::yaml::get_double(args.kwargs, "negative_slope", 0.01);
    description += fmt::format(", negative_slope={}", slope);
    fn = [slope](const at::Tensor& x) { return at::leaky_relu(x, slope); };
  }
  return std::make_shared<EPointwise>(what, description, args.in_rep, fn);
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eReLU", make_relu);
  r.add_layer("eGELU", make_gelu);
  r.add_layer("eSiLU", make_silu);
  r.add_layer("eTanh", make_tanh);
  r.add_layer("ePointwise", make_pointwise);
}

}  // namespace

EQNN_PLUGIN("activation_layers", "0.1.0", register_all)
