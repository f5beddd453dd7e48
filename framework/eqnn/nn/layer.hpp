// The layer interface: every layer a model description can name is an eqnn::Layer, a torch module with
// `Tensor forward(Tensor)` that knows the representations it maps between. Layer plugins register
// factories that build one from keyword arguments.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>
#include <yaml-cpp/yaml.h>

#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

class Registry;  // registry/registry.hpp: layers sit below the registry that makes them

/// A module a model description can stack. Input (batch, features) or (batch, seq, features), or
/// unbatched (features) / (seq, features) where the layer allows it; features last.
class Layer : public torch::nn::Module {
 public:
  explicit Layer(std::string name) : torch::nn::Module(std::move(name)) {}
  ~Layer() override;
  virtual at::Tensor forward(const at::Tensor& x) = 0;
  /// Representation flowing in and out (null for stock layers, which have no group action).
  virtual RepPtr in_rep() const = 0;
  virtual RepPtr out_rep() const = 0;
  /// The effective (constrained) tensors under the parameter names of the equivalent stock PyTorch
  /// module, e.g. {"weight", W}, {"bias", b}; names are relative to this layer.
  virtual std::vector<std::pair<std::string, at::Tensor>> effective_parameters() = 0;
  /// Number of entries of the equivalent unconstrained (stock) module's parameters.
  virtual int64_t unconstrained_parameter_count() = 0;
};

using LayerPtr = std::shared_ptr<Layer>;

/// What a layer factory gets: the model's group, the representation flowing in, its keyword arguments
/// (a YAML mapping without `type`), the registry (for constraints and sub-layers) and a resolver that
/// turns a rep name or rep string into a representation.
struct LayerArgs {
  GroupPtr group;
  RepPtr in_rep;
  YAML::Node kwargs;
  const Registry* registry = nullptr;
  std::function<RepPtr(const YAML::Node&)> resolve_rep;
  std::string file;  ///< the YAML file, for error locations
};

}  // namespace eqnn
