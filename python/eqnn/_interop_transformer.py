"""from_symm_learning for symm_learning's eTransformerEncoderLayer, eTransformerDecoderLayer and its
TransformerEncoder/TransformerDecoder stacks (registered by eqnn.interop on first use, see ``_CONVERTER_MODULES``
there).

eTransformerEncoderLayer → ETransformerEncoderLayer, eTransformerDecoderLayer → ETransformerDecoderLayer
(batch_first=True, norm_affine="per_copy"; norm rms_norm, or layer_norm with normalize per_copy, as the norm
converters): the attentions by their own converters, with the layer's ``attention`` option from their type
(eMultiheadAttention → "mha", eAdditivePosMultiheadAttention → "additive_pos" with its max_len,
eAdditiveRelMultiheadAttention → "additive_rel" with its max_distance); the feed-forward's hidden reg^h
re-expressed in eqnn's regular basis (linear1 ← blockdiag(P)·W1, linear2 ← W2·blockdiag(Pᵀ)); the norms by the
norm converters; the activation by name (ReLU, exact GELU, SiLU, Tanh). The converted sub-modules are copied into
eqnn's layer (same reps, so the same bases: checked). Refused, with the offending sub-module named: an attention of
another type (symm_learning's non-equivariant AdditivePos/AdditiveRel/RoPEMultiheadAttention, torch's
MultiheadAttention), a decoder whose two attentions differ in type, max_len, max_distance or heads (eqnn's layer has
one attention option), an attention on another rep than the layer's, norms or dropouts or biases that differ
(eqnn's layer has one of each). eqnn's attention drops with the layer's dropout (torch's layer): a different
attention dropout warns (eval mode is the same function).
TransformerEncoder/TransformerDecoder → ETransformerEncoder/ETransformerDecoder: every ``layers.i`` by its own
converter (their configurations must agree: eqnn's stack has one set of layer options), ``norm`` by the norm
converter."""

import warnings

import torch

from . import interop as _i
from . import nn as enn

_NORMS = {"eRMSNorm": ("rms_norm", "all"), "eLayerNorm": ("layer_norm", "per_copy")}


def _attention_kind(attn, where: str):
    """(eqnn's attention option, its own options, the inner eMultiheadAttention) of a symm_learning attention."""
    import symm_learning.nn as sln
    from symm_learning.nn import activation as sla

    t = _i._own_type(attn)
    if t is sln.eMultiheadAttention:
        return "mha", {}, attn
    if t is sla.eAdditivePosMultiheadAttention:
        return "additive_pos", {"max_len": attn.max_len}, attn.attn
    if t is sla.eAdditiveRelMultiheadAttention:
        return "additive_rel", {"max_distance": attn.max_distance}, attn.attn
    raise TypeError(f"{where}: {_i._type_name(t)} is not an attention eqnn's transformer layers hold (they take "
                    "symm_learning's eMultiheadAttention, eAdditivePosMultiheadAttention or "
                    "eAdditiveRelMultiheadAttention, as attention 'mha', 'additive_pos' or 'additive_rel'; the "
                    "non-equivariant attentions are not converted)")


def _load_parts(out: torch.nn.Module, parts: dict, path: str, dtype) -> None:
    """Copies the converted sub-modules' parameters into ``out`` (the same reps, so the same bases: checked
    through the basis records), with their requires_grad, and checks every name is covered."""
    params = dict(out.named_parameters())
    given = [f"{name}.{sub}" for name, part in parts.items() for sub, _ in part.named_parameters()]
    if sorted(given) != sorted(params):  # pragma: no cover - a converter bug
        raise RuntimeError(f"{_i._where(path)}: internal error, eqnn's layer has the parameters {sorted(params)}, the "
                           f"converted sub-modules {sorted(given)}")
    with torch.no_grad():
        for name, part in parts.items():
            for sub, value in part.named_parameters():
                target = params[f"{name}.{sub}"]
                if target.shape != value.shape:  # pragma: no cover - a converter bug
                    raise RuntimeError(f"{_i._where(_i._join(path, name))}: internal error, {sub} has shape "
                                       f"{tuple(target.shape)} in eqnn's layer, {tuple(value.shape)} converted")
                target.copy_(value.detach().to(target.dtype))
                target.requires_grad_(value.requires_grad)
    # The effective tensors of eqnn's sub-layers are those of the converted parts: same bases, same values.
    records = {name: (fp, t) for name, fp, t in out._eqnn_ready().basis_records()}
    for name, part in parts.items():
        for sub, fp, t in part._eqnn_ready().basis_records():
            have = records.get(f"{name}.{sub}")
            if have is None or have[0] != fp or not _i._rel_err(have[1].to(torch.float64),
                                                                t.to(torch.float64)) <= _i._tolerance(dtype):
                raise RuntimeError(  # pragma: no cover - a converter bug
                    f"{_i._where(_i._join(path, name))}: internal error, {sub} differs from the converted sub-module")


