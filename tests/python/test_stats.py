"""eqnn.stats from Python: mean and cov against group averages, var against the per-copy formula, invariance under
transforming the whole data set, the (N, D, T) fold, the unbiased/biased divisors against torch.var/torch.cov, and
EMAStats / EEMAStats against running averages written out here (buffers, gradients, modes, messages)."""

import eqnn
import pytest
import torch
from eqnn.stats import EEMAStats, EMAStats

CASES = [("C2", "regular", False), ("C4", "2x regular + trivial + irrep(2)", True), ("D4", "regular", True),
         ("D4", "2x regular + trivial + irrep(4)", False), ("C5", "2x regular + trivial + irrep(1)", True),
         ("Ico", "regular", False), ("Ico", "regular + trivial + irrep(3)", True)]


def make_rep(spec, text, rotate, seed=0):
    r = eqnn.rep(eqnn.group(spec), text)
    if not rotate:
        return r
    g = torch.Generator().manual_seed(seed)
    B = torch.linalg.qr(torch.randn(r.size, r.size, generator=g, dtype=torch.float64))[0]
    return eqnn.rep(r.group, irreps=r.irreps, change_of_basis=B @ r.change_of_basis)


def data(N, D):
    return torch.randn(N, D, dtype=torch.float64) + torch.linspace(-1, 2, D, dtype=torch.float64)


def err(a, b):
    return float((a - b).abs().max())


