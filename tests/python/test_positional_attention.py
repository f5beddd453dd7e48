"""eqnn.nn's positional attention (ERoPEMultiheadAttention, EAdditivePosMultiheadAttention,
EAdditiveRelMultiheadAttention) from Python: exact equivariance on every element with positions and masks,
RoPE's shift invariance and dense kron(R_p, I_n) oracle, equality with EMultiheadAttention at position 0,
dense oracles of the additive layers, gradients reaching every parameter, state_dict round trips, the
defaults and every error."""

import math

import eqnn
import pytest
import torch
from eqnn import nn as enn

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def randomise(module, std=0.3):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, std)
    return module


def inputs(d, dtype, masks=True, float_positions=False):
    N, L, S = 2, 3, 4
    q, k, v = (torch.randn(N, t, d, dtype=dtype) for t in (L, S, S))
    if float_positions:
        kw = dict(q_positions=torch.rand(N, L, dtype=torch.float64) * 9,
                  k_positions=torch.rand(N, S, dtype=torch.float64) * 9)
    else:
        kw = dict(q_positions=torch.randint(0, 8, (N, L)), k_positions=torch.randint(0, 8, (S,)))
    if masks:
        kw["q_position_mask"] = torch.tensor([[True, True, True], [False, True, True]])
        kw["k_position_mask"] = torch.tensor([True, True, False, True])
        kw["key_padding_mask"] = torch.tensor([[False, False, False, True], [False] * 4])
        kw["attn_mask"] = torch.randn(L, S, dtype=dtype)
    return q, k, v, kw


CASES = [("C4", 4, 1), ("C4", 4, 2), ("D4", 2, 1), ("C5", 2, 1), ("Ico", 2, 1)]


def layers(rep, heads):
    return [enn.ERoPEMultiheadAttention(rep, heads), enn.EAdditiveRelMultiheadAttention(rep, heads, max_distance=3),
            enn.EAdditivePosMultiheadAttention(rep, heads, max_len=10)]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}x-{c[2]}h")
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_equivariant_on_every_element(case, dtype):
    spec, copies, heads = case
    G = eqnn.group(spec)
    rep = eqnn.rep(G, f"{copies}x regular")
    rho = rep.matrices().to(dtype)
    for layer in layers(rep, heads):
        randomise(layer).to(dtype).eval()
        q, k, v, kw = inputs(rep.size, dtype)
        with torch.no_grad():
            y, w = layer(q, k, v, need_weights=True, average_attn_weights=False, **kw)
            scale = y.abs().max()
            for g in range(G.order):
                A = rho[g]
                yg, wg = layer(q @ A.T, k @ A.T, v @ A.T, need_weights=True, average_attn_weights=False, **kw)
                assert (yg - y @ A.T).abs().max() / scale < TOL[dtype], (type(layer).__name__, g)
                assert (wg - w).abs().max() < TOL[dtype], (type(layer).__name__, g)


def test_rope_shift_invariant():
    rep = eqnn.rep(eqnn.group("C4"), "4x regular")
    layer = randomise(enn.ERoPEMultiheadAttention(rep, 2, dtype=torch.float64)).eval()
    q, k, v, kw = inputs(16, torch.float64, masks=False, float_positions=True)
    with torch.no_grad():
        y, w = layer(q, k, v, need_weights=True, average_attn_weights=False, **kw)
        for t in (7, -3, 0.5):
            shifted = dict(kw, q_positions=kw["q_positions"] + t, k_positions=kw["k_positions"] + t)
            yt, wt = layer(q, k, v, need_weights=True, average_attn_weights=False, **shifted)
            assert (wt - w).abs().max() < 1e-12, t
            assert (yt - y).abs().max() < 1e-12, t


