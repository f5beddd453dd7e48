"""The transformer layers' ``attention`` option from Python (ETransformerEncoderLayer, ETransformerDecoderLayer and
the stacks): the keywords reach the C++ options and the stacks take them from their layer; forward's position
keywords (symm_learning's names) reach the positional attention: each layer equals the stock arithmetic composed
here from standalone eqnn modules (the attention's positional forward, ELinear, ELayerNorm) loaded with the layer's
sub-module states (float64, 1e-12), for shared and per-batch positions with position masks, masks and key padding;
exact equivariance with positions; and the errors (unknown attention, missing max_len/max_distance, RoPE with an odd
number of copies per head, positions given to an mha layer)."""

import eqnn
import pytest
import torch
from eqnn import nn as enn

D4 = eqnn.group("D4")
REP = eqnn.rep(D4, "4x regular")  # D = 32: 2 heads of 2 regular copies (RoPE rotates pairs of copies)
HIDDEN = eqnn.rep(D4, "2x regular")  # dim_feedforward 16

ATTENTIONS = {
    "additive_pos": (enn.EAdditivePosMultiheadAttention, {"max_len": 12}),
    "additive_rel": (enn.EAdditiveRelMultiheadAttention, {"max_distance": 3}),
    "rope": (enn.ERoPEMultiheadAttention, {"rope_base": 50.0}),
}


def _randomise(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.4)


def _part(module: torch.nn.Module, prefix: str, part: torch.nn.Module) -> torch.nn.Module:
    """A standalone eqnn module given the state of ``module``'s sub-module ``prefix``: every tensor (the basis
    records live in the layer's own ``_extra_state``; the standalone module is built on the same reps)."""
    part = part.to(torch.float64).eval()
    result = part.load_state_dict({k[len(prefix):]: v for k, v in module.state_dict().items()
                                   if k.startswith(prefix)}, strict=False)
    assert set(result.missing_keys) <= {"_extra_state"} and not result.unexpected_keys, result
    return part


def _layer(cls, kind: str, **kwargs):
    own = ATTENTIONS[kind][1]
    layer = cls(REP, 2, dim_feedforward=16, dropout=0.0, batch_first=True, dtype=torch.float64, attention=kind,
                **own, **kwargs)
    _randomise(layer, 5)
    return layer.eval()


def _cases(N: int, T: int, S: int) -> list:
    causal = torch.ones(T, T, dtype=torch.bool).triu(1)
    tgt_padding = torch.zeros(N, T, dtype=torch.bool)
    tgt_padding[1, -1] = True
    memory_padding = torch.zeros(N, S, dtype=torch.bool)
    memory_padding[0, 1] = True
    tgt_positions = torch.tensor([[3, 0, 7, 2], [11, 4, 5, 1]])
    tgt_position_mask = torch.tensor([[True, True, False, True], [True, False, True, True]])
    memory_positions = torch.tensor([[1, 9, 2, 0, 6], [10, 3, 3, 8, 2]])
    memory_position_mask = torch.tensor([[True, False, True, True, True], [True, True, True, True, False]])
    return [
        {},
        {"tgt_positions": torch.tensor([0, 2, 5, 6]), "memory_positions": torch.tensor([1, 3, 4, 9, 11])},
        {"tgt_mask": causal, "tgt_key_padding_mask": tgt_padding, "memory_key_padding_mask": memory_padding,
         "tgt_positions": tgt_positions, "tgt_position_mask": tgt_position_mask,
         "memory_positions": memory_positions, "memory_position_mask": memory_position_mask},
    ]


def _encoder_kwargs(case: dict) -> dict:
    names = {"tgt_mask": "src_mask", "tgt_key_padding_mask": "src_key_padding_mask",
             "tgt_positions": "src_positions", "tgt_position_mask": "src_position_mask"}
    return {names[k]: v for k, v in case.items() if k in names}