@pytest.mark.parametrize("spec,text,rotate", CASES)
def test_mean_var_cov(spec, text, rotate):
    rx = make_rep(spec, text, rotate, seed=1)
    ry = eqnn.rep(rx.group, "regular + trivial")
    N = 13
    x, y = data(N, rx.size), data(N, ry.size)
    RX, RY = rx.matrices(), ry.matrices()
    mu = eqnn.stats.mean(x, rx)
    assert err(mu, (RX @ x.mean(0)).mean(0)) <= 1e-12
    mu_y = (RY @ y.mean(0)).mean(0)
    for unbiased in (True, False):
        n = N - 1 if unbiased else N
        C = (y - mu_y).T @ (x - mu) / n
        assert err(eqnn.stats.cov(x, y, rx, ry, unbiased=unbiased), (RY @ C @ RX.transpose(1, 2)).mean(0)) <= 1e-12
        # var: per irreducible copy of Q, the mean of the squared deviations, back with Q∘Q
        Q = rx.change_of_basis
        z = (x - mu) @ Q
        dims = [rx.group.irreps[k].dim for k in rx.irreps]
        s, off = torch.empty(rx.size, dtype=torch.float64), 0
        for d in dims:
            s[off:off + d] = (z[:, off:off + d] ** 2).sum() / d / n
            off += d
        v, m = eqnn.stats.var_mean(x, rx, unbiased=unbiased)
        assert err(v, (Q * Q) @ s) <= 1e-12 and err(m, mu) <= 1e-15
        assert err(eqnn.stats.var(x, rx, unbiased=unbiased), v) <= 1e-15
    M = y.T @ x / N  # uncentred: always / N
    assert err(eqnn.stats.cov(x, y, rx, ry, uncentered=True), (RY @ M @ RX.transpose(1, 2)).mean(0)) <= 1e-12
    # the statistics of the transformed data set are the same
    v, C = eqnn.stats.var(x, rx), eqnn.stats.cov(x, y, rx, ry)
    for g in range(0, rx.group.order, max(1, rx.group.order // 5)):
        xg, yg = x @ RX[g].T, y @ RY[g].T
        assert err(eqnn.stats.mean(xg, rx), mu) <= 1e-12
        assert err(eqnn.stats.var(xg, rx), v) <= 1e-12
        assert err(eqnn.stats.cov(xg, yg, rx, ry), C) <= 1e-12


def test_time_axis_is_folded_into_samples():
    rx = make_rep("D4", "regular + irrep(4)", True)
    ry = eqnn.rep(rx.group, "regular")
    x = torch.randn(5, rx.size, 4, dtype=torch.float64)  # (N, D, T)
    y = torch.randn(5, ry.size, 4, dtype=torch.float64)
    xf, yf = x.permute(0, 2, 1).reshape(-1, rx.size), y.permute(0, 2, 1).reshape(-1, ry.size)
    assert err(eqnn.stats.mean(x, rx), eqnn.stats.mean(xf, rx)) <= 1e-15
    assert err(eqnn.stats.var(x, rx), eqnn.stats.var(xf, rx)) <= 1e-15
    assert err(eqnn.stats.cov(x, y, rx, ry), eqnn.stats.cov(xf, yf, rx, ry)) <= 1e-15
    assert err(eqnn.stats.var(x, rx), eqnn.stats.var(x.reshape(-1, rx.size), rx)) > 1e-3  # not a plain reshape


def test_trivial_reps_give_torch_var_and_cov():
    G = eqnn.group("C4")
    r, s = eqnn.rep(G, "3x trivial"), eqnn.rep(G, "2x trivial")
    x, y = data(9, 3), data(9, 2)
    for unbiased in (True, False):
        assert err(eqnn.stats.var(x, r, unbiased=unbiased), torch.var(x, 0, unbiased=unbiased)) <= 1e-13
        full = torch.cov(torch.cat([y, x], 1).T, correction=int(unbiased))
        assert err(eqnn.stats.cov(x, y, r, s, unbiased=unbiased), full[:2, 2:]) <= 1e-13
    assert err(eqnn.stats.mean(x, r), x.mean(0)) <= 1e-15


def test_dtype_per_call_and_gradients():
    r = eqnn.rep(eqnn.group("D4"), "regular + irrep(4)")
    x = data(7, r.size)
    v32 = eqnn.stats.var(x.float(), r)
    v64 = eqnn.stats.var(x, r)
    assert v32.dtype == torch.float32 and v64.dtype == torch.float64 and err(v32.double(), v64) <= 1e-5
    xg = x.clone().requires_grad_()
    (eqnn.stats.var(xg, r).sum() + eqnn.stats.cov(xg, xg, r, r).sum()).backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all()


def test_bad_inputs_have_clear_messages():
    r = eqnn.rep(eqnn.group("C4"), "regular")
    other = eqnn.rep(eqnn.group("D4"), "regular")
    x = torch.randn(5, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"eqnn.stats.mean: expected x of shape \(N, 4\) or \(N, 4, T\) for the "
                                         r"representation .* \(size 4\), got \(5, 3\)"):
        eqnn.stats.mean(torch.randn(5, 3), r)
    with pytest.raises(ValueError, match=r"needs at least 2 samples, got 1; pass unbiased=False"):
        eqnn.stats.var(x[:1], r)
    with pytest.raises(ValueError, match=r"expected center of shape \(4,\), got \(3,\)"):
        eqnn.stats.var(x, r, center=torch.zeros(3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x \(5, 4\) and y \(6, 4\) do not pair their samples"):
        eqnn.stats.cov(x, torch.randn(6, 4, dtype=torch.float64), r, r)
    with pytest.raises(eqnn.GroupError, match=r"different groups \(C4 and D4\)"):
        eqnn.stats.cov(x, x, r, other)
    with pytest.raises(TypeError, match=r"rep_x must be an eqnn.Representation"):
        eqnn.stats.mean(x, 4)


# ------------------------------------------------------------------------------------------------ EMA modules


def ema_reference(batches, alpha, center_with_running_mean, n_of, mean_of, project):
    """The running statistics after each batch, written out."""
    out, S = [], None
    for t, (x, y) in enumerate(batches):
        mx, my = mean_of(x, "x"), mean_of(y, "y")
        cx, cy = (S[0], S[1]) if (center_with_running_mean and t > 0) else (mx, my)
        xc, yc = x - cx, y - cy
        n = n_of(x.shape[0])
        b = [mx, my, project(xc.T @ xc / n, "xx"), project(yc.T @ yc / n, "yy"), project(xc.T @ yc / n, "xy")]
        S = b if S is None else [(1 - alpha) * s + alpha * v for s, v in zip(S, b)]
        out.append([s.clone() for s in S])
    return out


NAMES = ["running_mean_x", "running_mean_y", "running_cov_xx", "running_cov_yy", "running_cov_xy"]


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize("unbiased", [True, False])
def test_ema_stats_matches_the_written_out_recursion(center, unbiased):
    m = EMAStats(3, 2, momentum=0.3, center_with_running_mean=center, unbiased=unbiased).double()
    assert torch.equal(m.running_cov_xx, torch.eye(3, dtype=torch.float64))
    assert torch.equal(m.running_cov_xy, torch.zeros(3, 2, dtype=torch.float64))
    batches = [(data(6, 3), data(6, 2)) for _ in range(3)]
    want = ema_reference(batches, 0.3, center, lambda N: N - 1 if unbiased else N, lambda t, _: t.mean(0),
                         lambda S, _: S)
    for (x, y), w in zip(batches, want):
        assert m(x, y) == (x, y)
        for name, value in zip(NAMES, w):
            assert err(getattr(m, name), value) <= 1e-13, name
    assert int(m.num_batches_tracked) == 3
    assert m.cov_xy is m.running_cov_xy and m.mean_x is m.running_mean_x
    m.eval()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    m(*batches[0])
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


@pytest.mark.parametrize("spec,text,rotate", CASES[1:4] + CASES[5:6])
def test_eema_stats_projects_every_statistic(spec, text, rotate):
    rx = make_rep(spec, text, rotate, seed=4)
    ry = eqnn.rep(rx.group, "regular + trivial")
    m = EEMAStats(rx, ry, momentum=0.2).double()
    # the initial identity, projected (built in the default float32, then cast)
    assert err(m.running_cov_xx, eqnn.linalg.equivariant_projection(torch.eye(rx.size, dtype=torch.float64), rx,
                                                                    rx)) <= 1e-6
    batches = [(data(8, rx.size), data(8, ry.size)) for _ in range(3)]
    reps = {"x": rx, "y": ry, "xx": (rx, rx), "yy": (ry, ry), "xy": (ry, rx)}
    RX, RY = rx.matrices(), ry.matrices()

    def project(S, which):  # the group average, (D_a, D_b) with rows acted on by a and columns by b
        a, b = {"xx": (RX, RX), "yy": (RY, RY), "xy": (RX, RY)}[which]
        return (a @ S @ b.transpose(1, 2)).mean(0)

    want = ema_reference(batches, 0.2, True, lambda N: N - 1, lambda t, w: eqnn.stats.mean(t, reps[w]), project)
    for (x, y), w in zip(batches, want):
        m(x, y)
        for name, value in zip(NAMES, w):
            assert err(getattr(m, name), value) <= 1e-12, name


def test_ema_gradients_reach_only_the_current_batch():
    r = eqnn.rep(eqnn.group("C4"), "regular")
    m = EEMAStats(r, momentum=0.5).double()
    x1 = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    m(x1, x1)
    m(x2, x2)
    m.cov_xx.sum().backward()
    assert x1.grad is None and x2.grad is not None and x2.grad.abs().max() > 0


def test_ema_folds_time_and_follows_to():
    m = EMAStats(3, momentum=1.0, center_with_running_mean=False)
    x = torch.randn(4, 3, 5)
    m(x, x)
    xf = x.permute(0, 2, 1).reshape(-1, 3)
    assert err(m.cov_xx, torch.cov(xf.T)) <= 1e-5
    assert m.double().running_cov_xy.dtype == torch.float64
    assert "momentum=1.0" in repr(m) and "unbiased=True" in repr(m)


def test_ema_bad_inputs_have_clear_messages():
    r = eqnn.rep(eqnn.group("C4"), "regular")
    with pytest.raises(ValueError, match=r"momentum must be in \(0, 1\], got 0"):
        EMAStats(3, momentum=0)
    with pytest.raises(ValueError, match=r"dim_x must be a positive int, got 0"):
        EMAStats(0)
    with pytest.raises(TypeError, match=r"x_rep must be an eqnn.Representation"):
        EEMAStats(4)
    with pytest.raises(ValueError, match=r"different groups"):
        EEMAStats(r, eqnn.rep(eqnn.group("D4"), "regular"))
    m = EMAStats(3, 2)
    with pytest.raises(ValueError, match=r"expected y of shape \(N, 2\) or \(N, 2, T\), got \(4, 3\)"):
        m(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"x \(4, 3\) and y \(5, 2\) do not pair their samples"):
        m(torch.randn(4, 3), torch.randn(5, 2))
    with pytest.raises(ValueError, match=r"needs at least 2 samples per batch, got 1"):
        m(torch.randn(1, 3), torch.randn(1, 2))
