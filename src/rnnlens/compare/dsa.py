"""Dynamics: Dynamical Similarity Analysis (Ostrow et al. 2023) between many networks, through the
``dsa-metric`` package (``pip install rnnlens[compare]``; imported as ``DSA``).

Definitions. Each network's trajectories (``[K, T, N]``: K sequences of T steps, the same inputs for every
network) are centred and projected on their top ``n_components`` principal components, delay-embedded
(``n_delays`` copies of the state, ``delay_interval`` steps apart: a Hankel matrix), reduced to the top
``rank`` right singular vectors of that matrix, and a linear map ``A`` ``[rank, rank]`` is fitted from each
step to the next by least squares (HAVOK DMD, ``DSA.DMD``). Two networks are then
compared through their ``A`` (``DSA.SimilarityTransformDist``):

* ``"wasserstein"`` (the package's default, and ours): the optimal-transport (earth mover's) cost between the
  two sets of eigenvalues of A in the complex plane, equal weights and squared Euclidean ground cost
  (``ot.emd2`` on ``ot.dist``: the squared 2-Wasserstein distance). Invariant to any similarity transform
  ``C A C^-1``; cheap (one eigendecomposition per network, one small transport problem per pair).
* ``"angular"`` (the paper's Procrustes analysis over vector fields): ``min_C arccos(<A, C B C^T>_F / (|A|_F
  |B|_F))`` over orthogonal C (fitted by gradient descent on the Cayley parametrisation, ``iters`` steps of Adam
  at ``lr``, twice per pair), in radians in [0, pi]. Seconds per pair: a 64-network matrix takes an hour or more.

The DMD of each network is fitted once; the pairs reuse it. Because the DMD works in the coordinates of the
Hankel matrix's singular vectors, a permutation or rotation of a network's units changes nothing but signs
there: the Wasserstein distance of such a copy is 0 up to rounding.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rnnlens.errors import ArgumentError

__all__ = ["DSAResult", "dsa_distances", "SCORE_METHODS"]

SCORE_METHODS = ("wasserstein", "angular", "euclidean")


@dataclass(frozen=True)
class DSAResult:
    """Pairwise DSA distances and how they were computed.

    Attributes:
        distances: ``[M, M]`` symmetric, zero diagonal (see the module docstring for each ``score_method``).
        eigenvalues: per network, the eigenvalues of its DMD matrix A (complex, ``[rank]``).
        settings: n_delays, delay_interval, rank, lamb, score_method, iters, lr.
        seconds: ``{"fit": ..., "pairs": ...}``.
    """

    distances: np.ndarray
    eigenvalues: list = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _import_dsa():
    try:
        import DSA
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ArgumentError(
            "DSA distances need the dsa-metric package: pip install 'rnnlens[compare]' (or dsa-metric==2.0.2)"
        ) from exc
    return DSA


def _checked_trajectories(trajectories: Sequence) -> list[np.ndarray]:
    out = []
    for i, t in enumerate(trajectories):
        a = np.asarray(t, dtype=np.float32)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3 or a.shape[1] < 2 or not np.isfinite(a).all():
            raise ArgumentError(
                f"trajectories[{i}]: expected finite states [K, T >= 2, N] (or [T, N]), got shape {a.shape}"
            )
        out.append(a)
    if len(out) < 2:
        raise ArgumentError(f"dsa_distances: needs at least 2 networks' trajectories, got {len(out)}")
    if len({a.shape[:2] for a in out}) > 1:
        raise ArgumentError(
            "dsa_distances: every network's trajectories must be of the same inputs: the same [K, T], got "
            f"{sorted({a.shape[:2] for a in out})}"
        )
    return out


def _principal_scores(a: np.ndarray, k: int) -> np.ndarray:
    """The centred states ``[K, T, N]`` on their top ``k`` principal components, ``[K, T, min(k, N)]``."""
    flat = a.reshape(-1, a.shape[2]).astype(np.float64)
    flat = flat - flat.mean(0)
    _, _, Vt = np.linalg.svd(flat, full_matrices=False)
    return (flat @ Vt[:k].T).reshape(a.shape[0], a.shape[1], -1).astype(np.float32)


def dsa_distances(
    trajectories: Sequence,
    *,
    n_delays: int = 10,
    delay_interval: int = 1,
    rank: int = 10,
    n_components: int | None = 30,
    lamb: float = 0.0,
    score_method: str = "wasserstein",
    iters: int = 1500,
    lr: float = 5e-3,
) -> DSAResult:
    """DSA distances between every pair of M networks (fits each network's DMD once).

    Args:
        trajectories: M arrays ``[K, T, N_i]`` (or ``[T, N_i]``): each network's states on the same K input
            sequences of T steps (N_i may differ between networks).
        n_delays, delay_interval: the delay embedding (the Hankel matrix).
        rank: singular vectors of the Hankel matrix kept (the DMD's dimension); at most ``n_delays * N``.
        n_components: each network's centred states are first projected on their top ``n_components``
            principal components (None: all units). This bounds the Hankel matrix's width at ``n_delays *
            n_components`` (its SVD dominates the cost: a 256-unit network with 10 delays is a 2560-column SVD)
            and, being a rotation plus truncation, changes no invariance.
        lamb: ridge regularisation of the DMD's least squares.
        score_method: ``"wasserstein"`` (eigenvalue spectra), ``"angular"`` or ``"euclidean"`` (Procrustes over
            vector fields; slow, see the module docstring).
        iters, lr: the Procrustes optimisation (angular/euclidean only).

    Returns:
        A :class:`DSAResult` (``.distances`` ``[M, M]``).

    Raises:
        ArgumentError: dsa-metric not installed, an unknown score_method, fewer than 2 networks, trajectories of
            different inputs or with NaN/inf, or a rank above what a network's Hankel matrix has.
    """
    if score_method not in SCORE_METHODS:
        raise ArgumentError(f"dsa_distances: score_method must be one of {SCORE_METHODS}, got {score_method!r}")
    for name, v in (("n_delays", n_delays), ("delay_interval", delay_interval), ("rank", rank), ("iters", iters)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ArgumentError(f"dsa_distances: {name} must be a positive integer, got {v!r}")
    data = _checked_trajectories(trajectories)
    if n_components is not None:
        if isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1:
            raise ArgumentError(f"dsa_distances: n_components must be a positive integer or None, got {n_components!r}")
        data = [_principal_scores(a, n_components) for a in data]
    for i, a in enumerate(data):
        if rank > n_delays * a.shape[2]:
            raise ArgumentError(
                f"trajectories[{i}]: rank {rank} is above the Hankel matrix's {n_delays} x {a.shape[2]} columns"
            )
    DSA = _import_dsa()
    t0 = time.perf_counter()
    engine = DSA.DSA(
        data,
        None,
        score_method=score_method,
        iters=iters,
        lr=lr,
        n_delays=n_delays,
        delay_interval=delay_interval,
        rank=rank,
        lamb=lamb,
    )
    engine.fit_dmds()
    t1 = time.perf_counter()
    D = np.asarray(engine.score(), dtype=np.float64).reshape(len(data), len(data))
    t2 = time.perf_counter()
    eig = [np.linalg.eigvals(np.asarray(d.A_v.detach().cpu(), dtype=np.float64)) for d in engine.dmds[0]]
    settings = dict(
        n_components=n_components,
        n_delays=n_delays,
        delay_interval=delay_interval,
        rank=rank,
        lamb=lamb,
        score_method=score_method,
        iters=iters,
        lr=lr,
    )
    return DSAResult(
        distances=(D + D.T) / 2, eigenvalues=eig, settings=settings, seconds={"fit": t1 - t0, "pairs": t2 - t1}
    )
