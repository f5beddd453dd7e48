"""eqnn from Python: group-equivariant layers over the C++ core, as ordinary torch.nn.Modules.

    import torch, eqnn
    G = eqnn.group("C8")
    x = eqnn.rep(G, "4x regular")
    attn = eqnn.nn.EMultiheadAttention(x, num_heads=2, batch_first=True)
    y, w = attn(q, q, q)
    eqnn.check_equivariance(attn, x, x)      # max relative error over every group element

Groups, representations and Hom spaces are the C++ objects (their numbers come back as float64 tensors);
layers wrap the C++ modules, whose parameters are the very tensors Python registers (see eqnn.nn).
"""

import json as _json
import math as _math
from typing import Any as _Any
from typing import Callable as _Callable
from typing import Union as _Union

import torch as _torch  # loads libtorch (and its libtorch_python) before the extension

from . import _C
from ._C import Group, HomSpace, Irrep, Representation

__version__ = _C.version()

__all__ = [
    "Group",
    "HomSpace",
    "Irrep",
    "Representation",
    "check_equivariance",
    "datasets",
    "group",
    "hom",
    "load_model",
    "nn",
    "plugins",
    "rep",
]


def group(spec: _Union[str, dict]) -> Group:
    """The finite group named by ``spec``, as in a model file's ``group:`` key.

    ``spec`` is a short name (``"C8"``, ``"D4"``, ``"Ico"``, ``"C2xD4"``), a mapping
    ``{"type": "DihedralGroup", "n": 6}``, or ``{"type": "FiniteGroup", "generators": [...]}``
    (permutations, or orthogonal matrices). Raises ValueError with the C++ message for an unknown or
    malformed spec.
    """
    if isinstance(spec, dict):
        spec = _json.dumps(spec)
    elif not isinstance(spec, str):
        raise TypeError(
            f"eqnn.group: expected a str (\"C8\") or a dict ({{'type': 'DihedralGroup', 'n': 6}}), "
            f"got {type(spec).__name__}"
        )
    return _C.group(spec)


def rep(group: Group, text: str) -> Representation:
    """The representation of ``group`` described by ``text``: terms joined by ``+``, each ``[N x] NAME``
    with NAME ``regular``, ``trivial``, ``irrep(k)``, ``permutation(ACTION)`` or ``standard``, e.g.
    ``"2x regular + irrep(1)"``. A malformed string raises ValueError pointing at the column."""
    if not isinstance(group, Group):
        raise TypeError(f"eqnn.rep: expected an eqnn.Group first (eqnn.group(\"C8\")), got {type(group).__name__}")
    return _C.rep(group, text)


def hom(in_rep: Representation, out_rep: Representation) -> HomSpace:
    """Hom_G(in_rep, out_rep): the linear maps W (out.size x in.size) with ρ_out(g) W = W ρ_in(g).

    ``.dim``, ``.method`` ("orbit" or "isotypic"), ``.expand(c)`` (..., dim) -> (..., out, in),
    ``.analyse(W)``, ``.project(W)`` (the orthogonal projection), and ``basis()`` (dim, out, in)."""
    return _C.hom(in_rep, out_rep)


def _hom_basis(self: HomSpace, dtype: _torch.dtype = _torch.float64) -> _torch.Tensor:
    """The basis as a (dim, out.size, in.size) tensor: expand() of the unit coefficient vectors."""
    return self.expand(_torch.eye(self.dim, dtype=dtype))


HomSpace.basis = _hom_basis


def plugins() -> list:
    """The loaded plugins as (name, version, file)."""
    return _C.plugins()


def load_model(path: str) -> "nn.Model":
    """Builds the model described by a YAML file (see the README) as a torch.nn.Module.

    Raises FileNotFoundError for a missing file and ValueError ``FILE:LINE:COL: error: ...`` for a
    mistake in it."""
    from .nn import Model

    return Model(path)


def _first(output):
    return output[0] if isinstance(output, (tuple, list)) else output


def check_equivariance(
    module: _Callable,
    in_rep: Representation,
    out_rep: Representation,
    dtype: _torch.dtype = _torch.float64,
    *,
    shape: tuple = (2, 3),
    seed: int = 0,
) -> float:
    """Max over every group element g of max|f(x ρ_in(g)ᵀ) − f(x) ρ_out(g)ᵀ| / max|f(x)|.

    ``module`` is any callable (an eqnn module, a user nn.Module, a function); a tuple output (attention)
    is judged by its first element, and attention modules get (x, x, x). A copy of the module is moved to
    ``dtype`` and put in eval mode (on the device of its parameters); the module itself is not changed. The input is random with leading
    dims ``shape``. Returns ``inf`` when any output is NaN or infinite, so ``err < tol`` fails.
    Use 1e-10 for float64 and 1e-5 for float32."""
    import copy

    if in_rep.group != out_rep.group:
        raise ValueError(
            f"check_equivariance: in_rep is a representation of {in_rep.group.name} and out_rep of "
            f"{out_rep.group.name}; both must belong to the same group"
        )
    f = module
    device = _torch.device("cpu")
    if isinstance(module, _torch.nn.Module):
        f = copy.deepcopy(module).to(dtype).eval()
        device = next((p.device for p in f.parameters()), device)
    from .nn import EMultiheadAttention

    call = (lambda x: f(x, x, x, need_weights=False)) if isinstance(f, EMultiheadAttention) else f
    gen = _torch.Generator().manual_seed(seed)
    x = _torch.randn(*shape, in_rep.size, generator=gen, dtype=dtype).to(device)
    rho_in = in_rep.matrices().to(device, dtype)
    rho_out = out_rep.matrices().to(device, dtype)
    worst = 0.0
    with _torch.no_grad():
        y = _first(call(x))
        if y.shape[-1] != out_rep.size:
            raise ValueError(
                f"check_equivariance: the output has {y.shape[-1]} features but out_rep has size {out_rep.size}"
            )
        if not bool(_torch.isfinite(y).all()):
            return _math.inf
        scale = max(float(y.abs().max()), 1e-30)
        for g in range(in_rep.group.order):
            gy = _first(call(x @ rho_in[g].T))
            if not bool(_torch.isfinite(gy).all()):
                return _math.inf
            err = float((gy - y @ rho_out[g].T).abs().max()) / scale
            if not err <= worst:  # also catches NaN
                worst = err if err == err else _math.inf
    return worst


from . import datasets, nn  # noqa: E402  (need the names above)
