// eqnn._C: the Python binding of the C++ core. Groups, representations and Hom spaces are wrapped as
// read-only objects whose numbers come back as torch tensors; layers and models are wrapped as a handle
// (Handle) around the C++ torch::nn::Module that the Python classes in eqnn/nn.py mirror: every C++
// parameter is replaced by the nn.Parameter Python registers, so both sides use the same tensors. C++
// errors become Python exceptions with the same text, of classes that also subclass the builtin that fits
// (eqnn.ConfigError: ValueError, eqnn.UnknownNameError: KeyError, ...; see add_error_classes).
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>
#include <torch/nn/module.h>
#include <yaml-cpp/yaml.h>

#include "e_activation.hpp"
#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "e_norm.hpp"
#include "e_pooling.hpp"
#include "e_transformer_encoder_layer.hpp"
#include "eqnn/basis_fingerprint.hpp"
#include "eqnn/constrained_parameter.hpp"
#include "eqnn/error.hpp"
#include "eqnn/hom_space.hpp"
#include "eqnn/layer.hpp"
#include "eqnn/model.hpp"
#include "eqnn/registry.hpp"
#include "eqnn/rep_parser.hpp"
#include "eqnn/tensor_convert.hpp"
#include "eqnn/version.hpp"

namespace py = pybind11;

namespace eqnn::python {
namespace {

// ---- the process-wide registry: loaded once, never destroyed (plugins are never unloaded) ----

std::mutex registry_mutex;
Registry* registry_instance = nullptr;

Registry& registry() {
  std::lock_guard<std::mutex> lock(registry_mutex);
  if (!registry_instance) {
    auto* r = new Registry;  // deliberately leaked: plugin code must outlive every module
    r->load_default_plugins();
    registry_instance = r;
  }
  return *registry_instance;
}

// ---- errors ----

// The Python classes of eqnn's errors, made once by add_error_classes (the module keeps them alive).
struct ErrorClasses {
  PyObject* error = nullptr;         // eqnn::Error
  PyObject* config = nullptr;        // ConfigError
  PyObject* group = nullptr;         // GroupError
  PyObject* unknown_name = nullptr;  // LookupError (a registry lookup of an unknown name)
  PyObject* plugin = nullptr;        // PluginError
};
ErrorClasses error_classes;

py::object add_error_class(py::module_& m, const char* name, const std::vector<py::handle>& bases,
                           const char* doc) {
  py::tuple base_tuple(bases.size());
  for (size_t i = 0; i < bases.size(); ++i) base_tuple[i] = py::reinterpret_borrow<py::object>(bases[i]);
  py::dict ns;
  ns["__doc__"] = doc;
  const std::string qualified = std::string("eqnn.") + name;
  auto cls =
      py::reinterpret_steal<py::object>(PyErr_NewException(qualified.c_str(), base_tuple.ptr(), ns.ptr()));
  if (!cls) throw py::error_already_set();
  m.attr(name) = cls;
  return cls;
}

// eqnn.Error is a RuntimeError, as torch's errors are; each kind with a more fitting builtin subclasses it
// too, so `except KeyError` and `except ValueError` work as a Python user expects.
void add_error_classes(py::module_& m) {
  auto builtins = py::module_::import("builtins");
  py::object error =
      add_error_class(m, "Error", {PyExc_RuntimeError},
                      "Base of every eqnn error (a RuntimeError): files, checkpoints, training.");
  py::object config = add_error_class(m, "ConfigError", {error, PyExc_ValueError},
                                      "A model file, representation string or option that is not valid "
                                      "(a ValueError); the text is FILE:LINE:COL: error: ... when located.");
  py::object group = add_error_class(m, "GroupError", {error, PyExc_ValueError},
                                     "Group-theory input that is not valid (a ValueError): not a group, not "
                                     "orthogonal, representations of different groups.");
  py::object unknown =
      add_error_class(m, "UnknownNameError", {error, PyExc_KeyError},
                      "An unknown layer, group or constraint name (a KeyError, so a LookupError); "
                      "the text lists the known names and the nearest one.");
  // KeyError's str() is the repr() of its argument (quotes, escaped newlines): keep the message as it is.
  unknown.attr("__str__") = builtins.attr("BaseException").attr("__str__");
  py::object plugin = add_error_class(m, "PluginError", {error, PyExc_ImportError},
                                      "A plugin that could not be loaded or registered (an ImportError); the "
                                      "text names the file and the cause.");
  error_classes = {error.ptr(), config.ptr(), group.ptr(), unknown.ptr(), plugin.ptr()};
}

// ---- conversions ----

at::Tensor stack(const std::vector<Matrix>& ms, int64_t rows, int64_t cols) {
  if (ms.empty()) return at::zeros({0, rows, cols}, at::kDouble);
  std::vector<at::Tensor> ts;
  ts.reserve(ms.size());
  for (const auto& m : ms) ts.push_back(to_tensor(m));
  return at::stack(ts);
}

// Shared, immutable wrappers (pybind11 holders cannot point to const objects).
struct PyGroup {
  GroupPtr g;
};
struct PyRep {
  RepPtr r;
};
struct PyHom {
  HomSpacePtr h;
};
struct PyIrrep {
  GroupPtr g;  // keeps the irrep alive
  int index;
  const Irrep& get() const { return g->irreps().at(static_cast<size_t>(index)); }
};

std::string type_string(IrrepType t) { return std::string(1, type_letter(t)); }

void check_element(const Group& g, int element) {
  if (element < 0 || element >= g.order())
    throw py::index_error("group element " + std::to_string(element) + " is out of range: " + g.name() +
                          " has elements 0.." + std::to_string(g.order() - 1));
}

// ---- layer handles ----

// Access to torch::nn::Module's protected parameter dictionary, to swap in the Python nn.Parameter.
struct ModuleAccess : torch::nn::Module {
  static torch::OrderedDict<std::string, at::Tensor>& parameters(torch::nn::Module& m) {
    return m.*(&ModuleAccess::parameters_);
  }
};

/// A C++ module seen from Python: its forward, its parameters and buffers by dotted name, and a lock that
/// lets several threads run eval-mode inference at once (the layers' eval caches are filled by the first
/// call under an exclusive lock; later calls with unchanged parameters only read them).
class Handle {
 public:
  using Forward = std::function<at::Tensor(const at::Tensor&)>;
  Handle(std::shared_ptr<torch::nn::Module> module, Forward forward, RepPtr in, RepPtr out, std::string kind)
      : module_(std::move(module)),
        forward_(std::move(forward)),
        in_(std::move(in)),
        out_(std::move(out)),
        kind_(std::move(kind)) {
    // Which parameters are constraint coefficients, noted before Python swaps in its own tensors (the
    // constraint index knows only the tensors the layers registered).
    for (const auto& item : module_->named_parameters(/*recurse=*/true)) {
      if (auto c = ConstrainedParameter::constraint_of(item.value()))
        constraints_.emplace_back(item.key(), c);
    }
  }

