"""eqnn.nn's activations: the pointwise family (torch's functions, refused on non-permutation reps with a message
that names the layers that serve them), ENormNonlinearity and EGatedNonlinearity (exactly equivariant on C4, D4
and Ico, equal to dense formulas written here from the rep's change of basis, gradcheck at zero input)."""

import eqnn
import pytest
import torch
from eqnn import nn as enn

F = torch.nn.functional


def copies(rep):
    """(irrep index, offset, dim) of every irreducible copy, in the order of the change of basis' blocks."""
    dims = [irrep.dim for irrep in rep.group.irreps]
    out, offset = [], 0
    for k in rep.irreps:
        out.append((k, offset, dims[k]))
        offset += dims[k]
    return out


def with_gates(group, spec):
    """spec plus as many trivial copies as its non-trivial copies lack as gates."""
    irreps = eqnn.rep(group, spec).irreps
    missing = sum(k != 0 for k in irreps) - sum(k == 0 for k in irreps)
    return f"{spec} + {missing}x trivial" if missing > 0 else spec


def norm_oracle(rep, function, bias, x):
    q = rep.change_of_basis.to(x.dtype)
    xhat = x @ q
    parts = []
    for c, (_, offset, dim) in enumerate(copies(rep)):
        v = xhat[..., offset:offset + dim]
        n = v.pow(2).sum(-1, keepdim=True).sqrt()
        b = 0.0 if bias is None else bias[c].item()
        if function == "relu":
            scale = torch.relu(n + b) / n
        elif function == "softplus":
            scale = torch.log1p(torch.exp(n + b)) / n
        elif function == "sigmoid":
            scale = 1 / (1 + torch.exp(-(n + b)))
        else:
            scale = 1 / (1 + n)
        parts.append(v * scale)
    return torch.cat(parts, -1) @ q.T


def gated_oracle(rep, function, x):
    sigma = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "softplus": lambda t: torch.log1p(torch.exp(t))}[function]
    xhat = x @ rep.change_of_basis.to(x.dtype)
    cs = copies(rep)
    n_gated = sum(k != 0 for k, _, _ in cs)
    gates = [xhat[..., o:o + 1] for k, o, _ in cs if k == 0][:n_gated]
    out, trivial, gated = [], 0, 0
    for k, o, d in cs:
        v = xhat[..., o:o + d]
        if k == 0:
            trivial += 1
            if trivial > n_gated:
                out.append(v * sigma(v))
        else:
            out.append(v * sigma(gates[gated]))
            gated += 1
    return torch.cat(out, -1)


GROUPS = ["C4", "D4", "Ico"]


def sweep(group_name, gated):
    g = eqnn.group(group_name)
    specs = ["2x regular", "2x regular + 3x trivial + irrep(1)", f"irrep({len(g.irreps) - 1})", "regular"]
    return g, [eqnn.rep(g, with_gates(g, s) if gated else s) for s in specs]


POINTWISE = [
    (enn.EMish, {}, F.mish),
    (enn.ESigmoid, {}, torch.sigmoid),
    (enn.EELU, {}, F.elu),
    (enn.EELU, {"alpha": 0.5}, lambda x: F.elu(x, alpha=0.5)),
    (enn.ELeakyReLU, {}, F.leaky_relu),
    (enn.ELeakyReLU, {"negative_slope": 0.3}, lambda x: F.leaky_relu(x, 0.3)),
    (enn.ESoftplus, {}, F.softplus),
    (enn.ESoftplus, {"beta": 2.0, "threshold": 1.0}, lambda x: F.softplus(x, beta=2.0, threshold=1.0)),
]


