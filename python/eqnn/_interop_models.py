"""Converters of symm_learning's eMLP, iMLP (symm_learning.models.emlp) and eTimeCNNEncoder to eqnn.models.EMLP,
IMLP and ETimeCNNEncoder, registered by eqnn.interop (``_CONVERTER_MODULES``).

symm_learning's hidden representations are escnn's reg^k. The converted model is built with
``hidden_rep = rep_from_escnn(G.regular_representation)``: the regular representation in escnn's order of the
group elements and with escnn's change of basis. Its generators are permutation matrices, so it is a permutation
representation (pointwise activations and max pooling accept it) that keeps escnn's cut into irreducible copies.
The hidden reps of both libraries are then the same matrices, and the weights are copied as they are
(``net.{i}`` → ``net.{i}``; iMLP's ``emlp_backbone.*``, the same modules, is not copied twice). eTimeCNNEncoder:
``feature_layers.{i}`` (``_eChannelRMSNorm.norm``'s per-copy scales → the ERMSNorm's ``weight``) and ``head.*``.

iMLP's norm pooling and the channel RMS norm take one value per irreducible copy of escnn's reg^k; eqnn's
ENormPool and per-copy ERMSNorm cut the hidden rep by its own change of basis, here escnn's. The copies are
matched by their projectors (symm_learning's pooling may hold an isotypically reordered copy of the rep: the
same copies in another order); a rep whose copies are not those of escnn's reg^k (a custom hidden_rep of
symm_learning's model) is refused.
"""

from __future__ import annotations

import torch

from . import hom, rep
from . import interop as _io
from . import models as _models


def _activation(net, path: str) -> str:
    """The function name of the (shared) activation module of a symm_learning MLP net."""
    import symm_learning.nn as sln
    from symm_learning.nn.pooling import IrrepSubspaceNormPooling

    for name, m in net.named_children():
        if isinstance(m, (sln.eLinear, torch.nn.Dropout, torch.nn.Linear, IrrepSubspaceNormPooling)):
            continue
        try:
            return _models._activation_name(m, "eqnn.interop")
        except TypeError as e:
            raise TypeError(f"{_io._where(_io._join(path, 'net.' + name))}: {e}; eqnn's models apply one of those "
                            "pointwise functions") from None
    return "relu"  # pragma: no cover - symm_learning's nets always hold an activation


def _dropout(net) -> float:
    return next((float(m.p) for m in net if isinstance(m, torch.nn.Dropout)), 0.0)


def _regular(G):
    """escnn's regular representation of G as an eqnn rep (escnn's element order and change of basis): a
    permutation representation, the hidden_rep of the converted models."""
    return _io.rep_from_escnn(G.regular_representation)


def _hidden(escnn_hidden, path: str, where: str):
    """(k, eqnn rep) for a hidden rep that is escnn's reg^k: k copies of ``_regular(G)``, with the same matrices;
    refused otherwise (a hidden_rep that is not the regular one)."""
    G = escnn_hidden.group
    n = G.order()
    k = escnn_hidden.size // n
    base = _regular(G)
    _, E, _ = _io._group_entry(G)
    ours = None
    if k > 0 and escnn_hidden.size % n == 0:
        ours = rep(E, irreps=list(base.irreps) * k, change_of_basis=torch.block_diag(*[base.change_of_basis] * k))
    if ours is None or not torch.allclose(_io.rep_from_escnn(escnn_hidden).matrices(), ours.matrices(), rtol=0,
                                          atol=1e-10):
        raise ValueError(f"{_io._where(path)}: the {where} representation {escnn_hidden.name} is not escnn's "
                         "regular representation repeated (a custom hidden_rep); eqnn converts symm_learning's "
                         "MLPs with the default hidden_rep only")
    return k, ours


def _load_parts(out, parts: dict, extra_state: dict | None = None) -> None:
    """Loads converted single layers ``parts`` ({prefix: module}, prefix e.g. "net.0.") into ``out``, their
    basis records re-keyed under the prefix, so that load_state_dict re-projects exactly where out's bases
    differ; ``extra_state`` holds further tensors by full name (iMLP's raw head)."""
    state = out.state_dict()
    record = state.get("_extra_state")
    for prefix, part in parts.items():
        sub = part.state_dict()
        sub_record = sub.pop("_extra_state", None)
        for key, value in sub.items():
            state[prefix + key] = value
        if record is not None and sub_record is not None:
            for table in ("eqnn_bases", "eqnn_effective"):
                for key, value in sub_record[table].items():
                    record[table][prefix + key] = value
    if extra_state:
        state.update(extra_state)
    out.load_state_dict(state, strict=True)


