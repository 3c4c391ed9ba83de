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


@pytest.mark.slow
def test_flipflop_has_8_stable_fixed_points_and_19_saddles(tmp_path):
    # the 3^3 structure of a 3-bit flip-flop: 2^3 memories, 12 + 6 + 1 saddles of index 1, 2, 3, found by the
    # analysis of a GRU written and trained in plain torch, fed continuous inputs (no words)
    torch.set_num_threads(1)
    result = _example("flipflop").main(["--out", str(tmp_path), "--steps", "500"])
    assert result.value("modes.distinct_by_unstable") == [8, 12, 6, 1]
    assert result.value("modes.n_distinct_stable") == 8 and result.value("modes.n_distinct_saddles") == 19
    assert {s["section"] for s in result.skipped} == {"valence", "modifiers", "kclass"}
    assert result.value("data.unk_fraction") is None and result.value("data.rnn_accuracy") is None
    assert result.value("data.target_r2") > 0.9  # the trained GRU holds the three bits
    text = (tmp_path / "report" / "report.html").read_text()
    assert "stable distinct fixed points" in text and "<td class='num'>19</td>" in text
    assert "valence: the data are input sequences, not text: there are no words" in text
    assert "<b>FAIL</b>" in text  # a flip-flop is no line attractor, and the report says so


def test_sequences_of_the_wrong_width_are_refused():
    from rnnlens import Network, Sequences
    from rnnlens.analysis import analyze
    from rnnlens.errors import DataError

    net = Network.from_parts(rnn=torch.nn.GRU(3, 4, batch_first=True), readout=torch.nn.Linear(4, 1))
    data = Sequences.from_arrays(np.zeros((5, 7, 2)))
    with pytest.raises(DataError, match=r"have inputs of 2 numbers but the network reads 3"):
        analyze(net, data)


def _integrator():
    """h' = h + x (one number), read out as it is: after every input the readout is the running sum."""
    from rnnlens import Network
    from rnnlens.parts import CallableRecurrence

    readout = torch.nn.Linear(1, 1).double()
    with torch.no_grad():
        readout.weight.fill_(1.0)
        readout.bias.zero_()
    rnn = CallableRecurrence(lambda x, h: h + x, torch.zeros(1, dtype=torch.float64), input_size=1)
    return Network.from_parts(rnn=rnn, readout=readout)


@pytest.mark.parametrize("offset, mse, r2", [(0.0, 0.0, 1.0), (1.0, 1.0, None)])
def test_per_step_targets_measure_the_readout_after_every_input(offset, mse, r2):
    from rnnlens import Sequences
    from rnnlens.analysis import AnalysisSettings, analyze

    x = np.random.default_rng(0).normal(size=(6, 9, 1))
    data = Sequences.from_arrays(x, targets=np.cumsum(x, 1)[..., 0] + offset)
    net = _integrator()
    r = analyze(
        net,
        data,
        AnalysisSettings.make(
            n_docs=6,
            n_seeds=4,
            tol_sweep=[],
            n_linear_docs=2,
            manifold_points=4,
            n_transitions=20,
            n_speed=2,
            speed_steps=2,
        ),
    )
    # visited states are kept in float32: the running sums round at about 1e-7 relative
    assert r.value("data.target_mse") == pytest.approx(mse, abs=1e-6)
    target = np.cumsum(x, 1)[..., 0] + offset
    want_r2 = 1.0 - 54 * mse / ((target - target.mean()) ** 2).sum()
    assert r.value("data.target_r2") == pytest.approx(want_r2 if r2 is None else r2, abs=1e-6)
    assert "54 steps and 1 outputs" in r.node("data.target_mse")["definition"]


@pytest.mark.parametrize(
    "targets, message",
    [
        (np.zeros((4, 9, 1)), "4 target sequences for 6 input sequences"),
        (np.zeros((6, 8, 1)), "the targets of sequence 0 have shape (8, 1); they must be [T, O] with T = 9"),
        (np.full((6, 9, 1), np.nan), "no step has a target"),
        (np.full((6, 9, 1), np.inf), "the targets of sequence 0 hold inf"),
    ],
)
def test_per_step_targets_that_do_not_fit_the_inputs_are_refused(targets, message):
    from rnnlens import Sequences
    from rnnlens.errors import ArgumentError

    with pytest.raises(ArgumentError) as info:
        Sequences.from_arrays(np.zeros((6, 9, 1)), targets=targets)
    assert message in str(info.value)
