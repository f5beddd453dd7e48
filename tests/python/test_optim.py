"""eqnn.optim.parameter_groups: which parameters get weight decay, on every eqnn module kind, composite models,
model files and torch/eqnn mixtures; and that AdamW's decoupled decay of the coefficients scales the effective
weights by exactly (1 - lr * weight_decay)."""

import eqnn
import pytest
import torch
from conftest import ROOT

G = eqnn.group("C4")
X = eqnn.rep(G, "2x regular")
LR, WD = 0.1, 0.25


def split(model, weight_decay=WD):
    """(decay names, no-decay names) of model, checking the groups' shape and that they partition it."""
    groups = eqnn.optim.parameter_groups(model, weight_decay=weight_decay)
    assert [g["weight_decay"] for g in groups] == [weight_decay, 0.0]
    assert set(groups[0]) == set(groups[1]) == {"params", "weight_decay"}
    names = {id(p): n for n, p in model.named_parameters()}
    decay = [names[id(p)] for p in groups[0]["params"]]
    no_decay = [names[id(p)] for p in groups[1]["params"]]
    # disjoint and complete: every named parameter exactly once
    assert sorted(decay + no_decay) == sorted(names.values())
    assert len(set(decay + no_decay)) == len(decay) + len(no_decay)
    return decay, no_decay


def encoder_layer(prefix, decoder=False):
    attn = ["self_attn"] + (["multihead_attn"] if decoder else [])
    decay = [f"{prefix}{a}.{w}" for a in attn for w in ("in_proj_weight_coefficients", "out_proj.weight_coefficients")]
    decay += [f"{prefix}linear1.weight_coefficients", f"{prefix}linear2.weight_coefficients"]
    return decay


