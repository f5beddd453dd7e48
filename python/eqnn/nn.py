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
from typing import Any, Optional, Union

import torch

from . import _C
from ._C import Representation

__all__ = [
    "EAdditivePosMultiheadAttention",
    "EAdditiveRelMultiheadAttention",
    "EAffine",
    "EBatchNorm1d",
    "EConv1d",
    "EConvTranspose1d",
    "EELU",
    "EFourierPointwise",
    "EGELU",
    "EGatedNonlinearity",
    "EInvariantBias",
    "EInvariantPool",
    "EIsotypicBasis",
    "ELayerNorm",
    "ELeakyReLU",
    "ELinear",
    "EMish",
    "EMultiheadAttention",
    "EMultivariateNormal",
    "ENormNonlinearity",
    "ENormPool",
    "EPointwise",
    "ERMSNorm",
    "EReLU",
    "ERoPEMultiheadAttention",
    "ESiLU",
    "ESigmoid",
    "ESoftplus",
    "ETanh",
    "ETensorProduct",
    "ETransformerDecoder",
    "ETransformerDecoderLayer",
    "ETransformerEncoder",
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


class _LayerModule(_CppModule):
    """Base of the layer classes: a module that reports the configuration of its C++ module."""

    @property
    def options(self) -> Optional[dict]:
        """The layer's options as its C++ module holds them (its C++ Options, without the representations),
        e.g. ``{"bias": True, "init_scheme": "stock", ...}``; None for a layer without a C++ Options entry."""
        return self._eqnn_handle.options()


def _given(**kwargs: Any) -> dict:
    """The keyword arguments the caller gave: None stands for the C++ Options' default, which is not sent."""
    return {key: value for key, value in kwargs.items() if value is not None}


def _document_defaults(layer_type: str):
    """Fills the ``{name}`` fields of a class docstring with the C++ Options' defaults of ``layer_type``, so
    help() shows the defaults the C++ module will use (they are never written in Python)."""

    def decorate(cls):
        cls.__doc__ = cls.__doc__.format(**_C.layer_defaults(layer_type))
        cls._layer_type = layer_type
        return cls

    return decorate


class Layer(_LayerModule):
    """Any layer a model file can name, built by its registered factory: ``Layer("eLayerNorm", rep, eps=1e-6)``.

    Keyword arguments are those of the YAML layer (the layer table of the guide's Layers page); representations may be
    given as eqnn.Representation objects or rep strings. forward takes (..., in_rep.size).

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular")
        >>> norm = eqnn.nn.Layer("eLayerNorm", rep, eps=1e-6)
        >>> norm.layer_type, norm.out_rep.size
        ('eLayerNorm', 16)
    """

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
        """Applies the layer: (..., in_rep.size) -> (..., out_rep.size)."""
        return self._eqnn_ready().forward(x)


@_document_defaults("eLinear")
class ELinear(_LayerModule):
    """y = x Wᵀ + b with W in Hom_G(in_rep, out_rep) and b invariant: the equivariant torch.nn.Linear.

    Args:
        in_rep: the representation of the input features (size = in_features).
        out_rep: the representation of the output features (size = out_features).
        bias: add an invariant bias (default {bias}); none is added when out_rep has no trivial part.
        device, dtype: as torch.nn.Linear.
        init_scheme: {init_scheme!r} (the default: torch.nn.Linear's own initialisation, restricted to the
            equivariant maps with the same per-entry variance), xavier_normal, xavier_uniform,
            kaiming_normal, kaiming_uniform or zeros (these set W; b then starts at zero).
        weight_constraint, bias_constraint: registry names of the constraints (default
            {weight_constraint!r} and {bias_constraint!r}).
        execution: how x Wᵀ is computed (default {execution!r}): ``"dense"`` (W expanded, one product),
            ``"isotypic"`` (block-diagonal in the isotypic bases; refused when the representations offer no
            plan) or ``"auto"`` (per call, by a cost model). The same function and parameters either way.

    An argument left at None takes the default of the C++ ``ELinearOptions`` (``options`` reports what the
    module holds). Parameters: ``weight_coefficients`` (and ``bias_coefficients``);
    ``effective_parameters()`` gives W, b. forward: (..., in_rep.size) -> (..., out_rep.size).

    Example:
        >>> G = eqnn.group("D4")
        >>> x, h = eqnn.rep(G, "permutation(vertices)"), eqnn.rep(G, "2x regular")
        >>> layer = eqnn.nn.ELinear(x, h)
        >>> layer(torch.randn(5, 4)).shape
        torch.Size([5, 16])
        >>> eqnn.hom(x, h).dim, layer.weight_coefficients.numel()  # free coefficients of W
        (8, 8)
        >>> eqnn.check_equivariance(layer, x, h) < 1e-10
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        bias: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
        execution: Optional[str] = None,
    ):
        options = _given(bias=bias, init_scheme=init_scheme, weight_constraint=weight_constraint,
                         bias_constraint=bias_constraint, execution=execution)
        super().__init__(lambda: _C.make_linear(in_rep, out_rep, **options), device, dtype)
        self.in_features = in_rep.size
        self.out_features = out_rep.size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x Wᵀ + b: (..., in_rep.size) -> (..., out_rep.size)."""
        return self._eqnn_ready().forward(x)


def _copy_structure(rep: Representation) -> tuple:
    """(Q (D, D) float64, copy index of each column of Q (D,) long, number of copies, Q's trivial columns
    (num_trivial,) long): the irreducible copies of ``rep`` are Q's column blocks in the order of rep.irreps."""
    dims = [rep.group.irreps[k].dim for k in rep.irreps]
    copy_of = torch.repeat_interleave(torch.arange(len(dims)), torch.tensor(dims, dtype=torch.long))
    starts = torch.cumsum(torch.tensor([0] + dims[:-1], dtype=torch.long), 0)
    trivial = starts[torch.tensor([k == 0 for k in rep.irreps], dtype=torch.bool)]
    return rep.change_of_basis, copy_of, len(dims), trivial


def _invariant_coefficients(module: torch.nn.Module, name: str, b: torch.Tensor, atol: float) -> torch.Tensor:
    """The coefficients of the constrained bias ``name`` of ``module`` whose bias is the dense vector ``b``
    (the least-squares solution, refused when b is not invariant within atol). The bias is linear in its
    coefficients: its basis is read off the module with torch.func.functional_call, in float64."""
    size = module.in_rep.size
    b = torch.as_tensor(b).detach().to(torch.float64).cpu()
    if b.shape != (size,):
        raise ValueError(f"{type(module).__name__}: expected a bias of shape ({size},), got {tuple(b.shape)}")
    theta = getattr(module, name)
    zeros = torch.zeros(size, dtype=torch.float64, device=theta.device)
    given = {n: p.detach().to(torch.float64) for n, p in module.named_parameters()}
    if "scale" in given:
        given["scale"] = torch.ones_like(given["scale"])
    columns = []
    with torch.no_grad():
        for i in range(theta.numel()):
            given[name] = torch.zeros(theta.numel(), dtype=torch.float64, device=theta.device)
            given[name][i] = 1.0
            columns.append(torch.func.functional_call(module, given, (zeros,)).cpu())
    basis = torch.stack(columns, dim=1)
    coefficients = torch.linalg.lstsq(basis, b.unsqueeze(1)).solution.squeeze(1)
    residual = (basis @ coefficients - b).abs().max().item()
    if residual > atol:
        raise ValueError(f"{type(module).__name__}: the bias is not invariant under {module.in_rep.name} (it is "
                         f"{residual:.3g} away from the invariant vectors, atol {atol:g})")
    return coefficients.to(dtype=theta.dtype, device=theta.device)


@_document_defaults("eInvariantBias")
class EInvariantBias(Layer):
    """y = x + b with b a learnable invariant vector (rho(g) b = b for every g): symm_learning's InvariantBias.

    Args:
        in_rep: the representation of the features (in_rep = out_rep). It must have a trivial part: otherwise
            the only invariant vector is 0, there is nothing to learn, and a ValueError says so.
        device, dtype: as torch.nn.Linear.
        bias_constraint: registry name of the constraint (default {bias_constraint!r}).

    Parameter ``bias_coefficients`` (InvariantConstraint coefficients, as ELinear's bias), starting at zero
    (symm_learning's ``zeros`` init draws uniform values; this one is zero). The dense bias is the ``bias``
    property; ``load_bias(b)`` sets it from a dense invariant vector. ``effective_parameters()`` is empty: no
    stock module adds a bias alone, so export refuses a model holding one, by name.

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular")
        >>> layer = eqnn.nn.EInvariantBias(rep)
        >>> layer.bias_coefficients.numel()                       # one per trivial copy
        2
        >>> x = torch.randn(5, 16)
        >>> torch.equal(layer(x), x)                              # zero at the start
        True
        >>> layer.load_bias(torch.full((16,), 0.5))
        >>> torch.allclose(layer(x), x + 0.5, atol=1e-6)
        True
    """

    def __init__(self, in_rep: Representation, device=None, dtype=None, *, bias_constraint: Optional[str] = None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(bias_constraint=bias_constraint))

    @property
    def bias(self) -> torch.Tensor:
        """The dense invariant bias b (D), differentiable in ``bias_coefficients``."""
        theta = self.bias_coefficients
        return self(torch.zeros(self.in_rep.size, dtype=theta.dtype, device=theta.device))

    def load_bias(self, b: torch.Tensor, atol: float = 1e-6) -> None:
        """Sets ``bias_coefficients`` so that the bias is the dense vector ``b`` (D), which must be invariant
        within ``atol`` (e.g. the ``bias`` of a symm_learning InvariantBias)."""
        coefficients = _invariant_coefficients(self, "bias_coefficients", b, atol)
        with torch.no_grad():
            self.bias_coefficients.copy_(coefficients)


@_document_defaults("eTensorProduct")
class ETensorProduct(Layer):
    """z = W (x ⊗ y) + b with W in Hom_G(in_rep ⊗ in2_rep, out_rep) and b invariant: e3nn's fully connected
    tensor product (one weight per path l1 ⊗ l2 → l3 and per triple of copies) and the equivariant
    torch.nn.Bilinear. The product is decomposed by Clebsch–Gordan coefficients on a compact group (SO3, O3,
    SO2, O2) and numerically on a finite one.

    Args:
        in_rep: the representation of x (in1_features).
        out_rep: the representation of z.
        in2_rep: the representation of y (default: in_rep, and forward(x) computes x ⊗ x).
        device, dtype: as torch.nn.Bilinear.
        bias: an invariant bias (default {bias}).
        init_scheme: as ELinear's, for the map from the D_1·D_2 products (default {init_scheme!r}).
        weight_constraint, bias_constraint: registry names (default {weight_constraint!r}, {bias_constraint!r}).
        execution: as ELinear's (default {execution!r}).

    ``effective_parameters()`` are torch.nn.Bilinear's ``weight`` (D_out, D_1, D_2) and ``bias``.

    Example:
        >>> so3 = eqnn.group("SO3")
        >>> tp = eqnn.nn.ETensorProduct(eqnn.rep(so3, "2x irrep(1)"), eqnn.rep(so3, "trivial + irrep(1) + irrep(2)"),
        ...                             in2_rep=eqnn.rep(so3, "irrep(1)"))
        >>> tp(torch.randn(5, 6), torch.randn(5, 3)).shape
        torch.Size([5, 9])
    """

    def __init__(self, in_rep: Representation, out_rep: Union[Representation, str],
                 in2_rep: Optional[Union[Representation, str]] = None, device=None, dtype=None, *,
                 bias: Optional[bool] = None, init_scheme: Optional[str] = None,
                 weight_constraint: Optional[str] = None, bias_constraint: Optional[str] = None,
                 execution: Optional[str] = None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(out_rep=out_rep, in2_rep=in2_rep, bias=bias, init_scheme=init_scheme,
                                  weight_constraint=weight_constraint, bias_constraint=bias_constraint,
                                  execution=execution))

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x (..., D_1) and y (..., D_2) with the same leading dimensions -> (..., D_out); without y, x ⊗ x."""
        if y is None:
            return self._eqnn_ready().forward(x)
        return self._eqnn_ready().forward_with(x, [y])


@_document_defaults("eAffine")
class EAffine(_LayerModule):
    """y = Q diag(alpha) Q^T x + b: one scale per irreducible copy of in_rep and an invariant bias
    (symm_learning's eAffine). Q is ``in_rep.change_of_basis`` and the copies are its column blocks in the
    order of ``in_rep.irreps``.

    Args:
        in_rep: the representation of the features (in_rep = out_rep).
        bias: an invariant bias (default {bias}); none when in_rep has no trivial part.
        device, dtype: as torch.nn.Linear.
        learnable: (default {learnable}) the scale and bias are parameters, ``scale`` (num_copies, starting at
            1) and ``bias_coefficients`` (InvariantConstraint coefficients, starting at 0); False is FiLM mode:
            no parameters, forward takes ``scale_dof`` and ``bias_dof``.
        bias_constraint: registry name of the learnable bias' constraint (default {bias_constraint!r}).

    forward(x, scale_dof=None, bias_dof=None): x (..., D). In FiLM mode ``scale_dof`` (..., num_copies) and,
    when the layer has a bias, ``bias_dof`` (..., num_trivial) are required; their leading dimensions
    broadcast against x's leading dimensions and must not enlarge them (the output has x's shape). bias_dof
    holds coefficients in the basis of in_rep's trivial copies (Q's trivial columns: b = Q_triv bias_dof), as
    symm_learning's. In learnable mode passing either is an error (symm_learning ignores them silently).

    Learnable mode computes the stock torch.nn.Linear(D, D) with weight Q diag(alpha) Q^T and bias b:
    ``effective_parameters()`` gives both and export writes a stock Linear. FiLM mode has nothing to export.
    ``load_dense(weight, bias)`` sets alpha and b from dense values (e.g. a symm_learning eAffine's).

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular")
        >>> affine = eqnn.nn.EAffine(rep)
        >>> affine.num_copies, affine.num_trivial, affine.scale.shape
        (12, 2, torch.Size([12]))
        >>> eqnn.check_equivariance(affine, rep, rep) < 1e-10
        True
        >>> film = eqnn.nn.EAffine(rep, learnable=False)
        >>> x = torch.randn(5, 16)
        >>> film(x, torch.randn(5, 12), torch.randn(5, 2)).shape
        torch.Size([5, 16])
    """

    def __init__(
        self,
        in_rep: Representation,
        bias: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        learnable: Optional[bool] = None,
        bias_constraint: Optional[str] = None,
    ):
        options = _given(bias=bias, learnable=learnable, bias_constraint=bias_constraint)
        super().__init__(lambda: _C.make_affine(in_rep, **options), device, dtype)
        held = self.options
        self.learnable = held["learnable"]
        self.has_bias = (held["bias"] and self.num_trivial > 0
                         and (not self.learnable or "bias_coefficients" in dict(self.named_parameters())))

    @property
    def num_copies(self) -> int:
        """Number of irreducible copies of in_rep: the length of the scale."""
        return len(self.in_rep.irreps)

    @property
    def num_trivial(self) -> int:
        """Number of trivial copies of in_rep: the length of bias_dof in FiLM mode."""
        return sum(1 for k in self.in_rep.irreps if k == 0)

    def forward(self, x: torch.Tensor, scale_dof: Optional[torch.Tensor] = None,
                bias_dof: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Q diag(alpha) Q^T x + b: (..., D) -> (..., D); alpha = scale_dof and b = Q_triv bias_dof in FiLM
        mode."""
        return self._eqnn_ready().affine(x, scale_dof, bias_dof)

    def load_dense(self, weight: torch.Tensor, bias: Optional[torch.Tensor] = None, atol: float = 1e-6) -> None:
        """Sets ``scale`` (and ``bias_coefficients``) from a dense weight Q diag(alpha) Q^T (D, D) and bias
        (D): alpha_c is the mean of diag(Q^T W Q) over copy c's columns, refused when W is not of that form
        for this rep's Q within ``atol`` (a different cut into copies where a multiplicity exceeds 1 gives a
        different Q: build the rep with the other library's Q then). Learnable mode only."""
        if not self.learnable:
            raise ValueError("EAffine.load_dense: a FiLM EAffine (learnable=False) has no parameters; pass the "
                             "values to forward as scale_dof and bias_dof")
        Q, copy_of, n, _ = _copy_structure(self.in_rep)
        W = torch.as_tensor(weight).detach().to(torch.float64).cpu()
        D = self.in_rep.size
        if W.shape != (D, D):
            raise ValueError(f"EAffine.load_dense: expected a weight of shape ({D}, {D}), got {tuple(W.shape)}")
        diagonal = torch.diagonal(Q.T @ W @ Q)
        alpha = torch.zeros(n, dtype=torch.float64).index_add_(0, copy_of, diagonal)
        alpha /= torch.bincount(copy_of, minlength=n).to(torch.float64)
        residual = ((Q * alpha[copy_of]) @ Q.T - W).abs().max().item()
        if residual > atol:
            raise ValueError(f"EAffine.load_dense: the weight is not Q diag(alpha) Q^T for this rep's change of basis "
                             f"({residual:.3g} away, atol {atol:g})")
        coefficients = None
        if bias is not None:
            if not self.has_bias:
                raise ValueError("EAffine.load_dense: this layer has no bias (bias=False or no trivial part), but a "
                                 "bias was given")
            coefficients = _invariant_coefficients(self, "bias_coefficients", bias, atol)
        with torch.no_grad():
            self.scale.copy_(alpha)
            if coefficients is not None:
                self.bias_coefficients.copy_(coefficients)


class EMultivariateNormal(torch.nn.Module):
    """A Gaussian over out_rep with an equivariant mean and covariance (symm_learning's eMultivariateNormal).

    forward takes (..., D + num_copies) = [mu | one log-variance per irreducible copy of out_rep] (D =
    out_rep.size; the log-variances are invariant inputs) and returns
    torch.distributions.MultivariateNormal(mu, Sigma) with Sigma = Q diag(sigma^2) Q^T, where Q is
    ``out_rep.change_of_basis``, copy c (Q's column blocks in the order of out_rep.irreps) has variance
    sigma_c^2 = exp(log-variance_c) + eps on each of its columns. Sigma commutes with every rho(g), so
    Sigma(rho(g)-transformed input) = rho(g) Sigma rho(g)^T and the density is invariant:
    p(rho(g) y | rho(g) mu, ...) = p(y | mu, ...).

    symm_learning uses diag((Q*Q) (exp(lv) + 1e-6)), the diagonal of this Sigma only: equivariant for
    permutation representations in their own basis (the diagonal of a matrix commuting with the permutations
    is permuted with them), but not for a representation in another basis, where the diagonal of rho(g) Sigma
    rho(g)^T differs from Sigma's; and even on permutation reps it drops the correlations between the
    coordinates of a copy. Here the covariance is the full Q diag(sigma^2) Q^T, equivariant for every rep.

    Args:
        out_rep: the representation of the sampled space.
        diagonal: only True (diagonal in the irrep basis: one variance per copy), as symm_learning.
        eps: the variance floor added to exp(log-variance) (default 1e-6, symm_learning's).

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "regular")
        >>> normal = eqnn.nn.EMultivariateNormal(rep)
        >>> normal.num_copies, normal.in_features
        (3, 7)
        >>> dist = normal(torch.randn(5, 7))
        >>> dist.sample().shape, dist.log_prob(torch.randn(5, 4)).shape
        (torch.Size([5, 4]), torch.Size([5]))
    """

    def __init__(self, out_rep: Representation, diagonal: bool = True, eps: float = 1e-6):
        super().__init__()
        if not diagonal:
            raise ValueError("EMultivariateNormal: only diagonal=True (one variance per irreducible copy of "
                             "out_rep, Sigma = Q diag(sigma^2) Q^T) is implemented, as in symm_learning")
        if not (eps >= 0 and eps < float("inf")):
            raise ValueError(f"EMultivariateNormal: eps must be a finite number >= 0, got {eps}")
        self.out_rep = out_rep
        self.eps = float(eps)
        Q, copy_of, n, _ = _copy_structure(out_rep)
        self.num_copies = n
        self.in_features = out_rep.size + n
        # Float64 masters, converted to each input's dtype and device (no float32 rounding of Q in float64).
        self._Q = Q
        self._copy_of = copy_of

    def covariance(self, log_variance: torch.Tensor) -> torch.Tensor:
        """Sigma = Q diag(exp(log_variance) + eps spread over each copy's columns) Q^T: (..., num_copies) ->
        (..., D, D)."""
        variance = torch.exp(log_variance)[..., self._copy_of.to(log_variance.device)] + self.eps
        Q = self._Q.to(dtype=variance.dtype, device=variance.device)
        return (Q * variance.unsqueeze(-2)) @ Q.T

    def forward(self, input: torch.Tensor) -> torch.distributions.MultivariateNormal:
        """(..., D + num_copies) -> MultivariateNormal with batch shape (...) and event shape (D,)."""
        if input.dim() < 1 or input.shape[-1] != self.in_features:
            raise ValueError(f"EMultivariateNormal: expected input of shape (..., {self.in_features}) = [mean "
                             f"({self.out_rep.size}) | log-variance per irreducible copy ({self.num_copies})] for "
                             f"out_rep {self.out_rep.name}, got {tuple(input.shape)}")
        D = self.out_rep.size
        covariance = self.covariance(input[..., D:])
        covariance = (covariance + covariance.transpose(-1, -2)) / 2  # exactly symmetric for the Cholesky check
        return torch.distributions.MultivariateNormal(input[..., :D], covariance_matrix=covariance)

    def extra_repr(self) -> str:
        """The configuration shown by repr(): out_rep, num_copies and eps."""
        return f"out_rep={self.out_rep.name}, num_copies={self.num_copies}, eps={self.eps:g}"


@_document_defaults("eMultiheadAttention")
class EMultiheadAttention(_LayerModule):
    """Multi-head attention, exactly equivariant for any in_rep whose size is a multiple of |G|; a drop-in
    for torch.nn.MultiheadAttention (same arguments in the same order, same forward arguments and return
    values).

    Args:
        in_rep: the representation of the embeddings (size = embed_dim).
        num_heads: number of heads; must divide m = in_rep.size/|G| (heads hold whole regular copies).
        dropout: dropout on the attention weights (default {dropout}).
        bias: invariant in-projection and out-projection biases (default {bias}).
        add_bias_kv, add_zero_attn: refused with a ValueError when True (they break equivariance; default
            {add_bias_kv} and {add_zero_attn}).
        kdim, vdim: None or in_rep.size (keys and values live in in_rep as well).
        batch_first: inputs are (batch, seq, feature) instead of (seq, batch, feature) (default {batch_first}).
        device, dtype: as torch.nn.MultiheadAttention.
        init_scheme: {init_scheme!r} (the default: torch.nn.MultiheadAttention's own initialisation) or a
            named scheme as ELinear's.
        weight_constraint, bias_constraint: registry names of the constraints (default
            {weight_constraint!r} and {bias_constraint!r}).
        execution: how the projections are computed (default {execution!r}): ``"dense"``, ``"isotypic"``
            (q, k, v and the attention in each head's isotypic basis, block-diagonal projections) or ``"auto"``;
            see ELinear.

    An argument left at None takes the default of the C++ ``EMultiheadAttentionOptions`` (``options``
    reports what the module holds). Q, K and V live in m regular copies.

    Example:
        >>> G = eqnn.group("C4")
        >>> rep = eqnn.rep(G, "4x regular")                       # embed_dim 16 = 4 copies of |G|
        >>> attn = eqnn.nn.EMultiheadAttention(rep, num_heads=2, batch_first=True)
        >>> x = torch.randn(3, 7, 16)                             # (batch, seq, embed_dim)
        >>> out, weights = attn(x, x, x)
        >>> out.shape, weights.shape
        (torch.Size([3, 7, 16]), torch.Size([3, 7, 7]))
        >>> eqnn.check_equivariance(attn, rep, rep) < 1e-10
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        num_heads: int,
        dropout: Optional[float] = None,
        bias: Optional[bool] = None,
        add_bias_kv: Optional[bool] = None,
        add_zero_attn: Optional[bool] = None,
        kdim: Optional[int] = None,
        vdim: Optional[int] = None,
        batch_first: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
        execution: Optional[str] = None,
    ):
        for name, dim in (("kdim", kdim), ("vdim", vdim)):
            if dim is not None and dim != in_rep.size:
                raise ValueError(f"EMultiheadAttention: {name} = {dim} is not supported: keys and values live in "
                                 f"in_rep (size {in_rep.size}); give {name}=None or {in_rep.size}")
        options = _given(dropout=dropout, bias=bias, add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn,
                         batch_first=batch_first, init_scheme=init_scheme, weight_constraint=weight_constraint,
                         bias_constraint=bias_constraint, execution=execution)
        super().__init__(lambda: _C.make_attention(in_rep, num_heads, **options), device, dtype)
        held = self.options
        self.embed_dim = in_rep.size
        self.kdim = self.vdim = in_rep.size
        self.num_heads = held["num_heads"]
        self.dropout = held["dropout"]
        self.batch_first = held["batch_first"]
        self.head_dim = self.embed_dim // self.num_heads

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
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
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


class _PositionalAttention(Layer):
    """Base of the positional attention layers: an EMultiheadAttention ``attn`` plus positions, with
    symm_learning's forward (keyword-only positions and masks, batch-first by default)."""

    def __init__(self, in_rep: Representation, device=None, dtype=None, **options: Any):
        if not isinstance(in_rep, Representation):
            raise TypeError(f"{self._layer_type}: in_rep must be an eqnn.Representation, got "
                            f"{in_rep.__class__.__name__}")
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, **_given(**options))
        held = self.options
        self.embed_dim = in_rep.size
        self.num_heads = held["num_heads"]
        self.dropout = held["dropout"]
        self.batch_first = held["batch_first"]
        self.head_dim = self.embed_dim // self.num_heads

    def forward(
        self,
        query: torch.Tensor,
        key: Optional[torch.Tensor] = None,
        value: Optional[torch.Tensor] = None,
        *,
        q_positions: Optional[torch.Tensor] = None,
        k_positions: Optional[torch.Tensor] = None,
        q_position_mask: Optional[torch.Tensor] = None,
        k_position_mask: Optional[torch.Tensor] = None,
        attn_mask: Optional[torch.Tensor] = None,
        key_padding_mask: Optional[torch.Tensor] = None,
        need_weights: bool = False,
        is_causal: bool = False,
        average_attn_weights: bool = True,
    ) -> tuple[torch.Tensor, Optional[torch.Tensor]]:
        """symm_learning's positional forward: (attn_output, attn_weights or None). Positions (L), (1, L) or
        (N, L) (default arange), position masks bool in the same layouts (True = has a position); masks as
        EMultiheadAttention's. ``is_causal`` is a hint that ``attn_mask`` is the causal mask: the mask is
        required and is what is applied. Without key (value), key = query (value = key): self-attention."""
        key = query if key is None else key
        value = key if value is None else value
        if is_causal and attn_mask is None:
            raise RuntimeError(f"{type(self).__name__}: is_causal needs attn_mask (the causal mask is what is "
                               "applied); build it with torch.nn.Transformer.generate_square_subsequent_mask")
        _check_mask(attn_mask, "attn_mask")
        _check_mask(key_padding_mask, "key_padding_mask")
        return self._eqnn_ready().positional_attention(
            query, key, value, q_positions, k_positions, q_position_mask, k_position_mask, key_padding_mask,
            need_weights, attn_mask, average_attn_weights)

    def dense_parameters(self) -> dict:
        """The inner attention's effective tensors (torch.nn.MultiheadAttention's names) and the layer's own
        dense ones (``pos_emb`` and ``pos_emb_basis``, or ``rel_bias``), detached."""
        return {k: v.detach() for k, v in self._eqnn_ready().positional_parameters()}


