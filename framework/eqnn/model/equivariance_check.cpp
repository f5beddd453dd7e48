// The equivariance check of `eqnn check`: f(x ρ_in(g)ᵀ) against f(x) ρ_out(g)ᵀ on every group element.
#include "eqnn/model/equivariance_check.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/group_theory/compact_group.hpp"
#include "eqnn/group_theory/tensor_convert.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/sequence_length.hpp"

namespace eqnn {
namespace {

// x ρ(g)ᵀ; for a permutation representation a gather (no dense |G|-sized matrix per element).
at::Tensor act(const at::Tensor& x, const Representation& rep, int g, at::ScalarType dtype) {
  if (rep.is_permutation()) {
    const Permutation p = rep.permutation(g);  // ρ(g) e_j = e_p[j], so (x ρᵀ)[p[j]] = x[j]
    auto inverse = at::empty({static_cast<int64_t>(p.size())}, at::kLong);
    auto* ip = inverse.data_ptr<int64_t>();
    for (size_t j = 0; j < p.size(); ++j) ip[p[j]] = static_cast<int64_t>(j);
    return x.index_select(-1, inverse);
  }
  return at::matmul(x, to_tensor(rep.matrix(g)).to(dtype).t());
}

}  // namespace

constexpr int kCompactCheckHaarElements = 256;

double equivariance_tolerance(at::ScalarType dtype) { return dtype == at::kDouble ? 1e-10 : 1e-5; }

EquivarianceResult equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f, const RepPtr& in,
                                      const RepPtr& out, at::ScalarType dtype, int64_t seq, uint64_t seed) {
  std::vector<int64_t> leading = {2};
  if (seq > 0) leading.push_back(seq);
  return equivariance_error(f, in, out, dtype, leading, seed);
}

EquivarianceResult equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f, const RepPtr& in,
                                      const RepPtr& out, at::ScalarType dtype,
                                      const std::vector<int64_t>& leading_shape, uint64_t seed) {
  return equivariance_error([&f](const at::Tensor& x, const std::vector<at::Tensor>&) { return f(x); }, in,
                            {}, out, dtype, leading_shape, seed);
}

EquivarianceResult equivariance_error(const FunctionWithExtras& f, const RepPtr& in,
                                      const std::vector<ExtraInput>& extra_spec, const RepPtr& out,
                                      at::ScalarType dtype, const std::vector<int64_t>& leading_shape,
                                      uint64_t seed) {
  torch::NoGradGuard no_grad;
  EquivarianceResult result;
  result.checked = true;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto options = at::TensorOptions().dtype(dtype);
  std::vector<int64_t> shape = leading_shape;
  shape.push_back(in->size());
  const at::Tensor x = at::randn(shape, gen, options);
  // The extra inputs: a step per sample in [0, 100) (the group does not act on it), conditioning vectors
  // and sequences at random; the optional ones are given too, so that they are checked.
  const int64_t batch = leading_shape.empty() ? 1 : leading_shape.front();
  const int64_t length = leading_shape.size() >= 2 ? leading_shape[1] : 1;
  const std::vector<at::Tensor> extra = random_extra_inputs(extra_spec, batch, length, options, gen);
  const at::Tensor y = f(x, extra);
  // NaN or Inf is a failure, never a pass: std::max(NaN, x) and `err > worst` would both let NaN through,
  // so finiteness is tested explicitly and a non-finite result is reported as a NaN error.
  const auto not_finite = [&](const std::string& where) {
    result.max_error = std::numeric_limits<double>::quiet_NaN();
    result.note = fmt::format("not finite: {} has NaN or Inf", where);
    return result;
  };
  if (!at::isfinite(y).all().item<bool>()) return not_finite("f(x)");
  const double scale = std::max(y.abs().max().item<double>(), 1e-30);
  const Group& group = in->group();
  // A finite group: every element. A compact one: Haar-random elements and elements near the identity.
  std::vector<Matrix> elements;
  if (const CompactGroupDefinition* def = group.compact()) {
    elements = compact::check_elements(*def, kCompactCheckHaarElements, seed + 0x5eed);
    result.note = fmt::format("{} Haar-random elements (seed {}) and {} near the identity",
                              kCompactCheckHaarElements, seed, elements.size() - kCompactCheckHaarElements);
  }
  const int count = group.is_compact() ? static_cast<int>(elements.size()) : group.order();
  const auto act_on = [&](const at::Tensor& t, const Representation& rep, int g) {
    if (!group.is_compact()) return act(t, rep, g, dtype);
    return at::matmul(t, to_tensor(rep.matrix(elements[g])).to(dtype).t());
  };
  for (int g = 0; g < count; ++g) {
    const at::Tensor gx = act_on(x, *in, g);
    const at::Tensor gy = act_on(y, *out, g);
    std::vector<at::Tensor> g_extra;
    for (size_t i = 0; i < extra_spec.size(); ++i)
      g_extra.push_back(extra_spec[i].rep ? act_on(extra[i], *extra_spec[i].rep, g) : extra[i]);
    const at::Tensor fgx = f(gx, g_extra);
    if (!at::isfinite(fgx).all().item<bool>()) {
      result.worst_element = g;
      return not_finite(fmt::format("f(g·x) for g = {}", g));
    }
    const double err = (fgx - gy).abs().max().item<double>() / scale;
    if (!std::isfinite(err)) {
      result.worst_element = g;
      return not_finite(fmt::format("the error for g = {}", g));
    }
    if (err > result.max_error) {
      result.max_error = err;
      result.worst_element = g;
    }
  }
  return result;
}

