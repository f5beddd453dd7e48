// Models described in YAML: the builder that turns a description into a stack of eqnn::Layer modules
// (tracking the representation that flows between them), the Sequential/Residual blocks, checkpoints,
// export of the effective weights under stock PyTorch names, the equivariance check and the built-in
// training tasks (the training loop is in training.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <ATen/core/ivalue.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>

#include "eqnn/nn/layer.hpp"
#include "eqnn/registry/registry.hpp"
#include "eqnn/group_theory/representation.hpp"

namespace eqnn {

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

// ---- checkpoints (checkpoint.cpp) ----

/// Extra fields stored with a checkpoint.
struct CheckpointInfo {
  int64_t step = 0;
  std::string task;
  std::map<std::string, double> metrics;
  /// Optimiser state and step for `eqnn train --resume` (Trainer::state(), training.hpp); None when the
  /// checkpoint has none. Stored under the key "training", apart from the model's own entries.
  at::IValue training;
  /// Set by load_checkpoint: constrained parameters saved in another basis whose effective weights were
  /// re-projected (exactly) onto this model's basis.
  std::vector<std::string> reprojected;
};

/// Writes parameters, buffers, the model description, the loaded plugins (name → version) and, for
/// every constrained parameter, the fingerprint of its basis and its effective tensor (format version
/// 2) as a pickled dict (torch.load reads it), atomically: a temporary file in the same directory, then
/// rename.
void save_checkpoint(Model& model, const Registry& registry, const std::string& path,
                     const CheckpointInfo& info = {});
/// Loads a checkpoint into `model`; never silently changes the function the weights compute. Where a
/// basis fingerprint differs from the model's, the stored effective weight is re-projected onto the
/// model's basis, accepted only if exact to 1e-6 relative (listed in `reprojected`). Throws Error, before
/// changing anything, naming the first layer or tensor that does not fit and why, or saying the file is
/// not a readable checkpoint or has another format version.
CheckpointInfo load_checkpoint(Model& model, const std::string& path);
/// The model description stored in a checkpoint (any format version).
std::string checkpoint_source(const std::string& path);

// ---- pickled tensors, as torch.save / torch.load use them (checkpoint.cpp) ----

/// Reads a tensor written by Python's torch.save(tensor, path).
at::Tensor load_tensor_file(const std::string& path);
/// Writes a tensor torch.load can read, atomically.
void save_tensor_file(const at::Tensor& tensor, const std::string& path);
/// Reads any value written by torch.save (dicts, lists, strings, numbers, tensors). `what` names the kind
/// of file in messages ("data set", ...).
at::IValue load_pickle_file(const std::string& path, const std::string& what);
/// Writes `value` (dicts, lists, strings, numbers, tensors) so that torch.load reads it, atomically.
void save_pickle_file(const at::IValue& value, const std::string& path);
/// Writes effective_parameters() as a pickled dict of tensors (str → Tensor), atomically.
void export_weights(Model& model, const std::string& path);
/// Writes `bytes` to `path` through a temporary file and a rename.
void write_file_atomically(const std::string& path, const std::vector<char>& bytes);

// ---- equivariance (equivariance.cpp) ----

struct EquivarianceResult {
  std::string path, type;
  bool checked = false;  ///< false for layers without representations (stock layers)
  double max_error = 0;  ///< max over g of max|f(ρ_in(g)x) − ρ_out(g)f(x)| / max|f(x)|; NaN when not finite
  int worst_element = 0;
  std::string note;  ///< "not finite: ..." when an output or the error is NaN or Inf
};

/// Relative equivariance error of `f` on every group element, for a random input of shape
/// (batch, seq, in.size) (`seq` 0: (batch, in.size)). Runs under NoGradGuard.
EquivarianceResult equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f, const RepPtr& in,
                                      const RepPtr& out, at::ScalarType dtype, int64_t seq = 3,
                                      uint64_t seed = 0);
/// As above, for a random input of shape (leading_shape..., in.size) (Python's check_equivariance `shape`).
EquivarianceResult equivariance_error(const std::function<at::Tensor(const at::Tensor&)>& f, const RepPtr& in,
                                      const RepPtr& out, at::ScalarType dtype,
                                      const std::vector<int64_t>& leading_shape, uint64_t seed);
/// Per-layer results (depth-first, as layer_infos()) followed by the whole model (path "model").
/// The model is converted to `dtype` and put in eval mode.
std::vector<EquivarianceResult> check_model(Model& model, at::ScalarType dtype, uint64_t seed = 0);
/// 1e-10 for float64, 1e-5 for float32.
double equivariance_tolerance(at::ScalarType dtype);
/// True when the error is finite and at most `tolerance` (NaN and Inf fail).
bool within_tolerance(const EquivarianceResult& result, double tolerance);

// ---- built-in tasks (tasks.cpp) ----

/// A supervised data set: inputs (N, T, D_in) and targets (N, D_out) or (N, T, D_out).
struct TaskData {
  at::Tensor train_x, train_y, test_x, test_y;
};

/// A built-in task. `ring`: n coupled nonlinear oscillators on a ring (nearest-neighbour coupling,
/// identical around the ring: D_n symmetric), predict the next state from the last T states;
/// the prediction is x_T + (model output at the last token). `teacher`: targets from a fixed random
/// equivariant network (input rep → output rep) applied per token with a mean over the sequence.
class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual std::string description() const = 0;
  virtual const TaskData& data() const = 0;
  /// Prediction from the model output for inputs x (same leading shape as the targets).
  virtual at::Tensor predict(const at::Tensor& model_output, const at::Tensor& x) const = 0;
};

/// Names of the built-in tasks.
std::vector<std::string> task_names();
/// "auto" chooses `ring` when the model's input and output are n-dimensional permutation reps of a
/// cyclic or dihedral group acting on the n vertices of a polygon, `teacher` otherwise.
std::unique_ptr<Task> make_task(const std::string& name, Model& model, uint64_t seed = 0);
/// The ring task with n oscillators (usable without a model; the demo uses it).
std::unique_ptr<Task> make_ring_task(int64_t n, uint64_t seed = 0, int64_t train_size = 2048,
                                     int64_t test_size = 512, int64_t window = 8);

// Training (the loop, train_model for these tasks, your own data): eqnn/training.hpp.

}  // namespace eqnn
