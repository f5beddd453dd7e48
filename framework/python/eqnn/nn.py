"""Equivariant layers as torch.nn.Modules, each wrapping the C++ module that implements it.

No layer is implemented twice: a Python module holds a handle to the C++ module and registers the C++
module's parameters as its own. The nn.Parameter objects Python registers are put back into the C++
module, so both sides hold the same tensors: an optimiser step, ``load_state_dict``, ``.to(device/dtype)``
and DDP's broadcasts are seen by the C++ forward, and autograd flows through the C++ code into the
Python parameters' ``.grad``. Parameter names are the C++ ones (``weight_coefficients``, ...).

Whatever tensor Python holds is what C++ runs with: torch.func's ``functional_call`` (and with it
``vmap(grad(...))`` per-sample gradients and ``stack_module_state`` ensembles) swaps in plain tensors, and the
C++ module computes with those. ``state_dict()`` carries the basis fingerprint and the effective weight of
every constrained parameter (``_extra_state``), and ``load_state_dict`` takes saved coefficients only where
they mean the same weights: re-projected exactly when saved in another basis, refused otherwise.
"""

import copy
import json
from typing import Any, Optional, Tuple

import torch

from . import _C
from ._C import Representation

__all__ = [
    "EGELU",
    "EInvariantPool",
    "ELayerNorm",
    "ELinear",
    "EMultiheadAttention",
    "ENormPool",
    "EPointwise",
    "ERMSNorm",
    "EReLU",
    "ESiLU",
    "ETanh",
    "ETransformerEncoderLayer",
    "Layer",
    "Model",
]


class _Mirror(torch.nn.Module):
    """Holds the parameters of one C++ submodule (so state_dict names match the C++ ones)."""

    def forward(self, *args, **kwargs):  # pragma: no cover - never called
        raise RuntimeError("eqnn: this module only holds the parameters of a C++ submodule")


