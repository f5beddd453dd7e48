// Checkpoints: a model's parameters and buffers, its description, the loaded plugins and the basis of
// every constrained parameter in one file that torch.load reads. Loading never silently changes the
// function the weights compute: it re-projects exactly or refuses, naming the layer.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>

namespace eqnn {

class Model;
class Registry;

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
///
///   eqnn::save_checkpoint(*model, registry, "model.pt", {/*step=*/300});
///   eqnn::CheckpointInfo info = eqnn::load_checkpoint(*model, "model.pt");
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

}  // namespace eqnn
