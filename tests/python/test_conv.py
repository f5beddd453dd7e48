"""eqnn.nn.EConv1d / EConvTranspose1d as torch modules on (N, C, L): exact equivariance on every group element
(ρ on the channels), stock torch.nn.Conv1d / ConvTranspose1d with the effective weights as the oracle
(outputs and input gradients), torch's signature and output lengths, per-tap dense weights read into the
coefficients (the symm_learning interop recipe), the model-file layout and the errors."""

import copy

import eqnn
import pytest
import torch
from eqnn import nn as enn


def channel_error(module, in_rep, out_rep, x):
    """max over g of |f(ρ_in(g) x) − ρ_out(g) f(x)| / max(1, max|f(x)|), ρ acting on dim -2."""
    rin = in_rep.matrices().to(x.dtype)
    rout = out_rep.matrices().to(x.dtype)
    with torch.no_grad():
        y = module(x)
        scale = max(1.0, y.abs().max().item())
        return max((module(rin[g] @ x) - rout[g] @ y).abs().max().item() / scale for g in range(rin.shape[0]))


CASES = [
    ("C4", "regular", "regular"),
    ("D4", "2x regular + trivial + irrep(1)", "regular"),
    ("Ico", "regular", "regular"),
    ("C4", "regular", "irrep(1)"),  # no trivial part in out_rep: no bias
]


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("spec, a, b", CASES)
def test_equivariant_on_every_element(spec, a, b, dtype, tol):
    G = eqnn.group(spec)
    in_rep, out_rep = eqnn.rep(G, a), eqnn.rep(G, b)
    modules = [
        enn.EConv1d(in_rep, out_rep, 3, dtype=dtype),
        enn.EConv1d(in_rep, out_rep, 3, stride=2, padding=1, dtype=dtype),
        enn.EConv1d(in_rep, out_rep, 3, padding="same", dilation=2, padding_mode="circular", dtype=dtype),
        enn.EConv1d(in_rep, out_rep, 2, padding=1, padding_mode="reflect", dtype=dtype),
        enn.EConvTranspose1d(in_rep, out_rep, 4, stride=2, padding=1, dtype=dtype),
    ]
    for m in modules:
        for p in m.parameters():  # generic coefficients, not the init's scale
            torch.nn.init.normal_(p)
        for x in (torch.randn(2, in_rep.size, 9, dtype=dtype), torch.randn(in_rep.size, 8, dtype=dtype)):
            assert channel_error(m, in_rep, out_rep, x) < tol, (m, x.shape)


def test_bias_note():
    G = eqnn.group("D4")
    no_bias = enn.EConv1d(eqnn.rep(G, "regular"), eqnn.rep(G, "irrep(2)"), 3)
    assert [n for n, _ in no_bias.named_parameters()] == ["weight_coefficients"]
    assert "no bias: out_rep" in repr(no_bias)
    assert torch.equal(no_bias.effective_parameters()["bias"], torch.zeros(no_bias.out_rep.size))


@pytest.mark.parametrize("kwargs", [
    {}, {"stride": 2}, {"padding": "same"}, {"padding": "valid", "dilation": 2}, {"bias": False},
    {"padding": 2, "padding_mode": "reflect"}, {"padding": "same", "padding_mode": "replicate", "dilation": 3},
    {"padding": 1, "stride": 3, "padding_mode": "circular"},
])
def test_conv1d_equals_stock_with_copied_weights(kwargs):
    G = eqnn.group("D4")
    in_rep, out_rep = eqnn.rep(G, "2x regular + trivial + irrep(1)"), eqnn.rep(G, "regular")
    ours = enn.EConv1d(in_rep, out_rep, 4, dtype=torch.float64, **kwargs)
    for p in ours.parameters():
        torch.nn.init.normal_(p)
    stock = torch.nn.Conv1d(in_rep.size, out_rep.size, 4, dtype=torch.float64, **kwargs)
    stock.load_state_dict(ours.effective_parameters(), strict=True)
    for shape in ((3, in_rep.size, 13), (in_rep.size, 12)):
        x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
        xs = x.detach().clone().requires_grad_(True)
        y, ys = ours(x), stock(xs)
        assert y.shape == ys.shape
        assert (y - ys).abs().max() < 1e-12
        probe = torch.randn_like(y)
        (y * probe).sum().backward()
        (ys * probe).sum().backward()
        assert (x.grad - xs.grad).abs().max() < 1e-12
    assert (ours.kernel_size, ours.stride, ours.dilation, ours.padding, ours.padding_mode) == (
        stock.kernel_size, stock.stride, stock.dilation, stock.padding, stock.padding_mode)


