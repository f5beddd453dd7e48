"""Shared fixtures of the Python tests: the repository root and reproducible seeds."""

import pathlib

import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[2]

# reference/ needs symm_learning and escnn: scripts/test-reference.sh runs it in the reference venv.
collect_ignore = ["reference"]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def models_dir():
    return ROOT / "examples" / "models"
