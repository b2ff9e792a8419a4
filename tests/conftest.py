from __future__ import annotations

import pytest
import torch

from tests.tiny import FAMILIES, save_tiny
from trexplain.models import load_model

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """Folder of a random tiny classifier per family."""
    root = tmp_path_factory.mktemp("tiny")
    return {family: save_tiny(family, root / family) for family in FAMILIES}


@pytest.fixture(scope="session")
def tiny(tiny_dirs):
    """Loaded adapters of the tiny models, by family."""
    return {family: load_model(path) for family, path in tiny_dirs.items()}


@pytest.fixture(scope="session")
def demo():
    return load_model("demo")


@pytest.fixture(scope="module")
def browser():
    """A headless Chromium per test module (`tests.chromium`); the test skips, saying why, without it."""
    from tests.chromium import launch

    with launch() as started:
        yield started