@pytest.mark.parametrize("kwargs", [{}, {"stride": 2, "padding": 1, "output_padding": 1},
                                    {"dilation": 2, "padding": 2, "bias": False}])
def test_conv_transpose1d_equals_stock_with_copied_weights(kwargs):
    G = eqnn.group("C4")
    in_rep, out_rep = eqnn.rep(G, "2x regular + trivial + irrep(1)"), eqnn.rep(G, "regular + trivial")
    ours = enn.EConvTranspose1d(in_rep, out_rep, 3, dtype=torch.float64, **kwargs)
    for p in ours.parameters():
        torch.nn.init.normal_(p)
    stock = torch.nn.ConvTranspose1d(in_rep.size, out_rep.size, 3, dtype=torch.float64, **kwargs)
    stock.load_state_dict(ours.effective_parameters(), strict=True)
    assert ours.effective_parameters()["weight"].shape == (in_rep.size, out_rep.size, 3)
    for shape in ((3, in_rep.size, 7), (in_rep.size, 6)):
        x = torch.randn(*shape, dtype=torch.float64)
        assert (ours(x) - stock(x)).abs().max() < 1e-12


def test_dense_per_tap_weights_into_coefficients():
    # The interop recipe for symm_learning's eConv1d (weight (out, in, K)) and eConvTranspose1d ((in, out, K)):
    # coefficients = hom.analyse(taps (K, out, in)).reshape(-1).
    G = eqnn.group("D4")
    in_rep, out_rep = eqnn.rep(G, "regular + trivial"), eqnn.rep(G, "2x regular")
    hom = eqnn.hom(in_rep, out_rep)
    taps = hom.expand(torch.randn(5, hom.dim, dtype=torch.float64))  # (K, out, in), equivariant
    conv = enn.EConv1d(in_rep, out_rep, 5, dtype=torch.float64)
    assert conv.weight_coefficients.numel() == 5 * hom.dim
    dense = taps.permute(1, 2, 0)  # a dense (out, in, K) kernel
    with torch.no_grad():
        conv.weight_coefficients.copy_(hom.analyse(dense.permute(2, 0, 1)).reshape(-1))
    assert (conv.effective_parameters()["weight"] - dense).abs().max() < 1e-12
    tconv = enn.EConvTranspose1d(in_rep, out_rep, 5, dtype=torch.float64)
    dense_t = taps.permute(2, 1, 0)  # (in, out, K)
    with torch.no_grad():
        tconv.weight_coefficients.copy_(hom.analyse(dense_t.permute(2, 1, 0)).reshape(-1))
    assert (tconv.effective_parameters()["weight"] - dense_t).abs().max() < 1e-12
    # Weight and bias together: a state_dict whose effective tensors are given in another ("dense") basis is
    # re-projected onto this module's bases on load.
    ref = enn.EConv1d(in_rep, out_rep, 5, dtype=torch.float64)
    eff = ref.effective_parameters()
    state = conv.state_dict()
    state["_extra_state"] = {
        "eqnn_bases": {"weight_coefficients": "dense", "bias_coefficients": "dense"},
        "eqnn_effective": {"weight_coefficients": eff["weight"].permute(2, 0, 1).contiguous(),
                           "bias_coefficients": eff["bias"]}}
    conv.load_state_dict(state)
    x = torch.randn(2, in_rep.size, 8, dtype=torch.float64)
    assert (conv(x) - ref(x)).abs().max() < 1e-12


