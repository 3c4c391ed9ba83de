"""The estimators of the modifier analysis (definitions: :mod:`rnnlens.analysis.modifiers`): the least-squares
and median ratios of the factors, their bootstrap interval, the reach and time constants of their decay, the
dimensionality of the excursions and the agreement of predicted and measured factors."""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "ls_ratio",
    "median_ratio",
    "bootstrap_ratio",
    "factor_reach",
    "fit_factor_decay",
    "participation_ratio",
    "decay_time_constant",
    "agreement",
]


def ls_ratio(num, den) -> float:
    """Least-squares ratio ``sum(num * den) / sum(den^2)``: the factor f minimising ``sum (num - f den)^2``
    (nan when every denominator is 0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    d2 = float((den * den).sum())
    return float((num * den).sum() / d2) if d2 > 0 else math.nan


def median_ratio(num, den, rel: float = 0.1) -> float:
    """Median of ``num / den`` over the pairs whose ``|den|`` is at least ``rel`` times the median ``|den|``."""
    num, den = np.ravel(np.asarray(num, dtype=np.float64)), np.ravel(np.asarray(den, dtype=np.float64))
    a = np.abs(den)
    keep = a >= rel * np.median(a)
    keep &= a > 0
    return float(np.median(num[keep] / den[keep])) if keep.any() else math.nan


def bootstrap_ratio(num, den, n_boot: int, rng: np.random.Generator, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`ls_ratio` for ``num``, ``den`` of shape [contexts, words]:
    contexts and words resampled independently with replacement, ``n_boot`` times."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    if n_boot < 1:
        return math.nan, math.nan
    C, W = num.shape
    a = rng.multinomial(C, np.full(C, 1.0 / C), size=n_boot).astype(np.float64)  # [B, C] context weights
    b = rng.multinomial(W, np.full(W, 1.0 / W), size=n_boot).astype(np.float64)  # [B, W] word weights
    # sum_cw a_bc X_cw b_bw as one matrix product and a row-wise dot (a three-operand einsum loops over b, c, w)
    top = ((a @ (num * den)) * b).sum(1)
    bottom = ((a @ (den * den)) * b).sum(1)
    ok = bottom > 0
    if not ok.any():
        return math.nan, math.nan
    r = top[ok] / bottom[ok]
    q = (1 - level) / 2
    return float(np.quantile(r, q)), float(np.quantile(r, 1 - q))


def factor_reach(factor) -> int:
    """The largest gap k such that ``|factor(j) - 1| >= |factor(1) - 1| / 2`` for every j <= k (0 when the
    modifier has no effect at gap 1, i.e. the factor is 1 or undefined there)."""
    f = np.asarray(factor, dtype=np.float64)
    if not f.size or not np.isfinite(f[0]) or abs(f[0] - 1) < 1e-12:
        return 0
    dev = np.abs(f - 1)
    k = 0
    while k < f.size and np.isfinite(dev[k]) and dev[k] >= dev[0] / 2:
        k += 1
    return k


def fit_factor_decay(factor) -> float:
    """Time constant tau (tokens) of ``factor(k) = 1 + a exp(-(k - 1) / tau)`` fitted by least squares
    (scipy ``curve_fit``, tau in [0.05, 1000]) to the finite factors at k = 1, 2, ...; nan with fewer
    than 3 finite points or when the fit fails."""
    from scipy.optimize import curve_fit

    f = np.asarray(factor, dtype=np.float64)
    k = np.arange(1, f.size + 1, dtype=np.float64)
    ok = np.isfinite(f)
    if ok.sum() < 3:
        return math.nan
    if np.allclose(f[ok], 1.0, atol=1e-9):
        return 0.0

    def model(kk, a, tau):
        return 1.0 + a * np.exp(-(kk - 1.0) / tau)

    a0 = f[ok][0] - 1.0 if abs(f[ok][0] - 1.0) > 1e-9 else 1e-3
    try:
        (a, tau), _ = curve_fit(
            model, k[ok], f[ok], p0=(a0, 1.0), bounds=([-np.inf, 0.05], [np.inf, 1000.0]), maxfev=5000
        )
    except (RuntimeError, ValueError):
        return math.nan
    return float(tau)


def participation_ratio(X) -> tuple[float, float]:
    """(share of the top direction, participation ratio) of the rows of ``X`` [n, dim], uncentred:
    with s_i the singular values, ``s_1^2 / sum s_i^2`` and ``(sum s_i^2)^2 / sum s_i^4`` (1 for
    vectors along one direction, dim for isotropic ones)."""
    from scipy.linalg import eigvalsh

    X = np.asarray(X, dtype=np.float64)
    # from the smaller Gram matrix G (its eigenvalues are the s_i^2): sum s_i^2 = trace G, sum s_i^4 = ||G||_F^2,
    # s_1^2 its largest eigenvalue; no SVD of the [n, dim] rows
    G = X.T @ X if X.shape[0] >= X.shape[1] else X @ X.T
    total = float(np.trace(G))
    if not total > 0:
        return math.nan, math.nan
    top = float(eigvalsh(G, subset_by_index=[G.shape[0] - 1, G.shape[0] - 1])[0])
    return top / total, total**2 / float(np.sum(G * G))


def decay_time_constant(ratio) -> float:
    """tau (tokens) of ``ratio[j] ~ exp(-j / tau)``, j = 0, 1, ..., by least squares on ``log ratio``
    through the origin over the entries above 1e-6 (inf when nothing decays, nan when undefined)."""
    r = np.asarray(ratio, dtype=np.float64)
    j = np.arange(r.size, dtype=np.float64)
    ok = np.isfinite(r) & (r > 1e-6) & (j > 0)
    if not ok.any():
        return math.nan
    slope = float((j[ok] * np.log(r[ok])).sum() / (j[ok] ** 2).sum())
    return math.inf if slope >= 0 else -1.0 / slope


def agreement(pred: np.ndarray, factor: np.ndarray) -> tuple[float, float]:
    """(Pearson correlation over the finite (modifier, gap) pairs, median predicted / measured over those with
    |measured| > 0.1)."""
    ok = np.isfinite(pred) & np.isfinite(factor)
    corr = math.nan
    if ok.sum() >= 3 and np.std(factor[ok]) > 0 and np.std(pred[ok]) > 0:
        corr = float(np.corrcoef(pred[ok], factor[ok])[0, 1])
    big = ok & (np.abs(factor) > 0.1)
    return corr, (float(np.median(pred[big] / factor[big])) if big.any() else math.nan)