  std::shared_ptr<EMultiheadAttentionImpl> mha;  // set for EMultiheadAttention
  std::shared_ptr<Model> model;                  // set for load_model
  std::shared_ptr<Layer> layer;                  // set for eqnn::Layer modules

  const std::string& kind() const { return kind_; }
  RepPtr in_rep() const { return in_; }
  RepPtr out_rep() const { return out_; }

  std::vector<std::pair<std::string, at::Tensor>> named_parameters() {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    return module_->named_parameters(/*recurse=*/true).pairs();
  }
  std::vector<std::pair<std::string, at::Tensor>> named_buffers() {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    return module_->named_buffers(/*recurse=*/true).pairs();
  }

  /// Makes `tensor` the C++ module's parameter `name` (dotted path).
  void set_parameter(const std::string& name, const at::Tensor& tensor) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    auto [owner, leaf] = find_owner(name);
    auto& params = ModuleAccess::parameters(*owner);
    at::Tensor* slot = params.find(leaf);
    TORCH_CHECK(slot != nullptr, "eqnn: the C++ module has no parameter '", name, "'");
    *slot = tensor;
    stamp_.clear();
  }
  /// Gives the C++ buffer `name` the data (device, dtype) of `tensor` (buffers keep their identity).
  void set_buffer_data(const std::string& name, const at::Tensor& tensor) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    auto [owner, leaf] = find_owner(name);
    auto buffers = owner->named_buffers(/*recurse=*/false);
    at::Tensor* slot = buffers.find(leaf);
    TORCH_CHECK(slot != nullptr, "eqnn: the C++ module has no buffer '", name, "'");
    slot->set_data(tensor);
    stamp_.clear();
  }

  void train(bool mode) {
    std::unique_lock<std::shared_mutex> lock(mutex_);
    module_->train(mode);
    stamp_.clear();
  }
  bool is_training() const { return module_->is_training(); }

  at::Tensor forward(const at::Tensor& x) {
    return run([&] { return forward_(x); });
  }

