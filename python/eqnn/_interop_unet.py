"""Converter of symm_learning's eConditionalUnet1D (symm_learning.models.diffusion.cond_eunet1d) to
eqnn.models.EConditionalUnet1D with ``layout="symm_learning_0.8.1"`` (symm_learning's up path, so that the
converted model computes symm_learning's function), registered by eqnn.interop (``_CONVERTER_MODULES``).

The converted model is built with ``hidden_rep = rep_from_escnn(G.regular_representation)`` (as eqnn.interop's
MLP and eTimeCNNEncoder converters): escnn's regular representation, a permutation representation that keeps
escnn's change of basis, so both libraries' hidden reps are the same matrices cut into the same irreducible
copies. Mapped by name: the blocks' ``conv1``, ``conv2``, ``residual_conv`` (EConv1d, taps as they are),
``norm1.norm`` / ``norm2.norm`` (per-copy scales, matched copy by copy) and ``cond_encoder.1`` (its rows: the
FiLM scales per copy of out_rep, matched copy by copy, then the FiLM biases per trivial copy, in the order of
eqnn's trivial columns); ``diffusion_step_encoder.{1,3}``; ``down_modules.{i}.2`` (EConv1d) and
``up_modules.{i}.2`` (EConvTranspose1d); ``final_conv.{0,1.norm,3}``. symm_learning takes the sample
channels first, (N, C, L); eqnn's U-Net takes it features last, (N, L, C).

symm_learning builds a block's learned 1x1 ``residual_conv`` whenever its two escnn reps differ by ``==``, which
compares names too: a sample rep named otherwise than escnn's regular rep with ``down_dims[0]`` giving its size, a
local conditioning rep equal to the first hidden rep, or an up level's ``(h x 2)`` concatenation equal to its
target ``(regular x 2k)`` get the convolution between equal matrices, where eqnn's block ("auto") adds x. The
converter then builds eqnn's model with ``residual_conv="always"`` (every block that changes representation keeps
a learned 1x1 convolution) and gives the blocks where symm_learning adds x the identity taps (and a zero bias), so
the converted model computes symm_learning's function; it holds one more trainable convolution there.

Per-copy operations (norm scales, FiLM scales) need the two libraries to cut the hidden reps into the same
irreducible copies, which the shared change of basis gives on every group (Ico and D_n, where an irrep appears
more than once per regular copy, included).
"""

from __future__ import annotations

import torch

from . import hom, rep
from . import interop as _io
from . import models as _models
from ._interop_models import _activation, _copy_order, _dense_conv, _hidden, _load_parts, _regular


def _norm(sl_norm, ours_rep, P, path: str):
    """symm_learning's _eChannelRMSNorm → eqnn's ERMSNorm(per_copy) with the scales in eqnn's copy order."""
    from . import nn as enn

    order = _copy_order(sl_norm.norm.in_rep, ours_rep, path, "channel RMS norm (per-copy scales)")
    norm = enn.ERMSNorm(ours_rep, eps=sl_norm.norm.eps, affine="per_copy", dtype=torch.float64)
    with torch.no_grad():
        norm.weight[order] = sl_norm.norm.affine.scale_dof.detach().to(torch.float64).cpu()
    return norm


def _trivial_order(escnn_rep, P, ours, path: str) -> torch.Tensor:
    """The eqnn trivial column of each of symm_learning's trivial columns (the same vector; FiLM's Mish comes
    before the bias, so a column that differs in sign or mixes copies cannot be folded into the weights)."""
    import numpy as np

    G = escnn_rep.group
    Q_esc = torch.as_tensor(np.asarray(escnn_rep.change_of_basis), dtype=torch.float64)
    if P is not None:
        Q_esc = P @ Q_esc
    esc_cols, off = [], 0
    for i in escnn_rep.irreps:
        if i == G.trivial_representation.id:
            esc_cols.append(off)
        off += G.irrep(*i).size
    eq_cols, off = [], 0
    for k in ours.irreps:
        if k == 0:
            eq_cols.append(off)
        off += ours.group.irreps[k].dim
    M = ours.change_of_basis[:, eq_cols].T @ Q_esc[:, esc_cols]  # (eqnn, escnn)
    order = M.abs().argmax(0)
    if not torch.allclose(M[order, torch.arange(len(esc_cols))], torch.ones(len(esc_cols), dtype=torch.float64),
                          atol=1e-8):
        raise ValueError(f"{_io._where(path)}: symm_learning's FiLM bias columns (the trivial columns of its "
                         "change of basis) are not eqnn's up to order; the converted block would compute another "
                         "function")
    return order


