"""Symmetry-constrained statistics (the C++ core's ``eqnn::stats``) and running estimates of them.

For a G-distributed random vector (a point and its images under the group are equally likely) the mean is
invariant, the variance is constant on each irreducible copy, and the cross-covariance is G-equivariant. The
functions return the empirical statistic projected onto that set:

- ``mean(x, rep_x)`` = P_inv x̄, with P_inv = Q_triv Q_trivᵀ;
- ``var(x, rep_x, center=None, unbiased=True)`` = (Q∘Q) v, v_j the mean of Σ_n ẑ_nj² / n over j's irreducible
  copy, ẑ = Qᵀ(x − center);
- ``cov(x, y, rep_x, rep_y, uncentered=False, unbiased=True)`` = Π_Hom(Σ_n y*_n x*_nᵀ / n), shape (D_y, D_x).

x is (N, D), or (N, D, T) with the time axis folded into the samples (x.permute(0, 2, 1).reshape(-1, D)); n is
N − 1 when ``unbiased`` (and centred), else N. ``EMAStats`` and ``EEMAStats`` keep exponential moving averages of
the means and covariances of paired batches (x, y), as symm_learning's modules of the same names.
"""

from typing import Optional

import torch

from . import _C
from ._C import Representation
from .linalg import _check_rep, _check_tensor, equivariant_projection

__all__ = ["EEMAStats", "EMAStats", "cov", "mean", "var", "var_mean"]


def mean(x: torch.Tensor, rep_x: Representation) -> torch.Tensor:
    """The G-invariant sample mean (D,) of x (N, D) or (N, D, T): the sample mean projected onto the invariant
    vectors of ``rep_x``.

    Example:
        >>> import torch, eqnn
        >>> r = eqnn.rep(eqnn.group("C2"), "regular")
        >>> eqnn.stats.mean(torch.tensor([[1.0, 3.0], [3.0, 5.0]], dtype=torch.float64), r).round(decimals=9)
        tensor([3., 3.], dtype=torch.float64)
    """
    _check_tensor("eqnn.stats.mean", "x", x)
    _check_rep("eqnn.stats.mean", "rep_x", rep_x)
    return _C.stats_mean(x, rep_x)


def var(x: torch.Tensor, rep_x: Representation, center: Optional[torch.Tensor] = None,
        unbiased: bool = True) -> torch.Tensor:
    """The variance (D,) of x (N, D) or (N, D, T), constant on every irreducible copy of ``rep_x`` (in its
    change of basis Q): the squared deviations from ``center`` (default: ``mean(x, rep_x)``) in the basis Q,
    summed over the samples and divided by N − 1 (``unbiased``, the default) or N, averaged within each copy and
    mapped back with Q∘Q.

    Example:
        >>> import torch, eqnn
        >>> r = eqnn.rep(eqnn.group("C2"), "regular")
        >>> eqnn.stats.var(torch.tensor([[1.0, 3.0], [3.0, 5.0]], dtype=torch.float64), r).round(decimals=9)
        tensor([4., 4.], dtype=torch.float64)
    """
    _check_tensor("eqnn.stats.var", "x", x)
    _check_rep("eqnn.stats.var", "rep_x", rep_x)
    if center is not None:
        _check_tensor("eqnn.stats.var", "center", center)
    return _C.stats_var(x, rep_x, center, bool(unbiased))


