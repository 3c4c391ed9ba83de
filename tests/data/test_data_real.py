"""The real corpora under $RNNLENS_DATA_DIR: skipped when it is unset, failing when files are missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rnnlens.data import load_corpus

# Read at collection, before the autouse fixture in conftest.py hides the variable from each test.
REAL_DATA_DIR = os.environ.get("RNNLENS_DATA_DIR")

pytestmark = [pytest.mark.realdata, pytest.mark.skipif(REAL_DATA_DIR is None, reason="RNNLENS_DATA_DIR is not set")]


def _load(name, **options):
    # data_dir is passed explicitly and the cache (isolated_env) is empty, so a missing file fails here
    c = load_corpus(name, data_dir=REAL_DATA_DIR, **options)
    assert Path(c.source).resolve().is_relative_to(Path(REAL_DATA_DIR).resolve())
    return c


def test_sst2_sizes():
    c = _load("sst2")
    assert [len(c.splits[s]) for s in ("train", "validation", "test")] == [67349, 872, 1821]
    assert c.info["class_counts"]["validation"] == [428, 444]


def test_sst5_sizes():
    c = _load("sst5")
    assert [len(c.splits[s]) for s in ("train", "validation", "test")] == [8544, 1101, 2210]
    assert c.info["class_counts"]["test"] == [279, 633, 389, 510, 399]


def test_imdb_sizes():
    c = _load("imdb", download=False)
    assert len(c.splits["train"]) + len(c.splits["validation"]) == 25000 and len(c.splits["test"]) == 25000
    assert c.info["class_counts"]["validation"] == [1250, 1250]
    assert c.info["class_counts"]["test"] == [12500, 12500]
