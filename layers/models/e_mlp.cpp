// EMLP and IMLP: the options check, net (eqnn's single layers in symm_learning's order) and its forward
// (see e_mlp.hpp).
#include "e_mlp.hpp"

#include <algorithm>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/dropout.h>

#include "e_activation.hpp"
#include "e_pooling.hpp"
#include "eqnn/group_theory/init_scheme.hpp"
#include "eqnn/util/error.hpp"
#include "eqnn/util/suggest.hpp"

namespace eqnn {
namespace {

using Error = std::optional<OptionError>;

// The rules EMLP and IMLP share; `what` names the layer in messages.
Error check_common(const char* what, const RepPtr& in_rep, const std::vector<int64_t>& hidden_units,
                   const std::string& activation, double dropout, const RepPtr& hidden_rep,
                   const std::string& init_scheme) {
  if (!in_rep) return OptionError{"in_rep", fmt::format("{}: in_rep is required", what)};
  if (hidden_units.empty())
    return OptionError{
        "hidden_units",
        fmt::format("{}: 'hidden_units' must list at least one hidden width, found none", what)};
  for (size_t i = 0; i < hidden_units.size(); ++i)
    if (hidden_units[i] < 1)
      return OptionError{"hidden_units",
                         fmt::format("{}: 'hidden_units' must be >= 1 each, found {} at index {}", what,
                                     hidden_units[i], i)};
  const auto& known = pointwise_functions();
  if (std::find(known.begin(), known.end(), activation) == known.end())
    return OptionError{
        "activation",
        fmt::format("{}: unknown activation '{}'{}; known: {} (pointwise functions, applied on "
                    "the hidden permutation representations)",
                    what, activation, did_you_mean_clause(activation, known), fmt::join(known, ", "))};
  if (!(dropout >= 0 && dropout <= 1))
    return OptionError{"dropout", fmt::format("{}: 'dropout' must be in [0, 1], found {}", what, dropout)};
  if (auto e = compact_group_error(what, in_rep, activation)) return e;
  if (hidden_rep) {
    if (hidden_rep->group_ptr() != in_rep->group_ptr() &&
        hidden_rep->group().name() != in_rep->group().name())
      return OptionError{"hidden_rep", fmt::format("{}: hidden_rep is a representation of {}, in_rep of {}",
                                                   what, hidden_rep->group().name(), in_rep->group().name())};
    if (!hidden_rep->is_permutation())
      return OptionError{
          "hidden_rep",
          fmt::format(
              "{}: hidden_rep {} is not a permutation representation in its own basis, so the "
              "pointwise activation '{}' would not be equivariant on it (symm_learning does not check "
              "this). Use a regular or permutation representation (the default is 'regular'), or build "
              "the stack by hand with eNormNonlinearity or eGatedNonlinearity, which serve any "
              "orthogonal representation",
              what, hidden_rep->describe(), activation)};
  }
  try {
    parse_init_scheme(init_scheme);
  } catch (const ConfigError& e) {
    return OptionError{"init_scheme", fmt::format("{}: {}", what, e.message())};
  }
  return std::nullopt;
}

}  // namespace

std::optional<OptionError> compact_group_error(const std::string& what, const RepPtr& in_rep,
                                               const std::string& activation) {
  if (!in_rep || !in_rep->group().is_compact()) return std::nullopt;
  return OptionError{
      "in_rep",
      fmt::format(
          "{}: its hidden layers apply the pointwise activation '{}' to regular copies, which needs a "
          "finite group, and {} is compact. Build the stack by hand with eLinear and "
          "eGatedNonlinearity or eNormNonlinearity, which serve any orthogonal representation",
          what, activation, in_rep->group().name())};
}

RepPtr mlp_hidden_rep(const RepPtr& hidden_rep, int64_t units) {
  const int64_t size = hidden_rep->size();
  const int64_t copies = std::max<int64_t>(1, (units + size - 1) / size);
  return Representation::direct_sum(std::vector<RepPtr>(static_cast<size_t>(copies), hidden_rep));
}

std::optional<OptionError> validate(const EMLPOptions& o) {
  if (auto e = check_common("eMLP", o.in_rep(), o.hidden_units(), o.activation(), o.dropout(), o.hidden_rep(),
                            o.init_scheme()))
    return e;
  if (!o.out_rep()) return OptionError{"out_rep", "eMLP: out_rep is required"};
  if (o.out_rep()->group_ptr() != o.in_rep()->group_ptr() &&
      o.out_rep()->group().name() != o.in_rep()->group().name())
    return OptionError{"out_rep", fmt::format("eMLP: out_rep is a representation of {}, in_rep of {}",
                                              o.out_rep()->group().name(), o.in_rep()->group().name())};
  return std::nullopt;
}

std::optional<OptionError> validate(const IMLPOptions& o) {
  if (auto e = check_common("iMLP", o.in_rep(), o.hidden_units(), o.activation(), o.dropout(), o.hidden_rep(),
                            o.init_scheme()))
    return e;
  if (o.out_dim() < 1)
    return OptionError{"out_dim", fmt::format("iMLP: 'out_dim' must be >= 1, found {}", o.out_dim())};
  return std::nullopt;
}

// ---- MLPBase ----

MLPBase::~MLPBase() = default;

void MLPBase::push(const std::shared_ptr<torch::nn::Module>& module,
                   std::function<at::Tensor(const at::Tensor&)> step) {
  net->push_back(module);
  steps_.push_back(std::move(step));
}

at::Tensor MLPBase::forward(const at::Tensor& x) {
  const RepPtr rep = in_rep();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep->size(), name(), ": expected input of shape (..., ",
              rep->size(), ") for in_rep ", rep->describe(), ", got ", x.sizes());
  at::Tensor y = x;
  for (const auto& step : steps_) y = step(y);
  return y;
}

