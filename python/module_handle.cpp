// The module handle (module_handle.hpp): the parameter bridge that swaps Python's nn.Parameters into the
// C++ module, the lock and parameter stamp behind thread-safe eval-mode inference, the loading of saved
// constrained parameters, and the binding of eqnn._C.Handle that eqnn/nn.py drives.
#include "module_handle.hpp"

#include <algorithm>
#include <sstream>

#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>

#include "bindings.hpp"
#include "e_affine.hpp"
#include "e_multihead_attention.hpp"
#include "e_positional_attention.hpp"
#include "e_transformer_encoder_layer.hpp"
#include "e_transformer_stack.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/nn/basis_fingerprint.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/util/error.hpp"
#include "group_theory_objects.hpp"
#include "layer_options_table.hpp"

namespace eqnn::python {
namespace {

// Access to torch::nn::Module's protected parameter dictionary, to swap in the Python nn.Parameter.
struct ModuleAccess : torch::nn::Module {
  static torch::OrderedDict<std::string, at::Tensor>& parameters(torch::nn::Module& m) {
    return m.*(&ModuleAccess::parameters_);
  }
};

}  // namespace

Handle::Handle(std::shared_ptr<torch::nn::Module> module, Forward forward, RepPtr in, RepPtr out,
               std::string kind)
    : module_(std::move(module)),
      forward_(std::move(forward)),
      in_(std::move(in)),
      out_(std::move(out)),
      kind_(std::move(kind)) {
  // Which parameters are constraint coefficients, noted before Python swaps in its own tensors (the
  // constraint index knows only the tensors the layers registered).
  for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
    if (auto c = ConstrainedParameter::constraint_of(item.value())) constraints_.emplace_back(item.key(), c);
  }
}

// Eval mode without grad: the layers only read their caches once they are filled, so threads share the
// lock; the first call after any change fills them alone. Everything else runs alone.
template <typename F>
auto Handle::run(F&& f) -> decltype(f()) {
  py::gil_scoped_release no_gil;
  const bool cached = !c10::GradMode::is_enabled();
  if (cached) {
    std::shared_lock<std::shared_mutex> lock(mutex_);
    if (!module_->is_training() && !stamp_.empty() && stamp() == stamp_) return f();
  }
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto result = f();
  std::optional<Stamp> now;
  if (cached && !module_->is_training() && (now = stamp())) {
    stamp_ = std::move(*now);
    if (stamp_.empty()) stamp_.emplace_back(nullptr, nullptr, 0);  // no parameters: nothing to cache
  } else {
    stamp_.clear();
  }
  return result;
}

std::vector<std::pair<std::string, at::Tensor>> Handle::named_parameters() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  return module_->named_parameters(/*recurse=*/true).pairs();
}

std::vector<std::pair<std::string, at::Tensor>> Handle::named_buffers() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  return module_->named_buffers(/*recurse=*/true).pairs();
}

void Handle::set_parameter(const std::string& name, const at::Tensor& tensor) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto [owner, leaf] = find_owner(name);
  auto& params = ModuleAccess::parameters(*owner);
  at::Tensor* slot = params.find(leaf);
  TORCH_CHECK(slot != nullptr, "eqnn: the C++ module has no parameter '", name, "'");
  *slot = tensor;
  stamp_.clear();
}

void Handle::set_buffer_data(const std::string& name, const at::Tensor& tensor) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto [owner, leaf] = find_owner(name);
  auto buffers = owner->named_buffers(/*recurse=*/false);
  at::Tensor* slot = buffers.find(leaf);
  TORCH_CHECK(slot != nullptr, "eqnn: the C++ module has no buffer '", name, "'");
  slot->set_data(tensor);
  stamp_.clear();
}

void Handle::train(bool mode) {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  module_->train(mode);
  stamp_.clear();
}

at::Tensor Handle::forward(const at::Tensor& x) {
  return run([&] { return forward_(x); });
}

at::Tensor Handle::forward_with(const at::Tensor& x, const std::vector<at::Tensor>& extra) {
  if (model) return run([&] { return model->forward(x, extra); });
  auto* multi = dynamic_cast<ExtraInputs*>(layer.get());
  TORCH_CHECK(multi != nullptr, "eqnn: ", layer ? layer->name() : kind_, " takes one input, x");
  return run([&] { return multi->forward_with(x, extra); });
}

