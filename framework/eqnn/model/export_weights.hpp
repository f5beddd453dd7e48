// Export of a model's effective weights under stock PyTorch names ("layers.0.weight", ...), for loading
// into the equivalent stock torch.nn model with load_state_dict.
#pragma once

#include <string>

namespace eqnn {

class Model;

/// Writes effective_parameters() as a pickled dict of tensors (str → Tensor), atomically. Throws Error
/// naming the layer when one has parameters or buffers but no stock PyTorch equivalent.
///
///   eqnn::export_weights(*model, "weights.pt");  // Python: stock.load_state_dict(torch.load("weights.pt"))
void export_weights(Model& model, const std::string& path);

}  // namespace eqnn
