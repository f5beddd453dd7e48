"""The norms from Python: ELayerNorm / ERMSNorm with affine="per_copy" (symm_learning's per-copy scales) and
EBatchNorm1d (torch.nn.BatchNorm1d's API and state_dict: equal to it on all-invariant reps, equivariant
everywhere, buffers that round-trip through load_state_dict and follow .to())."""

import eqnn
import pytest
import torch
from eqnn import nn as enn


def copy_index(rep):
    """The copy of each coordinate of the rep's basis Q."""
    dims = [rep.group.irreps[k].dim for k in rep.irreps]
    return torch.repeat_interleave(torch.arange(len(dims)), torch.tensor(dims))


@pytest.mark.parametrize("cls", [enn.ELayerNorm, enn.ERMSNorm], ids=lambda c: c.__name__)
@pytest.mark.parametrize("spec,rep_string", [("D4", "2x regular + trivial + irrep(1)"), ("C4", "regular")])
def test_per_copy_norms(cls, spec, rep_string):
    rep = eqnn.rep(eqnn.group(spec), rep_string)
    norm = cls(rep, affine="per_copy").double()
    assert norm.options["affine"] == "per_copy"
    assert norm.weight.shape == (len(rep.irreps),)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.3, 2.0, norm.weight.numel()))
    assert eqnn.check_equivariance(norm, rep, rep) < 1e-10
    if cls is enn.ERMSNorm:  # symm_learning's eRMSNorm, densely
        x = torch.randn(4, rep.size, dtype=torch.float64)
        Q = rep.change_of_basis
        alpha = norm.weight.detach()[copy_index(rep)]
        expected = (x / torch.sqrt(1e-6 + x.pow(2).mean(-1, keepdim=True))) @ (Q * alpha @ Q.T).T
        torch.testing.assert_close(norm(x), expected, rtol=0, atol=1e-12)
    assert cls(rep).options["affine"] == "per_field"
    with pytest.raises(ValueError, match="'affine' must be per_field .* or per_copy"):
        cls(rep, affine="per_orbit")


def trivial_pair(momentum_e, momentum_t):
    rep = eqnn.rep(eqnn.group("C4"), "3x trivial")
    ours = enn.EBatchNorm1d(rep, momentum=momentum_e, dtype=torch.float64)
    stock = torch.nn.BatchNorm1d(3, momentum=momentum_t, dtype=torch.float64)
    with torch.no_grad():
        ours.weight.copy_(torch.tensor([0.5, 2.0, -1.0]))
        stock.weight.copy_(ours.weight)
        ours.bias_coefficients.copy_(torch.tensor([0.1, -0.2, 0.3]))
        stock.bias.copy_(ours.effective_parameters()["bias"])
    return ours, stock


@pytest.mark.parametrize("momentum", [0.1, "cumulative"])
def test_batch_norm_equals_stock_on_trivial_reps(momentum):
    ours, stock = trivial_pair(momentum, None if momentum == "cumulative" else momentum)
    for step in range(4):
        x = torch.randn(6, 3, 4 if step % 2 else 1, dtype=torch.float64) * (step + 1) + step
        if step % 2 == 0:
            x = x[..., 0]
        torch.testing.assert_close(ours(x), stock(x), rtol=0, atol=1e-12)
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(ours.state_dict()[key], stock.state_dict()[key], rtol=0, atol=1e-12)
    ours.eval()
    stock.eval()
    x = torch.randn(5, 3, dtype=torch.float64)
    torch.testing.assert_close(ours(x), stock(x), rtol=0, atol=1e-12)
    # Export: the stock state_dict, loadable with strict=True.
    fresh = torch.nn.BatchNorm1d(3, dtype=torch.float64)
    fresh.load_state_dict(ours.effective_parameters(), strict=True)
    fresh.eval()
    torch.testing.assert_close(fresh(x), stock(x), rtol=0, atol=1e-12)


def test_batch_norm_state_dict_and_equivariance():
    rep = eqnn.rep(eqnn.group("D4"), "2x regular + trivial + irrep(1)")
    bn = enn.EBatchNorm1d(rep).double()
    state = bn.state_dict()
    n_copies = len(rep.irreps)
    assert state["running_mean"].shape == (rep.size,)
    assert state["running_var"].shape == (n_copies,)
    assert state["num_batches_tracked"].dtype == torch.int64
    assert bn.weight.shape == (n_copies,)
    assert dict(bn.named_buffers()).keys() == {"running_mean", "running_var", "num_batches_tracked"}
    for _ in range(3):  # the C++ forward updates the buffers Python holds (after .double() too)
        bn(torch.randn(16, rep.size, dtype=torch.float64) + 2)
    assert int(bn.num_batches_tracked) == 3
    assert bn.running_mean.abs().max() > 0.1
    assert bn.running_var.dtype == torch.float64
    # Invariant running mean; eval (running statistics) and training (batch statistics) are equivariant.
    rho = rep.matrices()
    torch.testing.assert_close(rho @ bn.running_mean, bn.running_mean.expand(rho.shape[0], -1), rtol=0, atol=1e-12)
    bn.eval()
    assert eqnn.check_equivariance(bn, rep, rep, shape=(8,)) < 1e-10
    # load_state_dict round trip: a fresh module normalises as this one.
    other = enn.EBatchNorm1d(rep).double()
    other.load_state_dict(bn.state_dict())
    other.eval()
    x = torch.randn(5, rep.size, 3, dtype=torch.float64)
    torch.testing.assert_close(other(x), bn(x), rtol=0, atol=1e-12)
    assert int(other.num_batches_tracked) == 3
    # Training after loading updates the loaded buffers.
    other.train()
    other(torch.randn(4, rep.size, dtype=torch.float64))
    assert int(other.num_batches_tracked) == 4
    assert not torch.equal(other.running_mean, bn.running_mean)
    bn.train()
    assert eqnn.check_equivariance(bn, rep, rep, shape=(8,)) < 1e-10
    assert bn.effective_parameters() == {}  # no stock form on this rep


