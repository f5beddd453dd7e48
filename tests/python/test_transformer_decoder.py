"""ETransformerDecoderLayer, ETransformerEncoder and ETransformerDecoder from Python: torch's modules
(TransformerDecoderLayer, TransformerEncoder, TransformerDecoder) loaded with the effective weights compute the
same function (float64, 1e-12; both norm orders, both layouts, bool/float/causal/3-D masks, key padding, a final
norm), exact equivariance on every element with the group acting on the target and the memory, torch's
signatures and deepcopy semantics for the stacks, and the errors."""

import copy
import inspect

import eqnn
import pytest
import torch
from eqnn import nn as enn

D4 = eqnn.group("D4")
REP = eqnn.rep(D4, "2x regular")  # D = 16, a permutation rep: the stock LayerNorm is eqnn's per-field norm


def _sub(module: torch.nn.Module, prefix: str, make) -> dict:
    """The effective (stock-named) tensors of the sub-layer `prefix` of an eqnn module: a standalone eqnn layer
    of the same kind given the sub-layer's coefficients."""
    part = make().to(torch.float64)
    state = {k[len(prefix):]: v for k, v in module.state_dict().items() if k.startswith(prefix)}
    part.load_state_dict(state, strict=False)
    return part.effective_parameters()


def _load_stock_layer(stock: torch.nn.Module, ours: torch.nn.Module, prefix: str, hidden: int, norms: int) -> None:
    """Loads torch's encoder/decoder layer `stock` with the effective weights of ours' layer at `prefix`."""
    G = REP.group
    hidden_rep = eqnn.rep(G, f"{hidden // G.order}x regular")
    makers = {"self_attn": lambda: enn.EMultiheadAttention(REP, 2),
              "linear1": lambda: enn.ELinear(REP, hidden_rep), "linear2": lambda: enn.ELinear(hidden_rep, REP)}
    if norms == 3:
        makers["multihead_attn"] = lambda: enn.EMultiheadAttention(REP, 2)
    for i in range(1, norms + 1):
        makers[f"norm{i}"] = lambda: enn.ELayerNorm(REP)
    state = {}
    for name, make in makers.items():
        for key, value in _sub(ours, f"{prefix}{name}.", make).items():
            state[f"{name}.{key}"] = value
    stock.load_state_dict(state, strict=True)


def _randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)


def _masks(batch: int, T: int, S: int):
    causal = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    memory_mask = torch.rand(T, S, generator=torch.Generator().manual_seed(3)) < 0.4
    memory_mask[:, 0] = False  # no row all masked
    tgt_padding = torch.zeros(batch, T, dtype=torch.bool)
    tgt_padding[-1, -2:] = True
    memory_padding = torch.zeros(batch, S, dtype=torch.bool)
    memory_padding[0, -1] = True
    memory_padding[-1, -3:] = True
    return causal, memory_mask, tgt_padding, memory_padding


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_decoder_layer_is_torchs_with_the_effective_weights(norm_first, batch_first):
    torch.manual_seed(0)
    ours = enn.ETransformerDecoderLayer(REP, 2, 16, 0.0, "gelu", 1e-5, batch_first, norm_first, dtype=torch.float64)
    _randomise(ours, 1)
    stock = torch.nn.TransformerDecoderLayer(16, 2, 16, 0.0, "gelu", 1e-5, batch_first, norm_first,
                                             dtype=torch.float64)
    _load_stock_layer(stock, ours, "", 16, 3)
    B, T, S = 3, 5, 4
    tgt = torch.randn((B, T, 16) if batch_first else (T, B, 16), dtype=torch.float64)
    memory = torch.randn((B, S, 16) if batch_first else (S, B, 16), dtype=torch.float64)
    causal, memory_mask, tgt_padding, memory_padding = _masks(B, T, S)
    bool_causal = torch.isinf(causal)
    per_head = torch.rand(B * 2, T, T, generator=torch.Generator().manual_seed(5)) < 0.4
    per_head[..., 0] = False
    float_memory = torch.zeros(T, S, dtype=torch.float64).masked_fill(memory_mask, -2.5)  # a finite additive mask
    cases = {
        "none": {},
        "float causal with the hint": {"tgt_mask": causal, "tgt_is_causal": True},
        "bool causal": {"tgt_mask": bool_causal},
        "memory mask": {"memory_mask": memory_mask},
        "finite float memory mask": {"memory_mask": float_memory},
        "3-D tgt mask": {"tgt_mask": per_head},
        "key padding": {"tgt_key_padding_mask": tgt_padding, "memory_key_padding_mask": memory_padding},
        "everything": {"tgt_mask": bool_causal, "memory_mask": memory_mask, "tgt_key_padding_mask": tgt_padding,
                       "memory_key_padding_mask": memory_padding},
    }
    stock.train()  # dropout 0: no fast path, the reference arithmetic
    with torch.no_grad():
        for what, kwargs in cases.items():
            theirs = stock(tgt, memory, **kwargs)
            for mode in ("train", "eval"):
                getattr(ours, mode)()
                err = (ours(tgt, memory, **kwargs) - theirs).abs().max().item()
                assert err <= 1e-12, (what, mode, err)
        masked = ours(tgt, memory, tgt_mask=bool_causal, memory_mask=memory_mask)
        assert (masked - ours(tgt, memory)).abs().max() > 1e-3