  std::tuple<at::Tensor, at::Tensor> attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                               const at::Tensor& key_padding_mask, bool need_weights,
                                               const at::Tensor& attn_mask, bool average_attn_weights) {
    TORCH_CHECK(mha != nullptr, "eqnn: not an attention module");
    return run([&] {
      return mha->forward(q, k, v, key_padding_mask, need_weights, attn_mask, average_attn_weights);
    });
  }

  /// ETransformerEncoderLayer's forward with the stock masks (undefined: none).
  at::Tensor encoder(const at::Tensor& src, const at::Tensor& src_mask,
                     const at::Tensor& src_key_padding_mask) {
    auto* encoder = dynamic_cast<ETransformerEncoderLayerImpl*>(layer.get());
    TORCH_CHECK(encoder != nullptr, "eqnn: not an eTransformerEncoderLayer");
    return run([&] { return encoder->forward(src, src_mask, src_key_padding_mask); });
  }

  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() {
    return run([&] {
      at::NoGradGuard no_grad;
      if (model) return model->effective_parameters();
      TORCH_CHECK(layer != nullptr, "eqnn: this module has no effective parameters");
      return layer->effective_parameters();
    });
  }

  /// (name, basis fingerprint, effective tensor expand(θ)) of every constrained parameter, for state_dict.
  std::vector<std::tuple<std::string, std::string, at::Tensor>> basis_records() {
    return run([&] {
      at::NoGradGuard no_grad;
      std::vector<std::tuple<std::string, std::string, at::Tensor>> out;
      for (const auto& [name, c] : constraints_)
        out.emplace_back(name, basis_fingerprint(*c), c->expand(parameter(name)).detach().contiguous());
      return out;
    });
  }

  /// The coefficients to load for saved constrained parameters (name, basis fingerprint, coefficients,
  /// effective tensor): fit_basis decides, as checkpoint loading does. Returns (name, coefficients,
  /// re-projected); throws Error naming the first parameter that cannot load, before anything changes.
  std::vector<std::tuple<std::string, at::Tensor, bool>> fit_saved(
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
          throw Error(fmt::format("{}: '{}' has shape {} in the state_dict but {} in this module", where,
                                  name, shape(coefficients.sizes()), shape(live.sizes())));
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

  std::vector<std::string> constrained_parameters() const {
    std::vector<std::string> names;
    for (const auto& entry : constraints_) names.push_back(entry.first);
    return names;
  }

  std::string repr() const {
    std::ostringstream os;
    module_->pretty_print(os);
    return os.str();
  }

 private:
  using Stamp = std::vector<std::tuple<const void*, const void*, uint32_t>>;

  std::pair<torch::nn::Module*, std::string> find_owner(const std::string& name) {
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

  // The parameter `name` (dotted) as the C++ module holds it now (Python's tensor once bound).
  at::Tensor parameter(const std::string& name) const {
    const auto params = module_->named_parameters(/*recurse=*/true);
    const at::Tensor* t = params.find(name);
    TORCH_CHECK(t != nullptr, "eqnn: the C++ module has no parameter '", name, "'");
    return *t;
  }

  // None when a parameter has no storage (a torch.func wrapper: vmap, grad, functional_call): such calls
  // neither use nor fill the eval caches.
  std::optional<Stamp> stamp() const {
    Stamp s;
    for (const auto& p : module_->parameters(/*recurse=*/true)) {
      if (!p.has_storage()) return std::nullopt;
      s.emplace_back(p.unsafeGetTensorImpl(), p.data_ptr(), p._version());
    }
    return s;
  }

  // Eval mode without grad: the layers only read their caches once they are filled, so threads share the
  // lock; the first call after any change fills them alone. Everything else runs alone.
  template <typename F>
  auto run(F&& f) -> decltype(f()) {
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

  std::shared_ptr<torch::nn::Module> module_;
  Forward forward_;
  RepPtr in_, out_;
  std::string kind_;
  mutable std::shared_mutex mutex_;
  Stamp stamp_;
  std::vector<std::pair<std::string, ConstraintPtr>> constraints_;  // constrained parameters, in order
};

std::shared_ptr<Handle> layer_handle(const std::shared_ptr<Layer>& layer, const std::string& kind) {
  auto h = std::make_shared<Handle>(
      layer, [layer](const at::Tensor& x) { return layer->forward(x); }, layer->in_rep(), layer->out_rep(),
      kind);
  h->layer = layer;
  return h;
}

// ---- layer options: the C++ Options are the one source of every default ----

// The options of a layer as a dict, without the representations and the registry (what a Python
// signature takes besides in_rep/out_rep).
py::dict options_dict(const ELinearOptions& o) {
  py::dict d;
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const EMultiheadAttentionOptions& o) {
  py::dict d;
  d["num_heads"] = o.num_heads();
  d["dropout"] = o.dropout();
  d["bias"] = o.bias();
  d["add_bias_kv"] = o.add_bias_kv();
  d["add_zero_attn"] = o.add_zero_attn();
  d["batch_first"] = o.batch_first();
  d["init_scheme"] = o.init_scheme();
  d["weight_constraint"] = o.weight_constraint();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const ETransformerEncoderLayerOptions& o) {
  py::dict d;
  d["num_heads"] = o.num_heads();
  d["dim_feedforward"] = o.dim_feedforward();
  d["dropout"] = o.dropout();
  d["activation"] = o.activation();
  d["layer_norm_eps"] = o.layer_norm_eps();
  d["batch_first"] = o.batch_first();
  d["norm_first"] = o.norm_first();
  d["bias"] = o.bias();
  d["init_scheme"] = o.init_scheme();
  return d;
}
py::dict options_dict(const ELayerNormOptions& o) {
  py::dict d;
  d["eps"] = o.eps();
  d["elementwise_affine"] = o.elementwise_affine();
  d["bias_constraint"] = o.bias_constraint();
  return d;
}
py::dict options_dict(const ERMSNormOptions& o) {
  py::dict d;
  d["eps"] = o.eps();
  d["elementwise_affine"] = o.elementwise_affine();
  return d;
}
py::dict options_dict(const EGELUOptions& o) {
  py::dict d;
  d["approximate"] = o.approximate();
  return d;
}
py::dict options_dict(const EPointwiseOptions& o) {
  py::dict d;
  d["function"] = o.function();
  d["approximate"] = o.approximate();
  d["negative_slope"] = o.negative_slope();
  return d;
}
template <typename Tag>
py::dict options_dict(const RepOptions<Tag>& /*options*/) {
  return {};
}

/// One layer type Python exposes as a class: its registry name, the options a default-constructed
/// Options object holds (without the required ones), and the options of a built module (nullopt when the
/// module is not of this type).
struct LayerOptionsEntry {
  const char* type;
  std::function<py::dict()> defaults;
  std::function<std::optional<py::dict>(const Layer&)> options;
};

template <typename Impl, typename Options>
LayerOptionsEntry entry(const char* type, Options defaults, std::vector<const char*> required = {}) {
  return {type,
          [defaults, required] {
            py::dict d = options_dict(defaults);
            for (const char* key : required) PyDict_DelItemString(d.ptr(), key);
            return d;
          },
          [](const Layer& layer) -> std::optional<py::dict> {
            const auto* impl = dynamic_cast<const Impl*>(&layer);
            if (!impl) return std::nullopt;
            return options_dict(impl->options);
          }};
}

const std::vector<LayerOptionsEntry>& layer_options_table() {
  static const std::vector<LayerOptionsEntry> table = {
      entry<ELinearImpl>("eLinear", ELinearOptions(nullptr, nullptr)),
      entry<EMultiheadAttentionImpl>("eMultiheadAttention", EMultiheadAttentionOptions(nullptr, 0),
                                     {"num_heads"}),
      entry<ETransformerEncoderLayerImpl>("eTransformerEncoderLayer",
                                          ETransformerEncoderLayerOptions(nullptr, 0), {"num_heads"}),
      entry<ELayerNormImpl>("eLayerNorm", ELayerNormOptions(nullptr)),
      entry<ERMSNormImpl>("eRMSNorm", ERMSNormOptions(nullptr)),
      entry<EReLUImpl>("eReLU", EReLUOptions(nullptr)),
      entry<EGELUImpl>("eGELU", EGELUOptions(nullptr)),
      entry<ESiLUImpl>("eSiLU", ESiLUOptions(nullptr)),
      entry<ETanhImpl>("eTanh", ETanhOptions(nullptr)),
      entry<EPointwiseImpl>("ePointwise", EPointwiseOptions(nullptr, ""), {"function"}),
      entry<EInvariantPoolImpl>("eInvariantPool", EInvariantPoolOptions(nullptr)),
      entry<ENormPoolImpl>("eNormPool", ENormPoolOptions(nullptr)),
  };
  return table;
}

/// The defaults of a default-constructed `type` Options object (required options left out).
py::dict layer_defaults(const std::string& type) {
  std::vector<std::string> known;
  std::string list;
  for (const auto& e : layer_options_table()) {
    if (type == e.type) return e.defaults();
    known.emplace_back(e.type);
    list += (list.empty() ? "" : ", ") + known.back();
  }
  auto near = did_you_mean(type, known);
  throw LookupError("eqnn.layer_defaults: no layer class for '" + type + "'" +
                    (near ? " (did you mean '" + *near + "'?)" : std::string()) + "; known: " + list);
}

/// The options a built layer holds, read from its C++ Options (None for a layer without a table entry).
std::optional<py::dict> layer_options(const Layer& layer) {
  for (const auto& e : layer_options_table())
    if (auto d = e.options(layer)) return d;
  return std::nullopt;
}

// ---- constructors ----

GroupPtr make_group(const py::object& spec) {
  if (py::isinstance<py::str>(spec)) {
    try {
      return registry().make_group(spec.cast<std::string>());
    } catch (const ConfigError& e) {
      // The registry reports an unknown group name or type as a ConfigError (in a model file it carries the
      // file:line:col); asked by name from Python it is an unknown name, so a KeyError as Python expects.
      if (e.line() == 0 && e.message().rfind("unknown group", 0) == 0) throw LookupError(e.message());
      throw;
    }
  }
  throw py::type_error("eqnn.group: expected a str spec (\"C8\", \"{type: DihedralGroup, n: 6}\"), got " +
                       std::string(py::str(spec.get_type())));
}

// Python passes None for an option the user did not give: the Options' default stays.
std::shared_ptr<Handle> make_linear(const PyRep& in, const PyRep& out, std::optional<bool> bias,
                                    std::optional<std::string> init_scheme,
                                    std::optional<std::string> weight_constraint,
                                    std::optional<std::string> bias_constraint) {
  ELinearOptions o(in.r, out.r);
  if (bias) o.bias(*bias);
  if (init_scheme) o.init_scheme(*init_scheme);
  if (weight_constraint) o.weight_constraint(*weight_constraint);
  if (bias_constraint) o.bias_constraint(*bias_constraint);
  o.registry(&registry());
  std::shared_ptr<ELinearImpl> impl;
  {
    py::gil_scoped_release no_gil;
    impl = std::make_shared<ELinearImpl>(o);
  }
  return layer_handle(impl, "ELinear");
}

std::shared_ptr<Handle> make_attention(const PyRep& in, int64_t num_heads, std::optional<double> dropout,
                                       std::optional<bool> bias, std::optional<bool> add_bias_kv,
                                       std::optional<bool> add_zero_attn, std::optional<bool> batch_first,
                                       std::optional<std::string> init_scheme,
                                       std::optional<std::string> weight_constraint,
                                       std::optional<std::string> bias_constraint) {
  EMultiheadAttentionOptions o(in.r, num_heads);
  if (dropout) o.dropout(*dropout);
  if (bias) o.bias(*bias);
  if (add_bias_kv) o.add_bias_kv(*add_bias_kv);
  if (add_zero_attn) o.add_zero_attn(*add_zero_attn);
  if (batch_first) o.batch_first(*batch_first);
  if (init_scheme) o.init_scheme(*init_scheme);
  if (weight_constraint) o.weight_constraint(*weight_constraint);
  if (bias_constraint) o.bias_constraint(*bias_constraint);
  o.registry(&registry());
  std::shared_ptr<EMultiheadAttentionImpl> impl;
  {
    py::gil_scoped_release no_gil;
    impl = std::make_shared<EMultiheadAttentionImpl>(o);
  }
  auto h = layer_handle(impl, "EMultiheadAttention");
  h->mha = impl;
  return h;
}

/// A layer from a registry factory: `kwargs_yaml` is a YAML mapping of its keyword arguments, in which
/// the strings in `rep_names` stand for the representations in `reps` (Python passes objects).
std::shared_ptr<Handle> make_layer(const std::string& type, const PyRep& in, const std::string& kwargs_yaml,
                                   const std::vector<std::string>& rep_names,
                                   const std::vector<PyRep>& reps) {
  const Registry& reg = registry();
  const LayerFactory& factory = reg.get_layer(type);
  LayerArgs args;
  args.group = in.r->group_ptr();
  args.in_rep = in.r;
  args.kwargs = YAML::Load(kwargs_yaml);
  if (!args.kwargs.IsMap()) args.kwargs = YAML::Node(YAML::NodeType::Map);
  args.registry = &reg;
  args.resolve_rep = [&](const YAML::Node& node) -> RepPtr {
    if (node.IsScalar()) {
      for (size_t i = 0; i < rep_names.size(); ++i)
        if (node.Scalar() == rep_names[i]) return reps[i].r;
      return parse_rep(args.group, node.Scalar());
    }
    throw ConfigError("expected a representation (an eqnn.Representation or a rep string), got " +
                      std::string(node.IsMap() ? "a mapping" : "a sequence"));
  };
  std::shared_ptr<Layer> layer;
  try {
    py::gil_scoped_release no_gil;
    layer = factory(args);
  } catch (const ConfigError& e) {
    // Locations would point into the generated YAML: keep the message alone, named after the layer.
    const std::string& message = e.message();
    throw ConfigError(message.rfind(type + ":", 0) == 0 ? message : type + ": " + message);
  }
  if (!layer) throw ConfigError(type + ": the layer factory returned nothing");
  return layer_handle(layer, type);
}

std::shared_ptr<Handle> load_model_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    py::object exc = err == ENOENT ? py::module_::import("builtins").attr("FileNotFoundError")
                                   : py::module_::import("builtins").attr("OSError");
    PyErr_SetObject(
        exc.ptr(),
        py::make_tuple(err, path + ": cannot open the model file: " + std::strerror(err), path).ptr());
    throw py::error_already_set();
  }
  const Registry& reg = registry();
  std::shared_ptr<Model> model;
  {
    py::gil_scoped_release no_gil;
    model = eqnn::load_model(reg, path);
  }
  auto h = std::make_shared<Handle>(
      model, [model](const at::Tensor& x) { return model->forward(x); }, model->input_rep(),
      model->output_rep(), "Model");
  h->model = model;
  return h;
}

}  // namespace
}  // namespace eqnn::python