@pytest.mark.parametrize("cls,kwargs,reference", POINTWISE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_pointwise_family_is_torchs_function_and_equivariant(cls, kwargs, reference):
    rep = eqnn.rep(eqnn.group("D4"), "2x regular + trivial")
    act = cls(rep, **kwargs)
    x = torch.randn(4, 17, dtype=torch.float64)
    assert torch.equal(act(x), reference(x))
    assert eqnn.check_equivariance(act, rep, rep) < 1e-10
    assert list(act.parameters()) == []


@pytest.mark.parametrize("cls", [enn.EMish, enn.ESigmoid, enn.EELU, enn.ELeakyReLU, enn.ESoftplus, enn.EReLU])
def test_pointwise_refuses_non_permutation_reps_and_names_the_layers_that_serve_them(cls):
    rep = eqnn.rep(eqnn.group("D4"), "standard + regular")
    with pytest.raises(eqnn.ConfigError, match="use eNormNonlinearity or eGatedNonlinearity, which serve any "
                                               "orthogonal representation"):
        cls(rep)


def test_pointwise_option_errors():
    rep = eqnn.rep(eqnn.group("C4"), "regular")
    with pytest.raises(eqnn.ConfigError, match="eSoftplus: 'beta' must be > 0 and finite, found 0"):
        enn.ESoftplus(rep, beta=0.0)
    with pytest.raises(eqnn.ConfigError, match="ePointwise: 'alpha' applies only to function 'elu', not 'relu'"):
        enn.EPointwise(rep, "relu", alpha=2.0)
    assert torch.equal(enn.EPointwise(rep, "elu", alpha=0.5)(x := torch.randn(3, 4)), F.elu(x, alpha=0.5))


@pytest.mark.parametrize("group_name", GROUPS)
@pytest.mark.parametrize("function", ["relu", "sigmoid", "softplus", "squash"])
def test_norm_nonlinearity_is_equivariant_and_equals_the_dense_formula(group_name, function):
    _, reps = sweep(group_name, gated=False)
    torch.manual_seed(0)
    for rep in reps:
        act = enn.ENormNonlinearity(rep, function=function, bias=function != "squash").double()
        if function != "squash":
            with torch.no_grad():
                act.bias.uniform_(-1, 1)
        assert act.out_rep == rep
        x = torch.randn(5, rep.size, dtype=torch.float64)
        with torch.no_grad():
            expected = norm_oracle(rep, function, None if function == "squash" else act.bias, x)
            assert (act(x) - expected).abs().max() < 1e-12
        assert eqnn.check_equivariance(act, rep, rep) < 1e-10
        assert eqnn.check_equivariance(act.float(), rep, rep, dtype=torch.float32) < 1e-5


@pytest.mark.parametrize("group_name", GROUPS)
@pytest.mark.parametrize("function", ["sigmoid", "tanh", "softplus"])
def test_gated_nonlinearity_is_equivariant_and_equals_the_dense_formula(group_name, function):
    _, reps = sweep(group_name, gated=True)
    for rep in reps:
        act = enn.EGatedNonlinearity(rep, function=function)
        x = torch.randn(5, rep.size, dtype=torch.float64)
        assert (act(x) - gated_oracle(rep, function, x)).abs().max() < 1e-12
        out = act.out_rep
        assert out.size == act(x).shape[-1]
        assert sum(k == 0 for k in out.irreps) == sum(k == 0 for k in rep.irreps) - sum(k != 0 for k in rep.irreps)
        assert eqnn.check_equivariance(act, rep, out) < 1e-10
        assert eqnn.check_equivariance(act, rep, out, dtype=torch.float32) < 1e-5


def test_gated_output_feeds_a_linear_layer():
    g = eqnn.group("D4")
    rep = eqnn.rep(g, with_gates(g, "2x regular"))
    act = enn.EGatedNonlinearity(rep)
    model = torch.nn.Sequential(act, enn.ELinear(act.out_rep, eqnn.rep(g, "regular")))
    assert eqnn.check_equivariance(model.double(), rep, eqnn.rep(g, "regular")) < 1e-10


@pytest.mark.parametrize("function,bias", [("relu", 0.0), ("relu", -0.5), ("sigmoid", 0.3), ("squash", None)])
def test_norm_nonlinearity_gradcheck_at_zero_and_elsewhere(function, bias):
    rep = eqnn.rep(eqnn.group("D4"), "regular + standard")
    act = enn.ENormNonlinearity(rep, function=function, bias=bias is not None).double()
    if bias is not None:
        with torch.no_grad():
            act.bias.fill_(bias)
    zero = torch.zeros(2, rep.size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(act, (zero,))
    assert torch.autograd.gradcheck(act, (torch.randn(2, rep.size, dtype=torch.float64, requires_grad=True),))


def test_zero_input_is_finite_for_every_function():
    rep = eqnn.rep(eqnn.group("C4"), "regular + irrep(2)")
    for function in ["relu", "sigmoid", "softplus", "squash"]:
        act = enn.ENormNonlinearity(rep, function=function, bias=function != "squash")
        x = torch.zeros(3, rep.size, requires_grad=True)
        y = act(x)
        assert torch.equal(y, torch.zeros_like(y))
        y.pow(2).sum().backward()
        assert torch.isfinite(x.grad).all()
    g = eqnn.group("C4")
    gated = enn.EGatedNonlinearity(eqnn.rep(g, with_gates(g, "regular")))
    x = torch.zeros(2, gated.in_rep.size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(gated, (x,))


def test_norm_and_gated_errors_and_state():
    g = eqnn.group("D4")
    rep = eqnn.rep(g, "2x regular")
    with pytest.raises(eqnn.ConfigError, match=r"eGatedNonlinearity: in_rep 2x regular \(size 16\) has 10 "
                                               r"non-trivial irrep copies but only 2 trivial copies.*8 more are "
                                               r"needed \(e.g. '2x regular \+ 8x trivial'"):
        enn.EGatedNonlinearity(rep)
    with pytest.raises(eqnn.ConfigError, match="function 'squash' takes no bias"):
        enn.ENormNonlinearity(rep, function="squash")
    with pytest.raises(eqnn.ConfigError, match="did you mean 'sigmoid'"):
        enn.ENormNonlinearity(rep, function="sigmod")
    act = enn.ENormNonlinearity(rep)
    assert [name for name, _ in act.named_parameters()] == ["bias"]
    assert torch.equal(act.bias, torch.zeros(12))
    assert act.options == {"function": "relu", "bias": True}
    assert enn.EGatedNonlinearity(eqnn.rep(g, "2x regular + 8x trivial")).options == {"function": "sigmoid"}
