// An opt-in interface for layers whose linear maps can run in more than one way (eLinear and
// eMultiheadAttention: dense or block-diagonal in the isotypic bases; see
// layers/linear/linear_execution.hpp). Kept apart from eqnn::Layer so that the layer interface (and the
// plugin ABI) does not change; `eqnn bench` reads it (the layers' pretty_print shows it too).
#pragma once

#include <string>

namespace eqnn {

class ExecutionReport {
 public:
  virtual ~ExecutionReport() = default;
  /// "dense", "isotypic", or "auto (...)" with what auto decided.
  virtual std::string execution() const = 0;
};

}  // namespace eqnn
