"""eqnn's positional attention against symm_learning 0.8.1: converted eAdditivePosMultiheadAttention and
eAdditiveRelMultiheadAttention compute symm_learning's function with its weights (positions, position masks,
key padding, attention masks; float64 ≤ 1e-10, float32 ≤ 1e-5 relative) and are equivariant under escnn's
matrices; on C1 eqnn's ERoPEMultiheadAttention is symm_learning's RoPEMultiheadAttention; symm_learning's
defects of §10 (negative positions wrap, pos_emb zero until reset) shown beside eqnn's behaviour."""


import eqnn
import eqnn.interop as interop
import pytest
import torch
from reference_support import GROUPS, default_dtype, escnn_rep, matrices, rel
from symm_learning.nn.activation import (
    AdditivePosMultiheadAttention,
    RoPEMultiheadAttention,
    eAdditivePosMultiheadAttention,
    eAdditiveRelMultiheadAttention,
)

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def randomise(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_(0, 0.5)
    for sub in module.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    return module


def calls(N, L, S, dtype, max_pos):
    q_pos = torch.randint(0, max_pos, (N, L))
    k_pos = torch.randint(0, max_pos, (S,))
    q_mask = torch.ones(N, L, dtype=torch.bool)
    q_mask[1, 0] = False
    k_mask = torch.ones(S, dtype=torch.bool)
    k_mask[2] = False
    padding = torch.zeros(N, S, dtype=torch.bool)
    padding[0, -1] = True
    causal = torch.triu(torch.ones(L, S, dtype=torch.bool), diagonal=1)
    return [
        {},
        {"q_positions": q_pos, "k_positions": k_pos},
        {"q_positions": q_pos, "k_positions": k_pos, "q_position_mask": q_mask, "k_position_mask": k_mask},
        {"q_positions": q_pos[0], "k_positions": k_pos, "key_padding_mask": padding, "attn_mask": causal},
        {"q_positions": q_pos, "k_positions": k_pos, "attn_mask": torch.randn(L, S, dtype=dtype)},
    ]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("kind", ["pos", "rel"])
def test_converted_positional_attention(G, kind, heads, dtype):
    r = escnn_rep(G, "2x regular")
    with default_dtype(torch.float64):
        if kind == "pos":
            theirs = eAdditivePosMultiheadAttention(r, heads, max_len=9)
        else:
            theirs = eAdditiveRelMultiheadAttention(r, heads, max_distance=2)
        theirs = randomise(theirs).to(dtype).eval()
    ours = interop.from_symm_learning(theirs).eval()
    cls = eqnn.nn.EAdditivePosMultiheadAttention if kind == "pos" else eqnn.nn.EAdditiveRelMultiheadAttention
    assert isinstance(ours, cls) and ours.batch_first
    assert ours.attn.in_proj_weight_coefficients.dtype == dtype
    q, kv = torch.randn(2, 4, r.size, dtype=dtype), torch.randn(2, 5, r.size, dtype=dtype)
    with torch.no_grad():
        for kw in calls(2, 4, 5, dtype, 9):
            for need_weights in (True, False):
                y1, w1 = ours(q, kv, kv, need_weights=need_weights, **kw)
                y2, w2 = theirs(q, kv, kv, need_weights=need_weights, **kw)
                assert rel(y1, y2) <= TOL[dtype], kw.keys()
                if need_weights:
                    assert rel(w1, w2) <= TOL[dtype]
        kw = calls(2, 4, 5, dtype, 9)[2]
        y = ours(q, kv, kv, **kw)[0]
        for A in matrices(r, dtype):
            assert rel(ours(q @ A.T, kv @ A.T, kv @ A.T, **kw)[0], y @ A.T) <= TOL[dtype] * 10


def test_symm_learning_wraps_negative_positions_and_eqnn_refuses_them():
    G = GROUPS["C5"]()
    r = escnn_rep(G, "2x regular")
    with default_dtype(torch.float64):
        theirs = randomise(eAdditivePosMultiheadAttention(r, 1, max_len=6)).eval()
    ours = interop.from_symm_learning(theirs).eval()
    x = torch.randn(1, 3, r.size, dtype=torch.float64)
    with torch.no_grad():
        wrapped = theirs(x, x, x, q_positions=torch.tensor([-1, 0, 1]))[0]
        last = theirs(x, x, x, q_positions=torch.tensor([5, 0, 1]))[0]
    assert rel(wrapped, last) <= 1e-12  # -1 silently means max_len - 1
    with pytest.raises(RuntimeError, match=r"q_positions must lie in \[0, max_len = 6\)"):
        ours(x, x, x, q_positions=torch.tensor([-1, 0, 1]))
    # symm_learning's table is zero until reset_parameters(); eqnn's is drawn at construction.
    with default_dtype(torch.float64):
        assert eAdditivePosMultiheadAttention(r, 1, max_len=6).pos_emb.abs().max() == 0
    assert eqnn.nn.EAdditivePosMultiheadAttention(ours.in_rep, 1, max_len=6).pos_emb.abs().max() > 0


def test_non_equivariant_modules_are_refused():
    with pytest.raises(TypeError, match="AdditivePosMultiheadAttention is not equivariant .* use torch"):
        interop.from_symm_learning(AdditivePosMultiheadAttention(8, 2, max_len=4))
    with pytest.raises(TypeError, match="RoPEMultiheadAttention is not equivariant"):
        interop.from_symm_learning(RoPEMultiheadAttention(8, 2))


def test_rope_on_c1_is_symm_learnings_rope_attention():
    torch.manual_seed(3)
    D, heads = 8, 2
    with default_dtype(torch.float64):
        theirs = randomise(RoPEMultiheadAttention(D, heads, rope_base=100.0)).eval()
    rep = eqnn.rep(eqnn.group("C1"), f"{D}x regular")
    ours = eqnn.nn.ERoPEMultiheadAttention(rep, heads, rope_base=100.0, dtype=torch.float64).eval()
    W = torch.cat([theirs.q_proj.weight, theirs.k_proj.weight, theirs.v_proj.weight]).detach()
    b = torch.cat([theirs.q_proj.bias, theirs.k_proj.bias, theirs.v_proj.bias]).detach()
    qkv = eqnn.rep(rep.group, f"{3 * D}x regular")
    with torch.no_grad():
        ours.attn.in_proj_weight_coefficients.copy_(eqnn.hom(rep, qkv).analyse(W))
        ours.attn.out_proj.weight_coefficients.copy_(eqnn.hom(rep, rep).analyse(theirs.out_proj.weight.detach()))

        def fit(param, name, target):  # a bias is linear in its coefficients: one probe each
            cols = []
            for i in range(param.numel()):
                param.zero_()
                param.view(-1)[i] = 1
                cols.append(ours.dense_parameters()[name].clone())
            param.copy_(torch.linalg.lstsq(torch.stack(cols, 1), target.unsqueeze(1)).solution.squeeze(1))

        fit(ours.attn.in_proj_bias_coefficients, "in_proj_bias", b)
        fit(ours.attn.out_proj.bias_coefficients, "out_proj.bias", theirs.out_proj.bias.detach())
        p = ours.dense_parameters()
        assert rel(p["in_proj_weight"], W) <= 1e-12 and rel(p["in_proj_bias"], b) <= 1e-12
        q, kv = torch.randn(2, 4, D, dtype=torch.float64), torch.randn(2, 5, D, dtype=torch.float64)
        pos = {"q_positions": torch.randint(0, 9, (2, 4)), "k_positions": torch.randint(0, 9, (5,))}
        masks = {"q_position_mask": torch.tensor([True, False, True, True]),
                 "key_padding_mask": torch.tensor([[False] * 4 + [True], [False] * 5])}
        for kw in ({}, pos, dict(pos, **masks)):
            y1, _ = ours(q, kv, kv, **kw)
            y2, _ = theirs(q, kv, kv, **kw)
            assert rel(y1, y2) <= 1e-10, kw.keys()