def _has_residual_conv(b) -> bool:
    """Whether symm_learning's block learns its residual convolution (it builds one where in_rep != out_rep)."""
    return b.residual_conv is not None and not isinstance(b.residual_conv, torch.nn.Identity)


def _identity_conv(in_rep, out_rep, path: str):
    """The 1x1 EConv1d(in_rep, out_rep) that computes x itself (identity taps, zero bias): where eqnn's block
    keeps a learned residual convolution (residual_conv "always") and symm_learning's adds x."""
    from . import nn as enn

    out = enn.EConv1d(in_rep, out_rep, 1, bias=True, dtype=torch.float64)
    eye = torch.eye(out_rep.size, in_rep.size, dtype=torch.float64)
    space = hom(in_rep, out_rep)
    c = space.analyse(eye)
    err = _io._rel_err(space.expand(c), eye)
    if not err <= 1e-10:
        raise ValueError(f"{_io._where(path)}: symm_learning adds the block's input itself, but the identity does not "
                         f"map eqnn's {in_rep} to {out_rep} equivariantly (distance {err:.3g}); eqnn cannot hold it")
    with torch.no_grad():
        out.weight_coefficients.copy_(c.flatten())
        out.bias_coefficients.zero_()
    return out


def _block(b, in_rep, out_rep, P_in, P_out, prefix: str, path: str, parts: dict, raw: dict,
           residual: bool = False) -> None:
    """Converts one block into ``parts`` / ``raw``; ``residual``: eqnn's block holds a residual convolution
    (given the identity taps where symm_learning's adds x)."""
    where = _io._join(path, prefix.rstrip("."))
    parts[prefix + "conv1."] = _dense_conv(in_rep, out_rep, b.conv1, P_in, P_out, _io._join(where, "conv1"))
    parts[prefix + "conv2."] = _dense_conv(out_rep, out_rep, b.conv2, P_out, P_out, _io._join(where, "conv2"))
    if _has_residual_conv(b):
        parts[prefix + "residual_conv."] = _dense_conv(in_rep, out_rep, b.residual_conv, P_in, P_out,
                                                       _io._join(where, "residual_conv"))
    elif residual:
        parts[prefix + "residual_conv."] = _identity_conv(in_rep, out_rep, _io._join(where, "residual_conv"))
    for name in ("norm1", "norm2"):
        m = getattr(b, name)
        if not isinstance(m, torch.nn.Identity):
            parts[f"{prefix}{name}."] = _norm(m, out_rep, P_out, _io._join(where, name))
    lin = b.cond_encoder[1]
    W = lin.weight.detach().to(torch.float64).cpu()
    c = lin.bias.detach().to(torch.float64).cpu()
    nc = b.affine.num_scale_dof
    copies = _copy_order(b.affine.rep_x, out_rep, _io._join(where, "affine"), "FiLM (per-copy scales)")
    rows = torch.empty(W.shape[0], dtype=torch.long)
    rows[:nc] = copies
    if W.shape[0] > nc:
        rows[nc:] = nc + _trivial_order(b.affine.rep_x, P_out, out_rep, _io._join(where, "affine"))
    W2, c2 = torch.empty_like(W), torch.empty_like(c)
    W2[rows], c2[rows] = W, c
    raw[prefix + "cond_encoder.1.weight"] = W2
    raw[prefix + "cond_encoder.1.bias"] = c2


def _residual_block(module, path):
    """symm_learning's eConditionalResidualBlock1D on its own → EConditionalResidualBlock1D (features last).
    Its reps go through rep_from_escnn, so both libraries cut out_rep into the same irreducible copies."""
    like = _io._like(module)
    in_rep, out_rep = _io.rep_from_escnn(module.in_rep), _io.rep_from_escnn(module.out_rep)
    cond_rep = _io.rep_from_escnn(module.cond_rep)
    parts, raw = {}, {}
    _block(module, in_rep, out_rep, None, None, "", path, parts, raw)
    # symm_learning compares escnn reps by name too: a convolution between reps with the same matrices is kept
    # by eqnn's residual_conv "always".
    always = _has_residual_conv(module) and in_rep == out_rep
    out = _models.EConditionalResidualBlock1D(
        in_rep, out_rep, cond_rep, module.conv1.kernel_size[0], True,
        _activation(torch.nn.Sequential(module.act), _io._join(path, "act")),
        not isinstance(module.norm1, torch.nn.Identity), residual_conv="always" if always else "auto",
        dtype=torch.float64)
    _load_parts(out, parts, raw)
    out = out.to(**like)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, in_rep.size, generator=g, dtype=torch.float64).to(**like)
    c = torch.randn(2, cond_rep.size, generator=g, dtype=torch.float64).to(**like)
    modes = (out.training, module.training)
    out.eval()
    module.eval()
    try:
        with torch.no_grad():
            err = _io._rel_err(out(x, c).transpose(1, 2).to(torch.float64),
                               module(x.transpose(1, 2), c).to(torch.float64))
    finally:
        out.train(modes[0])
        module.train(modes[1])
    if not err <= _io._tolerance(like["dtype"]):  # pragma: no cover - a converter bug
        raise RuntimeError(f"{_io._where(path)}: internal error, the converted block differs by {err:.3g}")
    return out