bool within_tolerance(const EquivarianceResult& result, double tolerance) {
  // Written so that NaN compares false: `!(err > tol)` would pass it.
  return std::isfinite(result.max_error) && result.max_error <= tolerance;
}

namespace {

/// The sequence length of the random inputs a layer is checked with: its own where it needs one length
/// (FixedSequenceLength), the first multiple of its multiple from `otherwise` on (SequenceLengthMultiple),
/// else `otherwise`.
int64_t check_length(const Layer& layer, int64_t otherwise = 3) {
  if (const auto* fixed = dynamic_cast<const FixedSequenceLength*>(&layer)) return fixed->sequence_length();
  if (const auto* multiple = dynamic_cast<const SequenceLengthMultiple*>(&layer)) {
    const int64_t m = std::max<int64_t>(multiple->sequence_length_multiple(), 1);
    return m * ((otherwise + m - 1) / m);  // the first multiple of m from `otherwise` on
  }
  return otherwise;
}

}  // namespace

int64_t input_sequence_length(const Model& model, int64_t otherwise) {
  // The model's input is its first layer's: the first entry (depth-first) that is not a block.
  for (const auto& info : model.layer_infos()) {
    if (info.type == "Sequential" || info.type == "Residual") continue;
    return check_length(*info.layer, otherwise);
  }
  return otherwise;
}

std::vector<EquivarianceResult> check_model(Model& model, at::ScalarType dtype, uint64_t seed) {
  model.to(dtype);
  model.eval();
  // The model computes where its tensors are (CPU or a GPU); inputs are made and errors measured on the CPU.
  c10::Device device(c10::kCPU);
  for (const auto& t : model.parameters()) device = t.device();
  for (const auto& t : model.buffers()) device = t.device();
  auto on_device = [device](const std::function<at::Tensor(const at::Tensor&)>& f) {
    return [device, f](const at::Tensor& x) { return f(x.to(device)).cpu(); };
  };
  auto on_device_with_extras = [device](const FunctionWithExtras& f) -> FunctionWithExtras {
    return [device, f](const at::Tensor& x, const std::vector<at::Tensor>& extra) {
      std::vector<at::Tensor> moved;
      for (const auto& t : extra) moved.push_back(t.defined() ? t.to(device) : t);
      return f(x.to(device), moved).cpu();
    };
  };
  std::vector<EquivarianceResult> results;
  for (const auto& info : model.layer_infos()) {
    EquivarianceResult r;
    if (info.layer->in_rep() && info.layer->out_rep()) {
      auto layer = info.layer;
      if (auto* multi = dynamic_cast<ExtraInputs*>(layer.get())) {
        r = equivariance_error(
            on_device_with_extras([multi](const at::Tensor& x, const std::vector<at::Tensor>& e) {
              return multi->forward_with(x, e);
            }),
            layer->in_rep(), multi->extra_inputs(), layer->out_rep(), dtype, {2, check_length(*layer)}, seed);
      } else {
        r = equivariance_error(on_device([&](const at::Tensor& x) { return layer->forward(x); }),
                               layer->in_rep(), layer->out_rep(), dtype, check_length(*layer), seed);
      }
    } else {
      r.note = info.layer->in_rep() ? "n/a (output has no group action)" : "n/a (no group action)";
    }
    r.path = info.path;
    r.type = info.type;
    results.push_back(r);
  }
  RepPtr out = model.output_rep();
  std::string note;
  if (!out && model.output_size() == model.input_size()) {
    out = model.input_rep();
    note = "output rep taken to be the input rep";
  }
  const int64_t length = input_sequence_length(model);
  EquivarianceResult whole;
  if (out) {
    whole =
        equivariance_error(on_device_with_extras([&](const at::Tensor& x, const std::vector<at::Tensor>& e) {
                             return model.forward(x, e);
                           }),
                           model.input_rep(), model.extra_inputs(), out, dtype, {2, length}, seed + 1);
  } else {
    note = fmt::format("the output ({} features) has no known representation; declare it with 'output: REP'",
                       model.output_size());
  }
  whole.path = "model";
  whole.type = "(whole model)";
  if (!whole.note.empty()) note = note.empty() ? whole.note : note + "; " + whole.note;
  whole.note = note;
  results.push_back(whole);
  return results;
}

}  // namespace eqnn
