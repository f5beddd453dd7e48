// Models described in YAML: the builder that turns a description into a stack of eqnn::Layer modules
// (tracking the representation that flows between them) and the Sequential/Residual blocks. Saving a
// model is in checkpoint.hpp and export_weights.hpp, checking it in equivariance_check.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/representation.hpp"
#include "eqnn/nn/extra_inputs.hpp"
#include "eqnn/nn/layer.hpp"

namespace eqnn {

class Registry;

/// A block of layers applied in order (`type: Sequential`) or as x + f(x) (`type: Residual`). Its
/// sub-layers are registered under `block.0`, `block.1`, ...
class BlockLayer : public Layer {
 public:
  enum class Kind { sequential, residual };
  BlockLayer(Kind kind, std::vector<LayerPtr> layers, std::vector<std::string> types, RepPtr in, RepPtr out);
  at::Tensor forward(const at::Tensor& x) override;
  RepPtr in_rep() const override { return in_; }
  RepPtr out_rep() const override { return out_; }
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters() override;
  int64_t unconstrained_parameter_count() override;
  Kind kind() const { return kind_; }
  const std::vector<LayerPtr>& layers() const { return layers_; }
  const std::vector<std::string>& types() const { return types_; }

 private:
  Kind kind_;
  std::vector<LayerPtr> layers_;
  std::vector<std::string> types_;
  RepPtr in_, out_;
  torch::nn::ModuleList list_;
};

/// One layer of a model as `eqnn describe` and `eqnn check` list it (blocks and their contents).
struct ModelLayerInfo {
  std::string path;  ///< "layers.0", "layers.1.block.0", ...
  std::string type;  ///< registry key, "Sequential" or "Residual"
  int depth = 0;     ///< 0 for top-level layers
  LayerPtr layer;
  int64_t in_size = 0, out_size = 0;
  YAML::Node kwargs;  ///< the keyword arguments the factory got (empty for blocks)
};

/// A stack of layers built from a YAML model description. forward takes (batch, features) or
/// (batch, seq, features).
///
///   eqnn::Registry registry;
///   registry.load_default_plugins();
///   auto model = eqnn::load_model(registry, "examples/models/d4_mlp.yaml");
///   at::Tensor y = model->forward(at::randn({16, model->input_size()}));
class Model : public torch::nn::Module {
 public:
  Model();
  at::Tensor forward(const at::Tensor& x);
  /// x and the extra inputs of the first layer (a step, conditioning; see extra_inputs()), in its order.
  at::Tensor forward(const at::Tensor& x, const std::vector<at::Tensor>& extra);
  /// What the model takes besides x: its first layer's extra inputs (ExtraInputs), else none.
  std::vector<ExtraInput> extra_inputs() const;

  const GroupPtr& group() const { return group_; }
  const RepPtr& input_rep() const { return input_; }
  /// The representation of the output: the `output:` key, else the last layer's, else null (unknown).
  const RepPtr& output_rep() const { return output_; }
  int64_t input_size() const { return input_->size(); }
  int64_t output_size() const { return output_size_; }
  /// Named representations of the description (`reps:`), in file order.
  const std::vector<std::pair<std::string, RepPtr>>& reps() const { return reps_; }
  /// The description this model was built from (kept in checkpoints), and its name (file).
  const std::string& source() const { return source_; }
  const std::string& name() const { return name_; }
  const std::vector<LayerPtr>& layers() const { return layers_; }
  /// Every layer, depth-first, blocks before their contents.
  const std::vector<ModelLayerInfo>& layer_infos() const { return infos_; }
  /// Effective weights under stock PyTorch names prefixed by layer path ("layers.0.weight", ...).
  std::vector<std::pair<std::string, at::Tensor>> effective_parameters();
  int64_t parameter_count() const;
  int64_t unconstrained_parameter_count();
  /// A name for a rep in messages: its name in `reps:` when it has one, else its description.
  std::string rep_label(const RepPtr& rep) const;

 private:
  friend class ModelBuilder;
  GroupPtr group_;
  RepPtr input_, output_;
  int64_t output_size_ = 0;
  std::vector<std::pair<std::string, RepPtr>> reps_;
  std::string source_, name_;
  std::vector<LayerPtr> layers_;
  std::vector<ModelLayerInfo> infos_;
  torch::nn::ModuleList list_;
};

using ModelPtr = std::shared_ptr<Model>;

/// Builds a model from a YAML file. Every problem is a ConfigError `FILE:LINE:COL: error: ...`.
ModelPtr load_model(const Registry& registry, const std::string& path);
/// As load_model, from text; `name` stands for the file in messages.
ModelPtr load_model_from_string(const Registry& registry, const std::string& text, const std::string& name);

}  // namespace eqnn
