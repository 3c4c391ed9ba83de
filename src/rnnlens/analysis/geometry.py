"""Geometry of states and fixed points: PCA, the manifold axis, theta, alignment and its null.

All functions here are plain numpy (scikit-learn for PCA) and know nothing about networks, so they
can be checked on constructed data with known answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA

from rnnlens.errors import ArgumentError


def _solver(X) -> str:
    # n >> dim: eigendecomposition of the dim x dim covariance (fast, exact up to rounding)
    return "covariance_eigh" if X.shape[0] >= 4 * X.shape[1] else "full"


@dataclass(frozen=True)
class PCAFit:
    """One PCA (:func:`pca`): ``cumulative`` [k] fraction of the total variance captured by PCs 1..i+1, ``mean``
    [dim], ``components`` [k, dim] (unit rows), ``total_variance`` the sum over all coordinates of the sample
    variance (ddof 1; the sum of all the covariance's eigenvalues), ``n_samples`` the rows fitted."""

    cumulative: np.ndarray
    mean: np.ndarray
    components: np.ndarray
    total_variance: float
    n_samples: int

    @property
    def rms_radius(self) -> float:
        """The root mean square distance of the fitted rows from their mean (ddof 0)."""
        return math.sqrt(max(self.total_variance, 0.0) * (self.n_samples - 1) / self.n_samples)


def pca(X, n_components: int = 10, *, overwrite: bool = False) -> PCAFit:
    """One scikit-learn PCA of ``X`` [n_samples >= 2, dim] with k = min(n_components, dim, n_samples) components.

    ``cumulative[i]`` is the fraction of the total variance (all PCs) captured by PCs 1..i+1.
    ``overwrite``: a float64 ``X`` may be centred in place (no copy of it; its contents are lost).
    """
    copy = not (overwrite and isinstance(X, np.ndarray) and X.dtype == np.float64)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ArgumentError(f"PCA needs a [n_samples >= 2, dim] array; got shape {X.shape}")
    k = min(n_components, X.shape[1], X.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):  # every sample the same: 0 / 0, answered below
        fit = PCA(n_components=k, svd_solver=_solver(X), copy=copy).fit(X)
    n = X.shape[0]
    if not fit.explained_variance_[0] > 0:  # no direction carries variance
        return PCAFit(np.zeros(k), fit.mean_, np.eye(k, X.shape[1]), 0.0, n)
    # the ratio is to the total variance (the sum over all PCs: scikit-learn's, from the full spectrum)
    total = float(fit.explained_variance_[0] / fit.explained_variance_ratio_[0])
    return PCAFit(np.cumsum(fit.explained_variance_ratio_), fit.mean_, fit.components_, total, n)


def pca_fit(X, n_components: int = 10, *, overwrite: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scikit-learn PCA of ``X`` [n_samples >= 2, dim]: (cumulative [k], mean [dim], components [k, dim]).

    ``cumulative[i]`` is the fraction of the total variance (all PCs) captured by PCs 1..i+1;
    k = min(n_components, dim, n_samples); rows of ``components`` are unit principal directions.
    ``overwrite``: a float64 ``X`` may be centred in place (no copy of it; its contents are lost).
    :func:`pca` gives the total variance too.
    """
    fit = pca(X, n_components, overwrite=overwrite)
    return fit.cumulative, fit.mean, fit.components


def pca_variance(X, n_components: int = 10) -> np.ndarray:
    """Cumulative fraction of variance explained by the top 1..k principal components of ``X``
    (see :func:`pca_fit`)."""
    return pca_fit(X, n_components)[0]


def readout_direction(W) -> np.ndarray:
    """The readout direction w [S] whose dot product with a state step is the change of "the logit".

    ``W`` is the model's readout matrix [n_out, S]. Binary models (n_out == 1): the single row.
    k-class models: last class minus first class (``W[-1] - W[0]``), the direction along which the
    evidence for the top label grows against the bottom one (meaningful for ordered labels).
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 1:
        raise ArgumentError(f"readout matrix must be [n_out, S]; got shape {W.shape}")
    return W[0].copy() if W.shape[0] == 1 else W[-1] - W[0]


def manifold_axis(points, readout=None) -> dict:
    """Main axis of a cloud of fixed points, how one-dimensional it is, and a coordinate along it.

    Returns a dict with
      - ``m`` [S]: unit top principal direction of the points (centred), oriented so that
        ``readout . m >= 0`` when a readout direction is given (moving along m increases the logit);
      - ``top_pc_fraction``: variance on the top PC / total variance of the points (1.0 for a line);
      - ``cumulative`` [k]: cumulative variance fractions of the top PCs (k <= 10);
      - ``theta`` [P]: the projection s = (p - mean) . m, rescaled linearly so that min -> -1 and
        max -> +1 (all zeros when every point projects to the same value). This replaces the
        paper's LLE coordinate: on a manifold that is close to a straight line (the case measured
        by ``top_pc_fraction``) both order the points the same way, and the projection needs no
        neighbourhood size and is reproducible;
      - ``readout_cos``: |cos(m, readout)| (None without a readout).
    """
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] < 1:
        raise ArgumentError(f"manifold_axis needs [P >= 1, S] points; got shape {P.shape}")
    mean = P.mean(axis=0)
    C = P - mean
    if P.shape[0] == 1 or not np.any(C):
        m = np.zeros(P.shape[1])
        m[0] = 1.0
        cumulative = np.ones(1)
        frac = float("nan")
    else:
        cumulative, _, comps = pca_fit(P, 10)
        m = comps[0] / np.linalg.norm(comps[0])
        frac = float(cumulative[0])
    if readout is not None:
        w = np.asarray(readout, dtype=np.float64)
        if w @ m < 0:
            m = -m
    s = C @ m
    span = s.max() - s.min()
    theta = 2.0 * (s - s.min()) / span - 1.0 if span > 0 else np.zeros_like(s)
    out = {"m": m, "mean": mean, "top_pc_fraction": frac, "cumulative": cumulative, "theta": theta, "readout_cos": None}
    if readout is not None:
        out["readout_cos"] = abs_cos(m, readout)
    return out


def abs_cos(a, b) -> float:
    """|cos| of the angle between two (possibly complex) vectors: |<a, b>| / (||a|| ||b||)."""
    a = np.asarray(a)
    b = np.asarray(b)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return float("nan")
    return float(abs(np.vdot(a, b)) / (na * nb))


def middle_node(readout: np.ndarray) -> int:
    """The inner node where the readout along the curve is nearest the middle of its range (where the halves
    meet)."""
    k = int(np.argmin(np.abs(readout - 0.5 * (readout.min() + readout.max()))))
    return min(max(k, 1), len(readout) - 2)


def halves_cos(nodes: np.ndarray, readout: np.ndarray) -> float:
    """|cos| between the chords of the curve's two halves, split at the node where the readout along the curve is
    nearest the middle of its range: 1 for a straight curve, 0 for two orthogonal arms (an L)."""
    k = middle_node(readout)
    return abs_cos(nodes[k] - nodes[0], nodes[-1] - nodes[k])


_BLOCK = 4096  # rows of states converted to float64 at a time (a few MB: reused, not fresh pages each time)


def readout_covariance_direction(X, w, rows=None) -> np.ndarray:
    """The direction the states ``X`` [n, dim] move in as their readout ``w . h`` changes:
    Cov(h, w . h) = Sigma w (the regression of the state on the readout, up to scale).

    Unlike ``w`` itself it carries no weight along directions the states never take (such weight
    changes no readout the network ever produces), and it sees coordinates the readout does not
    read but which move with it (the LSTM's cell state c, read through h). ``rows``: a boolean mask [n], the
    covariance over those states only (without copying them out). :func:`readout_covariance_directions` gives
    several masks' in the same two passes over ``X``.
    """
    return readout_covariance_directions(X, w, [rows])[0]


def readout_covariance_directions(X, w, masks) -> list[np.ndarray]:
    """:func:`readout_covariance_direction` over each of ``masks`` (boolean [n], or None: every state), in two
    passes over ``X`` whatever their number (the readouts, then the covariances)."""
    X = np.asarray(X)
    w = np.asarray(w, dtype=np.float64).reshape(-1)
    masks = [None if m is None else np.asarray(m, dtype=bool) for m in masks]
    counts = [X.shape[0] if m is None else int(np.count_nonzero(m)) for m in masks]
    if X.ndim != 2 or min(counts, default=2) < 2 or X.shape[1] != w.shape[0]:
        raise ArgumentError(f"readout_covariance_direction needs states [n >= 2, {w.shape[0]}]; got shape {X.shape}")
    # in float64, a block of rows at a time (a float64 copy of every visited state would be ~1 GB at 512 numbers)
    starts = range(0, X.shape[0], _BLOCK)
    r = np.concatenate([np.asarray(X[i : i + _BLOCK], dtype=np.float64) @ w for i in starts])
    # sum_i (x_i - mean) (r_i - mean r) = sum_i x_i (r_i - mean r), over each mask's rows
    centred = [r - (r.mean() if m is None else r[m].mean()) for m in masks]
    out = [np.zeros(X.shape[1]) for _ in masks]
    for i in starts:
        b = np.asarray(X[i : i + _BLOCK], dtype=np.float64)
        part = slice(i, i + b.shape[0])
        for acc, m, rc in zip(out, masks, centred):
            if m is None:
                acc += b.T @ rc[part]
            else:
                keep = m[part]
                acc += b[keep].T @ rc[part][keep]
    return [acc / (n - 1) for acc, n in zip(out, counts)]


def random_abs_cos(dim: int, n: int = 10000, *, seed: int = 0) -> np.ndarray:
    """Null distribution: |cos| between a fixed unit vector and ``n`` random unit vectors in R^dim.

    Random unit vectors are normalised standard Gaussians (uniform on the sphere); by symmetry the
    |cos| with any fixed unit vector is the |first coordinate|.
    """
    if dim < 1 or n < 2:
        raise ArgumentError(f"random_abs_cos needs dim >= 1 and n >= 2; got dim={dim}, n={n}")
    g = np.random.default_rng(seed).standard_normal((n, dim))
    return np.abs(g[:, 0]) / np.linalg.norm(g, axis=1)


def expected_random_abs_cos(dim: int) -> float:
    """Closed form E|cos| for a uniform random unit vector in R^dim: G(d/2) / (sqrt(pi) G((d+1)/2))."""
    return float(math.exp(math.lgamma(dim / 2) - math.lgamma((dim + 1) / 2)) / math.sqrt(math.pi))


def against_null(values, null) -> dict:
    """Compare observed overlaps with a null sample: percentile (fraction of the null strictly below
    each value, in %) and z-score ((value - null mean) / null std), per value and summarised."""
    v = np.asarray(values, dtype=np.float64)
    null = np.sort(np.asarray(null, dtype=np.float64))
    pct = 100.0 * np.searchsorted(null, v, side="left") / null.size
    z = (v - null.mean()) / null.std(ddof=1)
    return {
        "percentile": pct,
        "z": z,
        "null_mean": float(null.mean()),
        "null_std": float(null.std(ddof=1)),
        "null_p99": float(np.percentile(null, 99)),
    }
