"""eqnn.models.ECondTransformer against symm_learning's eCondTransformer
(symm_learning.models.control.econd_transformer) through eqnn.interop.from_symm_learning: on C2 and Ico, with 2
regular copies, 2-3 decoder layers, heads {1, 2}, num_cond_layers {0, 1}, pos_encoding {absolute, relative,
none} and causal_attn {off, on}, the converted model computes symm_learning's function with its weights (float64
≤ 1e-10, eval and train mode with dropout 0; float32 ≤ 1e-5 relative, scaled by the depth).

Where symm_learning 0.8.1 is wrong, the tests show the difference:
- its float64 model fails (the step is embedded in float32, then multiplied by the float64 projector); the float64
  comparisons give symm_learning's step embedding a float64 twin (the same formula), with float32-exact steps;
- it rounds the step to float32 (eqnn embeds it in the model's dtype);
- with causal_attn its masks are sized for the horizons, so shorter inputs fail (eqnn builds them per call);
- with causal_attn and additive_relative, its decoder's causal hint drops the self-attention mask and with it the
  relative bias (torch's MultiheadAttention drops attn_mask when is_causal is set): eqnn applies it, and equals
  symm_learning exactly once the self-attention biases are zeroed;
- its get_optim_groups raises on its own parameters (eqnn's gives two complete, disjoint groups).
"""

import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from reference_support import TOL, matrices, randomise, rel
from symm_learning.models.control.cond_transformer import SinusoidalPosEmb
from symm_learning.models.control.econd_transformer import eCondTransformer

GROUPS = {"C2": lambda: eg.cyclic_group(2), "Ico": lambda: eg.ico_group()}
POS = ["additive_absolute", "additive_relative", "none"]
# C2: every combination; Ico (slow to build in symm_learning): each value of each option at least once.
CASES = [("C2", pos, heads, cond, causal) for pos in POS for heads in (1, 2) for cond in (0, 1)
         for causal in (False, True)]
CASES += [("Ico", "additive_absolute", 2, 1, False), ("Ico", "additive_relative", 1, 0, True),
          ("Ico", "none", 2, 0, True), ("Ico", "additive_relative", 2, 1, False)]
TX, TZ = 4, 3  # the horizons


class _Float64StepEmbedding(torch.nn.Module):
    """symm_learning's SinusoidalPosEmb evaluated in float64 (its model casts the step to float32 and then fails
    on the float64 projector, and it computes its frequencies in the default dtype); given float32-exact steps
    this is the float64 function of its code."""

    def __init__(self, dim):
        super().__init__()
        self.emb = SinusoidalPosEmb(dim)

    def forward(self, k):
        old = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # its frequencies are computed in the default dtype
        try:
            return self.emb(k.to(torch.float64))
        finally:
            torch.set_default_dtype(old)


def reps(G, tag):
    reg = G.regular_representation
    return (eg.directsum([reg, reg], name=f"{G.name}-ct-x-{tag}"),
            eg.directsum([reg, G.trivial_representation], name=f"{G.name}-ct-z-{tag}"))


def build(group, pos, heads, cond, causal, dtype, tag, p=0.0):
    G = GROUPS[group]()
    x_rep, z_rep = reps(G, tag)
    torch.manual_seed(1)
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # symm_learning builds its bases in the default dtype
    try:
        sl = _build_sl(x_rep, z_rep, group, pos, heads, cond, causal, p, G)
    finally:
        torch.set_default_dtype(old)
    sl = randomise(sl).to(dtype)
    with torch.no_grad():  # keep the logits moderate: symm_learning's init scale for the attention weights
        for prm in sl.parameters():
            prm.mul_(0.3)
    for sub in sl.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    if dtype == torch.float64:
        sl.opt_time_emb = _Float64StepEmbedding(sl.embedding_dim)
    return G, x_rep, z_rep, sl


def _build_sl(x_rep, z_rep, group, pos, heads, cond, causal, p, G):
    return eCondTransformer(x_rep, z_rep, None, in_horizon=TX, cond_horizon=TZ, num_layers=3 if group == "C2" else 2,
                            num_attention_heads=heads, embedding_dim=4 * G.order(), p_drop_emb=p, p_drop_attn=p,
                            causal_attn=causal, num_cond_layers=cond, pos_encoding=pos)


def inputs(x_rep, z_rep, dtype, tx=TX, tz=TZ, n=3):
    g = torch.Generator().manual_seed(7)
    X = torch.randn(n, tx, x_rep.size, generator=g, dtype=torch.float64).to(dtype)
    Z = torch.randn(n, tz, z_rep.size, generator=g, dtype=torch.float64).to(dtype)
    k = torch.tensor([3.0, 17.5, 250.25][:n], dtype=dtype)  # float32-exact
    return X, k, Z


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_same_function_float64(case):
    group, pos, heads, cond, causal = case
    G, x_rep, z_rep, sl = build(group, pos, heads, cond, causal, torch.float64, f"{case}")
    ours = interop.from_symm_learning(sl)
    assert isinstance(ours, eqnn.models.ECondTransformer)
    assert ours.options["pos_encoding"] == pos and ours.options["causal_attn"] == causal
    X, k, Z = inputs(x_rep, z_rep, torch.float64)
    for mode in (False, True):  # eval, then train mode (dropout 0)
        sl.train(mode)
        ours.train(mode)
        with torch.no_grad():
            want = sl(X, k, Z)
            have = ours(X, k, Z)
        if causal and pos == "additive_relative":
            # symm_learning drops the decoder's self-attention mask (and the relative bias with it); eqnn keeps it.
            assert rel(have, want) > 1e-6
            with torch.no_grad():
                for i in range(len(sl.decoder.layers)):
                    ours.get_parameter(f"decoder.layers.{i}.self_attn.rel_bias").zero_()
                have = ours(X, k, Z)
            assert rel(have, want) <= TOL[torch.float64], mode
            ours = interop.from_symm_learning(sl)  # back to the converted weights
        else:
            assert rel(have, want) <= TOL[torch.float64], mode
    # Non-causal: shorter inputs too (symm_learning takes them without causal masks).
    if not causal:
        sl.eval()
        ours.eval()
        X, k, Z = inputs(x_rep, z_rep, torch.float64, tx=TX - 1, tz=TZ - 1)
        with torch.no_grad():
            assert rel(ours(X, k, Z), sl(X, k, Z)) <= TOL[torch.float64]
    # Equivariant under escnn's matrices.
    ours.eval()
    X, k, Z = inputs(x_rep, z_rep, torch.float64)
    with torch.no_grad():
        y = ours(X, k, Z)
        for A, B in zip(matrices(x_rep), matrices(z_rep)):
            assert rel(ours(X @ A.T, k, Z @ B.T), y @ A.T) <= 1e-10