def test_batch_norm_channels_last_and_errors():
    rep = eqnn.rep(eqnn.group("C4"), "2x regular")
    bn = enn.EBatchNorm1d(rep, channels_last=True).double()
    assert eqnn.check_equivariance(bn, rep, rep, shape=(3, 5)) < 1e-10
    assert bn.options["channels_last"] is True
    assert enn.EBatchNorm1d(rep).options["momentum"] == 0.1
    assert enn.EBatchNorm1d(rep, momentum="cumulative").options["momentum"] == "cumulative"
    with pytest.raises(ValueError, match=r"'momentum' must be a number in \[0, 1\]"):
        enn.EBatchNorm1d(rep, momentum=2.0)
    with pytest.raises(RuntimeError, match=r"set channels_last: true"):
        enn.EBatchNorm1d(rep)(torch.randn(2, 3, 8))
    with pytest.raises(RuntimeError, match=r"expected more than 1 value per feature when training"):
        enn.EBatchNorm1d(rep)(torch.randn(1, 8))


def test_normalize_per_copy_is_symm_learnings_layer_norm_statistic():
    rep = eqnn.rep(eqnn.group("D4"), "2x regular + trivial + irrep(1)")
    norm = enn.ELayerNorm(rep, affine="per_copy", normalize="per_copy").double()
    assert norm.options["normalize"] == "per_copy"
    assert enn.ERMSNorm(rep).options["normalize"] == "all"
    assert eqnn.check_equivariance(norm, rep, rep) < 1e-10
    x = torch.randn(3, rep.size, dtype=torch.float64)
    Q = rep.change_of_basis
    z = x @ Q
    idx = copy_index(rep)
    ms = torch.zeros(3, int(idx.max()) + 1, dtype=torch.float64).index_add_(1, idx, z * z)
    ms = ms / torch.bincount(idx).to(torch.float64)
    expected = (z / torch.sqrt(ms[:, idx] + 1e-5)) @ Q.T  # weight 1 and bias 0 at the start
    torch.testing.assert_close(norm(x), expected, rtol=0, atol=1e-12)
    assert norm.effective_parameters() == {}
    with pytest.raises(ValueError, match="'normalize' must be all"):
        enn.ERMSNorm(rep, normalize="per_irrep")


def test_batch_norm_in_a_model_file(tmp_path):
    """A model file feeds (batch, [seq,] features): eBatchNorm1d there takes channels_last: true and normalises
    over every leading dim; without it a (batch, seq, D) input is refused with a message that says so."""
    text = """eqnn: 1
group: {type: DihedralGroup, n: 4}
reps:
  x: permutation(vertices)
  h: 2x regular
input: x
layers:
  - {type: eLinear, out_rep: h}
  - {type: eBatchNorm1d, channels_last: %s}
  - {type: eReLU}
  - {type: eLinear, out_rep: x}
"""
    (tmp_path / "bn.yaml").write_text(text % "true")
    model = eqnn.load_model(str(tmp_path / "bn.yaml")).double()
    assert {"layers.1.running_mean", "layers.1.running_var", "layers.1.num_batches_tracked"} <= set(
        model.state_dict())
    assert eqnn.check_equivariance(model, model.input_rep, model.input_rep, shape=(4, 3)) < 1e-10
    model(torch.randn(4, 3, 4, dtype=torch.float64))
    assert int(model.state_dict()["layers.1.num_batches_tracked"]) > 0
    model.eval()
    assert eqnn.check_equivariance(model, model.input_rep, model.input_rep, shape=(4, 3)) < 1e-10
    (tmp_path / "bn2.yaml").write_text(text % "false")
    plain = eqnn.load_model(str(tmp_path / "bn2.yaml"))
    with pytest.raises(RuntimeError, match="set channels_last: true"):
        plain(torch.randn(4, 3, 4))


def test_batch_norm_gradients():
    """Training mode differentiates through the batch statistics (as torch), checked numerically."""
    rep = eqnn.rep(eqnn.group("C4"), "regular + trivial + irrep(1)")
    bn = enn.EBatchNorm1d(rep, track_running_stats=False).double()
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
    x = torch.randn(5, rep.size, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: bn(t), (x,))
    bn(x).pow(3).sum().backward()
    assert bn.weight.grad.abs().max() > 0 and bn.bias_coefficients.grad.abs().max() > 0
