// EIsotypicBasis (see e_isotypic_basis.hpp).
#include "e_isotypic_basis.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {

std::optional<OptionError> validate(const EIsotypicBasisOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", "eIsotypicBasis: in_rep is required"};
  if (o.in_rep()->size() == 0)
    return OptionError{"in_rep",
                       fmt::format("eIsotypicBasis: in_rep {} is empty; give a representation of size >= 1",
                                   o.in_rep()->describe())};
  return std::nullopt;
}

EIsotypicBasisImpl::EIsotypicBasisImpl(EIsotypicBasisOptions options_)
    : Layer("eIsotypicBasis"), options(std::move(options_)) {
  reset();
}

EIsotypicBasisImpl::~EIsotypicBasisImpl() = default;

void EIsotypicBasisImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  basis_ = isotypic_basis(options.in_rep());
  const at::Tensor Q = to_tensor(basis_.Q_iso);
  weight_ = options.inverse() ? Q.contiguous() : Q.t().contiguous();
  converted_.clear();
}

RepPtr EIsotypicBasisImpl::in_rep() const {
  return options.inverse() ? basis_.spectral_rep : options.in_rep();
}

RepPtr EIsotypicBasisImpl::out_rep() const {
  return options.inverse() ? options.in_rep() : basis_.spectral_rep;
}

at::Tensor EIsotypicBasisImpl::forward(const at::Tensor& x) {
  const int64_t D = weight_.size(0);
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == D, name(), ": expected input of shape (..., ", D, ") for in_rep ",
              in_rep()->describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), name(), ": expected a floating-point input, got ",
              x.scalar_type());
  const at::Tensor& W =
      converted_.get(x.options(), [this](const at::TensorOptions& o) { return weight_.to(o); });
  return at::matmul(x, W.t());
}

std::vector<std::pair<std::string, at::Tensor>> EIsotypicBasisImpl::effective_parameters() {
  return {{"weight", weight_.clone()}};
}

int64_t EIsotypicBasisImpl::unconstrained_parameter_count() { return weight_.numel(); }

void EIsotypicBasisImpl::pretty_print(std::ostream& os) const {
  os << "eIsotypicBasis(" << in_rep()->describe() << " -> " << out_rep()->describe()
     << (options.inverse() ? ", inverse=true" : "") << ")";
}

}  // namespace eqnn
