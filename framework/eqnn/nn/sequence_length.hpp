// An opt-in interface for layers that take sequences of one fixed length only (eTimeCNNEncoder flattens
// its time_horizon frames into one vector). Checks that make random inputs (eqnn check, check_model) ask
// it for the length; every other layer takes any length. Kept apart from eqnn::Layer so that the layer
// interface (and the plugin ABI) does not change.
#pragma once

#include <cstdint>

namespace eqnn {

class FixedSequenceLength {
 public:
  virtual ~FixedSequenceLength() = default;
  /// The only sequence length (frames) the layer's input may have.
  virtual int64_t sequence_length() const = 0;
};

}  // namespace eqnn
