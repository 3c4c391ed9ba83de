"""Issue 4's truth test: a GRU trained on the synthetic language with known word valence shows the
line attractor. The thresholds are the issue's; they are not tuned to pass.

Notes for whoever reads a failure: with the synthetic corpus's five valence levels (-2, -1, 0, +1, +2;
50/50/100/50/50 words) the highest Spearman any ordering can reach is 0.972, so >= 0.95 asks for
nearly perfect ordering of the five groups. |lambda_1| is checked at the median fixed point.
"""

import numpy as np
import pytest
from scipy.stats import spearmanr

from rnnlens.analysis import AnalysisSettings, analyze


def test_spearman_ceiling_with_tied_valences():
    t = np.repeat([-2.0, -1.0, 0.0, 1.0, 2.0], [50, 50, 100, 50, 50])
    assert spearmanr(t, np.arange(t.size)).statistic == pytest.approx(0.9718, abs=1e-4)


@pytest.mark.slow
def test_trained_gru_on_synthetic_language_is_a_line_attractor(stored_network):
    ck, corpus = stored_network("line-gru")  # trained by its recipe in tests/conftest.py
    r = analyze(
        ck,
        corpus,
        AnalysisSettings.make(n_docs=300, n_seeds=200, n_transitions=2000, n_speed=20, speed_steps=20, modifiers=None),
    )
    m = r.summary["metrics"]
    assert m["data"]["rnn_accuracy"]["value"] > 0.9  # the network learned the task
    assert m["fixed_points"]["n_converged"]["value"] >= 100  # q < 1e-8 from most seeds
    # the three truths of issue 4
    assert m["valence"]["spearman_truth"]["value"] >= 0.95
    assert m["modes"]["median_abs_dev_lambda1"]["value"] <= 0.02  # median over fixed points
    assert m["manifold"]["top_pc_fraction"]["value"] >= 0.90
    # |lambda_1| ~ 1 must not come from saturated gates (z = 1 gives h' = h: every eigenvalue 1, no input
    # effect): the fixed points must still feel the words
    assert m["modes"]["input_gain_median"]["value"] > 0.5
    # and the summary's own checks say the same
    truth_checks = {c["name"]: c["passed"] for c in r.summary["checks"] if c["name"].startswith("truth")}
    assert truth_checks == {
        "truth_valence_spearman": True,
        "truth_lambda1_within_0.02": True,
        "truth_fixed_points_1d_90": True,
        "truth_valence_spearman_manifold": True,
    }
    # the traced slow manifold (issue 8): one-dimensional, spanning the readout range of the documents'
    # final states, with one slow mode along it and the words' true valence read off along it
    sm = m["slow_manifold"]
    assert sm["one_dimensionality"]["value"] >= 0.95
    assert sm["readout_span_fraction"]["value"] >= 0.8
    assert sm["chord_readout_cos"]["value"] >= 0.9
    # gently curved, not two arms: its halves' chords meet at about 45 degrees (|cos| 0.71 measured; the shipped
    # GRU and UGRNN 0.77-0.81), where the shipped LSTM's two arms are orthogonal (0.07)
    assert sm["halves_cos"]["value"] >= 0.5
    assert sm["spearman_truth"]["value"] >= 0.95
    assert sm["exact_fixed_point_unstable"]["value"] == [0, 1, 0]  # stable ends, a saddle between
    # (this network reads documents of at most 20 tokens: its line needs to be slow for ~20 steps only,
    # and is, tau_1 ~ 30 tokens in the middle; |lambda_1| ~ 1 holds at the stable ends, checked above)
    assert sm["tau_median"]["value"][0] > 20
    assert {c["name"]: c["passed"] for c in r.summary["checks"]}["slow_points_1d"] is True
    # its readout reads the line: the final readout is explained by the position along the curve, and
    # the direction the states move in as the readout changes runs along the curve
    assert sm["readout_explained_by_position"]["value"] >= 0.9
    assert sm["readout_alignment"]["value"] >= 0.8