std::vector<std::tuple<std::string, std::string, RepPtr, bool, int64_t>> Handle::extra_inputs() const {
  std::vector<ExtraInput> spec;
  if (model) {
    spec = model->extra_inputs();
  } else if (const auto* multi = dynamic_cast<const ExtraInputs*>(layer.get())) {
    spec = multi->extra_inputs();
  }
  std::vector<std::tuple<std::string, std::string, RepPtr, bool, int64_t>> out;
  for (const auto& e : spec) {
    const char* kind = e.kind == ExtraInput::Kind::step     ? "step"
                       : e.kind == ExtraInput::Kind::vector ? "vector"
                                                            : "sequence";
    out.emplace_back(e.name, kind, e.rep, e.required, e.length);
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor> Handle::attention(const at::Tensor& q, const at::Tensor& k,
                                                     const at::Tensor& v, const at::Tensor& key_padding_mask,
                                                     bool need_weights, const at::Tensor& attn_mask,
                                                     bool average_attn_weights) {
  TORCH_CHECK(mha != nullptr, "eqnn: not an attention module");
  return run(
      [&] { return mha->forward(q, k, v, key_padding_mask, need_weights, attn_mask, average_attn_weights); });
}

std::tuple<at::Tensor, at::Tensor> Handle::positional_attention(
    const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& q_positions,
    const at::Tensor& k_positions, const at::Tensor& q_position_mask, const at::Tensor& k_position_mask,
    const at::Tensor& key_padding_mask, bool need_weights, const at::Tensor& attn_mask,
    bool average_attn_weights) {
  auto* attention = dynamic_cast<PositionalAttentionImpl*>(layer.get());
  TORCH_CHECK(attention != nullptr, "eqnn: not a positional attention layer");
  AttentionCall call;
  call.q = {q_positions, q_position_mask};
  call.k = {k_positions, k_position_mask};
  call.key_padding_mask = key_padding_mask;
  call.attn_mask = attn_mask;
  call.need_weights = need_weights;
  call.average_attn_weights = average_attn_weights;
  return run([&] { return attention->attend(q, k, v, call); });
}

std::vector<std::pair<std::string, at::Tensor>> Handle::positional_parameters() {
  auto* attention = dynamic_cast<PositionalAttentionImpl*>(layer.get());
  TORCH_CHECK(attention != nullptr, "eqnn: not a positional attention layer");
  return run([&] { return attention->dense_parameters(); });
}

at::Tensor Handle::encoder(const at::Tensor& src, const at::Tensor& src_mask,
                           const at::Tensor& src_key_padding_mask) {
  auto* encoder = dynamic_cast<ETransformerEncoderLayerImpl*>(layer.get());
  TORCH_CHECK(encoder != nullptr, "eqnn: not an eTransformerEncoderLayer");
  return run([&] { return encoder->forward(src, src_mask, src_key_padding_mask); });
}

at::Tensor Handle::transformer(const std::vector<at::Tensor>& t) {
  auto given = [&](size_t n) {
    TORCH_CHECK(t.size() == n, "eqnn: ", layer ? layer->name() : kind_, " takes ", n, " tensors, got ",
                t.size());
  };
  // Decoders: [tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
  // tgt_positions, tgt_position_mask, memory_positions, memory_position_mask].
  auto decoder_masks = [&] {
    given(10);
    DecoderMasks m{t[2], t[3], t[4], t[5]};
    m.tgt_positions = {t[6], t[7]};
    m.memory_positions = {t[8], t[9]};
    return m;
  };
  if (auto* decoder = dynamic_cast<ETransformerDecoderLayerImpl*>(layer.get())) {
    const DecoderMasks m = decoder_masks();
    return run([&] { return decoder->forward(t[0], t[1], m); });
  }
  if (auto* decoder = dynamic_cast<ETransformerDecoderImpl*>(layer.get())) {
    const DecoderMasks m = decoder_masks();
    return run([&] { return decoder->forward(t[0], t[1], m); });
  }
  // Encoders: [src, mask, src_key_padding_mask, src_positions, src_position_mask].
  if (auto* encoder = dynamic_cast<ETransformerEncoderLayerImpl*>(layer.get())) {
    given(5);
    return run([&] { return encoder->forward(t[0], t[1], t[2], {t[3], t[4]}); });
  }
  auto* encoder = dynamic_cast<ETransformerEncoderImpl*>(layer.get());
  TORCH_CHECK(encoder != nullptr,
              "eqnn: not an eTransformerDecoderLayer, eTransformerDecoder, eTransformerEncoderLayer or "
              "eTransformerEncoder");
  given(5);
  return run([&] { return encoder->forward(t[0], t[1], t[2], {t[3], t[4]}); });
}

at::Tensor Handle::affine(const at::Tensor& x, const at::Tensor& scale, const at::Tensor& bias) {
  auto* affine = dynamic_cast<EAffineImpl*>(layer.get());
  TORCH_CHECK(affine != nullptr, "eqnn: not an eAffine");
  if (affine->options.learnable() && !scale.defined() && !bias.defined())
    return run([&] { return affine->forward(x); });
  return run([&] { return affine->forward(x, scale, bias); });
}

std::vector<std::pair<std::string, at::Tensor>> Handle::effective_parameters() {
  return run([&] {
    at::NoGradGuard no_grad;
    if (model) return model->effective_parameters();
    TORCH_CHECK(layer != nullptr, "eqnn: this module has no effective parameters");
    return layer->effective_parameters();
  });
}

std::vector<std::tuple<std::string, std::string, at::Tensor>> Handle::basis_records() {
  return run([&] {
    at::NoGradGuard no_grad;
    std::vector<std::tuple<std::string, std::string, at::Tensor>> out;
    for (const auto& [name, c] : constraints_)
      out.emplace_back(name, basis_fingerprint(*c), c->expand(parameter(name)).detach().contiguous());
    return out;
  });
}

std::vector<std::tuple<std::string, at::Tensor, bool>> Handle::fit_saved(
    const std::vector<std::tuple<std::string, std::string, at::Tensor, at::Tensor>>& saved,
    const std::string& where) {
  py::gil_scoped_release no_gil;
  std::unique_lock<std::shared_mutex> lock(mutex_);
  at::NoGradGuard no_grad;
  const auto shape = [](at::IntArrayRef s) { return fmt::format("[{}]", fmt::join(s, ", ")); };
  std::vector<std::tuple<std::string, at::Tensor, bool>> out;
  for (const auto& record : saved) {
    const auto& [name, basis, coefficients, effective] = record;
    auto it = std::find_if(constraints_.begin(), constraints_.end(),
                           [&record](const auto& e) { return e.first == std::get<0>(record); });
    if (it == constraints_.end()) {
      throw Error(
          fmt::format("{}: '{}' holds constraint coefficients in the state_dict ({}), but is not a "
                      "constrained parameter of this module",
                      where, name, basis));
    }
    const Constraint& c = *it->second;
    if (effective.sizes() != at::IntArrayRef(c.shape())) {
      throw Error(fmt::format("{}: '{}' expands to shape {} in the state_dict but {} in this module", where,
                              name, shape(effective.sizes()), shape(c.shape())));
    }
    const at::Tensor live = parameter(name);
    const BasisFit fit = fit_basis(c, basis, coefficients, effective);
    switch (fit.kind) {
      case BasisFit::Kind::same_basis:
        out.emplace_back(name, coefficients, false);
        break;
      case BasisFit::Kind::reprojected:
        out.emplace_back(name, fit.coefficients.to(live.options()), true);
        break;
      case BasisFit::Kind::wrong_shape:
        throw Error(fmt::format("{}: '{}' has shape {} in the state_dict but {} in this module", where, name,
                                shape(coefficients.sizes()), shape(live.sizes())));
      case BasisFit::Kind::inconsistent:
        throw Error(
            fmt::format("{}: the state_dict is inconsistent (edited or damaged?): the coefficients of "
                        "'{}' do not expand to the effective weight saved next to them",
                        where, name));
      case BasisFit::Kind::not_equivariant:
        throw Error(
            fmt::format("{}: '{}' was saved in another basis (state_dict: {}; this module: {}), and its "
                        "weight {} is not "
                        "equivariant for this module: re-projecting it leaves a relative error of {:.2e}, "
                        "above the {:g} "
                        "loading accepts. The module's group or representations differ from the ones it "
                        "was saved with; "
                        "loading would change its function. Load it into a module built with those",
                        where, name, basis, fit.live_basis, shape(effective.sizes()), fit.residual,
                        kReprojectionTolerance));
    }
  }
  return out;
}

std::vector<std::string> Handle::constrained_parameters() const {
  std::vector<std::string> names;
  for (const auto& entry : constraints_) names.push_back(entry.first);
  return names;
}

std::vector<std::pair<std::string, std::string>> Handle::parameter_owners() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
    std::string owner = find_owner(item.key()).first->name();
    // The C++ class name of a layer ("eqnn::ELinear") as its registry name ("eLinear").
    const std::string prefix = "eqnn::E";
    if (owner.rfind(prefix, 0) == 0) owner = "e" + owner.substr(prefix.size());
    out.emplace_back(item.key(), std::move(owner));
  }
  return out;
}

