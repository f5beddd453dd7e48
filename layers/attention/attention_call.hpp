// What a positional attention call takes besides query, key and value: the positions of the query and key
// sequences (SequencePositions) and the masks and weight flags (AttentionCall). In a header of its own so
// that the transformer layers (ETransformerEncoderLayer::forward, DecoderMasks) can name them without the
// attention classes.
#pragma once

#include <ATen/core/Tensor.h>

namespace eqnn {

/// The positions of one sequence (query or key): positions (L), (1, L) or (N, L), undefined = arange(L);
/// mask bool in the same layouts (true = has a position), undefined = every token has one.
struct SequencePositions {
  at::Tensor positions;
  at::Tensor mask;
  /// Whether either tensor is given.
  bool given() const { return positions.defined() || mask.defined(); }
};

/// Everything a positional attention call takes besides query, key and value: masks as
/// EMultiheadAttention::forward, the positions of the query and key sequences, and the weight flags.
struct AttentionCall {
  SequencePositions q, k;
  at::Tensor key_padding_mask, attn_mask;
  bool need_weights = false;
  bool average_attn_weights = true;
};

}  // namespace eqnn
