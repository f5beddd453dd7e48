"""eqnn.models.EMLP / IMLP / ETimeCNNEncoder against symm_learning's eMLP / iMLP / eTimeCNNEncoder through
eqnn.interop.from_symm_learning: the converted model computes symm_learning's function with its weights
(float64 ≤ 1e-10, float32 ≤ 1e-5 relative, train and eval mode) and is equivariant under escnn's matrices.

Exact on every group, Ico and D10 included, where irreps appear m > 1 times per regular copy and the cut of
the regular rep into irreducible copies is not unique: the converted models take
``hidden_rep = rep_from_escnn(G.regular_representation)``, a permutation rep that keeps escnn's cut, so iMLP's
norm pooling and the per-copy channel RMS norm see symm_learning's copies. eqnn's own ``k x regular`` cuts
those isotypic components differently (shown below: other per-copy norms, the same energy per isotypic
component). A symm_learning model with a custom hidden_rep is still refused."""


import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from reference_support import TOL, check_equivariant, default_dtype, fresh, randomise, rel
from symm_learning.models.emlp import eMLP, iMLP
from symm_learning.nn.pooling import IrrepSubspaceNormPooling

DTYPES = [torch.float64, torch.float32]
CASES = {
    # name: (group, input rep, output rep, hidden units)
    "C5": (lambda: eg.cyclic_group(5), 1, 2, [64, 64]),
    "Ico": (lambda: eg.ico_group(), 1, 2, [64, 64]),
    "D10": (lambda: eg.dihedral_group(10), 2, 2, [5 * 20, 5 * 20]),
}


def reg(G, k, tag):
    return eg.directsum([G.regular_representation] * k, name=f"{G.name}-reg{k}-{tag}")


def build(make, dtype):
    with default_dtype(torch.float64):
        return randomise(make()).to(dtype)


