"""eqnn.nn modules as torch.nn.Modules: exact equivariance on every group element, the stock torch module
with the same effective weights as the oracle, parameters shared with the C++ module (optimiser steps,
.to(), load_state_dict, deepcopy), autograd through the C++ code, and the errors."""

import copy
import io
import math

import eqnn
import pytest
import torch
from eqnn import nn as enn


@pytest.fixture(scope="module")
def C8():
    return eqnn.group("C8")


def stock_linear(layer):
    eff = layer.effective_parameters()
    lin = torch.nn.Linear(eff["weight"].shape[1], eff["weight"].shape[0], dtype=eff["weight"].dtype)
    lin.load_state_dict(eff, strict=True)
    return lin


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_elinear_is_equivariant_and_matches_stock_linear(C8, dtype, tol):
    x_rep, h_rep = eqnn.rep(C8, "permutation(vertices) + irrep(2)"), eqnn.rep(C8, "2x regular + trivial")
    lin = enn.ELinear(x_rep, h_rep, dtype=dtype)
    assert isinstance(lin, torch.nn.Module)
    assert eqnn.check_equivariance(lin, x_rep, h_rep, dtype) < tol
    assert eqnn.check_equivariance(lin, x_rep, h_rep, dtype) == eqnn.check_equivariance(lin, x_rep, h_rep, dtype)
    x = torch.randn(5, x_rep.size, dtype=dtype)
    assert torch.allclose(lin(x), stock_linear(lin)(x), atol=tol)
    assert lin(x).dtype == dtype


def test_parameters_are_the_cpp_tensors(C8):
    r = eqnn.rep(C8, "2x regular")
    lin = enn.ELinear(r, r)
    names = [n for n, _ in lin.named_parameters()]
    assert names == ["weight_coefficients", "bias_coefficients"]
    assert set(lin.state_dict()) == set(names) | {"_extra_state"}  # + the bases (test_state_dict.py)
    x = torch.randn(4, r.size)
    y0 = lin(x)
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)
    lin(x).square().sum().backward()
    assert lin.weight_coefficients.grad is not None and lin.weight_coefficients.grad.abs().sum() > 0
    opt.step()
    y1 = lin(x)
    assert not torch.allclose(y0, y1)  # the C++ forward sees the optimiser's in-place update
    hom = eqnn.hom(r, r)
    W = hom.expand(lin.weight_coefficients.detach().double())
    assert torch.allclose(lin.effective_parameters()["weight"].double(), W, atol=1e-6)
    # In eval mode the expanded weights are cached; an in-place edit must still be seen.
    lin.eval()
    with torch.no_grad():
        y2 = lin(x)
        lin.weight_coefficients.mul_(2)
        y3 = lin(x)
    assert not torch.allclose(y2, y3)


def test_to_dtype_train_eval_deepcopy_and_state_dict(C8):
    r = eqnn.rep(C8, "2x regular")
    lin = enn.ELinear(r, r)
    lin.double()
    x = torch.randn(3, r.size, dtype=torch.float64)
    assert lin(x).dtype == torch.float64
    assert lin.weight_coefficients.dtype == torch.float64
    lin.eval()
    assert not lin.training
    lin.train()
    assert lin.training
    twin = copy.deepcopy(lin)
    assert torch.equal(twin(x), lin(x))
    with torch.no_grad():
        twin.weight_coefficients.zero_()
    assert not torch.equal(twin(x), lin(x))  # independent tensors and an independent C++ module
    buf = io.BytesIO()
    torch.save(lin.state_dict(), buf)
    buf.seek(0)
    fresh = enn.ELinear(r, r, dtype=torch.float64)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(fresh(x), lin(x))
    # assign=True replaces the Parameter objects: the C++ module must follow.
    other = enn.ELinear(r, r, dtype=torch.float64)
    other.load_state_dict(lin.state_dict(), assign=True)
    assert torch.equal(other(x), lin(x))


