// ETensorProduct (see e_tensor_product.hpp).
#include "e_tensor_product.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/util/error.hpp"

namespace eqnn {

std::optional<OptionError> validate(const ETensorProductOptions& o) {
  const std::string what = "eTensorProduct";
  if (!o.in_rep() || !o.out_rep()) return OptionError{"in_rep", what + ": in_rep and out_rep are required"};
  for (const auto& [key, rep] : {std::pair{"in2_rep", o.in2_rep()}, std::pair{"out_rep", o.out_rep()}})
    if (rep &&
        !(rep->group_ptr() == o.in_rep()->group_ptr() || rep->group().same_content(o.in_rep()->group())))
      return OptionError{key, fmt::format("{}: {} is a representation of {}, in_rep of {}", what, key,
                                          rep->group().name(), o.in_rep()->group().name())};
  const int64_t n =
      static_cast<int64_t>(o.in_rep()->size()) * (o.in2_rep() ? o.in2_rep() : o.in_rep())->size();
  try {
    check_rep_size(n, fmt::format("{}: the product of in_rep ({}) and in2_rep", what, o.in_rep()->size()));
  } catch (const GroupError& e) {
    return OptionError{"in2_rep", e.what()};
  }
  if (auto error = execution_error(o.execution())) return OptionError{"execution", what + ": " + *error};
  return validate_weights(what, o.init_scheme(), o.registry(), o.weight_constraint(), o.bias(),
                          o.bias_constraint());
}

ETensorProductImpl::ETensorProductImpl(ETensorProductOptions options_)
    : Layer("eqnn::ETensorProduct"), options(std::move(options_)) {
  reset();
}

ETensorProductImpl::~ETensorProductImpl() = default;

void ETensorProductImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  self_product_ = !options.in2_rep() || options.in2_rep()->same_content(*options.in_rep());
  RepPtr product;
  try {
    product = Representation::tensor(options.in_rep(), in2_rep());
  } catch (const GroupError& e) {
    throw ConfigError(fmt::format("eTensorProduct: {}", e.what()));
  }
  linear = register_module("linear", ELinear(ELinearOptions(product, options.out_rep())
                                                 .bias(options.bias())
                                                 .init_scheme(options.init_scheme())
                                                 .weight_constraint(options.weight_constraint())
                                                 .bias_constraint(options.bias_constraint())
                                                 .registry(options.registry())
                                                 .execution(options.execution())));
  if (linear->weight_parameter().constraint()->dim() == 0) {
    std::vector<std::string> held;
    const auto m = product->multiplicities();
    for (size_t k = 0; k < m.size(); ++k)
      if (m[k] > 0) held.push_back(product->group().irreps()[k].name);
    throw ConfigError(
        fmt::format("eTensorProduct: no path from {} ⊗ {} to out_rep {}: the product holds {} "
                    "and out_rep none of them, so the map would be 0",
                    options.in_rep()->describe(), in2_rep()->describe(), options.out_rep()->describe(),
                    fmt::join(held, ", ")));
  }
}

void ETensorProductImpl::reset_parameters() { linear->reset_parameters(); }

std::vector<ExtraInput> ETensorProductImpl::extra_inputs() const {
  return {{"y", ExtraInput::Kind::vector, in2_rep(), !self_product_, 0}};
}

at::Tensor ETensorProductImpl::forward(const at::Tensor& x) { return forward_with(x, {}); }

at::Tensor ETensorProductImpl::forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) {
  TORCH_CHECK(extra.size() <= 1, "eTensorProduct: takes x and at most one more input y, got ", extra.size(),
              " more");
  const int64_t d1 = options.in_rep()->size(), d2 = in2_rep()->size();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == d1, "eTensorProduct: expected x of shape (..., ", d1,
              ") for in_rep ", options.in_rep()->describe(), ", got ", x.sizes());
  const at::Tensor y = extra.empty() || !extra[0].defined() ? at::Tensor() : extra[0];
  if (!y.defined()) {
    TORCH_CHECK(self_product_, "eTensorProduct: in2_rep ", in2_rep()->describe(),
                " differs from in_rep, so y is required (forward_with(x, {y}); a model: model(x, y))");
    return linear->forward((x.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2));
  }
  // y has x's leading dimensions, or is one vector per sample of a sequence x (N, L, D_1): y (N, D_2) then
  // pairs with every position.
  const auto lead = x.sizes().slice(0, x.dim() - 1);
  const bool same = y.dim() == x.dim() && y.sizes().slice(0, y.dim() - 1) == lead;
  const bool per_sample = x.dim() == 3 && y.dim() == 2 && y.size(0) == x.size(0);
  TORCH_CHECK(y.dim() >= 1 && y.size(-1) == d2 && (same || per_sample),
              "eTensorProduct: expected y of shape (", fmt::format("{}", fmt::join(lead, ", ")),
              x.dim() > 1 ? ", " : "", d2, ")",
              x.dim() == 3 ? fmt::format(" or ({}, {})", x.size(0), d2) : std::string(), " for in2_rep ",
              in2_rep()->describe(), " and x of shape ", x.sizes(), ", got ", y.sizes());
  const at::Tensor yy = per_sample ? y.unsqueeze(1) : y;
  return linear->forward((x.unsqueeze(-1) * yy.unsqueeze(-2)).flatten(-2));
}

std::vector<std::pair<std::string, at::Tensor>> ETensorProductImpl::effective_parameters() {
  auto p = linear->effective_parameters();
  p[0].second = p[0].second.reshape({options.out_rep()->size(), options.in_rep()->size(), in2_rep()->size()});
  return p;
}

int64_t ETensorProductImpl::unconstrained_parameter_count() {
  return linear->unconstrained_parameter_count();
}

void ETensorProductImpl::pretty_print(std::ostream& stream) const {
  stream << "eqnn::ETensorProduct(in_rep=" << options.in_rep()->describe()
         << ", in2_rep=" << in2_rep()->describe() << ", out_rep=" << options.out_rep()->describe()
         << ", weight=" << linear->weight_parameter().constraint()->name() << "["
         << linear->weight_parameter().constraint()->dim() << " of "
         << options.out_rep()->size() * options.in_rep()->size() * in2_rep()->size() << "]"
         << ", bias=" << (linear->has_bias() ? "true" : "false") << ", execution=" << linear->execution()
         << ")";
}

}  // namespace eqnn
