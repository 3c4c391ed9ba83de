"""DSA distances (dsa-metric): a network against a copy of itself with permuted units is ~0, against another
system large."""

import numpy as np
import pytest

pytest.importorskip("DSA")

from rnnlens.compare import dsa_distances  # noqa: E402
from rnnlens.errors import ArgumentError  # noqa: E402


def _trajectories(seed, N=16, K=10, T=40, gain=1.3):
    """States of a random tanh network driven by the same input pulses for every seed (K sequences, T steps)."""
    r = np.random.default_rng(seed)
    W = r.normal(size=(N, N)) * gain / np.sqrt(N)
    B = r.normal(size=(N, 2))
    u = np.random.default_rng(100).normal(size=(K, T, 2)) * (np.random.default_rng(101).random((K, T, 1)) < 0.2)
    h, out = np.zeros((K, N)), []
    for t in range(T):
        h = np.tanh(h @ W.T + u[:, t] @ B.T)
        out.append(h)
    return np.stack(out, 1)


def test_a_permuted_copy_is_near_zero_and_another_network_is_far():
    X = _trajectories(0)
    perm = np.random.default_rng(1).permutation(X.shape[2])
    r = dsa_distances([X, X[..., perm], _trajectories(1, gain=0.5), _trajectories(2, gain=1.8)], n_delays=3, rank=6)
    D = r.distances
    assert D.shape == (4, 4) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
    assert D[0, 1] < 1e-6, D[0, 1]
    assert min(D[0, 2], D[0, 3], D[2, 3]) > 1e-3, D
    assert D[0, 2] > 1000 * max(D[0, 1], 1e-9)
    assert len(r.eigenvalues) == 4 and r.eigenvalues[0].shape == (6,)
    np.testing.assert_allclose(np.sort_complex(r.eigenvalues[0]), np.sort_complex(r.eigenvalues[1]), atol=1e-4)


def test_bad_trajectories_are_refused():
    X = _trajectories(0)
    with pytest.raises(ArgumentError, match="same inputs"):
        dsa_distances([X, X[:, :30]])
    with pytest.raises(ArgumentError, match="score_method"):
        dsa_distances([X, X], score_method="cosine")
    with pytest.raises(ArgumentError, match="rank"):
        dsa_distances([X, X], n_delays=1, rank=20)
