// Checkpoints (checkpoint.hpp): a pickled dict of the model's tensors, its description and the basis of
// every constrained parameter, written and read through tensor_file.hpp.
#include "eqnn/model/checkpoint.hpp"

#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/model/internal/ivalue_dict.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/nn/basis_fingerprint.hpp"
#include "eqnn/nn/constrained_parameter.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/registry/version.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {
namespace {

constexpr const char* kFormat = "eqnn-checkpoint";
// 2: records the basis fingerprint and the effective tensor of every constrained parameter (loading
//    re-projects or refuses when the bases differ). 1: coefficients only; refused (see open_checkpoint).
constexpr int64_t kFormatVersion = 2;

std::string shape_of(const at::Tensor& t) { return fmt::format("[{}]", fmt::join(t.sizes(), ", ")); }

std::string checkpoint_label(const std::string& path) { return fmt::format("checkpoint '{}'", path); }

// Checks that `stored` has exactly the tensors of `live` (same names, same shapes), naming the first
// mismatch.
void check_entries(const std::string& what, const std::vector<std::pair<std::string, at::Tensor>>& live,
                   const c10::impl::GenericDict& stored, const std::string& path, const std::string& model) {
  for (const auto& [name, tensor] : live) {
    auto found = stored.find(name);
    if (found == stored.end()) {
      throw Error(
          fmt::format("checkpoint '{}' does not fit model '{}': {} '{}' (shape {}) is missing from the "
                      "checkpoint",
                      path, model, what, name, shape_of(tensor)));
    }
    const at::Tensor value =
        detail::tensor_value(found->value(), checkpoint_label(path), fmt::format("{} '{}'", what, name));
    if (value.sizes() != tensor.sizes()) {
      throw Error(
          fmt::format("checkpoint '{}' does not fit model '{}': {} '{}' has shape {} in the checkpoint "
                      "but {} in the model",
                      path, model, what, name, shape_of(value), shape_of(tensor)));
    }
  }
  for (const auto& entry : stored) {
    const std::string name = entry.key().toStringRef();
    bool known = false;
    for (const auto& item : live) known = known || item.first == name;
    if (!known) {
      throw Error(fmt::format(
          "checkpoint '{}' does not fit model '{}': the checkpoint has {} '{}' (shape {}) "
          "that the model does not have",
          path, model, what, name, entry.value().isTensor() ? shape_of(entry.value().toTensor()) : "?"));
    }
  }
}

// Copies `stored` into `live` (checked by check_entries).
void restore(const std::string& what, const std::vector<std::pair<std::string, at::Tensor>>& live,
             const c10::impl::GenericDict& stored, const std::string& path, const std::string& model) {
  check_entries(what, live, stored, path, model);
  torch::NoGradGuard no_grad;
  for (const auto& [name, tensor] : live) {
    at::Tensor t = tensor;  // copy_ bumps the version counter, so cached expansions are invalidated
    t.copy_(stored.at(name).toTensor());
  }
}

// Opens and checks the header; `current` also requires this eqnn's format version (loading weights),
// while reading the stored model text works for every version.
c10::impl::GenericDict open_checkpoint(const std::string& path, bool current = true) {
  at::IValue value = load_pickle_file(path, "checkpoint");
  if (!value.isGenericDict()) throw Error(fmt::format("'{}' is not an eqnn checkpoint (not a dict)", path));
  auto dict = value.toGenericDict();
  auto format = dict.find("format");
  if (format == dict.end() || !format->value().isString() || format->value().toStringRef() != kFormat) {
    throw Error(fmt::format("'{}' is not an eqnn checkpoint (no 'format: {}' entry)", path, kFormat));
  }
  auto version = dict.find("format_version");
  if (version == dict.end() || !version->value().isInt()) {
    throw Error(
        fmt::format("checkpoint '{}' has no integer 'format_version' entry (truncated or not written by "
                    "eqnn?); this eqnn reads format version {}",
                    path, kFormatVersion));
  }
  const int64_t v = version->value().toInt();
  if (current && v < kFormatVersion) {
    throw Error(fmt::format(
        "checkpoint '{}' has format version {}, which this eqnn does not load: format version 1 stored "
        "constraint coefficients without the bases they are coordinates in, so loading them could silently "
        "change the model's function (another eqnn build or model file may derive other bases). This eqnn "
        "reads format version {}, which records the bases and the effective weights; re-create the "
        "checkpoint with this eqnn (eqnn train MODEL --out CKPT), or keep using the eqnn that wrote it",
        path, v, kFormatVersion));
  }
  if (v > kFormatVersion) {
    throw Error(
        fmt::format("checkpoint '{}' has format version {}, newer than this eqnn reads ({}); load it "
                    "with a newer eqnn",
                    path, v, kFormatVersion));
  }
  std::vector<const char*> required = {"parameters", "buffers", "model"};
  if (current) {
    required.push_back("bases");
    required.push_back("effective");
  }
  for (const char* key : required) detail::required_entry(dict, key, checkpoint_label(path));
  return dict;
}

std::vector<std::pair<std::string, at::Tensor>> items(const torch::OrderedDict<std::string, at::Tensor>& d) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : d) out.emplace_back(item.key(), item.value());
  return out;
}

