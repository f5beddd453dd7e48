"""Fixtures of the reference tests (eqnn.interop against escnn 1.0.11 and symm_learning 0.8.1 themselves).

They run only in the reference venv (scripts/test-reference.sh); tests/python/conftest.py keeps the normal
pytest run from collecting them. Groups: escnn's C2, C5, D4 and Ico; reps: regular, 2x regular, and a mixed
one (regular + trivial + the group's last irrep)."""

import pytest
import torch
from reference_support import GROUPS


@pytest.fixture(params=list(GROUPS))
def G(request):
    return GROUPS[request.param]()


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
