// Invariant pooling: maps features in any representation to exactly invariant features.
// - eInvariantPool: the coordinates of the invariant component, θ = Q_trivᵀ x (out_rep = m₀x trivial).
//   Linear; it equals torch.nn.Linear(D, m₀, bias=False) with the fixed weight Q_trivᵀ.
// - eNormPool: one Euclidean norm per irrep copy of Qᵀx (out_rep = trivial^(number of copies)), in the
//   order of in_rep's irreps. Invariant because ρ(g) acts on each copy by an orthogonal matrix.
// Constant matrices are kept in float64 and converted per (dtype, device) on first use, so a module
// moved to float64 is exact to float64 precision (a float32 buffer cast up would not be).
#include <map>
#include <mutex>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/error.hpp"
#include "eqnn/tensor_convert.hpp"
#include "eqnn/hom_space.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/plugin.hpp"
#include "eqnn/yaml_args.hpp"

namespace {

using eqnn::RepPtr;
using eqnn::to_tensor;

/// Float64 master tensors with copies per (dtype, device), made on first use; thread-safe.
class ConvertedTensors {
 public:
  explicit ConvertedTensors(std::vector<at::Tensor> masters) : masters_(std::move(masters)) {}
  const std::vector<at::Tensor>& for_options(const at::TensorOptions& options) const {
    const std::string key = fmt::format("{}/{}", c10::toString(options.dtype()), options.device().str());
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = converted_.find(key);
    if (it == converted_.end()) {
      std::vector<at::Tensor> copies;
      for (const auto& m : masters_)
        copies.push_back(m.scalar_type() == at::kLong ? m.to(options.device()) : m.to(options));
      it = converted_.emplace(key, std::move(copies)).first;
    }
    return it->second;
  }

 private:
  std::vector<at::Tensor> masters_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, std::vector<at::Tensor>> converted_;
};

void check_input(const at::Tensor& x, const eqnn::Layer& layer, const eqnn::Representation& rep) {
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep.size(), layer.name(), ": expected input of shape (..., ",
              rep.size(), ") for in_rep ", rep.describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), layer.name(), ": expected a floating-point input, got ",
              x.scalar_type());
}

class EInvariantPool : public eqnn::Layer {
 public:
  explicit EInvariantPool(RepPtr rep)
      : eqnn::Layer("eInvariantPool"), rep_(std::move(rep)), space_(eqnn::InvariantSpace::get(rep_)) {
    out_ = eqnn::Representation::trivial(rep_->group_ptr(), static_cast<int>(space_->dim()));
  }
  at::Tensor forward(const at::Tensor& x) override {
    check_input(x, *this, *rep_);
    return space_->analyse(x);
  }
  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return out_; }
  // Stock equivalent: torch.nn.Linear(D, m₀, bias=False) with weight Q_trivᵀ (float64; cast on export).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override {
    return {{"weight", to_tensor(rep_->invariant_basis()).t().contiguous()}};
  }
  int64_t unconstrained_parameter_count() override { return space_->dim() * rep_->size(); }
  void pretty_print(std::ostream& os) const override {
    os << "eInvariantPool(in_rep=" << rep_->describe() << " -> " << out_->describe() << ")";
  }

 private:
  RepPtr rep_, out_;
  std::shared_ptr<const eqnn::InvariantSpace> space_;
};

class ENormPool : public eqnn::Layer {
 public:
  explicit ENormPool(RepPtr rep) : eqnn::Layer("eNormPool"), rep_(std::move(rep)) {
    const auto& irreps = rep_->group().irreps();
    const auto& order = rep_->irreps();
    // Group the copies by irrep dimension: one (D, n_d·d) slice of Q and one norm call per dimension.
    std::map<int, std::vector<int64_t>> columns_by_dim, copies_by_dim;
    int64_t offset = 0;
    for (size_t c = 0; c < order.size(); ++c) {
      const int d = irreps[order[c]].dim;
      for (int i = 0; i < d; ++i) columns_by_dim[d].push_back(offset + i);
      copies_by_dim[d].push_back(static_cast<int64_t>(c));
      offset += d;
    }
    const at::Tensor Q = to_tensor(rep_->Q());
    std::vector<at::Tensor> masters;
    std::vector<int64_t> concatenated;  // copy index of each position of the concatenated norms
    for (const auto& [d, columns] : columns_by_dim) {
      dims_.push_back(d);
      masters.push_back(Q.index_select(1, at::tensor(columns, at::kLong)).contiguous());
      concatenated.insert(concatenated.end(), copies_by_dim[d].begin(), copies_by_dim[d].end());
    }
    // inverse permutation: output copy c is concatenated position inverse[c]
    std::vector<int64_t> inverse(concatenated.size());
    for (size_t p = 0; p < concatenated.size(); ++p) inverse[concatenated[p]] = static_cast<int64_t>(p);
    masters.push_back(at::tensor(inverse, at::kLong));
    tensors_ = std::make_unique<ConvertedTensors>(std::move(masters));
    out_ = eqnn::Representation::trivial(rep_->group_ptr(), static_cast<int>(order.size()));
  }

  at::Tensor forward(const at::Tensor& x) override {
    check_input(x, *this, *rep_);
    const auto& t = tensors_->for_options(x.options());
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
  RepPtr in_rep() const override { return rep_; }
  RepPtr out_rep() const override { return out_; }
  // Nonlinear, no stock module computes it: no stock equivalent, so an honest empty list.
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override { return {}; }
  int64_t unconstrained_parameter_count() override { return 0; }
  void pretty_print(std::ostream& os) const override {
    os << "eNormPool(in_rep=" << rep_->describe() << " -> " << out_->describe() << ")";
  }

 private:
  RepPtr rep_, out_;
  std::vector<int64_t> dims_;
  std::unique_ptr<ConvertedTensors> tensors_;  // per dimension a slice of Q, then the output permutation
};

std::shared_ptr<eqnn::Layer> make_invariant_pool(const eqnn::LayerArgs& args) {
  eqnn::yaml::check_keys(args.kwargs, {}, "eInvariantPool");
  if (!args.in_rep)
    eqnn::yaml::fail(args.kwargs, "eInvariantPool: no in_rep (give in_rep or put the layer after one)");
  if (eqnn::InvariantSpace::get(args.in_rep)->dim() == 0)
    eqnn::yaml::fail(
        args.kwargs,
        fmt::format("eInvariantPool: in_rep {} has no invariant subspace (it contains no trivial irrep), "
                    "so the pooled output would be empty; use eNormPool (one invariant norm per irrep "
                    "copy) or add a trivial or regular component to the representation",
                    args.in_rep->describe()));
  return std::make_shared<EInvariantPool>(args.in_rep);
}

std::shared_ptr<eqnn::Layer> make_norm_pool(const eqnn::LayerArgs& args) {
  eqnn::yaml::check_keys(args.kwargs, {}, "eNormPool");
  if (!args.in_rep)
    eqnn::yaml::fail(args.kwargs, "eNormPool: no in_rep (give in_rep or put the layer after one)");
  return std::make_shared<ENormPool>(args.in_rep);
}

void register_all(eqnn::Registrar& r) {
  r.add_layer("eInvariantPool", make_invariant_pool);
  r.add_layer("eNormPool", make_norm_pool);
}

}  // namespace

EQNN_PLUGIN("pooling_layers", "0.1.0", register_all)
