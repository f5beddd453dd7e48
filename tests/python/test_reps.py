"""eqnn.rep(G, matrices=[...]) and the isotypic basis (Representation.isotypic_slices, eqnn.nn.EIsotypicBasis),
against oracles computed here: the rep strings with the same matrices, character theory (multiplicities and
isotypic projectors d_k/(S_k |G|) sum_g chi_k(g) rho(g)), a dense Q_iso^T x."""

import eqnn
import pytest
import torch


def _characters(rep):
    return torch.stack([torch.trace(m) for m in rep.matrices()])


def _irrep_characters(irrep):
    return torch.stack([torch.trace(m) for m in irrep.matrices])


def _generator_matrices(rep):
    return [rep.matrix(int(s)) for s in rep.group.generators]


@pytest.mark.parametrize("spec, text", [("D4", "standard"), ("D4", "permutation(vertices)"), ("Ico", "regular"),
                                        ("C8", "regular + irrep(2)")])
def test_matrices_equal_the_rep_string_and_character_multiplicities(spec, text):
    G = eqnn.group(spec)
    ref = eqnn.rep(G, text)
    x = eqnn.rep(G, matrices=_generator_matrices(ref))
    assert x.size == ref.size
    assert torch.allclose(x.matrices(), ref.matrices(), atol=1e-12, rtol=0)
    chi = _characters(x)
    expected = []
    for irrep in G.irreps:
        chi_k = _irrep_characters(irrep)
        expected.append(round(float((chi * chi_k).sum() / (chi_k * chi_k).sum())))
    assert x.multiplicities == expected
    # nested lists work as tensors do
    y = eqnn.rep(G, matrices=[m.tolist() for m in _generator_matrices(ref)])
    assert y == x


def test_non_homomorphisms_are_refused_naming_the_matrix():
    G = eqnn.group("D4")
    r, s = _generator_matrices(eqnn.rep(G, "standard"))
    with pytest.raises(eqnn.ConfigError, match=r"the matrices are not a representation of D4: the relation g\d"):
        eqnn.rep(G, matrices=[s, r])  # swapped: D4 is not abelian
    with pytest.raises(ValueError, match=r"matrix 1 \(generator g1\) is not orthogonal: max \|MᵀM − I\| = 3"):
        eqnn.rep(G, matrices=[r, 2 * s])
    with pytest.raises(eqnn.ConfigError, match="1 matrices given, but D4 has 2 generators"):
        eqnn.rep(G, matrices=[r])
    with pytest.raises(eqnn.ConfigError, match=r"matrix 1 \(generator g1\) is 3x3; every matrix must be square"):
        eqnn.rep(G, matrices=[r, torch.eye(3)])
    with pytest.raises(eqnn.ConfigError, match=r"matrix 0 \(generator g0\) must be 2-D"):
        eqnn.rep(G, matrices=[torch.ones(2), s])
    with pytest.raises(eqnn.ConfigError, match=r"matrix 1 \(generator g1\) is not a matrix"):
        eqnn.rep(G, matrices=[r, [[1, 0], [0]]])
    with pytest.raises(TypeError, match="not both"):
        eqnn.rep(G, "standard", matrices=[r, s])
    with pytest.raises(TypeError, match="give a rep string"):
        eqnn.rep(G)


def _projector(rep, k):
    G = rep.group
    irrep = G.irreps[k]
    chi_k = _irrep_characters(irrep)
    S = round(float((chi_k * chi_k).sum()) / G.order)
    return irrep.dim / (S * G.order) * torch.einsum("g,gij->ij", chi_k, rep.matrices())


@pytest.mark.parametrize("spec", ["C8", "D4", "Ico"])
def test_isotypic_slices_order_and_character_projectors(spec):
    G = eqnn.group(spec)
    rep = eqnn.rep(G, "regular")
    slices = rep.isotypic_slices
    Q = rep.isotypic_change_of_basis
    mult = rep.multiplicities
    dims = [i.dim for i in G.irreps]
    assert [k for k, _ in slices][0] == 0
    assert sorted(k for k, _ in slices) == [k for k in range(len(mult)) if mult[k] > 0]
    sizes = [sl.stop - sl.start for _, sl in slices]
    assert sizes == [mult[k] * dims[k] for k, _ in slices]
    rest = [(sl.stop - sl.start, k) for k, sl in slices[1:]]
    assert rest == sorted(rest)  # ascending size, ties by irrep index
    assert slices[-1][1].stop == rep.size
    for k, sl in slices:
        B = Q[:, sl]
        assert torch.allclose(B @ B.T, _projector(rep, k), atol=1e-10, rtol=0)


