"""The science tutorials (docs/tutorials/paper.md, modifiers.md, kclass.md) run at a small size and find what
their pages say: each test imports the script the page shows and runs its ``main`` with small arguments."""

from __future__ import annotations

import html
import math

import numpy as np
import pytest
import torch

from rnnlens.analysis.checks import FIVE_CHECKS

# the generated language (rnnlens.data.synthetic) at a size a 16-unit GRU learns in two epochs: 3,000 short
# training documents (10-30 tokens), 30% of their tokens words of valence +-1 or +-2
SYNTHETIC = ["n_train=3000", "n_validation=300", "n_test=300", "min_length=10", "max_length=30"]
SMALL_GRU = ["--embed", "16", "--hidden", "16", "--lr", "0.02"]


def test_paper_trains_a_gru_that_beats_chance_and_checks_the_five_claims(tutorial, tmp_path, capsys):
    torch.set_num_threads(1)
    module = tutorial("paper")
    options = [arg for option in SYNTHETIC for arg in ("--option", option)]
    small = ["--epochs", "2", "--n-docs", "100", "--n-seeds", "50"]
    run = module.main(["--out", str(tmp_path), "--dataset", "synthetic", *options, *SMALL_GRU, *small])
    printed = capsys.readouterr().out

    # the corpus the options asked for, a network well above chance (0.5), scored the same twice
    assert "train=3000, validation=300, test=300" in printed
    assert 0.75 <= run.test_accuracy <= 1.0
    assert run.test_accuracy == pytest.approx(run.recorded_test_accuracy, abs=1e-12)
    assert run.bow_test_accuracy >= 0.95  # the language is a sum of word valences: the bag of words is exact
    # the five checks, in the paper's order, each with its number and a verdict that follows from it
    assert [c["name"] for c in run.checks] == list(FIVE_CHECKS)
    values = {c["name"]: c["value"] for c in run.checks}
    assert all(isinstance(v, float) and math.isfinite(v) for v in values.values()), values
    assert values["slow_points_1d"] >= 0.95 and values["readout_aligned"] >= 0.85
    assert values["positive_words_positive"] > 0.1 and values["negative_words_negative"] < -0.1
    assert 0.0 <= values["lambda1_near_one"] < 0.5
    verdicts = {  # the thresholds the paper's claims are checked against (rnnlens.analysis.checks)
        "lambda1_near_one": values["lambda1_near_one"] <= 0.02,
        "slow_points_1d": values["slow_points_1d"] >= 0.9,
        "readout_aligned": values["readout_aligned"] >= 0.8,
        "positive_words_positive": values["positive_words_positive"] > 0,
        "negative_words_negative": values["negative_words_negative"] < 0,
    }
    assert {c["name"]: c["passed"] for c in run.checks} == verdicts
    n_passed = sum(c["passed"] for c in run.checks)
    assert f"{n_passed} of 5 of the paper's checks pass" in printed
    # the paper's picture: two stable ends and a saddle between them, read by the linearized dynamics
    a = run.analysis
    assert a.value("slow_manifold.exact_fixed_point_unstable") == [0, 1, 0]
    assert a.value("slow_manifold.linear_accuracy") >= 0.6
    assert a.value("slow_manifold.spearman_truth") >= 0.7  # the line reads the language's true word valence
    for path in module.KEY_NUMBERS:
        assert a.node(path)["definition"] in printed, path
    # the report shows the same verdicts
    text = run.report.read_text()
    for c in run.checks:
        assert html.escape(c["detail"]) in text, c["name"]


# docs/modifiers.md, the shipped GRU-64 at full size (200 contexts, 20 words): the factor at k = 1
DOCUMENTED_FACTOR = {"not": 0.57, "never": 0.89, "very": 1.40}


def test_modifiers_damp_or_amplify_the_next_words_of_the_shipped_gru(tutorial, real_corpus_dir):
    real_corpus_dir("imdb")
    torch.set_num_threads(1)
    small = ["--n-contexts", "30", "--n-words", "10", "--max-gap", "4", "--n-boot", "100", "--n-eig-contexts", "0"]
    result = tutorial("modifiers").main(["--modifiers", "not,never,very", *small, "--max-length", "60"])

    assert result.value("modifiers") == ["not", "never", "very"] and not result.missing
    factor = {m: result.factor(m) for m in DOCUMENTED_FACTOR}
    low, high = result.value("factor_ci_low"), result.value("factor_ci_high")
    for m, documented in DOCUMENTED_FACTOR.items():
        assert factor[m].shape == (4,)
        assert abs(factor[m][0] - documented) <= 0.15, (m, factor[m])  # 30 contexts: about +-0.07 (95%)
        assert low[m][0] <= factor[m][0] <= high[m][0]
        # the effect fades with the gap, back towards 1 (no effect)
        assert np.all(np.diff(np.abs(factor[m] - 1)) < 0), (m, factor[m])
        assert result.value("reach")[m] >= 1
        assert result.value("excursion_line_angle_deg")[m] > 60  # the modifier pushes the state off the line
    assert low["very"][0] > 1.0 and factor["very"][0] >= 1.2  # the intensifier amplifies
    assert 0.0 < factor["not"][0] < high["not"][0] < 1.0  # the negation damps the next word: no flip
    assert 0.0 < factor["never"][0] < 1.0
    # the linearization around the line predicts the measured factors
    assert result.value("prediction_correlation") > 0.9
    assert result.value("prediction_readout_correlation") > 0.95


def test_kclass_three_classes_integrate_on_a_plane_as_the_word_counts_predict(tutorial, tmp_path):
    torch.set_num_threads(1)
    small = ["--epochs", "3", "--weight-decay", "0", "--n-docs", "300", "--n-seeds", "50"]
    run = tutorial("kclass").main(
        ["--out", str(tmp_path), "--dataset", "synthetic", "--classes", "3", *SMALL_GRU, *small]
    )

    assert run.test_accuracy >= 0.8  # chance: 1/3
    assert run.bow_test_accuracy >= 0.95
    # before any training, the word counts say: 2 dimensions, the third axis empty
    assert run.prediction.dimension == 2
    assert run.prediction.fractions[2] < 1e-10 and min(run.prediction.fractions[:2]) > 0.3
    v = run.analysis.value
    assert v("kclass.num_classes") == 3
    assert v("kclass.dimension_pca") == 2 == v("kclass.predicted_dimension") == v("kclass.dimension_logit")
    pcs = v("kclass.pca_fractions")
    assert pcs[0] + pcs[1] >= 0.95 and pcs[1] >= 0.2 and pcs[2] < 0.05  # a plane, not a line
    assert max(v("kclass.readout_angles_deg")) < 45  # the readout reads that plane
    assert v("kclass.evidence_truth_r2") > 0.5  # the words' evidence vectors map onto their true class evidence
    assert v("kclass.evidence_bow_spearman_mean") > 0.5
