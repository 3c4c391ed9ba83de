"""The generated tasks (rnnlens.data.tasks): their targets against hand-checked rules, their determinism and
fingerprints, and the errors for bad options."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlens.data import load_corpus
from rnnlens.data.tasks import TASKS, sine_cues, sine_frequencies
from rnnlens.errors import ArgumentError

SMALL = dict(n_train=6, n_validation=3, n_test=3)


def test_flipflop_targets_are_the_sign_of_each_channels_last_pulse():
    c = load_corpus("flipflop", steps=30, p=0.2, **SMALL)
    for x, y in zip(c.splits["train"].inputs, c.splits["train"].targets):
        assert x.shape == y.shape == (30, 3)
        assert set(np.unique(x)) <= {-1.0, 0.0, 1.0} and (x[0] != 0).all()  # a pulse on every channel first
        for k in range(3):
            last = 0.0
            for t in range(30):
                last = x[t, k] if x[t, k] != 0 else last
                assert y[t, k] == last
    assert c.info["task"]["x_star"] == [0.0, 0.0, 0.0] and c.info["task"]["n_out"] == 3


def test_flipflop_noise_leaves_the_targets_to_the_pulses():
    clean = load_corpus("flipflop", steps=20, **SMALL)
    noisy = load_corpus("flipflop", steps=20, noise=0.1, **SMALL)
    for a, b in zip(clean.splits["test"].targets, noisy.splits["test"].targets):
        np.testing.assert_array_equal(a, b)
    d = noisy.splits["test"].inputs[0] - clean.splits["test"].inputs[0]
    assert 0.05 < d.std() < 0.2


def test_sine_targets_are_sin_omega_t_of_the_cued_frequency():
    c = load_corpus("sine", steps=25, **SMALL)
    o = c.info["task"]["options"]
    omegas, cues = sine_frequencies(o), sine_cues(o)
    assert omegas[0] == pytest.approx(0.1) and omegas[-1] == pytest.approx(0.6) and len(omegas) == 51
    assert cues[0] == pytest.approx(0.25) and cues[50] == pytest.approx(50 / 51 + 0.25)
    for x, y in zip(c.splits["train"].inputs, c.splits["train"].targets):
        j = int(round((x[0, 0] - 0.25) * 51))
        assert (x == x[0, 0]).all()  # static cue
        np.testing.assert_allclose(y[:, 0], np.sin(omegas[j] * np.arange(25)), atol=1e-12)
        assert y[0, 0] == 0.0
    # x*: the middle frequency's cue (j = 25: omega 0.35)
    assert c.info["task"]["x_star"] == [pytest.approx(25 / 51 + 0.25)]
    assert c.info["task"]["x_star_name"] == "cue of omega=0.35"
    assert len(c.info["task"]["input_points"]) == 51


def test_context_targets_are_the_sign_of_the_relevant_stream_on_the_scored_steps_only():
    c = load_corpus("context", steps=12, score_steps=3, noise=0.0, coherences=[-0.3, 0.2], **{**SMALL, "n_train": 20})
    seen = set()
    for x, y in zip(c.splits["train"].inputs, c.splits["train"].targets):
        assert x.shape == (12, 4) and y.shape == (12, 1)
        ctx = int(np.argmax(x[0, 2:]))
        assert (x[:, 2:].sum(1) == 1).all() and (x[:, 2 + ctx] == 1).all()  # one-hot, constant
        assert set(np.round(x[0, :2], 12)) <= {-0.3, 0.2} and (x[:, :2] == x[0, :2]).all()  # noise 0: offsets
        assert np.isnan(y[:9]).all()
        assert (y[9:, 0] == np.sign(x[0, ctx])).all()
        seen.add(ctx)
    assert seen == {0, 1}
    assert c.info["task"]["x_star"] == [0.0, 0.0, 1.0, 0.0]


def test_generation_is_deterministic_and_fingerprinted_and_splits_are_independent():
    a = load_corpus("flipflop", seed=3, steps=10, **SMALL)
    b = load_corpus("flipflop", seed=3, steps=10, **SMALL)
    assert a.fingerprint() == b.fingerprint()
    assert load_corpus("flipflop", seed=4, steps=10, **SMALL).fingerprint() != a.fingerprint()
    more_test = load_corpus("flipflop", seed=3, steps=10, **{**SMALL, "n_test": 9})
    for x, y in zip(a.splits["train"].inputs, more_test.splits["train"].inputs):
        np.testing.assert_array_equal(x, y)
    # the fingerprint of a fixed small task, written down: a change to any generator shows here
    more = {"context": {"score_steps": 2}}
    tiny = {
        name: load_corpus(name, seed=1, steps=5, n_train=2, n_validation=1, n_test=1, **more.get(name, {}))
        for name in TASKS
    }
    assert {k: v.fingerprint()[:16] for k, v in tiny.items()} == FINGERPRINTS


FINGERPRINTS = {"flipflop": "28f9310e067a7d53", "sine": "a1cf763f9a8c9d03", "context": "65cd0659ea4d5813"}


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("flipflop", {"bits": 0}, "option bits=0 is invalid: use an integer >= 1"),
        ("flipflop", {"p": 1.5}, "option p=1.5 is invalid"),
        ("flipflop", {"n_train": 2.5}, "option n_train=2.5 is invalid"),
        ("flipflop", {"bitz": 3}, "unknown option(s) ['bitz'] for corpus 'flipflop'"),
        ("sine", {"omega_max": 0.05}, "option omega_max=0.05 is invalid: it must exceed omega_min=0.1"),
        ("sine", {"n_freq": 1}, "option n_freq=1 is invalid: use an integer >= 2"),
        ("context", {"score_steps": 80}, "option score_steps=80 is invalid: at most steps=60"),
        ("context", {"coherences": [0.1, 0]}, "option coherences=[0.1, 0] is invalid"),
        ("context", {"noise": -1}, "option noise=-1 is invalid: use a number >= 0"),
    ],
)
def test_bad_options_are_refused_naming_the_option(name, options, message):
    with pytest.raises(ArgumentError) as info:
        load_corpus(name, **options)
    assert message in str(info.value)


def test_a_bad_seed_is_refused():
    with pytest.raises(ArgumentError, match="seed must be an integer >= 0"):
        load_corpus("sine", seed=-1)
