"""Block-diagonal (isotypic) execution from Python: the same function and gradients as the dense path from the
same parameters (ELinear, EMultiheadAttention self- and cross-attention, the transformer layers), the mode in
``options`` and the YAML key, and the errors."""

import eqnn
import pytest
import torch
from eqnn import nn as enn


def _twins(make):
    torch.manual_seed(0)
    dense, iso = make("dense"), make("isotypic")
    iso.load_state_dict(dense.state_dict())
    return dense.double(), iso.double()


def _same(a, b, tol=1e-11):
    assert a.shape == b.shape
    assert (a - b).abs().max().item() <= tol * max(1.0, b.abs().max().item())


@pytest.mark.parametrize("group,rin,rout", [("Ico", "2x regular", "3x regular"),
                                            ("C5", "regular + trivial", "2x regular"),
                                            ("D4", "2x regular", "regular + irrep(1)"),
                                            ("C12", "3x regular", "2x regular")])
def test_linear_isotypic_equals_dense(group, rin, rout):
    G = eqnn.group(group)
    a, b = eqnn.rep(G, rin), eqnn.rep(G, rout)
    dense, iso = _twins(lambda mode: enn.ELinear(a, b, execution=mode))
    assert iso.options["execution"] == "isotypic" and dense.options["execution"] == "dense"
    x = torch.randn(7, a.size, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    yd, yi = dense(x), iso(x2)
    _same(yi, yd)
    w = torch.randn_like(yd)
    (yd * w).sum().backward()
    (yi * w).sum().backward()
    _same(x2.grad, x.grad)
    for p, q in zip(dense.parameters(), iso.parameters()):
        _same(q.grad, p.grad)
    assert eqnn.check_equivariance(iso, a, b) < 1e-10


def test_cyclic_regular_copies_run_by_fft():
    G = eqnn.group("C8")
    r = eqnn.rep(G, "4x regular")
    assert "by FFT over C8" in repr(enn.ELinear(r, r, execution="isotypic"))
    assert "by FFT over C8" not in repr(enn.ELinear(eqnn.rep(G, "regular + trivial"), r, execution="isotypic"))


@pytest.mark.parametrize("padding,mode", [(1, "zeros"), ("same", "circular")])
def test_conv_fft_equals_dense(padding, mode):
    G = eqnn.group("C6")
    a, b = eqnn.rep(G, "2x regular"), eqnn.rep(G, "regular")
    dense, fft = _twins(lambda m: enn.EConv1d(a, b, 3, padding=padding, padding_mode=mode, execution=m))
    assert fft.options["execution"] == "isotypic" and "by FFT over C6" in repr(fft)
    x = torch.randn(4, a.size, 10, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    yd, yf = dense(x), fft(x2)
    _same(yf, yd)
    w = torch.randn_like(yd)
    (yd * w).sum().backward()
    (yf * w).sum().backward()
    _same(x2.grad, x.grad)
    for p, q in zip(dense.parameters(), fft.parameters()):
        _same(q.grad, p.grad)
    d4 = eqnn.rep(eqnn.group("D4"), "regular")
    with pytest.raises(Exception, match="execution 'isotypic' is not available"):
        enn.EConv1d(d4, d4, 3, execution="isotypic")


def test_fft_path_under_forward_ad_and_vmap():
    """The FFT path's fallbacks to ATen operations (forward-mode tangents, torch.func) give dense's results."""
    import torch.autograd.forward_ad as fwAD

    G = eqnn.group("C8")
    a, b = eqnn.rep(G, "2x regular"), eqnn.rep(G, "3x regular")
    for make, x in [(lambda m: enn.ELinear(a, b, execution=m), torch.randn(5, a.size, dtype=torch.float64)),
                    (lambda m: enn.EConv1d(a, b, 3, padding=1, execution=m),
                     torch.randn(2, a.size, 7, dtype=torch.float64))]:
        dense, fft = _twins(make)
        tangent = torch.randn_like(x)
        out = []
        for layer in (dense, fft):
            with fwAD.dual_level():
                out.append(fwAD.unpack_dual(layer(fwAD.make_dual(x, tangent))))
        _same(out[1][0], out[0][0])
        _same(out[1][1], out[0][1])
        _same(torch.func.vmap(fft)(x.unsqueeze(1)).squeeze(1), dense(x))


def test_fused_isotypic_product_under_forward_ad_and_vmap():
    """The fused isotypic product (a C++ autograd node without a forward derivative) steps aside for
    forward-mode tangents, on any input of eMultiheadAttention (here the key and value alone), and for
    torch.func: the results are dense's."""
    import torch.autograd.forward_ad as fwAD

    G = eqnn.group("D4")
    a = eqnn.rep(G, "2x regular")
    x = torch.randn(5, a.size, dtype=torch.float64)
    dense, iso = _twins(lambda m: enn.ELinear(a, a, execution=m))
    tangent = torch.randn_like(x)
    out = []
    for layer in (dense, iso):
        with fwAD.dual_level():
            out.append(fwAD.unpack_dual(layer(fwAD.make_dual(x, tangent))))
    _same(out[1][0], out[0][0])
    _same(out[1][1], out[0][1])
    _same(torch.func.vmap(iso)(x.unsqueeze(1)).squeeze(1), dense(x))

    dense, iso = _twins(lambda m: enn.EMultiheadAttention(a, 2, batch_first=True, execution=m))
    q = torch.randn(2, 3, a.size, dtype=torch.float64)
    kv = torch.randn(2, 4, a.size, dtype=torch.float64)
    tangent = torch.randn_like(kv)
    out = []
    for layer in (dense, iso):
        with fwAD.dual_level():
            kv_dual = fwAD.make_dual(kv, tangent)
            out.append(fwAD.unpack_dual(layer(q, kv_dual, kv_dual)[0]))
    assert out[0][1] is not None
    _same(out[1][0], out[0][0])
    _same(out[1][1], out[0][1])


@pytest.mark.parametrize("self_attention", [True, False])
def test_attention_isotypic_equals_dense(self_attention):
    G = eqnn.group("C4")
    r = eqnn.rep(G, "4x regular")
    dense, iso = _twins(lambda mode: enn.EMultiheadAttention(r, 2, batch_first=True, execution=mode))
    q = torch.randn(3, 5, r.size, dtype=torch.float64)
    kv = q if self_attention else torch.randn(3, 6, r.size, dtype=torch.float64)
    mask = torch.rand(3, kv.shape[1]) < 0.3
    mask[:, 0] = False
    yd, wd = dense(q, kv, kv, key_padding_mask=mask)
    yi, wi = iso(q, kv, kv, key_padding_mask=mask)
    _same(yi, yd)
    _same(wi, wd)


@pytest.mark.parametrize("cls", [enn.ETransformerEncoderLayer, enn.ETransformerDecoderLayer])
def test_transformer_layers_isotypic_equal_dense(cls):
    G = eqnn.group("C4")
    r = eqnn.rep(G, "4x regular")
    dense, iso = _twins(lambda mode: cls(r, 2, dim_feedforward=32, dropout=0.0, batch_first=True, execution=mode))
    x = torch.randn(2, 5, r.size, dtype=torch.float64)
    if cls is enn.ETransformerEncoderLayer:
        _same(iso(x), dense(x))
    else:
        m = torch.randn(2, 4, r.size, dtype=torch.float64)
        _same(iso(x, m), dense(x, m))


def test_auto_and_yaml_key():
    G = eqnn.group("Ico")
    r = eqnn.rep(G, "2x regular")
    lin = enn.ELinear(r, r, execution="auto")
    assert lin.options["execution"] == "auto"
    layer = enn.Layer("eLinear", r, out_rep=r, execution="isotypic")
    assert layer.options["execution"] == "isotypic"


def test_errors():
    G = eqnn.group("C4")
    r = eqnn.rep(G, "regular")
    with pytest.raises(Exception, match="did you mean 'isotypic'"):
        enn.ELinear(r, r, execution="isotypc")
    with pytest.raises(Exception, match="execution"):
        enn.ETransformerEncoderLayer(eqnn.rep(G, "2x regular"), 1, execution="fast")
