"""Helpers of the reference tests: escnn's groups and reps by name, escnn's matrices, relative errors."""

import contextlib

import escnn.group as eg  # noqa: E402
import numpy as np
import torch

GROUPS = {
    "C2": lambda: eg.cyclic_group(2),
    "C5": lambda: eg.cyclic_group(5),
    "D4": lambda: eg.dihedral_group(4),
    "Ico": lambda: eg.ico_group(),
}
REPS = ["regular", "2x regular", "mixed"]


@contextlib.contextmanager
def default_dtype(dtype):
    """symm_learning computes its bases in the default dtype (and caches them across modules): build a module
    under float64, then cast, so that its dense tensors are equivariant to rounding."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def escnn_rep(G, kind: str):
    """escnn's representation of the given kind (distinct names: symm_learning caches by name)."""
    reg = G.regular_representation
    if kind == "regular":
        return reg
    if kind == "2x regular":
        return eg.directsum([reg, reg], name=f"{G.name}-reg2")
    if kind == "mixed":
        irrep = G.irreps()[-1]
        return eg.directsum([reg, G.trivial_representation, irrep], name=f"{G.name}-reg+triv+{irrep.name}")
    raise ValueError(kind)


def fresh(rep, tag: str):
    """A new escnn object for ``rep`` (same irreps and change of basis). symm_learning caches Q⁻¹ on the rep
    object in the dtype of its first use and converts that copy later: a float32 use then costs a float64 one
    its precision (1e-8), so float64 comparisons take a rep object of their own."""
    return eg.directsum([rep], name=f"{rep.name}-{tag}")


def matrices(rep, dtype=torch.float64) -> torch.Tensor:
    """escnn's ρ(g) for every element, in escnn's order: (|G|, size, size)."""
    return torch.stack([torch.as_tensor(np.asarray(rep(g)), dtype=dtype) for g in rep.group.elements])


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|."""
    return float((a - b).abs().max()) / max(float(b.abs().max()), 1e-30)




TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def rotated(rep, seed: int = 0):
    """``rep`` behind a random orthogonal change of basis B (ρ'(g) = B ρ(g) Bᵀ): not a permutation rep."""
    B = np.linalg.qr(np.random.default_rng(seed).standard_normal((rep.size, rep.size)))[0]
    return eg.change_basis(rep, B, name=f"{rep.name}-rotated{seed}")


def randomise(module: torch.nn.Module) -> torch.nn.Module:
    """Random values in every free parameter (symm_learning starts its scales at 1 and its biases at 0)."""
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    for sub in module.modules():
        if hasattr(sub, "invalidate_cache"):
            sub.invalidate_cache()
    return module


def check_equivariant(f, in_rep, out_rep, x, dtype, dim: int = -1):
    """f(ρ_in(g) x) = ρ_out(g) f(x) for every element (escnn's ρ acting on dimension ``dim``)."""

    def act(A, t):
        return (t.movedim(dim, -1) @ A.T).movedim(-1, dim)

    y = f(x)
    for A, B in zip(matrices(in_rep, dtype), matrices(out_rep, dtype)):
        assert rel(f(act(A, x)), act(B, y)) <= TOL[dtype] * 10