@pytest.mark.parametrize("final", [None, "layer_norm"])
def test_stacks_are_torchs_with_the_effective_weights(final):
    torch.manual_seed(1)
    B, T, S = 2, 4, 3
    enc_layer = enn.ETransformerEncoderLayer(REP, 2, 16, 0.0, batch_first=True, norm_first=True, dtype=torch.float64)
    dec_layer = enn.ETransformerDecoderLayer(REP, 2, 16, 0.0, batch_first=True, dtype=torch.float64)
    norm = (lambda: enn.ELayerNorm(REP, dtype=torch.float64)) if final else (lambda: None)
    encoder = enn.ETransformerEncoder(enc_layer, 3, norm())
    decoder = enn.ETransformerDecoder(dec_layer, 2, norm())
    _randomise(encoder, 2)
    _randomise(decoder, 3)
    stock_norm = (lambda: torch.nn.LayerNorm(16, dtype=torch.float64)) if final else (lambda: None)
    stock_enc = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(16, 2, 16, 0.0, batch_first=True, norm_first=True, dtype=torch.float64), 3,
        stock_norm(), enable_nested_tensor=False)
    stock_dec = torch.nn.TransformerDecoder(
        torch.nn.TransformerDecoderLayer(16, 2, 16, 0.0, batch_first=True, dtype=torch.float64), 2, stock_norm())
    for i in range(3):
        _load_stock_layer(stock_enc.layers[i], encoder, f"layers.{i}.", 16, 2)
    for i in range(2):
        _load_stock_layer(stock_dec.layers[i], decoder, f"layers.{i}.", 16, 3)
    if final:
        stock_enc.norm.load_state_dict(_sub(encoder, "norm.", lambda: enn.ELayerNorm(REP)))
        stock_dec.norm.load_state_dict(_sub(decoder, "norm.", lambda: enn.ELayerNorm(REP)))
    src, memory = torch.randn(B, T, 16, dtype=torch.float64), torch.randn(B, S, 16, dtype=torch.float64)
    causal, memory_mask, tgt_padding, memory_padding = _masks(B, T, S)
    with torch.no_grad():
        for kwargs in ({}, {"mask": causal, "is_causal": True}, {"src_key_padding_mask": tgt_padding},
                       {"mask": torch.isinf(causal), "src_key_padding_mask": tgt_padding}):
            err = (encoder(src, **kwargs) - stock_enc(src, **kwargs)).abs().max().item()
            assert err <= 1e-12, (kwargs.keys(), err)
        for kwargs in ({}, {"tgt_mask": causal, "tgt_is_causal": True},
                       {"tgt_mask": torch.isinf(causal), "memory_mask": memory_mask,
                        "tgt_key_padding_mask": tgt_padding, "memory_key_padding_mask": memory_padding}):
            err = (decoder(src, memory, **kwargs) - stock_dec(src, memory, **kwargs)).abs().max().item()
            assert err <= 1e-12, (kwargs.keys(), err)


