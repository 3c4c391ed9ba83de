"""Shared test helpers."""

import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per pytest worker (./run.sh test runs two): two workers of two threads each on two cores
    # ran the suite 12% slower than two of one (tests that ask for threads still set them)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def real_corpus_dir():
    """``get(name)``: the folder ``$RNNLENS_DATA_DIR/<name>`` of a real corpus. The test is skipped when
    the variable is unset and fails (loudly, not skipped) when it is set but the corpus is missing."""

    def get(name: str) -> Path:
        root = os.environ.get("RNNLENS_DATA_DIR")
        if not root:
            pytest.skip("RNNLENS_DATA_DIR is not set")
        folder = Path(root) / name
        if not folder.is_dir():
            pytest.fail(f"RNNLENS_DATA_DIR={root} is set but holds no {name}/ folder")
        return folder

    return get