def test_gradcheck_through_the_cpp_code(C8):
    r = eqnn.rep(C8, "regular + trivial")
    lin = enn.ELinear(r, eqnn.rep(C8, "regular"), dtype=torch.float64)
    x = torch.randn(2, r.size, dtype=torch.float64, requires_grad=True)
    w = lin.weight_coefficients

    def f(x, w_value):
        with torch.no_grad():
            w.copy_(w_value)
        return lin(x)

    assert torch.autograd.gradcheck(lambda x: lin(x), (x,))
    # Gradient with respect to the coefficients against finite differences of the effective map.
    y = lin(x).sum()
    (g,) = torch.autograd.grad(y, w)
    eps = 1e-6
    for i in range(w.numel()):
        with torch.no_grad():
            w[i] += eps
            up = lin(x).sum()
            w[i] -= 2 * eps
            down = lin(x).sum()
            w[i] += eps
        assert float(g[i]) == pytest.approx(float(up - down) / (2 * eps), abs=1e-6)


def test_inside_sequential_and_user_modules(C8):
    x_rep, h_rep = eqnn.rep(C8, "permutation(vertices)"), eqnn.rep(C8, "4x regular")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(enn.ELinear(x_rep, h_rep), enn.EReLU(h_rep), enn.ELinear(h_rep, x_rep))
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, x):
            return self.scale * self.body(x)

    net = Net()
    assert len(list(net.parameters())) == 5
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.randn(64, 8)
    target = x.roll(1, dims=-1)  # rotating the ring is C8-equivariant: learnable exactly
    first = None
    for _ in range(60):
        loss = (net(x) - target).square().mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first
    assert eqnn.check_equivariance(net, x_rep, x_rep) < 1e-10


def test_multihead_attention_matches_stock_module(C8):
    r = eqnn.rep(C8, "4x regular")
    for batch_first in (False, True):
        m = enn.EMultiheadAttention(r, num_heads=2, batch_first=batch_first, dtype=torch.float64)
        stock = torch.nn.MultiheadAttention(32, 2, batch_first=batch_first, dtype=torch.float64)
        stock.load_state_dict(m.effective_parameters(), strict=True)
        q = torch.randn(5, 3, 32, dtype=torch.float64)
        kv = torch.randn(7, 3, 32, dtype=torch.float64)
        if batch_first:
            q, kv = q.transpose(0, 1), kv.transpose(0, 1)
        pad = torch.zeros(3, 7, dtype=torch.bool)
        pad[1, 5:] = True
        mask = torch.triu(torch.ones(5, 7, dtype=torch.bool), diagonal=3)
        float_mask = torch.randn(5, 7, dtype=torch.float64)
        float_pad = torch.randn(3, 7, dtype=torch.float64)
        per_head_mask = torch.randn(6, 5, 7, dtype=torch.float64)
        for kwargs in (
            {},
            {"need_weights": False},
            {"key_padding_mask": pad, "attn_mask": mask},
            {"key_padding_mask": pad, "attn_mask": mask, "need_weights": False},
            {"attn_mask": float_mask, "average_attn_weights": False},
            {"key_padding_mask": float_pad},
            {"key_padding_mask": float_pad, "attn_mask": per_head_mask},
            {"key_padding_mask": float_pad, "attn_mask": mask, "need_weights": False},
            {"average_attn_weights": False},
        ):
            y, w = m(q, kv, kv, **kwargs)
            y_ref, w_ref = stock(q, kv, kv, **kwargs)
            assert torch.allclose(y, y_ref, atol=1e-10)
            assert (w is None) == (w_ref is None)
            if w is not None:
                assert torch.allclose(w, w_ref, atol=1e-10)
    # Unbatched inputs, with bool and float key padding masks.
    m = enn.EMultiheadAttention(r, 2, dtype=torch.float64)
    stock = torch.nn.MultiheadAttention(32, 2, dtype=torch.float64)
    stock.load_state_dict(m.effective_parameters())
    q, kv = torch.randn(5, 32, dtype=torch.float64), torch.randn(7, 32, dtype=torch.float64)
    for pad in (torch.tensor([False] * 5 + [True] * 2), torch.randn(7, dtype=torch.float64)):
        y, w = m(q, kv, kv, key_padding_mask=pad)
        y_ref, w_ref = stock(q, kv, kv, key_padding_mask=pad)
        assert torch.allclose(y, y_ref, atol=1e-10) and torch.allclose(w, w_ref, atol=1e-10)
    # Gradients reach the parameters through the C++ attention with a float padding mask.
    m.zero_grad()
    m(q, kv, kv, key_padding_mask=torch.randn(7, dtype=torch.float64))[0].square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
    with pytest.raises(TypeError, match="only bool and floating types of attn_mask"):
        m(q, kv, kv, attn_mask=torch.zeros(5, 7, dtype=torch.int64))
    L = 4
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L, dtype=torch.float64)
    x = torch.randn(L, 2, 32, dtype=torch.float64)
    m = enn.EMultiheadAttention(r, 2, dtype=torch.float64)
    stock = torch.nn.MultiheadAttention(32, 2, dtype=torch.float64)
    stock.load_state_dict(m.effective_parameters())
    y, _ = m(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)
    y_ref, _ = stock(x, x, x, attn_mask=causal, is_causal=True, need_weights=False)
    assert torch.allclose(y, y_ref, atol=1e-10)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)


