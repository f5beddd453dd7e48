"""eqnn.interop.from_symm_learning: each converted module computes symm_learning's function with its weights
(float64 ≤ 1e-10, float32 ≤ 1e-5 relative, train and eval mode) and is equivariant under escnn's matrices."""


import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from reference_support import REPS, default_dtype, escnn_rep, fresh, matrices, rel
from symm_learning.nn import IrrepSubspaceNormPooling, eEMAStats, eLinear, eMultiheadAttention

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def randomise(module: torch.nn.Module) -> torch.nn.Module:
    """Random values in every free parameter (symm_learning starts its biases at zero)."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    for sub in module.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    return module


def check_equivariant(f, in_rep, out_rep, x, dtype):
    """f(x ρ_in(g)ᵀ) = f(x) ρ_out(g)ᵀ for every element, with escnn's ρ."""
    y = f(x)
    for A, B in zip(matrices(in_rep, dtype), matrices(out_rep, dtype)):
        assert rel(f(x @ A.T), y @ B.T) <= TOL[dtype] * 10


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kinds", [("regular", "2x regular"), ("mixed", "mixed"), ("2x regular", "mixed")])
@pytest.mark.parametrize("bias", [True, False])
def test_elinear(G, kinds, bias, dtype):
    rin, rout = escnn_rep(G, kinds[0]), escnn_rep(G, kinds[1])
    with default_dtype(torch.float64):
        theirs = randomise(eLinear(rin, rout, bias=bias)).to(dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.ELinear)
    assert ours.weight_coefficients.dtype == dtype
    x = torch.randn(4, 3, rin.size, dtype=dtype)
    for mode in (True, False):
        theirs.train(mode)
        ours.train(mode)
        assert ours.training is mode
        with torch.no_grad():
            assert rel(ours(x), theirs(x)) <= TOL[dtype]
    with torch.no_grad():
        check_equivariant(ours, rin, rout, x, dtype)


def test_elinear_converted_in_training_mode_keeps_it():
    G = eg.cyclic_group(5)
    theirs = randomise(eLinear(G.regular_representation, G.regular_representation)).train()
    assert interop.from_symm_learning(theirs).training
    assert not interop.from_symm_learning(theirs.eval()).training


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_emultihead_attention(G, heads, bias, dtype):
    r = escnn_rep(G, "2x regular")
    with default_dtype(torch.float64):
        theirs = randomise(eMultiheadAttention(r, heads, bias=bias)).to(dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EMultiheadAttention) and ours.batch_first
    q, kv = torch.randn(3, 5, r.size, dtype=dtype), torch.randn(3, 7, r.size, dtype=dtype)
    causal = torch.triu(torch.ones(5, 7, dtype=torch.bool), diagonal=1)
    padding = torch.zeros(3, 7, dtype=torch.bool)
    padding[1, 5:] = True
    for mode in (True, False):
        theirs.train(mode)
        ours.train(mode)
        with torch.no_grad():
            for kwargs in ({}, {"attn_mask": causal}, {"key_padding_mask": padding},
                           {"average_attn_weights": False}, {"need_weights": False}):
                y1, w1 = ours(q, kv, kv, **kwargs)
                y2, w2 = theirs(q, kv, kv, **kwargs)
                assert rel(y1, y2) <= TOL[dtype]
                if w2 is not None:
                    assert rel(w1, w2) <= TOL[dtype]
    ours.eval()
    with torch.no_grad():
        check_equivariant(lambda x: ours(x, x, x, need_weights=False)[0], r, r, q, dtype)


def test_emultihead_attention_refuses_non_regular_rep():
    G = eg.cyclic_group(2)
    # Size 4 = 2|G| passes symm_learning's check, but this rep is not reg^2: its function is not equivariant.
    r = eg.directsum([G.trivial_representation] * 2 + [G.irreps()[1]] * 2, name="C2-2triv+2sign")
    with default_dtype(torch.float64):
        theirs = randomise(eMultiheadAttention(r, 1))
    with pytest.raises(ValueError, match="eMultiheadAttention on C2-2triv\\+2sign is not equivariant"):
        interop.from_symm_learning(theirs)
    # ... as the reference itself shows: its output is not equivariant on this rep.
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    f = lambda x: theirs(x, x, x, need_weights=False)[0]  # noqa: E731
    with torch.no_grad():
        errs = [rel(f(x @ A.T), f(x) @ A.T) for A in matrices(r)]
    assert max(errs) > 1e-3


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", REPS)
def test_norm_pooling(G, kind, dtype):
    r = fresh(escnn_rep(G, kind), str(dtype))
    with default_dtype(torch.float64):
        theirs = IrrepSubspaceNormPooling(r).to(dtype)
    ours = interop.from_symm_learning(theirs).to(dtype)
    assert isinstance(ours, eqnn.nn.ENormPool)
    x = torch.randn(6, r.size, dtype=dtype)
    assert rel(ours(x), theirs(x)) <= TOL[dtype]
    check_equivariant(ours, r, theirs.out_rep, x, dtype)


