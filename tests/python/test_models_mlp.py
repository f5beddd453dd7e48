"""eqnn.models.EMLP / IMLP from Python: exact equivariance (invariance) on every element, the YAML examples and
the Python classes giving the same outputs from one state_dict, symm_learning's structure (net.{i} names),
the accepted activations (names and torch's modules), gradients into every parameter, and the errors. The
oracle stack and the C5/D4/Ico sweeps over rep kinds are in tests/layers/models_test.cpp; symm_learning's
models themselves are the oracle in tests/python/reference/test_models_reference.py."""

import eqnn
import pytest
import torch
from eqnn.models import EMLP, IMLP


def rekey(state: dict, old: str, new: str) -> dict:
    """A state_dict's entries under the prefix ``old`` moved to ``new``, its basis record (_extra_state, kept
    at the top level by eqnn) re-keyed the same way."""
    out = {new + k[len(old):]: v for k, v in state.items() if k.startswith(old) and k != "_extra_state"}
    record = state["_extra_state"]
    out["_extra_state"] = {table: {new + k[len(old):]: v for k, v in record[table].items() if k.startswith(old)}
                           for table in ("eqnn_bases", "eqnn_effective")}
    return out


@pytest.mark.parametrize("spec", ["C5", "D4", "Ico"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_equivariant_and_invariant_on_every_element(spec, dtype, tol):
    G = eqnn.group(spec)
    x = eqnn.rep(G, "regular")
    y = eqnn.rep(G, "2x regular")
    units = [64, 64] if G.order < 60 else [60, 60]
    e = EMLP(x, y, units, dtype=dtype).eval()
    assert eqnn.check_equivariance(e, x, y, dtype) < tol
    i = IMLP(x, 3, units, dtype=dtype).eval()
    assert eqnn.check_equivariance(i, x, eqnn.rep(G, "3x trivial"), dtype) < tol


def test_structure_follows_symm_learning():
    G = eqnn.group("C5")
    e = EMLP(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"), [64, 64], dropout=0.1)
    assert e.hidden_sizes == [65, 65]
    assert [n for n, _ in e.named_parameters()] == [f"net.{i}.{p}" for i in (0, 3, 6)
                                                    for p in ("weight_coefficients", "bias_coefficients")]
    i = IMLP(eqnn.rep(G, "regular"), 2, [64, 64])
    names = [n for n, _ in i.named_parameters()]
    assert names[-2:] == ["net.7.weight", "net.7.bias"]  # the torch Linear head, copied raw by the converter
    assert getattr(i.net, "7").weight.shape == (2, 13 * 3)  # one norm per irreducible copy: 3 per C5 regular copy
    assert i.options["out_dim"] == 2 and i.options["hidden_units"] == [64, 64]


@pytest.mark.parametrize("name, make", [
    ("c5_emlp.yaml", lambda G: EMLP(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"), [64, 64],
                                    activation="relu")),
    ("ico_imlp.yaml", lambda G: IMLP(eqnn.rep(G, "permutation(vertices)"), 4, [120, 120],
                                     activation=torch.nn.GELU())),
])
def test_yaml_and_python_give_the_same_outputs(models_dir, name, make):
    model = eqnn.load_model(str(models_dir / name)).double()
    out = model.output_rep or model.input_rep
    assert eqnn.check_equivariance(model, model.input_rep, out, torch.float64) < 1e-10
    assert eqnn.check_equivariance(model, model.input_rep, out, torch.float32) < 1e-5
    ours = make(model.input_rep.group).double()
    ours.load_state_dict(rekey(model.state_dict(), "layers.0.", ""))
    v = torch.randn(6, model.input_rep.size, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(ours(v), model(v))
    # And back: a Python state_dict loads into the YAML model.
    with torch.no_grad():
        for p in ours.parameters():
            p.normal_()
    model.load_state_dict(rekey(ours.state_dict(), "", "layers.0."))
    with torch.no_grad():
        assert torch.equal(ours(v), model(v))


def test_activation_modules_and_names_are_the_same_function():
    G = eqnn.group("D4")
    x = eqnn.rep(G, "regular")
    for module, name in [(torch.nn.ReLU(), "relu"), (torch.nn.SiLU(), "silu"), (torch.nn.Tanh(), "tanh"),
                         (torch.nn.LeakyReLU(), "leaky_relu"), (torch.nn.ELU(), "elu"), (torch.nn.Mish(), "mish"),
                         (torch.nn.Softplus(), "softplus"), (torch.nn.Sigmoid(), "sigmoid"),
                         (torch.nn.GELU(), "gelu")]:
        a = EMLP(x, x, [8], activation=module)
        b = EMLP(x, x, [8], activation=name)
        assert a.options["activation"] == name
        b.load_state_dict(a.state_dict())
        v = torch.randn(3, 8)
        assert torch.equal(a(v), b(v))
        other = EMLP(x, x, [8], activation="tanh" if name != "tanh" else "relu")
        other.load_state_dict(a.state_dict())
        assert not torch.allclose(a(v), other(v))  # the activation is applied, not ignored


def test_gradients_reach_every_parameter():
    G = eqnn.group("C5")
    i = IMLP(eqnn.rep(G, "regular"), 2, [10, 10], dropout=0.2)
    i(torch.randn(4, 5)).square().sum().backward()
    for n, p in i.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n


def test_errors():
    G = eqnn.group("D4")
    x = eqnn.rep(G, "regular")
    with pytest.raises(TypeError, match=r"activation must be a pointwise function name .* got LeakyReLU"):
        EMLP(x, x, [8], activation=torch.nn.LeakyReLU(0.2))  # other parameters: another function
    with pytest.raises(TypeError, match="activation must be"):
        IMLP(x, 2, [8], activation=torch.nn.Softmax(dim=-1))
    with pytest.raises(TypeError, match=r"hidden_units must be a list of widths"):
        EMLP(x, x, 8)
    with pytest.raises(TypeError, match=r"IMLP: out_dim must be an int"):
        IMLP(x, 2.0, [8])
    with pytest.raises(ValueError, match=r"eMLP: unknown activation 'rleu' \(did you mean 'relu'\?\)"):
        EMLP(x, x, [8], activation="rleu")
    with pytest.raises(ValueError, match=r"eMLP: 'hidden_units' must list at least one hidden width"):
        EMLP(x, x, [])
    with pytest.raises(ValueError, match=r"iMLP: hidden_rep .* is not a permutation representation .* "
                                         r"eNormNonlinearity or eGatedNonlinearity"):
        IMLP(x, 2, [8], hidden_rep=eqnn.rep(G, "irrep(1) + irrep(4)"))
    with pytest.raises(ValueError, match=r"iMLP: 'out_dim' must be >= 1"):
        IMLP(x, 0, [8])
    with pytest.raises(RuntimeError, match=r"eMLP: expected input of shape \(\.\.\., 8\)"):
        EMLP(x, x, [8])(torch.randn(2, 7))


@pytest.mark.parametrize("spec", ["C5", "D4"])
@pytest.mark.parametrize("out, downsample", [("2x regular", "stride"), ("3x trivial", "pooling")])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_time_cnn_equivariant(spec, out, downsample, dtype, tol):
    G = eqnn.group(spec)
    x, y = eqnn.rep(G, "regular + trivial"), eqnn.rep(G, out)
    enc = eqnn.models.ETimeCNNEncoder(x, y, [G.order, 2 * G.order], 12, batch_norm=True, append_last_frame=True,
                                      downsample=downsample, mlp_hidden=[16], dtype=dtype).eval()
    assert enc(torch.randn(3, x.size, 12, dtype=dtype)).shape == (3, y.size)
    f = lambda t: enc(t.transpose(1, 2))  # noqa: E731  (the group acts on the channels)
    assert eqnn.check_equivariance(f, x, y, dtype, shape=(2, 12)) < tol


def test_time_cnn_yaml_and_python_give_the_same_outputs(models_dir):
    model = eqnn.load_model(str(models_dir / "c5_time_cnn.yaml")).double()
    assert eqnn.check_equivariance(model, model.input_rep, model.output_rep, torch.float64, shape=(2, 16)) < 1e-10
    G = model.input_rep.group
    ours = eqnn.models.ETimeCNNEncoder(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"), [20, 20], 16,
                                       mlp_hidden=[32, 32], batch_norm=True, append_last_frame=True).double()
    ours.load_state_dict(rekey(model.state_dict(), "layers.0.", ""))
    v = torch.randn(4, 5, 16, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(ours(v), model(v.transpose(1, 2)))
    names = [n for n, _ in ours.named_parameters()]
    assert names[:3] == ["feature_layers.0.weight_coefficients", "feature_layers.0.bias_coefficients",
                         "feature_layers.1.weight"]
    assert names[-1] == "head.net.4.bias_coefficients"


def test_time_cnn_errors():
    G = eqnn.group("C5")
    x = eqnn.rep(G, "regular")
    with pytest.raises(ValueError, match=r"time_horizon 2 is too short for 2 'pooling' blocks.*leaving 0 frames"):
        eqnn.models.ETimeCNNEncoder(x, x, [5, 5], 2, downsample="pooling")
    with pytest.raises(ValueError, match=r"'downsample' must be 'stride'"):
        eqnn.models.ETimeCNNEncoder(x, x, [5], 8, downsample="max")
    with pytest.raises(RuntimeError, match=r"expected input of shape \(N, C, time_horizon\)"):
        eqnn.models.ETimeCNNEncoder(x, x, [5], 8)(torch.randn(2, 5))
