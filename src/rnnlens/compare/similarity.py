"""Geometry: how alike two networks' states are on the same inputs (CCA and SVCCA).

Definitions (X ``[n, N1]`` and Y ``[n, N2]`` hold the states of two networks on the same ``n`` inputs, row by
row):

* **Canonical correlations** ``rho_1 >= rho_2 >= ... >= 0``: centre each column, take an orthonormal basis
  ``Q_x`` of the column space of X (``[n, d_x]``, from the SVD; directions with a singular value below
  ``rcond * s_max`` are dropped as rank-deficient) and likewise ``Q_y``; the rho are the singular values of
  ``Q_x^T Q_y`` (the cosines of the principal angles between the two subspaces; Björck & Golub 1973). No
  covariance matrix is formed or inverted, so the result keeps the data's precision. There are
  ``min(d_x, d_y)`` of them.
* **CCA similarity**: the mean canonical correlation; **distance** = 1 - similarity. With ``d_x + d_y >= n - 1``
  some correlations are 1 whatever the data (the two subspaces must meet), so ``n`` should be well above the
  dimensions compared.
* **SVCCA** (Raghu et al. 2017): per network keep the top singular directions of its centred states that hold
  ``keep`` (99%) of their variance (the fewest ``k`` with ``sum_{i<=k} s_i^2 >= keep * sum s_i^2``), then CCA
  between the two reduced sets; the similarity is the mean canonical correlation, distance = 1 - similarity.
  The reduced data are ``U_k S_k``, whose column space is spanned by ``U_k``, so ``U_k`` is the orthonormal
  basis the CCA uses.

Invariances: any invertible linear map of one network's units (a rotation, a permutation, a scaling) leaves the
CCA similarity unchanged; SVCCA is unchanged by orthogonal maps and uniform scaling (a non-uniform scaling
changes which directions hold 99% of the variance).

Chance level: for independent random states the squared canonical correlations follow Wachter's (1980) law
asymptotically (:func:`chance_similarity`); ``E[sum rho_i^2] = d_x d_y / (n - 1)`` exactly for Gaussian data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rnnlens.errors import ArgumentError

__all__ = [
    "CCAResult",
    "canonical_correlations",
    "cca",
    "svcca",
    "svcca_distances",
    "chance_similarity",
]


@dataclass(frozen=True)
class CCAResult:
    """The canonical correlations of two state matrices and what they were computed on.

    Attributes:
        correlations: ``[min(d_x, d_y)]`` canonical correlations, descending, in [0, 1].
        dims: ``(d_x, d_y)``, the dimensions compared (SVCCA: kept directions; CCA: numerical rank).
        n_samples: rows of X and Y.
        method: ``"cca"`` or ``"svcca"``.
    """

    correlations: np.ndarray
    dims: tuple[int, int]
    n_samples: int
    method: str

    @property
    def similarity(self) -> float:
        """The mean canonical correlation."""
        return float(self.correlations.mean()) if self.correlations.size else float("nan")

    @property
    def distance(self) -> float:
        """1 - similarity."""
        return 1.0 - self.similarity


def _checked(X, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 1:
        raise ArgumentError(f"{name}: expected a state matrix [n_samples >= 2, units >= 1], got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ArgumentError(
            f"{name}: {a.shape[0]} rows, but the other state matrix has {n}; compare the states of the same inputs"
        )
    if not np.isfinite(a).all():
        raise ArgumentError(f"{name}: holds NaN or inf")
    return a


def _basis(X: np.ndarray, keep: float | None, rcond: float) -> np.ndarray:
    """An orthonormal basis ``[n, d]`` of the centred columns of X: the numerical column space (keep None) or
    the top singular directions holding ``keep`` of the variance."""
    U, s, _ = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return U[:, :0]
    rank = int((s > rcond * s[0]).sum())
    if keep is not None:
        var = np.cumsum(s[:rank] ** 2)
        rank = min(rank, int(np.searchsorted(var, keep * var[-1] * (1 - 1e-12))) + 1)
    return U[:, :rank]


def _correlations(Qx: np.ndarray, Qy: np.ndarray) -> np.ndarray:
    if Qx.shape[1] == 0 or Qy.shape[1] == 0:
        return np.zeros(0)
    return np.clip(np.linalg.svd(Qx.T @ Qy, compute_uv=False), 0.0, 1.0)


def _check_keep(keep: float) -> None:
    if not (isinstance(keep, (int, float)) and 0 < keep <= 1):
        raise ArgumentError(f"keep must be a variance fraction in (0, 1], got {keep!r}")


def canonical_correlations(X, Y, *, rcond: float = 1e-10) -> np.ndarray:
    """The canonical correlations of X ``[n, N1]`` and Y ``[n, N2]`` (see the module docstring), descending.

    Raises:
        ArgumentError: not 2-D, fewer than 2 rows, different numbers of rows, or NaN/inf.
    """
    return cca(X, Y, rcond=rcond).correlations


def cca(X, Y, *, rcond: float = 1e-10) -> CCAResult:
    """CCA between two networks' states on the same inputs (``.similarity``: the mean canonical correlation).

    Args:
        X: ``[n, N1]`` states (rows: the same inputs, in the same order, as Y's).
        Y: ``[n, N2]`` states.
        rcond: directions with a singular value below ``rcond * s_max`` count as rank deficiency.

    Raises:
        ArgumentError: as :func:`canonical_correlations`.
    """
    X = _checked(X, "X")
    Y = _checked(Y, "Y", X.shape[0])
    Qx, Qy = _basis(X, None, rcond), _basis(Y, None, rcond)
    return CCAResult(_correlations(Qx, Qy), (Qx.shape[1], Qy.shape[1]), X.shape[0], "cca")


def svcca(X, Y, *, keep: float = 0.99, rcond: float = 1e-10) -> CCAResult:
    """SVCCA (Raghu et al. 2017) between two networks' states on the same inputs.

    Args:
        X, Y: ``[n, N1]``, ``[n, N2]`` states of the same inputs.
        keep: the share of each network's (centred) state variance its kept singular directions hold.
        rcond: as for :func:`cca`.

    Returns:
        A :class:`CCAResult` (``.similarity`` the mean canonical correlation, ``.dims`` the kept directions).

    Raises:
        ArgumentError: as :func:`canonical_correlations`, or ``keep`` outside (0, 1].
    """
    _check_keep(keep)
    X = _checked(X, "X")
    Y = _checked(Y, "Y", X.shape[0])
    Qx, Qy = _basis(X, keep, rcond), _basis(Y, keep, rcond)
    return CCAResult(_correlations(Qx, Qy), (Qx.shape[1], Qy.shape[1]), X.shape[0], "svcca")


def svcca_distances(states: Sequence, *, keep: float | None = 0.99, rcond: float = 1e-10) -> np.ndarray:
    """The SVCCA distance (1 - mean canonical correlation) between every pair of networks, ``[M, M]``.

    Each network's reduced basis is computed once (one SVD each), then one small SVD per pair.

    Args:
        states: M state matrices ``[n, N_i]``, all of the same inputs (same n, same row order).
        keep: as for :func:`svcca`; None: plain CCA on each numerical column space.
        rcond: as for :func:`cca`.

    Returns:
        A symmetric float64 matrix with zeros on the diagonal.

    Raises:
        ArgumentError: fewer than 2 networks, or a matrix as :func:`canonical_correlations` refuses.
    """
    states = list(states)
    if len(states) < 2:
        raise ArgumentError(f"svcca_distances: needs at least 2 state matrices, got {len(states)}")
    if keep is not None:
        _check_keep(keep)
    n = np.asarray(states[0]).shape[0]
    bases = [_basis(_checked(X, f"states[{i}]", n), keep, rcond) for i, X in enumerate(states)]
    M = len(bases)
    D = np.zeros((M, M))
    for i in range(M):
        for j in range(i + 1, M):
            rho = _correlations(bases[i], bases[j])
            D[i, j] = D[j, i] = 1.0 - (float(rho.mean()) if rho.size else float("nan"))
    return D


def chance_similarity(n_samples: int, d_x: int, d_y: int) -> float:
    """The mean canonical correlation of independent random states: Wachter's (1980) limit law of the squared
    canonical correlations of ``d_x``- and ``d_y``-dimensional random subspaces of ``R^(n_samples - 1)`` (one
    dimension goes to centring), integrated for the mean of rho; the atom at rho = 1 when ``d_x + d_y > n - 1``
    included. Within about 0.005 of simulation at a few hundred samples.

    Raises:
        ArgumentError: dimensions not positive, or not below ``n_samples - 1``.
    """
    from scipy import integrate

    m = n_samples - 1
    if not (1 <= d_x < m and 1 <= d_y < m):
        raise ArgumentError(f"chance_similarity: need 1 <= d_x, d_y < n_samples - 1, got {d_x}, {d_y}, {n_samples}")
    a, b = min(d_x, d_y) / m, max(d_x, d_y) / m
    lo = (np.sqrt(a * (1 - b)) - np.sqrt(b * (1 - a))) ** 2
    hi = (np.sqrt(a * (1 - b)) + np.sqrt(b * (1 - a))) ** 2

    def density(lam: float) -> float:
        return float(np.sqrt(max((lam - lo) * (hi - lam), 0.0)) / (2 * np.pi * a * lam * (1 - lam)))

    mean_rho = integrate.quad(lambda lam: np.sqrt(lam) * density(lam), lo, hi, limit=200)[0]
    return float(mean_rho + max(a + b - 1.0, 0.0) / a)
