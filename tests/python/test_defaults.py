"""One source for every default: the C++ Options. Every layer class of eqnn.nn, built with no keywords,
reports (read back from its C++ module, not from Python's arguments) exactly the defaults of its C++
Options; the YAML factory (eqnn.nn.Layer) gives the same; signatures are real and in torch's order with
torch's defaults; ELinear's default initialisation has torch.nn.Linear's per-entry variance."""

import inspect

import eqnn
import pytest
import torch
from eqnn import _C
from eqnn import nn as enn

# Every layer class eqnn.nn exports: a new one is in this list without an edit here. EMultivariateNormal is
# a Python-only distribution head (no C++ Options, not a registry layer).
# The transformer stacks take a layer first, as torch's (their own cases below).
STACK_CLASSES = {"ETransformerEncoder": ("eTransformerEncoderLayer", torch.nn.TransformerEncoder),
                 "ETransformerDecoder": ("eTransformerDecoderLayer", torch.nn.TransformerDecoder)}
LAYER_CLASSES = sorted(
    [getattr(enn, name) for name in enn.__all__
     if name not in ("Layer", "Model", "EMultivariateNormal") and name not in STACK_CLASSES]
    + [getattr(eqnn.models, name) for name in eqnn.models.__all__],
    key=lambda c: c.__name__,
)
# Python's names for C++ options where torch names them differently.
CPP_NAME = {"nhead": "num_heads"}
# Parameters that are not C++ options.
NOT_OPTIONS = {"self", "in_rep", "out_rep", "in2_rep", "device", "dtype", "kdim", "vdim", "hidden_rep", "cond_rep"}
# The stock module each class stands in for, and the name of its first argument.
TORCH_MODULE = {
    "ELinear": (torch.nn.Linear, {"in_features": "in_rep", "out_features": "out_rep"}),
    "EMultiheadAttention": (torch.nn.MultiheadAttention, {"embed_dim": "in_rep"}),
    "ETransformerEncoderLayer": (torch.nn.TransformerEncoderLayer, {"d_model": "in_rep"}),
    "ETransformerDecoderLayer": (torch.nn.TransformerDecoderLayer, {"d_model": "in_rep"}),
    "ERMSNorm": (torch.nn.RMSNorm, {"normalized_shape": "in_rep"}),
    "EGELU": (torch.nn.GELU, {}),
    "EELU": (torch.nn.ELU, {}),
    "ELeakyReLU": (torch.nn.LeakyReLU, {}),
    "ESoftplus": (torch.nn.Softplus, {}),
    "EMish": (torch.nn.Mish, {}),
    "ESigmoid": (torch.nn.Sigmoid, {}),
    "EConv1d": (torch.nn.Conv1d, {"in_channels": "in_rep", "out_channels": "out_rep"}),
    "EConvTranspose1d": (torch.nn.ConvTranspose1d, {"in_channels": "in_rep", "out_channels": "out_rep"}),
}
# Stock modules that take no size: our in_rep comes first and has no stock counterpart.
NO_SIZE = {"EGELU", "EELU", "ELeakyReLU", "ESoftplus", "EMish", "ESigmoid"}


@pytest.fixture(scope="module")
def rep():
    return eqnn.rep(eqnn.group("C8"), "4x regular")


def input_rep(cls, rep):
    """The fixture's rep, with the trivial copies eGatedNonlinearity needs as gates (one per non-trivial
    irrep copy: 4 per regular copy of C8); eFourierPointwise takes a compact group's regular(L) copies."""
    if cls is enn.EGatedNonlinearity:
        return eqnn.rep(rep.group, "4x regular + 12x trivial")
    if cls is enn.EFourierPointwise:
        return eqnn.rep(eqnn.group("SO3"), "2x regular(1)")
    return rep


def required(cls, rep):
    """Values for the parameters after in_rep that have no default (a new one fails here by name)."""
    values = {"out_rep": rep, "num_heads": 2, "nhead": 2, "function": "relu", "kernel_size": 3,
              "hidden_units": [16], "out_dim": 2, "hidden_channels": [16], "time_horizon": 4, "max_len": 16,
              "max_distance": 4, "cond_rep": rep, "in_horizon": 4, "cond_horizon": 2, "num_layers": 1,
              "num_attention_heads": 1, "embedding_dim": 8}
    params = list(inspect.signature(cls).parameters.values())[1:]
    return {p.name: values[p.name] for p in params if p.default is inspect.Parameter.empty}