@pytest.mark.parametrize(
    "spec, text", [("C8", "4x regular"), ("Ico", "2x regular"), ("D4", "regular + 2x irrep(4) + 4x trivial")]
)
def test_multihead_attention_equivariance(spec, text):
    G = eqnn.group(spec)
    r = eqnn.rep(G, text)
    m = enn.EMultiheadAttention(r, num_heads=2 if r.size // G.order % 2 == 0 else 1)
    assert eqnn.check_equivariance(m, r, r, torch.float64) < 1e-10
    assert eqnn.check_equivariance(m, r, r, torch.float32) < 1e-5


def test_registry_layers_are_equivariant_modules(C8):
    r = eqnn.rep(C8, "4x regular")
    layers = [
        enn.ELayerNorm(r),
        enn.ERMSNorm(r),
        enn.EReLU(r),
        enn.EGELU(r, approximate="tanh"),
        enn.EPointwise(r, function="leaky_relu", negative_slope=0.1),
        enn.ETransformerEncoderLayer(r, 2, dim_feedforward=64, dropout=0.0, batch_first=True),
    ]
    for layer in layers:
        assert eqnn.check_equivariance(layer, r, layer.out_rep, torch.float64) < 1e-10, layer
    pool = enn.EInvariantPool(r)
    assert pool.out_rep.size == 4
    assert eqnn.check_equivariance(pool, r, pool.out_rep) < 1e-10
    t = enn.ETransformerEncoderLayer(r, 2, dim_feedforward=64, dropout=0.0, batch_first=True)
    assert len(list(t.parameters())) > 4
    sd = t.state_dict()
    t2 = enn.ETransformerEncoderLayer(r, 2, dim_feedforward=64, dropout=0.0, batch_first=True)
    t2.load_state_dict(sd)
    x = torch.randn(2, 5, 32)
    t.eval(), t2.eval()
    assert torch.equal(t(x), t2(x))


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_masks_mean_what_they_say(C8, norm_first):
    # No attention code as the oracle: with a causal mask token t's output is that of the sequence cut after
    # t; with padding, the kept tokens' outputs are those of the sequence without the padded ones.
    r = eqnn.rep(C8, "2x regular")
    t = enn.ETransformerEncoderLayer(r, nhead=2, dim_feedforward=16, dropout=0.0, norm_first=norm_first,
                                    batch_first=True)
    t = t.double().eval()
    x = torch.randn(2, 5, 16, dtype=torch.float64)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(5, dtype=torch.float64)
    with torch.no_grad():
        y = t(x, src_mask=causal, is_causal=True)
        for i in range(5):
            assert torch.allclose(y[:, i], t(x[:, : i + 1])[:, i], atol=1e-12, rtol=0)
        assert torch.allclose(t(x, src_mask=causal.isinf()), y, atol=1e-12, rtol=0)  # bool mask
        pad = torch.tensor([[False, True, False, False, True], [False] * 5])
        out = t(x, src_key_padding_mask=pad)
        kept = torch.tensor([0, 2, 3])
        assert torch.allclose(out[0, kept], t(x[:1, kept])[0], atol=1e-12, rtol=0)
        assert torch.allclose(out[1], t(x[1:])[0], atol=1e-12, rtol=0)
    # Exactly equivariant with the masks on every element; gradients flow through the masked forward.
    masked = lambda z: t(z, src_mask=causal[:3, :3], src_key_padding_mask=pad[:, :3])  # noqa: E731
    assert eqnn.check_equivariance(masked, r, r, torch.float64, shape=(2, 3)) < 1e-10
    t.train()
    t(x, src_mask=causal, src_key_padding_mask=pad).square().sum().backward()
    assert all(p.grad is not None for p in t.parameters())
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        t(x, is_causal=True)
    with pytest.raises(RuntimeError, match="key_padding_mask has shape"):
        t(x, src_key_padding_mask=pad[:, :3])
    with pytest.raises(TypeError, match="only bool and floating types of src_mask are supported, got torch.int64"):
        t(x, src_mask=torch.zeros(5, 5, dtype=torch.int64))


def test_check_equivariance_fails_on_nan_and_on_a_broken_module(C8):
    r = eqnn.rep(C8, "regular")
    assert eqnn.check_equivariance(lambda x: x * float("nan"), r, r) == math.inf
    assert not eqnn.check_equivariance(lambda x: x * float("nan"), r, r) < 1e-10
    broken = torch.nn.Linear(8, 8, dtype=torch.float64)
    assert eqnn.check_equivariance(broken, r, r) > 1e-3
    assert eqnn.check_equivariance(lambda x: x, r, r) == 0.0


def test_errors_become_python_exceptions(C8):
    r = eqnn.rep(C8, "4x regular")
    with pytest.raises(ValueError, match=r"add_bias_kv"):
        enn.EMultiheadAttention(r, 2, add_bias_kv=True)
    with pytest.raises(ValueError, match=r"num_heads"):
        enn.EMultiheadAttention(r, 3)
    with pytest.raises(ValueError, match=r"permutation"):
        enn.EReLU(eqnn.rep(C8, "irrep(2)"))
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'epsilon'"):
        enn.ELayerNorm(r, epsilon=1e-3)
    with pytest.raises(ValueError, match=r"^eLayerNorm: unknown key 'epsilon'; allowed keys: eps"):
        enn.Layer("eLayerNorm", r, epsilon=1e-3)
    with pytest.raises(ValueError, match=r"init_scheme"):
        enn.ELinear(r, r, init_scheme="xavier_norml")
    with pytest.raises(KeyError, match=r"unknown layer 'eFoo'.*Known layers: .*eLinear"):
        enn.Layer("eFoo", r)
    with pytest.raises(ValueError, match=r"num_heads must be positive, got 0.*valid head counts are 1, 2, 4"):
        enn.EMultiheadAttention(r, 0)
    with pytest.raises(ValueError, match=r"different groups \(C8 and C4\)"):
        enn.ELinear(r, eqnn.rep(eqnn.group("C4"), "regular"))
    lin = enn.ELinear(r, r)
    with pytest.raises(RuntimeError, match=r"32"):
        lin(torch.randn(3, 31))
    with pytest.raises(RuntimeError, match=r"same dtype"):
        lin(torch.zeros(3, 32, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"cannot be pickled as a whole; save its state_dict\(\)"):
        torch.save(lin, io.BytesIO())
    m = enn.EMultiheadAttention(r, 2)
    with pytest.raises(RuntimeError):
        m(torch.randn(4, 2, 32), torch.randn(5, 3, 32), torch.randn(5, 3, 32))
