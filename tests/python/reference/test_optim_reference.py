"""eqnn.optim.parameter_groups against symm_learning's eCondTransformer.get_optim_groups: symm_learning's rule
(decay the weights of eLinear and eMultiheadAttention; not biases, norms, embeddings, pos_emb, rel_bias) raises
on its own model, because its parameters are named ``weight_dof`` / ``parametrizations.in_proj_weight.original``;
eqnn's groups on the converted model decay exactly the parameters that rule means (the same modules' weights)."""

import re

import eqnn
import eqnn.interop as interop
import escnn.group as eg
import pytest
import torch
from symm_learning.models.control.econd_transformer import eCondTransformer


def _eqnn_name(symm_learning_name: str) -> str:
    """The name of the converted parameter holding the same weight."""
    name = re.sub(r"\.parametrizations\.(\w+)\.original$", r".\1_coefficients", symm_learning_name)
    return re.sub(r"\.weight_dof$", ".weight_coefficients", name)


@pytest.mark.parametrize("group", ["C4", "D4"])
def test_get_optim_groups_raises_while_parameter_groups_works(group):
    G = eg.cyclic_group(4) if group == "C4" else eg.dihedral_group(4)
    r = G.regular_representation
    model = eCondTransformer(r, r, r, in_horizon=4, cond_horizon=2, num_layers=2, num_attention_heads=1,
                             embedding_dim=2 * G.order(), num_cond_layers=1, pos_encoding="none")
    with pytest.raises(ValueError, match="Unrecognized parameter input_emb.weight_dof"):
        model.get_optim_groups(weight_decay=0.1)

    # The modules with parameters, converted (opt_time_emb, a parameter-free sinusoidal table, has no converter).
    assert not list(model.opt_time_emb.parameters())
    converted = torch.nn.ModuleDict(
        {n: interop.from_symm_learning(c) for n, c in model.named_children() if n != "opt_time_emb"})
    decay, no_decay = eqnn.optim.parameter_groups(converted, weight_decay=0.1)
    names = {id(p): n for n, p in converted.named_parameters()}
    decayed = [names[id(p)] for p in decay["params"]]
    kept = [names[id(p)] for p in no_decay["params"]]
    assert sorted(decayed + kept) == sorted(names.values()) and not set(decayed) & set(kept)

    meant = [_eqnn_name(n) for n, _ in model.named_parameters()
             if n.endswith(".weight_dof") or n.endswith("in_proj_weight.original")]
    assert len(meant) == 2 + 4 + 2 * 6 + 1  # input_emb, cond_emb, 1 encoder and 2 decoder layers, head
    assert sorted(decayed) == sorted(meant)
    assert all(n.endswith("bias_coefficients") or n.endswith("norm1.weight") or n.endswith("norm2.weight")
               or n.endswith("norm3.weight") or n == "layer_norm.weight" for n in kept), kept
