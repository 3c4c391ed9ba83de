"""The examples run (at small sizes) and find what they say they find."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _example(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_flipflop_has_8_stable_fixed_points_and_19_saddles(tmp_path):
    # the 3^3 structure of a 3-bit flip-flop: 2^3 memories, 12 + 6 + 1 saddles of index 1, 2, 3, found by the
    # analysis of a GRU written and trained in plain torch, fed continuous inputs (no words)
    torch.set_num_threads(1)
    result = _example("flipflop").main(["--out", str(tmp_path), "--steps", "500"])
    assert result.value("modes.distinct_by_unstable") == [8, 12, 6, 1]
    assert result.value("modes.n_distinct_stable") == 8 and result.value("modes.n_distinct_saddles") == 19
    assert {s["section"] for s in result.skipped} == {"valence", "modifiers", "kclass"}
    assert result.value("data.unk_fraction") is None and result.value("data.rnn_accuracy") is None
    text = (tmp_path / "report" / "report.html").read_text()
    assert "stable distinct fixed points" in text and "<td class='num'>19</td>" in text
    assert "valence: the data are input sequences, not text: there are no words" in text
    assert "<b>FAIL</b>" in text          # a flip-flop is no line attractor, and the report says so


def test_sequences_of_the_wrong_width_are_refused():
    from rnnlens import Network, Sequences
    from rnnlens.analysis import analyze
    from rnnlens.errors import DataError

    net = Network.from_parts(rnn=torch.nn.GRU(3, 4, batch_first=True), readout=torch.nn.Linear(4, 1))
    data = Sequences.from_arrays(np.zeros((5, 7, 2)))
    with pytest.raises(DataError, match=r"have inputs of 2 numbers but the network reads 3"):
        analyze(net, data)
