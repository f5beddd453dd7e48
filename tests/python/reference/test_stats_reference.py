"""eqnn.stats, eqnn.linalg and the running-statistics modules against symm_learning 0.8.1: on (N, D) data the
statistics equal symm_learning's; on (N, D, T) data they differ by design (symm_learning folds the time axis
without permuting it, and equals eqnn on that fold); symm_learning's lstsq equals eqnn's on G-closed data and has a
strictly larger loss on raw data wherever an irrep of dimension >= 2 is present (C5, D4, Ico; on C2 it is exact);
EMAStats / eEMAStats, converted or built alike, hold the same buffers after every batch, with gradients reaching
only the current batch."""


import eqnn
import eqnn.interop as interop
import pytest
import symm_learning.linalg as sll
import symm_learning.stats as sls
import torch
from reference_support import REPS, default_dtype, escnn_rep, fresh, matrices, rel
from symm_learning.nn import EMAStats, eEMAStats


@pytest.fixture(autouse=True)
def _float64():
    """symm_learning builds its projectors in the default dtype and caches them on the rep (a float32 P_inv
    costs its float64 statistics their precision, 6e-8): every test runs under float64."""
    with default_dtype(torch.float64):
        yield


def pair(G, kind, tag):
    """A fresh escnn rep (symm_learning caches per object and dtype) and its eqnn twin (escnn's Q)."""
    theirs = fresh(escnn_rep(G, kind), tag)
    return theirs, interop.rep_from_escnn(theirs)


@pytest.mark.parametrize("kind", REPS)
def test_2d_statistics_equal_symm_learning(G, kind):
    ex, rx = pair(G, kind, "stats2d-x")
    ey, ry = pair(G, "regular", "stats2d-y")
    x = torch.randn(23, rx.size, dtype=torch.float64) + 0.5
    y = torch.randn(23, ry.size, dtype=torch.float64) - 0.25
    assert rel(eqnn.stats.mean(x, rx), sls.mean(x, ex)) <= 1e-12
    assert rel(eqnn.stats.var(x, rx), sls.var(x, ex)) <= 1e-12  # symm_learning divides by N - 1
    v, m = eqnn.stats.var_mean(x, rx)
    sv, sm = sls.var_mean(x, ex)
    assert rel(v, sv) <= 1e-12 and rel(m, sm) <= 1e-12
    for uncentered in (False, True):
        assert rel(eqnn.stats.cov(x, y, rx, ry, uncentered=uncentered),
                   sls.cov(x, y, ex, ey, uncentered=uncentered)) <= 1e-12


@pytest.mark.parametrize("kind", ["2x regular", "mixed"])
def test_3d_statistics_differ_and_symm_learning_is_the_unpermuted_fold(G, kind):
    ex, rx = pair(G, kind, "stats3d")
    # (N, D, T) with a scale per feature and an offset per time step, so that mixing them shows
    scale = torch.linspace(0.5, 3.0, rx.size, dtype=torch.float64)[:, None]
    x = torch.randn(6, rx.size, 3, dtype=torch.float64) * scale + torch.arange(3, dtype=torch.float64)
    theirs_fold = x.reshape(-1, rx.size)  # symm_learning's fold: features and times mixed
    ours_fold = x.permute(0, 2, 1).reshape(-1, rx.size)
    assert rel(sls.var(x, ex), eqnn.stats.var(theirs_fold, rx)) <= 1e-12
    assert rel(sls.mean(x, ex), eqnn.stats.mean(theirs_fold, rx)) <= 1e-12
    assert rel(eqnn.stats.var(x, rx), eqnn.stats.var(ours_fold, rx)) <= 1e-15
    assert rel(eqnn.stats.var(x, rx), sls.var(x, ex)) > 1e-3
    # mean over (N, T) of each feature
    assert rel(eqnn.stats.mean(x, rx), eqnn.stats.mean(x.mean(2), rx)) <= 1e-12