class _CppModule(torch.nn.Module):
    """Base of every eqnn module: a torch.nn.Module over a C++ module (see the module docstring)."""

    def __init__(self, make_handle, device=None, dtype=None):
        super().__init__()
        # `make_handle` builds a fresh C++ module with the same configuration (used by deepcopy).
        self._eqnn_make = make_handle
        self._eqnn_handle = make_handle()
        self._eqnn_parameter_names = []
        self._eqnn_buffer_names = []
        # (owning module, attribute) of each parameter and buffer: read with getattr, so a plain tensor that
        # torch.func put in place of an nn.Parameter is what C++ gets.
        self._eqnn_slots = []
        for name, tensor in self._eqnn_handle.named_parameters():
            owner, leaf = self._eqnn_owner(name)
            owner.register_parameter(leaf, torch.nn.Parameter(tensor.detach(), requires_grad=tensor.requires_grad))
            self._eqnn_parameter_names.append(name)
            self._eqnn_slots.append((owner, leaf))
        for name, tensor in self._eqnn_handle.named_buffers():
            owner, leaf = self._eqnn_owner(name)
            owner.register_buffer(leaf, tensor)
            self._eqnn_buffer_names.append(name)
            self._eqnn_slots.append((owner, leaf))
        self._eqnn_bound = ()
        self._eqnn_bind()
        if device is not None or dtype is not None:
            self.to(device=device, dtype=dtype)

    def _eqnn_owner(self, name: str):
        owner: torch.nn.Module = self
        *path, leaf = name.split(".")
        for part in path:
            child = owner._modules.get(part)
            if child is None:
                child = _Mirror()
                owner.add_module(part, child)
            owner = child
        return owner, leaf

    def _eqnn_current(self):
        return tuple(getattr(owner, leaf) for owner, leaf in self._eqnn_slots)

    def _eqnn_bind(self):
        """Makes the C++ module use exactly the tensors Python holds now (nn.Parameters, or the plain
        tensors torch.func.functional_call swapped in)."""
        h = self._eqnn_handle
        current = self._eqnn_current()
        count = len(self._eqnn_parameter_names)
        for name, tensor in zip(self._eqnn_parameter_names, current[:count]):
            h.set_parameter(name, tensor)
        for name, tensor in zip(self._eqnn_buffer_names, current[count:]):
            h.set_buffer_data(name, tensor)
        h.train(self.training)
        self._eqnn_bound = current

    def _eqnn_ready(self):
        # A parameter object replaced on the Python side (load_state_dict(assign=True), user code) is
        # handed to C++ before it runs; the common case costs one identity check per tensor.
        current = self._eqnn_current()
        if len(current) != len(self._eqnn_bound) or any(a is not b for a, b in zip(current, self._eqnn_bound)):
            self._eqnn_bind()
        if self._eqnn_handle.training != self.training:
            self._eqnn_handle.train(self.training)
        return self._eqnn_handle

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self._eqnn_bind()
        return result

    def train(self, mode: bool = True):
        super().train(mode)
        self._eqnn_handle.train(mode)
        return self

    def __deepcopy__(self, memo):
        cls = self.__class__
        new = cls.__new__(cls)
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key not in ("_eqnn_handle", "_eqnn_bound"):
                new.__dict__[key] = copy.deepcopy(value, memo)
        new.__dict__["_eqnn_handle"] = new._eqnn_make()
        new.__dict__["_eqnn_bound"] = ()
        new._eqnn_bind()
        return new

    # ---- state_dict: basis fingerprints of the constrained parameters ----

    def get_extra_state(self) -> dict:
        """What load_state_dict needs to tell whether saved coefficients mean the same weights: for every
        constrained parameter, the fingerprint of its basis and its effective tensor expand(θ)."""
        bases, effective = {}, {}
        for name, basis, weight in self._eqnn_ready().basis_records():
            bases[name] = basis
            effective[name] = weight
        return {"eqnn_bases": bases, "eqnn_effective": effective}

    def set_extra_state(self, state: Any) -> None:
        """Checked and used before any tensor is copied, by _load_from_state_dict."""

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):
        # Every constrained parameter is fitted before torch copies anything (this module's tensors, and its
        # mirrors' after it): saved in this basis, the coefficients load as they are; saved in another, they
        # become the re-projection of the saved weight, or loading stops here, with nothing changed. Without
        # any record (an older eqnn's state_dict) the coefficients are taken as they are and torch reports
        # '_extra_state' as a missing key, an error under strict=True (torch passes strict=True here whatever
        # the caller asked, so this method cannot tell the two apart).
        where = f"{type(self).__name__}.load_state_dict" + (f" ('{prefix[:-1]}')" if prefix else "")
        extra = state_dict.get(prefix + "_extra_state")
        constrained = [n for n in self._eqnn_handle.constrained_parameters() if prefix + n in state_dict]
        if extra is not None and constrained:
            if not (isinstance(extra, dict) and isinstance(extra.get("eqnn_bases"), dict)
                    and isinstance(extra.get("eqnn_effective"), dict)):
                raise _C.Error(f"{where}: '{prefix}_extra_state' is not the basis record eqnn writes "
                               f"(a dict with 'eqnn_bases' and 'eqnn_effective'), got {type(extra).__name__}")
            bases, effective = extra["eqnn_bases"], extra["eqnn_effective"]
            saved = []
            for name in constrained:
                if name not in bases or name not in effective:
                    raise _C.Error(f"{where}: the state_dict has no basis record for '{name}'; loading would "
                                   "not know whether its coefficients mean the same weights here")
                saved.append((name, bases[name], state_dict[prefix + name], effective[name]))
            for name, coefficients, _ in self._eqnn_ready().fit_saved(saved, where):
                state_dict[prefix + name] = coefficients
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def __getstate__(self):
        raise TypeError(
            f"{type(self).__name__} wraps a C++ module and cannot be pickled as a whole; save its state_dict() "
            "and load it into a module built with the same arguments"
        )

    @property
    def in_rep(self) -> Optional[Representation]:
        """The representation flowing in (None when unknown)."""
        return self._eqnn_handle.in_rep

    @property
    def out_rep(self) -> Optional[Representation]:
        """The representation flowing out (None when unknown)."""
        return self._eqnn_handle.out_rep

    def effective_parameters(self) -> dict:
        """The constrained (expanded) tensors under the names of the equivalent stock torch module
        ("weight", "bias", "in_proj_weight", ...), detached: a stock module loads them with strict=True."""
        return dict(self._eqnn_ready().effective_parameters())

    def extra_repr(self) -> str:
        return repr(self._eqnn_handle)


