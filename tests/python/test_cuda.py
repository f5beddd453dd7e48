"""The modules on a GPU: the same answer as on the CPU, a training step, and equivariance. Skipped, with the
reason shown, where torch sees no CUDA device."""

import eqnn
import pytest
import torch
from eqnn import nn as enn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible to torch")


def test_modules_on_cuda_match_cpu():
    G = eqnn.group("Ico")
    r = eqnn.rep(G, "2x regular")
    attn = enn.EMultiheadAttention(r, 2, batch_first=True, dtype=torch.float64)
    lin = enn.ELinear(r, r, dtype=torch.float64)
    x = torch.randn(4, 6, r.size, dtype=torch.float64)
    y_cpu = lin(attn(x, x, x)[0])
    attn_gpu, lin_gpu = attn.to("cuda"), lin.to("cuda")
    assert attn_gpu.in_proj_weight_coefficients.is_cuda
    xg = x.cuda()
    y_gpu = lin_gpu(attn_gpu(xg, xg, xg)[0])
    assert y_gpu.is_cuda
    assert torch.allclose(y_gpu.cpu(), y_cpu, atol=1e-10)
    opt = torch.optim.Adam(list(attn_gpu.parameters()) + list(lin_gpu.parameters()), lr=1e-3)
    loss = y_gpu.square().mean()
    loss.backward()
    opt.step()
    assert eqnn.check_equivariance(attn_gpu, r, r) < 1e-10
    assert eqnn.check_equivariance(lin_gpu, r, r, torch.float32) < 1e-5
