"""eqnn from Python: group-equivariant layers over the C++ core, as ordinary torch.nn.Modules.

    import torch, eqnn
    G = eqnn.group("C8")
    x = eqnn.rep(G, "4x regular")
    attn = eqnn.nn.EMultiheadAttention(x, num_heads=2, batch_first=True)
    y, w = attn(q, q, q)
    eqnn.check_equivariance(attn, x, x)      # max relative error over every group element

Groups, representations and Hom spaces are the C++ objects (their numbers come back as float64 tensors);
layers wrap the C++ modules, whose parameters are the very tensors Python registers (see eqnn.nn).

Errors are eqnn.Error (a RuntimeError) or one of its kinds, each also the builtin that fits:
ConfigError and GroupError are ValueErrors, UnknownNameError a KeyError, PluginError an ImportError.
"""

import json as _json
import math as _math
from typing import Callable as _Callable
from typing import Union as _Union

import torch as _torch  # loads libtorch (and its libtorch_python) before the extension

from . import _C
from ._C import ConfigError, Error, Group, GroupError, HomSpace, Irrep, PluginError, Representation, UnknownNameError

__version__ = _C.version()

__all__ = [
    "ConfigError",
    "Error",
    "Group",
    "GroupError",
    "HomSpace",
    "Irrep",
    "PluginError",
    "Representation",
    "UnknownNameError",
    "check_equivariance",
    "datasets",
    "group",
    "hom",
    "linalg",
    "load_model",
    "models",
    "nn",
    "optim",
    "plugins",
    "rep",
    "stats",
]


def group(spec: _Union[str, dict]) -> Group:
    """The finite group named by ``spec``, as in a model file's ``group:`` key.

    ``spec`` is a short name (``"C8"``, ``"D4"``, ``"Ico"``, ``"C2xD4"``), a mapping
    ``{"type": "DihedralGroup", "n": 6}``, or ``{"type": "FiniteGroup", "generators": [...]}``
    (permutations, or orthogonal matrices). Raises UnknownNameError (a KeyError) for an unknown name and
    ConfigError or GroupError (ValueErrors) for a malformed spec, with the C++ message.
    """
    if isinstance(spec, dict):
        spec = _json.dumps(spec)
    elif not isinstance(spec, str):
        raise TypeError(
            f"eqnn.group: expected a str (\"C8\") or a dict ({{'type': 'DihedralGroup', 'n': 6}}), "
            f"got {type(spec).__name__}"
        )
    return _C.group(spec)


def rep(group: Group, text: _Union[str, None] = None, *, matrices=None, irreps: _Union[list, None] = None,
        change_of_basis: _Union[_torch.Tensor, None] = None) -> Representation:
    """The representation of ``group`` described by ``text``: terms joined by ``+``, each ``[N x] NAME``
    with NAME ``regular``, ``trivial``, ``irrep(k)``, ``permutation(ACTION)`` or ``standard``, e.g.
    ``"2x regular + irrep(1)"``. A malformed string raises ConfigError (a ValueError) pointing at the column.

    ``matrices=[M_0, ..., M_k-1]`` instead gives ρ on the generators: one orthogonal square matrix (a tensor,
    array or nested list) per generator, in the order of ``group.generators`` (element indices). They are
    checked to be a homomorphism (every relation of the group, by closure over its elements); a ConfigError
    names the matrix and the relation that fails, with the residual.

    Or, instead of ``text``, ``irreps=[k, ...]`` (irrep indices, one per column block) and an orthogonal
    ``change_of_basis=Q``: ρ(g) = Q (⊕ ψ_k(g)) Qᵀ with the irreducible copies the given column blocks of Q
    (how ``eqnn.interop`` reproduces another library's decomposition). Where every generator's matrix is a
    permutation matrix (signed: a signed permutation matrix) the rep is a (signed) permutation representation,
    ``is_permutation`` (pointwise activations accept it), that keeps this Q as its cut into copies."""
    if not isinstance(group, Group):
        raise TypeError(f"eqnn.rep: expected an eqnn.Group first (eqnn.group(\"C8\")), got {type(group).__name__}")
    given = [name for name, value in (("text", text), ("matrices=", matrices), ("irreps=", irreps),
                                      ("change_of_basis=", change_of_basis)) if value is not None]
    if irreps is not None or change_of_basis is not None:
        if irreps is None or change_of_basis is None or len(given) != 2:
            raise TypeError("eqnn.rep: irreps= and change_of_basis= go together, without text or matrices= "
                            f"(given: {', '.join(given)})")
        return _C.rep_from_decomposition(group, [int(k) for k in irreps], _torch.as_tensor(change_of_basis))
    if matrices is not None:
        if text is not None:
            raise TypeError("eqnn.rep: give a rep string or matrices=[...], not both")
        if isinstance(matrices, _torch.Tensor) and matrices.dim() == 3:
            matrices = list(matrices)
        if not isinstance(matrices, (list, tuple)):
            raise TypeError(f"eqnn.rep: matrices= must be a list of matrices, got {type(matrices).__name__}")
        ms = []
        for i, m in enumerate(matrices):
            try:
                ms.append(_torch.as_tensor(m, dtype=_torch.float64))
            except (TypeError, ValueError, RuntimeError) as e:
                raise ConfigError(f"eqnn.rep(matrices=...): matrix {i} (generator g{i}) is not a matrix: {e}") from None
        return _C.rep_from_matrices(group, ms)
    if text is None:
        raise TypeError("eqnn.rep: give a rep string (\"2x regular\"), matrices=[...], or irreps= and "
                        "change_of_basis=")
    return _C.rep(group, text)


