"""Bringing escnn groups and representations and symm_learning modules over to eqnn.

Needs the optional extra ``pip install eqnn[interop]`` (symm-learning 0.8.1, escnn 1.0.11); nothing else in
eqnn imports this module.

- ``group_from_escnn(G)``: the eqnn group whose points are escnn's ``G.elements`` in escnn's order, built
  from the permutations of escnn's regular representation of its generators, so that eqnn's
  ``"m x permutation(points)"`` equals escnn's ``reg^m`` entry for entry. eqnn numbers the group elements
  itself: ``escnn_elements(G)[i]`` is the eqnn element of ``G.elements[i]``.
- ``rep_from_escnn(rep)``: the eqnn representation with the same matrix ρ(g) for every element and the same
  irreducible copies (the column blocks of escnn's change of basis): Q_eqnn = Q_escnn · ⊕ T_k with T_k the
  orthogonal intertwiner from eqnn's matrices of irrep k to escnn's (the irreps are matched by character).
- ``from_symm_learning(module)``: an eqnn module computing the same function with the same weights.

Converter rules (``CONVERTERS`` maps a type to a function ``convert(module, path) -> torch.nn.Module``;
adding a module is adding one function with ``@converter(Type)``):

- The exact type is looked up (a subclass may compute something else, so it is refused until it has its own
  entry). An unsupported module raises TypeError naming its path in the model and its type.
- Representations go through ``rep_from_escnn``; dense tensors are read from the symm_learning module
  (``weight``, ``bias``, ``in_proj_weight``, ...) and turned into eqnn's coefficients: weights by
  ``HomSpace.analyse``, biases by solving the module's effective tensor as a linear function of its
  coefficients (``_fit_linear``); the result is always checked against the effective tensors of the eqnn
  module. A tensor within 1e-6 (float64; 1e-4 float32) of eqnn's constrained space is projected onto it; one
  further away (not equivariant) is refused. For float64 equality build the symm_learning module under
  ``torch.set_default_dtype(torch.float64)``: its bases are computed in the default dtype.
- The converted module has the source's dtype, device and training mode.
- Where symm_learning's function is itself wrong (DESIGN §9), the converter converts what it computes when
  that is equivariant, and refuses with the reason otherwise (eMultiheadAttention on a rep that is not
  escnn's reg^m, eBatchNorm1d whose running_var is not per copy). Two functions are eqnn's by design and
  documented: eBatchNorm1d in training (batch statistics) and eMultivariateNormal's covariance.
- torch.nn containers (Sequential, ModuleList, ModuleDict) are rebuilt with converted children under the same
  names; other torch.nn modules are deep-copied, unless they hold a symm_learning module (refused).

Converted (module → eqnn module; docs/tutorials/porting.md has the table and every difference):

- eLinear → ELinear; eMultiheadAttention → EMultiheadAttention (refused unless in_rep is escnn's reg^m);
  IrrepSubspaceNormPooling → ENormPool; InvariantBias → EInvariantBias (torch.nn.Identity without a trivial
  part, as symm_learning's).
- eAffine → EAffine: learnable (scale_dof → scale, the bias through its coefficients) or FiLM
  (learnable=False: the same scale_dof/bias_dof give the same output; bias_dof multiplies Q's trivial
  columns in both, checked).
- eRMSNorm → ERMSNorm(affine="per_copy"); eLayerNorm → ELayerNorm(affine="per_copy", normalize="per_copy")
  (symm_learning's bias=False: eqnn's invariant bias is held at 0 with requires_grad False).
- eBatchNorm1d → EBatchNorm1d(channels_last=True): eval mode is symm_learning's function (running_var (D)
  → one variance per copy v with diag(running_var) = Q diag(v) Qᵀ, by least squares; refused where no such
  v exists: symm_learning's eval map is then not equivariant). Train mode is eqnn's (batch statistics,
  equivariant), by design.
- eConv1d → EConv1d, eConvTranspose1d → EConvTranspose1d (same options; each tap analysed in Hom_G).
- Change2DisentangledBasis → EIsotypicBasis where symm_learning's isotypic basis is eqnn's (same component
  order, same basis inside each copy); elsewhere the same fixed map x ↦ Q⁻¹x as an ELinear(in_rep, out_rep)
  with frozen weight (out_rep: symm_learning's, in escnn's irrep bases); learnable=True → a trainable
  ELinear(in_rep, out_rep) from its current weight (refused if that weight is no longer equivariant).
- eMultivariateNormal → EMultivariateNormal: same mean; eqnn's covariance Q diag(σ²) Qᵀ, of which
  symm_learning's diagonal (Q∘Q)σ² is the diagonal only (equal where that matrix is diagonal).
- eTransformerEncoderLayer/eTransformerDecoderLayer and the TransformerEncoder/TransformerDecoder stacks: see
  eqnn._interop_transformer (the attention option from the attention's type: mha, additive_pos, additive_rel).
"""

