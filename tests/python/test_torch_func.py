"""eqnn modules under torch's function transforms, as stock modules: functional_call with plain tensors (the
idiom of per-sample gradients, ensembles and meta-learning), vmap(grad(...)) against a loop of autograd.grad,
stack_module_state ensembles against a loop of modules, vmap over inputs, torch.func.grad, torch.compile,
torch.jit.trace and autocast. Each oracle is the module called the ordinary way."""

import copy

import eqnn
import pytest
import torch
from eqnn import nn as enn
from torch import func


@pytest.fixture(scope="module")
def D4():
    return eqnn.group("D4")


def modules(G):
    """(name, module, input width): a layer, a block through the registry, and a YAML-built model."""
    r, h = eqnn.rep(G, "regular + trivial"), eqnn.rep(G, "2x regular")
    torch.manual_seed(0)
    lin = enn.ELinear(r, h, dtype=torch.float64)
    net = torch.nn.Sequential(lin, enn.EReLU(h), enn.ELinear(h, r, dtype=torch.float64))
    return [("ELinear", lin, r.size), ("Sequential", net, r.size)]


def model(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "eqnn: 1\ngroup: D4\nreps: {h: 2x regular}\ninput: standard\nlayers:\n"
        "  - {type: eLinear, out_rep: h}\n  - {type: eReLU}\n  - {type: eLinear, out_rep: standard}\n"
    )
    torch.manual_seed(1)
    return eqnn.load_model(path).double()


def test_functional_call_runs_the_cpp_module_with_the_given_plain_tensors(D4, tmp_path):
    for name, m, width in modules(D4) + [("Model", model(tmp_path), 2)]:
        x = torch.randn(5, width, dtype=torch.float64)
        params = {k: v.detach().clone() for k, v in m.named_parameters()}
        assert all(type(v) is torch.Tensor for v in params.values())
        # The same values as plain tensors: the same output.
        assert torch.equal(func.functional_call(m, params, (x,)), m(x)), name
        # Other values: the output of a module that holds them, and the module itself is left as it was.
        other = copy.deepcopy(m)
        with torch.no_grad():
            for p in other.parameters():
                p.add_(0.5)
        before = m(x)
        shifted = {k: v + 0.5 for k, v in params.items()}
        assert torch.allclose(func.functional_call(m, shifted, (x,)), other(x), rtol=0, atol=1e-12), name
        assert torch.equal(m(x), before), name
        # Gradients reach the plain tensors (the meta-learning idiom).
        leaves = {k: v.clone().requires_grad_() for k, v in params.items()}
        func.functional_call(m, leaves, (x,)).square().sum().backward()
        assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in leaves.values()), name


def test_per_sample_gradients_by_vmap_of_grad_match_a_loop(D4, tmp_path):
    for name, m, width in modules(D4) + [("Model", model(tmp_path), 2)]:
        params = {k: v.detach() for k, v in m.named_parameters()}
        x = torch.randn(6, width, dtype=torch.float64)
        target = torch.randn_like(m(x)).detach()

        def loss(p, xi, ti, m=m):
            return (func.functional_call(m, p, (xi.unsqueeze(0),)) - ti).square().sum()

        batched = func.vmap(func.grad(loss), in_dims=(None, 0, 0))(params, x, target)
        for i in range(6):
            out = (m(x[i : i + 1]) - target[i]).square().sum()
            grads = torch.autograd.grad(out, list(m.parameters()))
            for (k, _), g in zip(m.named_parameters(), grads):
                assert torch.allclose(batched[k][i], g, rtol=1e-10, atol=1e-12), (name, k, i)


@pytest.mark.parametrize("mode", ["train", "eval_no_grad"])
def test_an_ensemble_by_stack_module_state_and_vmap_matches_its_members(D4, mode):
    r, h = eqnn.rep(D4, "regular"), eqnn.rep(D4, "2x regular")
    torch.manual_seed(2)
    members = [enn.ELinear(r, h, dtype=torch.float64) for _ in range(3)]
    for m in members:
        m.train(mode == "train")
    params, buffers = func.stack_module_state(members)
    base = copy.deepcopy(members[0]).to("meta")
    x = torch.randn(4, r.size, dtype=torch.float64)

    def run(p, b, xi):
        return func.functional_call(base, (p, b), (xi,))

    with torch.set_grad_enabled(mode == "train"):
        ys = func.vmap(run, in_dims=(0, 0, None))(params, buffers, x)
        for i, m in enumerate(members):
            assert torch.allclose(ys[i], m(x), rtol=0, atol=1e-12), i
    # The eval-mode caches stay right after the ensemble ran through the members' template.
    members[0].eval()
    with torch.no_grad():
        assert torch.equal(members[0](x), members[0](x))


def test_vmap_over_inputs_and_func_grad_of_the_input(D4):
    r = eqnn.rep(D4, "2x regular")
    torch.manual_seed(3)
    attn = enn.EMultiheadAttention(r, 2, batch_first=True, dtype=torch.float64).eval()
    lin = enn.ELinear(r, r, dtype=torch.float64)
    x = torch.randn(3, 5, r.size, dtype=torch.float64)
    assert torch.allclose(func.vmap(lin)(x), lin(x), rtol=0, atol=1e-12)
    per_item = func.vmap(lambda xi: attn(xi[None], xi[None], xi[None])[0][0])(x)
    assert torch.allclose(per_item, attn(x, x, x)[0], rtol=0, atol=1e-12)
    g = func.grad(lambda xi: lin(xi).square().sum())(x)
    xr = x.clone().requires_grad_()
    lin(xr).square().sum().backward()
    assert torch.allclose(g, xr.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace")
def test_torch_compile_and_jit_trace_give_the_eager_outputs(D4):
    r = eqnn.rep(D4, "regular + trivial")
    torch.manual_seed(4)
    net = torch.nn.Sequential(enn.ELinear(r, r, dtype=torch.float64), enn.EReLU(r)).eval()
    x = torch.randn(4, r.size, dtype=torch.float64)
    with torch.no_grad():
        eager = net(x)
        compiled = torch.compile(net, backend="eager")
        assert torch.equal(compiled(x), eager)
        traced = torch.jit.trace(net, x, check_trace=False)
        assert torch.equal(traced(x), eager)
    # The traced graph keeps computing from the module's tensors: training the module changes it.
    with torch.no_grad():
        net[0].weight_coefficients.mul_(2)
    with torch.no_grad():
        assert torch.allclose(compiled(x), net(x), rtol=0, atol=1e-12)


def test_autocast_runs_in_the_lower_precision_and_keeps_equivariance(D4):
    r = eqnn.rep(D4, "2x regular")
    torch.manual_seed(5)
    lin = enn.ELinear(r, r)
    x = torch.randn(6, r.size)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = lin(x)
        gy = lin(x @ r.matrix(3).float().T)
    assert y.dtype == torch.bfloat16
    assert torch.allclose(gy.float(), y.float() @ r.matrix(3).float().T, atol=0.05)
    assert torch.allclose(y.float(), lin(x), atol=0.05)