// ---- format version 2: bases and effective weights of constrained parameters ----

// "layer layers.1.block.0 (eMultiheadAttention)": the deepest layer whose path prefixes the parameter.
std::string layer_of(const Model& model, const std::string& parameter) {
  const ModelLayerInfo* best = nullptr;
  for (const auto& info : model.layer_infos()) {
    if (parameter.rfind(info.path + ".", 0) == 0 && (best == nullptr || info.path.size() > best->path.size()))
      best = &info;
  }
  return best ? fmt::format("layer {} ({})", best->path, best->type) : std::string("the model");
}

// Adds, for every constrained parameter, its basis fingerprint ("bases") and its effective tensor
// expand(θ) ("effective"): what a loader needs to tell whether the coefficients mean the same weights.
void add_basis_records(c10::impl::GenericDict& dict, Model& model) {
  torch::NoGradGuard no_grad;
  c10::Dict<std::string, std::string> bases;
  c10::Dict<std::string, at::Tensor> effective;
  for (const auto& item : model.named_parameters()) {
    const ConstraintPtr c = ConstrainedParameter::constraint_of(item.value());
    if (!c) continue;
    bases.insert(item.key(), basis_fingerprint(*c));
    effective.insert(item.key(), c->expand(item.value()).detach().contiguous());
  }
  dict.insert("bases", bases);
  dict.insert("effective", effective);
}

c10::impl::GenericDict dict_entry(const c10::impl::GenericDict& dict, const std::string& key,
                                  const std::string& path) {
  return detail::dict_entry(dict, key, checkpoint_label(path), "must be a dict");
}

at::Tensor tensor_entry(const c10::impl::GenericDict& dict, const std::string& key, const std::string& what,
                        const std::string& path) {
  return detail::tensor_value(dict.at(key), checkpoint_label(path), fmt::format("{} '{}'", what, key));
}

// The value every parameter of `model` gets from the checkpoint, all checked before anything is copied.
// A constrained parameter whose basis fingerprint matches takes the stored coefficients; otherwise its
// stored effective tensor is re-projected onto this model's basis, accepted only when the projection
// reproduces it to kReprojectionTolerance (the weight is then equivariant for this model, and the
// function is unchanged); else loading is refused naming the layer.
std::vector<std::pair<at::Tensor, at::Tensor>> plan_parameters(Model& model,
                                                               const c10::impl::GenericDict& dict,
                                                               const std::string& path,
                                                               CheckpointInfo& info) {
  torch::NoGradGuard no_grad;
  const auto stored = dict_entry(dict, "parameters", path);
  const auto bases = dict_entry(dict, "bases", path);
  const auto effective = dict_entry(dict, "effective", path);
  const std::string fits = fmt::format("checkpoint '{}' does not fit model '{}'", path, model.name());
  std::vector<std::pair<at::Tensor, at::Tensor>> plan;
  for (const auto& [name, tensor] : items(model.named_parameters())) {
    const ConstraintPtr c = ConstrainedParameter::constraint_of(tensor);
    const auto recorded = bases.find(name);
    if (stored.find(name) == stored.end()) {
      throw Error(fmt::format("{}: parameter '{}' (shape {}) is missing from the checkpoint", fits, name,
                              shape_of(tensor)));
    }
    if (!c) {
      if (recorded != bases.end()) {
        throw Error(
            fmt::format("{}: {}: '{}' holds constraint coefficients in the checkpoint ({}), but is a "
                        "plain parameter in this model",
                        fits, layer_of(model, name), name, recorded->value().toStringRef()));
      }
      const at::Tensor value = tensor_entry(stored, name, "parameter", path);
      if (value.sizes() != tensor.sizes()) {
        throw Error(fmt::format("{}: parameter '{}' has shape {} in the checkpoint but {} in the model", fits,
                                name, shape_of(value), shape_of(tensor)));
      }
      plan.emplace_back(tensor, value);
      continue;
    }
    const std::string where = fmt::format("{}: {}", fits, layer_of(model, name));
    if (recorded == bases.end() || !recorded->value().isString() || effective.find(name) == effective.end()) {
      throw Error(
          fmt::format("{}: the checkpoint has no basis record for '{}' (the model holds it as {} "
                      "coefficients)",
                      where, name, c->name()));
    }
    const std::string saved_basis = recorded->value().toStringRef();
    const at::Tensor weight = tensor_entry(effective, name, "effective tensor", path);
    if (weight.sizes() != at::IntArrayRef(c->shape())) {
      throw Error(fmt::format("{}: parameter '{}' expands to shape {} in the checkpoint but {} in the model",
                              where, name, shape_of(weight),
                              fmt::format("[{}]", fmt::join(c->shape(), ", "))));
    }
    const BasisFit fit = fit_basis(*c, saved_basis, tensor_entry(stored, name, "parameter", path), weight);
    switch (fit.kind) {
      case BasisFit::Kind::same_basis:
        plan.emplace_back(tensor, fit.coefficients);
        continue;
      case BasisFit::Kind::wrong_shape:
        throw Error(fmt::format("{}: parameter '{}' has shape {} in the checkpoint but {} in the model", fits,
                                name, shape_of(tensor_entry(stored, name, "parameter", path)),
                                shape_of(tensor)));
      case BasisFit::Kind::inconsistent:
        // A damaged file would otherwise load silently: the zip container does not check its data.
        throw Error(
            fmt::format("checkpoint '{}' is not readable (truncated or corrupt?): the stored coefficients "
                        "of '{}' do not expand to the effective weight stored next to them",
                        path, name));
      case BasisFit::Kind::not_equivariant:
        throw Error(fmt::format(
            "{}: '{}' was saved in another basis (checkpoint: {}; this model: {}), and its weight {} is not "
            "equivariant for this model: re-projecting it leaves a relative error of {:.2e}, above the {:g} "
            "loading accepts. The model's group or representations differ from the ones it was trained with; "
            "loading would change its function. Load it into the model text stored in the checkpoint",
            where, name, saved_basis, fit.live_basis, shape_of(weight), fit.residual,
            kReprojectionTolerance));
      case BasisFit::Kind::reprojected:
        break;
    }
    plan.emplace_back(tensor, fit.coefficients);
    info.reprojected.push_back(name);
  }
  const auto live = model.named_parameters();
  for (const auto& entry : stored) {
    const std::string name = entry.key().toStringRef();
    if (live.find(name) == nullptr) {
      throw Error(fmt::format("{}: the checkpoint has parameter '{}' (shape {}) that the model does not have",
                              fits, name,
                              entry.value().isTensor() ? shape_of(entry.value().toTensor()) : "?"));
    }
  }
  return plan;
}

}  // namespace