class Layer(_CppModule):
    """Any layer a model file can name, built by its registered factory: ``Layer("eLayerNorm", rep, eps=1e-6)``.

    Keyword arguments are those of the YAML layer (see the README's layer table); representations may be
    given as eqnn.Representation objects or rep strings. forward takes (..., in_rep.size)."""

    def __init__(self, type: str, in_rep: Representation, device=None, dtype=None, **kwargs: Any):
        if not isinstance(in_rep, Representation):
            raise TypeError(f"{type}: in_rep must be an eqnn.Representation (eqnn.rep(G, \"2x regular\")), got "
                            f"{in_rep.__class__.__name__}")
        names, reps, plain = [], [], {}
        for key, value in kwargs.items():
            if isinstance(value, Representation):
                name = f"__eqnn_rep_{len(reps)}"
                names.append(name)
                reps.append(value)
                value = name
            plain[key] = value
        text = json.dumps(plain)
        super().__init__(lambda: _C.make_layer(type, in_rep, text, names, reps), device, dtype)
        self.layer_type = type

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._eqnn_ready().forward(x)


class ELinear(_CppModule):
    """y = x Wᵀ + b with W in Hom_G(in_rep, out_rep) and b invariant: the equivariant torch.nn.Linear.

    ``init_scheme``: xavier_normal (default), xavier_uniform, kaiming_normal, kaiming_uniform, zeros.
    Parameters: ``weight_coefficients`` (and ``bias_coefficients``); ``effective_parameters()`` gives W, b.
    forward: (..., in_rep.size) -> (..., out_rep.size)."""

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        bias: bool = True,
        device=None,
        dtype=None,
        init_scheme: str = "xavier_normal",
        weight_constraint: str = "CommutingConstraint",
        bias_constraint: str = "InvariantConstraint",
    ):
        super().__init__(
            lambda: _C.make_linear(in_rep, out_rep, bias, init_scheme, weight_constraint, bias_constraint),
            device,
            dtype,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._eqnn_ready().forward(x)


class EMultiheadAttention(_CppModule):
    """Multi-head attention, exactly equivariant for any in_rep whose size is a multiple of |G|; a drop-in
    for torch.nn.MultiheadAttention (same forward arguments and return values).

    Q, K and V live in m = in_rep.size/|G| regular copies, heads hold whole copies (num_heads must divide
    m). ``add_bias_kv`` / ``add_zero_attn`` are refused (they break equivariance) with a ValueError."""

    def __init__(
        self,
        in_rep: Representation,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = False,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        device=None,
        dtype=None,
        init_scheme: str = "xavier_normal",
        weight_constraint: str = "CommutingConstraint",
        bias_constraint: str = "InvariantConstraint",
    ):
        super().__init__(
            lambda: _C.make_attention(
                in_rep, num_heads, dropout, bias, batch_first, add_bias_kv, add_zero_attn, init_scheme,
                weight_constraint, bias_constraint,
            ),
            device,
            dtype,
        )
        self.embed_dim = in_rep.size
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: Optional[torch.Tensor] = None,
        need_weights: bool = True,
        attn_mask: Optional[torch.Tensor] = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """As torch.nn.MultiheadAttention.forward: (attn_output, attn_weights or None).

        ``is_causal`` is a hint that ``attn_mask`` is the causal mask, as in torch: the mask is required
        and is what is applied."""
        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                               "module method `generate_square_subsequent_mask` to create this mask.")
        _check_mask(attn_mask, "attn_mask")
        _check_mask(key_padding_mask, "key_padding_mask")
        return self._eqnn_ready().attention(
            query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights
        )


def _check_mask(mask: Optional[torch.Tensor], name: str) -> None:
    """The C++ module takes bool (True masks out) and floating-point (added) masks; torch refuses others."""
    if mask is not None and mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")