def _cat(h):
    """The rep of an up level's concatenation (x, skip) of two copies of the hidden rep h, as eqnn's U-Net's."""
    return rep(h.group, irreps=list(h.irreps) * 2, change_of_basis=torch.block_diag(h.change_of_basis,
                                                                                  h.change_of_basis))


def _valid_length(n: int, stride: bool, local: bool) -> int:
    """A sample length symm_learning 0.8.1's up path takes (as EConditionalUnet1D's trace of that layout)."""
    for length in range(2, 4096):
        lengths = [length]
        for _ in range(n - 1):
            lengths.append((lengths[-1] + 1) // 2 if stride else lengths[-1] // 2)
        if lengths[-1] < 1:
            continue
        x, ok = lengths[-1], True
        for j in range(n - 1):
            if x != lengths[n - 1 - j]:
                ok = False
                break
            if j + 2 != n:
                x = 2 * x - 1 if stride else 2 * x
        if ok and (not local or n < 2 or x == length):
            return length
    return 1


def _unet(module, path):
    like = _io._like(module)
    G = module.in_rep.group
    in_rep = _io.rep_from_escnn(module.in_rep)
    local_rep = _io.rep_from_escnn(module.local_cond_rep) if module.local_cond_rep is not None else None
    global_rep = _io.rep_from_escnn(module.global_cond_rep) if module.global_cond_rep is not None else None
    n = len(module.down_modules)
    hid, perms = [], []
    for i, level in enumerate(module.down_modules):
        _, h = _hidden(level[0].out_rep, _io._join(path, f"down_modules.{i}.0"), "hidden")
        hid.append(h)
        perms.append(None)  # the hidden reps are escnn's own (hidden_rep = escnn's regular rep)
    first = module.down_modules[0][0]
    # The blocks that change representation take eqnn's residual_conv; "always" where symm_learning learns a
    # residual convolution in one of them between reps with the same matrices (it compares names too).
    changing = [b for b in (module.local_cond_encoder or [])]
    changing += [level[0] for level in module.down_modules] + [level[0] for level in module.up_modules]
    cat_reps = [_cat(hid[n - 1 - j]) for j in range(len(module.up_modules))]
    eq_reps = ([(local_rep, hid[0])] * len(module.local_cond_encoder or [])
               + [(in_rep if i == 0 else hid[i - 1], hid[i]) for i in range(n)]
               + [(cat_reps[j], hid[n - 2 - j]) for j in range(len(module.up_modules))])
    always = any(_has_residual_conv(b) and a == o for b, (a, o) in zip(changing, eq_reps))
    parts, raw = {}, {}
    for j in (1, 3):
        lin = module.diffusion_step_encoder[j]
        raw[f"diffusion_step_encoder.{j}.weight"] = lin.weight.detach().to(torch.float64).cpu()
        raw[f"diffusion_step_encoder.{j}.bias"] = lin.bias.detach().to(torch.float64).cpu()
    if module.local_cond_encoder is not None:
        for j, b in enumerate(module.local_cond_encoder):
            _block(b, local_rep, hid[0], None, perms[0], f"local_cond_encoder.{j}.", path, parts, raw, always)
    for i, (res1, res2, down) in enumerate(module.down_modules):
        r_in, P_in = (in_rep, None) if i == 0 else (hid[i - 1], perms[i - 1])
        _block(res1, r_in, hid[i], P_in, perms[i], f"down_modules.{i}.0.", path, parts, raw, always)
        _block(res2, hid[i], hid[i], perms[i], perms[i], f"down_modules.{i}.1.", path, parts, raw)
        if isinstance(down, torch.nn.Conv1d) or type(down).__name__ == "eConv1d":
            parts[f"down_modules.{i}.2."] = _dense_conv(hid[i], hid[i], down, perms[i], perms[i],
                                                        _io._join(path, f"down_modules.{i}.2"))
    for j, b in enumerate(module.mid_modules):
        _block(b, hid[-1], hid[-1], perms[-1], perms[-1], f"mid_modules.{j}.", path, parts, raw)
    for j, (res1, res2, up) in enumerate(module.up_modules):
        tgt = n - 2 - j  # target = level n−2−j; current = skip = level n−1−j (cat_reps[j])
        _block(res1, cat_reps[j], hid[tgt], None, perms[tgt], f"up_modules.{j}.0.", path, parts, raw, always)
        _block(res2, hid[tgt], hid[tgt], perms[tgt], perms[tgt], f"up_modules.{j}.1.", path, parts, raw)
        if type(up).__name__ == "eConvTranspose1d":
            parts[f"up_modules.{j}.2."] = _dense_conv(hid[tgt], hid[tgt], up, perms[tgt], perms[tgt],
                                                      _io._join(path, f"up_modules.{j}.2"), transpose=True)
    fc = module.final_conv
    parts["final_conv.0."] = _dense_conv(hid[0], hid[0], fc[0], perms[0], perms[0], _io._join(path, "final_conv.0"))
    normalize = not isinstance(fc[1], torch.nn.Identity)
    if normalize:
        parts["final_conv.1."] = _norm(fc[1], hid[0], perms[0], _io._join(path, "final_conv.1"))
    parts["final_conv.3."] = _dense_conv(hid[0], in_rep, fc[3], perms[0], None, _io._join(path, "final_conv.3"))

    out = _models.EConditionalUnet1D(
        in_rep, local_rep, global_rep, module.diffusion_step_encoder[1].in_features,
        [lv[0].out_rep.size for lv in module.down_modules], first.conv1.kernel_size[0], True,
        _activation(torch.nn.Sequential(first.act), _io._join(path, "down_modules.0.0.act")), normalize,
        module.downsample, layout="symm_learning_0.8.1", hidden_rep=_regular(G),
        residual_conv="always" if always else "auto", dtype=torch.float64)
    keys = out.state_dict().keys()
    for prefix in parts:
        if prefix.endswith("residual_conv.") and prefix + "weight_coefficients" not in keys:
            # Only a block built outside symm_learning's constructor (a res2 or mid block between different reps)
            # gets here: eqnn's res2 and mid blocks map a rep to itself.
            raise ValueError(f"{_io._where(_io._join(path, prefix.rstrip('.')))}: symm_learning learns a 1x1 "
                             "residual convolution in a block that eqnn's U-Net builds from a representation to "
                             "itself (a res2 or mid block), where it adds its input; eqnn cannot hold that "
                             "convolution")
    _load_parts(out, parts, raw)
    out = out.to(**like)
    _same_function(out, module, n, path)
    return out


def _same_function(ours, theirs, n: int, path: str) -> None:
    """The converted U-Net computes the source's function (eval mode; step 0, whose embedding both compute
    exactly: symm_learning computes its frequencies in float32)."""
    like = _io._like(theirs)
    g = torch.Generator().manual_seed(0)
    length = _valid_length(n, theirs.downsample == "stride", theirs.local_cond_rep is not None)
    x = torch.randn(2, length, ours.in_rep.size, generator=g, dtype=torch.float64).to(**like)
    local = (torch.randn(2, length, theirs.local_cond_rep.size, generator=g, dtype=torch.float64).to(**like)
             if theirs.local_cond_rep is not None else None)
    glob = (torch.randn(2, theirs.global_cond_rep.size, generator=g, dtype=torch.float64).to(**like)
            if theirs.global_cond_rep is not None else None)
    t = torch.zeros(2, dtype=like["dtype"], device=like["device"])
    modes = (ours.training, theirs.training)
    ours.eval()
    theirs.eval()
    try:
        with torch.no_grad():
            mine = ours(x, t, local, glob).transpose(1, 2)
            want = theirs(x.transpose(1, 2), t, None if local is None else local.transpose(1, 2), glob)
            err = _io._rel_err(mine.to(torch.float64), want.to(torch.float64))
    finally:
        ours.train(modes[0])
        theirs.train(modes[1])
    if not err <= _io._tolerance(like["dtype"]):  # pragma: no cover - a converter bug
        raise RuntimeError(f"{_io._where(path)}: internal error, the converted U-Net differs by {err:.3g}")


def register() -> None:
    from symm_learning.models.diffusion.cond_eunet1d import eConditionalResidualBlock1D, eConditionalUnet1D

    _io.converter(eConditionalUnet1D)(_unet)
    _io.converter(eConditionalResidualBlock1D)(_residual_block)
