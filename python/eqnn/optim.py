"""Optimiser helpers: which parameters get weight decay.

``parameter_groups(model, weight_decay)`` splits a model's parameters into the two groups a transformer-style
AdamW setup uses (diffusion_policy's rule, which symm_learning's eCondTransformer.get_optim_groups means to
follow but cannot run on its own modules):

- decay: the weights of linear maps. The constrained weight coefficients of eLinear, eConv1d and
  eConvTranspose1d, the attention projections (eMultiheadAttention's in_proj, its out_proj eLinear, the
  positional attentions' inner attention; also inside transformer layers, stacks and models), and the
  ``weight`` of torch's Linear, Bilinear and Conv/ConvTranspose modules and ``in_proj_weight`` (or
  ``q/k/v_proj_weight``) of torch's MultiheadAttention, whether Python modules or the stock C++ ones inside
  eqnn modules (iMLP's head, a model file's ``Linear``).
- no decay: every bias (constrained or not), the scales and biases of the norms (eLayerNorm, eRMSNorm,
  eBatchNorm1d, torch's norms), eAffine, eInvariantBias, eNormNonlinearity's bias, position tables
  (``pos_emb_coefficients``), ``rel_bias`` and torch's Embedding.

Every parameter of the model lands in exactly one group (a parameter shared by two modules once). A parameter
owned by a module kind this function does not know (a custom module's own nn.Parameter, a plugin layer) raises
ValueError naming it: decide its group yourself rather than have it guessed.

Why decaying the coefficients decays the weight: an eqnn layer stores θ and computes with W = expand(θ), a
linear map. AdamW's decoupled step first scales every parameter of a group with weight decay λ by (1 - ηλ),
θ ← (1 - ηλ)θ, so W ← expand((1 - ηλ)θ) = (1 - ηλ)W: exactly the stock layer's decoupled decay of W, whatever
the basis. This is *not* true of an L2 penalty (λ/2)‖θ‖² added to the loss (torch.optim.Adam's
``weight_decay``, or SGD's): the basis elements B_s of W = Σ_s θ_s B_s are Frobenius-orthogonal but not
orthonormal (they are optimiser-fair: orbit indicators with ‖B_s‖² = |orbit_s| on the orbit path, a common
scale ‖B_s‖² = D_out·D_in / dim on the isotypic path; see docs/guide/parametrisation.md), so
‖θ‖² = Σ_s ‖W_s‖² / ‖B_s‖² with W_s = θ_s B_s: a penalty on W reweighted per basis element, equal to a
multiple of ‖W‖² only where all ‖B_s‖ agree.

Example:
    >>> G = eqnn.group("C4")
    >>> x = eqnn.rep(G, "2x regular")
    >>> model = torch.nn.Sequential(eqnn.nn.ELinear(x, x), eqnn.nn.ELayerNorm(x), torch.nn.Linear(8, 3))
    >>> decay, no_decay = eqnn.optim.parameter_groups(model, weight_decay=0.01)
    >>> len(decay["params"]), decay["weight_decay"], len(no_decay["params"]), no_decay["weight_decay"]
    (2, 0.01, 4, 0.0)
    >>> opt = torch.optim.AdamW(eqnn.optim.parameter_groups(model), lr=1e-3)
"""

from __future__ import annotations

import torch

from .nn import _CppModule, _Mirror

__all__ = ["parameter_groups"]

_DECAY, _NO_DECAY = True, False

# The parameters of the C++ modules, by the owner name Handle.parameter_owners reports, then parameter name.
_LINEAR = {"weight_coefficients": _DECAY, "bias_coefficients": _NO_DECAY}
_STOCK_LINEAR = {"weight": _DECAY, "bias": _NO_DECAY}
_NORM = {"weight": _NO_DECAY, "bias_coefficients": _NO_DECAY}
_CPP_RULES: dict[str, dict[str, bool]] = {
    "eLinear": _LINEAR,
    "eConv1d": _LINEAR,
    "eConvTranspose1d": _LINEAR,
    "eMultiheadAttention": {"in_proj_weight_coefficients": _DECAY, "in_proj_bias_coefficients": _NO_DECAY},
    "eAdditivePosMultiheadAttention": {"pos_emb_coefficients": _NO_DECAY},
    "eAdditiveRelMultiheadAttention": {"rel_bias": _NO_DECAY},
    "eLayerNorm": _NORM,
    "eRMSNorm": _NORM,
    "eBatchNorm1d": _NORM,
    "eAffine": {"scale": _NO_DECAY, "bias_coefficients": _NO_DECAY},
    "eInvariantBias": {"bias_coefficients": _NO_DECAY},
    "eNormNonlinearity": {"bias": _NO_DECAY},
    # Stock layers of a model file (registry names) and torch's C++ modules inside eqnn modules.
    "Linear": _STOCK_LINEAR,
    "LayerNorm": {"weight": _NO_DECAY, "bias": _NO_DECAY},
    "MultiheadAttention": {"in_proj_weight": _DECAY, "in_proj_bias": _NO_DECAY},
    "torch::nn::LinearImpl": _STOCK_LINEAR,
    "torch::nn::Conv1dImpl": _STOCK_LINEAR,
    "torch::nn::Conv2dImpl": _STOCK_LINEAR,
    "torch::nn::Conv3dImpl": _STOCK_LINEAR,
    "torch::nn::LayerNormImpl": {"weight": _NO_DECAY, "bias": _NO_DECAY},
}

