"""ETransformerEncoderLayer's norm keywords from Python (norm, norm_affine, norm_normalize): they reach the C++
layer (options, parameter names and shapes), the layer stays exactly equivariant with every combination (with
and without a mask), and bad values are errors naming the key. The formula oracle is in
tests/layers/transformer_test.cpp; symm_learning's layer itself is the oracle in tests/python/reference."""

import eqnn
import pytest
import torch
from eqnn import nn as enn


@pytest.mark.parametrize("norm, affine, normalize", [("rms_norm", "per_field", "all"), ("rms_norm", "per_copy", "all"),
                                                     ("layer_norm", "per_copy", "per_copy")])
@pytest.mark.parametrize("norm_first", [False, True])
def test_norm_keywords_equivariant(norm, affine, normalize, norm_first):
    G = eqnn.group("D4")
    rep = eqnn.rep(G, "2x regular")
    t = enn.ETransformerEncoderLayer(rep, 2, dim_feedforward=16, dropout=0.1, batch_first=True, norm_first=norm_first,
                                     norm=norm, norm_affine=affine, norm_normalize=normalize).double().eval()
    o = t.options
    assert (o["norm"], o["norm_affine"], o["norm_normalize"]) == (norm, affine, normalize)
    names = {n for n, _ in t.named_parameters() if n.startswith("norm1.")}
    assert names == ({"norm1.weight"} if norm == "rms_norm" else {"norm1.weight", "norm1.bias_coefficients"})
    # per_field on 2x regular: one scale per orbit (2); per_copy: one per irreducible copy (2 x 6 for D4).
    assert len(rep.irreps) == 12
    assert t.norm1.weight.numel() == (2 if affine == "per_field" else 12)
    with torch.no_grad():
        for p in t.parameters():
            p.normal_(0, 0.5)
    assert eqnn.check_equivariance(t, rep, rep, torch.float64) < 1e-10
    causal = torch.nn.Transformer.generate_square_subsequent_mask(3, dtype=torch.float64)
    masked = lambda z: t(z, src_mask=causal)  # noqa: E731
    assert eqnn.check_equivariance(masked, rep, rep, torch.float64, shape=(2, 3)) < 1e-10


def test_bad_norm_values_name_the_key():
    rep = eqnn.rep(eqnn.group("C4"), "2x regular")
    with pytest.raises(ValueError, match=r"unknown norm 'rmsnorm' \(did you mean 'rms_norm'\?\); known: layer_norm, "
                                         r"rms_norm"):
        enn.ETransformerEncoderLayer(rep, 1, norm="rmsnorm")
    with pytest.raises(ValueError, match=r"unknown norm_affine 'per_cpy' \(did you mean 'per_copy'\?\)"):
        enn.ETransformerEncoderLayer(rep, 1, norm_affine="per_cpy")
    with pytest.raises(ValueError, match=r"unknown norm_normalize 'everything'; known: all, per_copy"):
        enn.ETransformerEncoderLayer(rep, 1, norm_normalize="everything")
