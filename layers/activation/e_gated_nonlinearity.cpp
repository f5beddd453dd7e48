// EGatedNonlinearity (see e_gated_nonlinearity.hpp).
#include "e_gated_nonlinearity.hpp"

#include <algorithm>
#include <ostream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/util/error.hpp"
#include "function_choice.hpp"

namespace eqnn {
namespace {

struct Split {
  int trivial = 0, non_trivial = 0;
};

Split count_copies(const Representation& rep) {
  Split s;
  for (int k : rep.irreps()) (k == 0 ? s.trivial : s.non_trivial) += 1;
  return s;
}

std::string irrep_label(const Group& g, int k) { return k == 0 ? "trivial" : g.irreps()[k].name; }

}  // namespace

const std::vector<std::string>& gated_nonlinearity_functions() {
  static const std::vector<std::string> known = {"sigmoid", "tanh", "softplus"};
  return known;
}

std::optional<OptionError> validate(const EGatedNonlinearityOptions& o) {
  const std::string what = "eGatedNonlinearity";
  const std::string& f = o.function();
  if (auto error = detail::check_function(what, f, gated_nonlinearity_functions())) return error;
  if (!o.in_rep()) return OptionError{"in_rep", what + ": in_rep is required"};
  const Representation& rep = *o.in_rep();
  const Split s = count_copies(rep);
  if (s.trivial < s.non_trivial) {
    const int missing = s.non_trivial - s.trivial;
    return OptionError{
        "in_rep",
        fmt::format("{}: in_rep {} has {} non-trivial irrep copies but only {} trivial copies; every "
                    "non-trivial copy needs one trivial copy as its gate, so {} more are needed (e.g. "
                    "'{} + {}x trivial', or an eLinear to such a representation first)",
                    what, rep.describe(), s.non_trivial, s.trivial, missing, rep.name(), missing)};
  }
  return std::nullopt;
}

RepPtr gated_output_rep(const RepPtr& in_rep) {
  const Representation& rep = *in_rep;
  const Group& g = rep.group();
  const Split s = count_copies(rep);
  std::vector<int> kept;
  int gates_seen = 0;
  for (int k : rep.irreps()) {
    if (k == 0 && gates_seen < s.non_trivial) {
      ++gates_seen;
      continue;
    }
    kept.push_back(k);
  }
  // A compact name: runs of equal irreps, "2x irrep(1) + trivial".
  std::vector<std::string> parts;
  int size = 0;
  for (size_t i = 0; i < kept.size();) {
    size_t j = i;
    while (j < kept.size() && kept[j] == kept[i]) ++j;
    const std::string label = irrep_label(g, kept[i]);
    parts.push_back(j - i == 1 ? label : fmt::format("{}x {}", j - i, label));
    for (size_t c = i; c < j; ++c) size += g.irreps()[kept[c]].dim;
    i = j;
  }
  return Representation::from_decomposition(rep.group_ptr(), kept, Matrix::Identity(size, size),
                                            fmt::format("{}", fmt::join(parts, " + ")));
}

EGatedNonlinearityImpl::EGatedNonlinearityImpl(EGatedNonlinearityOptions options_)
    : Layer("eGatedNonlinearity"), options(std::move(options_)) {
  reset();
}

EGatedNonlinearityImpl::~EGatedNonlinearityImpl() = default;

void EGatedNonlinearityImpl::reset() {
  if (auto error = validate(options)) throw ConfigError(error->message);
  const Representation& rep = *options.in_rep();
  const auto& irreps = rep.group().irreps();
  const Split s = count_copies(rep);
  gated_ = s.non_trivial;
  // Columns of Q: the kept copies (output order), then the gates; the gate of each output column.
  std::vector<int64_t> kept_columns, gate_columns;
  std::vector<int> kept_copy_kind;      // per kept column: 0 trivial (self-gated), 1 non-trivial
  std::vector<int64_t> kept_copy_rank;  // per kept column: index among the non-trivial copies
  int offset = 0, gates_seen = 0, non_trivial_seen = 0;
  for (int k : rep.irreps()) {
    const int d = irreps[k].dim;
    if (k == 0 && gates_seen < s.non_trivial) {
      gate_columns.push_back(offset);
      ++gates_seen;
    } else {
      for (int i = 0; i < d; ++i) {
        kept_columns.push_back(offset + i);
        kept_copy_kind.push_back(k == 0 ? 0 : 1);
        kept_copy_rank.push_back(non_trivial_seen);
      }
      if (k != 0) ++non_trivial_seen;
    }
    offset += d;
  }
  const int64_t d_out = static_cast<int64_t>(kept_columns.size());
  std::vector<int64_t> gate_index(static_cast<size_t>(d_out));
  for (int64_t c = 0; c < d_out; ++c) gate_index[c] = kept_copy_kind[c] == 0 ? c : d_out + kept_copy_rank[c];
  std::vector<int64_t> all = kept_columns;
  all.insert(all.end(), gate_columns.begin(), gate_columns.end());
  basis_ = to_tensor(rep.Q()).index_select(1, at::tensor(all, at::kLong)).contiguous();
  gate_index_ = at::tensor(gate_index, at::kLong);
  converted_.clear();
  out_ = gated_output_rep(options.in_rep());
}

at::Tensor EGatedNonlinearityImpl::forward(const at::Tensor& x) {
  const Representation& rep = *options.in_rep();
  TORCH_CHECK(x.dim() >= 1 && x.size(-1) == rep.size(), name(), ": expected input of shape (..., ",
              rep.size(), ") for in_rep ", rep.describe(), ", got ", x.sizes());
  TORCH_CHECK(at::isFloatingType(x.scalar_type()), name(), ": expected a floating-point input, got ",
              x.scalar_type());
  const auto& [basis, gate_index] = converted_.get(x.options(), [this](const at::TensorOptions& o) {
    return std::make_pair(basis_.to(o), gate_index_.to(o.device()));
  });
  const at::Tensor z = at::matmul(x, basis);  // (..., D_out + n_gated): kept copies, then gates
  const int64_t d_out = out_->size();
  const at::Tensor gates = z.index_select(-1, gate_index);
  const std::string& f = options.function();
  const at::Tensor s = f == "sigmoid" ? at::sigmoid(gates)
                       : f == "tanh"  ? at::tanh(gates)
                                      : at::softplus(gates);
  return z.narrow(-1, 0, d_out) * s;
}

void EGatedNonlinearityImpl::pretty_print(std::ostream& os) const {
  os << "eGatedNonlinearity(" << options.function() << ", in_rep=" << options.in_rep()->describe() << " -> "
     << out_->describe() << ", gates=" << gated_ << ")";
}

}  // namespace eqnn