from __future__ import annotations

import copy
import importlib
from collections import OrderedDict
from typing import Callable

import numpy as np
import torch

from . import Group, Representation, group, hom, rep
from . import nn as enn

__all__ = [
    "CONVERTERS",
    "converter",
    "escnn_elements",
    "from_symm_learning",
    "group_from_escnn",
    "rep_from_escnn",
]

# id(escnn object) -> (the escnn object, kept alive so that its id is not reused; the eqnn result ...)
_GROUPS: dict = {}
_REPS: dict = {}


def _escnn_group_type():
    try:
        import escnn.group as eg
    except ImportError as e:  # pragma: no cover - the extra is missing
        raise ImportError("eqnn.interop needs escnn: pip install 'eqnn[interop]'") from e
    return eg


def _group_entry(G):
    hit = _GROUPS.get(id(G))
    if hit is not None and hit[0] is G:
        return hit
    eg = _escnn_group_type()
    if not isinstance(G, eg.Group):
        raise TypeError(f"group_from_escnn: expected an escnn.group.Group, got {type(G).__name__}")
    if G.continuous:
        raise ValueError(f"group_from_escnn: {G.name} is a continuous group; eqnn imports finite groups only")
    elements = list(G.elements)
    reg = G.regular_representation
    n = len(elements)

    def permutation(g):
        M = np.asarray(reg(g))
        return [int(np.argmax(M[:, i])) for i in range(n)]

    gens = list(G.generators) or [G.identity]
    E = group({"type": "FiniteGroup", "name": f"escnn:{G.name}", "generators": [permutation(g) for g in gens]})
    if E.order != n:
        raise ValueError(f"group_from_escnn: escnn's generators of {G.name} generate {E.order} of its {n} elements")
    # eqnn's element j moves point id (escnn's identity) to point j·id: the escnn element it is.
    points = rep(E, "permutation(points)").matrices()
    identity = elements.index(G.identity)
    to_escnn = [int(torch.argmax(points[j][:, identity])) for j in range(n)]
    to_eqnn = [0] * n
    for j, i in enumerate(to_escnn):
        to_eqnn[i] = j
    # The left/right conventions agree when ρ_eqnn(g) = escnn's reg(g) for every element (escnn computes its
    # regular matrices as Q ⊕ψ Qᵀ: 0 and 1 to rounding).
    for i, g in enumerate(elements):
        ref = torch.as_tensor(np.asarray(reg(g)), dtype=torch.float64)
        if not torch.allclose(points[to_eqnn[i]], ref, rtol=0, atol=1e-9):
            raise ValueError(f"group_from_escnn: eqnn's permutation rep of {G.name} differs from escnn's regular "
                             f"representation at element {g}")
    entry = (G, E, to_eqnn)
    _GROUPS[id(G)] = entry
    return entry


def group_from_escnn(G) -> Group:
    """The eqnn group of the finite escnn group ``G``: its points are ``G.elements`` (escnn's order), and
    ``eqnn.rep(E, "m x permutation(points)")`` equals ``escnn.group.directsum([G.regular_representation]*m)``.
    Cached per escnn group."""
    return _group_entry(G)[1]


def escnn_elements(G) -> list:
    """``escnn_elements(G)[i]``: the eqnn element (of ``group_from_escnn(G)``) that is ``G.elements[i]``."""
    return list(_group_entry(G)[2])


def _intertwiner(mats_escnn: np.ndarray, mats_eqnn: np.ndarray) -> np.ndarray:
    """The orthogonal T with ψ_escnn(g) T = T ψ_eqnn(g) for every g (the polar factor of the group average of
    a random matrix; a nonzero intertwiner of two orthogonal irreps is a multiple of an orthogonal one)."""
    d = mats_escnn.shape[1]
    rng = np.random.default_rng(0)
    for _ in range(8):
        X = rng.standard_normal((d, d))
        T = np.einsum("gij,jk,glk->il", mats_escnn, X, mats_eqnn)
        U, s, Vt = np.linalg.svd(T)
        if s.min() > 1e-6 * max(s.max(), 1e-300):
            T = U @ Vt
            if np.abs(mats_escnn @ T - T @ mats_eqnn).max() < 1e-9:
                return T
    raise ValueError("rep_from_escnn: no orthogonal intertwiner between escnn's and eqnn's irrep matrices")


