"""eqnn.interop.from_symm_learning for symm_learning's eTransformerDecoderLayer (eMultiheadAttention backend) and
its TransformerEncoder/TransformerDecoder stacks (depth 1–3, with and without a final norm): each converted module
computes symm_learning's function with its weights (float64 ≤ 1e-10, float32 ≤ 1e-5 relative) with and without
masks, and is equivariant under escnn's matrices (the group acting on the target and the memory); refusals name
the offending sub-module.

The positional backends (eAdditivePosMultiheadAttention, eAdditiveRelMultiheadAttention) in the encoder and decoder
layers and both stacks convert to eqnn's ``attention="additive_pos"``/``"additive_rel"``: the same function with
shared and per-batch positions, position masks, attention masks and key padding (float64 ≤ 1e-10). One difference is
by design and shown rather than matched: symm_learning's stacks turn a square causal mask into torch's ``is_causal``
hint, and torch then drops ``attn_mask`` (no key padding, no weights), which is where the relative bias was merged:
symm_learning's causal self-attention loses its relative bias (its output does not depend on ``rel_bias``). eqnn
always applies the mask with the bias; it equals symm_learning called with the hint off."""


import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from reference_support import TOL, check_equivariant, default_dtype, escnn_rep, fresh, rel
from symm_learning.nn import (
    TransformerDecoder,
    TransformerEncoder,
    eLayerNorm,
    eMultiheadAttention,
    eRMSNorm,
    eTransformerDecoderLayer,
    eTransformerEncoderLayer,
)
from symm_learning.nn.activation import eAdditivePosMultiheadAttention, eAdditiveRelMultiheadAttention

DTYPES = [torch.float64, torch.float32]


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


# ---- positional attention backends -------------------------------------------------------------------------------

BACKENDS = {
    "additive_pos": lambda r, heads: eAdditivePosMultiheadAttention(r, heads, max_len=12, dropout=0.1),
    "additive_rel": lambda r, heads: eAdditiveRelMultiheadAttention(r, heads, max_distance=3, dropout=0.1),
}


def positional_cases(B, T, S, dtype):
    """Masks and positions (keyword arguments of symm_learning's and eqnn's decoder forward): none, shared (L),
    per-batch (N, L) with position masks, with attention masks and key padding."""
    base = masks(B, T, S, dtype)[-1]  # causal tgt_mask, memory_mask, both key paddings
    tgt_positions = torch.tensor([[4, 1, 7, 0], [3, 11, 2, 5], [0, 1, 2, 3]])
    tgt_position_mask = torch.ones(B, T, dtype=torch.bool)
    tgt_position_mask[0, 2] = tgt_position_mask[2, 0] = False
    memory_positions = torch.tensor([[2, 8, 5, 6, 10], [0, 3, 1, 9, 4], [7, 7, 1, 0, 2]])
    memory_position_mask = torch.ones(B, S, dtype=torch.bool)
    memory_position_mask[1, 3] = False
    return [
        {},
        {"tgt_positions": torch.tensor([0, 2, 5, 6]), "memory_positions": torch.tensor([1, 3, 4, 9, 11])},
        dict(base, tgt_positions=torch.tensor([0, 2, 5, 6]), memory_positions=torch.arange(S)),
        dict(base, tgt_positions=tgt_positions, tgt_position_mask=tgt_position_mask,
             memory_positions=memory_positions, memory_position_mask=memory_position_mask),
        {"tgt_positions": tgt_positions, "memory_positions": memory_positions,
         "tgt_position_mask": tgt_position_mask, "memory_position_mask": memory_position_mask,
         "memory_mask": base["memory_mask"]},
    ]


def encoder_kwargs(kwargs: dict, stack: bool = False) -> dict:
    """The encoder's share of a decoder case: the target's masks and positions under the encoder's names."""
    names = {"tgt_mask": "mask" if stack else "src_mask", "tgt_key_padding_mask": "src_key_padding_mask",
             "tgt_positions": "src_positions", "tgt_position_mask": "src_position_mask"}
    return {names[k]: v for k, v in kwargs.items() if k in names}


