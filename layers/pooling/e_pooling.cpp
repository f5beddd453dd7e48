// EInvariantPool and ENormPool (see e_pooling.hpp).
#include "e_pooling.hpp"

#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/irrep_copies.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

void check_input(const at::Tensor& x, const Layer& layer, const Representation& rep) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep.size(), layer.name(), ": expected input of shape (..., ",
              rep.size(), ") for in_rep ", rep.describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), layer.name(), ": expected a floating-point input, got ",
              x.scalar_type());
}

}  // namespace

std::optional<OptionError> validate(const EInvariantPoolOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", "eInvariantPool: in_rep is required"};
  if (o.in_rep()->multiplicities()[0] == 0)
    return OptionError{
        "in_rep",
        fmt::format(
            "eInvariantPool: in_rep {} has no invariant subspace (it contains no trivial irrep), so the "
            "pooled output would be empty; use eNormPool (one invariant norm per irrep copy) or add a "
            "trivial or regular component to the representation",
            o.in_rep()->describe())};
  return std::nullopt;
}

std::optional<OptionError> validate(const ENormPoolOptions& o) {
  if (!o.in_rep()) return OptionError{"in_rep", "eNormPool: in_rep is required"};
  return std::nullopt;
}

EInvariantPoolImpl::EInvariantPoolImpl(EInvariantPoolOptions options_)
    : Layer("eInvariantPool"), options(std::move(options_)) {
  reset();
}

EInvariantPoolImpl::~EInvariantPoolImpl() = default;

void EInvariantPoolImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr rep = options.in_rep();
  space_ = InvariantSpace::get(rep);
  out_ = Representation::trivial(rep->group_ptr(), static_cast<int>(space_->dim()));
}

at::Tensor EInvariantPoolImpl::forward(const at::Tensor& x) {
  check_input(x, *this, *options.in_rep());
  return space_->analyse(x);
}

std::vector<std::pair<std::string, at::Tensor>> EInvariantPoolImpl::effective_parameters() {
  return {{"weight", to_tensor(options.in_rep()->invariant_basis()).t().contiguous()}};
}

int64_t EInvariantPoolImpl::unconstrained_parameter_count() {
  return space_->dim() * options.in_rep()->size();
}

void EInvariantPoolImpl::pretty_print(std::ostream& os) const {
  os << "eInvariantPool(in_rep=" << options.in_rep()->describe() << " -> " << out_->describe() << ")";
}

ENormPoolImpl::ENormPoolImpl(ENormPoolOptions options_) : Layer("eNormPool"), options(std::move(options_)) {
  reset();
}

ENormPoolImpl::~ENormPoolImpl() = default;

void ENormPoolImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const RepPtr rep = options.in_rep();
  // Group the copies by irrep dimension: one (D, n_d·d) slice of Q and one norm call per dimension.
  const IrrepCopies copies = irrep_copies(*rep);
  const CopiesByDimension grouped = group_by_dimension(copies);
  const at::Tensor Q = to_tensor(rep->Q());
  dims_ = grouped.dims;
  masters_.clear();
  for (const auto& columns : grouped.columns)
    masters_.push_back(Q.index_select(1, at::tensor(columns, at::kLong)).contiguous());
  // output copy c is the concatenated norms' position grouped.position[c]
  masters_.push_back(at::tensor(grouped.position, at::kLong));
  converted_.clear();
  out_ = Representation::trivial(rep->group_ptr(), static_cast<int>(copies.count()));
}

const std::vector<at::Tensor>& ENormPoolImpl::converted(const at::TensorOptions& options) const {
  return converted_.get(options, [this](const at::TensorOptions& o) {
    std::vector<at::Tensor> copies;
    for (const auto& m : masters_)
      copies.push_back(m.scalar_type() == at::kLong ? m.to(o.device()) : m.to(o));
    return copies;
  });
}

at::Tensor ENormPoolImpl::forward(const at::Tensor& x) {
  check_input(x, *this, *options.in_rep());
  const auto& t = converted(x.options());
  std::vector<at::Tensor> norms;
  for (size_t i = 0; i < dims_.size(); ++i) {
    at::Tensor y = at::matmul(x, t[i]);  // (..., n_d·d): the copies of dimension d, copy-major
    auto shape = y.sizes().vec();
    shape.back() = shape.back() / dims_[i];
    shape.push_back(dims_[i]);
    // linalg_vector_norm has a zero subgradient at 0 (sqrt of a sum of squares would give NaN).
    norms.push_back(at::linalg_vector_norm(y.reshape(shape), 2, at::IntArrayRef{-1}));
  }
  at::Tensor all = norms.size() == 1 ? norms[0] : at::cat(norms, -1);
  return dims_.size() == 1 ? all : all.index_select(-1, t.back());
}

void ENormPoolImpl::pretty_print(std::ostream& os) const {
  os << "eNormPool(in_rep=" << options.in_rep()->describe() << " -> " << out_->describe() << ")";
}

}  // namespace eqnn