def rep_from_escnn(escnn_rep, group: Group | None = None) -> Representation:
    """The eqnn representation with the same matrix ρ(g) as ``escnn_rep`` for every element and the same
    irreducible copies (the column blocks of its change of basis, in its order). ``group``, when given, must be
    ``group_from_escnn(escnn_rep.group)``. Cached per escnn representation."""
    eg = _escnn_group_type()
    if not isinstance(escnn_rep, eg.Representation):
        raise TypeError(f"rep_from_escnn: expected an escnn.group.Representation, got {type(escnn_rep).__name__}")
    G = escnn_rep.group
    _, E, to_eqnn = _group_entry(G)
    if group is not None and group != E:
        raise ValueError(f"rep_from_escnn: group {group} is not group_from_escnn({G.name}) (the eqnn group whose "
                         "points are escnn's elements)")
    hit = _REPS.get(id(escnn_rep))
    if hit is not None and hit[0] is escnn_rep:
        return hit[1]
    elements = list(G.elements)
    Q = np.asarray(escnn_rep.change_of_basis, dtype=np.float64)
    err = np.abs(Q.T @ Q - np.eye(Q.shape[0])).max() if Q.size else 0.0
    if not err < 1e-9:
        raise ValueError(f"rep_from_escnn: the change of basis of {escnn_rep.name} is not orthogonal "
                         f"(max |QᵀQ - I| = {err:.3g}); eqnn's representations are orthogonal")
    eq_irreps = E.irreps
    index, blocks, cache = [], [], {}
    for irrep_id in escnn_rep.irreps:
        if irrep_id not in cache:
            psi = G.irrep(*irrep_id)
            mats = np.stack([np.asarray(psi(g), dtype=np.float64) for g in elements])
            chars = np.trace(mats, axis1=1, axis2=2)
            match = [k for k, ir in enumerate(eq_irreps)
                     if ir.dim == psi.size and np.allclose(ir.character.numpy()[to_eqnn], chars, atol=1e-8)]
            if len(match) != 1:
                raise ValueError(f"rep_from_escnn: escnn's irrep {psi.name} of {G.name} matches {len(match)} eqnn "
                                 "irreps by character (expected exactly one)")
            k = match[0]
            cache[irrep_id] = (k, _intertwiner(mats, eq_irreps[k].matrices.numpy()[to_eqnn]))
        k, T = cache[irrep_id]
        index.append(k)
        blocks.append(T)
    B = np.zeros_like(Q)
    off = 0
    for T in blocks:
        d = T.shape[0]
        B[off:off + d, off:off + d] = T
        off += d
    out = rep(E, irreps=index, change_of_basis=torch.from_numpy(Q @ B))
    mats = out.matrices()
    for i, g in enumerate(elements):
        ref = torch.from_numpy(np.asarray(escnn_rep(g), dtype=np.float64))
        if not torch.allclose(mats[to_eqnn[i]], ref, rtol=0, atol=1e-10):
            raise ValueError(f"rep_from_escnn: {escnn_rep.name} is not orthogonal or its matrices are not "
                             f"Q (+) psi_k Qᵀ at {g}")  # pragma: no cover - escnn's own invariant
    _REPS[id(escnn_rep)] = (escnn_rep, out)
    return out


# ---------------------------------------------------------------------------------------------- converters

CONVERTERS: dict = {}


def converter(*types) -> Callable:
    """Registers ``fn(module, path) -> torch.nn.Module`` as the converter of the given module types."""

    def register(fn):
        for t in types:
            CONVERTERS[t] = fn
        return fn

    return register


def _type_name(t) -> str:
    return f"{t.__module__}.{t.__qualname__}"


def _where(path: str) -> str:
    return path if path else "(the model)"


def from_symm_learning(module: torch.nn.Module) -> torch.nn.Module:
    """An eqnn module computing the same function as the symm_learning ``module``, with its weights (see the
    converter rules above). Raises TypeError for a module it cannot convert, naming its path in the model."""
    _register_symm_learning()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_symm_learning: expected a torch.nn.Module, got {type(module).__name__}")
    _MODEL_LIKE.append(_like(module))
    try:
        return _convert(module, "")
    finally:
        _MODEL_LIKE.pop()


def _own_type(module: torch.nn.Module) -> type:
    """The module's class, not the subclass torch.nn.utils.parametrize substitutes for a parametrized one."""
    t = type(module)
    if torch.nn.utils.parametrize.is_parametrized(module):
        t = t.__bases__[0]
    return t


def _convert(module: torch.nn.Module, path: str) -> torch.nn.Module:
    t = _own_type(module)
    fn = CONVERTERS.get(t)
    if fn is not None:
        out = fn(module, path)
        out.train(module.training)
        return out
    name = _type_name(t)
    if name.startswith("symm_learning."):
        raise TypeError(f"{_where(path)}: {name} is not supported yet")
    if not t.__module__.startswith("torch.nn"):
        raise TypeError(f"{_where(path)}: {name} is not supported (neither a symm_learning module nor a torch.nn "
                        "one)")
    for sub_name, sub in module.named_modules():
        if sub_name and _type_name(_own_type(sub)).startswith("symm_learning."):
            raise TypeError(f"{_where(path)}: {name} holds the symm_learning module {sub_name} "
                            f"({_type_name(_own_type(sub))}); only torch.nn containers are converted through")
    return copy.deepcopy(module)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@converter(torch.nn.Sequential)
