"""Shared fixtures: tiny randomly initialised models of every supported family, built in the test."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch

# one thread: tiny-model tests run ~20x faster on a shared 2-core machine, and every subprocess inherits the same
# setting, so logits compared across processes come from the same kernels
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

from hub_server import LocalHub, hub_server, local_hub  # noqa: E402,F401  (re-exports the fixture)
from tiny_models import TINY_FAMILIES, tiny_model  # noqa: E402


@pytest.fixture(params=sorted(TINY_FAMILIES))
def family(request) -> str:
    return request.param


@pytest.fixture
def calibration_ids() -> torch.Tensor:
    return torch.randint(0, 96, (4, 16), generator=torch.Generator().manual_seed(1))


@pytest.fixture
def make_tiny_model():
    return tiny_model