@pytest.mark.parametrize("kind", ["regular", "mixed"])
def test_lstsq_equal_on_closed_data_and_symm_learning_worse_on_raw_data(G, kind):
    ex, rx = pair(G, kind, "lstsq-x")
    ey, ry = pair(G, "mixed", "lstsq-y")
    N = rx.size + 7
    x = torch.randn(N, rx.size, dtype=torch.float64)
    y = torch.randn(N, ry.size, dtype=torch.float64)
    RX, RY = matrices(ex), matrices(ey)
    xa, ya = (x @ RX.transpose(1, 2)).reshape(-1, rx.size), (y @ RY.transpose(1, 2)).reshape(-1, ry.size)
    assert rel(eqnn.linalg.lstsq(xa, ya, rx, ry), sll.lstsq(xa, ya, ex, ey)) <= 1e-8

    def loss(W):
        return float(((x @ W.T - y) ** 2).sum())

    ours, theirs = eqnn.linalg.lstsq(x, y, rx, ry), sll.lstsq(x, y, ex, ey)
    assert float((RY @ theirs - theirs @ RX).abs().max()) <= 1e-10  # both are equivariant
    assert float((RY @ ours - ours @ RX).abs().max()) <= 1e-10
    if all(ir.size == 1 for ir in G.irreps()):
        # symm_learning solves per isotypic block; with 1-dim irreps nothing is left to project, so it is exact
        assert rel(theirs, ours) <= 1e-10
    else:  # on irreps of dimension ≥ 2 the projection after the solve loses loss
        assert loss(ours) < loss(theirs) - 1e-9 * loss(theirs), (loss(ours), loss(theirs))


def test_lstsq_c4_counterexample_against_symm_learning():
    import escnn.group as eg

    G = eg.cyclic_group(4)
    psi_e = fresh(next(r for r in G.irreps() if r.size == 2), "psi")  # the 2-dim irrep (rotation by 90°)
    psi = interop.rep_from_escnn(psi_e)
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    W, Ws = eqnn.linalg.lstsq(x, y, psi, psi), sll.lstsq(x, y, psi_e, psi_e)
    I2 = torch.eye(2, dtype=torch.float64)
    assert float((W - 0.2 * I2).abs().max()) <= 1e-14 and float((Ws - 0.5 * I2).abs().max()) <= 1e-12


def _buffers(m):
    return [m.running_mean_x, m.running_mean_y, m.cov_xx, m.cov_yy, m.cov_xy]


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("equivariant", [False, True])
def test_ema_stats_equal_after_every_batch(G, equivariant, center):
    ex, rx = pair(G, "mixed", "ema-x")
    ey, ry = pair(G, "regular", "ema-y")
    with default_dtype(torch.float64):
        theirs = (eEMAStats(ex, ey, momentum=0.3, center_with_running_mean=center) if equivariant
                  else EMAStats(rx.size, ry.size, momentum=0.3, center_with_running_mean=center))
    ours = interop.from_symm_learning(theirs)  # the converter: unbiased as symm_learning's module divides
    assert type(ours) is (eqnn.stats.EEMAStats if equivariant else eqnn.stats.EMAStats)
    assert ours.unbiased is (not equivariant) and ours.momentum == 0.3 and ours.center_with_running_mean is center
    for t in range(3):
        x = torch.randn(9, rx.size, dtype=torch.float64, requires_grad=True)
        y = torch.randn(9, ry.size, dtype=torch.float64)
        theirs(x, y)
        ours(x, y)
        for a, b in zip(_buffers(ours), _buffers(theirs)):
            assert rel(a.detach(), b.detach()) <= 1e-12, t
        assert int(ours.num_batches_tracked) == int(theirs.num_batches_tracked) == t + 1
    # gradients reach the current batch only, on both sides
    g_ours = torch.autograd.grad(ours.cov_xy.sum() + ours.mean_x.sum(), x, retain_graph=True)[0]
    g_theirs = torch.autograd.grad(theirs.cov_xy.sum() + theirs.mean_x.sum(), x)[0]
    assert rel(g_ours, g_theirs) <= 1e-10


def test_converted_ema_stats_continue_alike(G):
    ex, rx = pair(G, "regular", "ema-cont")
    with default_dtype(torch.float64):
        theirs = eEMAStats(ex, momentum=0.25)
    for _ in range(2):
        x = torch.randn(7, rx.size, dtype=torch.float64)
        theirs(x, x + 1)
    ours = interop.from_symm_learning(theirs)
    assert int(ours.num_batches_tracked) == 2
    for a, b in zip(_buffers(ours), _buffers(theirs)):
        assert rel(a.detach(), b.detach()) <= 1e-12
    x = torch.randn(7, rx.size, dtype=torch.float64)
    theirs(x, 2 * x)
    ours(x, 2 * x)
    for a, b in zip(_buffers(ours), _buffers(theirs)):
        assert rel(a.detach(), b.detach()) <= 1e-12