void save_checkpoint(Model& model, const Registry& registry, const std::string& path,
                     const CheckpointInfo& info) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::AnyType::get());
  dict.insert("format", kFormat);
  dict.insert("format_version", kFormatVersion);
  dict.insert("eqnn_version", version());
  dict.insert("model", model.source());
  dict.insert("model_name", model.name());
  c10::Dict<std::string, std::string> plugins;
  for (const auto& plugin : registry.plugins()) plugins.insert(plugin.name, plugin.version);
  dict.insert("plugins", plugins);
  dict.insert("parameters", detail::tensor_dict(items(model.named_parameters())));
  dict.insert("buffers", detail::tensor_dict(items(model.named_buffers())));
  add_basis_records(dict, model);
  dict.insert("step", info.step);
  dict.insert("task", info.task);
  c10::Dict<std::string, double> metrics;
  for (const auto& [k, v] : info.metrics) metrics.insert(k, v);
  dict.insert("metrics", metrics);
  if (!info.training.isNone()) dict.insert("training", info.training);  // training.cpp: optimiser + step
  save_pickle_file(dict, path);
}

CheckpointInfo load_checkpoint(Model& model, const std::string& path) {
  auto dict = open_checkpoint(path);
  const auto buffers = dict.at("buffers");
  if (!buffers.isGenericDict()) {
    throw Error(fmt::format("checkpoint '{}': 'parameters' and 'buffers' must be dicts of tensors", path));
  }
  CheckpointInfo info;
  // Every check (parameters, then buffers) happens before the first copy: a refused load changes nothing.
  const auto parameters = plan_parameters(model, dict, path, info);
  check_entries("buffer", items(model.named_buffers()), buffers.toGenericDict(), path, model.name());
  {
    torch::NoGradGuard no_grad;
    for (const auto& [target, value] : parameters) {
      at::Tensor t = target;  // copy_ bumps the version counter, so cached expansions are invalidated
      t.copy_(value);
    }
  }
  restore("buffer", items(model.named_buffers()), buffers.toGenericDict(), path, model.name());
  if (auto it = dict.find("step"); it != dict.end() && it->value().isInt()) info.step = it->value().toInt();
  if (auto it = dict.find("task"); it != dict.end() && it->value().isString())
    info.task = it->value().toStringRef();
  if (auto it = dict.find("metrics"); it != dict.end() && it->value().isGenericDict()) {
    for (const auto& m : it->value().toGenericDict()) {
      if (m.value().isDouble()) info.metrics[m.key().toStringRef()] = m.value().toDouble();
    }
  }
  if (auto it = dict.find("training"); it != dict.end()) info.training = it->value();
  return info;
}

std::string checkpoint_source(const std::string& path) {
  auto dict = open_checkpoint(path, /*current=*/false);
  const auto model = dict.at("model");
  if (!model.isString()) throw Error(fmt::format("checkpoint '{}': 'model' is not a string", path));
  return model.toStringRef();
}

}  // namespace eqnn