_TORCH_NORMS = (
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.modules.batchnorm._NormBase,  # BatchNorm*, InstanceNorm* (and their lazy forms)
    *((torch.nn.RMSNorm,) if hasattr(torch.nn, "RMSNorm") else ()),
)


def _torch_rule(module: torch.nn.Module) -> dict[str, bool] | None:
    """The rule for the direct parameters of a Python torch module, or None for a kind not known here."""
    if isinstance(module, (torch.nn.Linear, torch.nn.Bilinear, torch.nn.modules.conv._ConvNd)):
        return _STOCK_LINEAR
    if isinstance(module, torch.nn.MultiheadAttention):
        return {"in_proj_weight": _DECAY, "q_proj_weight": _DECAY, "k_proj_weight": _DECAY,
                "v_proj_weight": _DECAY, "in_proj_bias": _NO_DECAY, "bias_k": _NO_DECAY, "bias_v": _NO_DECAY}
    if isinstance(module, _TORCH_NORMS):
        return {"weight": _NO_DECAY, "bias": _NO_DECAY}
    if isinstance(module, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
        return {"weight": _NO_DECAY}
    return None


def parameter_groups(module: torch.nn.Module, weight_decay: float = 1e-3) -> list[dict]:
    """The parameters of ``module`` as two optimiser groups, ``[{"params": decay, "weight_decay":
    weight_decay}, {"params": no_decay, "weight_decay": 0.0}]``, for ``torch.optim.AdamW(groups, lr=...)``.

    decay holds the weights of linear maps (eLinear, eConv1d, eConvTranspose1d, the attention projections,
    torch's Linear/Conv/MultiheadAttention weights), no_decay the biases, norm and eAffine parameters,
    position tables, rel_bias and embeddings (see the module docstring, which also shows why decaying the
    coefficients θ of W = expand(θ) decays W by the same factor). Both lists follow
    ``module.named_parameters()`` order; every parameter is in exactly one of them. Raises ValueError naming
    a parameter whose owning module kind is not known here, and TypeError for a weight_decay that is not a
    number.

    Example:
        >>> mlp = eqnn.models.IMLP(eqnn.rep(eqnn.group("D4"), "2x regular"), 3, [16])
        >>> decay, no_decay = eqnn.optim.parameter_groups(mlp, weight_decay=0.1)
        >>> [n for n, p in mlp.named_parameters() if any(p is q for q in decay["params"])]
        ['net.0.weight_coefficients', 'net.2.weight_coefficients', 'net.5.weight']
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"eqnn.optim.parameter_groups: expected a torch.nn.Module, got {type(module).__name__}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)):
        raise TypeError(f"eqnn.optim.parameter_groups: weight_decay must be a number, got {weight_decay!r}")
    decided: dict[int, bool] = {}  # id(parameter) -> decay

    def decide(name: str, parameter: torch.Tensor, owner: str, rule: dict[str, bool] | None, leaf: str) -> None:
        if rule is None or leaf not in rule:
            what = "a module kind" if rule is None else "a parameter name of that module kind"
            raise ValueError(
                f"eqnn.optim.parameter_groups: parameter '{name}' is owned by {owner}, {what} with no "
                f"weight-decay rule here (known: weights of linear maps decay; biases, norms, position tables, "
                f"embeddings do not). Build the groups for it yourself")
        previous = decided.setdefault(id(parameter), rule[leaf])
        if previous != rule[leaf]:
            raise ValueError(f"eqnn.optim.parameter_groups: parameter '{name}' is shared by modules that "
                             "disagree on whether it decays")

    for prefix, sub in module.named_modules():
        path = f"{prefix}." if prefix else ""
        if isinstance(sub, _CppModule):
            for name, owner in sub._eqnn_handle.parameter_owners():
                leaf = name.rsplit(".", 1)[-1]
                decide(path + name, sub.get_parameter(name), f"the eqnn C++ module '{owner}'",
                       _CPP_RULES.get(owner), leaf)
        elif isinstance(sub, _Mirror):
            continue  # holds parameters of the C++ module above it, decided there
        else:
            rule = _torch_rule(sub)
            for leaf, parameter in sub.named_parameters(recurse=False):
                decide(path + leaf, parameter, type(sub).__name__, rule, leaf)

    decay: list[torch.Tensor] = []
    no_decay: list[torch.Tensor] = []
    for name, parameter in module.named_parameters():
        if id(parameter) not in decided:
            # Registered from Python on an eqnn module (not one of its C++ parameters).
            raise ValueError(f"eqnn.optim.parameter_groups: parameter '{name}' is not a parameter of the eqnn C++ "
                             "module that holds it (added from Python?); it has no weight-decay rule here. "
                             "Build the groups for it yourself")
        (decay if decided[id(parameter)] else no_decay).append(parameter)
    return [{"params": decay, "weight_decay": float(weight_decay)}, {"params": no_decay, "weight_decay": 0.0}]