std::string Handle::repr() const {
  std::ostringstream os;
  module_->pretty_print(os);
  return os.str();
}

std::pair<torch::nn::Module*, std::string> Handle::find_owner(const std::string& name) {
  torch::nn::Module* owner = module_.get();
  std::string rest = name;
  for (auto dot = rest.find('.'); dot != std::string::npos; dot = rest.find('.')) {
    const std::string child = rest.substr(0, dot);
    auto children = owner->named_children();
    auto* found = children.find(child);
    TORCH_CHECK(found != nullptr, "eqnn: the C++ module has no submodule '", child, "' (in '", name, "')");
    owner = found->get();
    rest = rest.substr(dot + 1);
  }
  return {owner, rest};
}

at::Tensor Handle::parameter(const std::string& name) const {
  const auto params = module_->named_parameters(/*recurse=*/true);
  const at::Tensor* t = params.find(name);
  TORCH_CHECK(t != nullptr, "eqnn: the C++ module has no parameter '", name, "'");
  return *t;
}

std::optional<Handle::Stamp> Handle::stamp() const {
  Stamp s;
  for (const auto& p : module_->parameters(/*recurse=*/true)) {
    if (!p.has_storage()) return std::nullopt;
    s.emplace_back(p.unsafeGetTensorImpl(), p.data_ptr(), p._version());
  }
  return s;
}

