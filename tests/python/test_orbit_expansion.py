"""The orbit path's CPU expansion (one autograd node whose backward is a per-orbit sum) seen from Python:
gradcheck and gradgradcheck with respect to the coefficients (plain tensors through functional_call, the
path that serves them) on orbit spaces with equal and with unequal orbit sizes, and the same gradients as
the batched (index_select) path, which vmap takes."""

import eqnn
import pytest
import torch
from eqnn import nn as enn
from torch import func

CASES = [("C8", "regular", "2x regular"), ("D4", "permutation(vertices)", "permutation(vertices) + regular")]


@pytest.mark.parametrize("group, rin, rout", CASES)
def test_gradcheck_and_gradgradcheck_through_the_coefficients(group, rin, rout):
    g = eqnn.group(group)
    lin = enn.ELinear(eqnn.rep(g, rin), eqnn.rep(g, rout), bias=False, dtype=torch.float64)
    x = torch.randn(3, eqnn.rep(g, rin).size, dtype=torch.float64)
    theta = lin.weight_coefficients.detach().clone().requires_grad_()

    def f(t):
        return func.functional_call(lin, {"weight_coefficients": t}, (x,))

    assert torch.autograd.gradcheck(f, (theta,))
    # The second derivative of a linear map in θ is zero; gradgradcheck also differentiates the gradient
    # with respect to the output's cotangent, which runs the backward of the backward.
    assert torch.autograd.gradgradcheck(f, (theta,))


@pytest.mark.parametrize("group, rin, rout", CASES)
def test_gradients_equal_the_vmap_path(group, rin, rout):
    g = eqnn.group(group)
    lin = enn.ELinear(eqnn.rep(g, rin), eqnn.rep(g, rout), bias=False, dtype=torch.float64)
    x = torch.randn(4, eqnn.rep(g, rin).size, dtype=torch.float64)
    theta = lin.weight_coefficients.detach().clone()

    def loss(t, xi):
        return func.functional_call(lin, {"weight_coefficients": t}, (xi.unsqueeze(0),)).square().sum()

    per_sample = func.vmap(func.grad(loss), in_dims=(None, 0))(theta, x)  # functorch wrappers: index_select
    for i in range(x.shape[0]):
        t = theta.clone().requires_grad_()
        loss(t, x[i]).backward()  # a plain tensor: the orbit node
        assert torch.allclose(t.grad, per_sample[i], rtol=0, atol=1e-12)
