"""Compact groups from Python: SO3/O3/SO2/O2 groups, rep.matrix on defining matrices (the standard rep is the
matrix itself, checked against rotations built here), Haar samples, and modules checked on them."""

import math

import eqnn
import eqnn.nn as enn
import pytest
import torch


def rotation_about(axis, angle):
    # Rodrigues' formula, independent of the C++ code.
    n = torch.tensor(axis, dtype=torch.float64)
    n = n / n.norm()
    k = torch.tensor([[0, -n[2], n[1]], [n[2], 0, -n[0]], [-n[1], n[0], 0]], dtype=torch.float64)
    return torch.eye(3, dtype=torch.float64) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def test_so3_is_compact_and_its_standard_rep_is_the_rotation():
    g = eqnn.group("SO3")
    assert g.is_compact and g.band_limit == 32
    assert "compact" in repr(g)
    with pytest.raises(Exception, match="compact group"):
        _ = g.order
    r = rotation_about([1.0, 2.0, -0.5], 2.3)
    assert torch.allclose(eqnn.rep(g, "standard").matrix(r), r, atol=1e-13)
    # χ_l(θ) = sin((2l+1)θ/2) / sin(θ/2)
    for degree in range(6):
        chi = math.sin((2 * degree + 1) * 2.3 / 2) / math.sin(2.3 / 2)
        assert abs(eqnn.rep(g, f"irrep({degree})").matrix(r).trace().item() - chi) < 1e-10


def test_haar_samples_are_elements_and_reps_are_homomorphisms():
    for name, d in [("SO2", 2), ("O2", 2), ("SO3", 3), ("O3", 3)]:
        g = eqnn.group(name)
        s = g.sample(8, seed=3)
        assert s.shape == (8, d, d)
        assert torch.allclose(s @ s.transpose(1, 2), torch.eye(d, dtype=torch.float64).expand(8, d, d), atol=1e-12)
        rep = eqnn.rep(g, "regular(2) + standard")
        a, b = s[0], s[1]
        assert torch.allclose(rep.matrix(a @ b), rep.matrix(a) @ rep.matrix(b), atol=1e-12)


def test_modules_on_so3_are_equivariant_on_haar_samples():
    g = eqnn.group("SO3")
    rep = eqnn.rep(g, "2x regular(1) + 2x standard + 8x trivial")
    for module in [enn.ELinear(rep, rep, dtype=torch.float64),
                   enn.EMultiheadAttention(rep, 2, dtype=torch.float64),
                   enn.ENormNonlinearity(rep)]:
        module.eval()
        assert eqnn.check_equivariance(module, rep, rep) < 1e-10
        assert eqnn.check_equivariance(module.float(), rep, rep, dtype=torch.float32) < 1e-5


def test_transformer_layer_with_gated_feed_forward_serves_so3():
    g = eqnn.group("SO3")
    rep = eqnn.rep(g, "2x standard + 2x irrep(2) + 2x trivial")
    layer = enn.ETransformerEncoderLayer(rep, 2, dim_feedforward=24, dropout=0.0, activation="gated",
                                         batch_first=True, dtype=torch.float64)
    layer.eval()
    assert eqnn.check_equivariance(layer, rep, rep, shape=(2, 5)) < 1e-10
    # torch's own activation functions name pointwise activations, which a compact group cannot take.
    with pytest.raises(Exception, match="use activation 'gated'"):
        enn.ETransformerEncoderLayer(rep, 2, activation=torch.nn.functional.gelu)


def test_quotient_reps_are_the_spherical_harmonics():
    g = eqnn.group("SO3")
    sphere = eqnn.rep(g, "quotient(SO2, 3)")
    assert sphere.size == 1 + 3 + 5 + 7
    assert [g.irreps[k].name for k in sphere.irreps] == ["irrep(0)", "irrep(1)", "irrep(2)", "irrep(3)"]
    # A map from vectors to functions on the sphere: only the degree-1 block is reached.
    std = eqnn.rep(g, "standard")
    layer = enn.ELinear(std, sphere, dtype=torch.float64)
    assert eqnn.check_equivariance(layer, std, sphere) < 1e-10
    with pytest.raises(Exception, match="quotient\\(SO2, L\\)"):
        eqnn.rep(g, "quotient(C4, 2)")