@pytest.mark.parametrize("norm_first, norm_module", [(True, "rmsnorm"), (False, "layernorm")])
@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("group", list(GROUPS))
def test_positional_layers(group, backend, norm_first, norm_module):
    dtype = torch.float64
    G = GROUPS[group]()
    r, heads = transformer_rep(G, "2x regular")
    r = fresh(r, f"pos-{backend}-{norm_module}")
    make = BACKENDS[backend]
    with default_dtype(torch.float64):
        enc = randomised(eTransformerEncoderLayer(r, make(r, heads), dim_feedforward=G.order() + 1,
                                                  norm_first=norm_first, norm_module=norm_module)).eval()
        dec = randomised(eTransformerDecoderLayer(r, make(r, heads), make(r, heads), dim_feedforward=G.order() + 1,
                                                  norm_first=norm_first, norm_module=norm_module)).eval()
    ours_enc, ours_dec = interop.from_symm_learning(enc), interop.from_symm_learning(dec)
    assert isinstance(ours_enc, eqnn.nn.ETransformerEncoderLayer)
    assert isinstance(ours_dec, eqnn.nn.ETransformerDecoderLayer)
    own = {"additive_pos": ("max_len", 12), "additive_rel": ("max_distance", 3)}[backend]
    for ours in (ours_enc, ours_dec):
        assert ours.options["attention"] == backend and ours.options[own[0]] == own[1]
        assert ours.options["num_heads"] == heads and not ours.training
    B, T, S = 3, 4, 5
    tgt, memory = torch.randn(B, T, r.size, dtype=dtype), torch.randn(B, S, r.size, dtype=dtype)
    with torch.no_grad():
        for kwargs in positional_cases(B, T, S, dtype):
            assert rel(ours_dec(tgt, memory, **kwargs), dec(tgt, memory, **kwargs)) <= TOL[dtype], kwargs.keys()
            ekw = encoder_kwargs(kwargs)
            assert rel(ours_enc(tgt, **ekw), enc(tgt, **ekw)) <= TOL[dtype], ekw.keys()
        # Other positions: the same function in both libraries (eqnn's tests check the positions take effect).
        moved = {"tgt_positions": torch.tensor([6, 5, 2, 0]), "memory_positions": torch.tensor([11, 9, 4, 3, 1])}
        assert rel(ours_dec(tgt, memory, **moved), dec(tgt, memory, **moved)) <= TOL[dtype]
        case = positional_cases(B, T, S, dtype)[3]
        x = torch.cat([tgt, memory], 1)
        check_equivariant(lambda z: torch.cat([ours_dec(z[:, :T], z[:, T:], **case), z[:, T:]], 1), r, r, x, dtype)
        check_equivariant(lambda z: ours_enc(z, **encoder_kwargs(case)), r, r, tgt, dtype)


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("group", list(GROUPS))
def test_positional_stacks(group, backend):
    dtype = torch.float64
    G = GROUPS[group]()
    r, heads = transformer_rep(G, "2x regular")
    r = fresh(r, f"pos-stack-{backend}")
    make = BACKENDS[backend]
    with default_dtype(torch.float64):
        encoder = randomised(TransformerEncoder(
            eTransformerEncoderLayer(r, make(r, heads), dim_feedforward=G.order()), 2, eRMSNorm(r, eps=1e-5))).eval()
        decoder = randomised(TransformerDecoder(
            eTransformerDecoderLayer(r, make(r, heads), make(r, heads), dim_feedforward=G.order()), 3)).eval()
    ours_enc, ours_dec = interop.from_symm_learning(encoder), interop.from_symm_learning(decoder)
    assert ours_enc.options["attention"] == backend and ours_dec.options["attention"] == backend
    B, T, S = 3, 4, 5
    src, memory = torch.randn(B, T, r.size, dtype=dtype), torch.randn(B, S, r.size, dtype=dtype)
    with torch.no_grad():
        for kwargs in positional_cases(B, T, S, dtype):
            # symm_learning's hint off: its causal mask is then applied (see the module docstring).
            hint = {"tgt_is_causal": False} if "tgt_mask" in kwargs else {}
            assert rel(ours_dec(src, memory, **kwargs), decoder(src, memory, **kwargs, **hint)) <= TOL[dtype]
            ekw = encoder_kwargs(kwargs, stack=True)
            hint = {"is_causal": False} if "mask" in ekw else {}
            assert rel(ours_enc(src, **ekw), encoder(src, **ekw, **hint)) <= TOL[dtype], ekw.keys()