def _sequential(module, path):
    return torch.nn.Sequential(OrderedDict((n, _convert(m, _join(path, n))) for n, m in module.named_children()))


@converter(torch.nn.ModuleList)
def _module_list(module, path):
    return torch.nn.ModuleList([_convert(m, _join(path, n)) for n, m in module.named_children()])


@converter(torch.nn.ModuleDict)
def _module_dict(module, path):
    return torch.nn.ModuleDict({n: _convert(m, _join(path, n)) for n, m in module.named_children()})


def _like(module: torch.nn.Module) -> dict:
    """dtype and device of the module's tensors; for a module without any (norm pooling), those of the whole
    model being converted (a converted module holds buffers of one dtype)."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return {"dtype": t.dtype, "device": t.device}
    return dict(_MODEL_LIKE[-1]) if _MODEL_LIKE else {"dtype": torch.get_default_dtype(),
                                                       "device": torch.device("cpu")}


_MODEL_LIKE: list = []  # the dtype/device of the model from_symm_learning is converting (a stack: reentrant)


def _tolerance(dtype) -> float:
    """How far (relative) a dense tensor may be from eqnn's constrained space: symm_learning synthesises its
    tensors from bases computed in the default dtype, so a float32-built module cast to float64 is equivariant
    to ~1e-8 only. Within this the tensor is projected; further away it is refused as not equivariant."""
    return 1e-6 if dtype == torch.float64 else 1e-4


def _set_weight(param: torch.nn.Parameter, space, W: torch.Tensor, what: str, path: str) -> None:
    """param ← the coefficients of the dense W in ``space`` (a HomSpace); W must lie in it."""
    W64 = W.detach().to(torch.float64).cpu()
    c = space.analyse(W64)
    err = float((space.expand(c) - W64).abs().max()) / max(float(W64.abs().max()), 1e-300)
    if not err <= _tolerance(W.dtype):
        raise ValueError(f"{_where(path)}: {what} is not equivariant (its distance to Hom_G is {err:.3g} of its "
                         "largest entry); eqnn cannot hold it")
    with torch.no_grad():
        param.copy_(c.to(param.dtype))


def _fit_linear(module, param: torch.nn.Parameter, effective: str, target: torch.Tensor, what: str,
                path: str) -> None:
    """param ← the c with module.effective_parameters()[effective] = target, reading that tensor as a linear
    function of c (one probe per coefficient: for biases, which have few)."""
    target64 = target.detach().to(torch.float64).cpu().flatten()
    with torch.no_grad():
        columns = []
        for i in range(param.numel()):
            param.zero_()
            param.view(-1)[i] = 1
            columns.append(module.effective_parameters()[effective].detach().to(torch.float64).cpu().flatten())
        A = torch.stack(columns, 1) if columns else torch.zeros(target64.numel(), 0, dtype=torch.float64)
        c = torch.linalg.lstsq(A, target64.unsqueeze(1)).solution.squeeze(1) if columns else A.new_zeros(0)
        err = float((A @ c - target64).abs().max()) / max(float(target64.abs().max()), 1e-300)
        if target64.numel() and not err <= _tolerance(target.dtype):
            raise ValueError(f"{_where(path)}: {what} is not invariant (its distance to the invariant vectors is "
                             f"{err:.3g} of its largest entry); eqnn cannot hold it")
        param.copy_(c.to(param.dtype))


def _check_effective(out, expected: dict, dtype: torch.dtype, path: str) -> None:
    """The converted module's effective tensors equal the expected dense ones (given in ``dtype``)."""
    got = out.effective_parameters()
    for name, want in expected.items():
        if want is None:
            continue
        have = got[name].detach().to(torch.float64).cpu()
        want = want.detach().to(torch.float64).cpu()
        err = float((have - want).abs().max()) / max(float(want.abs().max()), 1e-300)
        if not err <= _tolerance(dtype):  # pragma: no cover - a converter bug
            raise RuntimeError(f"{_where(path)}: internal error, converted {name} differs by {err:.3g}")


def _linear(module, path):
    b = module.bias
    return _dense_linear(rep_from_escnn(module.in_rep), rep_from_escnn(module.out_rep), module.weight, b, _like(module),
                         path)


def _dense_linear(in_rep: Representation, out_rep: Representation, W: torch.Tensor, b: torch.Tensor | None,
                  like: dict, path: str):
    """The ELinear(in_rep, out_rep) with the dense weight W and bias b (checked equivariant / invariant)."""
    out = enn.ELinear(in_rep, out_rep, bias=b is not None, dtype=torch.float64)
    _set_weight(out.weight_coefficients, hom(in_rep, out_rep), W, "weight", path)
    if b is not None:
        if not hasattr(out, "bias_coefficients"):  # pragma: no cover - ELinear always has one when b exists
            raise ValueError(f"{_where(path)}: eqnn's ELinear has no bias for {out_rep}")
        _fit_linear(out, out.bias_coefficients, "bias", b, "bias", path)
    _check_effective(out, {"weight": W, "bias": b}, like["dtype"], path)
    return out.to(**like)


