"""eqnn.models.ECondTransformer from Python: exact equivariance on every element acting on (X, Z), the step as a
number, a scalar or per sample, the YAML example (model(X, k, Z)) equal to the Python class from one state_dict,
symm_learning's child names, the optimiser groups (complete and disjoint; AdamW as symm_learning configures it),
gradients into every parameter, and the errors. The C2/C4/D4/Ico sweeps over pos_encoding and causal masks and the
oracle from the parts are in tests/layers/models_cond_transformer_test.cpp; symm_learning's model itself is the
oracle in tests/python/reference/test_cond_transformer_reference.py."""

import eqnn
import pytest
import torch
from eqnn.models import ECondTransformer


def make(G, pos="additive_relative", causal=True, cond_layers=0, dtype=torch.float64, **kw):
    x, z = eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular + trivial")
    return ECondTransformer(x, z, eqnn.rep(G, "regular + trivial"), 5, 3, 2, 1, 2 * G.order, 0.0, 0.0, causal,
                            cond_layers, pos, dtype=dtype, **kw)


def act(rep, g, t):
    return t @ torch.as_tensor(rep.matrix(g), dtype=t.dtype).T


@pytest.mark.parametrize("spec", ["C4", "D4"])
@pytest.mark.parametrize("pos", ["additive_absolute", "additive_relative", "rope", "none"])
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_equivariant_on_every_element(spec, pos, dtype, tol):
    G = eqnn.group(spec)
    torch.manual_seed(0)
    m = make(G, pos, causal=pos != "none", cond_layers=1 if pos == "rope" else 0, dtype=dtype).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.3)
    X, Z = torch.randn(2, 3, G.order, dtype=dtype), torch.randn(2, 2, 2 * G.order + 1, dtype=dtype)
    k = torch.tensor([4.0, 900.0], dtype=dtype)
    with torch.no_grad():
        y = m(X, k, Z)
        scale = max(1.0, float(y.abs().max()))
        for g in range(G.order):
            err = float((m(act(m.in_rep, g, X), k, act(m.cond_rep, g, Z)) - act(m.out_rep, g, y)).abs().max())
            assert err / scale <= tol, (g, err)


def test_step_forms():
    m = make(eqnn.group("C2")).eval()
    X, Z = torch.randn(3, 4, 2, dtype=torch.float64), torch.randn(3, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        a = m(X, 7, Z)
        assert torch.equal(a, m(X, 7.0, Z))
        assert torch.equal(a, m(X, torch.tensor(7.0, dtype=torch.float64), Z))
        assert torch.equal(a, m(X, torch.full((3,), 7.0, dtype=torch.float64), Z))
        assert torch.equal(a, m(X, torch.tensor([7.0], dtype=torch.float64), Z))
        assert not torch.equal(a, m(X, 8.0, Z))
    with pytest.raises(TypeError, match="opt_step must be a number or a tensor"):
        m(X, "7", Z)


def test_structure_names_and_gradients():
    G = eqnn.group("C4")
    m = make(G, "additive_absolute", cond_layers=1, dtype=torch.float32).train()
    children = [n for n, _ in m.named_children()]
    for name in ("input_emb", "cond_emb", "encoder", "decoder", "layer_norm", "head"):
        assert name in children
    names = [n for n, _ in m.named_parameters()]
    assert "decoder.layers.1.multihead_attn.pos_emb_coefficients" in names
    assert "encoder.layers.0.self_attn.attn.in_proj_weight_coefficients" in names
    X, Z = torch.randn(2, 5, 4), torch.randn(2, 3, 9)
    m(X, torch.rand(2), Z).square().sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    mlp = make(G, "none", causal=False)
    assert {"encoder.0.weight_coefficients", "encoder.2.weight_coefficients"} <= {n for n, _ in mlp.named_parameters()}
    assert m.options["pos_encoding"] == "additive_absolute" and m.options["embedding_dim"] == 8


def test_optimizer_groups_complete_and_disjoint():
    m = make(eqnn.group("C4"), "additive_relative", cond_layers=1)
    decay, no_decay = m.get_optim_groups(weight_decay=0.02)
    assert decay["weight_decay"] == 0.02 and no_decay["weight_decay"] == 0.0
    ids = [id(p) for p in decay["params"]] + [id(p) for p in no_decay["params"]]
    assert len(ids) == len(set(ids)) == len(list(m.parameters()))
    names = {id(p): n for n, p in m.named_parameters()}
    assert {names[id(p)].rsplit(".", 1)[-1] for p in decay["params"]} <= {"weight_coefficients",
                                                                         "in_proj_weight_coefficients"}
    assert "decoder.layers.0.self_attn.rel_bias" in {names[id(p)] for p in no_decay["params"]}
    opt = m.configure_optimizers(learning_rate=3e-4)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["lr"] == 3e-4 and opt.defaults["betas"] == (0.9, 0.95)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-3, 0.0]


