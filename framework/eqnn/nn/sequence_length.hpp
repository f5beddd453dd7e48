// Opt-in interfaces for layers that take sequences of some lengths only: one fixed length
// (eTimeCNNEncoder flattens its time_horizon frames into one vector), or multiples of a number
// (eConditionalUnet1D halves the length at each level and doubles it back). Checks that make random inputs
// (eqnn check, check_model) ask them for a length; every other layer takes any length. Kept apart from
// eqnn::Layer so that the layer interface (and the plugin ABI) does not change.
#pragma once

#include <cstdint>

namespace eqnn {

class FixedSequenceLength {
 public:
  virtual ~FixedSequenceLength() = default;
  /// The only sequence length (frames) the layer's input may have.
  virtual int64_t sequence_length() const = 0;
};

class SequenceLengthMultiple {
 public:
  virtual ~SequenceLengthMultiple() = default;
  /// The input's sequence length must be a multiple of this (≥ 1).
  virtual int64_t sequence_length_multiple() const = 0;
};

}  // namespace eqnn
