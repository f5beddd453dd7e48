"""What the Python boundary keeps of the C++ guarantees: groups compare by content, errors are eqnn classes
that are also the builtin that fits (so `except KeyError` works), and check_equivariance is the C++ check."""

import math

import eqnn
import pytest
import torch
from eqnn import _C
from eqnn import nn as enn

ROTATION, REFLECTION = [[0, -1], [1, 0]], [[1, 0], [0, -1]]


def test_groups_compare_by_content_not_by_name_or_order():
    a = eqnn.group({"type": "FiniteGroup", "name": "D4", "generators": [ROTATION, REFLECTION]})
    b = eqnn.group({"type": "FiniteGroup", "name": "D4", "generators": [REFLECTION, ROTATION]})
    again = eqnn.group({"type": "FiniteGroup", "name": "D4", "generators": [ROTATION, REFLECTION]})
    assert (a.name, a.order) == (b.name, b.order)
    assert a != b and not (a == b)  # elements numbered differently: another Cayley table
    assert a == again and hash(a) == hash(again)
    assert eqnn.group("C8") == eqnn.group("C8")
    assert eqnn.group("C8") != eqnn.group("C4")
    assert len({a, again, b}) == 2
    # Anything else is simply not equal (no TypeError), for groups and representations alike.
    assert a != "D4" and not (a == 3)
    assert eqnn.rep(a, "regular") != "regular"
    # Representations of groups with equal content are equal; hom() accepts them together.
    assert eqnn.rep(a, "2x regular") == eqnn.rep(again, "2x regular")
    assert eqnn.hom(eqnn.rep(a, "regular"), eqnn.rep(again, "regular")).dim == 8
    with pytest.raises(eqnn.GroupError, match="different groups"):
        eqnn.hom(eqnn.rep(a, "regular"), eqnn.rep(b, "regular"))


def test_error_classes_subclass_the_builtin_that_fits():
    assert issubclass(eqnn.Error, RuntimeError)
    assert issubclass(eqnn.ConfigError, eqnn.Error) and issubclass(eqnn.ConfigError, ValueError)
    assert issubclass(eqnn.GroupError, eqnn.Error) and issubclass(eqnn.GroupError, ValueError)
    assert issubclass(eqnn.UnknownNameError, eqnn.Error) and issubclass(eqnn.UnknownNameError, KeyError)
    assert issubclass(eqnn.UnknownNameError, LookupError)
    assert issubclass(eqnn.PluginError, eqnn.Error) and issubclass(eqnn.PluginError, ImportError)
    assert eqnn.ConfigError.__module__ == "eqnn"


def test_an_unknown_name_is_a_key_error_with_a_readable_message():
    with pytest.raises(KeyError) as info:
        eqnn.group("Q9")
    assert type(info.value) is eqnn.UnknownNameError
    msg = str(info.value)
    assert msg.startswith("unknown group 'Q9'") and not msg.startswith(("'", '"'))  # not KeyError's repr()
    assert "Short names look like: " in msg
    with pytest.raises(KeyError, match=r"^unknown group type 'DihedralGrop'; did you mean 'DihedralGroup'\?"):
        eqnn.group({"type": "DihedralGrop", "n": 4})
    r = eqnn.rep(eqnn.group("C8"), "regular")
    try:
        enn.Layer("eFoo", r)
    except KeyError as e:  # what a Python user writes
        assert "unknown layer 'eFoo'" in str(e) and "eLinear" in str(e)
    else:
        pytest.fail("an unknown layer type raised nothing")


def test_bad_values_are_value_errors_of_eqnn_classes(tmp_path):
    G = eqnn.group("C8")
    with pytest.raises(eqnn.ConfigError, match=r":1:4: error: .*did you mean 'regular'") as info:
        eqnn.rep(G, "2x regulr")
    assert isinstance(info.value, ValueError)
    with pytest.raises(ValueError, match="permutation"):
        enn.EReLU(eqnn.rep(G, "irrep(2)"))
    path = tmp_path / "bad.yaml"
    path.write_text("eqnn: 1\ngroup: C8\ninput: regular\nlayers:\n  - {type: eLinear, out_rep: regulr}\n")
    with pytest.raises(eqnn.ConfigError, match=r"bad.yaml:5:"):
        eqnn.load_model(path)
    with pytest.raises(FileNotFoundError):
        eqnn.load_model(tmp_path / "missing.yaml")


def test_check_equivariance_is_the_cpp_check(monkeypatch):
    G = eqnn.group("D4")
    r = eqnn.rep(G, "regular")
    calls = []
    cpp = _C.equivariance_error

    def spy(f, in_rep, out_rep, dtype, shape, seed):
        calls.append((in_rep, out_rep, dtype, tuple(shape), seed))
        return cpp(f, in_rep, out_rep, dtype, shape, seed)

    monkeypatch.setattr(_C, "equivariance_error", spy)
    lin = enn.ELinear(r, r)
    assert eqnn.check_equivariance(lin, r, r, torch.float32, shape=(3,), seed=7) < 1e-5
    assert calls == [(r, r, torch.float32, (3,), 7)]
    # The C++ check's verdicts: NaN is inf (never a pass), a broken map fails, the identity is exact.
    assert eqnn.check_equivariance(lambda x: x * float("nan"), r, r) == math.inf
    assert eqnn.check_equivariance(torch.nn.Linear(8, 8, dtype=torch.float64), r, r) > 1e-3
    assert eqnn.check_equivariance(lambda x: x, r, r) == 0.0
    assert len(calls) == 4
    with pytest.raises(eqnn.GroupError, match="both must belong to the same group"):
        eqnn.check_equivariance(lin, r, eqnn.rep(eqnn.group("C8"), "regular"))
    with pytest.raises(ValueError, match="the output has 8 features but out_rep has size 9"):
        eqnn.check_equivariance(lambda x: x, r, eqnn.rep(G, "regular + trivial"))


def test_no_second_equivariance_check_in_python():
    import inspect

    source = inspect.getsource(eqnn.check_equivariance)
    assert "_C.equivariance_error" in source
    assert "range(" not in source and ".matrices()" not in source  # no loop over group elements here


def test_the_committed_stub_is_the_one_generated_from_the_binding():
    import os
    import pathlib
    import subprocess
    import sys

    pytest.importorskip("pybind11_stubgen")
    root = pathlib.Path(__file__).resolve().parents[2]
    run = subprocess.run(
        ["bash", str(root / "scripts/check-stubs.sh")],
        env={**os.environ, "EQNN_VENV": sys.prefix},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    stub = (root / "python/eqnn/_C.pyi").read_text()
    # Every member eqnn/nn.py and eqnn/__init__.py use is declared.
    for name in ["def equivariance_error", "def make_layer", "def load_model", "class Handle", "def set_parameter",
                 "def basis_records", "def fit_saved", "def named_parameters", "UnknownNameError"]:
        assert name in stub, name
