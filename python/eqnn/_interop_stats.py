"""Converters of symm_learning's running statistics (eqnn.interop.from_symm_learning): ``EMAStats`` becomes
``eqnn.stats.EMAStats(unbiased=True)`` (symm_learning divides by N − 1 there) and ``eEMAStats`` becomes
``eqnn.stats.EEMAStats(unbiased=False)`` (it divides by N), with the same momentum, eps,
center_with_running_mean, batch count and running statistics; eEMAStats' Hom-basis coefficients become the dense
covariances its ``cov_*`` properties expand them to."""

import torch

from . import interop
from .stats import EEMAStats, EMAStats

_BUFFERS = ("num_batches_tracked", "running_mean_x", "running_mean_y")


def _copy_state(theirs, ours):
    like = interop._like(theirs)
    ours = ours.to(**like)
    with torch.no_grad():
        for name in _BUFFERS:
            getattr(ours, name).copy_(getattr(theirs, name).detach())
        for which in ("xx", "yy", "xy"):
            getattr(ours, f"running_cov_{which}").copy_(getattr(theirs, f"cov_{which}").detach())
    return ours


def _ema_stats(module, path):
    ours = EMAStats(module.num_features_x, module.num_features_y, momentum=module.momentum, eps=module.eps,
                    center_with_running_mean=module.center_with_running_mean, unbiased=True)
    return _copy_state(module, ours)


def _e_ema_stats(module, path):
    x_rep = interop.rep_from_escnn(module.x_rep)
    y_rep = interop.rep_from_escnn(module.y_rep, x_rep.group)
    ours = EEMAStats(x_rep, y_rep, momentum=module.momentum, eps=module.eps,
                     center_with_running_mean=module.center_with_running_mean, unbiased=False)
    return _copy_state(module, ours)


def register() -> None:
    import symm_learning.nn.running_stats as slr

    interop.converter(slr.EMAStats)(_ema_stats)
    interop.converter(slr.eEMAStats)(_e_ema_stats)
