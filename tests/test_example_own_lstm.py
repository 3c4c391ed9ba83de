"""The own-model example (a plain-torch two-layer LSTM on IMDB) runs at a tiny size and is analysed whole."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own_lstm_imdb.py"


def _example():
    spec = importlib.util.spec_from_file_location("example_own_lstm_imdb", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_own_two_layer_lstm_on_imdb_is_analysed_and_reported(tmp_path, real_corpus_dir):
    real_corpus_dir("imdb")
    torch.set_num_threads(1)
    hidden = 16
    result = _example().main(
        [
            "--out",
            str(tmp_path),
            "--n-train",
            "600",
            "--epochs",
            "1",
            "--embed",
            "16",
            "--hidden",
            str(hidden),
            "--vocab",
            "3000",
            "--max-length",
            "80",
            "--n-test",
            "300",
            "--n-valid",
            "100",
            "--n-docs",
            "40",
            "--n-seeds",
            "30",
            "--no-modifiers",
            "--no-bow",
            "--save",
            str(tmp_path / "model"),
        ]
    )
    assert result.value("data.state_size") == 4 * hidden  # two layers, each h and c
    accuracy = result.provenance["record"]["test_accuracy"]
    assert isinstance(accuracy, float) and math.isfinite(accuracy) and 0.0 <= accuracy <= 1.0
    report = tmp_path / "report" / "report.html"
    assert report.is_file() and "Checks against the paper" in report.read_text()
    assert result.checks and all("claim" in c for c in result.checks)
    # the kept model analysed again without training: the same network, so the same accuracy and states
    again = _example().main(
        [
            "--out",
            str(tmp_path / "again"),
            "--load",
            str(tmp_path / "model"),
            "--n-docs",
            "40",
            "--n-seeds",
            "30",
            "--no-modifiers",
            "--no-bow",
        ]
    )
    assert again.provenance["record"]["test_accuracy"] == accuracy
    assert again.value("data.rnn_accuracy") == result.value("data.rnn_accuracy")
    assert np.array_equal(again.value("pca.trained_cumulative"), result.value("pca.trained_cumulative"))
