"""from_symm_learning for symm_learning's eCondTransformer (symm_learning.models.control.econd_transformer),
registered by eqnn.interop on first use (``_CONVERTER_MODULES``).

eCondTransformer → eqnn.models.ECondTransformer with ``hidden_rep = rep_from_escnn(G.regular_representation)``,
so that the embedding E is symmetric_learning's reg^m with escnn's change of basis (its per-copy norm scales then
mean the same copies, also where the cut into copies is not unique, e.g. Ico). The options are read off the
module (horizons, heads, layers, dropouts, norm_first, the norm type, pos_encoding, causal_attn from the mask
buffers). The parts:

- ``input_emb``, ``cond_emb``, ``head``, ``layer_norm``: their own converters (eLinear, eRMSNorm/eLayerNorm);
- ``encoder``: the TransformerEncoder converter (num_cond_layers > 0), or the eLinear–Mish–eLinear block whose
  hidden reg^{4m} is re-expressed in eqnn's regular basis (W0 ← P W0, b0 ← P b0, W2 ← W2 Pᵀ, P block-diagonal
  of ``interop._escnn_to_eqnn_regular``: Mish commutes with the permutation);
- ``decoder``: the TransformerDecoder converter (the positional attentions by theirs).

Loaded through state_dict with the parts' basis records, so a part whose Hom basis differs from the model's is
re-projected exactly. The buffers are checked, not stored: ``invariant_projector`` must be E's invariant
projector, the causal masks symm_learning's for the horizons. A module that is not what symm_learning builds
(another attention per layer, an encoder block of other sizes) is refused by the part converters, naming it.
"""

from __future__ import annotations

import torch

from . import interop as _i
from . import models as _models
from ._interop_models import _load_parts


def _cond_transformer(module, path):
    import symm_learning.nn as sln
    from symm_learning.models.control.cond_transformer import build_causal_attention_masks

    like = _i._like(module)
    at = lambda name: _i._join(path, name)  # noqa: E731
    G = module.in_rep.group
    n = G.order()
    E_escnn = module.embedding_rep
    m = E_escnn.size // n
    _, group, _ = _i._group_entry(G)
    hidden = _i.rep_from_escnn(G.regular_representation)
    if not torch.allclose(_i.rep_from_escnn(E_escnn).matrices(), _i.rep(group, f"{m}x permutation(points)").matrices(),
                          rtol=0, atol=1e-10):  # pragma: no cover - symm_learning always builds reg^m
        raise ValueError(f"{_i._where(path)}: the embedding representation {E_escnn.name} is not escnn's reg^{m}")
    in_rep, cond_rep = _i.rep_from_escnn(module.in_rep), _i.rep_from_escnn(module.cond_rep)
    out_rep = _i.rep_from_escnn(module.out_rep)

    # Options.
    layer0 = module.decoder.layers[0]
    attn0 = layer0.self_attn
    pos = module.pos_encoding
    heads = attn0.num_heads
    if isinstance(module.encoder, sln.TransformerEncoder):
        num_cond_layers = len(module.encoder.layers)
    elif isinstance(module.encoder, torch.nn.Sequential):
        num_cond_layers = 0
    else:
        raise TypeError(f"{_i._where(at('encoder'))}: {_i._type_name(_i._own_type(module.encoder))} is not the "
                        "TransformerEncoder or eLinear-Mish-eLinear block symm_learning builds")
    if type(module.layer_norm) is sln.eRMSNorm:
        norm_module = "rmsnorm"
    elif type(module.layer_norm) is sln.eLayerNorm:
        norm_module = "layernorm"
    else:
        raise TypeError(f"{_i._where(at('layer_norm'))}: {_i._type_name(_i._own_type(module.layer_norm))} is not "
                        "eRMSNorm or eLayerNorm")
    causal = getattr(module, "self_att_mask", None) is not None
    if causal:
        self_mask, cross_mask = build_causal_attention_masks(module.in_horizon, module.cond_token_horizon)
        for name, want in (("self_att_mask", self_mask), ("cross_att_mask", cross_mask)):
            have = getattr(module, name).detach().cpu().to(torch.float64)
            if have.shape != want.shape or not torch.equal(have, want.to(torch.float64)):
                raise ValueError(f"{_i._where(at(name))}: not symm_learning's causal mask for in_horizon "
                                 f"{module.in_horizon} and cond_horizon {module.cond_horizon}; eqnn builds its masks "
                                 "itself and cannot carry another")
    projector = module.invariant_projector.detach().to(torch.float64).cpu()
    want = _i.rep_from_escnn(E_escnn).matrices().to(torch.float64).mean(0)
    if not torch.allclose(projector, want, rtol=0, atol=1e-6):
        raise ValueError(f"{_i._where(at('invariant_projector'))}: not the invariant projector of the embedding; "
                         "eqnn computes it from the representation and cannot carry another")

    out = _models.ECondTransformer(
        in_rep, cond_rep, out_rep, module.in_horizon, module.cond_horizon, len(module.decoder.layers), heads,
        module.embedding_dim, p_drop_emb=float(module.dropout.p), p_drop_attn=float(layer0.dropout.p),
        causal_attn=causal, num_cond_layers=num_cond_layers, pos_encoding=pos, norm_first=bool(layer0.norm_first),
        norm_module=norm_module, hidden_rep=hidden, dtype=torch.float64)

    parts = {f"{name}.": _i._convert(getattr(module, name), at(name))
             for name in ("input_emb", "cond_emb", "decoder", "layer_norm", "head")}
    if num_cond_layers > 0:
        parts["encoder."] = _i._convert(module.encoder, at("encoder"))
    else:
        parts.update(_mlp_parts(module.encoder, G, m, at("encoder")))
    _load_parts(out, parts)
    return out.to(**like)