CASES = {
    "eLinear": (lambda: eqnn.nn.ELinear(X, X), ["weight_coefficients"]),
    "eConv1d": (lambda: eqnn.nn.EConv1d(X, X, 3), ["weight_coefficients"]),
    "eConvTranspose1d": (lambda: eqnn.nn.EConvTranspose1d(X, X, 3), ["weight_coefficients"]),
    "eMultiheadAttention": (lambda: eqnn.nn.EMultiheadAttention(X, 2),
                            ["in_proj_weight_coefficients", "out_proj.weight_coefficients"]),
    "eAdditivePosMultiheadAttention": (
        lambda: eqnn.nn.EAdditivePosMultiheadAttention(X, 2, max_len=6),
        ["attn.in_proj_weight_coefficients", "attn.out_proj.weight_coefficients"]),
    "eAdditiveRelMultiheadAttention": (
        lambda: eqnn.nn.EAdditiveRelMultiheadAttention(X, 2, max_distance=3),
        ["attn.in_proj_weight_coefficients", "attn.out_proj.weight_coefficients"]),
    "eRoPEMultiheadAttention": (
        lambda: eqnn.nn.ERoPEMultiheadAttention(X, 1),
        ["attn.in_proj_weight_coefficients", "attn.out_proj.weight_coefficients"]),
    "eLayerNorm": (lambda: eqnn.nn.ELayerNorm(X), []),
    "eRMSNorm": (lambda: eqnn.nn.ERMSNorm(X), []),
    "eBatchNorm1d": (lambda: eqnn.nn.EBatchNorm1d(X), []),
    "eAffine": (lambda: eqnn.nn.EAffine(X), []),
    "eInvariantBias": (lambda: eqnn.nn.EInvariantBias(X), []),
    "eNormNonlinearity": (lambda: eqnn.nn.ENormNonlinearity(X), []),
    "eTransformerEncoderLayer": (
        lambda: eqnn.nn.ETransformerEncoderLayer(X, 2, dim_feedforward=16), encoder_layer("")),
    "eTransformerEncoder": (
        lambda: eqnn.nn.ETransformerEncoder(eqnn.nn.ETransformerEncoderLayer(X, 2, dim_feedforward=16), 2,
                                            norm=eqnn.nn.ELayerNorm(X)),
        encoder_layer("layers.0.") + encoder_layer("layers.1.")),
    "eTransformerDecoder": (
        lambda: eqnn.nn.ETransformerDecoder(eqnn.nn.ETransformerDecoderLayer(X, 2, dim_feedforward=16), 2),
        encoder_layer("layers.0.", True) + encoder_layer("layers.1.", True)),
    "EMLP": (lambda: eqnn.models.EMLP(X, X, [16, 16]),
             ["net.0.weight_coefficients", "net.2.weight_coefficients", "net.4.weight_coefficients"]),
    "IMLP": (lambda: eqnn.models.IMLP(X, 3, [16]),
             ["net.0.weight_coefficients", "net.2.weight_coefficients", "net.5.weight"]),
    "ETimeCNNEncoder": (
        lambda: eqnn.models.ETimeCNNEncoder(X, X, [16], 8, mlp_hidden=[16], batch_norm=True),
        ["feature_layers.0.weight_coefficients", "head.net.0.weight_coefficients", "head.net.2.weight_coefficients"]),
    "ETimeCNNEncoder, invariant head": (
        lambda: eqnn.models.ETimeCNNEncoder(X, eqnn.rep(G, "2x trivial"), [16], 8, mlp_hidden=[16]),
        ["feature_layers.0.weight_coefficients", "head.net.0.weight_coefficients", "head.net.2.weight_coefficients",
         "head.net.5.weight"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_groups_of_each_module(case):
    make, expected_decay = CASES[case]
    model = make()
    decay, no_decay = split(model)
    assert sorted(decay) == sorted(expected_decay)
    # everything else is a bias, a norm or affine scale, a position table or rel_bias
    owners = dict(model._eqnn_handle.parameter_owners())
    for name in no_decay:
        leaf = name.rsplit(".", 1)[-1]
        assert "bias" in leaf or leaf in ("weight", "scale", "pos_emb_coefficients"), name
        if leaf == "weight":
            assert owners[name] in ("eLayerNorm", "eRMSNorm", "eBatchNorm1d"), name


def test_model_file_with_stock_layers():
    model = eqnn.load_model(str(ROOT / "tests" / "model" / "export_mix.yaml"))
    decay, no_decay = split(model)
    assert decay == [
        "layers.0.weight_coefficients",
        "layers.2.block.0.in_proj_weight_coefficients",
        "layers.2.block.0.out_proj.weight_coefficients",
        "layers.2.block.1.weight_coefficients",
        "layers.6.weight",
        "layers.7.self_attn.in_proj_weight",
        "layers.7.self_attn.out_proj.weight",
        "layers.7.linear1.weight",
        "layers.7.linear2.weight",
        "layers.9.in_proj_weight",
        "layers.9.out_proj.weight",
        "layers.12.weight",
    ]
    assert "layers.3.weight" in no_decay and "layers.8.weight" in no_decay and "layers.7.norm1.weight" in no_decay


def test_sequential_of_torch_and_eqnn_modules():
    model = torch.nn.Sequential(
        eqnn.nn.ELinear(X, X),
        eqnn.nn.ELayerNorm(X),
        torch.nn.Linear(8, 8),
        torch.nn.LayerNorm(8),
        torch.nn.Conv1d(8, 8, 3),
        torch.nn.BatchNorm1d(8),
        torch.nn.Embedding(5, 8),
        torch.nn.MultiheadAttention(8, 2),
        eqnn.models.IMLP(X, 2, [8]),
    )
    decay, no_decay = split(model)
    assert decay == ["0.weight_coefficients", "2.weight", "4.weight", "7.in_proj_weight", "7.out_proj.weight",
                     "8.net.0.weight_coefficients", "8.net.2.weight_coefficients", "8.net.5.weight"]
    assert no_decay == ["0.bias_coefficients", "1.weight", "1.bias_coefficients", "2.bias", "3.weight", "3.bias",
                        "4.bias", "5.weight", "5.bias", "6.weight", "7.in_proj_bias", "7.out_proj.bias",
                        "8.net.0.bias_coefficients", "8.net.2.bias_coefficients", "8.net.5.bias"]


def test_shared_and_frozen_parameters_appear_once():
    shared = eqnn.nn.ELinear(X, X)
    model = torch.nn.Sequential(shared, eqnn.nn.EReLU(X), shared)
    model[0].bias_coefficients.requires_grad_(False)
    decay, no_decay = split(model)
    assert decay == ["0.weight_coefficients"] and no_decay == ["0.bias_coefficients"]


def test_unknown_owner_raises_naming_the_parameter():
    class Scaled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.ones(8))

    with pytest.raises(ValueError, match=r"parameter '1.gain' is owned by Scaled, a module kind with no"):
        eqnn.optim.parameter_groups(torch.nn.Sequential(eqnn.nn.ELinear(X, X), Scaled()))
    with pytest.raises(ValueError, match=r"parameter '0.weight' is owned by PReLU"):
        eqnn.optim.parameter_groups(torch.nn.Sequential(torch.nn.PReLU()))


def test_python_parameter_on_an_eqnn_module_raises():
    layer = eqnn.nn.ELinear(X, X)
    layer.register_parameter("extra", torch.nn.Parameter(torch.zeros(3)))
    with pytest.raises(ValueError, match=r"parameter 'extra' is not a parameter of the eqnn C\+\+ module"):
        eqnn.optim.parameter_groups(layer)


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a torch.nn.Module"):
        eqnn.optim.parameter_groups([torch.nn.Linear(2, 2)])
    with pytest.raises(TypeError, match="weight_decay must be a number"):
        eqnn.optim.parameter_groups(torch.nn.Linear(2, 2), weight_decay="0.1")


def test_parameter_owners_names_match_named_parameters():
    model = eqnn.nn.ETransformerDecoder(eqnn.nn.ETransformerDecoderLayer(X, 2, dim_feedforward=16), 1)
    owners = model._eqnn_handle.parameter_owners()
    assert [n for n, _ in owners] == [n for n, _ in model.named_parameters()]
    assert dict(owners)["layers.0.self_attn.in_proj_weight_coefficients"] == "eMultiheadAttention"
    assert dict(owners)["layers.0.linear1.weight_coefficients"] == "eLinear"
    assert dict(owners)["layers.0.norm1.weight"] == "eLayerNorm"


def adamw_zero_grad_step(model):
    optimizer = torch.optim.AdamW(eqnn.optim.parameter_groups(model, weight_decay=WD), lr=LR)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()


def test_adamw_step_scales_the_effective_weights():
    model = eqnn.load_model(str(ROOT / "tests" / "model" / "export_mix.yaml")).to(torch.float64)
    with torch.no_grad():  # non-zero biases and norm parameters, so "unchanged" is a real check
        for p in model.parameters():
            p.add_(torch.rand_like(p) + 0.5)
    before = {k: v.clone() for k, v in model.effective_parameters().items()}
    adamw_zero_grad_step(model)
    after = model.effective_parameters()
    decayed = {"layers.0.weight", "layers.2.block.0.in_proj_weight", "layers.2.block.0.out_proj.weight",
               "layers.2.block.1.weight", "layers.6.weight", "layers.7.self_attn.in_proj_weight",
               "layers.7.self_attn.out_proj.weight", "layers.7.linear1.weight", "layers.7.linear2.weight",
               "layers.9.in_proj_weight", "layers.9.out_proj.weight", "layers.12.weight"}
    assert decayed < set(before)
    for name, w in before.items():
        factor = 1 - LR * WD if name in decayed else 1.0
        assert torch.allclose(after[name], factor * w, rtol=1e-13, atol=0), name
        if name not in decayed:
            assert torch.equal(after[name], w), name


def test_adamw_step_keeps_position_tables():
    attn = eqnn.nn.EAdditivePosMultiheadAttention(X, 2, max_len=6, dtype=torch.float64)
    with torch.no_grad():
        for p in attn.parameters():
            p.add_(torch.rand_like(p) + 0.5)
    before = {k: v.clone() for k, v in attn._eqnn_handle.positional_parameters()}
    adamw_zero_grad_step(attn)
    after = dict(attn._eqnn_handle.positional_parameters())
    for name, w in before.items():
        if name in ("in_proj_weight", "out_proj.weight"):
            assert torch.allclose(after[name], (1 - LR * WD) * w, rtol=1e-13, atol=0), name
        else:
            assert torch.equal(after[name], w), name