def test_yaml_example_is_the_python_class(models_dir):
    model = eqnn.load_model(str(models_dir / "c2_cond_transformer.yaml")).double().eval()
    G = model.input_rep.group
    ours = ECondTransformer(eqnn.rep(G, "2x regular"), eqnn.rep(G, "regular"), None, 4, 2, 2, 1, 8,
                            pos_encoding="additive_relative", causal_attn=True, dtype=torch.float64).eval()
    state = {k[len("layers.0."):]: v for k, v in model.state_dict().items() if k.startswith("layers.0.")}
    record = model.state_dict()["_extra_state"]
    state["_extra_state"] = {t: {k[len("layers.0."):]: v for k, v in record[t].items() if k.startswith("layers.0.")}
                             for t in ("eqnn_bases", "eqnn_effective")}
    ours.load_state_dict(state)
    X, Z, k = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(2, 2, 2, dtype=torch.float64), torch.rand(2)
    with torch.no_grad():
        assert torch.allclose(model(X, k.double(), Z), ours(X, k.double(), Z), rtol=0, atol=1e-12)


def test_errors():
    G = eqnn.group("C4")
    x = eqnn.rep(G, "regular")
    with pytest.raises(eqnn.ConfigError, match=r"'embedding_dim' \(6\) must be a multiple of the group order"):
        ECondTransformer(x, x, None, 4, 2, 1, 1, 6)
    with pytest.raises(eqnn.ConfigError, match="'num_attention_heads' \\(3\\) must divide"):
        ECondTransformer(x, x, None, 4, 2, 1, 3, 8)
    with pytest.raises(eqnn.ConfigError, match="'pos_encoding' must be"):
        ECondTransformer(x, x, None, 4, 2, 1, 1, 8, pos_encoding="learned")
    with pytest.raises(TypeError, match="in_horizon must be an int"):
        ECondTransformer(x, x, None, 4.0, 2, 1, 1, 8)
    with pytest.raises(TypeError, match="cond_rep must be an eqnn.Representation"):
        ECondTransformer(x, "regular", None, 4, 2, 1, 1, 8)
    m = ECondTransformer(x, x, None, 4, 2, 1, 1, 8)
    X = torch.randn(2, 3, 4)
    with pytest.raises(RuntimeError, match=r"the input 'Z' must be \(2, 1..2, 4\), got \(2, 3, 4\)"):
        m(X, 1.0, torch.randn(2, 3, 4))
    with pytest.raises(RuntimeError, match=r"the input 'Z' must be \(2, 1..2, 4\), got \(2, 2, 5\)"):
        m(X, 1.0, torch.randn(2, 2, 5))
    with pytest.raises(RuntimeError, match=r"X must be \(N, Tx, 4\) with 1 <= Tx <= in_horizon = 4"):
        m(torch.randn(2, 5, 4), 1.0, torch.randn(2, 2, 4))
    with pytest.raises(RuntimeError, match=r"the input 'opt_step' must be a scalar or \(2\)"):
        m(X, torch.rand(3), torch.randn(2, 2, 4))
