"""eqnn.interop.from_symm_learning for InvariantBias, eAffine (learnable and FiLM), eRMSNorm, eLayerNorm,
eBatchNorm1d, eConv1d, eConvTranspose1d, Change2DisentangledBasis, eMultivariateNormal and
eTransformerEncoderLayer: each converted
module computes symm_learning's function with its weights (float64 ≤ 1e-10, float32 ≤ 1e-5 relative, train
and eval mode where they agree) and is equivariant under escnn's matrices; where symm_learning's function is
not eqnn's (eBatchNorm1d in training, eMultivariateNormal's covariance, isotypic bases), the tests show the
difference and that eqnn's side is the equivariant one."""

import copy

import eqnn
import eqnn.interop as interop
import escnn.group as eg
import numpy as np
import pytest
import torch
from reference_support import (
    REPS,
    TOL,
    check_equivariant,
    default_dtype,
    escnn_rep,
    fresh,
    matrices,
    randomise,
    rel,
    rotated,
)
from symm_learning.nn import (
    Change2DisentangledBasis,
    InvariantBias,
    eAffine,
    eBatchNorm1d,
    eConv1d,
    eConvTranspose1d,
    eLayerNorm,
    eMultiheadAttention,
    eMultivariateNormal,
    eRMSNorm,
    eTransformerEncoderLayer,
)
from symm_learning.representation_theory import isotypic_decomp_rep

DTYPES = [torch.float64, torch.float32]


def build(make, dtype):
    with default_dtype(torch.float64):
        return randomise(make()).to(dtype)