@pytest.mark.parametrize("stack", ["encoder", "decoder"])
def test_symm_learning_causal_hint_drops_the_relative_bias(stack):
    """symm_learning's stacks detect a square causal mask and pass torch's is_causal hint; without key padding
    torch then drops attn_mask, which carries the relative bias: symm_learning's output does not depend on the
    self-attention's rel_bias. eqnn applies the mask and the bias (it equals symm_learning with the hint off)."""
    G = eg.cyclic_group(5)
    r = fresh(escnn_rep(G, "2x regular"), f"causal-hint-{stack}")
    make = BACKENDS["additive_rel"]
    with default_dtype(torch.float64):
        if stack == "encoder":
            theirs = TransformerEncoder(eTransformerEncoderLayer(r, make(r, 2), dim_feedforward=10), 1)
        else:
            theirs = TransformerDecoder(eTransformerDecoderLayer(r, make(r, 2), make(r, 2), dim_feedforward=10), 1)
        theirs = randomised(theirs).eval()
    ours = interop.from_symm_learning(theirs)
    T, S = 4, 5
    x, memory = torch.randn(2, T, r.size, dtype=torch.float64), torch.randn(2, S, r.size, dtype=torch.float64)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    if stack == "encoder":
        call = lambda m, **hint: m(x, mask=causal, **hint)  # noqa: E731
        hint_off = {"is_causal": False}
    else:
        call = lambda m, **hint: m(x, memory, tgt_mask=causal, **hint)  # noqa: E731
        hint_off = {"tgt_is_causal": False}
    with torch.no_grad():
        sl_hinted, sl_applied, eq = call(theirs), call(theirs, **hint_off), call(ours)
        assert rel(eq, sl_applied) <= 1e-10
        assert rel(eq, sl_hinted) > 1e-3  # symm_learning's hinted output is another function
        # ... one without the self-attention's relative bias:
        theirs.layers[0].self_attn.rel_bias.mul_(-3.0).add_(1.0)
        assert rel(call(theirs), sl_hinted) <= 1e-12
        assert rel(call(theirs, **hint_off), sl_applied) > 1e-3


def test_positional_refusals():
    G = eg.cyclic_group(5)
    r = fresh(escnn_rep(G, "2x regular"), "pos-refuse")
    with default_dtype(torch.float64):
        mixed = eTransformerDecoderLayer(r, BACKENDS["additive_rel"](r, 1), eMultiheadAttention(r, 1, dropout=0.1),
                                         dim_feedforward=10)
        lengths = eTransformerDecoderLayer(r, eAdditivePosMultiheadAttention(r, 1, max_len=8, dropout=0.1),
                                           eAdditivePosMultiheadAttention(r, 1, max_len=9, dropout=0.1),
                                           dim_feedforward=10)
    with pytest.raises(TypeError, match=r"^\(the model\): the attentions differ \(self_attn is 'additive_rel' "
                                        r"\(max_distance 3\); multihead_attn is 'mha'\); eqnn's decoder layer has one "
                                        "attention option"):
        interop.from_symm_learning(mixed)
    with pytest.raises(TypeError, match=r"self_attn is 'additive_pos' \(max_len 8\); multihead_attn is "
                                        r"'additive_pos' \(max_len 9\)"):
        interop.from_symm_learning(lengths)
    with default_dtype(torch.float64):
        plain = eTransformerEncoderLayer(r, torch.nn.MultiheadAttention(10, 1, batch_first=True), dim_feedforward=10,
                                         init_scheme=None)
    with pytest.raises(TypeError, match=r"^self_attn: torch.nn.modules.activation.MultiheadAttention is not an "
                                        "attention eqnn's transformer layers hold"):
        interop.from_symm_learning(plain)