def _layer(module, path, decoder: bool):
    like = _i._like(module)
    at = lambda name: _i._join(path, name)  # noqa: E731
    names = ("self_attn", "multihead_attn") if decoder else ("self_attn",)
    attns = {name: getattr(module, name) for name in names}
    kinds = {name: _attention_kind(a, _i._where(at(name))) for name, a in attns.items()}
    if len({(k, tuple(sorted(o.items()))) for k, o, _ in kinds.values()}) != 1:
        _mixed(kinds, path)
    kind, own, first = kinds["self_attn"]
    heads = {name: a.num_heads for name, a in attns.items()}
    if len(set(heads.values())) != 1:
        raise ValueError(f"{_i._where(path)}: self_attn has {heads['self_attn']} heads and multihead_attn "
                         f"{heads['multihead_attn']}; eqnn's layer has one nhead")
    norms = [module.norm1, module.norm2] + ([module.norm3] if decoder else [])
    norm_names = "norm1–norm3" if decoder else "norm1/norm2"
    import symm_learning.nn as sln

    norm_types = {sln.eRMSNorm: _NORMS["eRMSNorm"], sln.eLayerNorm: _NORMS["eLayerNorm"]}
    found = {norm_types.get(_i._own_type(n)) for n in norms}
    if len(found) != 1 or None in found:
        raise TypeError(f"{_i._where(path)}: {norm_names} must all be eRMSNorm or all eLayerNorm, got "
                        f"{', '.join(_i._type_name(_i._own_type(n)) for n in norms)}")
    (norm, normalize), = found
    if len({n.eps for n in norms}) != 1:
        raise ValueError(f"{_i._where(path)}: {norm_names} have different eps ({', '.join(str(n.eps) for n in norms)});"
                         " eqnn's layer has one layer_norm_eps")
    activation = _i._transformer_activation(module.activation, path)
    p = module.dropout.p
    rates = [module.dropout1.p, module.dropout2.p] + ([module.dropout3.p] if decoder else [])
    if any(r != p for r in rates):
        raise ValueError(f"{_i._where(path)}: dropout rates differ (dropout {p}, dropout1–{len(rates)} {rates}); "
                         "eqnn's layer has one dropout")
    inner = {name: kinds[name][2] for name in names}
    for name in names:
        if inner[name].dropout != p:
            warnings.warn(f"{_i._where(path)}: {name}'s dropout {inner[name].dropout} is not the layer's dropout "
                          f"{p}; the converted layer drops attention weights with {p}, as torch's transformer layers "
                          "(the same function in eval mode, a different random one in training)", stacklevel=2)
    biases = {"linear1": module.linear1.bias is not None, "linear2": module.linear2.bias is not None}
    biases.update({name: inner[name].in_proj_bias is not None for name in names})
    if len(set(biases.values())) != 1:
        raise ValueError(f"{_i._where(path)}: bias differs between sub-modules "
                         f"({', '.join(f'{k} {v}' for k, v in biases.items())}); eqnn's layer has one bias option")
    in_rep = _i.rep_from_escnn(module.in_rep)
    for name in names:
        attn_rep = _i.rep_from_escnn(inner[name].in_rep)
        if attn_rep.size != in_rep.size or not torch.allclose(attn_rep.matrices(), in_rep.matrices(), rtol=0,
                                                              atol=1e-10):
            raise ValueError(f"{_i._where(at(name))}: its in_rep {inner[name].in_rep.name} is not the layer's in_rep "
                             f"{module.in_rep.name} (symm_learning does not check it); the layer is not equivariant")
    # The sub-modules by their own converters (each checked against symm_learning's dense tensors).
    parts = {name: _i._convert(a, at(name)) for name, a in attns.items()}
    for i, n in enumerate(norms, 1):
        parts[f"norm{i}"] = _i._convert(n, at(f"norm{i}"))
    G = module.in_rep.group
    n = G.order()
    h = module.linear1.out_rep.size // n
    _, E, _ = _i._group_entry(G)
    hidden_escnn = _i.rep_from_escnn(module.linear1.out_rep)
    if (module.linear1.out_rep.size != h * n or module.linear2.in_rep.size != h * n or not torch.allclose(
            hidden_escnn.matrices(), _i.rep(E, f"{h}x permutation(points)").matrices(), rtol=0, atol=1e-10)):
        raise ValueError(f"{_i._where(path)}: the feed-forward's hidden rep {module.linear1.out_rep.name} is not "
                         f"escnn's reg^{h}; eqnn's layer has {h}x regular there")
    # The hidden reg^h in eqnn's regular basis (the pointwise activation commutes with the permutation).
    Ph = torch.block_diag(*[_i._escnn_to_eqnn_regular(G)] * h)
    hidden = _i.rep(E, f"{h}x regular")
    l1, l2 = module.linear1, module.linear2
    W1, W2 = l1.weight.detach().to(torch.float64).cpu(), l2.weight.detach().to(torch.float64).cpu()
    b1 = None if l1.bias is None else (Ph @ l1.bias.detach().to(torch.float64).cpu()).to(like["dtype"])
    parts["linear1"] = _i._dense_linear(in_rep, hidden, (Ph @ W1).to(like["dtype"]), b1, like, at("linear1"))
    parts["linear2"] = _i._dense_linear(hidden, in_rep, (W2 @ Ph.T).to(like["dtype"]), l2.bias, like, at("linear2"))
    cls = enn.ETransformerDecoderLayer if decoder else enn.ETransformerEncoderLayer
    out = cls(in_rep, first.num_heads, dim_feedforward=h * n, dropout=p, activation=activation,
              layer_norm_eps=norms[0].eps, batch_first=True, norm_first=module.norm_first, bias=biases["linear1"],
              norm=norm, norm_affine="per_copy", norm_normalize=normalize, attention=kind, dtype=torch.float64, **own)
    _load_parts(out, parts, path, like["dtype"])
    return out.to(**like)


