"""CCA and SVCCA against known answers: a rotated, permuted, scaled copy is the same network; independent
states sit at the chance level; constructed data give back the canonical correlations they were built with."""

import numpy as np
import pytest

from rnnlens.compare import canonical_correlations, cca, chance_similarity, svcca, svcca_distances
from rnnlens.errors import ArgumentError


def _network_states(n=600, N=40, rank=8, seed=0):
    """States of a 'network': low-dimensional structure (rank directions with decaying variance) plus a little
    noise, as trained RNN states are."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, rank)) * np.linspace(3, 0.5, rank)
    return np.tanh(latent @ rng.normal(size=(rank, N)) / np.sqrt(rank)) + 0.01 * rng.normal(size=(n, N)) + 0.3


def _orthogonal(N, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(N, N)))
    return q * np.sign(np.diag(r))


def test_a_rotated_permuted_scaled_copy_has_similarity_one():
    X = _network_states()
    N = X.shape[1]
    perm = np.random.default_rng(1).permutation(N)
    Y = 3.7 * (X @ _orthogonal(N, 2))[:, perm] - 5.0  # rotation, permutation, uniform scale, shift
    for method in (cca, svcca):
        r = method(X, Y)
        assert abs(r.similarity - 1.0) < 1e-9, (method.__name__, r.similarity)
        assert r.distance < 1e-9
    assert svcca(X, Y).dims[0] == svcca(X, Y).dims[1] < N  # the 99% directions, fewer than the units
    # CCA is invariant to any invertible map of the units, a non-uniform scaling included
    Z = X * np.random.default_rng(3).uniform(0.1, 10, size=N)
    assert abs(cca(X, Z).similarity - 1.0) < 1e-9


def test_independent_states_sit_at_the_chance_level():
    rng = np.random.default_rng(0)
    n, p, q = 800, 30, 60
    sims = [cca(rng.normal(size=(n, p)), rng.normal(size=(n, q))).similarity for _ in range(5)]
    chance = chance_similarity(n, p, q)
    assert 0.2 < chance < 0.4
    assert abs(np.mean(sims) - chance) < 0.01, (np.mean(sims), chance)
    # the exact expectation of the squared correlations: E sum rho^2 = p q / (n - 1)
    rho = canonical_correlations(rng.normal(size=(n, p)), rng.normal(size=(n, q)))
    assert (rho**2).sum() == pytest.approx(p * q / (n - 1), rel=0.15)


def test_constructed_canonical_correlations_are_recovered():
    rng = np.random.default_rng(0)
    n, true = 200_000, np.array([0.95, 0.7, 0.4, 0.1])
    z = rng.normal(size=(n, 4))
    a = z * np.sqrt(true) + rng.normal(size=(n, 4)) * np.sqrt(1 - true)
    b = z * np.sqrt(true) + rng.normal(size=(n, 4)) * np.sqrt(1 - true)  # corr(a_i, b_i) = true_i
    X = a @ rng.normal(size=(4, 4))  # any invertible mixing of each side
    Y = np.hstack([b @ rng.normal(size=(4, 4)), rng.normal(size=(n, 2))])  # and two unrelated units
    rho = canonical_correlations(X, Y)
    assert rho.shape == (4,)
    np.testing.assert_allclose(rho, true, atol=0.01)


def test_rank_deficient_and_float32_states_are_handled():
    X = _network_states(N=20).astype(np.float32)
    X[:, 5] = X[:, 3]  # a duplicated unit: rank deficiency
    r = cca(X, X[:, ::-1])
    assert r.dims[0] == 19 and abs(r.similarity - 1) < 1e-6


def test_distance_matrix_matches_the_pairwise_function():
    mats = [_network_states(n=300, N=N, seed=s) for s, N in ((0, 20), (1, 30), (0, 25))]
    D = svcca_distances(mats)
    assert D.shape == (3, 3) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
    assert D[0, 1] == pytest.approx(svcca(mats[0], mats[1]).distance, abs=1e-12)
    assert D[0, 1] > 0.1  # different networks


def test_bad_inputs_are_refused():
    X = np.zeros((10, 3))
    with pytest.raises(ArgumentError, match="same inputs"):
        cca(X, np.zeros((11, 3)))
    with pytest.raises(ArgumentError, match="NaN"):
        cca(X, np.full((10, 3), np.nan))
    with pytest.raises(ArgumentError, match="keep"):
        svcca(X, X, keep=1.5)
    with pytest.raises(ArgumentError, match="at least 2"):
        svcca_distances([X])
