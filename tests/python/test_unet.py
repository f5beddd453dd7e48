"""eqnn.models.EConditionalUnet1D from Python: the forward signature (sample, timestep, local_cond,
global_cond) and its errors, exact equivariance on every element of C5 acting on (x, local_cond, global_cond)
with the step invariant, the same function in train and eval mode, a state_dict round trip, gradients into
every parameter, and the YAML example (examples/models/c2_unet.yaml) called as model(x, t, g) equal to the
Python class with the same state. Equivariance on C2, C5, D4 and Ico, the block oracle and the lengths are in
tests/layers/models_unet_test.cpp; symm_learning's model is the oracle in
tests/python/reference/test_unet_reference.py. The residual block on its own (EConditionalResidualBlock1D):
equivariance acting on (x, cond), the YAML block called as model(x, cond) equal to the class, its errors."""

import eqnn
import pytest
import torch
from eqnn.models import EConditionalResidualBlock1D, EConditionalUnet1D


def rekey(state: dict, old: str, new: str) -> dict:
    out = {new + k[len(old):]: v for k, v in state.items() if k.startswith(old) and k != "_extra_state"}
    record = state["_extra_state"]
    out["_extra_state"] = {table: {new + k[len(old):]: v for k, v in record[table].items() if k.startswith(old)}
                           for table in ("eqnn_bases", "eqnn_effective")}
    return out


def randomise(m: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)
    return m


def make(G, dtype=torch.float64, **kw):
    args = dict(diffusion_step_embed_dim=8, down_dims=[G.order, 2 * G.order])
    args.update(kw)
    return EConditionalUnet1D(eqnn.rep(G, "regular"), eqnn.rep(G, "regular + trivial"), eqnn.rep(G, "2x regular"),
                              dtype=dtype, **args)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_equivariant_on_every_element(dtype, tol):
    G = eqnn.group("C5")
    m = randomise(make(G, dtype)).eval()
    reps = [eqnn.rep(G, s).matrices().to(dtype) for s in ("regular", "regular + trivial", "2x regular")]
    x, loc, c = torch.randn(3, 6, 5, dtype=dtype), torch.randn(3, 6, 6, dtype=dtype), torch.randn(3, 10, dtype=dtype)
    t = torch.tensor([1.0, 20.0, 55.5], dtype=dtype)
    with torch.no_grad():
        y = m(x, t, loc, c)
        scale = y.abs().max()
        for A, B, C in zip(*reps):
            assert ((m(x @ A.T, t, loc @ B.T, c @ C.T) - y @ A.T).abs().max() / scale) <= tol


