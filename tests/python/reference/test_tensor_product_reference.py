"""eqnn's O(3) tensor products against e3nn 0.5.6 itself: the irreps of a product (o3.FullTensorProduct), the
weights of the fully connected tensor product (o3.FullyConnectedTensorProduct.weight_numel), and e3nn's
product with random weights, as a bilinear map carried to eqnn's bases, is one that eTensorProduct can hold."""

import eqnn
import eqnn.nn as enn
import pytest
import torch
from e3nn import o3

O3 = eqnn.group("O3")
IRREPS = ["0e", "0o", "1o", "1e", "2e", "2o", "3o"]


@pytest.fixture(autouse=True)
def _float64():
    """float64 for e3nn's modules and the tensors here, restored after each test (the other reference tests
    run in the same process)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def rep_string(irreps) -> str:
    return " + ".join(f"{mul}x irrep({ir.l}, {ir.p})" for mul, ir in o3.Irreps(irreps))


def eqnn_irreps(rep):
    return sorted((k // 2, -1 if k % 2 else 1) for k in rep.irreps)


@pytest.mark.parametrize("a", IRREPS)
@pytest.mark.parametrize("b", IRREPS)
def test_product_irreps_are_e3nns(a, b):
    theirs = sorted((ir.l, ir.p) for mul, ir in o3.FullTensorProduct(a, b).irreps_out for _ in range(mul))
    assert eqnn_irreps(eqnn.rep(O3, f"tensor({rep_string(a)}, {rep_string(b)})")) == theirs


CASES = [("2x1o + 1x0e", "1x1o + 1x2e", "2x0e + 1x1o + 1x1e + 1x2e + 1x3o"),
         ("1x1o + 1x2e", "1x1o", "1x0e + 2x1e + 1x2o + 1x1o"),
         ("3x0e + 2x1o", "2x0e + 1x1o", "2x0e + 3x1o + 1x1e + 1x2e")]


def coefficients_basis(tp):
    """The dense Bilinear weights (D_out, D_1, D_2) of each unit coefficient vector of eTensorProduct."""
    (name, theta), = [(n, p) for n, p in tp.named_parameters() if n.endswith("weight_coefficients")]
    basis = []
    with torch.no_grad():
        saved = theta.clone()
        for i in range(theta.numel()):
            unit = torch.zeros(theta.numel(), dtype=theta.dtype)
            unit[i] = 1
            theta.copy_(unit.reshape(theta.shape))
            basis.append(dict(tp.effective_parameters())["weight"].clone())
        theta.copy_(saved)
    return torch.stack(basis)


def intertwiner(ours, theirs, elements):
    """The orthogonal P with ours(g) P = P theirs(g) (unique up to sign for an irrep), by least squares."""
    d = ours(elements[0]).shape[0]
    rows = [torch.kron(ours(g).contiguous(), torch.eye(d)) - torch.kron(torch.eye(d), theirs(g).T.contiguous())
            for g in elements]
    _, _, vh = torch.linalg.svd(torch.cat(rows))
    p = vh[-1].reshape(d, d)
    return p * (d ** 0.5 / p.norm())


def block_basis_change(irreps, elements):
    """blockdiag of the per-irrep intertwiners from e3nn's basis of `irreps` to eqnn's."""
    blocks = []
    for mul, ir in o3.Irreps(irreps):
        rep = eqnn.rep(O3, f"irrep({ir.l}, {ir.p})")
        p = intertwiner(rep.matrix, ir.D_from_matrix, elements)
        blocks += [p] * mul
    return torch.block_diag(*blocks)


@pytest.mark.parametrize("a,b,c", CASES)
def test_fully_connected_tensor_product_is_etensorproduct(a, b, c):
    e3 = o3.FullyConnectedTensorProduct(a, b, c)
    tp = enn.ETensorProduct(eqnn.rep(O3, rep_string(a)), rep_string(c), in2_rep=rep_string(b), bias=False,
                            dtype=torch.float64)
    basis = coefficients_basis(tp)
    assert basis.shape[0] == e3.weight_numel  # one weight per path and triple of copies, as e3nn
    elements = [o3.rand_matrix() for _ in range(3)] + [-o3.rand_matrix() for _ in range(2)]
    pa, pb, pc = (block_basis_change(x, elements) for x in (a, b, c))
    d1, d2 = o3.Irreps(a).dim, o3.Irreps(b).dim
    with torch.no_grad():
        e3.weight.normal_()
        ones = e3(torch.eye(d1).repeat_interleave(d2, 0), torch.eye(d2).repeat(d1, 1))  # e_i ⊗ e_j, row i·d2 + j
    theirs = ones.reshape(d1, d2, -1).permute(2, 0, 1)  # (D_out, D_1, D_2) in e3nn's bases
    carried = torch.einsum("ok,kij,ai,bj->oab", pc, theirs, pa, pb)
    solution = torch.linalg.lstsq(basis.reshape(basis.shape[0], -1).T, carried.reshape(-1, 1)).solution
    fitted = (basis.reshape(basis.shape[0], -1).T @ solution).reshape(carried.shape)
    assert float((fitted - carried).abs().max()) < 1e-10 * float(carried.abs().max())