def _escnn_to_eqnn_regular(G) -> torch.Tensor:
    """P with P[eqnn index of e, escnn index of e] = 1: escnn's reg (``permutation(points)`` of
    group_from_escnn) in eqnn's own regular basis, eqnn_reg(g) P = P escnn_reg(g) (checked)."""
    _, E, to_eqnn = _group_entry(G)
    n = G.order()
    P = torch.zeros(n, n, dtype=torch.float64)
    for i, j in enumerate(to_eqnn):
        P[j, i] = 1
    reg_eqnn = rep(E, "regular").matrices()
    reg_escnn = rep(E, "permutation(points)").matrices()
    if not all(torch.equal(reg_eqnn[g] @ P, P @ reg_escnn[g]) for g in range(n)):  # pragma: no cover
        raise RuntimeError("eqnn.interop: eqnn's regular representation does not match escnn's (left/right)")
    return P


def _attention(module, path):
    like = _like(module)
    G = module.in_rep.group
    _, E, _ = _group_entry(G)
    n = G.order()
    m = module.embed_dim // n
    in_rep = rep_from_escnn(module.in_rep)
    regular_m = rep(E, f"{m}x permutation(points)")
    if not torch.allclose(in_rep.matrices(), regular_m.matrices(), rtol=0, atol=1e-10):
        raise ValueError(
            f"{_where(path)}: symm_learning's eMultiheadAttention on {module.in_rep.name} is not equivariant: its "
            f"out_proj ∈ End(in_rep) is applied to values in reg^{m}, which is right only when in_rep is escnn's "
            f"reg^{m} (DESIGN §9); use eqnn.nn.EMultiheadAttention on the eqnn rep instead")
    # eqnn's hidden reg^m uses eqnn's own regular basis.
    P = _escnn_to_eqnn_regular(G)
    out = enn.EMultiheadAttention(in_rep, module.num_heads, dropout=module.dropout,
                                  bias=module.in_proj_bias is not None, batch_first=True, dtype=torch.float64)
    Pq = torch.block_diag(*[P] * (3 * m))
    Pv = torch.block_diag(*[P] * m)
    W_in = Pq @ module.in_proj_weight.detach().to(torch.float64).cpu()
    qkv = rep(E, f"{3 * m}x regular")
    _set_weight(out.in_proj_weight_coefficients, hom(in_rep, qkv), W_in, "in_proj_weight", path)
    expected = {"in_proj_weight": W_in}
    if module.in_proj_bias is not None:
        b_in = Pq @ module.in_proj_bias.detach().to(torch.float64).cpu()
        _fit_linear(out, out.in_proj_bias_coefficients, "in_proj_bias", b_in, "in_proj_bias", path)
        expected["in_proj_bias"] = b_in
    W_out = module.out_proj.weight.detach().to(torch.float64).cpu() @ Pv.T
    _set_weight(out.out_proj.weight_coefficients, hom(rep(E, f"{m}x regular"), in_rep), W_out, "out_proj.weight",
                path)
    expected["out_proj.weight"] = W_out
    if module.out_proj.bias is not None:
        _fit_linear(out, out.out_proj.bias_coefficients, "out_proj.bias", module.out_proj.bias, "out_proj.bias",
                    path)
        expected["out_proj.bias"] = module.out_proj.bias
    _check_effective(out, expected, like["dtype"], path)
    return out.to(**like)


def _norm_pool(module, path):
    return enn.ENormPool(rep_from_escnn(module.in_rep), **_like(module))


# ---- converters of further modules (eAffine, InvariantBias, norms, eBatchNorm1d, eConv1d, ...) ----


def _rel_err(have: torch.Tensor, want: torch.Tensor) -> float:
    return float((have - want).abs().max()) / max(float(want.abs().max()), 1e-300) if want.numel() else 0.0


def _invariant_coefficients(out_rep: Representation, b: torch.Tensor, what: str, path: str) -> torch.Tensor:
    """The InvariantConstraint coefficients (float64) of the dense invariant vector b on out_rep: the basis is
    read off an EInvariantBias (the constraint every eqnn bias uses), b must be invariant within the
    tolerance."""
    helper = enn.EInvariantBias(out_rep, dtype=torch.float64)
    theta = helper.bias_coefficients
    target = b.detach().to(torch.float64).cpu()
    columns = []
    with torch.no_grad():
        for i in range(theta.numel()):
            theta.zero_()
            theta[i] = 1
            columns.append(helper.bias.detach().clone())
    A = torch.stack(columns, 1)
    c = torch.linalg.lstsq(A, target.unsqueeze(1)).solution.squeeze(1)
    err = _rel_err(A @ c, target)
    if not err <= _tolerance(b.dtype):
        raise ValueError(f"{_where(path)}: {what} is not invariant (its distance to the invariant vectors is {err:.3g} "
                         "of its largest entry); eqnn cannot hold it")
    return c


