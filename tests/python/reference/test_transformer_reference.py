"""eqnn.interop.from_symm_learning for symm_learning's eTransformerDecoderLayer (eMultiheadAttention backend) and
its TransformerEncoder/TransformerDecoder stacks (depth 1–3, with and without a final norm): each converted module
computes symm_learning's function with its weights (float64 ≤ 1e-10, float32 ≤ 1e-5 relative) with and without
masks, and is equivariant under escnn's matrices (the group acting on the target and the memory); refusals name
the offending sub-module."""

import contextlib

import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from reference_support import TOL, check_equivariant, escnn_rep, fresh, rel
from symm_learning.nn import (
    TransformerDecoder,
    TransformerEncoder,
    eLayerNorm,
    eMultiheadAttention,
    eRMSNorm,
    eTransformerDecoderLayer,
    eTransformerEncoderLayer,
)

DTYPES = [torch.float64, torch.float32]


@contextlib.contextmanager
def default_dtype(dtype):
    """symm_learning computes its bases in the default dtype: build under float64, then cast."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def randomised(module: torch.nn.Module) -> torch.nn.Module:
    """Random weights of standard deviation 1/2 (steeper softmax/GELU make two float32 evaluations differ by more
    than 1e-5), then symm_learning's caches of expanded weights invalidated."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_().mul_(0.5)
    for sub in module.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    return module


def transformer_rep(G, kind):
    """The rep and the number of heads: one head on Ico (m = 1 or 2 copies of 60), two on 2x regular."""
    r = escnn_rep(G, kind)
    return r, (2 if kind == "2x regular" and G.order() < 60 else 1)


def decoder_layer(r, heads, **kwargs):
    return eTransformerDecoderLayer(r, eMultiheadAttention(r, heads, dropout=kwargs.get("dropout", 0.1)),
                                    eMultiheadAttention(r, heads, dropout=kwargs.get("dropout", 0.1)), **kwargs)


def masks(B, T, S, dtype):
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    float_causal = torch.zeros(T, T, dtype=dtype).masked_fill(causal, float("-inf"))
    memory_mask = torch.zeros(T, S, dtype=torch.bool)
    memory_mask[0, 1:] = True
    memory_mask[2, 0] = True
    tgt_padding = torch.zeros(B, T, dtype=torch.bool)
    tgt_padding[1, 3:] = True
    memory_padding = torch.zeros(B, S, dtype=torch.bool)
    memory_padding[2, 2:] = True
    return [
        {},
        {"tgt_mask": causal},
        {"tgt_mask": float_causal, "tgt_is_causal": True},
        {"memory_mask": memory_mask},
        {"tgt_key_padding_mask": tgt_padding, "memory_key_padding_mask": memory_padding},
        {"tgt_mask": causal, "memory_mask": memory_mask, "tgt_key_padding_mask": tgt_padding,
         "memory_key_padding_mask": memory_padding},
    ]