@pytest.mark.parametrize("case", [c for c in CASES if c[0] == "C2" and c[2] == 2],
                         ids=lambda c: "-".join(map(str, c)))
def test_same_function_float32(case):
    group, pos, heads, cond, causal = case
    G, x_rep, z_rep, sl = build(group, pos, heads, cond, causal, torch.float32, f"{case}-32")
    ours = interop.from_symm_learning(sl)
    sl.eval()
    ours.eval()
    X, k, Z = inputs(x_rep, z_rep, torch.float32)
    with torch.no_grad():
        have, want = ours(X, k, Z), sl(X, k, Z)
    if causal and pos == "additive_relative":
        assert rel(have, want) > 1e-3
    else:
        assert rel(have, want) <= 10 * TOL[torch.float32]


def test_symm_learning_float64_fails():
    G, x_rep, z_rep, sl = build("C2", "none", 1, 0, False, torch.float64, "f64fails")
    sl.opt_time_emb = SinusoidalPosEmb(sl.embedding_dim)  # its own
    X, k, Z = inputs(x_rep, z_rep, torch.float64)
    with pytest.raises(RuntimeError, match="expected scalar type"):
        sl(X, k, Z)
    ours = interop.from_symm_learning(build("C2", "none", 1, 0, False, torch.float64, "f64ok")[3])
    assert ours(X, k, Z).dtype == torch.float64


def test_step_rounding():
    """symm_learning embeds float32(k); eqnn embeds k in the model's dtype."""
    G, x_rep, z_rep, sl = build("C2", "additive_absolute", 1, 0, False, torch.float64, "round")
    ours = interop.from_symm_learning(sl).eval()
    sl.eval()
    X, _, Z = inputs(x_rep, z_rep, torch.float64)
    k = torch.tensor([1234.1] * 3, dtype=torch.float64)
    k32 = k.to(torch.float32).to(torch.float64)
    assert not torch.equal(k, k32)
    with torch.no_grad():
        assert torch.equal(sl(X, k, Z), sl(X, k32, Z))  # rounded
        assert rel(ours(X, k32, Z), sl(X, k, Z)) <= TOL[torch.float64]
        assert rel(ours(X, k, Z), ours(X, k32, Z)) > 1e-12  # not rounded


@pytest.mark.parametrize("pos", POS)
def test_causal_shorter_inputs(pos):
    """symm_learning's causal masks are sized for the horizons: shorter inputs fail there, eqnn takes them."""
    G, x_rep, z_rep, sl = build("C2", pos, 1, 0, True, torch.float64, f"short-{pos}")
    ours = interop.from_symm_learning(sl).eval()
    sl.eval()
    X, k, Z = inputs(x_rep, z_rep, torch.float64, tx=TX - 1, tz=TZ - 1)
    with pytest.raises(RuntimeError):
        sl(X, k, Z)
    with torch.no_grad():
        y = ours(X, k, Z)
        # The first Tx - 1 outputs do not depend on a later target: equal to the full-length call's prefix.
        X_full = torch.cat([X, torch.randn(3, 1, x_rep.size, dtype=torch.float64)], 1)
        full = ours(X_full, k, Z)
    assert y.shape == (3, TX - 1, x_rep.size)
    assert rel(full[:, : TX - 1], y) <= 1e-12


def test_optim_groups():
    G, x_rep, z_rep, sl = build("C2", "additive_relative", 1, 1, False, torch.float32, "optim")
    with pytest.raises(ValueError, match="Unrecognized parameter"):
        sl.get_optim_groups()
    with pytest.raises(ValueError, match="Unrecognized parameter"):
        sl.configure_optimizers()
    ours = interop.from_symm_learning(sl)
    decay, no_decay = ours.get_optim_groups(weight_decay=0.05)
    assert decay["weight_decay"] == 0.05 and no_decay["weight_decay"] == 0.0
    ids = [id(p) for p in decay["params"]] + [id(p) for p in no_decay["params"]]
    assert len(ids) == len(set(ids)) and set(ids) == {id(p) for p in ours.parameters()}
    names = {id(p): n for n, p in ours.named_parameters()}
    assert all(names[id(p)].endswith("weight_coefficients") for p in decay["params"])
    assert any(names[id(p)].endswith("rel_bias") for p in no_decay["params"])
    opt = ours.configure_optimizers()
    assert isinstance(opt, torch.optim.AdamW) and opt.defaults["betas"] == (0.9, 0.95)