int64_t MLPBase::unconstrained_parameter_count() {
  int64_t count = 0;
  for (const auto& layer : layers_) count += layer->unconstrained_parameter_count();
  return count;
}

namespace {

// Makes the ELinear (recorded in `layers` for the parameter count) and pointwise maps of both models.
struct NetBuilder {
  const std::string& activation;
  double dropout;
  bool bias;
  const std::string& init_scheme;
  std::vector<std::shared_ptr<Layer>>& layers;

  std::shared_ptr<ELinearImpl> linear(const RepPtr& in, const RepPtr& out) {
    auto l = std::make_shared<ELinearImpl>(ELinearOptions(in, out).bias(bias).init_scheme(init_scheme));
    layers.push_back(l);
    return l;
  }
  std::shared_ptr<EPointwiseImpl> act(const RepPtr& rep) {
    return std::make_shared<EPointwiseImpl>(EPointwiseOptions(rep, activation));
  }
};

}  // namespace

RepPtr MLPBase::push_hidden_blocks(const RepPtr& in_rep, const RepPtr& base,
                                   const std::vector<int64_t>& hidden_units, const std::string& activation,
                                   double dropout, bool bias, const std::string& init_scheme) {
  net = register_module("net", torch::nn::ModuleList());
  hidden_.clear();
  steps_.clear();
  layers_.clear();
  NetBuilder b{activation, dropout, bias, init_scheme, layers_};
  RepPtr prev = in_rep;
  for (int64_t units : hidden_units) {
    const RepPtr h = mlp_hidden_rep(base, units);
    auto l = b.linear(prev, h);
    push(l, [l](const at::Tensor& x) { return l->forward(x); });
    auto a = b.act(h);
    push(a, [a](const at::Tensor& x) { return a->forward(x); });
    if (dropout > 0) {
      auto d = torch::nn::Dropout(dropout);
      push(d.ptr(), [d](const at::Tensor& x) mutable { return d->forward(x); });
    }
    hidden_.push_back(h);
    prev = h;
  }
  return prev;
}

// ---- EMLP ----

EMLPImpl::EMLPImpl(EMLPOptions options_) : MLPBase("eMLP"), options(std::move(options_)) { reset(); }
EMLPImpl::~EMLPImpl() = default;

void EMLPImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const EMLPOptions& o = options;
  const RepPtr base = o.hidden_rep() ? o.hidden_rep() : Representation::regular(o.in_rep()->group_ptr());
  const RepPtr prev = push_hidden_blocks(o.in_rep(), base, o.hidden_units(), o.activation(), o.dropout(),
                                         o.bias(), o.init_scheme());
  NetBuilder b{o.activation(), o.dropout(), o.bias(), o.init_scheme(), layers_};
  auto l = b.linear(prev, o.out_rep());
  push(l, [l](const at::Tensor& x) { return l->forward(x); });
}

