"""eqnn.interop.group_from_escnn and rep_from_escnn against escnn's own matrices and change of basis."""

import eqnn
import eqnn.interop as interop
import escnn.group as eg
import numpy as np
import pytest
import torch
from reference_support import REPS, escnn_rep, matrices


@pytest.mark.parametrize("m", [1, 3])
def test_group_points_are_escnn_elements(G, m):
    E = interop.group_from_escnn(G)
    assert E.order == G.order()
    assert interop.group_from_escnn(G) is E or interop.group_from_escnn(G) == E  # cached
    index = interop.escnn_elements(G)
    assert sorted(index) == list(range(G.order()))
    ours = eqnn.rep(E, f"{m}x permutation(points)").matrices()
    theirs = matrices(eg.directsum([G.regular_representation] * m))
    assert float((ours[index] - theirs).abs().max()) <= 1e-12  # entry for entry (escnn rounds), every element


def test_group_multiplication_matches(G):
    E = interop.group_from_escnn(G)
    index = interop.escnn_elements(G)
    els = list(G.elements)
    table = E.cayley_table
    pos = {g: i for i, g in enumerate(els)}
    assert len(pos) == len(els)
    for i, a in enumerate(els):
        for j, b in enumerate(els[:5]):
            assert table[index[i], index[j]] == index[pos[a @ b]]


@pytest.mark.parametrize("kind", REPS + ["random basis"])
def test_rep_matrices_and_copies(G, kind):
    if kind == "random basis":
        rng = np.random.default_rng(3)
        base = escnn_rep(G, "mixed")
        Q, _ = np.linalg.qr(rng.standard_normal((base.size, base.size)))
        r = eg.change_basis(base, Q, name=f"{G.name}-rndQ-mixed")
    else:
        r = escnn_rep(G, kind)
    ours = interop.rep_from_escnn(r)
    index = interop.escnn_elements(G)
    assert ours.size == r.size
    err = float((ours.matrices()[index] - matrices(r)).abs().max())
    assert err <= 1e-12
    # Same irreducible copies: the column blocks of both changes of basis span the same subspaces.
    Qe, Qr = ours.change_of_basis, torch.as_tensor(np.asarray(r.change_of_basis), dtype=torch.float64)
    dims = [G.irrep(*i).size for i in r.irreps]
    assert [E_irrep.dim for E_irrep in (ours.group.irreps[k] for k in ours.irreps)] == dims
    off = 0
    for d in dims:
        a, b = Qe[:, off:off + d], Qr[:, off:off + d]
        assert float((a @ a.T - b @ b.T).abs().max()) <= 1e-12
        off += d
    assert interop.rep_from_escnn(r) == ours


def test_rep_irreps_matched_by_character(G):
    E = interop.group_from_escnn(G)
    index = interop.escnn_elements(G)
    for psi in G.irreps():
        ours = interop.rep_from_escnn(psi)
        k = ours.irreps[0]
        chi = torch.tensor([np.trace(np.asarray(psi(g))) for g in G.elements], dtype=torch.float64)
        assert torch.allclose(E.irreps[k].character[index], chi, atol=1e-12)


def test_rep_with_explicit_group_and_errors():
    G = eg.cyclic_group(5)
    E = interop.group_from_escnn(G)
    assert interop.rep_from_escnn(G.regular_representation, group=E).size == 5
    with pytest.raises(ValueError, match="is not group_from_escnn"):
        interop.rep_from_escnn(G.regular_representation, group=eqnn.group("C5"))
    with pytest.raises(TypeError, match="expected an escnn.group.Representation"):
        interop.rep_from_escnn("regular")
    with pytest.raises(TypeError, match="expected an escnn.group.Group"):
        interop.group_from_escnn(eqnn.group("C5"))
    with pytest.raises(ValueError, match="continuous group"):
        interop.group_from_escnn(eg.so2_group())


def test_eqnn_rep_from_irreps_and_change_of_basis():
    E = eqnn.group("D4")
    Q, _ = torch.linalg.qr(torch.randn(8, 8, dtype=torch.float64))
    regular = eqnn.rep(E, "regular")
    r = eqnn.rep(E, irreps=regular.irreps, change_of_basis=Q)
    assert torch.equal(r.change_of_basis, Q)
    assert r.irreps == regular.irreps
    with pytest.raises(TypeError, match="irreps= and change_of_basis= go together.*given: irreps=\\)"):
        eqnn.rep(E, irreps=[0])
    with pytest.raises(TypeError, match="go together, without text"):
        eqnn.rep(E, "regular", change_of_basis=Q)
    with pytest.raises(ValueError, match="orthogonal"):
        eqnn.rep(E, irreps=regular.irreps, change_of_basis=2 * Q)
    with pytest.raises(ValueError, match="irrep\\(9\\) does not exist"):
        eqnn.rep(E, irreps=[9], change_of_basis=torch.eye(1))