def _mlp_parts(encoder, G, m: int, path: str) -> dict:
    """encoder.0 and encoder.2 of the num_cond_layers = 0 block, hidden reg^h in eqnn's regular basis."""
    import symm_learning.nn as sln

    mods = list(encoder)
    if (len(mods) != 3 or not isinstance(mods[0], sln.eLinear) or not isinstance(mods[1], torch.nn.Mish)
            or not isinstance(mods[2], sln.eLinear)):
        raise TypeError(f"{_i._where(path)}: not the eLinear-Mish-eLinear block symm_learning builds "
                        f"({', '.join(type(x).__name__ for x in mods)})")
    n = G.order()
    h = mods[0].out_rep.size // n
    if h != 4 * m or mods[2].in_rep.size != h * n:
        raise ValueError(f"{_i._where(path)}: the block's hidden size {mods[0].out_rep.size} is not 4·embedding_dim "
                         f"= {4 * m * n}, which eqnn's ECondTransformer builds")
    _, group, _ = _i._group_entry(G)
    P = torch.block_diag(*[_i._escnn_to_eqnn_regular(G)] * h)
    E = _i.rep_from_escnn(mods[0].in_rep)
    H = _i.rep(group, f"{h}x regular")
    like = {"dtype": torch.float64, "device": torch.device("cpu")}
    W0, W2 = mods[0].weight.detach().to(torch.float64).cpu(), mods[2].weight.detach().to(torch.float64).cpu()
    b0 = None if mods[0].bias is None else P @ mods[0].bias.detach().to(torch.float64).cpu()
    b2 = None if mods[2].bias is None else mods[2].bias.detach().to(torch.float64).cpu()
    return {"encoder.0.": _i._dense_linear(E, H, P @ W0, b0, like, _i._join(path, "0")),
            "encoder.2.": _i._dense_linear(H, E, W2 @ P.T, b2, like, _i._join(path, "2"))}


def register() -> None:
    from symm_learning.models.control.econd_transformer import eCondTransformer

    _i.converter(eCondTransformer)(_cond_transformer)