def emha_twin(layer):
    mha = enn.EMultiheadAttention(layer.in_rep, layer.num_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for name, p in mha.named_parameters():
            p.copy_(layer.get_parameter("attn." + name))
    return mha.eval()


def test_rope_at_position_zero_is_emha_and_a_moved_key_changes_its_logits():
    rep = eqnn.rep(eqnn.group("D4"), "4x regular")
    layer = randomise(enn.ERoPEMultiheadAttention(rep, 2, dtype=torch.float64)).eval()
    mha = emha_twin(layer)
    q, k, v, kw = inputs(32, torch.float64)
    with torch.no_grad():
        ym, wm = mha(q, k, v, key_padding_mask=kw["key_padding_mask"], attn_mask=kw["attn_mask"],
                     average_attn_weights=False)
        masks = dict(key_padding_mask=kw["key_padding_mask"], attn_mask=kw["attn_mask"], need_weights=True,
                     average_attn_weights=False)
        y0, w0 = layer(q, k, v, q_positions=torch.zeros(3), k_positions=torch.zeros(2, 4), **masks)
        assert (y0 - ym).abs().max() <= 1e-14 and (w0 - wm).abs().max() <= 1e-14
        ya, _ = layer(q, k, v, q_positions=torch.arange(3) + 4, k_positions=torch.arange(4) + 1,
                      q_position_mask=torch.zeros(3, dtype=torch.bool),
                      k_position_mask=torch.zeros(4, dtype=torch.bool), **masks)
        assert (ya - ym).abs().max() <= 1e-14
        kp = torch.zeros(2, 4)
        kp[0, 1] = 5
        _, w1 = layer(q, k, v, q_positions=torch.zeros(3), k_positions=kp, **masks)
    d0 = w0[..., 1].log() - w0[..., 0].log()
    d1 = w1[..., 1].log() - w1[..., 0].log()
    assert (d1 - d0)[0].abs().max() > 1e-3
    assert (d1 - d0)[1].abs().max() < 1e-12


def rotation(p, c, base):
    R = torch.zeros(c, c, dtype=torch.float64)
    for i in range(c // 2):
        a = p * base ** (-2 * i / c)
        R[2 * i, 2 * i], R[2 * i, 2 * i + 1] = math.cos(a), -math.sin(a)
        R[2 * i + 1, 2 * i], R[2 * i + 1, 2 * i + 1] = math.sin(a), math.cos(a)
    return R


@pytest.mark.parametrize("spec,copies,heads,base", [("C4", 4, 2, 10000.0), ("D4", 4, 1, 100.0), ("C5", 2, 1, 10.0)])
def test_rope_dense_kronecker_oracle(spec, copies, heads, base):
    G = eqnn.group(spec)
    rep = eqnn.rep(G, f"{copies}x regular")
    layer = randomise(enn.ERoPEMultiheadAttention(rep, heads, rope_base=base, dtype=torch.float64)).eval()
    p = layer.dense_parameters()
    n, D = G.order, rep.size
    hd, c = D // heads, copies // heads
    q, k, v, kw = inputs(D, torch.float64, float_positions=True)
    with torch.no_grad():
        y, w = layer(q, k, v, need_weights=True, average_attn_weights=False, **kw)
    W, b = p["in_proj_weight"], p["in_proj_bias"]
    for nb in range(2):
        out = torch.zeros(3, D, dtype=torch.float64)
        for h in range(heads):
            sl = slice(h * hd, (h + 1) * hd)
            qs = []
            for t in range(3):
                pos = float(kw["q_positions"][nb, t]) if kw["q_position_mask"][nb, t] else 0.0
                qs.append(torch.kron(rotation(pos, c, base), torch.eye(n, dtype=torch.float64))
                          @ (W[:D] @ q[nb, t] + b[:D])[sl])
            ks = []
            for s in range(4):
                pos = float(kw["k_positions"][nb, s]) if kw["k_position_mask"][s] else 0.0
                ks.append(torch.kron(rotation(pos, c, base), torch.eye(n, dtype=torch.float64))
                          @ (W[D:2 * D] @ k[nb, s] + b[D:2 * D])[sl])
            logits = torch.stack([torch.stack([qs[t] @ ks[s] for s in range(4)]) for t in range(3)]) / math.sqrt(hd)
            logits = logits + kw["attn_mask"] + torch.where(kw["key_padding_mask"][nb], -math.inf, 0.0)
            weights = logits.softmax(-1)
            assert (weights - w[nb, h]).abs().max() <= 1e-12
            out[:, sl] = weights @ (v[nb] @ W[2 * D:].T + b[2 * D:])[:, sl]
        expected = out @ p["out_proj.weight"].T + p["out_proj.bias"]
        assert (expected - y[nb]).abs().max() <= 1e-12


def test_additive_pos_dense_oracle_and_range_check():
    G = eqnn.group("D4")
    rep = eqnn.rep(G, "2x regular + trivial")
    with pytest.raises(eqnn.ConfigError, match="not a multiple of"):
        enn.EAdditivePosMultiheadAttention(rep, 1, max_len=8)
    rep = eqnn.rep(G, "2x regular")
    layer = randomise(enn.EAdditivePosMultiheadAttention(rep, 2, max_len=8, dtype=torch.float64)).eval()
    table = layer.pos_emb.detach()
    assert table.shape == (8, 16)
    for A in rep.matrices():
        assert (table @ A.T - table).abs().max() < 1e-12
    mha = emha_twin(layer)
    q, k, v, kw = inputs(16, torch.float64)
    with torch.no_grad():
        y, w = layer(q, k, v, need_weights=True, average_attn_weights=False, **kw)
        qe = q + table[kw["q_positions"]] * kw["q_position_mask"].unsqueeze(-1)
        ke = k + table[kw["k_positions"]] * kw["k_position_mask"].unsqueeze(-1)
        ym, wm = mha(qe, ke, v, key_padding_mask=kw["key_padding_mask"], attn_mask=kw["attn_mask"],
                     average_attn_weights=False)
    assert (y - ym).abs().max() < 1e-12 and (w - wm).abs().max() < 1e-12
    x = torch.randn(1, 3, 16, dtype=torch.float64)
    with pytest.raises(RuntimeError, match=r"q_positions must lie in \[0, max_len = 8\) where the position mask is "
                                           r"true, got values in \[-1, 2\]"):
        layer(x, x, x, q_positions=torch.tensor([0, -1, 2]))
    layer(x, x, x, q_positions=torch.tensor([0, -1, 2]), q_position_mask=torch.tensor([True, False, True]))
    with pytest.raises(RuntimeError, match=r"k_positions must lie in .* got values in \[0, 8\]"):
        layer(x, x, x, k_positions=torch.tensor([0, 8, 2]))
    with pytest.raises(eqnn.ConfigError, match="has no trivial part"):
        enn.EAdditivePosMultiheadAttention(eqnn.rep(G, "4x irrep(4)"), 1, max_len=4)
    with pytest.raises(eqnn.ConfigError, match="max_len must be a positive integer, got 0"):
        enn.EAdditivePosMultiheadAttention(rep, 1, max_len=0)


@pytest.mark.parametrize("shared", [True, False])
def test_additive_rel_dense_oracle(shared):
    rep = eqnn.rep(eqnn.group("C4"), "4x regular")
    layer = randomise(enn.EAdditiveRelMultiheadAttention(rep, 2, max_distance=2, dtype=torch.float64)).eval()
    mha = emha_twin(layer)
    q, k, v, kw = inputs(16, torch.float64)
    if shared:
        kw["q_positions"], kw["q_position_mask"] = kw["q_positions"][0], kw["q_position_mask"][1]
    qp = kw["q_positions"].expand(2, 3)
    qm = kw["q_position_mask"].expand(2, 3)
    rel = (qp[:, :, None] - kw["k_positions"][None, None, :]).clamp(-2, 2) + 2
    bias = layer.rel_bias.detach()[rel] * (qm[:, :, None] & kw["k_position_mask"][None, None, :])
    mask = (kw["attn_mask"] - bias).repeat_interleave(2, 0)
    with torch.no_grad():
        y, w = layer(q, k, v, need_weights=True, average_attn_weights=False, **kw)
        ym, wm = mha(q, k, v, key_padding_mask=kw["key_padding_mask"], attn_mask=mask, average_attn_weights=False)
    assert (y - ym).abs().max() < 1e-12 and (w - wm).abs().max() < 1e-12
    with pytest.raises(eqnn.ConfigError, match="max_distance must be a positive integer, got -1"):
        enn.EAdditiveRelMultiheadAttention(rep, 1, max_distance=-1)


def test_rope_refusals_name_the_valid_head_counts():
    G = eqnn.group("C4")
    with pytest.raises(eqnn.ConfigError, match=r"num_heads = 2 leaves 1 regular copy per head \(m = 2.*m/num_heads "
                                               r"must be even; valid num_heads: 1$"):
        enn.ERoPEMultiheadAttention(eqnn.rep(G, "2x regular"), 2)
    with pytest.raises(eqnn.ConfigError, match="valid num_heads: 1, 3"):
        enn.ERoPEMultiheadAttention(eqnn.rep(G, "6x regular"), 2)
    with pytest.raises(eqnn.ConfigError, match=r"eRoPEMultiheadAttention: in_rep .* not a multiple of \|G\| = 4"):
        enn.ERoPEMultiheadAttention(eqnn.rep(G, "regular + trivial"), 1)
    with pytest.raises(eqnn.ConfigError, match="rope_base must be a finite number > 0"):
        enn.ERoPEMultiheadAttention(eqnn.rep(G, "2x regular"), 1, rope_base=-1.0)
    layer = enn.ERoPEMultiheadAttention(eqnn.rep(G, "2x regular"), 1)
    x = torch.randn(2, 3, 8)
    with pytest.raises(RuntimeError, match=r"q_positions has shape \[1, 4\], expected \(3\), \(1, 3\) or \(2, 3\)"):
        layer(x, x, x, q_positions=torch.arange(4))
    with pytest.raises(RuntimeError, match="k_position_mask must be bool"):
        layer(x, x, x, k_position_mask=torch.ones(3))
    with pytest.raises(RuntimeError, match="is_causal needs attn_mask"):
        layer(x, x, x, is_causal=True)


@pytest.mark.parametrize("cls,own", [(enn.ERoPEMultiheadAttention, {}),
                                     (enn.EAdditivePosMultiheadAttention, {"max_len": 8}),
                                     (enn.EAdditiveRelMultiheadAttention, {"max_distance": 3})])
def test_gradients_state_dict_and_layer_interface(cls, own):
    rep = eqnn.rep(eqnn.group("D4"), "4x regular")
    layer = cls(rep, 2, **own)
    assert layer.batch_first is True and layer.effective_parameters() == {}
    x = torch.randn(2, 5, 32)
    y, _ = layer(x, x, x)
    y.square().sum().backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    twin = cls(rep, 2, **own)
    twin.load_state_dict(layer.state_dict())
    with torch.no_grad():
        assert torch.equal(twin(x)[0], layer(x)[0])
        assert torch.allclose(layer(x)[0], layer(x, x, x)[0])
    assert eqnn.check_equivariance(layer, rep, rep) < 1e-5
    # Sequence-first gives the same answer on transposed inputs.
    seq = cls(rep, 2, batch_first=False, **own)
    seq.load_state_dict(layer.state_dict())
    with torch.no_grad():
        assert torch.allclose(seq(x.transpose(0, 1))[0].transpose(0, 1), layer(x)[0], atol=1e-6)
    # The YAML factory builds the same layer.
    assert enn.Layer(cls._layer_type, rep, num_heads=2, **own).options == layer.options
