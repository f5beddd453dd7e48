// Export of the effective weights under stock PyTorch names (export_weights.hpp).
#include "eqnn/model/export_weights.hpp"

#include <fmt/format.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "eqnn/model/internal/ivalue_dict.hpp"
#include "eqnn/model/model.hpp"
#include "eqnn/model/tensor_file.hpp"
#include "eqnn/util/error.hpp"

namespace eqnn {

void export_weights(Model& model, const std::string& path) {
  torch::NoGradGuard no_grad;
  for (const auto& info : model.layer_infos()) {
    if (dynamic_cast<const BlockLayer*>(info.layer.get()) != nullptr) continue;
    // Buffers count as state too: an eBatchNorm1d without affine has running statistics and no parameters.
    const bool has_state = !info.layer->parameters().empty() || !info.layer->buffers().empty();
    if (has_state && info.layer->effective_parameters().empty()) {
      throw Error(fmt::format(
          "cannot export '{}': layer {} ({}) has parameters or buffers but no stock PyTorch equivalent; "
          "export works for layers that compute a stock module's function (eLinear, eAffine, "
          "eMultiheadAttention, eConv1d, eConvTranspose1d, pointwise activations, norms on reps "
          "where they equal the stock ones), blocks and stock layers",
          model.name(), info.path, info.type));
    }
  }
  save_pickle_file(detail::tensor_dict(model.effective_parameters()), path);
}

}  // namespace eqnn
