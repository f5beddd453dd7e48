"""eqnn.group / eqnn.rep / eqnn.hom against oracles that do not share the C++ code: textbook irrep
dimensions and types, character orthogonality, the homomorphism property, the Hom dimension from
characters."""

import itertools

import eqnn
import pytest
import torch


def test_icosahedral_group_has_the_textbook_irreps():
    G = eqnn.group("Ico")
    assert G.order == 60
    dims = sorted(i.dim for i in G.irreps)
    assert dims == [1, 3, 3, 4, 5]
    assert all(i.type == "R" for i in G.irreps)


@pytest.mark.parametrize(
    "spec, order, types",
    [
        ("C4", 4, ["C", "R", "R"]),  # two real characters and one complex pair (type C, dim 2)
        ({"type": "DihedralGroup", "n": 6}, 12, ["R"] * 6),
        ("C2xD4", 16, ["R"] * 10),
        ({"type": "FiniteGroup", "generators": [[1, 2, 0], [1, 0, 2]]}, 6, ["R"] * 3),  # S3
        # Q8 from 4x4 orthogonal generators (i and j as left multiplications): a quaternionic irrep.
        (
            {
                "type": "FiniteGroup",
                "generators": [
                    [[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 0, -1], [0, 0, 1, 0]],
                    [[0, 0, -1, 0], [0, 0, 0, 1], [1, 0, 0, 0], [0, -1, 0, 0]],
                ],
            },
            8,
            ["H", "R", "R", "R", "R"],
        ),
    ],
)
def test_groups_from_every_kind_of_spec(spec, order, types):
    G = eqnn.group(spec)
    assert G.order == order
    assert sorted(i.type for i in G.irreps) == sorted(types)
    # Completeness: sum of d^2 / S over the real irreps is |G|.
    S = {"R": 1, "C": 2, "H": 4}
    assert sum(i.dim**2 / S[i.type] for i in G.irreps) == pytest.approx(order)


def test_cayley_table_generators_and_characters():
    G = eqnn.group("D4")
    T = G.cayley_table
    n = G.order
    assert T.shape == (n, n) and T.dtype == torch.int64
    assert torch.equal(T[0], torch.arange(n)) and torch.equal(T[:, 0], torch.arange(n))
    for a, b, c in itertools.product(range(n), repeat=3):
        assert T[T[a, b], c] == T[a, T[b, c]]
    assert all(0 <= int(g) < n for g in G.generators)
    # Character orthogonality: <chi_i, chi_j> = S_i delta_ij for real irreps.
    S = {"R": 1, "C": 2, "H": 4}
    for i, j in itertools.product(G.irreps, repeat=2):
        inner = float((i.character * j.character).sum()) / n
        assert inner == pytest.approx(S[i.type] if i.index == j.index else 0.0, abs=1e-9)
    for irrep in G.irreps:
        M = irrep.matrices
        assert M.shape == (n, irrep.dim, irrep.dim)
        assert torch.allclose(torch.einsum("gii->g", M), irrep.character, atol=1e-10)
        for a, b in itertools.product(range(n), repeat=2):
            assert torch.allclose(M[a] @ M[b], M[T[a, b]], atol=1e-10)


def test_representation_is_a_homomorphism_and_orthogonal():
    G = eqnn.group("Ico")
    r = eqnn.rep(G, "2x regular + irrep(1)")
    assert r.size == 2 * 60 + G.irreps[1].dim
    assert not r.is_permutation
    assert eqnn.rep(G, "2x regular").is_permutation
    M = r.matrices()
    T = G.cayley_table
    eye = torch.eye(r.size, dtype=torch.float64)
    for a in range(0, 60, 7):
        assert torch.allclose(M[a] @ M[a].T, eye, atol=1e-10)
        for b in range(0, 60, 11):
            assert torch.allclose(M[a] @ M[b], M[T[a, b]], atol=1e-10)
    assert torch.equal(r.matrix(5), M[5])
    assert r.character(3) == pytest.approx(float(torch.trace(M[3])))
    assert sorted(r.irreps).count(0) == 2  # two trivial copies, one per regular copy


def test_hom_dimension_matches_characters_and_basis_commutes():
    G = eqnn.group("D4")
    for a, b in [("2x regular", "regular + trivial"), ("irrep(1) + 2x irrep(4)", "regular")]:
        rin, rout = eqnn.rep(G, a), eqnn.rep(G, b)
        h = eqnn.hom(rin, rout)
        chars = sum(rin.character(g) * rout.character(g) for g in range(G.order)) / G.order
        assert h.dim == round(chars)
        B = h.basis()
        assert B.shape == (h.dim, rout.size, rin.size)
        for g in range(G.order):
            assert torch.allclose(rout.matrix(g) @ B, B @ rin.matrix(g), atol=1e-10)
        W = torch.randn(rout.size, rin.size, dtype=torch.float64)
        P = h.project(W)
        assert torch.allclose(h.project(P), P, atol=1e-12)
        assert torch.allclose(h.expand(h.analyse(W)), P, atol=1e-12)
    assert eqnn.hom(eqnn.rep(G, "2x regular"), eqnn.rep(G, "regular")).method == "orbit"
    assert eqnn.hom(eqnn.rep(G, "irrep(4)"), eqnn.rep(G, "irrep(4)")).method == "isotypic"


def test_errors_carry_the_cpp_text():
    with pytest.raises(KeyError, match="unknown group"):
        eqnn.group("Dihedral(4)")
    with pytest.raises(KeyError, match="DihedralGroup"):
        eqnn.group({"type": "DihedralGrop", "n": 4})  # did you mean
    with pytest.raises(TypeError, match="expected a str"):
        eqnn.group(8)
    G = eqnn.group("C8")
    with pytest.raises(ValueError, match=r":1:4: error: .*did you mean 'regular'"):  # column of the typo
        eqnn.rep(G, "2x regullar")
    with pytest.raises(IndexError, match="out of range"):
        eqnn.rep(G, "regular").matrix(8)
    with pytest.raises(ValueError, match="different groups"):
        eqnn.hom(eqnn.rep(G, "regular"), eqnn.rep(eqnn.group("C4"), "regular"))
    h = eqnn.hom(eqnn.rep(G, "regular"), eqnn.rep(G, "regular"))
    with pytest.raises(RuntimeError, match=r"expected coefficients \(\.\.\., 8\)"):
        h.expand(torch.zeros(3))
