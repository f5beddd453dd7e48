"""eqnn.linalg from Python: the exact equivariance-constrained least squares against the closed-form C4
counterexample and against oracles that share none of its code (unconstrained least squares on G-augmented data,
the KKT condition, W in Hom_G), and the projections against group averages."""

import eqnn
import pytest
import torch

CASES = [("C4", "regular", False), ("C4", "2x regular + trivial + irrep(2)", True), ("D4", "regular", True),
         ("D4", "2x regular + trivial + irrep(4)", False), ("C5", "2x regular + trivial + irrep(1)", True),
         ("Ico", "regular", False), ("Ico", "regular + trivial + irrep(3)", True)]


def make_rep(spec, text, rotate, seed=0):
    r = eqnn.rep(eqnn.group(spec), text)
    if not rotate:
        return r
    g = torch.Generator().manual_seed(seed)
    B = torch.linalg.qr(torch.randn(r.size, r.size, generator=g, dtype=torch.float64))[0]
    return eqnn.rep(r.group, irreps=r.irreps, change_of_basis=B @ r.change_of_basis)


def loss(x, y, W):
    return float(((x @ W.T - y) ** 2).sum())


def solve_then_project(x, y, rx, ry):
    """symm_learning's lstsq: the unconstrained solution, projected."""
    return eqnn.linalg.equivariant_projection(torch.linalg.lstsq(x, y).solution.T, rx, ry)


def test_c4_counterexample_closed_form():
    psi = eqnn.rep(eqnn.group("C4"), "irrep(2)")  # the 2-dim irrep, type C
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    I2 = torch.eye(2, dtype=torch.float64)
    W = eqnn.linalg.lstsq(x, y, psi, psi)
    Wp = solve_then_project(x, y, psi, psi)
    assert (W - 0.2 * I2).abs().max() <= 1e-14
    assert (Wp - 0.5 * I2).abs().max() <= 1e-14
    assert loss(x, y, W) == pytest.approx(0.80, abs=1e-14)
    assert loss(x, y, Wp) == pytest.approx(1.25, abs=1e-14)
    # with the whole orbit of the data both give 0.2 I
    R = psi.matrices()
    xa, ya = torch.cat([x @ g.T for g in R]), torch.cat([y @ g.T for g in R])
    assert (eqnn.linalg.lstsq(xa, ya, psi, psi) - 0.2 * I2).abs().max() <= 1e-14
    assert (solve_then_project(xa, ya, psi, psi) - 0.2 * I2).abs().max() <= 1e-14


@pytest.mark.parametrize("spec,text,rotate", CASES)
def test_lstsq_oracles(spec, text, rotate):
    rx = make_rep(spec, text, rotate, seed=1)
    ry = make_rep(spec, "regular + irrep(1)" if spec != "Ico" else "regular", not rotate, seed=2)
    N = 2 * rx.size + 3
    x = torch.randn(N, rx.size, dtype=torch.float64)
    y = torch.randn(N, ry.size, dtype=torch.float64)
    W = eqnn.linalg.lstsq(x, y, rx, ry)
    assert W.shape == (ry.size, rx.size) and W.dtype == torch.float64
    scale = max(1.0, float(W.abs().max()))
    RX, RY = rx.matrices(), ry.matrices()
    assert float((RY @ W - W @ RX).abs().max()) <= 1e-10 * scale  # W in Hom_G
    grad = W @ (x.T @ x) - y.T @ x  # KKT: the gradient is orthogonal to Hom_G
    assert float((RY @ grad @ RX.transpose(1, 2)).mean(0).abs().max()) <= 1e-10 * max(1.0, float(grad.abs().max()))
    xa = (x @ RX.transpose(1, 2)).reshape(-1, rx.size)  # unconstrained LS on the augmented data
    ya = (y @ RY.transpose(1, 2)).reshape(-1, ry.size)
    assert float((torch.linalg.lstsq(xa, ya).solution.T - W).abs().max()) <= 1e-10 * scale
    for g in range(0, rx.group.order, max(1, rx.group.order // 5)):  # the same data, transformed
        Wg = eqnn.linalg.lstsq(x @ RX[g].T, y @ RY[g].T, rx, ry)
        assert float((Wg - W).abs().max()) <= 1e-10 * scale
    assert loss(x, y, W) <= loss(x, y, solve_then_project(x, y, rx, ry)) + 1e-10
    W32 = eqnn.linalg.lstsq(x.float(), y.float(), rx, ry)
    assert W32.dtype == torch.float32 and float((W32.double() - W).abs().max()) <= 1e-4 * scale


def test_lstsq_strictly_better_than_solve_then_project_on_raw_data():
    r = eqnn.rep(eqnn.group("D4"), "regular + irrep(4)")
    x, y = torch.randn(20, r.size, dtype=torch.float64), torch.randn(20, r.size, dtype=torch.float64)
    assert loss(x, y, eqnn.linalg.lstsq(x, y, r, r)) < loss(x, y, solve_then_project(x, y, r, r)) - 1e-6


def test_lstsq_is_differentiable():
    r = eqnn.rep(eqnn.group("C4"), "regular + irrep(2)")
    x = torch.randn(12, r.size, dtype=torch.float64, requires_grad=True)
    y = torch.randn(12, r.size, dtype=torch.float64)
    eqnn.linalg.lstsq(x, y, r, r).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().max() > 0


def test_projections_are_group_averages():
    rx = make_rep("D4", "regular + trivial", True, seed=3)
    ry = eqnn.rep(eqnn.group("D4"), "2x irrep(4) + irrep(1)")
    W = torch.randn(3, ry.size, rx.size, dtype=torch.float64)
    RX, RY = rx.matrices(), ry.matrices()
    avg = (RY[:, None] @ W[None] @ RX.transpose(1, 2)[:, None]).mean(0)
    assert float((eqnn.linalg.equivariant_projection(W, rx, ry) - avg).abs().max()) <= 1e-12
    P = eqnn.linalg.invariant_projector(rx)
    assert P.dtype == torch.get_default_dtype() and P.shape == (rx.size, rx.size)
    P64 = eqnn.linalg.invariant_projector(rx, dtype=torch.float64)
    assert float((P64 - RX.mean(0)).abs().max()) <= 1e-12


def test_bad_inputs_have_clear_messages():
    r = eqnn.rep(eqnn.group("C4"), "regular")
    other = eqnn.rep(eqnn.group("D4"), "regular")
    x = torch.randn(5, 4, dtype=torch.float64)
    with pytest.raises(eqnn.GroupError, match=r"different groups \(C4 and D4\)"):
        eqnn.linalg.lstsq(x, x, r, other)
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 4\) and y of shape \(N, 4\)"):
        eqnn.linalg.lstsq(x, torch.randn(4, 4, dtype=torch.float64), r, r)
    with pytest.raises(ValueError, match=r"x must be a floating-point tensor, got Long"):
        eqnn.linalg.lstsq(x.long(), x, r, r)
    with pytest.raises(TypeError, match=r"rep_y must be an eqnn.Representation"):
        eqnn.linalg.lstsq(x, x, r, "regular")
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        eqnn.linalg.lstsq([[1.0]], x, r, r)
    with pytest.raises(ValueError, match=r"expected a floating-point W of shape \(\.\.\., 4, 4\)"):
        eqnn.linalg.equivariant_projection(x, r, r)