void EMLPImpl::pretty_print(std::ostream& os) const {
  os << "eMLP(in_rep=" << options.in_rep()->describe() << ", out_rep=" << options.out_rep()->describe()
     << ", hidden=[";
  for (size_t i = 0; i < hidden_.size(); ++i) os << (i ? ", " : "") << hidden_[i]->size();
  os << "], activation=" << options.activation() << ", dropout=" << options.dropout()
     << ", bias=" << std::boolalpha << options.bias() << ", init_scheme=" << options.init_scheme() << ")";
}

// ---- IMLP ----

IMLPImpl::IMLPImpl(IMLPOptions options_) : MLPBase("iMLP"), options(std::move(options_)) { reset(); }
IMLPImpl::~IMLPImpl() = default;

void IMLPImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const IMLPOptions& o = options;
  const GroupPtr& group = o.in_rep()->group_ptr();
  const RepPtr base = o.hidden_rep() ? o.hidden_rep() : Representation::regular(group);
  const RepPtr prev = push_hidden_blocks(o.in_rep(), base, o.hidden_units(), o.activation(), o.dropout(),
                                         o.bias(), o.init_scheme());
  NetBuilder b{o.activation(), o.dropout(), o.bias(), o.init_scheme(), layers_};
  // symm_learning's backbone ends with a map to the last hidden width, then the activation again.
  const RepPtr last = mlp_hidden_rep(base, o.hidden_units().back());
  auto l = b.linear(prev, last);
  push(l, [l](const at::Tensor& x) { return l->forward(x); });
  auto a = b.act(last);
  push(a, [a](const at::Tensor& x) { return a->forward(x); });
  auto pool = std::make_shared<ENormPoolImpl>(ENormPoolOptions(last));
  push(pool, [pool](const at::Tensor& x) { return pool->forward(x); });
  const int64_t copies = pool->out_rep()->size();
  head = torch::nn::Linear(torch::nn::LinearOptions(copies, o.out_dim()).bias(o.bias()));
  // The head reads its registered parameters (not LinearImpl's members): the Python module swaps tensors
  // into the parameter slots (nn.Module.to, torch.func), and those are what must run.
  push(head.ptr(), [h = head](const at::Tensor& x) {
    const auto params = h->named_parameters(/*recurse=*/false);
    const at::Tensor* bias = params.find("bias");
    return at::linear(x, params["weight"], bias ? *bias : at::Tensor());
  });
  out_ = Representation::trivial(group, static_cast<int>(o.out_dim()));
  // The head's weight as symm_learning's reset_parameters draws it; stock and zeros keep torch's default.
  at::NoGradGuard no_grad;
  const InitScheme scheme = parse_init_scheme(o.init_scheme());
  if (scheme == InitScheme::xavier_normal) torch::nn::init::xavier_normal_(head->weight);
  if (scheme == InitScheme::xavier_uniform) torch::nn::init::xavier_uniform_(head->weight);
  if (scheme == InitScheme::kaiming_normal)
    torch::nn::init::kaiming_normal_(head->weight, 0.0, torch::kFanIn, torch::kLinear);
  if (scheme == InitScheme::kaiming_uniform)
    torch::nn::init::kaiming_uniform_(head->weight, 0.0, torch::kFanIn, torch::kLinear);
}

int64_t IMLPImpl::unconstrained_parameter_count() {
  return MLPBase::unconstrained_parameter_count() + head->weight.numel() +
         (head->bias.defined() ? head->bias.numel() : 0);
}

void IMLPImpl::pretty_print(std::ostream& os) const {
  os << "iMLP(in_rep=" << options.in_rep()->describe() << ", out_dim=" << options.out_dim() << ", hidden=[";
  for (size_t i = 0; i < hidden_.size(); ++i) os << (i ? ", " : "") << hidden_[i]->size();
  os << "], activation=" << options.activation() << ", dropout=" << options.dropout()
     << ", bias=" << std::boolalpha << options.bias() << ", init_scheme=" << options.init_scheme() << ")";
}

}  // namespace eqnn