def test_forward_signature_and_errors():
    G = eqnn.group("C2")
    m = make(G)
    x = torch.randn(2, 4, 2, dtype=torch.float64)
    loc, c = torch.randn(2, 4, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    assert m(x, 3, loc, c).shape == (2, 4, 2)
    assert torch.equal(m(x, 3, loc, c), m(sample=x, timestep=torch.tensor(3), local_cond=loc, global_cond=c))
    assert torch.allclose(m(x, torch.tensor([3.0, 3.0], dtype=torch.float64), loc, c), m(x, 3.0, loc, c), rtol=0,
                          atol=1e-14)
    assert [e[0] for e in m.extra_inputs] == ["timestep", "local_cond", "global_cond"]
    with pytest.raises(RuntimeError, match="the input 'global_cond' is required"):
        m(x, 3, loc)
    with pytest.raises(RuntimeError, match="multiple of 2\\^\\(levels - 1\\) = 2"):
        m(torch.randn(2, 5, 2, dtype=torch.float64), 3, torch.randn(2, 5, 3, dtype=torch.float64), c)
    g_only = EConditionalUnet1D(eqnn.rep(G, "regular"), None, eqnn.rep(G, "regular"), diffusion_step_embed_dim=4,
                                down_dims=[2], dtype=torch.float64)
    with pytest.raises(ValueError, match="got local_cond, but the model has no local_cond_rep"):
        g_only(x, 1, loc, c[:, :2])
    with pytest.raises(ValueError, match="eConditionalUnet1D: .diffusion_step_embed_dim. must be even"):
        make(G, diffusion_step_embed_dim=7)
    with pytest.raises(ValueError, match="cond_predict_scale = false is not supported"):
        make(G, cond_predict_scale=False)
    with pytest.raises(ValueError, match="'kernel_size' must be odd"):
        make(G, kernel_size=2)


def test_train_eval_state_dict_and_gradients():
    G = eqnn.group("C2")
    a = randomise(make(G, activation=torch.nn.Mish()))
    assert a.options["activation"] == "mish"
    x, loc, c = torch.randn(2, 8, 2, dtype=torch.float64), torch.randn(2, 8, 3, dtype=torch.float64), torch.randn(
        2, 4, dtype=torch.float64)
    a.train()
    y_train = a(x, 5, loc, c)
    y_train.square().sum().backward()
    for name, p in a.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    a.eval()
    with torch.no_grad():
        assert torch.allclose(a(x, 5, loc, c), y_train.detach(), rtol=0, atol=1e-12)
        b = make(G, activation="mish")
        b.load_state_dict(a.state_dict())
        assert torch.equal(b.eval()(x, 5, loc, c), a(x, 5, loc, c))
    names = [n for n, _ in a.named_parameters()]
    for want in ("diffusion_step_encoder.1.weight", "local_cond_encoder.0.cond_encoder.1.weight",
                 "down_modules.0.2.weight_coefficients", "up_modules.0.2.weight_coefficients",
                 "final_conv.1.weight", "final_conv.3.weight_coefficients"):
        assert want in names


def test_yaml_model_called_with_its_extra_inputs_equals_the_class(models_dir):
    model = eqnn.load_model(str(models_dir / "c2_unet.yaml")).double()
    G = model.group
    assert [e[0] for e in model.extra_inputs] == ["timestep", "global_cond"]
    ours = EConditionalUnet1D(eqnn.rep(G, "regular"), None, eqnn.rep(G, "2x regular"), diffusion_step_embed_dim=16,
                              down_dims=[8, 16], dtype=torch.float64)
    randomise(model, 3)
    ours.load_state_dict(rekey(model.state_dict(), "layers.0.", ""))
    x, g = torch.randn(4, 8, 2, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 10.0, 99.0], dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(model(x, t, g), ours(x, t, global_cond=g))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("group, reps", [("D4", ("regular", "2x regular", "permutation(vertices) + trivial")),
                                         ("C5", ("regular", "regular", "2x regular"))])
def test_residual_block_is_equivariant_on_every_element(group, reps, dtype, tol):
    G = eqnn.group(group)
    r_in, r_out, r_cond = (eqnn.rep(G, s) for s in reps)
    block = randomise(EConditionalResidualBlock1D(r_in, r_out, r_cond, dtype=dtype)).eval()
    x, c = torch.randn(3, 6, r_in.size, dtype=dtype), torch.randn(3, r_cond.size, dtype=dtype)
    with torch.no_grad():
        y = block(x, c)
        assert y.shape == (3, 6, r_out.size)
        scale = y.abs().max()
        for A, B, C in zip(r_in.matrices().to(dtype), r_out.matrices().to(dtype), r_cond.matrices().to(dtype)):
            assert ((block(x @ A.T, c @ C.T) - y @ B.T).abs().max() / scale) <= tol
        # Not a trivial map: the conditioning changes the output.
        assert (block(x, c + 1) - y).abs().max() > 1e-3 * scale


def test_residual_block_from_yaml_equals_the_class_and_errors(tmp_path):
    path = tmp_path / "block.yaml"
    path.write_text("eqnn: 1\ngroup: C4\nreps: {x: regular, h: 2x regular, c: regular}\ninput: x\noutput: h\n"
                    "layers:\n  - {type: eConditionalResidualBlock1D, out_rep: h, cond_rep: c, kernel_size: 5}\n")
    model = eqnn.load_model(str(path)).double()
    assert [e[0] for e in model.extra_inputs] == ["cond"]
    G = model.group
    ours = EConditionalResidualBlock1D(eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular"), eqnn.rep(G, "regular"),
                                       kernel_size=5, dtype=torch.float64)
    randomise(model, 4)
    ours.load_state_dict(rekey(model.state_dict(), "layers.0.", ""))
    x, c = torch.randn(2, 7, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(model(x, c), ours(x, c))
    with pytest.raises(RuntimeError, match=r"the input 'cond' must be \(2, 4\), got \(2, 3\)"):
        ours(x, torch.randn(2, 3, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="also takes cond"):
        model(x)
    with pytest.raises(TypeError, match="cond_rep must be an eqnn.Representation"):
        EConditionalResidualBlock1D(eqnn.rep(G, "regular"), eqnn.rep(G, "regular"), "regular")


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_residual_conv_always_keeps_a_learned_convolution_between_equal_reps(dtype, tol):
    """residual_conv="always" (symm_learning's learned residual convolution between reps with the same matrices):
    the block from a rep to itself holds residual_conv, the U-Net's blocks that change representation hold it
    (down_dims[0] = the sample's size, so the first res1 maps regular to regular), res2 and mid do not; both are
    equivariant on every element of C5; the default stays "auto"."""
    G = eqnn.group("C5")
    r, c_rep = eqnn.rep(G, "regular"), eqnn.rep(G, "regular + trivial")
    auto = EConditionalResidualBlock1D(r, r, c_rep, dtype=dtype)
    assert auto.options["residual_conv"] == "auto"
    assert not any(k.startswith("residual_conv.") for k in auto.state_dict())
    block = randomise(EConditionalResidualBlock1D(r, r, c_rep, residual_conv="always", dtype=dtype))
    assert block.options["residual_conv"] == "always"
    assert "residual_conv.weight_coefficients" in block.state_dict()
    x, c = torch.randn(3, 6, 5, dtype=dtype), torch.randn(3, 6, dtype=dtype)
    with torch.no_grad():
        y = block(x, c)
        for A, C in zip(r.matrices().to(dtype), c_rep.matrices().to(dtype)):
            assert ((block(x @ A.T, c @ C.T) - y @ A.T).abs().max() / y.abs().max()) <= tol
        # The convolution is used: zeroing it changes the output by x (the residual is then 0, not x).
        auto.load_state_dict({k: v for k, v in block.state_dict().items() if not k.startswith("residual_conv.")},
                             strict=False)
        params = dict(block.named_parameters())
        for key in ("residual_conv.weight_coefficients", "residual_conv.bias_coefficients"):
            params[key].zero_()
        assert torch.allclose(block(x, c) + x, auto(x, c), rtol=0, atol=tol * 10)

    m = randomise(make(G, dtype, residual_conv="always")).eval()
    assert m.options["residual_conv"] == "always" and make(G).options["residual_conv"] == "auto"
    keys = m.state_dict().keys()
    for prefix in ("local_cond_encoder.0.", "local_cond_encoder.1.", "down_modules.0.0.", "down_modules.1.0.",
                   "up_modules.0.0."):
        assert prefix + "residual_conv.weight_coefficients" in keys, prefix
    for prefix in ("down_modules.0.1.", "down_modules.1.1.", "mid_modules.0.", "mid_modules.1.", "up_modules.0.1."):
        assert prefix + "residual_conv.weight_coefficients" not in keys, prefix
    assert "down_modules.0.0.residual_conv.weight_coefficients" not in make(G).state_dict()
    reps = [eqnn.rep(G, s).matrices().to(dtype) for s in ("regular", "regular + trivial", "2x regular")]
    x, loc, g = torch.randn(3, 6, 5, dtype=dtype), torch.randn(3, 6, 6, dtype=dtype), torch.randn(3, 10, dtype=dtype)
    t = torch.tensor([1.0, 20.0, 55.5], dtype=dtype)
    with torch.no_grad():
        y = m(x, t, loc, g)
        for A, B, C in zip(*reps):
            assert ((m(x @ A.T, t, loc @ B.T, g @ C.T) - y @ A.T).abs().max() / y.abs().max()) <= tol
    with pytest.raises(ValueError, match="eConditionalUnet1D: 'residual_conv' must be 'auto'"):
        make(G, residual_conv="never")
    with pytest.raises(ValueError, match="eConditionalResidualBlock1D: 'residual_conv' must be 'auto'"):
        EConditionalResidualBlock1D(r, r, c_rep, residual_conv=True)