def test_a_matrix_that_is_not_an_element_is_refused():
    rep = eqnn.rep(eqnn.group("SO3"), "standard")
    with pytest.raises(Exception, match="not an element of SO3"):
        rep.matrix(-torch.eye(3, dtype=torch.float64))
    with pytest.raises(Exception, match="regular\\(L\\)"):
        eqnn.rep(eqnn.group("SO3"), "regular")


def test_tensor_product_reps_are_kronecker_products():
    g = eqnn.group("SO3")
    a, b = eqnn.rep(g, "irrep(1) + irrep(2)"), eqnn.rep(g, "standard")
    t = eqnn.rep(g, "tensor(irrep(1) + irrep(2), standard)")
    assert t.size == 24 and eqnn.rep(g, "irrep(2) ⊗ irrep(2)").irreps == [0, 1, 2, 3, 4]
    for r in g.sample(4, seed=7):
        assert torch.allclose(t.matrix(r), torch.kron(a.matrix(r), b.matrix(r)), atol=1e-12)
    small = eqnn.group({"type": "SO3", "band_limit": 2})
    with pytest.raises(Exception, match="beyond the band limit 2"):
        eqnn.rep(small, "irrep(2) ⊗ irrep(1)")


def test_tensor_product_layer_is_an_equivariant_bilinear():
    for name, x_rep, y_rep, z_rep in [
            ("SO3", "2x irrep(1) + trivial", "irrep(1) + irrep(2)", "2x trivial + irrep(1) + irrep(3)"),
            ("O3", "irrep(1, -1)", "irrep(1, -1) + irrep(0, -1)", "irrep(0, 1) + irrep(1, 1) + irrep(1, -1)"),
            ("D4", "regular", "irrep(1) + irrep(4)", "regular")]:
        g = eqnn.group(name)
        rx, ry, rz = eqnn.rep(g, x_rep), eqnn.rep(g, y_rep), eqnn.rep(g, z_rep)
        tp = enn.ETensorProduct(rx, rz, in2_rep=ry, dtype=torch.float64)
        x, y = torch.randn(5, rx.size, dtype=torch.float64), torch.randn(5, ry.size, dtype=torch.float64)
        z = tp(x, y)
        elements = g.sample(16, seed=1) if g.is_compact else range(g.order)
        for e in elements:
            mx, my, mz = rx.matrix(e), ry.matrix(e), rz.matrix(e)
            assert torch.allclose(tp(x @ mx.T, y @ my.T), z @ mz.T, atol=1e-12), name
        stock = torch.nn.Bilinear(rx.size, ry.size, rz.size, dtype=torch.float64)
        params = dict(tp.effective_parameters())
        with torch.no_grad():
            stock.weight.copy_(params["weight"])
            stock.bias.copy_(params["bias"])
        assert torch.allclose(stock(x, y), z, atol=1e-12)
        z.sum().backward()
        assert all(p.grad is not None for p in tp.parameters())
    g = eqnn.group("SO3")
    with pytest.raises(Exception, match="y is required"):
        enn.ETensorProduct(eqnn.rep(g, "irrep(1)"), "irrep(1)", in2_rep="irrep(2)")(torch.randn(2, 3))
    square = enn.ETensorProduct(eqnn.rep(g, "irrep(1)"), "trivial + irrep(2)", bias=False)
    v = torch.randn(4, 3)
    r = g.sample(1, seed=2)[0].float()
    assert torch.allclose(square(v @ r.T)[:, :1], square(v)[:, :1], atol=1e-5)  # |v|²-like invariant part
