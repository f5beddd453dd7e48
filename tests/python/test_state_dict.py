"""state_dict() carries the basis fingerprint and the effective weight of every constrained parameter, and
load_state_dict decides as C++ checkpoint loading does (one implementation, fit_basis): the same basis loads
the coefficients, another basis re-projects the saved weight when that is exact, and anything else is refused
naming the parameter, before any tensor changes (the D4-by-reversed-generators case of
tests/model/checkpoint_test.cpp, TheSameGroupByGeneratorsInTheOtherOrderIsRefusedNamingTheLayer)."""

import io

import eqnn
import pytest
import torch
from eqnn import nn as enn

ROTATION, REFLECTION = [[0, -1], [1, 0]], [[1, 0], [0, -1]]


def d4_by_generators(rotation_first: bool) -> str:
    """The model of checkpoint_test.cpp: the same D4, its elements (hence its regular rep) numbered
    differently depending on which generator comes first."""
    gens = [ROTATION, REFLECTION] if rotation_first else [REFLECTION, ROTATION]
    return (
        "eqnn: 1\n"
        f"group: {{type: FiniteGroup, name: D4, generators: {gens}}}\n"
        "reps: {h: 2x regular}\n"
        "input: standard\n"
        "layers:\n"
        "  - {type: eLinear, out_rep: h}\n"
        "  - {type: eReLU}\n"
        "  - {type: eLinear, out_rep: standard}\n"
    )


def load(tmp_path, text: str, name: str, seed: int):
    path = tmp_path / name
    path.write_text(text)
    torch.manual_seed(seed)
    return eqnn.load_model(path)


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items() if isinstance(v, torch.Tensor)}


def test_state_dict_records_the_basis_and_effective_weight_of_each_constrained_parameter():
    G = eqnn.group("C8")
    r = eqnn.rep(G, "2x regular")
    lin = enn.ELinear(r, r)
    sd = lin.state_dict()
    assert set(sd) == {"weight_coefficients", "bias_coefficients", "_extra_state"}
    extra = sd["_extra_state"]
    assert set(extra["eqnn_bases"]) == {"weight_coefficients", "bias_coefficients"}
    assert extra["eqnn_bases"]["weight_coefficients"].startswith("CommutingConstraint/orbit dim=")
    eff = lin.effective_parameters()
    assert torch.allclose(extra["eqnn_effective"]["weight_coefficients"], eff["weight"])
    # Independent builds of the same module: the same fingerprints.
    assert enn.ELinear(r, r).state_dict()["_extra_state"]["eqnn_bases"] == extra["eqnn_bases"]
    # torch.save / torch.load(weights_only=True) round trip, into a fresh module.
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    fresh = enn.ELinear(r, r)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    x = torch.randn(3, r.size)
    assert torch.equal(fresh(x), lin(x))


def test_the_same_group_by_generators_in_the_other_order_is_refused_naming_the_parameter(tmp_path):
    trained = load(tmp_path, d4_by_generators(True), "rf.yaml", 1)
    other = load(tmp_path, d4_by_generators(False), "fr.yaml", 2)
    assert trained.group != other.group  # same name and order, other numbering: other content
    sd = trained.state_dict()
    before = snapshot(other)
    x = torch.randn(5, 2)
    with torch.no_grad():
        y_before = other(x)
    with pytest.raises(eqnn.Error) as info:
        other.load_state_dict(sd)
    msg = str(info.value)
    assert "Model.load_state_dict: 'layers.0.weight_coefficients' was saved in another basis" in msg
    assert "is not equivariant for this module: re-projecting it leaves a relative error of" in msg
    assert "loading would change its function" in msg
    assert isinstance(info.value, RuntimeError)
    # Refused before anything was copied: the module is unchanged.
    after = snapshot(other)
    assert all(torch.equal(after[k], before[k]) for k in before)
    with torch.no_grad():
        assert torch.equal(other(x), y_before)
    # strict=False refuses it too: the coefficients come with a record that says they mean other weights.
    with pytest.raises(eqnn.Error, match="was saved in another basis"):
        other.load_state_dict(sd, strict=False)
    # The model the state_dict was written for loads it, with the same function.
    same = load(tmp_path, d4_by_generators(True), "rf-again.yaml", 3)
    same.load_state_dict(sd)
    with torch.no_grad():
        assert torch.equal(same(x), trained(x))