def hom(in_rep: Representation, out_rep: Representation) -> HomSpace:
    """Hom_G(in_rep, out_rep): the linear maps W (out.size x in.size) with ρ_out(g) W = W ρ_in(g).

    ``.dim``, ``.method`` ("orbit" or "isotypic"), ``.expand(c)`` (..., dim) -> (..., out, in),
    ``.analyse(W)``, ``.project(W)`` (the orthogonal projection), and ``basis()`` (dim, out, in)."""
    return _C.hom(in_rep, out_rep)


def plugins() -> list:
    """The loaded plugins as (name, version, file)."""
    return _C.plugins()


def load_model(path: str) -> "nn.Model":
    """Builds the model described by a YAML file (see the README) as a torch.nn.Module.

    Raises FileNotFoundError for a missing file and ConfigError (a ValueError) ``FILE:LINE:COL: error: ...``
    for a mistake in it."""
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
    """Max over every group element g of max|f(x ρ_in(g)ᵀ) − f(x) ρ_out(g)ᵀ| / max|f(x)|: the check of
    ``eqnn check``, run by the C++ core on this callable.

    ``module`` is any callable (an eqnn module, a user nn.Module, a function); a tuple output (attention)
    is judged by its first element, and attention modules get (x, x, x). A copy of the module is moved to
    ``dtype`` and put in eval mode (on the device of its parameters); the module itself is not changed. The
    input is random (from ``seed``) with leading dims ``shape``. Returns ``inf`` when any output is NaN or
    infinite, so ``err < tol`` fails. Use 1e-10 for float64 and 1e-5 for float32."""
    import copy

    f = module
    device = _torch.device("cpu")
    if isinstance(module, _torch.nn.Module):
        f = copy.deepcopy(module).to(dtype).eval()
        device = next((p.device for p in f.parameters()), device)
    from .nn import EMultiheadAttention

    call = (lambda x: f(x, x, x, need_weights=False)) if isinstance(f, EMultiheadAttention) else f

    def on_device(x: _torch.Tensor) -> _torch.Tensor:
        y = _first(call(x.to(device)))
        if not isinstance(y, _torch.Tensor):
            raise TypeError(f"check_equivariance: the module returned {type(y).__name__}, expected a tensor")
        if y.shape[-1] != out_rep.size:
            raise ValueError(
                f"check_equivariance: the output has {y.shape[-1]} features but out_rep has size {out_rep.size}"
            )
        return y.to(device="cpu", dtype=dtype)

    with _torch.no_grad():
        error, _, _ = _C.equivariance_error(on_device, in_rep, out_rep, dtype, list(shape), seed)
    return error if _math.isfinite(error) else _math.inf


from . import datasets, linalg, models, nn, optim, stats  # noqa: E402  (need the names above)
