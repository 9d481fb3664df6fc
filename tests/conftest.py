"""Shared fixtures: seeded generators, devices, and a headless matplotlib."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
import torch

#: Notebooks under tests/data are inputs of the grading and browser tests (some are
#: hostile on purpose); they must never be collected and run by nbval.
collect_ignore_glob = ["data/*"]

#: Every torch test that takes ``device`` runs on the CPU, and on CUDA too when a GPU is there.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture
def rng():
    """A fresh, seeded NumPy generator per test (the library never seeds globally)."""
    return np.random.default_rng(20240611)


@pytest.fixture
def generator():
    """A fresh, seeded torch generator per test, on the CPU."""
    return torch.Generator().manual_seed(20240611)


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(scope="session")
def pw():
    """The one playwright driver of the session: a sync driver holds the thread's event loop while
    it lives, so a second ``sync_playwright()`` in the same session (another test module) fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p