def var_mean(x: torch.Tensor, rep_x: Representation, unbiased: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """``(var(x, rep_x, mean(x, rep_x), unbiased), mean(x, rep_x))``, as torch.var_mean.

    Example:
        >>> import torch, eqnn
        >>> r = eqnn.rep(eqnn.group("C2"), "regular")
        >>> v, m = eqnn.stats.var_mean(torch.tensor([[1.0, 3.0], [3.0, 5.0]], dtype=torch.float64), r)
        >>> v.round(decimals=9).tolist(), m.round(decimals=9).tolist()
        ([4.0, 4.0], [3.0, 3.0])
    """
    _check_tensor("eqnn.stats.var_mean", "x", x)
    _check_rep("eqnn.stats.var_mean", "rep_x", rep_x)
    return tuple(_C.stats_var_mean(x, rep_x, bool(unbiased)))


def cov(x: torch.Tensor, y: torch.Tensor, rep_x: Representation, rep_y: Representation, uncentered: bool = False,
        unbiased: bool = True) -> torch.Tensor:
    """The G-equivariant cross-covariance (D_y, D_x) of paired samples x (N, D_x) and y (N, D_y) (or (N, D, T)
    each): Σ_n y*_n x*_nᵀ / n projected onto Hom_G(rep_x, rep_y). Centred on the invariant means with n = N − 1
    (``unbiased``) or N; ``uncentered=True`` gives the second moment, always divided by N.

    Example:
        >>> import torch, eqnn
        >>> r = eqnn.rep(eqnn.group("C2"), "regular")
        >>> x = torch.tensor([[1.0, 3.0], [3.0, 5.0]], dtype=torch.float64)
        >>> C = eqnn.stats.cov(x, x, r, r)   # deviations (-2, 0) and (0, 2) from the invariant mean (3, 3)
        >>> bool(torch.allclose(C, 4 * torch.eye(2, dtype=torch.float64)))
        True
    """
    who = "eqnn.stats.cov"
    _check_tensor(who, "x", x)
    _check_tensor(who, "y", y)
    _check_rep(who, "rep_x", rep_x)
    _check_rep(who, "rep_y", rep_y)
    return _C.stats_cov(x, y, rep_x, rep_y, bool(uncentered), bool(unbiased))


def _fold(who: str, name: str, t, size: int) -> torch.Tensor:
    """(N, D) as is, (N, D, T) folded into samples; anything else refused with the shapes."""
    _check_tensor(who, name, t)
    if t.dim() not in (2, 3) or t.shape[1] != size:
        raise ValueError(f"{who}: expected {name} of shape (N, {size}) or (N, {size}, T), got {tuple(t.shape)}")
    return t if t.dim() == 2 else t.permute(0, 2, 1).reshape(-1, size)


class EMAStats(torch.nn.Module):
    """Exponential moving averages of the means and covariances of paired batches (x, y), as symm_learning's
    ``EMAStats``: buffers ``running_mean_x`` (dim_x), ``running_mean_y`` (dim_y), ``running_cov_xx``,
    ``running_cov_yy`` (identity at the start) and ``running_cov_xy`` (dim_x, dim_y) = E[x yᵀ] (the transpose
    of ``eqnn.stats.cov(x, y, ...)``), and ``num_batches_tracked``.

    In training mode each ``forward(x, y)`` computes the batch means and covariances, centred on the running
    means (detached) when ``center_with_running_mean`` and a batch was seen before, else on the batch means,
    divided by N − 1 (``unbiased``) or N. The first batch is copied in; after that S ← (1 − momentum) S +
    momentum S_batch, with the old S detached and the buffer reassigned, so gradients reach the current batch
    only. ``forward`` returns (x, y) unchanged; in eval mode it changes nothing. x and y are (N, D) or
    (N, D, T) (time folded into samples). ``eps`` is kept for symm_learning's signature and unused, as there.

    Example:
        >>> import torch, eqnn
        >>> s = eqnn.stats.EMAStats(3, 2, momentum=0.5)
        >>> _ = s(torch.randn(8, 3), torch.randn(8, 2))
        >>> s.cov_xy.shape, int(s.num_batches_tracked)
        (torch.Size([3, 2]), 1)
    """

    def __init__(self, dim_x: int, dim_y: Optional[int] = None, momentum: float = 0.1, eps: float = 1e-6,
                 center_with_running_mean: bool = True, *, unbiased: bool = True):
        super().__init__()
        for name, value in (("dim_x", dim_x), ("dim_y", dim_y)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        if not 0 < momentum <= 1:
            raise ValueError(f"{type(self).__name__}: momentum must be in (0, 1], got {momentum}")
        self.num_features_x = dim_x
        self.num_features_y = dim_y if dim_y is not None else dim_x
        self.momentum = float(momentum)
        self.eps = eps
        self.center_with_running_mean = bool(center_with_running_mean)
        self.unbiased = bool(unbiased)
        dx, dy = self.num_features_x, self.num_features_y
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        self.register_buffer("running_mean_x", torch.zeros(dx))
        self.register_buffer("running_mean_y", torch.zeros(dy))
        self.register_buffer("running_cov_xx", self._initial(torch.eye(dx), "xx"))
        self.register_buffer("running_cov_yy", self._initial(torch.eye(dy), "yy"))
        self.register_buffer("running_cov_xy", torch.zeros(dx, dy))

    # Overridden by EEMAStats: the invariant mean and the projection of each covariance.
    def _initial(self, S: torch.Tensor, which: str) -> torch.Tensor:
        return S

    def _mean(self, t: torch.Tensor, which: str) -> torch.Tensor:
        return t.mean(dim=0)

    def _project(self, S: torch.Tensor, which: str) -> torch.Tensor:
        return S

    def _batch_stats(self, x: torch.Tensor, y: torch.Tensor):
        mean_x, mean_y = self._mean(x, "x"), self._mean(y, "y")
        if self.center_with_running_mean and int(self.num_batches_tracked) > 0:
            center_x, center_y = self.running_mean_x.detach(), self.running_mean_y.detach()
        else:
            center_x, center_y = mean_x, mean_y
        xc, yc = x - center_x, y - center_y
        n = x.shape[0] - 1 if self.unbiased else x.shape[0]
        if n < 1:
            raise ValueError(f"{type(self).__name__}: unbiased=True divides by N - 1 and needs at least 2 samples "
                             f"per batch, got {x.shape[0]}; pass unbiased=False to divide by N")
        return (mean_x, mean_y, self._project(xc.T @ xc / n, "xx"), self._project(yc.T @ yc / n, "yy"),
                self._project(xc.T @ yc / n, "xy"))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Updates the running statistics with the batch (x, y) in training mode; returns (x, y) unchanged."""
        who = f"{type(self).__name__}.forward"
        xf = _fold(who, "x", x, self.num_features_x)
        yf = _fold(who, "y", y, self.num_features_y)
        if x.dim() != y.dim() or x.shape[0] != y.shape[0] or (x.dim() == 3 and x.shape[2] != y.shape[2]):
            raise ValueError(f"{who}: x {tuple(x.shape)} and y {tuple(y.shape)} do not pair their samples: "
                             "expected (N, D_x) and (N, D_y), or (N, D_x, T) and (N, D_y, T)")
        if self.training:
            batch = self._batch_stats(xf, yf)
            names = ("running_mean_x", "running_mean_y", "running_cov_xx", "running_cov_yy", "running_cov_xy")
            if int(self.num_batches_tracked) == 0:
                for name, value in zip(names, batch):
                    getattr(self, name).copy_(value)
            else:
                a = self.momentum
                for name, value in zip(names, batch):
                    setattr(self, name, getattr(self, name).detach() * (1 - a) + value * a)
            self.num_batches_tracked += 1
        return x, y

    @property
    def mean_x(self) -> torch.Tensor:
        """The running mean of x (dim_x,)."""
        return self.running_mean_x

    @property
    def mean_y(self) -> torch.Tensor:
        """The running mean of y (dim_y,)."""
        return self.running_mean_y

    @property
    def cov_xx(self) -> torch.Tensor:
        """The running covariance of x (dim_x, dim_x)."""
        return self.running_cov_xx

    @property
    def cov_yy(self) -> torch.Tensor:
        """The running covariance of y (dim_y, dim_y)."""
        return self.running_cov_yy

    @property
    def cov_xy(self) -> torch.Tensor:
        """The running cross-covariance E[x yᵀ] (dim_x, dim_y)."""
        return self.running_cov_xy

    def extra_repr(self) -> str:
        """The sizes and settings shown in the module's repr."""
        return (f"num_features_x={self.num_features_x}, num_features_y={self.num_features_y}, "
                f"momentum={self.momentum}, eps={self.eps}, center_with_running_mean={self.center_with_running_mean}, "
                f"unbiased={self.unbiased}")


class EEMAStats(EMAStats):
    """``EMAStats`` under a symmetry: the batch means are invariant (``eqnn.stats.mean``) and every covariance is
    projected onto its Hom space (Hom_G(x_rep, x_rep), Hom_G(y_rep, y_rep), and Hom_G(y_rep, x_rep) for the
    (D_x, D_y) cross-covariance), so the running estimates stay those of a G-invariant distribution. The
    covariance buffers are the dense projected matrices (symm_learning's eEMAStats stores Hom-basis coefficients
    instead; its ``cov_*`` properties equal these). ``y_rep`` defaults to ``x_rep``.

    Example:
        >>> import torch, eqnn
        >>> r = eqnn.rep(eqnn.group("C4"), "regular")
        >>> s = eqnn.stats.EEMAStats(r).double()
        >>> _ = s(torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 4, dtype=torch.float64))
        >>> bool(torch.allclose(s.cov_xy, eqnn.linalg.equivariant_projection(s.cov_xy, r, r)))
        True
    """

    def __init__(self, x_rep: Representation, y_rep: Optional[Representation] = None, momentum: float = 0.1,
                 eps: float = 1e-6, center_with_running_mean: bool = True, *, unbiased: bool = True):
        _check_rep("EEMAStats", "x_rep", x_rep)
        if y_rep is not None:
            _check_rep("EEMAStats", "y_rep", y_rep)
        y_rep = x_rep if y_rep is None else y_rep
        if x_rep.group != y_rep.group:
            raise ValueError(f"EEMAStats: x_rep and y_rep belong to different groups ({x_rep.group} and "
                             f"{y_rep.group}); both must be representations of one group")
        self.x_rep, self.y_rep = x_rep, y_rep
        super().__init__(x_rep.size, y_rep.size, momentum, eps, center_with_running_mean, unbiased=unbiased)

    def _initial(self, S: torch.Tensor, which: str) -> torch.Tensor:
        return self._project(S, which)

    def _mean(self, t: torch.Tensor, which: str) -> torch.Tensor:
        return mean(t, self.x_rep if which == "x" else self.y_rep)

    def _project(self, S: torch.Tensor, which: str) -> torch.Tensor:
        # S is (rows, cols) = (D_a, D_b): it maps b's space to a's, so the Hom space is Hom_G(rep_b, rep_a).
        rep_a, rep_b = {"xx": (self.x_rep, self.x_rep), "yy": (self.y_rep, self.y_rep),
                        "xy": (self.x_rep, self.y_rep)}[which]
        return equivariant_projection(S, rep_b, rep_a)

    def extra_repr(self) -> str:
        """The sizes and settings shown in the module's repr."""
        return f"x_rep={self.x_rep}, y_rep={self.y_rep}, " + super().extra_repr()