def _registry_layer(type_name: str, doc: str):
    def __init__(self, in_rep: Representation, device=None, dtype=None, **kwargs: Any):
        Layer.__init__(self, type_name, in_rep, device=device, dtype=dtype, **kwargs)

    cls = type(type_name[0].upper() + type_name[1:], (Layer,), {"__init__": __init__, "__doc__": doc})
    cls.__module__ = __name__
    return cls


ELayerNorm = _registry_layer(
    "eLayerNorm", "Equivariant LayerNorm over in_rep (keywords: eps=1e-5, elementwise_affine=True).")
ERMSNorm = _registry_layer(
    "eRMSNorm", "Equivariant RMSNorm over in_rep (keywords: eps, elementwise_affine=True).")
EReLU = _registry_layer("eReLU", "Pointwise ReLU; in_rep must be a permutation representation.")
EGELU = _registry_layer("eGELU", "Pointwise GELU (keyword: approximate='none'|'tanh'); permutation reps only.")
ESiLU = _registry_layer("eSiLU", "Pointwise SiLU; permutation reps only.")
ETanh = _registry_layer("eTanh", "Pointwise tanh; permutation reps only.")
EPointwise = _registry_layer(
    "ePointwise",
    "Pointwise function (keywords: function=relu|gelu|silu|tanh|sigmoid|mish|softplus|elu|leaky_relu, "
    "approximate, negative_slope); permutation reps only.")
EInvariantPool = _registry_layer("eInvariantPool", "Projection onto the invariant subspace (out: trivial copies).")
ENormPool = _registry_layer("eNormPool", "One norm per irrep copy (out: trivial copies).")
class ETransformerEncoderLayer(Layer):
    """Equivariant transformer encoder layer (keywords: num_heads, dim_feedforward=2048, dropout=0.1,
    activation='relu', norm_first=False, batch_first=True, layer_norm_eps=1e-5, bias, init_scheme);
    forward (batch, seq, in_rep.size) with batch_first, else (seq, batch, in_rep.size), and the masks of
    torch.nn.TransformerEncoderLayer.forward."""

    def __init__(self, in_rep: Representation, device=None, dtype=None, **kwargs: Any):
        super().__init__("eTransformerEncoderLayer", in_rep, device=device, dtype=dtype, **kwargs)

    def forward(
        self,
        src: torch.Tensor,
        src_mask: Optional[torch.Tensor] = None,
        src_key_padding_mask: Optional[torch.Tensor] = None,
        is_causal: bool = False,
    ) -> torch.Tensor:
        """As torch.nn.TransformerEncoderLayer.forward: src_mask (seq, seq) or (batch*num_heads, seq, seq),
        src_key_padding_mask (batch, seq), each bool (True may not attend) or float (added to the scores).
        ``is_causal`` is a hint that src_mask is the causal mask, as in torch: the mask is required and is
        what is applied."""
        if is_causal and src_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                               "module method `generate_square_subsequent_mask` to create this mask.")
        _check_mask(src_mask, "src_mask")
        _check_mask(src_key_padding_mask, "src_key_padding_mask")
        if src_mask is None and src_key_padding_mask is None:
            return self._eqnn_ready().forward(src)
        return self._eqnn_ready().encoder(src, src_mask, src_key_padding_mask)


class Model(_CppModule):
    """A model built from a YAML description (eqnn.load_model(path)); forward (batch, [seq,] features)."""

    def __init__(self, path: str):
        super().__init__(lambda: _C.load_model(str(path)))
        self.path = str(path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._eqnn_ready().forward(x)

    @property
    def group(self):
        """The model's group."""
        return self._eqnn_handle.model_group()

    @property
    def input_rep(self) -> Representation:
        return self._eqnn_handle.in_rep

    @property
    def output_rep(self) -> Optional[Representation]:
        """The output representation (None when the last layer has no group action and no `output:`)."""
        return self._eqnn_handle.out_rep

    @property
    def reps(self) -> dict:
        """The named representations of the description (`reps:`)."""
        return dict(self._eqnn_handle.model_reps())

    @property
    def source(self) -> str:
        """The YAML text the model was built from."""
        return self._eqnn_handle.model_source()