def same_in_both_modes(ours, theirs, *args, dtype):
    for mode in (True, False):
        theirs.train(mode)
        ours.train(mode)
        with torch.no_grad():
            assert rel(ours(*args), theirs(*args)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
def test_invariant_bias(G, kind, dtype):
    r = escnn_rep(G, kind)
    theirs = build(lambda: InvariantBias(r), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EInvariantBias) and ours.bias_coefficients.dtype == dtype
    x = torch.randn(4, 3, r.size, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype=dtype)
    with torch.no_grad():
        check_equivariant(ours, r, r, x, dtype)


def test_invariant_bias_without_trivial_part_is_the_identity():
    G = eg.cyclic_group(2)
    r = eg.directsum([G.irreps()[1]] * 2, name="C2-2sign")
    theirs = InvariantBias(r)
    assert not theirs.has_bias
    assert isinstance(interop.from_symm_learning(theirs), torch.nn.Identity)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
@pytest.mark.parametrize("bias", [True, False])
def test_eaffine_learnable(G, kind, bias, dtype):
    r = escnn_rep(G, kind)
    theirs = build(lambda: eAffine(r, bias=bias), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EAffine) and ours.learnable and ours.has_bias == bias
    assert torch.equal(ours.scale, theirs.scale_dof.detach())
    x = torch.randn(4, 3, r.size, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype=dtype)
    with torch.no_grad():
        check_equivariant(ours, r, r, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
def test_eaffine_film(G, kind, dtype):
    """FiLM mode: the same scale_dof and bias_dof give the same output (bias_dof multiplies the same trivial
    basis vectors: escnn's trivial columns of Q are eqnn's)."""
    r = escnn_rep(G, kind)
    with default_dtype(torch.float64):
        theirs = eAffine(r, learnable=False).to(dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EAffine) and not ours.learnable and ours.has_bias
    assert (ours.num_copies, ours.num_trivial) == (theirs.num_scale_dof, theirs.num_bias_dof)
    x = torch.randn(4, 3, r.size, dtype=dtype)
    scale = torch.randn(4, 3, theirs.num_scale_dof, dtype=dtype)
    shift = torch.randn(4, 3, theirs.num_bias_dof, dtype=dtype)
    same_in_both_modes(ours, theirs, x, scale, shift, dtype=dtype)
    with torch.no_grad():
        check_equivariant(lambda t: ours(t, scale, shift), r, r, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
@pytest.mark.parametrize("affine", [True, False])
def test_rms_norm(G, kind, affine, dtype):
    r = escnn_rep(G, kind)
    theirs = build(lambda: eRMSNorm(r, eps=1e-5, equiv_affine=affine), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.ERMSNorm)
    assert ours.options["affine"] == "per_copy" and ours.options["eps"] == 1e-5
    assert ours.options["elementwise_affine"] == affine
    x = torch.randn(4, 3, r.size, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype=dtype)
    with torch.no_grad():
        check_equivariant(ours, r, r, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
@pytest.mark.parametrize("affine_bias", [(True, True), (True, False), (False, False)])
def test_layer_norm(G, kind, affine_bias, dtype):
    affine, bias = affine_bias
    r = fresh(escnn_rep(G, kind), f"ln-{dtype}")  # symm_learning's irrep_radii caches Q⁻¹ on the rep per dtype
    theirs = build(lambda: eLayerNorm(r, equiv_affine=affine, bias=bias), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.ELayerNorm)
    assert (ours.options["affine"], ours.options["normalize"]) == ("per_copy", "per_copy")
    if affine and not bias:  # eqnn's layer has an invariant bias: held at 0 and frozen
        assert not ours.bias_coefficients.requires_grad and not ours.bias_coefficients.any()
    trainable = sum(p.numel() for p in ours.parameters() if p.requires_grad)
    assert trainable == sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    x = torch.randn(4, 3, r.size, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype=dtype)
    with torch.no_grad():
        check_equivariant(ours, r, r, x, dtype)


def train_running_stats(module, size, dtype, steps=3):
    module.train()
    with torch.no_grad():
        for _ in range(steps):
            module(3 * torch.randn(16, size, dtype=dtype) + 1)
    return module


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_eval(G, kind, affine, dtype):
    """Eval mode (running statistics) computes symm_learning's function, for (N, D) and (N, L, D) inputs;
    train mode is eqnn's (batch statistics), equivariant for the whole batch."""
    r = fresh(escnn_rep(G, kind), f"bn-{dtype}-{affine}")  # symm_learning caches Q² on the rep per dtype
    theirs = build(lambda: eBatchNorm1d(r, affine=affine), dtype)
    train_running_stats(theirs, r.size, dtype).eval()
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EBatchNorm1d) and not ours.training
    assert ours.options["channels_last"] and ours.running_var.shape == (len(r.irreps),)
    assert int(ours.num_batches_tracked) == 3
    for x in (torch.randn(8, r.size, dtype=dtype), torch.randn(4, 5, r.size, dtype=dtype)):
        with torch.no_grad():
            assert rel(ours(x), theirs(x)) <= TOL[dtype]
            check_equivariant(ours, r, r, x, dtype)
    ours.train()
    x = torch.randn(8, r.size, dtype=dtype)
    with torch.no_grad():
        check_equivariant(lambda t: copy.deepcopy(ours)(t), r, r, x, dtype)


def clone(module):
    """A deep copy of a symm_learning module (its caches hold non-leaf tensors deepcopy refuses)."""
    for sub in module.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    return copy.deepcopy(module)


def test_batch_norm_train_mode_differs_by_design():
    """On a rotated regular rep symm_learning's training-mode output (running statistics, divided
    coordinate-wise) is not equivariant; the converted module's (batch statistics in the copy basis) is. Once
    its running_var has left Q diag(v) Qᵀ, the conversion is refused with the reason."""
    G = eg.dihedral_group(4)
    r = rotated(G.regular_representation, seed=1)
    with default_dtype(torch.float64):
        theirs = randomise(eBatchNorm1d(r))
    ours = interop.from_symm_learning(theirs)  # fresh running stats (0, 1): convertible on any rep
    x = 3 * torch.randn(16, r.size, dtype=torch.float64) + 1
    with torch.no_grad():
        check_equivariant(lambda t: copy.deepcopy(ours)(t), r, r, x, torch.float64)
        errs = [rel(clone(theirs)(x @ A.T), clone(theirs)(x) @ A.T) for A in matrices(r)]
    assert max(errs) > 1e-3
    train_running_stats(theirs, r.size, torch.float64)
    with pytest.raises(ValueError, match="divides by its running_var coordinate-wise.*does not commute"):
        interop.from_symm_learning(theirs.eval())


CONV_OPTIONS = [
    dict(padding=1),
    dict(stride=2, padding=2, dilation=2, padding_mode="reflect"),
    dict(padding="same", padding_mode="circular"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kinds", [("regular", "2x regular"), ("mixed", "mixed")])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("options", range(len(CONV_OPTIONS)))
def test_conv1d(G, kinds, bias, options, dtype):
    rin, rout = escnn_rep(G, kinds[0]), escnn_rep(G, kinds[1])
    theirs = build(lambda: eConv1d(rin, rout, kernel_size=3, bias=bias, **CONV_OPTIONS[options]), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EConv1d)
    x = torch.randn(2, rin.size, 11, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype=dtype)
    with torch.no_grad():
        check_equivariant(ours, rin, rout, x, dtype, dim=-2)


TRANSPOSE_OPTIONS = [dict(), dict(stride=2, padding=1, output_padding=1), dict(stride=3, dilation=2, padding=2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kinds", [("2x regular", "regular"), ("mixed", "mixed")])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("options", range(len(TRANSPOSE_OPTIONS)))
def test_conv_transpose1d(G, kinds, bias, options, dtype):
    rin, rout = escnn_rep(G, kinds[0]), escnn_rep(G, kinds[1])
    theirs = build(lambda: eConvTranspose1d(rin, rout, kernel_size=4, bias=bias, **TRANSPOSE_OPTIONS[options]),
                   dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EConvTranspose1d)
    x = torch.randn(2, rin.size, 7, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype=dtype)
    with torch.no_grad():
        check_equivariant(ours, rin, rout, x, dtype, dim=-2)


def test_conv_refuses_non_equivariant_taps(monkeypatch):
    G = eg.cyclic_group(5)
    r = fresh(G.regular_representation, "tampered-conv")
    with default_dtype(torch.float64):
        theirs = randomise(eConv1d(r, r, kernel_size=3))
    tampered = theirs.weight.detach().clone()
    tampered[0, 1, 1] += 1
    monkeypatch.setattr(eConv1d, "weight", property(lambda self: tampered))
    with pytest.raises(ValueError, match="^conv: weight is not equivariant"):
        interop.from_symm_learning(torch.nn.ModuleDict({"conv": theirs}))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
def test_isotypic_basis(G, kind, dtype):
    """Converted to EIsotypicBasis where symm_learning's isotypic basis is eqnn's (component order and the basis
    inside each copy), to a frozen ELinear computing its map elsewhere; the isotypic subspaces (the projectors)
    agree in every case."""
    r = fresh(escnn_rep(G, kind), f"iso-{dtype}")
    with default_dtype(torch.float64):
        theirs = Change2DisentangledBasis(r).to(dtype)
    eq_rep = interop.rep_from_escnn(r)
    Q_eq = eq_rep.isotypic_change_of_basis
    Q_sl = torch.as_tensor(np.asarray(isotypic_decomp_rep(r).change_of_basis), dtype=torch.float64)
    # Basis-free: each irrep's isotypic subspace is the same in both.
    to_eqnn = {i: k for i, k in zip(r.irreps, eq_rep.irreps)}
    sl_slices = {to_eqnn[i]: s for i, s in isotypic_decomp_rep(r).attributes["isotypic_subspace_dims"].items()}
    for k, s in eq_rep.isotypic_slices:
        P_eq, P_sl = Q_eq[:, s] @ Q_eq[:, s].T, Q_sl[:, sl_slices[k]] @ Q_sl[:, sl_slices[k]].T
        assert rel(P_eq, P_sl) <= 1e-10
    x = torch.randn(5, r.size, dtype=dtype)
    if G.name.startswith("C2"):  # 1-dim irreps only: escnn's matrices are eqnn's, the bases agree
        ours = interop.from_symm_learning(theirs)
        assert isinstance(ours, eqnn.nn.EIsotypicBasis)
        with torch.no_grad():
            assert rel(ours(x), theirs(x)) <= TOL[dtype]
        check_equivariant(ours, r, theirs.out_rep, x, dtype)
        return
    ours = interop.from_symm_learning(theirs)
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= TOL[dtype]
    check_equivariant(ours, r, theirs.out_rep, x, dtype)
    if isinstance(ours, eqnn.nn.EIsotypicBasis):
        return
    # Another order or basis inside the copies: the same fixed map as a frozen ELinear to symm_learning's out_rep,
    # which eqnn's own isotypic basis is not.
    assert isinstance(ours, eqnn.nn.ELinear)
    assert not any(p.requires_grad for p in ours.parameters())
    with torch.no_grad():
        assert rel(eqnn.nn.EIsotypicBasis(eq_rep, dtype=dtype)(x), theirs(x)) > 1e-3


@pytest.mark.parametrize("spec", ["C2", "D4"])
def test_isotypic_basis_learnable_is_a_trainable_elinear(spec):
    G = eg.cyclic_group(2) if spec == "C2" else eg.dihedral_group(4)
    with default_dtype(torch.float64):
        theirs = Change2DisentangledBasis(G.regular_representation, learnable=True)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.ELinear) and ours.weight_coefficients.requires_grad
    x = torch.randn(5, G.order(), dtype=torch.float64)
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= 1e-10
    with torch.no_grad():
        check_equivariant(ours, G.regular_representation, theirs.out_rep, x, torch.float64)
    # Once the free Linear is trained off Hom_G there is nothing equivariant to convert.
    with torch.no_grad():
        theirs.Qin2iso.weight.add_(torch.randn_like(theirs.Qin2iso.weight))
    with pytest.raises(ValueError, match="weight is not equivariant"):
        interop.from_symm_learning(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", REPS)
def test_multivariate_normal(G, kind, dtype):
    """Mean: symm_learning's. Covariance: eqnn's Q diag(σ²) Qᵀ, whose diagonal is symm_learning's
    (Q∘Q)·σ²; the two agree (covariance and log_prob) where Q diag(σ²) Qᵀ is diagonal, e.g. one variance for
    every copy."""
    r = fresh(escnn_rep(G, kind), f"normal-{dtype}")
    with default_dtype(torch.float64):
        theirs = eMultivariateNormal(r).to(dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.EMultivariateNormal) and ours.in_features == theirs.in_rep.size
    n = theirs.n_cov_params
    u = torch.randn(6, r.size + n, dtype=dtype)
    y = torch.randn(6, r.size, dtype=dtype)
    a, b = ours(u), theirs(u)
    assert rel(a.mean, b.mean) <= TOL[dtype]
    Q = torch.as_tensor(np.asarray(r.change_of_basis), dtype=dtype)
    var = torch.exp(u[:, r.size:])[:, theirs.idx] + 1e-6
    assert rel(a.covariance_matrix, (Q * var.unsqueeze(-2)) @ Q.T) <= TOL[dtype]
    assert rel(torch.diagonal(a.covariance_matrix, dim1=-2, dim2=-1), b.variance) <= TOL[dtype] * 10
    same = u.clone()
    same[:, r.size:] = u[:, r.size:r.size + 1]  # one log-variance for every copy: Σ = σ² I in both
    assert rel(ours(same).covariance_matrix, theirs(same).covariance_matrix) <= TOL[dtype] * 10
    assert rel(ours(same).log_prob(y), theirs(same).log_prob(y)) <= TOL[dtype] * 10
    # Invariant density: p(ρ(g) y | ρ_in(g) u) = p(y | u), with escnn's ρ_in = ρ ⊕ trivial^n.
    for A in matrices(theirs.in_rep, dtype):
        assert rel(ours(u @ A.T).log_prob(y @ A[:r.size, :r.size].T), a.log_prob(y)) <= TOL[dtype] * 10


def test_multivariate_normal_defect_on_rotated_rep():
    """symm_learning's diagonal covariance is not equivariant on a rotated rep; eqnn's full one is."""
    G = eg.cyclic_group(5)
    r = rotated(eg.directsum([G.regular_representation, G.irreps()[1]], name="C5-reg+irrep1"), seed=2)
    with default_dtype(torch.float64):
        theirs = eMultivariateNormal(r)
    ours = interop.from_symm_learning(theirs)
    u = torch.randn(4, theirs.in_rep.size, dtype=torch.float64)
    y = torch.randn(4, r.size, dtype=torch.float64)
    ours_err, theirs_err = [], []
    for A in matrices(theirs.in_rep):
        B = A[:r.size, :r.size]
        ours_err.append(rel(ours(u @ A.T).log_prob(y @ B.T), ours(u).log_prob(y)))
        theirs_err.append(rel(theirs(u @ A.T).log_prob(y @ B.T), theirs(u).log_prob(y)))
    assert max(ours_err) <= 1e-10 and max(theirs_err) > 1e-3


def test_model_of_converted_layers():
    """A symm_learning model of the newly converted layers, end to end (float64, eval)."""
    G = eg.dihedral_group(4)
    r = fresh(escnn_rep(G, "mixed"), "model")
    h = fresh(escnn_rep(G, "2x regular"), "model")
    with default_dtype(torch.float64):
        theirs = torch.nn.Sequential(
            randomise(eLayerNorm(r)), randomise(eAffine(r)), randomise(InvariantBias(r)), randomise(eRMSNorm(r)),
            randomise(eBatchNorm1d(r)))
    train_running_stats(theirs, r.size, torch.float64).eval()
    ours = interop.from_symm_learning(theirs)
    assert [type(m).__name__ for m in ours] == ["ELayerNorm", "EAffine", "EInvariantBias", "ERMSNorm",
                                                 "EBatchNorm1d"]
    x = torch.randn(3, 5, r.size, dtype=torch.float64)
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= 1e-10
    with default_dtype(torch.float64):
        conv = torch.nn.Sequential(randomise(eConv1d(r, h, 3, padding=1)), torch.nn.ReLU(),
                                   randomise(eConvTranspose1d(h, r, 4, stride=2, padding=1)))
    converted = interop.from_symm_learning(conv)
    x = torch.randn(2, r.size, 9, dtype=torch.float64)
    with torch.no_grad():
        assert rel(converted(x), conv(x)) <= 1e-10


@pytest.mark.parametrize("dtype", DTYPES)
def test_rep_without_trivial_part(dtype):
    """No trivial copy: no invariant bias on either side; the functions still agree."""
    G = eg.dihedral_group(4)
    r = eg.directsum([G.irreps()[1], G.irreps()[4], G.irreps()[4]], name=f"D4-no-trivial-{dtype}")
    makers = [lambda: eAffine(r), lambda: eLayerNorm(r), lambda: eRMSNorm(r), lambda: eBatchNorm1d(r),
              lambda: eConv1d(r, r, 3, padding=1), lambda: eConvTranspose1d(r, r, 3)]
    for make in makers:
        theirs = build(make, dtype)
        if isinstance(theirs, eBatchNorm1d):
            train_running_stats(theirs, r.size, dtype)
        theirs.eval()
        ours = interop.from_symm_learning(theirs)
        assert not any("bias" in n for n, _ in ours.named_parameters())
        conv = isinstance(theirs, (eConv1d, eConvTranspose1d))
        x = torch.randn(2, r.size, 7, dtype=dtype) if conv else torch.randn(6, r.size, dtype=dtype)
        with torch.no_grad():
            assert rel(ours(x), theirs(x)) <= TOL[dtype]
            check_equivariant(ours, r, r, x, dtype, dim=-2 if conv else -1)


# ---- eTransformerEncoderLayer ----


def transformer_rep(G):
    """2x regular (two heads) on the small groups, regular (one head) on Ico."""
    return (escnn_rep(G, "regular"), 1) if G.order() >= 60 else (escnn_rep(G, "2x regular"), 2)


def build_transformer(r, heads, dtype, **kwargs):
    """Random weights of standard deviation 1/2 (1 makes softmax and GELU so steep that two float32 evaluations of
    the same block differ by more than 1e-5), built in float64, then cast."""
    with default_dtype(torch.float64):
        attn = eMultiheadAttention(r, heads, dropout=kwargs.get("dropout", 0.1), bias=kwargs.get("bias", True))
        layer = randomise(eTransformerEncoderLayer(r, attn, **kwargs))
        with torch.no_grad():
            for p in layer.parameters():
                p.mul_(0.5)
        return randomise_done(layer).to(dtype)


def randomise_done(module):
    """symm_learning's caches of expanded weights, invalidated after the parameters changed in place."""
    for sub in module.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    return module


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("norm_module", ["rmsnorm", "layernorm"])
def test_transformer_encoder_layer(G, norm_module, norm_first, dtype):
    r, heads = transformer_rep(G)
    r = fresh(r, f"tf-{dtype}")
    dim_ff = G.order() + 1  # not a multiple of |G|: rounded up to 2 copies on both sides
    theirs = build_transformer(r, heads, dtype, dim_feedforward=dim_ff, norm_first=norm_first,
                               norm_module=norm_module).eval()
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.nn.ETransformerEncoderLayer) and not ours.training
    o = ours.options
    assert (o["norm"], o["norm_affine"]) == ({"rmsnorm": "rms_norm", "layernorm": "layer_norm"}[norm_module],
                                             "per_copy")
    assert o["norm_normalize"] == ("all" if norm_module == "rmsnorm" else "per_copy")
    assert (o["num_heads"], o["dropout"], o["activation"], o["layer_norm_eps"]) == (heads, 0.1, "gelu", 1e-5)
    assert o["batch_first"] and o["norm_first"] == norm_first and o["bias"]
    assert o["dim_feedforward"] == theirs.linear1.out_rep.size == 2 * G.order()
    assert all(p.requires_grad for p in ours.parameters())  # bias=True: every eqnn parameter is symm_learning's
    B, T = 3, 5
    x = torch.randn(B, T, r.size, dtype=dtype)
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    padding = torch.zeros(B, T, dtype=torch.bool)
    padding[1, 3:] = True
    padding[2, 4] = True  # (with the causal mask every query keeps key 0: no fully masked row)
    float_causal = torch.zeros(T, T, dtype=dtype).masked_fill(causal, float("-inf"))
    with torch.no_grad():
        for kwargs in ({}, {"src_mask": causal}, {"src_key_padding_mask": padding},
                       {"src_mask": float_causal, "src_key_padding_mask": padding, "is_causal": True}):
            assert rel(ours(x, **kwargs), theirs(x, **kwargs)) <= TOL[dtype], kwargs
        check_equivariant(ours, r, r, x, dtype)
        check_equivariant(lambda t: ours(t, src_mask=causal, src_key_padding_mask=padding), r, r, x, dtype)


@pytest.mark.parametrize("activation, name", [(torch.nn.ReLU(), "relu"), (torch.nn.SiLU(), "silu"),
                                              (torch.nn.Tanh(), "tanh")])
def test_transformer_encoder_layer_activations(activation, name):
    G = eg.cyclic_group(5)
    r = fresh(escnn_rep(G, "2x regular"), f"tf-{name}")
    theirs = build_transformer(r, 1, torch.float64, dim_feedforward=10, activation=activation, bias=False,
                               layer_norm_eps=1e-3, norm_module="layernorm").eval()
    ours = interop.from_symm_learning(theirs)
    assert ours.options["activation"] == name and not ours.options["bias"] and ours.options["layer_norm_eps"] == 1e-3
    # symm_learning's eLayerNorm(bias=False): eqnn's invariant biases held at 0 and frozen.
    frozen = [n for n, p in ours.named_parameters() if not p.requires_grad]
    assert frozen == ["norm1.bias_coefficients", "norm2.bias_coefficients"]
    x = torch.randn(2, 4, r.size, dtype=torch.float64)
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= 1e-10
    # Training mode with dropout 0: the same function and the same gradients' reach.
    with default_dtype(torch.float64):
        train = randomise(eTransformerEncoderLayer(r, eMultiheadAttention(r, 1), dropout=0.0, dim_feedforward=10))
    converted = interop.from_symm_learning(train)
    assert converted.training
    with torch.no_grad():
        assert rel(converted(x), train(x)) <= 1e-10


def test_transformer_encoder_layer_refusals():
    G = eg.cyclic_group(5)
    r = fresh(escnn_rep(G, "2x regular"), "tf-refuse")
    for activation, error, message in [
        (torch.nn.GELU(approximate="tanh"), ValueError, r"activation: GELU\(approximate='tanh'\) is not eqnn's"),
        (torch.nn.LeakyReLU(), TypeError, r"activation: torch.nn.modules.activation.LeakyReLU is not an activation"),
    ]:
        theirs = build_transformer(r, 1, torch.float64, dim_feedforward=10, activation=activation)
        with pytest.raises(error, match=message):
            interop.from_symm_learning(torch.nn.Sequential(theirs))
    # Attention on a rep that is not reg^m (symm_learning's is then not equivariant): the attention's reason.
    C2 = eg.cyclic_group(2)
    bad = eg.directsum([C2.trivial_representation] * 2 + [C2.irreps()[1]] * 2, name="C2-2triv+2sign-tf")
    with default_dtype(torch.float64):
        theirs = randomise(eTransformerEncoderLayer(bad, eMultiheadAttention(bad, 1, dropout=0.1), dim_feedforward=4))
    with pytest.raises(ValueError, match=r"^self_attn: symm_learning's eMultiheadAttention on C2-2triv\+2sign-tf is "
                                         "not equivariant"):
        interop.from_symm_learning(theirs)
    # self_attn on another rep than the layer's (symm_learning does not check).
    other = eg.directsum([G.regular_representation] * 2, name="C5-other-tf")
    with default_dtype(torch.float64):
        theirs = randomise(eTransformerEncoderLayer(rotated(other), eMultiheadAttention(other, 1, dropout=0.1),
                                                    dim_feedforward=10))
    with pytest.raises(ValueError, match=r"^self_attn: its in_rep C5-other-tf is not the layer's in_rep"):
        interop.from_symm_learning(theirs)
    # One bias option in eqnn's layer: an attention without biases in a layer with them is refused.
    with default_dtype(torch.float64):
        theirs = randomise(eTransformerEncoderLayer(r, eMultiheadAttention(r, 1, dropout=0.1, bias=False),
                                                    dim_feedforward=10))
    with pytest.raises(ValueError, match=r"bias differs between sub-modules \(linear1 True, linear2 True, "
                                         r"self_attn False\)"):
        interop.from_symm_learning(theirs)
    # A different attention dropout: converted with the layer's (torch's TransformerEncoderLayer), with a warning.
    with default_dtype(torch.float64):
        theirs = randomise(eTransformerEncoderLayer(r, eMultiheadAttention(r, 1), dim_feedforward=10)).eval()
    with pytest.warns(UserWarning, match=r"self_attn's dropout 0.0 is not the layer's dropout 0.1"):
        ours = interop.from_symm_learning(theirs)
    x = torch.randn(2, 4, r.size, dtype=torch.float64)
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= 1e-10