def test_cyclic_regular_order_is_symm_learnings():
    # symm_learning (isotypic_decomp_rep) on C8 regular: trivial, the sign irrep, then the three 2-d ones.
    slices = eqnn.rep(eqnn.group("C8"), "regular").isotypic_slices
    assert [sl.stop - sl.start for _, sl in slices] == [1, 1, 2, 2, 2]


@pytest.mark.parametrize("spec, text", [("C8", "2x regular"), ("D4", "regular + irrep(4) + trivial"),
                                        ("Ico", "regular")])
def test_eisotypic_basis_equivariant_and_invertible(spec, text):
    G = eqnn.group(spec)
    rep = eqnn.rep(G, text)
    iso = eqnn.nn.EIsotypicBasis(rep)
    back = eqnn.nn.EIsotypicBasis(rep, inverse=True)
    assert iso.isotypic_slices == rep.isotypic_slices
    assert iso.out_rep == rep.isotypic_basis_rep and back.in_rep == rep.isotypic_basis_rep
    assert back.out_rep == rep and iso.in_rep == rep
    assert list(iso.parameters()) == []
    x = torch.randn(4, rep.size, dtype=torch.float64)
    Q = rep.isotypic_change_of_basis
    iso64, back64 = iso.to(torch.float64), back.to(torch.float64)
    assert torch.allclose(iso64(x), x @ Q, atol=1e-12, rtol=0)
    assert torch.allclose(back64(iso64(x)), x, atol=1e-12, rtol=0)
    assert eqnn.check_equivariance(iso, rep, iso.out_rep) < 1e-10
    assert eqnn.check_equivariance(back, back.in_rep, rep) < 1e-10
    assert eqnn.check_equivariance(iso, rep, iso.out_rep, torch.float32) < 1e-5
    # the output rep is block-diagonal by isotypic component: Q_iso^T rho(g) Q_iso
    hat = iso.out_rep.matrices()
    assert torch.allclose(hat, Q.T @ rep.matrices() @ Q, atol=1e-10, rtol=0)
    for _, sl in iso.isotypic_slices[1:]:
        assert hat[:, sl, : sl.start].abs().max().item() < 1e-10


def test_eisotypic_basis_options_and_refusals():
    rep = eqnn.rep(eqnn.group("D4"), "regular")
    assert eqnn.nn.EIsotypicBasis(rep).options == {"inverse": False}
    assert eqnn.nn.EIsotypicBasis(rep, inverse=True).options == {"inverse": True}
    with pytest.raises(TypeError, match="EIsotypicBasis: in_rep must be an eqnn.Representation"):
        eqnn.nn.EIsotypicBasis("regular")


def _reynolds(W, rep_in, rep_out):
    """The projection onto Hom_G computed densely: (1/|G|) sum_g rho_out(g) W rho_in(g)^T."""
    mi, mo = rep_in.matrices(), rep_out.matrices()
    return torch.einsum("gab,bc,gdc->ad", mo, W, mi) / mi.shape[0]


def _robot_joints(G):
    """C2 mirroring 6 joints: left/right pairs swap (one pair with a sign flip), one joint flips, one is fixed."""
    m = torch.zeros(6, 6, dtype=torch.float64)
    m[1, 0] = m[0, 1] = -1
    m[3, 2] = m[2, 3] = 1
    m[4, 4] = -1
    m[5, 5] = 1
    return eqnn.rep(G, matrices=[m])


def _sign_twisted(G, text):
    """chi (x) P for the first non-trivial one-dimensional irrep chi: a signed permutation rep."""
    chi = next(ir for ir in G.irreps[1:] if ir.dim == 1)
    P = eqnn.rep(G, text)
    return eqnn.rep(G, matrices=[chi.matrices[int(s)][0, 0] * P.matrix(int(s)) for s in G.generators])