def same_in_both_modes(ours, theirs, x, dtype):
    for mode in (True, False):
        ours.train(mode)
        theirs.train(mode)
        with torch.no_grad():
            assert rel(ours(x), theirs(x)) <= TOL[dtype], mode


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_emlp(case, dtype):
    make_group, k_in, k_out, units = CASES[case]
    G = make_group()
    r_in, r_out = reg(G, k_in, f"in-{dtype}"), reg(G, k_out, f"out-{dtype}")
    theirs = build(lambda: eMLP(r_in, r_out, units, activation=torch.nn.SiLU()), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.models.EMLP) and ours.training and ours.options["activation"] == "silu"
    assert ours.hidden_sizes == [t.size for t in theirs.hidden_specs]
    assert [n for n, _ in ours.named_parameters()] == [f"net.{i}.{p}" for i in (0, 2, 4)
                                                       for p in ("weight_coefficients", "bias_coefficients")]
    x = torch.randn(5, r_in.size, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype)
    with torch.no_grad():
        check_equivariant(ours.eval(), r_in, r_out, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_emlp_dropout_bias_and_defaults(dtype):
    G = eg.cyclic_group(5)
    r = fresh(G.regular_representation, f"drop-{dtype}")
    theirs = build(lambda: eMLP(r, r, [7, 12], dropout=0.3, bias=False), dtype)
    ours = interop.from_symm_learning(theirs)
    assert ours.options["dropout"] == 0.3 and not ours.options["bias"] and ours.options["activation"] == "relu"
    assert ours.hidden_sizes == [10, 15]
    x = torch.randn(6, 5, dtype=dtype)
    theirs.eval()
    ours.eval()
    with torch.no_grad():
        assert rel(ours(x), theirs(x)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", list(CASES))
def test_imlp_exact(case, dtype):
    make_group, k_in, _, units = CASES[case]
    G = make_group()
    r = reg(G, k_in, f"imlp-{dtype}")
    theirs = build(lambda: iMLP(r, 3, units, activation=torch.nn.GELU()), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.models.IMLP) and ours.out_rep.size == 3
    # The hidden reps are escnn's regular rep (its element order and its cut into copies), a permutation rep.
    assert interop.rep_from_escnn(G.regular_representation).is_permutation
    # net.{i} as symm_learning's, the head copied raw (its columns in eqnn's copy order); no emlp_backbone.
    assert sorted({n.split(".")[1] for n, _ in ours.named_parameters()}) == ["0", "2", "4", "7"]
    x = torch.randn(5, r.size, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype)
    with torch.no_grad():
        triv = eg.directsum([G.trivial_representation] * 3, name=f"triv3-{dtype}-{case}")
        check_equivariant(ours.eval(), r, triv, x, dtype)


@pytest.mark.parametrize("case", ["Ico", "D10"])
def test_eqnn_regular_cuts_repeated_irreps_differently(case):
    """Why the converter needs escnn's cut: on eqnn's own k x regular, the per-copy norms of the same features
    differ from symm_learning's; only their sums of squares per isotypic component agree."""
    make_group, k_in, _, units = CASES[case]
    G = make_group()
    r = reg(G, k_in, "imlp-ref")
    theirs = build(lambda: iMLP(r, 4, units), torch.float64).eval()
    x = torch.randn(6, r.size, dtype=torch.float64)
    with torch.no_grad():
        a = torch.relu(theirs.emlp_backbone(x))
        pool = theirs.net[-2]
        assert isinstance(pool, IrrepSubspaceNormPooling)
        sl_norms = pool(a)
        hidden = theirs.emlp_backbone.out_rep
        k = hidden.size // G.order()
        # With escnn's cut (the converter's hidden_rep): the same norms, copy for copy up to order.
        escnn_reg = interop.rep_from_escnn(G.regular_representation)
        E = interop.group_from_escnn(G)
        ours_escnn = eqnn.rep(E, irreps=escnn_reg.irreps * k,
                              change_of_basis=torch.block_diag(*[escnn_reg.change_of_basis] * k))
        assert ours_escnn.is_permutation
        same = eqnn.nn.ENormPool(ours_escnn, dtype=torch.float64)(a)
        assert rel(sl_norms.sort(dim=-1).values, same.sort(dim=-1).values) <= 1e-10
        # eqnn's pooling of the same features in its own regular basis.
        P = torch.block_diag(*[interop._escnn_to_eqnn_regular(G)] * k)
        ours_rep = eqnn.rep(E, f"{k}x regular")
        eq_norms = eqnn.nn.ENormPool(ours_rep, dtype=torch.float64)(a @ P.T)
        # Per copy: not the same multiset of norms; per isotypic component: the same energy.
        assert sl_norms.shape == eq_norms.shape
        assert rel(sl_norms.sort(dim=-1).values, eq_norms.sort(dim=-1).values) > 1e-3

        def energy(norms, irreps, names):
            return torch.stack([sum(norms[:, c] ** 2 for c, i in enumerate(irreps) if names(i) == n)
                                for n in sorted({names(i) for i in irreps})], -1)

        char = {k_: tuple(round(float(v), 6) for v in E.irreps[k_].character) for k_ in set(ours_rep.irreps)}
        esc_char = {}
        elements = interop.escnn_elements(G)
        for i in set(hidden.irreps):
            psi = G.irrep(*i)
            c = [0.0] * G.order()
            for j, g in enumerate(G.elements):
                c[elements[j]] = float(torch.as_tensor(psi(g)).trace())
            esc_char[i] = tuple(round(v, 6) for v in c)
        sl_energy = energy(sl_norms, hidden.irreps, lambda i: esc_char[i])
        eq_energy = energy(eq_norms, ours_rep.irreps, lambda i: char[i])
        assert rel(sl_energy, eq_energy) <= 1e-10


def test_imlp_with_a_custom_hidden_rep_is_refused():
    G = eg.dihedral_group(10)
    r = reg(G, 1, "imlp-custom")
    custom = eg.directsum([G.irreps()[0], G.irreps()[1], G.irreps()[-1]], name="d10-custom-hidden")
    with default_dtype(torch.float64):
        theirs = iMLP(r, 2, [8], hidden_rep=custom)
    with pytest.raises(ValueError, match=r"\(the model\): the hidden representation .* is not escnn's regular "
                                         r"representation repeated \(a custom hidden_rep\)"):
        interop.from_symm_learning(theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("downsample", ["stride", "pooling"])
@pytest.mark.parametrize("head", ["equivariant", "invariant"])
def test_time_cnn_c5(head, downsample, dtype):
    from symm_learning.models.time_cnn.ecnn_encoder import eTimeCNNEncoder

    G = eg.cyclic_group(5)
    r_in = reg(G, 1, f"tcnn-in-{dtype}")
    r_out = reg(G, 2, f"tcnn-out-{dtype}") if head == "equivariant" else eg.directsum(
        [G.trivial_representation] * 3, name=f"tcnn-triv-{dtype}")
    theirs = build(lambda: eTimeCNNEncoder(r_in, r_out, [64], 16, mlp_hidden=[32, 32], batch_norm=True,
                                           append_last_frame=True, downsample=downsample), dtype)
    ours = interop.from_symm_learning(theirs)
    assert isinstance(ours, eqnn.models.ETimeCNNEncoder)
    o = ours.options
    # Widths as the sizes of symm_learning's hidden reps (32 → 7 regular copies, 35): the same reps.
    assert (o["batch_norm"], o["append_last_frame"], o["downsample"], o["mlp_hidden"]) == (True, True, downsample,
                                                                                           [35, 35])
    x = torch.randn(4, 5, 16, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype)
    with torch.no_grad():
        check_equivariant(lambda t: ours.eval()(t), r_in, r_out, x, dtype, dim=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_time_cnn_ico_without_per_copy_operations_is_exact(dtype):
    from symm_learning.models.time_cnn.ecnn_encoder import eTimeCNNEncoder

    G = eg.ico_group()
    r_in = eg.directsum([G.irreps()[1], G.trivial_representation], name=f"ico-tcnn-in-{dtype}")
    r_out = reg(G, 1, f"ico-tcnn-out-{dtype}")
    theirs = build(lambda: eTimeCNNEncoder(r_in, r_out, [64], 16, mlp_hidden=[32, 32], append_last_frame=True),
                   dtype)
    ours = interop.from_symm_learning(theirs)
    x = torch.randn(3, r_in.size, 16, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head", ["equivariant", "invariant"])
@pytest.mark.parametrize("case", ["Ico", "D10"])
def test_time_cnn_per_copy_operations_exact(case, head, dtype):
    """The channel RMS norm (per-copy scales) and the iMLP head's norm pooling on groups with repeated irreps."""
    from symm_learning.models.time_cnn.ecnn_encoder import eTimeCNNEncoder

    G = CASES[case][0]()
    r_in = reg(G, 1, f"{case}-tcnn-bn-{dtype}")
    r_out = reg(G, 1, f"{case}-tcnn-out-{dtype}") if head == "equivariant" else eg.directsum(
        [G.trivial_representation] * 2, name=f"{case}-t2-{dtype}")
    n = G.order()
    theirs = build(lambda: eTimeCNNEncoder(r_in, r_out, [n], 8, mlp_hidden=[n], batch_norm=True,
                                           append_last_frame=True), dtype)
    ours = interop.from_symm_learning(theirs)
    assert ours.options["batch_norm"]
    x = torch.randn(3, r_in.size, 8, dtype=dtype)
    same_in_both_modes(ours, theirs, x, dtype)
    with torch.no_grad():
        check_equivariant(lambda t: ours.eval()(t), r_in, r_out, x, dtype, dim=1)