def _escnn_trivial_columns(escnn_rep) -> list:
    """The columns of escnn's change of basis that are its trivial copies (symm_learning's bias_dof basis)."""
    G = escnn_rep.group
    trivial, columns, offset = G.trivial_representation.id, [], 0
    for irrep_id in escnn_rep.irreps:
        if irrep_id == trivial:
            columns.append(offset)
        offset += G.irrep(*irrep_id).size
    return columns


def _same_trivial_basis(escnn_rep, eqnn_rep: Representation, path: str) -> None:
    """symm_learning's bias_dof multiplies escnn's trivial columns of Q, eqnn's those of its own Q: the same
    vectors (rep_from_escnn's intertwiner of the trivial irrep is +1), checked."""
    Q_escnn = torch.as_tensor(np.asarray(escnn_rep.change_of_basis), dtype=torch.float64)
    Q, _, _, trivial = enn._copy_structure(eqnn_rep)
    a, b = Q_escnn[:, _escnn_trivial_columns(escnn_rep)], Q[:, trivial]
    if a.shape != b.shape or (a.numel() and float((a - b).abs().max()) > 1e-9):  # pragma: no cover - see above
        raise ValueError(f"{_where(path)}: eqnn's trivial basis vectors of {escnn_rep.name} differ from escnn's; "
                         "bias_dof would mean different biases")


def _invariant_bias(module, path):
    if not module.has_bias:  # symm_learning: no trivial part, the module is the identity
        return torch.nn.Identity()
    like = _like(module)
    out_rep = rep_from_escnn(module.in_rep)
    out = enn.EInvariantBias(out_rep, dtype=torch.float64)
    with torch.no_grad():
        out.bias_coefficients.copy_(_invariant_coefficients(out_rep, module.expand_bias(), "bias", path))
    return out.to(**like)


def _affine(module, path):
    like = _like(module)
    in_rep = rep_from_escnn(module.in_rep)
    if not module.learnable:  # FiLM: the same scale_dof/bias_dof mean the same function
        if module.has_bias:
            _same_trivial_basis(module.in_rep, in_rep, path)
        return enn.EAffine(in_rep, bias=module.has_bias, learnable=False, **like)
    out = enn.EAffine(in_rep, bias=module.has_bias, dtype=torch.float64)
    with torch.no_grad():
        out.scale.copy_(module.scale_dof.detach().to(torch.float64).cpu())
    expected = {"weight": module.expand_affine()}
    if module.has_bias:
        b = module.bias_module.expand_bias()
        _fit_linear(out, out.bias_coefficients, "bias", b, "bias", path)
        expected["bias"] = b
    _check_effective(out, expected, like["dtype"], path)
    return out.to(**like)


def _copy_affine(out, scale: torch.Tensor, bias: torch.Tensor | None, out_rep: Representation, path: str) -> None:
    """A norm's per-copy scale and invariant bias (from symm_learning's eAffine) into out.weight and
    out.bias_coefficients; a bias eqnn's layer has and symm_learning's has not stays 0 and frozen."""
    with torch.no_grad():
        out.weight.copy_(scale.detach().to(torch.float64).cpu())
        theta = getattr(out, "bias_coefficients", None)
        if theta is None:
            if bias is not None:  # pragma: no cover - both have a bias exactly when the rep has a trivial part
                raise ValueError(f"{_where(path)}: eqnn's layer has no invariant bias for a bias symm_learning has")
            return
        if bias is None:
            theta.zero_()
            theta.requires_grad_(False)  # symm_learning's bias=False: nothing to learn there
        else:
            theta.copy_(_invariant_coefficients(out_rep, bias, "bias", path))


def _rms_norm(module, path):
    like = _like(module)
    in_rep = rep_from_escnn(module.in_rep)
    affine = hasattr(module, "affine")
    out = enn.ERMSNorm(in_rep, eps=module.eps, elementwise_affine=affine, affine="per_copy", dtype=torch.float64)
    if affine:
        _copy_affine(out, module.affine.scale_dof, None, in_rep, path)
    return out.to(**like)


def _layer_norm(module, path):
    like = _like(module)
    in_rep = rep_from_escnn(module.in_rep)
    out = enn.ELayerNorm(in_rep, eps=module.eps, elementwise_affine=module.equiv_affine, affine="per_copy",
                         normalize="per_copy", dtype=torch.float64)
    if module.equiv_affine:
        a = module.affine
        _copy_affine(out, a.scale_dof, a.bias_module.expand_bias() if a.has_bias else None, in_rep, path)
        if a.has_bias:  # the bias is the output at x = 0 (the normalised 0 is 0)
            with torch.no_grad():
                err = _rel_err(out(torch.zeros(1, in_rep.size, dtype=torch.float64))[0],
                               a.bias_module.expand_bias().detach().to(torch.float64).cpu())
            if not err <= _tolerance(like["dtype"]):  # pragma: no cover - a converter bug
                raise RuntimeError(f"{_where(path)}: internal error, converted bias differs by {err:.3g}")
    return out.to(**like)