def test_containers_and_stock_layers():
    G = eg.dihedral_group(4)
    r, h = fresh(escnn_rep(G, "regular"), "containers"), fresh(escnn_rep(G, "2x regular"), "containers")
    with default_dtype(torch.float64):
        theirs = torch.nn.Sequential(
            randomise(eLinear(r, h)), torch.nn.ReLU(), torch.nn.Dropout(0.0),
            torch.nn.ModuleList([randomise(eLinear(h, h))]), IrrepSubspaceNormPooling(h))
    nested = interop.from_symm_learning(theirs)
    assert isinstance(nested[3], torch.nn.ModuleList) and isinstance(nested[3][0], eqnn.nn.ELinear)
    assert isinstance(nested[2], torch.nn.Dropout) and nested[2] is not theirs[2]
    with default_dtype(torch.float64):
        body = torch.nn.ModuleDict({"a": randomise(eLinear(r, h)), "act": torch.nn.SiLU()})
        lst = torch.nn.ModuleList([randomise(eLinear(h, r)), torch.nn.Tanh()])
        theirs = torch.nn.Sequential(body["a"], body["act"], lst[0], lst[1], IrrepSubspaceNormPooling(r),
                                     torch.nn.Linear(len(r.irreps), 3))
    ours = interop.from_symm_learning(theirs)
    assert [type(m).__name__ for m in ours] == ["ELinear", "SiLU", "ELinear", "Tanh", "ENormPool", "Linear"]
    assert ours[5] is not theirs[5] and torch.equal(ours[5].weight, theirs[5].weight)
    x = torch.randn(5, r.size, dtype=torch.float64)
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= 1e-10
    d = interop.from_symm_learning(body)
    assert isinstance(d, torch.nn.ModuleDict) and list(d) == ["a", "act"]
    assert isinstance(d["a"], eqnn.nn.ELinear) and isinstance(d["act"], torch.nn.SiLU)
    lst2 = interop.from_symm_learning(lst)
    assert isinstance(lst2, torch.nn.ModuleList) and isinstance(lst2[0], eqnn.nn.ELinear)


def test_unsupported_modules_are_named_with_their_path():
    G = eg.cyclic_group(2)
    r = G.regular_representation
    # a symm_learning type without a converter (made here, so that no later converter makes the test stale)
    future = type("eFuture", (torch.nn.Module,), {"__module__": "symm_learning.nn.future", "forward": lambda s, x: x})
    model = torch.nn.Sequential(eLinear(r, r), torch.nn.ModuleDict({"stats": eEMAStats(r), "next": future()}))
    with pytest.raises(TypeError, match="^1.next: symm_learning.nn.future.eFuture is not supported yet$"):
        interop.from_symm_learning(model)
    del model[1]["next"]
    assert isinstance(interop.from_symm_learning(model)[1]["stats"], eqnn.stats.EEMAStats)

    class Mine(torch.nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="^0: .*Mine is not supported \\(neither a symm_learning module"):
        interop.from_symm_learning(torch.nn.Sequential(Mine()))
    wrapped = torch.nn.TransformerEncoderLayer(4, 1)
    wrapped.linear1 = eLinear(r, r)
    with pytest.raises(TypeError, match="holds the symm_learning module linear1"):
        interop.from_symm_learning(wrapped)
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        interop.from_symm_learning("eLinear")


def test_converter_table_is_extensible():
    class Twice(torch.nn.Module):
        def forward(self, x):
            return 2 * x

    @interop.converter(Twice)
    def _twice(module, path):
        return torch.nn.Identity()

    try:
        assert isinstance(interop.from_symm_learning(torch.nn.Sequential(Twice()))[0], torch.nn.Identity)
    finally:
        del interop.CONVERTERS[Twice]


def test_non_equivariant_weights_are_refused():
    G = eg.dihedral_group(4)
    r = fresh(escnn_rep(G, "regular"), "tampered")
    with default_dtype(torch.float64):
        theirs = randomise(eLinear(r, r)).eval()
    theirs.expand_weight()
    theirs._weight = torch.randn(8, 8, dtype=torch.float64)  # its eval cache, now not in Hom_G
    with pytest.raises(ValueError, match="^layer: weight is not equivariant \\(its distance to Hom_G is"):
        interop.from_symm_learning(torch.nn.ModuleDict({"layer": theirs}))
    theirs.invalidate_cache()
    with torch.no_grad():
        theirs.bias_module._bias = torch.randn(8, dtype=torch.float64)
        theirs.bias_module._bias_cache_dirty = False
    theirs.expand_weight()
    with pytest.raises(ValueError, match="^layer: bias is not invariant"):
        interop.from_symm_learning(torch.nn.ModuleDict({"layer": theirs}))