void bind_module_handle(py::module_& m) {
  py::class_<Handle, std::shared_ptr<Handle>>(
      m, "Handle", "A C++ module seen from Python (used by eqnn.nn; not part of the API).")
      .def_property_readonly("kind", &Handle::kind)
      .def_property_readonly("in_rep",
                             [](const Handle& h) -> std::optional<PyRep> {
                               if (!h.in_rep()) return std::nullopt;
                               return PyRep{h.in_rep()};
                             })
      .def_property_readonly("out_rep",
                             [](const Handle& h) -> std::optional<PyRep> {
                               if (!h.out_rep()) return std::nullopt;
                               return PyRep{h.out_rep()};
                             })
      .def("named_parameters", &Handle::named_parameters)
      .def("named_buffers", &Handle::named_buffers)
      .def("set_parameter", &Handle::set_parameter, py::arg("name"), py::arg("tensor"))
      .def("set_buffer_data", &Handle::set_buffer_data, py::arg("name"), py::arg("tensor"))
      .def("train", &Handle::train, py::arg("mode"))
      .def_property_readonly("training", &Handle::is_training)
      .def("forward", &Handle::forward, py::arg("x"))
      .def(
          "forward_with",
          [](Handle& h, const at::Tensor& x, const std::vector<std::optional<at::Tensor>>& extra) {
            std::vector<at::Tensor> t;
            for (const auto& e : extra) t.push_back(e.value_or(at::Tensor()));
            return h.forward_with(x, t);
          },
          py::arg("x"), py::arg("extra"))
      .def("extra_inputs",
           [](const Handle& h) {
             std::vector<std::tuple<std::string, std::string, std::optional<PyRep>, bool, int64_t>> out;
             for (const auto& [name, kind, rep, required, length] : h.extra_inputs())
               out.emplace_back(name, kind, rep ? std::optional<PyRep>(PyRep{rep}) : std::nullopt, required,
                                length);
             return out;
           })
      .def(
          "attention",
          [](Handle& h, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
             const std::optional<at::Tensor>& key_padding_mask, bool need_weights,
             const std::optional<at::Tensor>& attn_mask, bool average_attn_weights) -> py::tuple {
            auto [out, weights] = h.attention(q, k, v, key_padding_mask.value_or(at::Tensor()), need_weights,
                                              attn_mask.value_or(at::Tensor()), average_attn_weights);
            py::object w = weights.defined() ? py::cast(weights) : py::none();
            return py::make_tuple(out, w);
          },
          py::arg("query"), py::arg("key"), py::arg("value"), py::arg("key_padding_mask"),
          py::arg("need_weights"), py::arg("attn_mask"), py::arg("average_attn_weights"))
      .def(
          "positional_attention",
          [](Handle& h, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
             const std::optional<at::Tensor>& q_positions, const std::optional<at::Tensor>& k_positions,
             const std::optional<at::Tensor>& q_position_mask,
             const std::optional<at::Tensor>& k_position_mask,
             const std::optional<at::Tensor>& key_padding_mask, bool need_weights,
             const std::optional<at::Tensor>& attn_mask, bool average_attn_weights) -> py::tuple {
            const at::Tensor none;
            auto [out, weights] =
                h.positional_attention(q, k, v, q_positions.value_or(none), k_positions.value_or(none),
                                       q_position_mask.value_or(none), k_position_mask.value_or(none),
                                       key_padding_mask.value_or(none), need_weights,
                                       attn_mask.value_or(none), average_attn_weights);
            py::object w = weights.defined() ? py::cast(weights) : py::none();
            return py::make_tuple(out, w);
          },
          py::arg("query"), py::arg("key"), py::arg("value"), py::arg("q_positions"), py::arg("k_positions"),
          py::arg("q_position_mask"), py::arg("k_position_mask"), py::arg("key_padding_mask"),
          py::arg("need_weights"), py::arg("attn_mask"), py::arg("average_attn_weights"))
      .def("positional_parameters", &Handle::positional_parameters)
      .def(
          "encoder",
          [](Handle& h, const at::Tensor& src, const std::optional<at::Tensor>& src_mask,
             const std::optional<at::Tensor>& src_key_padding_mask) {
            return h.encoder(src, src_mask.value_or(at::Tensor()),
                             src_key_padding_mask.value_or(at::Tensor()));
          },
          py::arg("src"), py::arg("src_mask"), py::arg("src_key_padding_mask"))
      .def(
          "transformer",
          [](Handle& h, const std::vector<std::optional<at::Tensor>>& tensors) {
            std::vector<at::Tensor> t;
            for (const auto& x : tensors) t.push_back(x.value_or(at::Tensor()));
            return h.transformer(t);
          },
          py::arg("tensors"))
      .def(
          "affine",
          [](Handle& h, const at::Tensor& x, const std::optional<at::Tensor>& scale,
             const std::optional<at::Tensor>& bias) {
            return h.affine(x, scale.value_or(at::Tensor()), bias.value_or(at::Tensor()));
          },
          py::arg("x"), py::arg("scale"), py::arg("bias"))
      .def("effective_parameters", &Handle::effective_parameters)
      .def("constrained_parameters", &Handle::constrained_parameters)
      .def("basis_records", &Handle::basis_records)
      .def("fit_saved", &Handle::fit_saved, py::arg("saved"), py::arg("where"))
      .def("options",
           [](const Handle& h) -> std::optional<py::dict> {
             if (!h.layer) return std::nullopt;
             return layer_options(*h.layer);
           })
      .def("model_source",
           [](const Handle& h) {
             TORCH_CHECK(h.model != nullptr, "eqnn: not a model");
             return h.model->source();
           })
      .def("model_reps",
           [](const Handle& h) {
             TORCH_CHECK(h.model != nullptr, "eqnn: not a model");
             std::vector<std::pair<std::string, PyRep>> out;
             for (const auto& [name, rep] : h.model->reps()) out.emplace_back(name, PyRep{rep});
             return out;
           })
      .def("model_group",
           [](const Handle& h) {
             TORCH_CHECK(h.model != nullptr, "eqnn: not a model");
             return PyGroup{h.model->group()};
           })
      .def("__repr__", &Handle::repr)
      .def("parameter_owners", &Handle::parameter_owners);
}

}  // namespace eqnn::python