def _copy_projectors(rep_: Representation) -> torch.Tensor:
    """(D·D, num_copies): column c is the flattened projector Q_c Q_cᵀ onto irreducible copy c."""
    Q, copy_of, n, _ = enn._copy_structure(rep_)
    return torch.stack([(Q[:, copy_of == c] @ Q[:, copy_of == c].T).flatten() for c in range(n)], 1)


def _batch_norm(module, path):
    like = _like(module)
    in_rep = rep_from_escnn(module.in_rep)
    momentum = "cumulative" if module.momentum is None else module.momentum
    out = enn.EBatchNorm1d(in_rep, eps=module.eps, momentum=momentum, affine=module.affine,
                           track_running_stats=module.track_running_stats, channels_last=True, dtype=torch.float64)
    tol = _tolerance(like["dtype"])
    if module.track_running_stats:
        Q, _, _, trivial = enn._copy_structure(in_rep)
        mean = module.running_mean.detach().to(torch.float64).cpu()
        P = Q[:, trivial] @ Q[:, trivial].T
        err = _rel_err(P @ mean, mean) if float(mean.abs().max()) > 0 else 0.0
        if not err <= tol:
            raise ValueError(f"{_where(path)}: running_mean is not invariant (its distance to the invariant vectors "
                             f"is {err:.3g} of its largest entry); eqnn cannot hold it")
        # Eval mode divides coordinate-wise by sqrt(running_var + eps): eqnn's Q diag(1/sqrt(v_c + eps)) Qᵀ is
        # that map exactly when diag(running_var) = Q diag(v_c) Qᵀ (then every function of the two agrees).
        var = module.running_var.detach().to(torch.float64).cpu()
        A = _copy_projectors(in_rep)
        target = torch.diag(var).flatten()
        v = torch.linalg.lstsq(A, target.unsqueeze(1)).solution.squeeze(1)
        err = _rel_err(A @ v, target)
        if not err <= tol:
            raise ValueError(
                f"{_where(path)}: symm_learning's eBatchNorm1d on {module.in_rep.name} divides by its running_var "
                f"coordinate-wise, and diag(running_var) is not Q diag(v) Qᵀ for one variance v per irreducible copy "
                f"({err:.3g} away): its eval-mode map does not commute with the group (DESIGN §9), eqnn cannot hold "
                "it; train eqnn.nn.EBatchNorm1d's running statistics from data instead")
        if not bool((v + module.eps > 0).all()):
            raise ValueError(f"{_where(path)}: running_var gives a per-copy variance ≤ -eps ({float(v.min()):.3g})")
        with torch.no_grad():
            out.running_mean.copy_(P @ mean)
            out.running_var.copy_(v)
            out.num_batches_tracked.copy_(module.num_batches_tracked)
    if module.affine:
        a = module.affine_transform
        _copy_affine(out, a.scale_dof, a.bias_module.expand_bias() if a.has_bias else None, in_rep, path)
    return out.to(**like)


def _conv_common(module, path, transpose: bool):
    like = _like(module)
    in_rep, out_rep = rep_from_escnn(module.in_rep), rep_from_escnn(module.out_rep)
    K = module.kernel_size[0]
    padding = module.padding if isinstance(module.padding, str) else module.padding[0]
    common = dict(stride=module.stride[0], padding=padding, dilation=module.dilation[0], bias=module.has_bias,
                  padding_mode=module.padding_mode, dtype=torch.float64)
    if transpose:
        out = enn.EConvTranspose1d(in_rep, out_rep, K, output_padding=module.output_padding[0], **common)
    else:
        out = enn.EConv1d(in_rep, out_rep, K, **common)
    W = module.weight.detach()
    taps = (W.permute(2, 1, 0) if transpose else W.permute(2, 0, 1)).to(torch.float64).cpu()  # (K, out, in)
    space = hom(in_rep, out_rep)
    c = torch.stack([space.analyse(t) for t in taps])
    err = _rel_err(torch.stack([space.expand(ck) for ck in c]), taps)
    if not err <= _tolerance(W.dtype):
        raise ValueError(f"{_where(path)}: weight is not equivariant (its distance to Hom_G per tap is {err:.3g} of "
                         "its largest entry); eqnn cannot hold it")
    with torch.no_grad():
        out.weight_coefficients.copy_(c.flatten())
    expected = {"weight": W}
    if module.has_bias:
        _fit_linear(out, out.bias_coefficients, "bias", module.bias, "bias", path)
        expected["bias"] = module.bias
    _check_effective(out, expected, like["dtype"], path)
    return out.to(**like)


def _conv(module, path):
    return _conv_common(module, path, transpose=False)


def _conv_transpose(module, path):
    return _conv_common(module, path, transpose=True)