def test_keywords_reach_the_options_and_the_stacks():
    for cls in (enn.ETransformerEncoderLayer, enn.ETransformerDecoderLayer):
        plain = cls(REP, 2, dim_feedforward=16)
        assert {k: plain.options[k] for k in ("attention", "max_len", "max_distance", "rope_base")} == {
            "attention": "mha", "max_len": 0, "max_distance": 0, "rope_base": 10000.0}
        rel = cls(REP, 2, dim_feedforward=16, attention="additive_rel", max_distance=5)
        assert (rel.options["attention"], rel.options["max_distance"]) == ("additive_rel", 5)
        assert "self_attn.rel_bias" in rel.state_dict()
        rope = cls(REP, 2, dim_feedforward=16, attention="rope", rope_base=100.0)
        assert rope.options["rope_base"] == 100.0
    pos = enn.ETransformerDecoderLayer(REP, 2, dim_feedforward=16, attention="additive_pos", max_len=7)
    assert pos.state_dict()["multihead_attn.pos_emb_coefficients"].shape[0] == 7
    stack = enn.ETransformerDecoder(pos, 2)
    assert (stack.options["attention"], stack.options["max_len"]) == ("additive_pos", 7)
    assert torch.equal(stack.state_dict()["layers.1.self_attn.pos_emb_coefficients"],
                       pos.state_dict()["self_attn.pos_emb_coefficients"])
    enc = enn.ETransformerEncoder(enn.ETransformerEncoderLayer(REP, 2, dim_feedforward=16, attention="rope"), 3)
    assert enc.options["attention"] == "rope"


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("kind", list(ATTENTIONS))
def test_layers_are_the_stock_arithmetic_of_their_parts(kind, norm_first):
    enc = _layer(enn.ETransformerEncoderLayer, kind, norm_first=norm_first)
    dec = _layer(enn.ETransformerDecoderLayer, kind, norm_first=norm_first)
    cls, own = ATTENTIONS[kind]

    def attention(layer, name):
        return _part(layer, f"{name}.", cls(REP, 2, **own))

    def parts(layer, norms):
        linear1 = _part(layer, "linear1.", enn.ELinear(REP, HIDDEN))
        linear2 = _part(layer, "linear2.", enn.ELinear(HIDDEN, REP))
        ns = [_part(layer, f"norm{i}.", enn.ELayerNorm(REP)) for i in range(1, norms + 1)]
        return (lambda h: linear2(torch.relu(linear1(h)))), ns

    N, T, S = 2, 4, 5
    x = torch.randn(N, T, REP.size, dtype=torch.float64)
    mem = torch.randn(N, S, REP.size, dtype=torch.float64)
    sa_enc, (ff_enc, (n1, n2)) = attention(enc, "self_attn"), parts(enc, 2)
    sa, ca, (ff, (d1, d2, d3)) = attention(dec, "self_attn"), attention(dec, "multihead_attn"), parts(dec, 3)
    with torch.no_grad():
        for case in _cases(N, T, S):
            tp = (case.get("tgt_positions"), case.get("tgt_position_mask"))
            mp = (case.get("memory_positions"), case.get("memory_position_mask"))
            mask, padding = case.get("tgt_mask"), case.get("tgt_key_padding_mask")
            memory_padding = case.get("memory_key_padding_mask")
            if norm_first:
                h = x + _attend(sa_enc, n1(x), n1(x), tp, tp, mask, padding)
                want = h + ff_enc(n2(h))
            else:
                h = n1(x + _attend(sa_enc, x, x, tp, tp, mask, padding))
                want = n2(h + ff_enc(h))
            assert (enc(x, **_encoder_kwargs(case)) - want).abs().max() <= 1e-12, case.keys()
            if norm_first:
                h = x + _attend(sa, d1(x), d1(x), tp, tp, mask, padding)
                h = h + _attend(ca, d2(h), mem, tp, mp, None, memory_padding)
                want = h + ff(d3(h))
            else:
                h = d1(x + _attend(sa, x, x, tp, tp, mask, padding))
                h = d2(h + _attend(ca, h, mem, tp, mp, None, memory_padding))
                want = d3(h + ff(h))
            assert (dec(x, mem, **case) - want).abs().max() <= 1e-12, case.keys()


