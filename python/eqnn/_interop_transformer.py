"""from_symm_learning for symm_learning's eTransformerDecoderLayer and its TransformerEncoder/TransformerDecoder
stacks (registered by eqnn.interop on first use, see ``_CONVERTER_MODULES`` there).

eTransformerDecoderLayer → ETransformerDecoderLayer: both attentions by the eMultiheadAttention converter, the
feed-forward's hidden reg^h re-expressed in eqnn's regular basis (linear1 ← blockdiag(P)·W1, linear2 ←
W2·blockdiag(Pᵀ), as for the encoder layer), norm1–norm3 by the norm converters, the activation by name.
TransformerEncoder/TransformerDecoder → ETransformerEncoder/ETransformerDecoder: every ``layers.i`` by its own
converter (their configurations must agree: eqnn's stack has one set of layer options), ``norm`` by the norm
converter. Positional attention backends are not converted yet (eqnn's positional attentions come later)."""

import warnings

import torch

from . import interop as _i
from . import nn as enn

_NORMS = {"eRMSNorm": ("rms_norm", "all"), "eLayerNorm": ("layer_norm", "per_copy")}


def _load_parts(out: torch.nn.Module, parts: dict, path: str) -> None:
    """Copies the converted sub-modules' parameters into ``out`` (the same bases: they were built on the same
    reps), with their requires_grad, and checks every name is covered."""
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


def _decoder_layer(module, path):
    import symm_learning.nn as sln

    like = _i._like(module)
    at = lambda name: _i._join(path, name)  # noqa: E731
    for name in ("self_attn", "multihead_attn"):
        attn = getattr(module, name)
        if _i._own_type(attn) is not sln.eMultiheadAttention:
            raise TypeError(f"{_i._where(at(name))}: {_i._type_name(_i._own_type(attn))} is not supported as an "
                            "attention of eTransformerDecoderLayer (eqnn's layer builds an eMultiheadAttention; "
                            "positional attention backends are not converted yet)")
    sa, mha = module.self_attn, module.multihead_attn
    if sa.num_heads != mha.num_heads:
        raise ValueError(f"{_i._where(path)}: self_attn has {sa.num_heads} heads and multihead_attn {mha.num_heads}; "
                         "eqnn's layer has one nhead")
    norms = [module.norm1, module.norm2, module.norm3]
    kinds = {_NORMS.get(type(n).__name__) if type(n) in (sln.eRMSNorm, sln.eLayerNorm) else None for n in norms}
    if len(kinds) != 1 or None in kinds:
        raise TypeError(f"{_i._where(path)}: norm1–norm3 must all be eRMSNorm or all eLayerNorm, got "
                        f"{', '.join(_i._type_name(_i._own_type(n)) for n in norms)}")
    (norm, normalize), = kinds
    if len({n.eps for n in norms}) != 1:
        raise ValueError(f"{_i._where(path)}: norm1–norm3 have different eps ({', '.join(str(n.eps) for n in norms)}); "
                         "eqnn's layer has one layer_norm_eps")
    activation = _i._transformer_activation(module.activation, path)
    p = module.dropout.p
    rates = [module.dropout1.p, module.dropout2.p, module.dropout3.p]
    if any(r != p for r in rates):
        raise ValueError(f"{_i._where(path)}: dropout rates differ (dropout {p}, dropout1–3 {rates}); eqnn's layer has "
                         "one dropout")
    for name, attn in (("self_attn", sa), ("multihead_attn", mha)):
        if attn.dropout != p:
            warnings.warn(f"{_i._where(at(name))}: the attention's dropout {attn.dropout} is not the layer's dropout "
                          f"{p}; the converted layer drops attention weights with {p}, as "
                          "torch.nn.TransformerDecoderLayer (the same function in eval mode)", stacklevel=2)
    biases = {"linear1": module.linear1.bias is not None, "linear2": module.linear2.bias is not None,
              "self_attn": sa.in_proj_bias is not None, "multihead_attn": mha.in_proj_bias is not None}
    if len(set(biases.values())) != 1:
        raise ValueError(f"{_i._where(path)}: bias differs between sub-modules "
                         f"({', '.join(f'{k} {v}' for k, v in biases.items())}); eqnn's layer has one bias option")
    in_rep = _i.rep_from_escnn(module.in_rep)
    for name, attn in (("self_attn", sa), ("multihead_attn", mha)):
        attn_rep = _i.rep_from_escnn(attn.in_rep)
        if attn_rep.size != in_rep.size or not torch.allclose(attn_rep.matrices(), in_rep.matrices(), rtol=0,
                                                              atol=1e-10):
            raise ValueError(f"{_i._where(at(name))}: its in_rep {attn.in_rep.name} is not the layer's in_rep "
                             f"{module.in_rep.name} (symm_learning does not check it); the layer is not equivariant")
    parts = {"self_attn": _i._attention(sa, at("self_attn")),
             "multihead_attn": _i._attention(mha, at("multihead_attn"))}
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
    Ph = torch.block_diag(*[_i._escnn_to_eqnn_regular(G)] * h)
    hidden = _i.rep(E, f"{h}x regular")
    l1, l2 = module.linear1, module.linear2
    W1, W2 = l1.weight.detach().to(torch.float64).cpu(), l2.weight.detach().to(torch.float64).cpu()
    b1 = None if l1.bias is None else (Ph @ l1.bias.detach().to(torch.float64).cpu()).to(like["dtype"])
    parts["linear1"] = _i._dense_linear(in_rep, hidden, (Ph @ W1).to(like["dtype"]), b1, like, at("linear1"))
    parts["linear2"] = _i._dense_linear(hidden, in_rep, (W2 @ Ph.T).to(like["dtype"]), l2.bias, like, at("linear2"))
    out = enn.ETransformerDecoderLayer(
        in_rep, sa.num_heads, dim_feedforward=h * n, dropout=p, activation=activation, layer_norm_eps=norms[0].eps,
        batch_first=True, norm_first=module.norm_first, bias=biases["linear1"], norm=norm, norm_affine="per_copy",
        norm_normalize=normalize, dtype=torch.float64)
    _load_parts(out, parts, path)
    return out.to(**like)


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

    _i.converter(sln.eTransformerDecoderLayer)(_decoder_layer)
    _i.converter(sln.TransformerEncoder)(_encoder)
    _i.converter(sln.TransformerDecoder)(_decoder)