def _mixed(kinds: dict, path: str):
    described = "; ".join(f"{name} is '{k}'" + "".join(f" ({key} {v})" for key, v in o.items())
                          for name, (k, o, _) in kinds.items())
    raise TypeError(f"{_i._where(path)}: the attentions differ ({described}); eqnn's decoder layer has one attention "
                    "option for self_attn and multihead_attn")


def _encoder_layer(module, path):
    return _layer(module, path, decoder=False)


def _decoder_layer(module, path):
    return _layer(module, path, decoder=True)


def _stack(module, path, layer_cls, stack_cls):
    at = lambda name: _i._join(path, name)  # noqa: E731
    layers = [_i._convert(layer, at(f"layers.{i}")) for i, layer in enumerate(module.layers)]
    for i, layer in enumerate(layers):
        if not isinstance(layer, layer_cls):
            raise TypeError(f"{_i._where(at(f'layers.{i}'))}: {_i._type_name(_i._own_type(module.layers[i]))} is not "
                            f"an equivariant layer eqnn's {stack_cls.__name__} stacks (it stacks "
                            f"{layer_cls.__name__}s, converted from symm_learning's e{layer_cls.__name__[1:]})")
    first = layers[0].options
    for i, layer in enumerate(layers[1:], 1):
        differ = sorted(k for k in first if layer.options[k] != first[k])
        if differ:
            raise ValueError(f"{_i._where(at(f'layers.{i}'))}: its configuration differs from layers.0 in "
                             f"{', '.join(f'{k} ({layer.options[k]!r} vs {first[k]!r})' for k in differ)}; eqnn's "
                             f"{stack_cls.__name__} has one set of layer options")
    norm = None if module.norm is None else _i._convert(module.norm, at("norm"))
    try:
        out = stack_cls(layers[0], len(layers), norm)
    except ValueError as e:
        raise ValueError(f"{_i._where(at('norm'))}: {e}") from None
    with torch.no_grad():
        params = dict(out.named_parameters())
        for i, layer in enumerate(layers):
            for name, value in layer.named_parameters():
                params[f"layers.{i}.{name}"].copy_(value).requires_grad_(value.requires_grad)
        if norm is not None:
            for name, value in norm.named_parameters():
                params[f"norm.{name}"].copy_(value).requires_grad_(value.requires_grad)
    return out


def _encoder(module, path):
    return _stack(module, path, enn.ETransformerEncoderLayer, enn.ETransformerEncoder)


def _decoder(module, path):
    return _stack(module, path, enn.ETransformerDecoderLayer, enn.ETransformerDecoder)


def register() -> None:
    import symm_learning.nn as sln

    _i.converter(sln.eTransformerEncoderLayer)(_encoder_layer)
    _i.converter(sln.eTransformerDecoderLayer)(_decoder_layer)
    _i.converter(sln.TransformerEncoder)(_encoder)
    _i.converter(sln.TransformerDecoder)(_decoder)