def _attend(module, q, kv, qp, kp, mask, padding):
    """The positional attention's own forward: q_positions/mask qp, k_positions/mask kp."""
    return module(q, kv, kv, q_positions=qp[0], q_position_mask=qp[1], k_positions=kp[0], k_position_mask=kp[1],
                  attn_mask=mask, key_padding_mask=padding)[0]


@pytest.mark.parametrize("kind", list(ATTENTIONS))
def test_stacks_pass_the_positions_to_every_layer(kind):
    layer = _layer(enn.ETransformerEncoderLayer, kind)
    dec_layer = _layer(enn.ETransformerDecoderLayer, kind)
    enc, dec = enn.ETransformerEncoder(layer, 1).eval(), enn.ETransformerDecoder(dec_layer, 1).eval()
    x = torch.randn(2, 4, REP.size, dtype=torch.float64)
    mem = torch.randn(2, 5, REP.size, dtype=torch.float64)
    with torch.no_grad():
        for case in _cases(2, 4, 5):
            ekw = _encoder_kwargs(case)
            if "src_mask" in ekw:
                ekw["mask"] = ekw.pop("src_mask")
            assert torch.equal(enc(x, **ekw), layer(x, **_encoder_kwargs(case)))
            assert torch.equal(dec(x, mem, **case), dec_layer(x, mem, **case))
        # The positions take effect.
        moved = {"tgt_positions": torch.tensor([6, 5, 2, 0]), "memory_positions": torch.tensor([11, 4, 3, 1, 0])}
        assert (dec(x, mem, **moved) - dec(x, mem)).abs().max() > 1e-6
        assert (enc(x, src_positions=moved["tgt_positions"]) - enc(x)).abs().max() > 1e-6


def test_equivariant_with_positions():
    dec = _layer(enn.ETransformerDecoderLayer, "rope", norm_first=True)
    case = _cases(2, 4, 5)[2]
    x = torch.randn(2, 4, REP.size, dtype=torch.float64)
    mem = torch.randn(2, 5, REP.size, dtype=torch.float64)
    rho = REP.matrices().to(torch.float64)
    with torch.no_grad():
        y = dec(x, mem, **case)
        worst = max(float((dec(x @ g.T, mem @ g.T, **case) - y @ g.T).abs().max()) for g in rho)
    assert worst <= 1e-10 * float(y.abs().max())


def test_errors():
    with pytest.raises(ValueError, match=r"unknown attention 'rpoe' \(did you mean 'rope'\?\); known: mha, "
                                         "additive_pos, additive_rel, rope"):
        enn.ETransformerEncoderLayer(REP, 2, attention="rpoe")
    with pytest.raises(ValueError, match=r"eTransformerDecoderLayer: attention 'additive_pos' needs 'max_len' > 0"):
        enn.ETransformerDecoderLayer(REP, 2, attention="additive_pos")
    with pytest.raises(ValueError, match=r"eTransformerEncoderLayer: attention 'additive_rel' needs 'max_distance' "
                                         "> 0"):
        enn.ETransformerEncoderLayer(REP, 2, attention="additive_rel")
    with pytest.raises(ValueError, match=r"eTransformerEncoderLayer: eRoPEMultiheadAttention: num_heads = 4 leaves "
                                         r"1 regular copy per head \(m = 4"):
        enn.ETransformerEncoderLayer(REP, 4, attention="rope")
    mha = enn.ETransformerEncoderLayer(REP, 2, dim_feedforward=16, batch_first=True)
    x = torch.randn(2, 4, REP.size)
    with pytest.raises(ValueError, match=r"eTransformerEncoderLayer: src_positions/src_position_mask given, but the "
                                         "layer's attention is 'mha'"):
        mha(x, src_positions=torch.arange(4))
    dec = enn.ETransformerDecoder(enn.ETransformerDecoderLayer(REP, 2, dim_feedforward=16, batch_first=True), 2)
    with pytest.raises(ValueError, match=r"eTransformerDecoder: tgt_positions/tgt_position_mask/memory_positions/"
                                         "memory_position_mask given, but the layer's attention is 'mha'"):
        dec(x, x, memory_position_mask=torch.ones(4, dtype=torch.bool))