def _linear_parts(module, reps: list, perms: list, path: str, prefix: str = "") -> dict:
    """{"<prefix>net.<i>.": ELinear} for every eLinear of module.net, between the eqnn reps ``reps``
    (len = #linears + 1), weights conjugated by the permutations ``perms`` (None: identity, the same
    coordinates in both libraries)."""
    import symm_learning.nn as sln

    parts, j = {}, 0
    for name, m in module.net.named_children():
        if not isinstance(m, sln.eLinear):
            continue
        W = m.weight.detach().to(torch.float64).cpu()
        b = m.bias.detach().to(torch.float64).cpu() if m.bias is not None else None
        P_in, P_out = perms[j], perms[j + 1]
        if P_out is not None:
            W = P_out @ W
            b = P_out @ b if b is not None else None
        if P_in is not None:
            W = W @ P_in.T
        parts[f"{prefix}net.{name}."] = _io._dense_linear(reps[j], reps[j + 1], W, b, {"dtype": torch.float64,
                                                                         "device": torch.device("cpu")},
                                             _io._join(path, f"net.{name}"))
        j += 1
    return parts


def _same_function(ours, theirs, in_size: int, path: str) -> None:
    """The converted model computes the source's function (eval mode, a random batch)."""
    like = _io._like(theirs)
    x = torch.randn(7, in_size, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(**like)
    modes = (ours.training, theirs.training)
    ours.eval()
    theirs.eval()
    try:
        with torch.no_grad():
            err = _io._rel_err(ours(x).to(torch.float64), theirs(x).to(torch.float64))
    finally:
        ours.train(modes[0])
        theirs.train(modes[1])
    if not err <= _io._tolerance(like["dtype"]):  # pragma: no cover - a converter bug
        raise RuntimeError(f"{_io._where(path)}: internal error, the converted model differs by {err:.3g}")


def _hidden_layout(module, in_rep, P_in, path: str):
    """(reps, perms, units) of the eLinear maps of module.net: eqnn reps and escnn→eqnn permutations of every
    map's input and output (the last output: module.out_rep for an eMLP, the last hidden reg^k for an iMLP).
    The hidden reps are escnn's (k copies of ``_regular``): their permutations are None."""
    import symm_learning.nn as sln

    linears = [m for m in module.net if isinstance(m, sln.eLinear)]
    reps, perms, units = [in_rep], [P_in], []
    for lin in linears[:-1]:
        _, h = _hidden(lin.out_rep, path, "hidden")
        reps.append(h)
        perms.append(None)
        units.append(lin.out_rep.size)
    return reps, perms, units, linears


def _emlp_state(module, in_rep, P_in, path: str, prefix: str = ""):
    """(EMLP keyword arguments, parts) of a symm_learning eMLP whose input is in_rep (eqnn) = P_in · escnn's."""
    reps, perms, units, linears = _hidden_layout(module, in_rep, P_in, path)
    reps.append(_io.rep_from_escnn(module.out_rep))
    perms.append(None)
    kwargs = dict(hidden_units=units, activation=_activation(module.net, path), dropout=_dropout(module.net),
                  bias=linears[0].bias is not None, hidden_rep=_regular(module.in_rep.group))
    return kwargs, _linear_parts(module, reps, perms, path, prefix)


def _copy_order(escnn_hidden, ours, path: str, what: str = "norm pooling") -> torch.Tensor:
    """The eqnn copy index of each of symm_learning's irreducible copies of escnn_hidden (same subspace: the
    same matrices, with ours cut by escnn's change of basis); refused where the two cuts into copies differ."""
    import numpy as np

    Q_esc = torch.as_tensor(np.asarray(escnn_hidden.change_of_basis), dtype=torch.float64)
    G = escnn_hidden.group
    esc_dims = [G.irrep(*i).size for i in escnn_hidden.irreps]
    Q_eq = ours.change_of_basis
    eq_dims = [ours.group.irreps[k].dim for k in ours.irreps]

    def projectors(Q, dims):
        out, off = [], 0
        for d in dims:
            B = Q[:, off:off + d]
            out.append(B @ B.T)
            off += d
        return out

    theirs_p, ours_p = projectors(Q_esc, esc_dims), projectors(Q_eq, eq_dims)
    order, unmatched = [], set()
    for c, Pc in enumerate(theirs_p):
        match = [d for d, Pd in enumerate(ours_p) if Pd.shape == Pc.shape and torch.allclose(Pd, Pc, atol=1e-8)]
        if len(match) != 1:
            unmatched.add(G.irrep(*escnn_hidden.irreps[c]).name)
            continue
        order.append(match[0])
    if unmatched or len(set(order)) != len(order):
        raise ValueError(
            f"{_io._where(path)}: symm_learning's {what} cuts its representation {escnn_hidden.name} into "
            f"irreducible copies that are not those of escnn's reg^{escnn_hidden.size // G.order()} of {G.name} "
            f"(the irreps {', '.join(sorted(unmatched)) or 'with repeated copies'}; eqnn's hidden reps are cut "
            "as escnn's regular representation is): the per-copy values would differ and the converted model "
            "would compute another function")
    return torch.tensor(order, dtype=torch.long)


def _imlp_state(module, in_rep, P_in, path: str, prefix: str = ""):
    """(IMLP keyword arguments, parts, raw head tensors) of a symm_learning iMLP (input as _emlp_state)."""
    G = module.in_rep.group
    reps, perms, units, linears = _hidden_layout(module, in_rep, P_in, path)
    _, last = _hidden(linears[-1].out_rep, path, "last hidden")
    reps.append(last)
    perms.append(None)
    head = module.head
    # The pooling's own rep (the eLinear before it may hold an isotypically reordered copy: same matrices).
    order = _copy_order(module.net[-2].in_rep, last, _io._join(path, f"net.{len(module.net) - 2}"))
    W = torch.empty_like(head.weight.detach())
    W[:, order] = head.weight.detach()
    j = len(module.net) - 1
    raw = {f"{prefix}net.{j}.weight": W.to(torch.float64).cpu()}
    if head.bias is not None:
        raw[f"{prefix}net.{j}.bias"] = head.bias.detach().to(torch.float64).cpu()
    kwargs = dict(hidden_units=units, activation=_activation(module.net, path), dropout=_dropout(module.net),
                  bias=linears[0].bias is not None, hidden_rep=_regular(G))
    if (head.bias is not None) != kwargs["bias"]:  # pragma: no cover - one `bias` in symm_learning
        raise ValueError(f"{_io._where(path)}: the head's bias and the backbone's differ")
    return kwargs, _linear_parts(module, reps, perms, path, prefix), raw


def _emlp(module, path):
    like = _io._like(module)
    in_rep, out_rep = _io.rep_from_escnn(module.in_rep), _io.rep_from_escnn(module.out_rep)
    kwargs, parts = _emlp_state(module, in_rep, None, path)
    out = _models.EMLP(in_rep, out_rep, dtype=torch.float64, **kwargs)
    _load_parts(out, parts)
    out = out.to(**like)
    _same_function(out, module, in_rep.size, path)
    return out


def _imlp(module, path):
    like = _io._like(module)
    in_rep = _io.rep_from_escnn(module.in_rep)
    kwargs, parts, raw = _imlp_state(module, in_rep, None, path)
    out = _models.IMLP(in_rep, module.head.out_features, dtype=torch.float64, **kwargs)
    _load_parts(out, parts, raw)
    out = out.to(**like)
    _same_function(out, module, in_rep.size, path)
    return out


def _dense_conv(in_rep, out_rep, module, P_in, P_out, path: str, transpose: bool = False):
    """The EConv1d(in_rep, out_rep) of symm_learning's eConv1d (``transpose``: the EConvTranspose1d of its
    eConvTranspose1d) with taps P_out W_t P_inᵀ and bias P_out b (P None: identity)."""
    from . import nn as enn

    if transpose:
        out = enn.EConvTranspose1d(in_rep, out_rep, module.kernel_size[0], stride=module.stride[0],
                                   padding=module.padding[0], output_padding=module.output_padding[0],
                                   bias=module.has_bias, dtype=torch.float64)
    else:
        out = enn.EConv1d(in_rep, out_rep, module.kernel_size[0], stride=module.stride[0],
                          padding=module.padding[0], bias=module.has_bias, dtype=torch.float64)
    # (K, out, in): torch stores Conv1d weights (out, in, K) and ConvTranspose1d weights (in, out, K).
    taps = module.weight.detach().to(torch.float64).cpu().permute((2, 1, 0) if transpose else (2, 0, 1))
    if P_out is not None:
        taps = P_out @ taps
    if P_in is not None:
        taps = taps @ P_in.T
    space = hom(in_rep, out_rep)
    c = torch.stack([space.analyse(t) for t in taps])
    err = _io._rel_err(torch.stack([space.expand(ck) for ck in c]), taps)
    if not err <= _io._tolerance(module.weight.dtype):
        raise ValueError(f"{_io._where(path)}: weight is not equivariant (distance {err:.3g}); eqnn cannot hold it")
    with torch.no_grad():
        out.weight_coefficients.copy_(c.flatten())
    if module.has_bias:
        b = module.bias.detach().to(torch.float64).cpu()
        _io._fit_linear(out, out.bias_coefficients, "bias", P_out @ b if P_out is not None else b, "bias", path)
    return out


def _time_cnn(module, path):
    import symm_learning.nn as sln
    from symm_learning.models.emlp import iMLP

    from . import nn as enn

    like = _io._like(module)
    G = module.in_rep.group
    in_rep, out_rep = _io.rep_from_escnn(module.in_rep), _io.rep_from_escnn(module.out_rep)
    parts, channels, batch_norm, activation = {}, [], False, "relu"
    prev = in_rep
    for name, m in module.feature_layers.named_children():
        where = _io._join(path, f"feature_layers.{name}")
        if isinstance(m, sln.eConv1d):
            _, h = _hidden(m.out_rep, where, "hidden")
            parts[f"feature_layers.{name}."] = _dense_conv(prev, h, m, None, None, where)
            channels.append(m.out_rep.size)
            prev = h
        elif type(m).__name__ == "_eChannelRMSNorm":
            batch_norm = True
            # The norm's own rep (symm_learning's convolution may hold an isotypically reordered copy of it:
            # same matrices, the same copies in another order).
            order = _copy_order(m.norm.in_rep, prev, where, "channel RMS norm (per-copy scales)")
            norm = enn.ERMSNorm(prev, eps=m.norm.eps, affine="per_copy", dtype=torch.float64)
            scale = m.norm.affine.scale_dof.detach().to(torch.float64).cpu()
            with torch.no_grad():
                norm.weight[order] = scale
            parts[f"feature_layers.{name}."] = norm
        elif not isinstance(m, torch.nn.MaxPool1d):
            activation = _activation(torch.nn.Sequential(m), where)
    # The head's input: H' frames of the last conv rep, then the last input frame: escnn's head_in_rep.
    head_rep = _io.rep_from_escnn(module.head_in_rep)
    if isinstance(module.head, iMLP):
        kwargs, head_parts, raw = _imlp_state(module.head, head_rep, None, _io._join(path, "head"), "head.")
    else:
        kwargs, head_parts = _emlp_state(module.head, head_rep, None, _io._join(path, "head"), "head.")
        raw = {}
    parts.update(head_parts)
    conv0 = next(m for m in module.feature_layers if isinstance(m, sln.eConv1d))
    out = _models.ETimeCNNEncoder(in_rep, out_rep, channels, module.time_horizon, activation=activation,
                                  batch_norm=batch_norm, bias=conv0.has_bias, mlp_hidden=kwargs["hidden_units"],
                                  downsample=module.downsample, append_last_frame=module.append_last_frame,
                                  hidden_rep=_regular(G), dtype=torch.float64)
    _load_parts(out, parts, raw)
    out = out.to(**like)
    x = torch.randn(3, in_rep.size, module.time_horizon, generator=torch.Generator().manual_seed(0),
                    dtype=torch.float64).to(**like)
    modes = (out.training, module.training)
    out.eval()
    module.eval()
    try:
        with torch.no_grad():
            err = _io._rel_err(out(x).to(torch.float64), module(x).to(torch.float64))
    finally:
        out.train(modes[0])
        module.train(modes[1])
    if not err <= _io._tolerance(like["dtype"]):  # pragma: no cover - a converter bug
        raise RuntimeError(f"{_io._where(path)}: internal error, the converted encoder differs by {err:.3g}")
    return out


def register() -> None:
    from symm_learning.models.emlp import eMLP, iMLP
    from symm_learning.models.time_cnn.ecnn_encoder import eTimeCNNEncoder

    _io.converter(eMLP)(_emlp)
    _io.converter(iMLP)(_imlp)
    _io.converter(eTimeCNNEncoder)(_time_cnn)