def test_default_init_has_torch_conv_variances():
    torch.manual_seed(3)
    G = eqnn.group("C4")
    in_rep, out_rep = eqnn.rep(G, "4x regular"), eqnn.rep(G, "2x regular + trivial")
    n = 200

    def mean_square(make, key):
        return torch.stack([make().effective_parameters()[key].double().pow(2).mean() for _ in range(n)]).mean()

    def stock_mean_square(make, key):
        return torch.stack([dict(make().named_parameters())[key].double().pow(2).mean() for _ in range(n)]).mean()

    ratio = mean_square(lambda: enn.EConv1d(in_rep, out_rep, 3), "weight") / stock_mean_square(
        lambda: torch.nn.Conv1d(16, 9, 3), "weight")
    assert abs(ratio - 1) < 0.06
    ratio_t = mean_square(lambda: enn.EConvTranspose1d(in_rep, out_rep, 3), "weight") / stock_mean_square(
        lambda: torch.nn.ConvTranspose1d(16, 9, 3), "weight")
    assert abs(ratio_t - 1) < 0.06


def test_module_behaviour_and_model_file(tmp_path):
    G = eqnn.group("C4")
    r = eqnn.rep(G, "2x regular")
    conv = enn.EConv1d(r, r, 3, padding=1)
    x = torch.randn(2, 8, 10)
    twin = copy.deepcopy(conv)
    assert torch.equal(twin(x), conv(x))
    conv(x).square().sum().backward()
    assert conv.weight_coefficients.grad.abs().sum() > 0
    # Eval mode under no_grad caches the expanded kernel; an in-place edit of the coefficients is still seen.
    conv.eval()
    with torch.no_grad():
        y2 = conv(x)
        assert torch.equal(conv(x), y2)
        conv.weight_coefficients.mul_(2)
        assert not torch.allclose(conv(x), y2)
    conv.train()
    # state_dict round trip (the bases record the per-tap constraint); another kernel size is refused.
    fresh = enn.EConv1d(r, r, 3, padding=1)
    fresh.load_state_dict(conv.state_dict())
    assert torch.equal(fresh(x), conv(x))
    with pytest.raises(Exception, match=r"expands to shape \[3, 8, 8\] in the state_dict but \[5, 8, 8\]"):
        enn.EConv1d(r, r, 5, padding=1).load_state_dict(conv.state_dict())
    seq = torch.nn.Sequential(conv, torch.nn.ReLU(), enn.EConvTranspose1d(r, r, 2, stride=2))
    assert seq(x).shape == (2, 8, 20)
    # A model file's conv takes (batch, seq, D) and convolves over seq.
    path = tmp_path / "conv.yaml"
    path.write_text("eqnn: 1\ngroup: {type: CyclicGroup, n: 4}\nreps: {x: 2x regular}\ninput: x\nlayers:\n"
                    "  - {type: eConv1d, out_rep: x, kernel_size: 3, padding: same}\n")
    model = enn.Model(str(path))
    tokens = torch.randn(3, 11, 8)
    assert model(tokens).shape == (3, 11, 8)
    stock = torch.nn.Conv1d(8, 8, 3, padding="same")
    stock.load_state_dict({k.split(".", 2)[-1]: v for k, v in model.effective_parameters().items()})
    assert torch.allclose(model(tokens), stock(tokens.transpose(1, 2)).transpose(1, 2), atol=1e-5)


def test_errors():
    G = eqnn.group("C4")
    r = eqnn.rep(G, "regular")
    conv = enn.EConv1d(r, r, 3)
    with pytest.raises(RuntimeError, match=r"EConv1d: expected input of shape \(N, 4, L\) or \(4, L\)"):
        conv(torch.randn(2, 5, 9))
    with pytest.raises(RuntimeError, match="too short for kernel_size 3"):
        conv(torch.randn(2, 4, 2))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        enn.EConv1d(r, r, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="groups = 2 is not supported"):
        enn.EConv1d(r, r, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        enn.EConv1d(r, r, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="only 'zeros' padding mode"):
        enn.EConvTranspose1d(r, r, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="output_padding must be at least 0 and smaller"):
        enn.EConvTranspose1d(r, r, 3, output_padding=2)
