// The layer factories of eqnn.nn: eLinear and eMultiheadAttention from their C++ Options (an option passed as
// None keeps the Options' default), any other registered layer from its registry factory and keyword
// arguments, each returned as a module handle; and layer_defaults, the defaults they use.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <yaml-cpp/yaml.h>

#include "bindings.hpp"
#include "e_affine.hpp"
#include "e_linear.hpp"
#include "e_multihead_attention.hpp"
#include "eqnn/group_theory/rep_parser.hpp"
#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/util/error.hpp"
#include "group_theory_objects.hpp"
#include "layer_options_table.hpp"
#include "module_handle.hpp"
#include "plugin_registry.hpp"

namespace eqnn::python {
namespace {

std::shared_ptr<Handle> layer_handle(const std::shared_ptr<Layer>& layer, const std::string& kind) {
  auto h = std::make_shared<Handle>(
      layer, [layer](const at::Tensor& x) { return layer->forward(x); }, layer->in_rep(), layer->out_rep(),
      kind);
  h->layer = layer;
  return h;
}

// Python passes None for an option the user did not give: the Options' default stays.
std::shared_ptr<Handle> make_linear(const PyRep& in, const PyRep& out, std::optional<bool> bias,
                                    std::optional<std::string> init_scheme,
                                    std::optional<std::string> weight_constraint,
                                    std::optional<std::string> bias_constraint,
                                    std::optional<std::string> execution) {
  ELinearOptions o(in.r, out.r);
  if (execution) o.execution(*execution);
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

std::shared_ptr<Handle> make_affine(const PyRep& in, std::optional<bool> bias, std::optional<bool> learnable,
                                    std::optional<std::string> bias_constraint) {
  EAffineOptions o(in.r);
  if (bias) o.bias(*bias);
  if (learnable) o.learnable(*learnable);
  if (bias_constraint) o.bias_constraint(*bias_constraint);
  o.registry(&registry());
  std::shared_ptr<EAffineImpl> impl;
  {
    py::gil_scoped_release no_gil;
    impl = std::make_shared<EAffineImpl>(o);
  }
  return layer_handle(impl, "EAffine");
}

std::shared_ptr<Handle> make_attention(const PyRep& in, int64_t num_heads, std::optional<double> dropout,
                                       std::optional<bool> bias, std::optional<bool> add_bias_kv,
                                       std::optional<bool> add_zero_attn, std::optional<bool> batch_first,
                                       std::optional<std::string> init_scheme,
                                       std::optional<std::string> weight_constraint,
                                       std::optional<std::string> bias_constraint,
                                       std::optional<std::string> execution) {
  EMultiheadAttentionOptions o(in.r, num_heads);
  if (execution) o.execution(*execution);
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

}  // namespace

void bind_layer_factories(py::module_& m) {
  m.def("make_linear", &make_linear, py::arg("in_rep"), py::arg("out_rep"), py::arg("bias") = py::none(),
        py::arg("init_scheme") = py::none(), py::arg("weight_constraint") = py::none(),
        py::arg("bias_constraint") = py::none(), py::arg("execution") = py::none());
  m.def("make_affine", &make_affine, py::arg("in_rep"), py::arg("bias") = py::none(),
        py::arg("learnable") = py::none(), py::arg("bias_constraint") = py::none());
  m.def("make_attention", &make_attention, py::arg("in_rep"), py::arg("num_heads"),
        py::arg("dropout") = py::none(), py::arg("bias") = py::none(), py::arg("add_bias_kv") = py::none(),
        py::arg("add_zero_attn") = py::none(), py::arg("batch_first") = py::none(),
        py::arg("init_scheme") = py::none(), py::arg("weight_constraint") = py::none(),
        py::arg("bias_constraint") = py::none(), py::arg("execution") = py::none());
  m.def("layer_defaults", &layer_defaults, py::arg("type"),
        "The defaults of the layer's C++ Options (required options left out): the one source of every "
        "default.");
  m.def("make_layer", &make_layer);
}

}  // namespace eqnn::python