def _isotypic(module, path):
    like = _like(module)
    in_rep = rep_from_escnn(module.in_rep)
    if module._learnable:
        # A free Linear initialised to Q⁻¹: converted while its weight is equivariant, as a trainable ELinear to
        # symm_learning's out_rep (so it stays equivariant when trained, which the free Linear does not).
        return _dense_linear(in_rep, rep_from_escnn(module.out_rep), module.Qin2iso.weight, None, like, path)
    if _isotypic_basis_is_eqnns(module, in_rep, like["dtype"]):
        return enn.EIsotypicBasis(in_rep, **like)
    # Another component order or another basis inside the copies (escnn's irrep matrices are not eqnn's): the
    # same fixed map x ↦ Q⁻¹x as an ELinear to symm_learning's out_rep (Q⁻¹ ∈ Hom_G(in, out)), frozen.
    Q_inv = torch.eye(in_rep.size, dtype=torch.float64) if module._is_in_iso_basis else module.Qin2iso
    out = _dense_linear(in_rep, rep_from_escnn(module.out_rep), Q_inv.to(like["dtype"]), None, like, path)
    out.weight_coefficients.requires_grad_(False)
    return out


def _isotypic_basis_is_eqnns(module, in_rep: Representation, dtype: torch.dtype) -> bool:
    """Whether symm_learning's isotypic basis of in_rep is eqnn's: the same component order (symm_learning
    breaks ties in escnn's irrep order, eqnn by its irrep index) and the same basis inside each copy."""
    from symm_learning.representation_theory import isotypic_decomp_rep

    escnn_ids = list(dict.fromkeys(module.in_rep.irreps))
    eqnn_of = {i: in_rep.irreps[module.in_rep.irreps.index(i)] for i in escnn_ids}
    theirs = list(isotypic_decomp_rep(module.in_rep).attributes["isotypic_reps"])
    if [eqnn_of[i] for i in theirs] != [k for k, _ in in_rep.isotypic_slices]:
        return False
    Q_sl = module.Qin2iso.detach().to(torch.float64).cpu().T
    if module._is_in_iso_basis:
        Q_sl = torch.eye(in_rep.size, dtype=torch.float64)
    return float((Q_sl - in_rep.isotypic_change_of_basis.to(torch.float64)).abs().max()) <= _tolerance(dtype)


def _normal(module, path):
    return enn.EMultivariateNormal(rep_from_escnn(module.out_rep))


# ---- the transformer layers' activation (eqnn._interop_transformer converts the layers) ----

_ACTIVATIONS = {torch.nn.ReLU: "relu", torch.nn.GELU: "gelu", torch.nn.SiLU: "silu", torch.nn.Tanh: "tanh"}


def _transformer_activation(act, path: str) -> str:
    where = _where(_join(path, "activation"))
    name = _ACTIVATIONS.get(type(act))
    if name is None:
        raise TypeError(f"{where}: {_type_name(type(act))} is not an activation eqnn's ETransformerEncoderLayer "
                        "computes (torch.nn.ReLU, GELU (exact), SiLU or Tanh)")
    if name == "gelu" and act.approximate != "none":
        raise ValueError(f"{where}: GELU(approximate={act.approximate!r}) is not eqnn's transformer activation, which "
                         "is the exact GELU (approximate='none')")
    return name


_REGISTERED = False

# Converters of later layer families live in their own modules, eqnn._interop_<name>, each with a
# ``register()`` that calls ``converter(...)`` for its symm_learning types; list the name here.
_CONVERTER_MODULES: tuple = ("stats", "models", "attention", "transformer", "unet", "cond_transformer")


def _register_symm_learning() -> None:
    """Adds the symm_learning types to CONVERTERS on first use (importing symm_learning is slow)."""
    global _REGISTERED
    if _REGISTERED:
        return
    try:
        import symm_learning.nn as sln
    except ImportError as e:  # pragma: no cover - the extra is missing
        raise ImportError("eqnn.interop.from_symm_learning needs symm_learning: pip install 'eqnn[interop]'") from e
    converter(sln.eLinear)(_linear)
    converter(sln.eMultiheadAttention)(_attention)
    converter(sln.IrrepSubspaceNormPooling)(_norm_pool)
    converter(sln.InvariantBias)(_invariant_bias)
    converter(sln.eAffine)(_affine)
    converter(sln.eRMSNorm)(_rms_norm)
    converter(sln.eLayerNorm)(_layer_norm)
    converter(sln.eBatchNorm1d)(_batch_norm)
    converter(sln.eConv1d)(_conv)
    converter(sln.eConvTranspose1d)(_conv_transpose)
    converter(sln.Change2DisentangledBasis)(_isotypic)
    converter(sln.eMultivariateNormal)(_normal)
    for name in _CONVERTER_MODULES:
        importlib.import_module(f"eqnn._interop_{name}").register()
    _REGISTERED = True