def test_every_equivariant_layer_of_the_registry_has_a_class():
    registry = {t for t in _C.layer_types() if t.startswith("e")}
    classes = {cls._layer_type for cls in LAYER_CLASSES} | {getattr(enn, n)._layer_type for n in STACK_CLASSES}
    assert registry == {t for t in classes if t.startswith("e")}
    assert {"iMLP"} <= classes


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_a_module_built_without_keywords_reports_the_cpp_defaults(cls, rep):
    rep = input_rep(cls, rep)
    defaults = _C.layer_defaults(cls._layer_type)
    given = required(cls, rep)
    module = cls(rep, **given)
    held = module.options
    assert held is not None
    assert {key: held[key] for key in defaults} == defaults
    for key, value in defaults.items():  # True is not 1, 1e-5 is not "1e-05"
        assert type(held[key]) is type(value), key
    for name, value in given.items():
        if name not in ("out_rep", "cond_rep"):
            assert held[CPP_NAME.get(name, name)] == value
    # Every keyword of the signature is a C++ option whose Python default is None ("the C++ default").
    for p in inspect.signature(cls).parameters.values():
        if p.name in NOT_OPTIONS or p.name in given:
            continue
        assert CPP_NAME.get(p.name, p.name) in defaults, p.name
        assert p.default is None, p.name


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_the_yaml_factory_starts_from_the_cpp_defaults(cls, rep):
    rep = input_rep(cls, rep)
    defaults = _C.layer_defaults(cls._layer_type)
    given = {CPP_NAME.get(k, k): v for k, v in required(cls, rep).items()}
    held = enn.Layer(cls._layer_type, rep, **given).options
    expected = dict(defaults)
    if cls._layer_type in ("eTransformerEncoderLayer", "eTransformerDecoderLayer"):
        expected["batch_first"] = True  # the documented YAML default: a model is batch-first
    assert {key: held[key] for key in defaults} == expected


def test_keywords_given_reach_the_cpp_module(rep):
    lin = enn.ELinear(rep, rep, False, init_scheme="zeros", bias_constraint="InvariantConstraint", execution="auto")
    assert lin.options == {"bias": False, "init_scheme": "zeros", "weight_constraint": "CommutingConstraint",
                           "bias_constraint": "InvariantConstraint", "execution": "auto"}
    t = enn.ETransformerEncoderLayer(rep, 4, 64, 0.0, "gelu", 1e-6, True, True, False)
    assert {k: t.options[k] for k in ("num_heads", "dim_feedforward", "dropout", "activation", "layer_norm_eps",
                                      "batch_first", "norm_first", "bias")} == {
        "num_heads": 4, "dim_feedforward": 64, "dropout": 0.0, "activation": "gelu", "layer_norm_eps": 1e-6,
        "batch_first": True, "norm_first": True, "bias": False}
    assert enn.ETransformerEncoderLayer(rep, 2, activation=torch.nn.functional.gelu).options["activation"] == "gelu"
    m = enn.EMultiheadAttention(rep, 4, 0.25, False, batch_first=True)
    assert (m.num_heads, m.dropout, m.batch_first, m.options["bias"]) == (4, 0.25, True, False)
    assert enn.EPointwise(rep, "leaky_relu", negative_slope=0.2).options["negative_slope"] == 0.2
    with pytest.raises(ValueError, match="kdim = 7 is not supported"):
        enn.EMultiheadAttention(rep, 2, kdim=7)


@pytest.mark.parametrize("name", sorted(TORCH_MODULE))
def test_signatures_follow_torch(name):
    cls = getattr(enn, name)
    stock, renamed = TORCH_MODULE[name]
    ours = [p for p in inspect.signature(cls).parameters.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
    # No `inplace`: the input may be a view shared with the caller.
    theirs = [p for p in inspect.signature(stock).parameters.values()
              if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "inplace"]
    if name in NO_SIZE:
        ours = ours[1:]  # in_rep first; the stock activation takes no size
    # The same names in the same positions (ours may add options after them, keyword-only where torch
    # ends with device and dtype).
    assert [renamed.get(p.name, p.name) for p in theirs] == [p.name for p in ours][: len(theirs)]
    defaults = _C.layer_defaults(cls._layer_type)
    for p in theirs:
        key = CPP_NAME.get(p.name, p.name)
        if key in defaults and p.default is not inspect.Parameter.empty and p.default is not None \
                and not callable(p.default):
            assert defaults[key] == p.default, f"{name}.{p.name}: C++ {defaults[key]!r}, torch {p.default!r}"


@pytest.mark.parametrize("cls", LAYER_CLASSES, ids=lambda c: c.__name__)
def test_signatures_and_docstrings_are_real(cls):
    sig = inspect.signature(cls)
    assert not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()), sig
    assert list(sig.parameters)[0] == "in_rep"
    assert "{" not in cls.__doc__
    for key, value in _C.layer_defaults(cls._layer_type).items():
        if key in sig.parameters or CPP_NAME.get(key) in sig.parameters:
            assert repr(value) in cls.__doc__ or str(value) in cls.__doc__, key


