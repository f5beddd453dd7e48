"""Converters of symm_learning's positional attention (registered by eqnn.interop on first use).

- eAdditivePosMultiheadAttention → EAdditivePosMultiheadAttention: ``attn`` as eMultiheadAttention converts
  (hidden reg^m conjugated into eqnn's regular basis), ``pos_emb`` → ``pos_emb_coefficients``, the least-squares
  coefficients of its rows on the invariant vectors (symm_learning projects the rows onto them in every forward,
  so this is the table it uses); max_len, dropout and bias carried over.
- eAdditiveRelMultiheadAttention → EAdditiveRelMultiheadAttention: ``attn`` likewise, ``rel_bias`` copied.
- The non-equivariant AdditivePos/AdditiveRel/RoPEMultiheadAttention are refused: they act on raw features, and
  torch modules they stay.
"""

import torch

from . import interop as _interop
from . import nn as enn


def _positional(module, path, cls, **own):
    """The eqnn layer ``cls`` with symm_learning's ``module.attn`` converted into its ``attn`` (float64)."""
    inner = _interop._attention(module.attn, _interop._join(path, "attn"))
    out = cls(inner.in_rep, module.num_heads, dropout=module.attn.dropout,
              bias=module.attn.in_proj_bias is not None, batch_first=True, dtype=torch.float64, **own)
    with torch.no_grad():
        for name, p in inner.named_parameters():
            out.get_parameter("attn." + name).copy_(p.detach().to(torch.float64))
    return out


def _additive_pos(module, path):
    like = _interop._like(module)
    out = _positional(module, path, enn.EAdditivePosMultiheadAttention, max_len=module.max_len)
    table = module.pos_emb.detach().to(torch.float64).cpu()
    basis = out.dense_parameters()["pos_emb_basis"].to(torch.float64).cpu()
    coefficients = torch.linalg.lstsq(basis, table.T).solution.T
    with torch.no_grad():
        out.pos_emb_coefficients.copy_(coefficients)
    # The table symm_learning adds: its rows projected onto the invariant vectors.
    projector = module.invariant_projector.detach().to(torch.float64).cpu()
    want = table @ projector.T
    have = out.pos_emb.detach().cpu()
    err = float((have - want).abs().max()) / max(float(want.abs().max()), 1e-300)
    if not err <= _interop._tolerance(like["dtype"]):  # pragma: no cover - a converter bug
        raise RuntimeError(f"{_interop._where(path)}: internal error, converted pos_emb differs by {err:.3g}")
    return out.to(**like)


def _additive_rel(module, path):
    like = _interop._like(module)
    out = _positional(module, path, enn.EAdditiveRelMultiheadAttention, max_distance=module.max_distance)
    with torch.no_grad():
        out.rel_bias.copy_(module.rel_bias.detach().to(torch.float64))
    return out.to(**like)


def _refuse(module, path):
    name = type(module).__name__
    raise TypeError(
        f"{_interop._where(path)}: symm_learning's {name} is not equivariant (plain attention on raw features), "
        f"so eqnn does not convert it; use torch (keep the module as it is), or eqnn.nn.E{name} on an eqnn "
        "representation for the equivariant version")


def register() -> None:
    """Adds the converters above to eqnn.interop.CONVERTERS."""
    from symm_learning.nn import activation as sla

    _interop.converter(sla.eAdditivePosMultiheadAttention)(_additive_pos)
    _interop.converter(sla.eAdditiveRelMultiheadAttention)(_additive_rel)
    _interop.converter(sla.AdditivePosMultiheadAttention, sla.AdditiveRelMultiheadAttention,
                       sla.RoPEMultiheadAttention)(_refuse)
