"""Eigen-work that scales: the full decomposition split over threads (the same numbers), only k rows of L
solved for with ``modes=k``, and why the slowest modes are not taken from a Krylov method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlens.linearization import eigendecompose, linearize

S = 96


def _known(seed=0):
    """J = Q B Q^-1 (Q random, not orthogonal; eigenvalues 1.02, 0.999, 0.95 e^(+-0.3i) and a bulk of radius
    0.45) with 30 units then saturated (their rows set to e_i: eigenvalue 1, thirty times; the others move)."""
    rng = np.random.default_rng(seed)
    B = np.zeros((S, S))
    B[0, 0], B[1, 1] = 1.02, 0.999
    c, s = 0.95 * np.cos(0.3), 0.95 * np.sin(0.3)
    B[2:4, 2:4] = [[c, -s], [s, c]]
    A = rng.normal(size=(S - 4, S - 4))
    B[4:, 4:] = A * 0.45 / np.abs(np.linalg.eigvals(A)).max()
    B[0, 5:9] = 0.3
    Q = np.eye(S) + 0.3 * rng.normal(size=(S, S)) / np.sqrt(S)
    J = Q @ B @ np.linalg.inv(Q)
    J[40:70] = 0
    J[40:70, 40:70] = np.eye(30)
    return torch.from_numpy(J)


def test_a_krylov_method_misses_a_repeated_eigenvalue_that_the_full_path_counts():
    # why linearize never takes the slowest modes from ARPACK: saturated units repeat the eigenvalue 1, and a
    # Krylov space from one start vector holds one direction of that eigenspace
    from scipy.sparse.linalg import eigs

    J = _known()
    full = eigendecompose(J[None], vectors=False)[0][0]
    assert int((full.abs() - 1).abs().lt(1e-9).sum()) == 30
    v0 = np.random.default_rng(0).normal(size=S)  # ARPACK starts from a random vector otherwise
    arpack = np.sort(np.abs(eigs(J.numpy(), k=4, which="LM", v0=v0, return_eigenvectors=False)))[::-1]
    assert arpack[0] == pytest.approx(float(full[0].abs()), abs=1e-10) and float(full[0].abs()) > 1.0
    assert (np.abs(arpack - 1) < 1e-9).sum() < 3  # the top 4 of the spectrum hold three 1s


def test_k_rows_of_l_solved_for_are_the_rows_of_the_whole_inverse():
    J = torch.stack([_known(1), _known(2)])
    lam, R, L = eigendecompose(J, modes=2)
    lam_f, R_f, L_f = eigendecompose(J)
    assert torch.equal(lam, lam_f) and torch.equal(R, R_f[:, :, :2]) and L.shape == (2, 2, S)
    assert (L - L_f[:, :2]).abs().max() < 1e-10 * L_f[:, :2].abs().max()
    lin = linearize(
        lambda x, h: h @ J[0].T, torch.zeros(1, S, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64), modes=1
    )
    assert int(lin.n_unstable[0]) == 1 and lin.R.shape == (1, S, 1) and lin.L.shape == (1, 1, S)


@pytest.mark.parametrize("modes", [None, 2])
def test_splitting_the_points_over_threads_changes_nothing(modes):
    torch.manual_seed(0)
    J = torch.randn(6, 40, 40, dtype=torch.float64) / 6
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        a = eigendecompose(J, modes=modes)
        torch.set_num_threads(1)
        b = eigendecompose(J, modes=modes)
    finally:
        torch.set_num_threads(old)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert torch.get_num_threads() == old