@pytest.mark.parametrize("spec, rep_text, heads", [("C4", "2x regular", 2), ("D4", "2x regular", 2),
                                                   ("C5", "2x regular", 1), ("Ico", "regular", 1)])
def test_every_element_acting_on_target_and_memory(spec, rep_text, heads):
    G = eqnn.group(spec)
    rep = eqnn.rep(G, rep_text)
    layer = enn.ETransformerDecoderLayer(rep, heads, G.order + 1, 0.0, batch_first=True, norm_first=True,
                                         norm="rms_norm", norm_affine="per_copy")
    decoder = enn.ETransformerDecoder(
        enn.ETransformerDecoderLayer(rep, heads, G.order, 0.0, batch_first=True), 2,
        enn.ELayerNorm(rep))
    encoder = enn.ETransformerEncoder(enn.ETransformerEncoderLayer(rep, heads, G.order, 0.0, batch_first=True), 2,
                                      enn.ELayerNorm(rep))
    for m, seed in ((layer, 1), (decoder, 2), (encoder, 3)):
        _randomise(m, seed)
        m.double().eval()
    T = 3
    causal = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    padding = torch.tensor([[False, False, False, False], [False, False, True, True]])

    def packed(module):
        def f(x):  # x (batch, T + S, D): the target, then the memory
            tgt, memory = x[:, :T], x[:, T:]
            y = module(tgt, memory, tgt_mask=causal, tgt_is_causal=True, memory_key_padding_mask=padding)
            return torch.cat([y, memory], 1)
        return f

    for module in (layer, decoder):
        err = eqnn.check_equivariance(packed(module), rep, rep, torch.float64, shape=(2, T + 4))
        assert err < 1e-10, (spec, type(module).__name__, err)
        with torch.no_grad():
            assert torch.isfinite(module(torch.randn(2, T, rep.size, dtype=torch.float64),
                                         torch.randn(2, 4, rep.size, dtype=torch.float64))).all()
    err = eqnn.check_equivariance(lambda x: encoder(x, mask=causal), rep, rep, torch.float64, shape=(2, T))
    assert err < 1e-10, (spec, "encoder", err)