@_document_defaults("eRoPEMultiheadAttention")
class ERoPEMultiheadAttention(_PositionalAttention):
    """Equivariant rotary attention: the queries and keys of every head rotated by position, then
    EMultiheadAttention; exactly equivariant on every group element, logits depending on position
    differences only. (In neither symm_learning nor escnn; its arguments follow symm_learning's
    RoPEMultiheadAttention.)

    A head holds c = m/num_heads regular copies (m = in_rep.size/|G|), and RoPE at position p rotates
    copies 2i and 2i+1 by the angle p·theta_i, theta_i = rope_base^(-2i/c), at every group coordinate: the
    map R_p ⊗ I_|G| commutes with the group action on the copies, so it keeps q and k equivariant.

    Args:
        in_rep: the representation of the embeddings: any rep of size m·|G|, as EMultiheadAttention's.
        num_heads: number of heads; must divide m with m/num_heads even (RoPE rotates pairs of copies).
        dropout: dropout on the attention weights (default {dropout}).
        bias: invariant in/out-projection biases (default {bias}).
        rope_base: the frequency base (default {rope_base}).
        batch_first: (batch, seq, feature) inputs (default {batch_first}, as symm_learning).
        device, dtype: as torch.nn.MultiheadAttention.
        init_scheme: {init_scheme!r} or a named scheme, as EMultiheadAttention's.
        weight_constraint, bias_constraint: registry names of the constraints (default
            {weight_constraint!r} and {bias_constraint!r}).

    Parameters ``attn.*`` (an EMultiheadAttention's); ``effective_parameters()`` is empty (no stock module
    computes this function), ``dense_parameters()`` gives the attention's tensors.

    Example:
        >>> G = eqnn.group("C4")
        >>> rep = eqnn.rep(G, "4x regular")
        >>> attn = eqnn.nn.ERoPEMultiheadAttention(rep, num_heads=2)
        >>> x = torch.randn(3, 7, 16)
        >>> out, _ = attn(x, x, x, q_positions=torch.arange(7), k_positions=torch.arange(7))
        >>> shifted, _ = attn(x, x, x, q_positions=torch.arange(7) + 5, k_positions=torch.arange(7) + 5)
        >>> torch.allclose(out, shifted, atol=1e-5)
        True
        >>> eqnn.check_equivariance(attn, rep, rep) < 1e-10
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        num_heads: int,
        dropout: Optional[float] = None,
        bias: Optional[bool] = None,
        rope_base: Optional[float] = None,
        device=None,
        dtype=None,
        *,
        batch_first: Optional[bool] = None,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
    ):
        super().__init__(in_rep, device, dtype, num_heads=num_heads, dropout=dropout, bias=bias,
                         rope_base=rope_base, batch_first=batch_first, init_scheme=init_scheme,
                         weight_constraint=weight_constraint, bias_constraint=bias_constraint)
        self.rope_base = self.options["rope_base"]


@_document_defaults("eAdditivePosMultiheadAttention")
class EAdditivePosMultiheadAttention(_PositionalAttention):
    """Equivariant attention with learned absolute positions: q + pos_emb[p_q], k + pos_emb[p_k] (v
    unchanged), then EMultiheadAttention; every row of pos_emb is invariant, so rho(g)x + e = rho(g)(x + e).
    symm_learning's eAdditivePosMultiheadAttention.

    Args:
        in_rep: the representation of the embeddings (size m·|G|); it needs a trivial part (else the only
            invariant embedding is 0: a ConfigError names the layers that serve it).
        num_heads: number of heads; must divide m.
        max_len: positions are integers in [0, max_len), checked where the position mask is True
            (symm_learning wraps negative positions silently).
        dropout, bias, batch_first, device, dtype, init_scheme, weight_constraint, bias_constraint: as
            ERoPEMultiheadAttention (defaults {dropout}, {bias}, {batch_first}, {init_scheme!r},
            {weight_constraint!r}, {bias_constraint!r}).

    Parameters ``attn.*`` and ``pos_emb_coefficients`` (max_len, number of trivial copies), drawn at
    construction as symm_learning's reset_parameters does (N(0, 0.02²) rows projected on the invariant
    vectors). ``pos_emb`` is the dense table (max_len, D).

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular")
        >>> attn = eqnn.nn.EAdditivePosMultiheadAttention(rep, 2, max_len=32)
        >>> x = torch.randn(3, 7, 16)
        >>> attn(x, x, x, q_positions=torch.arange(7) + 3)[0].shape
        torch.Size([3, 7, 16])
        >>> attn.pos_emb.shape
        torch.Size([32, 16])
    """

    def __init__(
        self,
        in_rep: Representation,
        num_heads: int,
        *,
        max_len: int,
        dropout: Optional[float] = None,
        bias: Optional[bool] = None,
        batch_first: Optional[bool] = None,
        device=None,
        dtype=None,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
    ):
        super().__init__(in_rep, device, dtype, num_heads=num_heads, max_len=max_len, dropout=dropout, bias=bias,
                         batch_first=batch_first, init_scheme=init_scheme, weight_constraint=weight_constraint,
                         bias_constraint=bias_constraint)
        self.max_len = self.options["max_len"]

    @property
    def pos_emb(self) -> torch.Tensor:
        """The dense embedding table (max_len, D), differentiable in ``pos_emb_coefficients``."""
        basis = self.dense_parameters()["pos_emb_basis"]
        theta = self.pos_emb_coefficients
        return theta @ basis.to(dtype=theta.dtype, device=theta.device).T


@_document_defaults("eAdditiveRelMultiheadAttention")
class EAdditiveRelMultiheadAttention(_PositionalAttention):
    """Equivariant attention with a learned relative-position bias: the logits of query l and key s lose
    rel_bias[clip(p_l - p_s, ±max_distance) + max_distance] (one scalar shared by all heads, 0 for a pair
    without positions), then EMultiheadAttention. symm_learning's eAdditiveRelMultiheadAttention.

    Args:
        in_rep: the representation of the embeddings (size m·|G|).
        num_heads: number of heads; must divide m.
        max_distance: distances are clipped to [-max_distance, max_distance].
        dropout, bias, batch_first, device, dtype, init_scheme, weight_constraint, bias_constraint: as
            ERoPEMultiheadAttention (defaults {dropout}, {bias}, {batch_first}, {init_scheme!r},
            {weight_constraint!r}, {bias_constraint!r}).

    Parameters ``attn.*`` and ``rel_bias`` (2·max_distance + 1), drawn N(0, 0.02²) at construction.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "2x regular")
        >>> attn = eqnn.nn.EAdditiveRelMultiheadAttention(rep, 1, max_distance=4)
        >>> x = torch.randn(2, 5, 8)
        >>> out, weights = attn(x, x, x, need_weights=True)
        >>> out.shape, weights.shape
        (torch.Size([2, 5, 8]), torch.Size([2, 5, 5]))
    """

    def __init__(
        self,
        in_rep: Representation,
        num_heads: int,
        *,
        max_distance: int,
        dropout: Optional[float] = None,
        bias: Optional[bool] = None,
        batch_first: Optional[bool] = None,
        device=None,
        dtype=None,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
    ):
        super().__init__(in_rep, device, dtype, num_heads=num_heads, max_distance=max_distance, dropout=dropout,
                         bias=bias, batch_first=batch_first, init_scheme=init_scheme,
                         weight_constraint=weight_constraint, bias_constraint=bias_constraint)
        self.max_distance = self.options["max_distance"]


def _check_mask(mask: Optional[torch.Tensor], name: str) -> None:
    """The C++ module takes bool (True masks out) and floating-point (added) masks; torch refuses others."""
    if mask is not None and mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")


class _Norm(Layer):
    """A normalisation over in_rep with torch's (eps, elementwise_affine) arguments and eqnn's keyword-only
    ``affine`` (where the scales live) and ``normalize`` (the statistic); the C++ Options give the defaults."""

    def __init__(
        self,
        in_rep: Representation,
        eps: Optional[float] = None,
        elementwise_affine: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        affine: Optional[str] = None,
        normalize: Optional[str] = None,
    ):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(eps=eps, elementwise_affine=elementwise_affine, affine=affine,
                                  normalize=normalize))


@_document_defaults("eLayerNorm")
class ELayerNorm(_Norm):
    """LayerNorm that commutes with the group action: the stock torch.nn.LayerNorm wherever the stock
    statistics are equivariant (permutation representations), generalised elsewhere.

    Args:
        in_rep: the representation normalised over (size = normalized_shape).
        eps: added to the variance, > 0 (default {eps}).
        elementwise_affine: a learnable scale and an invariant bias (default {elementwise_affine}).
        device, dtype: as torch.nn.LayerNorm.
        affine: where the scales live (keyword-only, default {affine!r}): per_field, one per orbit of a
            permutation rep (torch's weight tied per orbit, exportable), per feature of an all-invariant rep,
            per irrep copy otherwise; or per_copy, one per irreducible copy in the rep's basis Q,
            y = Q diag(weight) Qᵀ x̂ + bias (symm_learning's eAffine).
        normalize: the statistic (keyword-only, default {normalize!r}): all, the mean and variance over all
            features (torch's); or per_copy, each irreducible copy of Qᵀx divided by its own RMS without
            centring (symm_learning's eLayerNorm: with affine="per_copy" it is that layer; a 1-dim copy
            then comes out as ±1 whatever its size).

    An argument left at None takes the default of the C++ ``ELayerNormOptions``.

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "3x regular")
        >>> norm = eqnn.nn.ELayerNorm(rep)
        >>> norm(torch.randn(5, 24)).shape
        torch.Size([5, 24])
        >>> eqnn.check_equivariance(norm, rep, rep) < 1e-10
        True
        >>> eqnn.nn.ELayerNorm(rep, affine="per_copy").weight.shape  # 6 irrep copies per regular
        torch.Size([18])
    """


@_document_defaults("eRMSNorm")
class ERMSNorm(_Norm):
    """RMSNorm that commutes with the group action: x / sqrt(mean(x²) + eps), then the scales.

    Args:
        in_rep: the representation normalised over (size = normalized_shape).
        eps: added to the mean square, > 0 (default {eps}).
        elementwise_affine: learnable scales (default {elementwise_affine}).
        device, dtype: as torch.nn.RMSNorm.
        affine: per_field or per_copy, as ELayerNorm (keyword-only, default {affine!r}); per_copy is
            symm_learning's eRMSNorm.
        normalize: all or per_copy, as ELayerNorm (keyword-only, default {normalize!r}).

    An argument left at None takes the default of the C++ ``ERMSNormOptions``.

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular + standard")
        >>> norm = eqnn.nn.ERMSNorm(rep)
        >>> norm(torch.randn(5, 18)).shape
        torch.Size([5, 18])
        >>> eqnn.check_equivariance(norm, rep, rep) < 1e-10
        True
    """


@_document_defaults("eBatchNorm1d")
class EBatchNorm1d(Layer):
    """BatchNorm1d that commutes with the group action, for any representation: torch.nn.BatchNorm1d's
    arguments and semantics with the mean projected onto the invariant vectors and one variance per
    irreducible copy.

    Args:
        in_rep: the representation of the features (size = num_features).
        eps: added to the variance, > 0 (default {eps}).
        momentum: weight of the batch statistic in the running averages (default {momentum}); torch's
            ``momentum=None`` (cumulative average) is written ``momentum="cumulative"`` here, because None
            means "the C++ default" throughout eqnn.nn.
        affine: a learnable scale per irreducible copy and an invariant bias (default {affine}).
        track_running_stats: keep running statistics and use them in eval mode (default
            {track_running_stats}).
        device, dtype: as torch.nn.BatchNorm1d.
        channels_last: keyword-only (default {channels_last}): input (..., D) with the statistics over
            every leading dim, instead of torch's (N, D) or (N, D, L).

    Parameters: ``weight`` (one per copy) and ``bias_coefficients`` (the invariant bias). Buffers, in
    state_dict as torch's: ``running_mean`` (D, invariant), ``running_var`` (one per irreducible copy, in
    the order of the rep's irreps), ``num_batches_tracked``. On an all-invariant rep (``"kx trivial"``,
    any rep of C1) it is torch.nn.BatchNorm1d and ``effective_parameters()`` gives its state_dict.

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular + standard")
        >>> bn = eqnn.nn.EBatchNorm1d(rep)
        >>> bn(torch.randn(8, 18, 3)).shape
        torch.Size([8, 18, 3])
        >>> bn.running_mean.shape, bn.running_var.shape  # 6 irrep copies per regular, + 1
        (torch.Size([18]), torch.Size([13]))
    """

    def __init__(
        self,
        in_rep: Representation,
        eps: Optional[float] = None,
        momentum: Optional[Any] = None,
        affine: Optional[bool] = None,
        track_running_stats: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        channels_last: Optional[bool] = None,
    ):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(eps=eps, momentum=momentum, affine=affine,
                                  track_running_stats=track_running_stats, channels_last=channels_last))


class _Activation(Layer):
    """A pointwise nonlinearity: equivariant only on a permutation representation (refused elsewhere with a
    ValueError that says why). No parameters; ``device``/``dtype`` are accepted for symmetry."""

    def __init__(self, in_rep: Representation, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype)


@_document_defaults("eReLU")
class EReLU(_Activation):
    """Pointwise ReLU (torch.nn.ReLU); in_rep must be a permutation representation.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C8"), "2x regular")
        >>> eqnn.check_equivariance(eqnn.nn.EReLU(rep), rep, rep) < 1e-10
        True
    """


@_document_defaults("eSiLU")
class ESiLU(_Activation):
    """Pointwise SiLU (torch.nn.SiLU); in_rep must be a permutation representation.

    Example:
        >>> act = eqnn.nn.ESiLU(eqnn.rep(eqnn.group("C8"), "2x regular"))
        >>> torch.equal(act(x := torch.randn(4, 16)), torch.nn.functional.silu(x))
        True
    """


@_document_defaults("eTanh")
class ETanh(_Activation):
    """Pointwise tanh (torch.nn.Tanh); in_rep must be a permutation representation.

    Example:
        >>> eqnn.nn.ETanh(eqnn.rep(eqnn.group("D4"), "standard"))   # not a permutation representation
        Traceback (most recent call last):
        ...
        eqnn.ConfigError: eTanh: a pointwise nonlinearity is equivariant only on a permutation representation ...
    """


@_document_defaults("eGELU")
class EGELU(Layer):
    """Pointwise GELU (torch.nn.GELU); in_rep must be a permutation representation.

    Args:
        in_rep: a permutation representation.
        approximate: 'none' or 'tanh' (default {approximate!r}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> rep = eqnn.rep(eqnn.group("C8"), "2x regular")
        >>> gelu = eqnn.nn.EGELU(rep, approximate="tanh")
        >>> torch.allclose(gelu(x := torch.randn(4, 16)), torch.nn.functional.gelu(x, approximate="tanh"))
        True
    """

    def __init__(self, in_rep: Representation, approximate: Optional[str] = None, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, **_given(approximate=approximate))


@_document_defaults("ePointwise")
class EPointwise(Layer):
    """Any supported function applied coordinate by coordinate; in_rep must be a permutation representation.

    Args:
        in_rep: a permutation representation.
        function: relu, gelu, silu, tanh, sigmoid, mish, softplus, elu or leaky_relu.
        approximate: gelu only: 'none' or 'tanh' (default {approximate!r}).
        negative_slope: leaky_relu only (default {negative_slope}).
        alpha: elu only (default {alpha}).
        beta, threshold: softplus only (defaults {beta}, {threshold}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "regular")
        >>> act = eqnn.nn.EPointwise(rep, "leaky_relu", negative_slope=0.2)
        >>> act(torch.tensor([[-1.0, 2.0, -3.0, 4.0, 0.0, -5.0, 6.0, -7.0]]))
        tensor([[-0.2000,  2.0000, -0.6000,  4.0000,  0.0000, -1.0000,  6.0000, -1.4000]])
    """

    def __init__(
        self,
        in_rep: Representation,
        function: str,
        approximate: Optional[str] = None,
        negative_slope: Optional[float] = None,
        alpha: Optional[float] = None,
        beta: Optional[float] = None,
        threshold: Optional[float] = None,
        device=None,
        dtype=None,
    ):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, function=function,
                         **_given(approximate=approximate, negative_slope=negative_slope, alpha=alpha, beta=beta,
                                  threshold=threshold))


@_document_defaults("eMish")
class EMish(_Activation):
    """Pointwise Mish (torch.nn.Mish); in_rep must be a permutation representation.

    Example:
        >>> act = eqnn.nn.EMish(eqnn.rep(eqnn.group("C8"), "2x regular"))
        >>> torch.equal(act(x := torch.randn(4, 16)), torch.nn.functional.mish(x))
        True
    """


@_document_defaults("eSigmoid")
class ESigmoid(_Activation):
    """Pointwise logistic sigmoid (torch.nn.Sigmoid); in_rep must be a permutation representation.

    Example:
        >>> act = eqnn.nn.ESigmoid(eqnn.rep(eqnn.group("D4"), "regular"))
        >>> torch.equal(act(x := torch.randn(4, 8)), torch.sigmoid(x))
        True
    """


@_document_defaults("eELU")
class EELU(Layer):
    """Pointwise ELU (torch.nn.ELU, without ``inplace``); in_rep must be a permutation representation.

    Args:
        in_rep: a permutation representation.
        alpha: the value for x -> -inf (default {alpha}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> act = eqnn.nn.EELU(eqnn.rep(eqnn.group("C8"), "regular"), alpha=0.5)
        >>> torch.equal(act(x := torch.randn(4, 8)), torch.nn.functional.elu(x, alpha=0.5))
        True
    """

    def __init__(self, in_rep: Representation, alpha: Optional[float] = None, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, **_given(alpha=alpha))


@_document_defaults("eLeakyReLU")
class ELeakyReLU(Layer):
    """Pointwise LeakyReLU (torch.nn.LeakyReLU, without ``inplace``); in_rep must be a permutation
    representation.

    Args:
        in_rep: a permutation representation.
        negative_slope: the slope for x < 0 (default {negative_slope}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> act = eqnn.nn.ELeakyReLU(eqnn.rep(eqnn.group("C8"), "regular"), 0.2)
        >>> torch.equal(act(x := torch.randn(4, 8)), torch.nn.functional.leaky_relu(x, 0.2))
        True
    """

    def __init__(self, in_rep: Representation, negative_slope: Optional[float] = None, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(negative_slope=negative_slope))


@_document_defaults("eSoftplus")
class ESoftplus(Layer):
    """Pointwise Softplus (torch.nn.Softplus): log(1 + exp(beta x)) / beta, x itself where beta x >
    threshold; in_rep must be a permutation representation.

    Args:
        in_rep: a permutation representation.
        beta: > 0 (default {beta}).
        threshold: above it the function is linear (default {threshold}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> act = eqnn.nn.ESoftplus(eqnn.rep(eqnn.group("C8"), "regular"), beta=2.0)
        >>> torch.equal(act(x := torch.randn(4, 8)), torch.nn.functional.softplus(x, beta=2.0))
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        beta: Optional[float] = None,
        threshold: Optional[float] = None,
        device=None,
        dtype=None,
    ):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(beta=beta, threshold=threshold))


@_document_defaults("eNormNonlinearity")
class ENormNonlinearity(Layer):
    """A nonlinearity for any orthogonal representation, acting on the norm of each irreducible copy of
    x̂ = Qᵀx (Q = in_rep's change of basis; copies in in_rep's irrep order), with a learnable bias b per copy:
    relu: x̂_c relu(n_c + b_c) / n_c; softplus: x̂_c softplus(n_c + b_c) / n_c; sigmoid: x̂_c sigmoid(n_c + b_c);
    squash: x̂_c / (1 + n_c) (no bias). Exactly equivariant; out_rep = in_rep.

    Args:
        in_rep: any representation.
        function: relu, sigmoid, softplus or squash (default {function!r}).
        bias: a learnable bias per irrep copy, starting at 0 (default {bias}; squash takes none, relu needs it).
        device, dtype: of the bias.

    Example:
        >>> rep = eqnn.rep(eqnn.group("D4"), "2x regular + standard")
        >>> act = eqnn.nn.ENormNonlinearity(rep, function="sigmoid")
        >>> act.out_rep.size, act.bias.shape
        (18, torch.Size([13]))
        >>> eqnn.check_equivariance(act, rep, rep) < 1e-10
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        function: Optional[str] = None,
        bias: Optional[bool] = None,
        device=None,
        dtype=None,
    ):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(function=function, bias=bias))


@_document_defaults("eFourierPointwise")
class EFourierPointwise(Layer):
    """A pointwise nonlinearity for a compact group's band-limited regular features (escnn's FourierPointwise;
    FourierELU with the default function): each copy of regular(L) is the Fourier transform of a function on
    the group, sampled on a grid of N elements, the function applied there, and projected back by least
    squares, y = A⁺ function(A x). Equivariant up to an error that falls as N grows (not exactly: the check
    reports it; the guide's compact groups page has the table).

    Args:
        in_rep: m copies of regular(L) of a compact group, e.g. ``"4x regular(2)"``.
        function: one of ePointwise's functions (default {function!r}).
        grid_size: N; 0 picks 16 elements per coefficient of regular(L) (default {grid_size}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> rep = eqnn.rep(eqnn.group("SO3"), "2x regular(1)")
        >>> act = eqnn.nn.EFourierPointwise(rep)
        >>> act(torch.randn(5, 20)).shape
        torch.Size([5, 20])
        >>> eqnn.check_equivariance(act, rep, rep) < 0.05                 # approximate: 160 grid elements
        True
    """

    def __init__(self, in_rep: Representation, function: Optional[str] = None, grid_size: Optional[int] = None,
                 device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype,
                         **_given(function=function, grid_size=grid_size))


@_document_defaults("eGatedNonlinearity")
class EGatedNonlinearity(Layer):
    """A gated nonlinearity for any orthogonal representation: in x̂ = Qᵀx, the first n trivial copies are
    the gates of the n non-trivial copies (in in_rep's irrep order; the i-th gates the i-th) and are dropped;
    each non-trivial copy is multiplied by function(its gate), each other trivial copy t by function(t).
    out_rep lists the kept copies in order (identity basis); in_rep needs at least n trivial copies.

    Args:
        in_rep: a representation with at least as many trivial as non-trivial irrep copies.
        function: the gate function: sigmoid, tanh or softplus (default {function!r}).
        device, dtype: accepted for symmetry (no parameters).

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "2x regular + 3x trivial + irrep(1)")
        >>> act = eqnn.nn.EGatedNonlinearity(rep)
        >>> act.out_rep.name, act(torch.randn(5, 12)).shape
        ('irrep(1) + irrep(2) + irrep(1) + irrep(2) + irrep(1) (size 7)', torch.Size([5, 7]))
        >>> eqnn.check_equivariance(act, rep, act.out_rep) < 1e-10
        True
    """

    def __init__(self, in_rep: Representation, function: Optional[str] = None, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, **_given(function=function))


@_document_defaults("eInvariantPool")
class EInvariantPool(Layer):
    """Projection onto the invariant subspace: out_rep is m₀x trivial (in_rep must contain the trivial
    irrep). No parameters; ``device``/``dtype`` are accepted for symmetry.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "3x regular")
        >>> pool = eqnn.nn.EInvariantPool(rep)
        >>> pool.out_rep.name, pool(torch.randn(2, 12)).shape
        ('3x trivial (size 3)', torch.Size([2, 3]))
    """

    def __init__(self, in_rep: Representation, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype)


@_document_defaults("eNormPool")
class ENormPool(Layer):
    """One Euclidean norm per irrep copy of in_rep: out_rep is trivial^(number of copies). No parameters;
    ``device``/``dtype`` are accepted for symmetry.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "regular")             # irreps: trivial, sign, a rotation (2-d)
        >>> pool = eqnn.nn.ENormPool(rep)
        >>> pool.out_rep.size, pool(torch.randn(2, 4)).shape
        (3, torch.Size([2, 3]))
        >>> trivial = eqnn.rep(eqnn.group("C4"), "3x trivial")
        >>> eqnn.check_equivariance(pool, rep, trivial) < 1e-10
        True
    """

    def __init__(self, in_rep: Representation, device=None, dtype=None):
        super().__init__(self._layer_type, in_rep, device=device, dtype=dtype)


class _Conv(Layer):
    """What EConv1d and EConvTranspose1d share: the C++ layer is the model files' one, which takes tokens
    features last; forward hands it torch's (N, C, L) as (N, L, C) and returns (N, C_out, L_out) (two
    transposed views: the C++ convolution sees the caller's own memory layout); (C, L) as a batch of one."""

    def _setup(self, in_rep: Representation, out_rep: Representation) -> None:
        held = self.options
        self.in_channels, self.out_channels = in_rep.size, out_rep.size
        self.kernel_size = (held["kernel_size"],)
        self.stride = (held["stride"],)
        self.padding = held["padding"] if isinstance(held["padding"], str) else (held["padding"],)
        self.dilation = (held["dilation"],)
        self.groups = held["groups"]
        self.padding_mode = held["padding_mode"]

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """(N, in_rep.size, L) -> (N, out_rep.size, L_out), or unbatched (in_rep.size, L) -> (out_rep.size, L_out)."""
        if input.dim() not in (2, 3) or input.shape[-2] != self.in_channels:
            raise RuntimeError(f"{self.__class__.__name__}: expected input of shape (N, {self.in_channels}, L) or "
                               f"({self.in_channels}, L) (channels = in_rep.size), got {tuple(input.shape)}")
        if input.dim() == 2:  # unbatched: a batch of one (the C++ layer takes (batch, seq, D) only)
            return self._eqnn_ready().forward(input.t().unsqueeze(0)).squeeze(0).t()
        return self._eqnn_ready().forward(input.transpose(-1, -2)).transpose(-1, -2)


@_document_defaults("eConv1d")
class EConv1d(_Conv):
    """The equivariant torch.nn.Conv1d: every kernel tap W[:, :, k] is in Hom_G(in_rep, out_rep) and the bias is
    invariant, so f(ρ_in(g) x) = ρ_out(g) f(x) with ρ acting on the channels.

    Args:
        in_rep: the representation of the input channels (size = in_channels).
        out_rep: the representation of the output channels (size = out_channels).
        kernel_size: number of taps (required).
        stride: (default {stride}).
        padding: an amount on both sides, 'same' or 'valid', with torch's rules (default {padding}).
        dilation: (default {dilation}).
        groups: only {groups} (the default) is supported.
        bias: add an invariant bias (default {bias}); none is added when out_rep has no trivial part.
        padding_mode: {padding_mode!r} (the default), 'reflect', 'replicate' or 'circular'.
        device, dtype: as torch.nn.Conv1d.
        init_scheme: {init_scheme!r} (the default: torch.nn.Conv1d's own initialisation, fan_in = in·K,
            restricted to the equivariant kernels with the same per-entry variance), xavier_normal,
            xavier_uniform, kaiming_normal, kaiming_uniform or zeros (these set W; b then starts at zero).
        weight_constraint, bias_constraint: registry names of the constraints (default
            {weight_constraint!r} and {bias_constraint!r}).
        execution: how the convolution is computed (default {execution!r}): ``"dense"`` (the expanded kernel),
            ``"isotypic"`` (for copies of a cyclic group's regular representation: by FFT over the group, one
            grouped convolution over the frequency bins; refused otherwise) or ``"auto"`` (the FFT where it is
            predicted faster). The same function and parameters either way.

    Parameters: ``weight_coefficients`` (K·dim Hom_G(in_rep, out_rep) entries, tap-major: ``.view(K, dim)``)
    and ``bias_coefficients``; ``effective_parameters()`` is stock Conv1d's state_dict (weight (out, in, K)).
    In a model file the layer takes tokens features last, (batch, seq, D), and convolves over seq.

    Example:
        >>> G = eqnn.group("D4")
        >>> x, h = eqnn.rep(G, "2x regular"), eqnn.rep(G, "regular")
        >>> conv = eqnn.nn.EConv1d(x, h, 3, padding="same")
        >>> signal = torch.randn(5, 16, 20)                        # (N, C, L)
        >>> conv(signal).shape
        torch.Size([5, 8, 20])
        >>> stock = torch.nn.Conv1d(16, 8, 3, padding="same")
        >>> _ = stock.load_state_dict(conv.effective_parameters())
        >>> torch.allclose(stock(signal), conv(signal), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        kernel_size: int,
        stride: Optional[int] = None,
        padding: Optional[Any] = None,
        dilation: Optional[int] = None,
        groups: Optional[int] = None,
        bias: Optional[bool] = None,
        padding_mode: Optional[str] = None,
        device=None,
        dtype=None,
        *,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
        execution: Optional[str] = None,
    ):
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, out_rep=out_rep, kernel_size=kernel_size,
            **_given(stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
                     padding_mode=padding_mode, init_scheme=init_scheme, weight_constraint=weight_constraint,
                     bias_constraint=bias_constraint, execution=execution))
        self._setup(in_rep, out_rep)


@_document_defaults("eConvTranspose1d")
class EConvTranspose1d(_Conv):
    """The equivariant torch.nn.ConvTranspose1d: weight (in, out, K) whose every tap, transposed, is in
    Hom_G(in_rep, out_rep); the bias is invariant; f(ρ_in(g) x) = ρ_out(g) f(x) with ρ acting on the channels.

    Args:
        in_rep: the representation of the input channels (size = in_channels).
        out_rep: the representation of the output channels (size = out_channels).
        kernel_size: number of taps (required).
        stride: (default {stride}).
        padding: an amount (default {padding}).
        output_padding: (default {output_padding}); smaller than stride or dilation, as torch.
        groups: only {groups} (the default) is supported.
        bias: add an invariant bias (default {bias}); none is added when out_rep has no trivial part.
        dilation: (default {dilation}).
        padding_mode: only {padding_mode!r}, as torch.
        device, dtype: as torch.nn.ConvTranspose1d.
        init_scheme: {init_scheme!r} (the default: torch.nn.ConvTranspose1d's own initialisation, whose fan_in is
            out·K), xavier_normal, xavier_uniform, kaiming_normal, kaiming_uniform or zeros.
        weight_constraint, bias_constraint: registry names of the constraints (default
            {weight_constraint!r} and {bias_constraint!r}).

    Parameters as EConv1d; ``effective_parameters()`` is stock ConvTranspose1d's state_dict.

    Example:
        >>> G = eqnn.group("C4")
        >>> x, h = eqnn.rep(G, "regular"), eqnn.rep(G, "2x regular + trivial")
        >>> up = eqnn.nn.EConvTranspose1d(x, h, 4, stride=2, padding=1)
        >>> signal = torch.randn(2, 4, 10)
        >>> up(signal).shape
        torch.Size([2, 9, 20])
        >>> stock = torch.nn.ConvTranspose1d(4, 9, 4, stride=2, padding=1)
        >>> _ = stock.load_state_dict(up.effective_parameters())
        >>> torch.allclose(stock(signal), up(signal), atol=1e-6)
        True
    """

    def __init__(
        self,
        in_rep: Representation,
        out_rep: Representation,
        kernel_size: int,
        stride: Optional[int] = None,
        padding: Optional[int] = None,
        output_padding: Optional[int] = None,
        groups: Optional[int] = None,
        bias: Optional[bool] = None,
        dilation: Optional[int] = None,
        padding_mode: Optional[str] = None,
        device=None,
        dtype=None,
        *,
        init_scheme: Optional[str] = None,
        weight_constraint: Optional[str] = None,
        bias_constraint: Optional[str] = None,
    ):
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, out_rep=out_rep, kernel_size=kernel_size,
            **_given(stride=stride, padding=padding, output_padding=output_padding, groups=groups, bias=bias,
                     dilation=dilation, padding_mode=padding_mode, init_scheme=init_scheme,
                     weight_constraint=weight_constraint, bias_constraint=bias_constraint))
        self._setup(in_rep, out_rep)
        self.output_padding = (self.options["output_padding"],)


# torch's activation functions by the names the C++ layer takes.
_ACTIVATION_NAMES = {
    torch.nn.functional.relu: "relu",
    torch.nn.functional.gelu: "gelu",
    torch.nn.functional.silu: "silu",
    torch.tanh: "tanh",
}


@_document_defaults("eTransformerEncoderLayer")
class ETransformerEncoderLayer(Layer):
    """Equivariant transformer encoder layer: torch.nn.TransformerEncoderLayer's arguments in its order,
    its submodule names and arithmetic, with eMultiheadAttention, eLinear and eLayerNorm (or eRMSNorm) parts.

    Args:
        in_rep: the representation of the tokens (size = d_model; a multiple of |G|).
        nhead: number of heads; must divide in_rep.size/|G|.
        dim_feedforward: hidden size, rounded up to whole regular copies (default {dim_feedforward}).
        dropout: (default {dropout}).
        activation: relu, gelu, silu or tanh, or torch's function of that name (default {activation!r}).
        layer_norm_eps: (default {layer_norm_eps}).
        batch_first: src is (batch, seq, feature) instead of (seq, batch, feature) (default {batch_first},
            as torch; a model file's layer is batch-first).
        norm_first: pre-norm instead of post-norm (default {norm_first}).
        bias: (default {bias}).
        device, dtype: as torch.nn.TransformerEncoderLayer.
        init_scheme: for the attention and both linear maps (default {init_scheme!r}).
        norm: norm1/norm2 are ``"layer_norm"`` (ELayerNorm, torch's) or ``"rms_norm"`` (ERMSNorm, symm_learning's
            default) (default {norm!r}).
        norm_affine: the norms' scales, ``"per_field"`` or ``"per_copy"`` (symm_learning's: one per irreducible
            copy), as ELayerNorm's ``affine`` (default {norm_affine!r}).
        norm_normalize: the norms' statistic, ``"all"`` (torch's) or ``"per_copy"`` (symm_learning's
            eLayerNorm), as ELayerNorm's ``normalize`` (default {norm_normalize!r}).
        attention: the self-attention: ``"mha"`` (EMultiheadAttention), ``"additive_pos"``
            (EAdditivePosMultiheadAttention), ``"additive_rel"`` (EAdditiveRelMultiheadAttention) or ``"rope"``
            (ERoPEMultiheadAttention) (default {attention!r}); the positional ones take forward's positions.
        max_len: additive_pos's table size, positions in [0, max_len); required there (default {max_len}).
        max_distance: additive_rel's clipping distance; required there (default {max_distance}).
        rope_base: rope's base, theta_i = rope_base^(-2i/c) (default {rope_base}).
        execution: how the attention's projections and the feed-forward maps are computed (default
            {execution!r}): dense, isotypic or auto (see ELinear).

    An argument left at None takes the default of the C++ ``ETransformerEncoderLayerOptions``. forward takes
    the masks of torch.nn.TransformerEncoderLayer.forward and symm_learning's position keywords.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "8x regular")           # d_model 32
        >>> block = eqnn.nn.ETransformerEncoderLayer(rep, nhead=4, dim_feedforward=64, batch_first=True)
        >>> block(torch.randn(2, 5, 32)).shape                     # (batch, seq, d_model)
        torch.Size([2, 5, 32])
        >>> eqnn.check_equivariance(block, rep, rep) < 1e-10      # in eval mode: dropout off
        True
        >>> rms = eqnn.nn.ETransformerEncoderLayer(rep, nhead=4, dim_feedforward=64, norm="rms_norm",
        ...                                        norm_affine="per_copy")    # symm_learning's norms
        >>> rms.norm1.weight.shape                                 # 8 x (trivial, sign, 2-dim irrep)
        torch.Size([24])
        >>> rope = eqnn.nn.ETransformerEncoderLayer(rep, nhead=4, dim_feedforward=64, batch_first=True,
        ...                                         attention="rope")   # 2 regular copies per head
        >>> rope(torch.randn(2, 5, 32), src_positions=torch.tensor([0, 1, 2, 4, 8])).shape
        torch.Size([2, 5, 32])
    """

    def __init__(
        self,
        in_rep: Representation,
        nhead: int,
        dim_feedforward: Optional[int] = None,
        dropout: Optional[float] = None,
        activation: Optional[Any] = None,
        layer_norm_eps: Optional[float] = None,
        batch_first: Optional[bool] = None,
        norm_first: Optional[bool] = None,
        bias: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        init_scheme: Optional[str] = None,
        norm: Optional[str] = None,
        norm_affine: Optional[str] = None,
        norm_normalize: Optional[str] = None,
        attention: Optional[str] = None,
        max_len: Optional[int] = None,
        max_distance: Optional[int] = None,
        rope_base: Optional[float] = None,
        execution: Optional[str] = None,
    ):
        if activation is not None and not isinstance(activation, str):
            if activation not in _ACTIVATION_NAMES:
                raise TypeError("ETransformerEncoderLayer: activation must be a name (relu, gelu, silu, tanh, "
                                f"gated) or one of torch's functions of those names, got {activation!r}")
            activation = _ACTIVATION_NAMES[activation]
        if batch_first is None:
            # The YAML layer defaults to a model's batch-first layout; this class to the C++ (and torch) one.
            batch_first = _C.layer_defaults(self._layer_type)["batch_first"]
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, num_heads=nhead, batch_first=batch_first,
            **_given(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                     layer_norm_eps=layer_norm_eps, norm_first=norm_first, bias=bias, init_scheme=init_scheme,
                     norm=norm, norm_affine=norm_affine, norm_normalize=norm_normalize, attention=attention,
                     max_len=max_len, max_distance=max_distance, rope_base=rope_base,
                     execution=execution))
        held = self.options
        self.batch_first = held["batch_first"]
        self.norm_first = held["norm_first"]

    def forward(
        self,
        src: torch.Tensor,
        src_mask: Optional[torch.Tensor] = None,
        src_key_padding_mask: Optional[torch.Tensor] = None,
        is_causal: bool = False,
        *,
        src_positions: Optional[torch.Tensor] = None,
        src_position_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """As torch.nn.TransformerEncoderLayer.forward: src_mask (seq, seq) or (batch*num_heads, seq, seq),
        src_key_padding_mask (batch, seq), each bool (True may not attend) or float (added to the scores).
        ``is_causal`` is a hint that src_mask is the causal mask, as in torch: the mask is required and is
        what is applied. As symm_learning's eTransformerEncoderLayer: src_positions (seq) or (batch, seq)
        (default arange(seq)) and src_position_mask (bool, True = has a position) for a positional
        ``attention``; an ``"mha"`` layer refuses them (symm_learning ignores them)."""
        _causal_hint(is_causal, src_mask)
        _check_mask(src_mask, "src_mask")
        _check_mask(src_key_padding_mask, "src_key_padding_mask")
        if src_mask is None and src_key_padding_mask is None and src_positions is None and src_position_mask is None:
            return self._eqnn_ready().forward(src)
        return self._eqnn_ready().transformer([src, src_mask, src_key_padding_mask, src_positions, src_position_mask])


def _activation_name(activation: Any, cls: str) -> Any:
    """A transformer layer's activation as its C++ name: a name as given, or torch's function of that name."""
    if activation is None or isinstance(activation, str):
        return activation
    if activation not in _ACTIVATION_NAMES:
        raise TypeError(f"{cls}: activation must be a name (relu, gelu, silu, tanh, gated) or one of torch's "
                        f"functions of those names, got {activation!r}")
    return _ACTIVATION_NAMES[activation]


def _causal_hint(is_causal: Optional[bool], mask: Optional[torch.Tensor]) -> None:
    """torch's rule for the is_causal hints: the hint says the mask is causal, so the mask is required (and is
    what is applied)."""
    if is_causal and mask is None:
        raise RuntimeError("Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")


def _decoder_call(module: "_CppModule", tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                  memory_key_padding_mask, tgt_is_causal, memory_is_causal, tgt_positions, memory_positions,
                  tgt_position_mask, memory_position_mask) -> torch.Tensor:
    _causal_hint(tgt_is_causal, tgt_mask)
    _causal_hint(memory_is_causal, memory_mask)
    for mask, name in ((tgt_mask, "tgt_mask"), (memory_mask, "memory_mask"),
                       (tgt_key_padding_mask, "tgt_key_padding_mask"),
                       (memory_key_padding_mask, "memory_key_padding_mask")):
        _check_mask(mask, name)
    return module._eqnn_ready().transformer(
        [tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask, tgt_positions,
         tgt_position_mask, memory_positions, memory_position_mask])


@_document_defaults("eTransformerDecoderLayer")
class ETransformerDecoderLayer(Layer):
    """Equivariant transformer decoder layer: torch.nn.TransformerDecoderLayer's arguments in its order, its
    submodule names (self_attn, multihead_attn, linear1, dropout, linear2, norm1–norm3, dropout1–dropout3,
    activation) and arithmetic, with eMultiheadAttention, eLinear and eLayerNorm (or eRMSNorm) parts. The memory
    lives in in_rep, as the target does.

    Args:
        in_rep: the representation of the target and memory tokens (size = d_model; a multiple of |G|).
        nhead: number of heads; must divide in_rep.size/|G|.
        dim_feedforward: hidden size, rounded up to whole regular copies (default {dim_feedforward}).
        dropout: (default {dropout}).
        activation: relu, gelu, silu or tanh, or torch's function of that name (default {activation!r}).
        layer_norm_eps: (default {layer_norm_eps}).
        batch_first: tgt and memory are (batch, seq, feature) instead of (seq, batch, feature) (default
            {batch_first}, as torch; a model file's layer is batch-first).
        norm_first: pre-norm instead of post-norm (default {norm_first}).
        bias: (default {bias}).
        device, dtype: as torch.nn.TransformerDecoderLayer.
        init_scheme: for both attentions and both linear maps (default {init_scheme!r}).
        norm: norm1–norm3 are ``"layer_norm"`` (ELayerNorm, torch's) or ``"rms_norm"`` (ERMSNorm) (default
            {norm!r}).
        norm_affine: the norms' scales, ``"per_field"`` or ``"per_copy"`` (default {norm_affine!r}).
        norm_normalize: the norms' statistic, ``"all"`` or ``"per_copy"`` (default {norm_normalize!r}).
        attention: self_attn and multihead_attn: ``"mha"``, ``"additive_pos"``, ``"additive_rel"`` or ``"rope"``
            (as ETransformerEncoderLayer's; default {attention!r}).
        max_len: additive_pos's table size; required there (default {max_len}).
        max_distance: additive_rel's clipping distance; required there (default {max_distance}).
        rope_base: rope's base (default {rope_base}).
        execution: dense, isotypic or auto for the projections and feed-forward maps (default {execution!r}).

    An argument left at None takes the default of the C++ ``ETransformerDecoderLayerOptions``. forward takes
    torch.nn.TransformerDecoderLayer.forward's arguments and symm_learning's position keywords: the target's
    positions go to self_attn's queries and keys and to multihead_attn's queries, the memory's to
    multihead_attn's keys.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "8x regular")           # d_model 32
        >>> block = eqnn.nn.ETransformerDecoderLayer(rep, nhead=4, dim_feedforward=64, batch_first=True)
        >>> tgt, memory = torch.randn(2, 5, 32), torch.randn(2, 7, 32)
        >>> causal = torch.nn.Transformer.generate_square_subsequent_mask(5)
        >>> block(tgt, memory, tgt_mask=causal, tgt_is_causal=True).shape
        torch.Size([2, 5, 32])
        >>> rel = eqnn.nn.ETransformerDecoderLayer(rep, nhead=4, dim_feedforward=64, batch_first=True,
        ...                                        attention="additive_rel", max_distance=4)
        >>> rel(tgt, memory, tgt_positions=torch.arange(5), memory_positions=torch.arange(-6, 1)).shape
        torch.Size([2, 5, 32])
    """

    def __init__(
        self,
        in_rep: Representation,
        nhead: int,
        dim_feedforward: Optional[int] = None,
        dropout: Optional[float] = None,
        activation: Optional[Any] = None,
        layer_norm_eps: Optional[float] = None,
        batch_first: Optional[bool] = None,
        norm_first: Optional[bool] = None,
        bias: Optional[bool] = None,
        device=None,
        dtype=None,
        *,
        init_scheme: Optional[str] = None,
        norm: Optional[str] = None,
        norm_affine: Optional[str] = None,
        norm_normalize: Optional[str] = None,
        attention: Optional[str] = None,
        max_len: Optional[int] = None,
        max_distance: Optional[int] = None,
        rope_base: Optional[float] = None,
        execution: Optional[str] = None,
    ):
        activation = _activation_name(activation, "ETransformerDecoderLayer")
        if batch_first is None:
            # The YAML layer defaults to a model's batch-first layout; this class to the C++ (and torch) one.
            batch_first = _C.layer_defaults(self._layer_type)["batch_first"]
        super().__init__(
            self._layer_type, in_rep, device=device, dtype=dtype, num_heads=nhead, batch_first=batch_first,
            **_given(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                     layer_norm_eps=layer_norm_eps, norm_first=norm_first, bias=bias, init_scheme=init_scheme,
                     norm=norm, norm_affine=norm_affine, norm_normalize=norm_normalize, attention=attention,
                     max_len=max_len, max_distance=max_distance, rope_base=rope_base,
                     execution=execution))
        held = self.options
        self.batch_first = held["batch_first"]
        self.norm_first = held["norm_first"]

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: Optional[torch.Tensor] = None,
        memory_mask: Optional[torch.Tensor] = None,
        tgt_key_padding_mask: Optional[torch.Tensor] = None,
        memory_key_padding_mask: Optional[torch.Tensor] = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
        *,
        tgt_positions: Optional[torch.Tensor] = None,
        memory_positions: Optional[torch.Tensor] = None,
        tgt_position_mask: Optional[torch.Tensor] = None,
        memory_position_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """As torch.nn.TransformerDecoderLayer.forward: tgt (T, N, D) and memory (S, N, D) ((N, T, D) and
        (N, S, D) with batch_first); tgt_mask (T, T) or (N*nhead, T, T), memory_mask (T, S) or (N*nhead, T, S),
        tgt_key_padding_mask (N, T), memory_key_padding_mask (N, S), each bool (True may not attend) or float
        (added to the scores). The ``*_is_causal`` hints say the mask is causal, as in torch: the mask is
        required and is what is applied. As symm_learning's eTransformerDecoderLayer: tgt_positions (T) or
        (N, T), memory_positions (S) or (N, S) (default arange) and their bool masks (True = has a position)
        for a positional ``attention``; an ``"mha"`` layer refuses them (symm_learning ignores them)."""
        return _decoder_call(self, tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                             memory_key_padding_mask, tgt_is_causal, memory_is_causal, tgt_positions,
                             memory_positions, tgt_position_mask, memory_position_mask)


def _stack_options(layer: Layer, cls: str, layer_cls: type, num_layers: int, norm: Optional[torch.nn.Module]) -> dict:
    """The flat YAML keywords of a stack: the layer's options, num_layers and the final norm's kind (checked to
    have the layer's options: the C++ stack builds it from them)."""
    if not isinstance(layer, layer_cls):
        raise TypeError(f"{cls}: the layer must be an eqnn.nn.{layer_cls.__name__}, got {type(layer).__name__}")
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"{cls}: num_layers must be an int >= 1, got {num_layers!r}")
    options = dict(layer.options)
    if norm is None:
        final_norm = "none"
    elif isinstance(norm, (ELayerNorm, ERMSNorm)):
        final_norm = "layer_norm" if isinstance(norm, ELayerNorm) else "rms_norm"
        held = norm.options
        wanted = {"eps": options["layer_norm_eps"], "elementwise_affine": True, "affine": options["norm_affine"],
                  "normalize": options["norm_normalize"]}
        found = {key: held[key] for key in wanted}
        if found != wanted or norm.in_rep != layer.in_rep:
            raise ValueError(f"{cls}: the final norm must have the layer's options (in_rep, eps = layer_norm_eps, "
                             f"elementwise_affine, affine = norm_affine, normalize = norm_normalize): expected "
                             f"{wanted} over {layer.in_rep}, got {found} over {norm.in_rep}")
    else:
        raise ValueError(f"{cls}: norm must be None, an eqnn.nn.ELayerNorm or an eqnn.nn.ERMSNorm, got "
                         f"{type(norm).__name__}")
    options.update(num_layers=num_layers, final_norm=final_norm)
    return options


class _LayerList(_Mirror):
    """The ``layers`` of a stack: holds the parameters of ``layers.i`` and indexes like torch's ModuleList."""

    def __getitem__(self, i: int) -> torch.nn.Module:
        return self._modules[str(range(len(self))[i])]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


class _Stack(Layer):
    """torch's TransformerEncoder/Decoder: the C++ stack built from the layer's options, then the layer's state
    copied into every ``layers.i`` (torch's deepcopy semantics) and the norm's into ``norm``."""

    def __init__(self, layer: Layer, num_layers: int, norm: Optional[torch.nn.Module], layer_cls: type):
        cls = type(self).__name__
        options = _stack_options(layer, cls, layer_cls, num_layers, norm)
        super().__init__(self._layer_type, layer.in_rep, **options)
        self.layers.__class__ = _LayerList
        self.num_layers = num_layers
        self.batch_first = options["batch_first"]
        reference = next(layer.parameters(), None)
        if reference is not None:
            self.to(device=reference.device, dtype=reference.dtype)
        with torch.no_grad():
            for i in range(num_layers):
                self._copy_from(layer, f"layers.{i}.")
            if norm is not None:
                self._copy_from(norm, "norm.")

    def _copy_from(self, source: torch.nn.Module, prefix: str) -> None:
        ours = dict(self.named_parameters())
        ours.update(self.named_buffers())
        theirs = list(source.named_parameters()) + list(source.named_buffers())
        for name, tensor in theirs:
            ours[prefix + name].copy_(tensor)


@_document_defaults("eTransformerEncoder")
class ETransformerEncoder(_Stack):
    """A stack of equivariant transformer encoder layers, as torch.nn.TransformerEncoder: ``num_layers`` copies
    of ``encoder_layer`` (children ``layers.i``, each starting from encoder_layer's weights and trained on its
    own), then ``norm`` if given.

    Args:
        encoder_layer: an ETransformerEncoderLayer; its options (and weights) are every layer's.
        num_layers: the number of layers (>= 1).
        norm: None, or an ELayerNorm/ERMSNorm over the layer's in_rep with eps = layer_norm_eps and the layer's
            norm_affine/norm_normalize (its weights are copied).
        enable_nested_tensor, mask_check: torch's fast-path switches; accepted and without effect here.

    The YAML layer takes the layer's keywords flat, plus num_layers and final_norm (none, layer_norm or rms_norm;
    default {final_norm!r}). The layers are batch-first as encoder_layer is.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "4x regular")
        >>> layer = eqnn.nn.ETransformerEncoderLayer(rep, 2, dim_feedforward=32, batch_first=True)
        >>> enc = eqnn.nn.ETransformerEncoder(layer, num_layers=3, norm=eqnn.nn.ELayerNorm(rep))
        >>> enc(torch.randn(2, 5, 16)).shape
        torch.Size([2, 5, 16])
        >>> len(enc.layers), enc.options["final_norm"]
        (3, 'layer_norm')
    """

    def __init__(self, encoder_layer: ETransformerEncoderLayer, num_layers: int,
                 norm: Optional[torch.nn.Module] = None, enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__(encoder_layer, num_layers, norm, ETransformerEncoderLayer)

    def forward(self, src: torch.Tensor, mask: Optional[torch.Tensor] = None,
                src_key_padding_mask: Optional[torch.Tensor] = None,
                is_causal: Optional[bool] = None, *, src_positions: Optional[torch.Tensor] = None,
                src_position_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """As torch.nn.TransformerEncoder.forward (the masks of ETransformerEncoderLayer.forward), with
        symm_learning's position keywords given to every layer (see ETransformerEncoderLayer.forward)."""
        _causal_hint(is_causal, mask)
        _check_mask(mask, "mask")
        _check_mask(src_key_padding_mask, "src_key_padding_mask")
        if mask is None and src_key_padding_mask is None and src_positions is None and src_position_mask is None:
            return self._eqnn_ready().forward(src)
        return self._eqnn_ready().transformer([src, mask, src_key_padding_mask, src_positions, src_position_mask])


@_document_defaults("eTransformerDecoder")
class ETransformerDecoder(_Stack):
    """A stack of equivariant transformer decoder layers, as torch.nn.TransformerDecoder: ``num_layers`` copies
    of ``decoder_layer`` (children ``layers.i``), each attending to the same memory, then ``norm`` if given.

    Args:
        decoder_layer: an ETransformerDecoderLayer; its options (and weights) are every layer's.
        num_layers: the number of layers (>= 1).
        norm: None, or an ELayerNorm/ERMSNorm with the layer's options (see ETransformerEncoder).

    The YAML layer takes the layer's keywords flat, plus num_layers and final_norm (default {final_norm!r}).

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "4x regular")
        >>> layer = eqnn.nn.ETransformerDecoderLayer(rep, 2, dim_feedforward=32, batch_first=True)
        >>> dec = eqnn.nn.ETransformerDecoder(layer, num_layers=2)
        >>> dec(torch.randn(2, 5, 16), torch.randn(2, 3, 16)).shape
        torch.Size([2, 5, 16])
    """

    def __init__(self, decoder_layer: ETransformerDecoderLayer, num_layers: int,
                 norm: Optional[torch.nn.Module] = None):
        super().__init__(decoder_layer, num_layers, norm, ETransformerDecoderLayer)

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: Optional[torch.Tensor] = None,
        memory_mask: Optional[torch.Tensor] = None,
        tgt_key_padding_mask: Optional[torch.Tensor] = None,
        memory_key_padding_mask: Optional[torch.Tensor] = None,
        tgt_is_causal: Optional[bool] = None,
        memory_is_causal: bool = False,
        *,
        tgt_positions: Optional[torch.Tensor] = None,
        memory_positions: Optional[torch.Tensor] = None,
        tgt_position_mask: Optional[torch.Tensor] = None,
        memory_position_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """As torch.nn.TransformerDecoder.forward (the masks and positions of ETransformerDecoderLayer.forward,
        given to every layer)."""
        return _decoder_call(self, tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                             memory_key_padding_mask, tgt_is_causal, memory_is_causal, tgt_positions,
                             memory_positions, tgt_position_mask, memory_position_mask)


@_document_defaults("eIsotypicBasis")
class EIsotypicBasis(Layer):
    """The change to the isotypic basis (symm_learning's Change2DisentangledBasis): y = Q_isoᵀ x, with
    Q_iso = ``in_rep.isotypic_change_of_basis`` (in_rep's change of basis with its irrep copies grouped by
    irrep: the trivial component first, then by ascending size m·d, ties by irrep index). out_rep is
    ``in_rep.isotypic_basis_rep``, block-diagonal: ρ̂(g) = Q_isoᵀ ρ(g) Q_iso. No parameters; it equals
    torch.nn.Linear(D, D, bias=False) with weight Q_isoᵀ.

    Args:
        in_rep: the representation in the original basis.
        inverse: map back instead, y = Q_iso x, from ``in_rep.isotypic_basis_rep`` to in_rep (default
            {inverse}).
        device, dtype: accepted for symmetry (no parameters).

    ``isotypic_slices`` lists (irrep index, slice) of each isotypic component in the isotypic basis.

    Example:
        >>> rep = eqnn.rep(eqnn.group("C4"), "regular")
        >>> iso = eqnn.nn.EIsotypicBasis(rep)
        >>> iso.isotypic_slices
        [(0, slice(0, 1, None)), (1, slice(1, 2, None)), (2, slice(2, 4, None))]
        >>> back = eqnn.nn.EIsotypicBasis(rep, inverse=True)
        >>> torch.allclose(back(iso(x := torch.randn(3, 4))), x, atol=1e-6)
        True
    """

    def __init__(self, in_rep: Representation, inverse: Optional[bool] = None, device=None, dtype=None):
        if not isinstance(in_rep, Representation):
            raise TypeError("EIsotypicBasis: in_rep must be an eqnn.Representation (eqnn.rep(G, \"2x regular\")), "
                            f"got {in_rep.__class__.__name__}")
        if inverse is None:
            inverse = _C.layer_defaults(self._layer_type)["inverse"]
        if inverse:
            super().__init__(self._layer_type, in_rep.isotypic_basis_rep, device=device, dtype=dtype, inverse=True,
                             rep=in_rep)
        else:
            super().__init__(self._layer_type, in_rep, device=device, dtype=dtype, inverse=False)
        self.inverse = bool(inverse)
        self.isotypic_slices = in_rep.isotypic_slices


class Model(_CppModule):
    """A model built from a YAML description (eqnn.load_model(path)); forward (batch, [seq,] features).

    Example:
        >>> model = eqnn.load_model("examples/models/d4_mlp.yaml")           # from the repository root
        >>> model.input_rep.size, model.output_rep.size
        (4, 4)
        >>> eqnn.check_equivariance(model, model.input_rep, model.output_rep) < 1e-10
        True
    """

    def __init__(self, path: str):
        super().__init__(lambda: _C.load_model(str(path)))
        self.path = str(path)

    def forward(self, x: torch.Tensor, *extra: Optional[torch.Tensor]) -> torch.Tensor:
        """Runs the stack of layers: (batch, [seq,] input_rep.size) -> (batch, [seq,] output_rep.size).

        A model whose first layer takes more inputs than x (a diffusion step, conditioning: see
        :attr:`extra_inputs`) takes them after x, in that order (None: an optional one not given)."""
        if extra:
            return self._eqnn_ready().forward_with(x, list(extra))
        return self._eqnn_ready().forward(x)

    @property
    def extra_inputs(self) -> list:
        """What forward takes after x, in order: ``(name, kind, rep, required, length)`` tuples, kind
        ``"step"`` (a scalar or (batch): the group does not act on it), ``"vector"`` ((batch, rep.size)) or
        ``"sequence"`` ((batch, length or x's, rep.size)); empty for a model that takes x only."""
        return list(self._eqnn_handle.extra_inputs())

    @property
    def group(self):
        """The model's group."""
        return self._eqnn_handle.model_group()

    @property
    def input_rep(self) -> Representation:
        """The input representation (the description's ``input:``)."""
        return self._eqnn_handle.in_rep

    @property
    def output_rep(self) -> Optional[Representation]:
        """The output representation (None when the last layer has no group action and no ``output:``)."""
        return self._eqnn_handle.out_rep

    @property
    def reps(self) -> dict:
        """The named representations of the description (``reps:``)."""
        return dict(self._eqnn_handle.model_reps())

    @property
    def source(self) -> str:
        """The YAML text the model was built from."""
        return self._eqnn_handle.model_source()
