"""analyze on a network built by hand, whose line attractor, readout and word valences are known on paper.

The network (vanilla RNN, N units, 1-D embedding): h' = tanh(m (m.h + x)) with m = (1, ..., 1)/sqrt(N),
readout w = m, embedding of word v: x_v = c * valence(v) (the synthetic language's truth). Every state
after the first token lies on the line b -> b m (the pre-activation is a multiple of m and tanh acts on
equal components), and the coordinate b = m.h follows b' = f(b + x), f(s) = sqrt(N) tanh(s / sqrt(N)):
an integrator that leaks only to third order. On paper, at a node b m of the line (x* = 0):
  J_rec = sech^2(b / sqrt(N)) m m^T    -> lambda_1 = sech^2(b / sqrt(N)), r_1 = l_1 = m, all other lambda = 0
  J_inp = sech^2(b / sqrt(N)) m         -> valence of v = l_1^T J_inp x_v = sech^2(b / sqrt(N)) c valence(v)
  the slow points lie exactly on a straight line along m, which is the readout: one-dimensionality 1,
  top PC 1, |cos(tangent, w)| = |cos(tangent, Cov(h, w.h))| = 1, readout explained by position 1.
  One step of the linearization around the nearest node b*: the error is the second-order remainder
  |f(s) - f(b*) - f'(b*)(s - b*)| + |f(b*) - b*| <= |f''|max (s - b*)^2 / 2 + |b*|^3 / (3 N) with
  |f''| <= 0.77 / sqrt(N); relative to |b'| it is small wherever the state is not near 0.
"""

import math

import numpy as np
import pytest
import torch

from rnnlens import Network
from rnnlens.analysis import AnalysisSettings, analyze
from rnnlens.data import Vocab, load_corpus
from rnnlens.model import SentimentRNN

N, C = 16, 0.3


def _hand_built(corpus):
    vocab = Vocab.build(corpus.splits["train"].texts)
    model = SentimentRNN(len(vocab), arch="vanilla", embed_dim=1, hidden_size=N)
    m = torch.full((N,), 1 / math.sqrt(N))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        rnn = model.cell.rnn
        rnn.weight_hh_l0.copy_(torch.outer(m, m))
        rnn.weight_ih_l0.copy_(m[:, None])
        model.readout.weight.copy_(m[None])
        val = corpus.truth.valence
        for i, word in enumerate(vocab.itos):
            model.embedding.weight[i, 0] = C * val.get(word, 0.0)
    return model.eval(), vocab, m.double().numpy()


@pytest.fixture(scope="module")
def result():
    corpus = load_corpus("synthetic", seed=0, n_train=300, n_validation=50, n_test=300, min_length=10, max_length=20)
    model, vocab, m = _hand_built(corpus)
    bow = {w: v for w, v in corpus.truth.valence.items()}  # the true valence as "bag of words"
    settings = AnalysisSettings.make(
        n_docs=300,
        n_seeds=100,
        n_transitions=2000,
        n_linear_docs=100,
        n_speed=10,
        speed_steps=5,
        n_group=20,
        modifiers=None,
    )
    r = analyze(Network(model, vocab), corpus, settings, bow=bow)
    return r, corpus, vocab, m


def test_the_line_its_spectrum_and_the_readout_as_on_paper(result):
    r, _, _, m = result
    sm = r.summary["metrics"]["slow_manifold"]
    b = r.slow_manifold.points.cpu().numpy() @ m  # node coordinates along m
    off = r.slow_manifold.points.cpu().numpy() - np.outer(b, m)
    assert np.abs(off).max() < 1e-6  # the nodes are on the line
    np.testing.assert_allclose(r.arrays["sm_abs_lambda1"], 1 / np.cosh(b / math.sqrt(N)) ** 2, atol=1e-6)
    assert sm["median_abs_dev_lambda1"]["value"] == pytest.approx(
        float(np.median(1 - 1 / np.cosh(b / math.sqrt(N)) ** 2)), abs=1e-6
    )
    assert sm["one_dimensionality"]["value"] == pytest.approx(1.0, abs=1e-9)
    assert sm["top_pc_fraction"]["value"] == pytest.approx(1.0, abs=1e-9)
    for key in ("tangent_readout_cos_median", "readout_alignment", "chord_readout_cos"):
        assert sm[key]["value"] == pytest.approx(1.0, abs=1e-6), key
    assert sm["readout_explained_by_position"]["value"] == pytest.approx(1.0, abs=1e-6)
    assert sm["r1_tangent_overlap_median"]["value"] == pytest.approx(1.0, abs=1e-6)
    # the only fixed point of f is b = 0 (marginally stable: lambda_1 = 1, no unstable mode)
    assert set(sm["exact_fixed_point_unstable"]["value"]) <= {0}
    checks = {c["name"]: c["passed"] for c in r.summary["checks"]}
    assert checks["slow_points_1d"] and checks["readout_aligned"]


def test_word_valence_as_on_paper(result):
    r, corpus, vocab, m = result
    b = r.slow_manifold.points.cpu().numpy() @ m
    gain = float(np.mean(1 / np.cosh(b / math.sqrt(N)) ** 2))  # mean over nodes of sech^2
    got = r.arrays["sm_valence_mean"]
    for word in ("pos000", "neg001", "spos002", "sneg003", "neu004"):
        want = gain * C * corpus.truth.valence[word]
        assert float(got[vocab.stoi[word]]) == pytest.approx(want, abs=1e-5), word
    sm = r.summary["metrics"]["slow_manifold"]
    assert sm["spearman_truth"]["value"] == pytest.approx(1.0)
    assert sm["positive_mean"]["value"] > 0 > sm["negative_mean"]["value"]


def test_linearization_as_on_paper(result):
    r, _, _, _ = result
    sm = r.summary["metrics"]["slow_manifold"]
    # steps are at most 2C = 0.6 along the line; with N = 16 the remainder bound gives a few percent
    assert sm["one_step_error_median"]["value"] < 0.02
    assert sm["linear_rnn_agreement"]["value"] >= 0.99
    assert sm["linear_accuracy"]["value"] == pytest.approx(sm["rnn_accuracy_same_docs"]["value"], abs=0.02)
