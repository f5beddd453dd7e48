"""Linear algebra under a symmetry constraint (the C++ core's ``eqnn::linalg``).

``lstsq`` is the exact equivariance-constrained least-squares map: the W in Hom_G(rep_x, rep_y) that minimises
‖x Wᵀ − y‖², one small unconstrained solve per irrep type in the isotypic basis. symm_learning's ``lstsq`` solves
without the constraint and projects afterwards, which is optimal only on G-closed data (docs: statistics).
"""

from typing import Optional

import torch

from . import _C
from ._C import Representation

__all__ = ["equivariant_projection", "invariant_projector", "lstsq"]


def _check_rep(who: str, name: str, rep) -> None:
    if not isinstance(rep, Representation):
        raise TypeError(f"{who}: {name} must be an eqnn.Representation (eqnn.rep(G, \"regular\")), got "
                        f"{type(rep).__name__}")


def _check_tensor(who: str, name: str, t) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{who}: {name} must be a torch.Tensor, got {type(t).__name__}")


def invariant_projector(rep: Representation, dtype: Optional[torch.dtype] = None,
                        device: Optional[torch.device] = None) -> torch.Tensor:
    """The orthogonal projector onto the invariant vectors of ``rep``, Q_triv Q_trivᵀ, shape (D, D), in ``dtype``
    (default: torch's default dtype) on ``device``.

    Example:
        >>> import eqnn
        >>> P = eqnn.linalg.invariant_projector(eqnn.rep(eqnn.group("C4"), "regular"))
        >>> P.shape, round(float(P[0, 0]), 6)
        (torch.Size([4, 4]), 0.25)
    """
    _check_rep("eqnn.linalg.invariant_projector", "rep", rep)
    return _C.linalg_invariant_projector(rep).to(dtype=dtype or torch.get_default_dtype(), device=device)


def equivariant_projection(W: torch.Tensor, rep_x: Representation, rep_y: Representation) -> torch.Tensor:
    """The Frobenius-orthogonal projection of W (..., D_y, D_x) onto Hom_G(rep_x, rep_y), the group average
    (1/|G|) Σ_g ρ_y(g) W ρ_x(g)ᵀ, batched over the leading dimensions and differentiable.

    Example:
        >>> import torch, eqnn
        >>> r = eqnn.rep(eqnn.group("C4"), "regular")
        >>> P = eqnn.linalg.equivariant_projection(torch.eye(4, dtype=torch.float64), r, r)
        >>> bool(torch.allclose(P, torch.eye(4, dtype=torch.float64)))
        True
    """
    who = "eqnn.linalg.equivariant_projection"
    _check_tensor(who, "W", W)
    _check_rep(who, "rep_x", rep_x)
    _check_rep(who, "rep_y", rep_y)
    return _C.linalg_equivariant_projection(W, rep_x, rep_y)


def lstsq(x: torch.Tensor, y: torch.Tensor, rep_x: Representation, rep_y: Representation) -> torch.Tensor:
    """The exact equivariance-constrained least-squares map: W (D_y, D_x) in Hom_G(rep_x, rep_y) minimising
    ‖x Wᵀ − y‖²_F for samples x (N, D_x) and y (N, D_y); the minimum-norm one when it is not unique. Computed in
    the promoted dtype of x and y (LAPACK's gelsd on CPU, the pseudo-inverse on other devices).

    It equals the unconstrained least squares on the G-augmented data (every x ρ_x(g)ᵀ, y ρ_y(g)ᵀ), and has a
    lower loss than solving without the constraint and projecting (symm_learning's lstsq) unless the data are
    G-closed.

    Example:
        >>> import torch, eqnn
        >>> psi = eqnn.rep(eqnn.group("C4"), "irrep(2)")
        >>> x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
        >>> y = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
        >>> W = eqnn.linalg.lstsq(x, y, psi, psi)   # solve-then-project would give 0.5 I
        >>> W.diagonal(), float(W[0, 1].abs()) < 1e-15
        (tensor([0.2000, 0.2000], dtype=torch.float64), True)
    """
    who = "eqnn.linalg.lstsq"
    _check_tensor(who, "x", x)
    _check_tensor(who, "y", y)
    _check_rep(who, "rep_x", rep_x)
    _check_rep(who, "rep_y", rep_y)
    return _C.linalg_lstsq(x, y, rep_x, rep_y)