PYBIND11_MODULE(_C, m) {
  using namespace eqnn;
  using namespace eqnn::python;
  m.doc() = "The C++ core of eqnn (use the eqnn package, not this module)";

  // Errors: eqnn's own classes with the C++ text (add_error_classes); c10 errors keep their Python types
  // without the C++ backtrace.
  add_error_classes(m);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ConfigError& e) {
      PyErr_SetString(error_classes.config, e.what());
    } catch (const GroupError& e) {
      PyErr_SetString(error_classes.group, e.what());
    } catch (const LookupError& e) {
      PyErr_SetString(error_classes.unknown_name, e.what());
    } catch (const PluginError& e) {
      PyErr_SetString(error_classes.plugin, e.what());
    } catch (const Error& e) {
      PyErr_SetString(error_classes.error, e.what());
    } catch (const c10::IndexError& e) {
      PyErr_SetString(PyExc_IndexError, e.what_without_backtrace());
    } catch (const c10::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what_without_backtrace());
    } catch (const c10::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what_without_backtrace());
    } catch (const c10::NotImplementedError& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what_without_backtrace());
    } catch (const c10::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what_without_backtrace());
    } catch (const YAML::Exception& e) {
      PyErr_SetString(error_classes.config, e.what());
    }
  });

  m.def("version", [] { return std::string(EQNN_VERSION_STRING); });
  m.def("plugins", [] {
    std::vector<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& p : registry().plugins()) out.emplace_back(p.name, p.version, p.file);
    return out;
  });
  m.def("shipped_plugin_directory", &Registry::shipped_plugin_directory);
  m.def("layer_types", [] { return registry().names(Kind::layer); });
  m.def("group_types", [] { return registry().names(Kind::group); });

  py::class_<PyIrrep>(m, "Irrep", "A real irreducible representation of a group (eqnn.Group.irreps).")
      .def_property_readonly("index", [](const PyIrrep& i) { return i.index; })
      .def_property_readonly("name", [](const PyIrrep& i) { return i.get().name; })
      .def_property_readonly("dim", [](const PyIrrep& i) { return i.get().dim; })
      .def_property_readonly(
          "type", [](const PyIrrep& i) { return type_string(i.get().type); },
          "'R', 'C' or 'H' (dim End_G = 1, 2, 4).")
      .def_property_readonly(
          "character",
          [](const PyIrrep& i) {
            const auto& c = i.get().character;
            return at::tensor(at::ArrayRef<double>(c), at::kDouble);
          },
          "(|G|,) float64.")
      .def_property_readonly(
          "matrices", [](const PyIrrep& i) { return stack(i.get().matrices, i.get().dim, i.get().dim); },
          "(|G|, dim, dim) float64, orthogonal.")
      .def_property_readonly(
          "endomorphism_basis",
          [](const PyIrrep& i) { return stack(i.get().endomorphism_basis, i.get().dim, i.get().dim); },
          "(S, dim, dim) float64: a Frobenius-orthogonal basis of End_G(psi), the first the identity.")
      .def("__repr__", [](const PyIrrep& i) {
        return "Irrep(" + i.get().name + ", dim=" + std::to_string(i.get().dim) +
               ", type=" + type_string(i.get().type) + ")";
      });

  py::class_<PyGroup>(m, "Group", "A finite group (eqnn.group(spec)): elements 0..order-1, 0 the identity.")
      .def_property_readonly("name", [](const PyGroup& g) { return g.g->name(); })
      .def_property_readonly("order", [](const PyGroup& g) { return g.g->order(); })
      .def_property_readonly(
          "cayley_table",
          [](const PyGroup& g) {
            const int n = g.g->order();
            at::Tensor t = at::empty({n, n}, at::kLong);
            auto a = t.accessor<int64_t, 2>();
            for (int i = 0; i < n; ++i)
              for (int j = 0; j < n; ++j) a[i][j] = g.g->mul(i, j);
            return t;
          },
          "(|G|, |G|) int64: table[a, b] = index of a*b; element 0 is the identity.")
      .def_property_readonly("inverses",
                             [](const PyGroup& g) {
                               std::vector<int64_t> v;
                               for (int i = 0; i < g.g->order(); ++i) v.push_back(g.g->inv(i));
                               return at::tensor(v, at::kLong);
                             })
      .def_property_readonly(
          "generators",
          [](const PyGroup& g) {
            std::vector<int64_t> v(g.g->generators().begin(), g.g->generators().end());
            return at::tensor(v, at::kLong);
          },
          "Element indices of the generators (int64).")
      .def_property_readonly(
          "irreps",
          [](const PyGroup& g) {
            std::vector<PyIrrep> out;
            {
              py::gil_scoped_release no_gil;
              g.g->irreps();
            }
            for (size_t k = 0; k < g.g->irreps().size(); ++k) out.push_back({g.g, static_cast<int>(k)});
            return out;
          },
          "The real irreps; irrep 0 is trivial.")
      .def_property_readonly(
          "actions",
          [](const PyGroup& g) {
            std::vector<std::string> v;
            for (const auto& a : g.g->actions()) v.push_back(a.name);
            return v;
          },
          "Names usable in permutation(NAME).")
      .def("conjugacy_classes", [](const PyGroup& g) { return g.g->conjugacy_classes(); })
      // Content, never the hash alone: two groups whose 64-bit hashes collide are still told apart.
      .def(
          "__eq__", [](const PyGroup& a, const PyGroup& b) { return a.g->same_content(*b.g); },
          py::is_operator())
      .def("__hash__", [](const PyGroup& g) { return static_cast<py::ssize_t>(g.g->content_hash() >> 1); })
      .def("__repr__", [](const PyGroup& g) {
        return "Group(" + g.g->name() + ", order=" + std::to_string(g.g->order()) + ")";
      });

  py::class_<PyRep>(m, "Representation",
                    "A representation of a group (eqnn.rep(G, text)): rho(g) = Q (+)_k psi_k(g) Q^T.")
      .def_property_readonly("group", [](const PyRep& r) { return PyGroup{r.r->group_ptr()}; })
      .def_property_readonly("size", [](const PyRep& r) { return r.r->size(); })
      .def_property_readonly("name", [](const PyRep& r) { return r.r->describe(); })
      .def_property_readonly("is_permutation", [](const PyRep& r) { return r.r->is_permutation(); })
      .def_property_readonly("has_permutation_structure",
                             [](const PyRep& r) { return r.r->has_permutation_structure(); })
      .def_property_readonly(
          "irreps", [](const PyRep& r) { return r.r->irreps(); },
          "Irrep indices in the order of the change of basis' column blocks.")
      .def_property_readonly("multiplicities", [](const PyRep& r) { return r.r->multiplicities(); })
      .def_property_readonly(
          "change_of_basis", [](const PyRep& r) { return to_tensor(r.r->Q()); },
          "Q (float64, orthogonal): rho(g) = Q (+)_k psi_k(g) Q^T.")
      .def(
          "matrix",
          [](const PyRep& r, int g) {
            check_element(r.r->group(), g);
            return to_tensor(r.r->matrix(g));
          },
          py::arg("g"), "rho(g) (size, size) float64.")
      .def(
          "matrices",
          [](const PyRep& r) {
            std::vector<Matrix> ms;
            for (int g = 0; g < r.r->group().order(); ++g) ms.push_back(r.r->matrix(g));
            return stack(ms, r.r->size(), r.r->size());
          },
          "(|G|, size, size) float64.")
      .def(
          "character",
          [](const PyRep& r, int g) {
            check_element(r.r->group(), g);
            return r.r->character(g);
          },
          py::arg("g"))
      .def(
          "__eq__", [](const PyRep& a, const PyRep& b) { return a.r->same_content(*b.r); }, py::is_operator())
      .def("__hash__", [](const PyRep& r) { return static_cast<py::ssize_t>(r.r->content_hash() >> 1); })
      .def("__repr__", [](const PyRep& r) {
        return "Representation(" + r.r->group().name() + ", \"" + r.r->describe() +
               "\", size=" + std::to_string(r.r->size()) + ")";
      });

  py::class_<PyHom>(
      m, "HomSpace",
      "Hom_G(in_rep, out_rep): the linear maps W (out.size x in.size) with rho_out(g) W = W rho_in(g).")
      .def_property_readonly("in_rep", [](const PyHom& h) { return PyRep{h.h->in()}; })
      .def_property_readonly("out_rep", [](const PyHom& h) { return PyRep{h.h->out()}; })
      .def_property_readonly("dim", [](const PyHom& h) { return h.h->dim(); })
      .def_property_readonly(
          "method", [](const PyHom& h) { return h.h->method_name(); }, "'orbit' or 'isotypic'.")
      .def(
          "expand",
          [](const PyHom& h, const at::Tensor& c) {
            TORCH_CHECK(c.dim() >= 1 && c.size(-1) == h.h->dim(),
                        "HomSpace.expand: expected coefficients (..., ", h.h->dim(), "), got ", c.sizes());
            py::gil_scoped_release no_gil;
            return h.h->expand(c);
          },
          py::arg("coefficients"), "(..., dim) -> (..., out.size, in.size); differentiable.")
      .def(
          "analyse",
          [](const PyHom& h, const at::Tensor& w) {
            TORCH_CHECK(w.dim() >= 2 && w.size(-2) == h.h->out()->size() && w.size(-1) == h.h->in()->size(),
                        "HomSpace.analyse: expected (..., ", h.h->out()->size(), ", ", h.h->in()->size(),
                        "), got ", w.sizes());
            py::gil_scoped_release no_gil;
            return h.h->analyse(w);
          },
          py::arg("W"), "(..., out.size, in.size) -> (..., dim); expand(analyse(W)) = project(W).")
      .def(
          "project",
          [](const PyHom& h, const at::Tensor& w) {
            TORCH_CHECK(w.dim() >= 2 && w.size(-2) == h.h->out()->size() && w.size(-1) == h.h->in()->size(),
                        "HomSpace.project: expected (..., ", h.h->out()->size(), ", ", h.h->in()->size(),
                        "), got ", w.sizes());
            py::gil_scoped_release no_gil;
            return h.h->project(w);
          },
          py::arg("W"), "Orthogonal (Frobenius) projection onto Hom_G.")
      .def(
          "basis",
          [](const PyHom& h, at::ScalarType dtype) {
            py::gil_scoped_release no_gil;
            return h.h->expand(at::eye(h.h->dim(), at::TensorOptions().dtype(dtype)));
          },
          py::arg("dtype") = at::kDouble,
          "(dim, out.size, in.size): expand() of the unit coefficient vectors.")
      .def("__repr__", [](const PyHom& h) {
        return "HomSpace(" + h.h->in()->describe() + " -> " + h.h->out()->describe() +
               ", dim=" + std::to_string(h.h->dim()) + ", method=" + h.h->method_name() + ")";
      });

  m.def(
      "group", [](const py::object& spec) { return PyGroup{make_group(spec)}; }, py::arg("spec"));
  m.def(
      "rep", [](const PyGroup& g, const std::string& text) { return PyRep{parse_rep(g.g, text)}; },
      py::arg("group"), py::arg("text"));
  m.def(
      "hom",
      [](const PyRep& in, const PyRep& out) {
        if (!in.r->group().same_content(out.r->group()))
          throw GroupError("eqnn.hom: the representations belong to different groups (" +
                           in.r->group().name() + " and " + out.r->group().name() + ")");
        py::gil_scoped_release no_gil;
        return PyHom{HomSpace::get(in.r, out.r)};
      },
      py::arg("in_rep"), py::arg("out_rep"));

  m.def(
      "equivariance_error",
      [](const py::function& f, const PyRep& in, const PyRep& out, at::ScalarType dtype,
         const std::vector<int64_t>& shape, uint64_t seed) {
        if (!in.r->group().same_content(out.r->group()))
          throw GroupError("check_equivariance: in_rep is a representation of " + in.r->group().name() +
                           " and out_rep of " + out.r->group().name() +
                           "; both must belong to the same group");
        // `f` is Python: it runs with the GIL this thread holds (exceptions it raises come back as they
        // were).
        const EquivarianceResult r = equivariance_error(
            [&f](const at::Tensor& x) { return f(x).cast<at::Tensor>(); }, in.r, out.r, dtype, shape, seed);
        return py::make_tuple(r.max_error, r.worst_element, r.note);
      },
      py::arg("f"), py::arg("in_rep"), py::arg("out_rep"), py::arg("dtype"), py::arg("shape"),
      py::arg("seed"));

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
          "encoder",
          [](Handle& h, const at::Tensor& src, const std::optional<at::Tensor>& src_mask,
             const std::optional<at::Tensor>& src_key_padding_mask) {
            return h.encoder(src, src_mask.value_or(at::Tensor()),
                             src_key_padding_mask.value_or(at::Tensor()));
          },
          py::arg("src"), py::arg("src_mask"), py::arg("src_key_padding_mask"))
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
      .def("__repr__", &Handle::repr);

  m.def("make_linear", &make_linear, py::arg("in_rep"), py::arg("out_rep"), py::arg("bias") = py::none(),
        py::arg("init_scheme") = py::none(), py::arg("weight_constraint") = py::none(),
        py::arg("bias_constraint") = py::none());
  m.def("make_attention", &make_attention, py::arg("in_rep"), py::arg("num_heads"),
        py::arg("dropout") = py::none(), py::arg("bias") = py::none(), py::arg("add_bias_kv") = py::none(),
        py::arg("add_zero_attn") = py::none(), py::arg("batch_first") = py::none(),
        py::arg("init_scheme") = py::none(), py::arg("weight_constraint") = py::none(),
        py::arg("bias_constraint") = py::none());
  m.def("layer_defaults", &layer_defaults, py::arg("type"),
        "The defaults of the layer's C++ Options (required options left out): the one source of every "
        "default.");
  m.def("make_layer", &make_layer);
  m.def("load_model", &load_model_file, py::arg("path"));
  m.def(
      "ring_task",
      [](int64_t n, uint64_t seed, int64_t train_size, int64_t test_size, int64_t window) {
        TORCH_CHECK(n >= 3 && train_size >= 1 && test_size >= 1 && window >= 1,
                    "eqnn.datasets.oscillator_ring: expected n >= 3 and positive sizes, got n=", n,
                    ", train_size=", train_size, ", test_size=", test_size, ", window=", window);
        std::unique_ptr<Task> task;
        {
          py::gil_scoped_release no_gil;
          task = make_ring_task(n, seed, train_size, test_size, window);
        }
        const TaskData& d = task->data();
        return py::make_tuple(d.train_x, d.train_y, d.test_x, d.test_y);
      },
      py::arg("n"), py::arg("seed"), py::arg("train_size"), py::arg("test_size"), py::arg("window"));
}