def test_transformer_layer_takes_nhead_positionally_and_is_sequence_first_by_default(rep):
    torch.manual_seed(0)
    seq_first = enn.ETransformerEncoderLayer(rep, 2, dim_feedforward=16, dropout=0.0)
    assert seq_first.batch_first is False and seq_first.options["batch_first"] is False
    batch_first = enn.ETransformerEncoderLayer(rep, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    batch_first.load_state_dict(seq_first.state_dict())
    x = torch.randn(3, 5, 32)  # (batch, seq, feature)
    with torch.no_grad():
        y = seq_first(x.transpose(0, 1)).transpose(0, 1)
        assert torch.allclose(y, batch_first(x), atol=1e-5, rtol=0)
        stock = torch.nn.TransformerEncoderLayer(32, 2, dim_feedforward=16, dropout=0.0)
        assert stock(x.transpose(0, 1)).shape == seq_first(x.transpose(0, 1)).shape


def test_elinear_default_weights_have_the_per_entry_variance_of_torch_linear():
    # 400 layers each: the ratio of the mean squared entries is 1 within about 1% (one standard deviation);
    # xavier_normal, the former Python default, gives 2/(16+9) instead of 1/(3·16): a ratio of 3.8.
    torch.manual_seed(1234)
    G = eqnn.group("C4")
    in_rep, out_rep = eqnn.rep(G, "4x regular"), eqnn.rep(G, "2x regular + trivial")  # 16 -> 9
    n = 400

    def draws(make):
        weights, biases = [], []
        for _ in range(n):
            module = make()
            params = module.effective_parameters() if isinstance(module, enn.ELinear) else dict(
                module.named_parameters())
            weights.append(params["weight"].detach().double())
            biases.append(params["bias"].detach().double())
        return torch.stack(weights), torch.stack(biases)

    w_ours, b_ours = draws(lambda: enn.ELinear(in_rep, out_rep))
    w_torch, b_torch = draws(lambda: torch.nn.Linear(in_rep.size, out_rep.size))
    var_torch = w_torch.pow(2).mean()
    assert abs(w_ours.pow(2).mean() / var_torch - 1) < 0.05
    assert abs(b_ours.pow(2).mean() / b_torch.pow(2).mean() - 1) < 0.15
    # Entry by entry (400 draws each: about 5% noise per entry, at most about 15% over 144 entries).
    per_entry = w_ours.var(0) / var_torch
    assert 0.7 < per_entry.min() and per_entry.max() < 1.3, (per_entry.min(), per_entry.max())
    w_xavier, _ = draws(lambda: enn.ELinear(in_rep, out_rep, init_scheme="xavier_normal"))
    assert w_xavier.pow(2).mean() / var_torch > 2


def test_unknown_layer_class_suggests_the_nearest():
    expected = r"no layer class for 'eLiner' \(did you mean 'eLinear'\?\); known: .*eLinear"
    with pytest.raises(LookupError, match=expected):
        _C.layer_defaults("eLiner")


@pytest.mark.parametrize("name", sorted(STACK_CLASSES))
def test_stacks_default_as_their_layer_and_follow_torch(name, rep):
    layer_type, stock = STACK_CLASSES[name]
    cls = getattr(enn, name)
    layer_cls = next(c for c in LAYER_CLASSES if c._layer_type == layer_type)
    defaults = _C.layer_defaults(cls._layer_type)
    # The layer's options (num_heads required there too), and the stack's own: num_layers required, final_norm.
    assert defaults == {**_C.layer_defaults(layer_type), "final_norm": "none"}
    stack = cls(layer_cls(rep, 2), 2)
    held = stack.options
    assert {key: held[key] for key in defaults} == defaults
    assert (held["num_heads"], held["num_layers"]) == (2, 2)
    assert [p.name for p in inspect.signature(cls).parameters.values()] == [
        p.name for p in inspect.signature(stock).parameters.values()]
    for p in inspect.signature(cls).parameters.values():
        theirs = inspect.signature(stock).parameters[p.name]
        assert p.default == theirs.default, p.name
    # The YAML layer: the same defaults, batch-first as a model.
    yaml = enn.Layer(cls._layer_type, rep, num_heads=2, num_layers=1).options
    assert {key: yaml[key] for key in defaults} == {**defaults, "batch_first": True}
    assert "{" not in cls.__doc__ and "'none'" in cls.__doc__