def test_stacks_copy_the_layer_and_follow_torchs_signatures():
    torch.manual_seed(2)
    layer = enn.ETransformerDecoderLayer(REP, 2, 16, 0.0, batch_first=True, norm="rms_norm", norm_affine="per_copy")
    norm = enn.ERMSNorm(REP, 1e-5, affine="per_copy")
    _randomise(layer, 4)
    _randomise(norm, 5)
    stack = enn.ETransformerDecoder(layer, 3, norm)
    state = stack.state_dict()
    for i in range(3):  # torch's deepcopy semantics: every layer starts as the given one
        for name, value in layer.state_dict().items():
            if name != "_extra_state":
                assert torch.equal(state[f"layers.{i}.{name}"], value), (i, name)
    for name, value in norm.state_dict().items():
        if name != "_extra_state":
            assert torch.equal(state[f"norm.{name}"], value)
    assert stack.options["final_norm"] == "rms_norm" and stack.options["num_layers"] == 3
    assert stack.options["norm_affine"] == "per_copy"
    # Trained apart: a change to one layer is not another's.
    with torch.no_grad():
        stack.layers[0].linear1.weight_coefficients.add_(1.0)
    assert not torch.equal(stack.layers[0].linear1.weight_coefficients, stack.layers[1].linear1.weight_coefficients)
    # A deepcopy and a state_dict round trip compute the same.
    x, m = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    twin = copy.deepcopy(stack)
    again = enn.ETransformerDecoder(enn.ETransformerDecoderLayer(REP, 2, 16, 0.0, batch_first=True, norm="rms_norm",
                                                                 norm_affine="per_copy"), 3,
                                    enn.ERMSNorm(REP, 1e-5, affine="per_copy"))
    again.load_state_dict(stack.state_dict())
    with torch.no_grad():
        assert torch.equal(twin(x, m), stack(x, m))
        assert torch.equal(again(x, m), stack(x, m))
    for ours, theirs in ((enn.ETransformerEncoder, torch.nn.TransformerEncoder),
                         (enn.ETransformerDecoder, torch.nn.TransformerDecoder),
                         (enn.ETransformerDecoderLayer, torch.nn.TransformerDecoderLayer)):
        for method in ("__init__", "forward"):
            a = [p.name for p in inspect.signature(getattr(ours, method)).parameters.values()
                 if p.kind is p.POSITIONAL_OR_KEYWORD]
            b = [p.name for p in inspect.signature(getattr(theirs, method)).parameters.values()
                 if p.kind is p.POSITIONAL_OR_KEYWORD]
            b = ["in_rep" if n == "d_model" else n for n in b]
            assert a == b, (ours.__name__, method)
    # The YAML factory takes the layer's keywords flat.
    flat = enn.Layer("eTransformerEncoder", REP, num_layers=2, num_heads=2, dim_feedforward=16, final_norm="rms_norm")
    assert flat.options["num_layers"] == 2 and flat.options["batch_first"] is True
    assert sorted({n.split(".")[1] for n, _ in flat.named_parameters() if n.startswith("layers.")}) == ["0", "1"]


def test_errors():
    layer = enn.ETransformerDecoderLayer(REP, 2, 16, batch_first=True)
    x, m = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        layer(x, m, tgt_is_causal=True)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        layer(x, m, memory_is_causal=True)
    with pytest.raises(TypeError, match="only bool and floating types of memory_mask are supported"):
        layer(x, m, memory_mask=torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(RuntimeError, match=r"expected memory of shape \(batch, seq, D\) with D = 16 \(the memory lives "
                                           r"in in_rep"):
        layer(x, torch.randn(2, 4, 8))
    with pytest.raises(RuntimeError, match=r"tgt and memory have different batch sizes \(2 and 3\)"):
        layer(x, torch.randn(3, 4, 16))
    with pytest.raises(ValueError, match=r"unknown norm 'rmsnorm' \(did you mean 'rms_norm'\?\)"):
        enn.ETransformerDecoderLayer(REP, 2, norm="rmsnorm")
    with pytest.raises(TypeError, match="ETransformerDecoderLayer: activation must be a name"):
        enn.ETransformerDecoderLayer(REP, 2, activation=torch.sigmoid)
    with pytest.raises(ValueError, match="num_layers must be an int >= 1, got 0"):
        enn.ETransformerDecoder(layer, 0)
    with pytest.raises(TypeError, match="the layer must be an eqnn.nn.ETransformerEncoderLayer, got "
                                        "ETransformerDecoderLayer"):
        enn.ETransformerEncoder(layer, 2)
    with pytest.raises(ValueError, match="the final norm must have the layer's options"):
        enn.ETransformerDecoder(layer, 2, enn.ELayerNorm(REP, eps=1e-3))
    with pytest.raises(ValueError, match="norm must be None, an eqnn.nn.ELayerNorm or an eqnn.nn.ERMSNorm, got "
                                         "LayerNorm"):
        enn.ETransformerDecoder(layer, 2, torch.nn.LayerNorm(16))
    stack = enn.Layer("eTransformerDecoder", REP, num_layers=1, num_heads=2)
    with pytest.raises(eqnn.ConfigError, match=r"forward\(x\) is not defined: a decoder attends to a memory"):
        stack(x)