@pytest.mark.parametrize("case", ["joints", "joints+regular", "D4 sign(regular)", "S4 sign(points)"])
def test_signed_permutation_reps_take_the_orbit_path_and_equal_the_dense_projection(case):
    if case.startswith("joints"):
        G = eqnn.group("C2")
        x = _robot_joints(G)
        y = eqnn.rep(G, "2x regular + trivial") if case == "joints" else x
        if case == "joints+regular":
            reg = eqnn.rep(G, "regular")
            x = eqnn.rep(G, matrices=[torch.block_diag(reg.matrix(int(s)), x.matrix(int(s))) for s in G.generators])
    else:
        G = eqnn.group(case.split()[0])
        x = _sign_twisted(G, "regular" if "regular" in case else "permutation(points)")
        y = eqnn.rep(G, "regular + trivial")
    for a, b in [(x, y), (y, x), (x, x)]:
        hom = eqnn.hom(a, b)
        assert hom.method == "orbit"
        W = torch.randn(b.size, a.size, dtype=torch.float64)
        assert torch.allclose(hom.project(W), _reynolds(W, a, b), atol=1e-12, rtol=0)
    layer = eqnn.nn.ELinear(x, y, dtype=torch.float64)
    assert eqnn.check_equivariance(layer, x, y) < 1e-12


def test_signed_permutation_is_reported_and_lost_in_another_basis():
    G = eqnn.group("C2")
    x = _robot_joints(G)
    assert x.is_signed_permutation and not x.is_permutation and not x.has_permutation_structure
    assert eqnn.rep(G, "regular").is_signed_permutation
    assert not eqnn.rep(eqnn.group("Ico"), "standard").is_signed_permutation


@pytest.mark.parametrize("name", ["D4", "D10", "Ico"])
def test_rep_from_irreps_and_a_permutation_preserving_basis_is_a_permutation_rep(name):
    """eqnn.rep(G, irreps=, change_of_basis=Q) is a permutation rep keeping Q when ρ(generators) are permutation
    matrices (Q: the regular rep's Q with the copies of each irrep mixed, a cut of its own); not otherwise."""
    G = eqnn.group(name)
    reg = eqnn.rep(G, "regular")
    Q = reg.change_of_basis.clone()
    dims = [G.irreps[k].dim for k in reg.irreps]
    starts = [sum(dims[:i]) for i in range(len(dims))]
    mixed = False
    for k in set(reg.irreps):
        copies = [starts[i] for i, j in enumerate(reg.irreps) if j == k]
        if len(copies) < 2:
            continue
        d = G.irreps[k].dim
        mix = torch.linalg.qr(torch.randn(len(copies), len(copies), dtype=torch.float64))[0]
        blocks = [reg.change_of_basis[:, c:c + d] for c in copies]
        for a, c in enumerate(copies):
            Q[:, c:c + d] = sum(mix[b, a] * blocks[b] for b in range(len(copies)))
        mixed = True
    assert mixed  # the cut differs from eqnn's own
    cut = eqnn.rep(G, irreps=reg.irreps, change_of_basis=Q)
    assert cut.is_permutation and torch.allclose(cut.change_of_basis, Q, atol=1e-15, rtol=0)
    assert torch.allclose(cut.matrices(), reg.matrices(), atol=1e-12, rtol=0)
    relu = eqnn.nn.EReLU(cut, dtype=torch.float64)
    assert eqnn.check_equivariance(relu, cut, cut) < 1e-12
    # ENormPool takes one norm per column block of the given Q.
    x = torch.randn(4, cut.size, dtype=torch.float64)
    y = x @ Q
    norms = torch.stack([y[:, s:s + d].norm(dim=1) for s, d in zip(starts, dims)], 1)
    assert torch.allclose(eqnn.nn.ENormPool(cut, dtype=torch.float64)(x), norms, atol=1e-12, rtol=0)
    rotated = eqnn.rep(G, irreps=reg.irreps,
                       change_of_basis=torch.linalg.qr(torch.randn(cut.size, cut.size, dtype=torch.float64))[0] @ Q)
    assert not rotated.is_permutation and not rotated.is_signed_permutation
    with pytest.raises(eqnn.ConfigError, match="a pointwise nonlinearity is equivariant only on a permutation "
                                               "representation in its own basis"):
        eqnn.nn.EReLU(rotated)