def test_the_same_layer_refuses_a_state_dict_from_the_reversed_group():
    ga = eqnn.group({"type": "FiniteGroup", "name": "D4", "generators": [ROTATION, REFLECTION]})
    gb = eqnn.group({"type": "FiniteGroup", "name": "D4", "generators": [REFLECTION, ROTATION]})
    a = enn.ELinear(eqnn.rep(ga, "standard"), eqnn.rep(ga, "2x regular"))
    b = enn.ELinear(eqnn.rep(gb, "standard"), eqnn.rep(gb, "2x regular"))
    with pytest.raises(eqnn.Error, match=r"^ELinear.load_state_dict: 'weight_coefficients' was saved in another"):
        b.load_state_dict(a.state_dict())
    # Nested in a stock container, the message says where.
    outer = torch.nn.Sequential(torch.nn.Identity(), b)
    with pytest.raises(eqnn.Error, match=r"^ELinear.load_state_dict \('1'\): 'weight_coefficients'"):
        outer.load_state_dict(torch.nn.Sequential(torch.nn.Identity(), a).state_dict())


def test_weights_saved_in_another_basis_are_reprojected_exactly(tmp_path):
    # As if saved by a build whose numerically derived bases differ: every fingerprint differs, every
    # saved weight lies in this model's Hom spaces, so it loads re-projected with the same function.
    a = load(tmp_path, d4_by_generators(True), "a.yaml", 1)
    b = load(tmp_path, d4_by_generators(True), "b.yaml", 2)
    sd = a.state_dict()
    bases = sd["_extra_state"]["eqnn_bases"]
    assert len(bases) == 3  # weight and bias of layers.0; layers.2 has no invariant bias (standard out)
    for name in bases:
        bases[name] = "another build " + bases[name]
        sd[name] = torch.randn_like(sd[name])  # meaningless in this basis: must not be used
    b.load_state_dict(sd)
    x = torch.randn(7, 2)
    with torch.no_grad():
        assert torch.allclose(b(x), a(x), rtol=1e-5, atol=1e-6)


def test_damaged_or_missing_basis_records(tmp_path):
    G = eqnn.group("C8")
    r = eqnn.rep(G, "2x regular")
    a, b = enn.ELinear(r, r), enn.ELinear(r, r)
    # Coefficients that do not expand to the weight saved next to them.
    sd = a.state_dict()
    sd["weight_coefficients"] = sd["weight_coefficients"] + 1
    with pytest.raises(eqnn.Error, match="the state_dict is inconsistent .*'weight_coefficients' do not expand"):
        b.load_state_dict(sd)
    # No record at all (a state_dict of an older eqnn): a missing key, as torch reports one (an error when
    # strict); with strict=False the coefficients are taken as they are.
    sd = a.state_dict()
    del sd["_extra_state"]
    with pytest.raises(RuntimeError, match="Missing key\\(s\\) in state_dict: \"_extra_state\""):
        b.load_state_dict(sd)
    result = b.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["_extra_state"]
    x = torch.randn(2, r.size)
    assert torch.equal(b(x), a(x))
    # A record that lacks one of the saved constrained parameters is refused, strict or not.
    sd = a.state_dict()
    del sd["_extra_state"]["eqnn_bases"]["bias_coefficients"]
    c = enn.ELinear(r, r)
    before = snapshot(c)
    with pytest.raises(eqnn.Error, match="has no basis record for 'bias_coefficients'"):
        c.load_state_dict(sd, strict=False)
    assert all(torch.equal(snapshot(c)[k], before[k]) for k in before)
    # Shapes that do not fit are named.
    sd = a.state_dict()
    sd["_extra_state"]["eqnn_effective"]["weight_coefficients"] = torch.zeros(3, 3)
    shapes = r"'weight_coefficients' expands to shape \[3, 3\] in the state_dict but \[16, 16\]"
    with pytest.raises(eqnn.Error, match=shapes):
        b.load_state_dict(sd)
    with pytest.raises(eqnn.Error, match="not the basis record eqnn writes"):
        b.load_state_dict({**a.state_dict(), "_extra_state": 7})