GROUPS = {"C2": lambda: eg.cyclic_group(2), "C5": lambda: eg.cyclic_group(5), "Ico": lambda: eg.ico_group()}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first, norm_module", [(True, "rmsnorm"), (False, "layernorm")])
@pytest.mark.parametrize("kind", ["regular", "2x regular"])
@pytest.mark.parametrize("group", list(GROUPS))
def test_decoder_layer(group, kind, norm_first, norm_module, dtype):
    G = GROUPS[group]()
    r, heads = transformer_rep(G, kind)
    r = fresh(r, f"dec-{dtype}-{norm_module}")
    with default_dtype(torch.float64):
        theirs = randomised(decoder_layer(r, heads, dim_feedforward=G.order() + 1, norm_first=norm_first,
                                          norm_module=norm_module)).to(dtype).eval()
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.ETransformerDecoderLayer) and not ours.training
    o = ours.options
    assert (o["norm"], o["norm_affine"], o["norm_normalize"]) == (
        {"rmsnorm": "rms_norm", "layernorm": "layer_norm"}[norm_module], "per_copy",
        "all" if norm_module == "rmsnorm" else "per_copy")
    assert (o["num_heads"], o["dropout"], o["activation"], o["batch_first"], o["norm_first"]) == (
        heads, 0.1, "gelu", True, norm_first)
    B, T, S = 3, 4, 5
    tgt, memory = torch.randn(B, T, r.size, dtype=dtype), torch.randn(B, S, r.size, dtype=dtype)
    with torch.no_grad():
        for kwargs in masks(B, T, S, dtype):
            assert rel(ours(tgt, memory, **kwargs), theirs(tgt, memory, **kwargs)) <= TOL[dtype], kwargs.keys()
        x = torch.cat([tgt, memory], 1)
        f = lambda z: torch.cat([ours(z[:, :T], z[:, T:], **masks(B, T, S, dtype)[-1]), z[:, T:]], 1)  # noqa: E731
        check_equivariant(f, r, r, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("depth, final", [(1, False), (2, True), (3, False), (3, True)])
@pytest.mark.parametrize("group", list(GROUPS))
def test_stacks(group, depth, final, dtype):
    G = GROUPS[group]()
    r, heads = transformer_rep(G, "2x regular")
    r = fresh(r, f"stack-{dtype}-{depth}-{final}")
    norm_module = "rmsnorm" if depth % 2 else "layernorm"
    norm_cls = eRMSNorm if norm_module == "rmsnorm" else eLayerNorm
    with default_dtype(torch.float64):
        enc_layer = eTransformerEncoderLayer(r, eMultiheadAttention(r, heads, dropout=0.1), dim_feedforward=G.order(),
                                             norm_module=norm_module)
        encoder = randomised(TransformerEncoder(enc_layer, depth, norm_cls(r, eps=1e-5) if final else None))
        decoder = randomised(TransformerDecoder(decoder_layer(r, heads, dim_feedforward=G.order(),
                                                              norm_module=norm_module), depth,
                                                norm_cls(r, eps=1e-5) if final else None))
    encoder, decoder = encoder.to(dtype).eval(), decoder.to(dtype).eval()
    ours_enc, ours_dec = interop.from_symm_learning(encoder), interop.from_symm_learning(decoder)
    assert isinstance(ours_enc, eqnn.nn.ETransformerEncoder) and isinstance(ours_dec, eqnn.nn.ETransformerDecoder)
    for ours in (ours_enc, ours_dec):
        assert ours.options["num_layers"] == depth and not ours.training
        assert ours.options["final_norm"] == (("rms_norm" if norm_module == "rmsnorm" else "layer_norm") if final
                                              else "none")
    B, T, S = 3, 4, 5
    src, memory = torch.randn(B, T, r.size, dtype=dtype), torch.randn(B, S, r.size, dtype=dtype)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    padding = torch.zeros(B, T, dtype=torch.bool)
    padding[1, 3:] = True
    with torch.no_grad():
        for kwargs in ({}, {"mask": causal}, {"src_key_padding_mask": padding},
                       {"mask": causal, "src_key_padding_mask": padding}):
            assert rel(ours_enc(src, **kwargs), encoder(src, **kwargs)) <= TOL[dtype], kwargs.keys()
        for kwargs in masks(B, T, S, dtype):
            assert rel(ours_dec(src, memory, **kwargs), decoder(src, memory, **kwargs)) <= TOL[dtype], kwargs.keys()
        check_equivariant(lambda z: ours_enc(z, mask=causal), r, r, src, dtype)
        x = torch.cat([src, memory], 1)
        check_equivariant(lambda z: torch.cat([ours_dec(z[:, :T], z[:, T:], tgt_mask=causal), z[:, T:]], 1), r, r, x,
                          dtype)


def test_refusals():
    G = eg.cyclic_group(5)
    r = fresh(escnn_rep(G, "2x regular"), "dec-refuse")
    with default_dtype(torch.float64):
        layer = decoder_layer(r, 1, dim_feedforward=10)
        other = decoder_layer(r, 1, dim_feedforward=20)
        stack = randomised(TransformerDecoder(layer, 2))
        stack.layers[1] = other
    with pytest.raises(ValueError, match=r"^layers\.1: its configuration differs from layers\.0 in dim_feedforward "
                                         r"\(20 vs 10\)"):
        interop.from_symm_learning(stack)
    with default_dtype(torch.float64):
        plain = torch.nn.TransformerEncoderLayer(10, 1, 16, batch_first=True)
        encoder = TransformerEncoder(plain, 2)
    with pytest.raises(TypeError, match=r"^layers\.0: torch.nn.modules.transformer.TransformerEncoderLayer is not an "
                                        "equivariant layer eqnn's ETransformerEncoder stacks"):
        interop.from_symm_learning(encoder)
    with default_dtype(torch.float64):
        mismatched = TransformerDecoder(decoder_layer(r, 1, dim_feedforward=10, norm_module="rmsnorm"), 2,
                                        eRMSNorm(r))  # eps 1e-6, the layers' 1e-5
    with pytest.raises(ValueError, match="^norm: ETransformerDecoder: the final norm must have the layer's options"):
        interop.from_symm_learning(mismatched)
