"""The parts of the k-class measurement that read the dynamics; :mod:`rnnlens.analysis.kclass` has the
definitions, the entry point :func:`rnnlens.analysis.kclass.analyze_kclass` and the comparisons with the
words' references (bag of words, truth, word-count prediction).

The pieces (relaxation, PCA spectrum, readout subspace, principal angles, slow projectors, the R^2 of a
linear map) are plain functions of arrays. The measurement runs in steps, each filling the metrics and
arrays of one :class:`KClassAnalysis`: the checked inputs (:func:`prepare`), the slow points and their
PCA (:func:`measure_slow_points`), the readout's angles to them (:func:`measure_readout`), the
eigenvalues at a sample of them (:func:`measure_eigenvalues`), the exact fixed points
(:func:`measure_fixed_points`), the words' evidence vectors (:func:`measure_evidence`) and the figures'
arrays (:func:`figure_arrays`). Random draws go through one generator in that order: the subset of
states, the linearized points, the fixed-point seeds, the points shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from rnnlens.analysis.registry import metric
from rnnlens.analysis.wordcount import participation_ratio, spectrum_dimension
from rnnlens.device import to_device, to_numpy
from rnnlens.errors import ArgumentError

__all__ = [
    "KClassAnalysis",
    "relax",
    "pca_spectrum",
    "readout_subspace",
    "principal_angles_deg",
    "slow_projectors",
    "linear_map_r2",
]

SECTION = "kclass"
RELAX_DEPTHS = (0, 10, 20, 50, 100)


@dataclass
class KClassAnalysis:
    """What :func:`rnnlens.analysis.kclass.analyze_kclass` measured: ``metrics`` ({"kclass": {name: node}}),
    ``arrays`` (``kc_*``, for the report), ``missing``; ``slow_points`` [M, S], ``mean`` [S] and ``basis``
    [k-1, S] (their top PCs), ``fixed_points`` (the solver's result, or None), ``evidence`` [V, k-1] and
    ``class_evidence`` [V, k] per word of ``words``."""

    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    slow_points: np.ndarray | None = None
    mean: np.ndarray | None = None
    basis: np.ndarray | None = None
    fixed_points: Any = None
    words: list = field(default_factory=list)
    evidence: np.ndarray | None = None
    class_evidence: np.ndarray | None = None

    def value(self, name: str):
        """The value of metric ``kclass.<name>`` (None when not measured)."""
        node = self.metrics.get(SECTION, {}).get(name)
        return None if node is None else node["value"]


# ------------------------------------------------------------------------------------------ pieces
def relax(step, states, inputs=None, *, steps: int, depths=()) -> tuple[torch.Tensor, dict]:
    """States after ``steps`` steps of ``step`` at ``inputs`` (float64), and the states after each of ``depths``."""
    from rnnlens.fixedpoints import as_step

    fn = as_step(step)
    h, x = fn.prepare(torch.as_tensor(states), inputs, name="states")
    snaps, last = {}, max([steps, *depths])
    for n in range(last + 1):
        if n in depths:
            snaps[n] = h.double()
        if n == steps:
            out = h.double()
        if n < last:
            h = fn.step(x, h)
    return out, snaps


def pca_spectrum(P) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(variance fractions of every PC, mean, principal directions as rows) of the rows of ``P``."""
    P = np.asarray(P, dtype=np.float64)
    mean = P.mean(0)
    _, s, Vt = np.linalg.svd(P - mean, full_matrices=False)
    var = s**2
    total = var.sum()
    return (var / total if total > 0 else var), mean, Vt


def readout_subspace(W) -> np.ndarray:
    """Orthonormal rows [k-1, S] spanning the rows of ``W`` [k, S] minus their mean row."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ArgumentError(f"readout_subspace: W must be [k >= 3, S]; got shape {W.shape}")
    _, _, Vt = np.linalg.svd(W - W.mean(0), full_matrices=False)
    return Vt[: W.shape[0] - 1]


def principal_angles_deg(A, B) -> list[float]:
    """Principal angles in degrees (ascending) between the row spaces of ``A`` and ``B``."""
    from scipy.linalg import subspace_angles

    return sorted(float(a) for a in np.degrees(subspace_angles(np.asarray(A, float).T, np.asarray(B, float).T)))


def slow_projectors(lin, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Per point of a ``Linearization``: Re(R_s L_s) [P, S, S] onto its ``m`` slowest modes (one more where
    the m-th is half of a complex pair), and how many modes each kept [P]."""
    ev = to_numpy(lin.eigvals)
    R, L = to_numpy(lin.R), to_numpy(lin.L)
    out = np.zeros((ev.shape[0], R.shape[1], R.shape[1]))
    used = np.zeros(ev.shape[0], dtype=np.int64)
    for p in range(ev.shape[0]):
        n = m
        if n < ev.shape[1] and abs(ev[p, n - 1].imag) > 1e-9 and abs(ev[p, n] - np.conj(ev[p, n - 1])) < 1e-9:
            n += 1
        out[p] = (R[p][:, :n] @ L[p][:n, :]).real
        used[p] = n
    return out, used


def linear_map_r2(V, T) -> float:
    """R^2 of the least-squares map (with intercept) from rows of ``V`` [n, a] to rows of ``T`` [n, b]:
    1 - residual sum of squares / total sum of squares (all columns together)."""
    V, T = np.asarray(V, float), np.asarray(T, float)
    if T.ndim == 1:
        T = T[:, None]
    A = np.hstack([V, np.ones((V.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(A, T, rcond=None)
    res = ((T - A @ coef) ** 2).sum()
    tot = ((T - T.mean(0)) ** 2).sum()
    return float(1 - res / tot) if tot > 0 else float("nan")


def _array(a, dtype=np.float64) -> np.ndarray:
    return np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=dtype)


# ------------------------------------------------------------------------------------------ steps
@dataclass(frozen=True)
class Options:
    """The numbers that steer the measurement (the ``kclass`` settings group without its prefix, the
    fixed-point tolerance ``tol``, the seed of every draw and the input point x* of a Network)."""

    relax_steps: int
    max_states: int
    n_linearize: int
    eig_threshold: float
    share: float
    n_fixed_seeds: int
    min_count: int
    n_words: int
    tol: float
    seed: int
    input_point: str

    def check(self) -> Options:
        """The options, or ArgumentError naming the first that is out of range."""
        for name, lo in (
            ("relax_steps", 0),
            ("max_states", 4),
            ("n_linearize", 1),
            ("n_fixed_seeds", 0),
            ("min_count", 0),
            ("n_words", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ArgumentError(f"analyze_kclass: {name} must be an integer >= {lo}; got {v!r}")
        if not 0 < self.eig_threshold < 2 or not 0 < self.share <= 1 or not self.tol > 0:
            raise ArgumentError(
                f"analyze_kclass: need 0 < eig_threshold < 2, 0 < share <= 1 and tol > 0; got "
                f"{self.eig_threshold!r}, {self.share!r}, {self.tol!r}"
            )
        return self


@dataclass(frozen=True, eq=False)
class Setup:
    """The checked inputs: the step (``fn``; ``fn64`` in float64), the states analysed ``X`` [M, S] (a seeded
    subset), x* (``x_star`` [I]; ``xs``/``x64`` repeated per state), the readout ``W`` [k, S] (``Wc``: minus
    its mean row) and ``bias``, the embeddings ``E`` [V, I] of ``words`` (None without both)."""

    fn: Any
    fn64: Any
    X: torch.Tensor
    x_star: torch.Tensor
    xs: torch.Tensor
    x64: torch.Tensor
    W: np.ndarray
    Wc: np.ndarray
    bias: np.ndarray | None
    E: np.ndarray | None
    words: list | None

    @property
    def k(self) -> int:
        return self.W.shape[0]


def prepare(system, states, opts: Options, rng) -> Setup:
    """The inputs of a ``KClassSystem`` and the visited ``states``, checked and converted (draws the subset
    of at most ``max_states`` states from ``rng``, then puts them and x* on the step's device)."""
    from rnnlens.fixedpoints import as_step

    W = _array(system.readout)
    if W.ndim != 2 or W.shape[0] < 3:
        raise ArgumentError(
            f"analyze_kclass: readout must be a [k >= 3, S] matrix; got shape {W.shape} "
            "(binary models: use rnnlens.analyze's line-attractor analysis)"
        )
    S = W.shape[1]
    X = torch.as_tensor(states)
    X = X.reshape(-1, X.shape[-1])
    if X.shape[1] != S:
        raise ArgumentError(f"analyze_kclass: states have {X.shape[1]} numbers, the readout {S}")
    if X.shape[0] > opts.max_states:
        X = X[torch.from_numpy(np.sort(rng.choice(X.shape[0], opts.max_states, replace=False)))]
    inputs = None if system.inputs is None else torch.as_tensor(system.inputs, dtype=X.dtype)
    fn = as_step(system.step, input_size=None if inputs is None else inputs.shape[-1], state_size=S)
    if fn.input_size is None:
        raise ArgumentError("analyze_kclass: a plain callable step needs inputs= (x*, one input vector)")
    device = fn.device or X.device
    X = to_device(X, device)
    x_star = torch.zeros(fn.input_size, dtype=X.dtype) if inputs is None else inputs
    x_star = to_device(x_star, device)
    if x_star.dim() != 1 or x_star.shape[0] != fn.input_size:
        raise ArgumentError(f"analyze_kclass: inputs must be one input vector [{fn.input_size}]")
    E, words = None, None
    if system.embeddings is not None and system.words is not None:
        E, words = _array(system.embeddings), list(system.words)
        if E.shape != (len(words), fn.input_size):
            raise ArgumentError(
                f"analyze_kclass: embeddings must be [{len(words)}, {fn.input_size}] for "
                f"{len(words)} words; got {E.shape}"
            )
    xs = x_star.expand(X.shape[0], -1).clone()
    bias = None if system.readout_bias is None else _array(system.readout_bias)
    return Setup(
        fn=fn,
        fn64=fn.to(torch.float64),
        X=X,
        x_star=x_star,
        xs=xs,
        x64=xs.double(),
        W=W,
        Wc=W - W.mean(0),
        bias=bias,
        E=E,
        words=words,
    )


@dataclass(frozen=True, eq=False)
class SlowPoints:
    """The slow points ``P`` [M, S] (``P_t`` as a float64 tensor), their variance fractions ``frac``, ``mean``
    and principal directions ``Vt`` (``basis``: the top k-1)."""

    P_t: torch.Tensor
    P: np.ndarray
    frac: np.ndarray
    mean: np.ndarray
    Vt: np.ndarray
    basis: np.ndarray


def measure_slow_points(setup: Setup, opts: Options, out: KClassAnalysis) -> SlowPoints:
    """Relax the states into slow points; their speed, PCA spectrum and dimension, and the spectrum at
    several relaxation depths."""
    M, k, d = out.metrics[SECTION], setup.k, setup.k - 1
    P_t, snaps = relax(setup.fn, setup.X, setup.xs, steps=opts.relax_steps, depths=RELAX_DEPTHS)
    q = to_numpy(((setup.fn64.step(setup.x64, P_t) - P_t) ** 2).mean(1))
    P = to_numpy(P_t)
    frac, mean, Vt = pca_spectrum(P)
    slow = SlowPoints(P_t=P_t, P=P, frac=frac, mean=mean, Vt=Vt, basis=Vt[:d])
    out.slow_points, out.mean, out.basis = P, mean, slow.basis
    M["num_classes"] = metric("kclass.num_classes", k)
    M["n_slow_points"] = metric("kclass.n_slow_points", int(P.shape[0]), relax_steps=opts.relax_steps)
    M["slow_q_median"] = metric("kclass.slow_q_median", float(np.median(q)))
    M["pca_fractions"] = metric("kclass.pca_fractions", frac[:10].tolist())
    M["pca_share_top"] = metric("kclass.pca_share_top", float(frac[:d].sum()), d=d)
    M["pca_share_next"] = metric("kclass.pca_share_next", float(frac[d]) if len(frac) > d else 0.0, n=d + 1)
    M["dimension_pca"] = metric("kclass.dimension_pca", spectrum_dimension(frac, opts.share), share=opts.share)
    M["participation_ratio"] = metric("kclass.participation_ratio", participation_ratio(frac))
    M["pca_by_relax"] = metric(
        "kclass.pca_by_relax", {str(n): pca_spectrum(to_numpy(s))[0][: k + 1].tolist() for n, s in snaps.items()}
    )
    return slow


def measure_readout(setup: Setup, slow: SlowPoints, opts: Options, out: KClassAnalysis) -> np.ndarray:
    """Angles between the slow points' top k-1 PCs and the readout subspace (and Sigma Wc^T); the PCA of
    the slow points' centred logits, whose principal axes (rows) are returned."""
    M, d, Wc, basis = out.metrics[SECTION], setup.k - 1, setup.Wc, slow.basis
    U_ro = readout_subspace(setup.W)
    cov_dirs = np.cov(to_numpy(setup.X.double()), rowvar=False) @ Wc.T  # [S, k]
    U_cov = np.linalg.svd(cov_dirs.T, full_matrices=False)[2][:d]
    M["readout_angles_deg"] = metric("kclass.readout_angles_deg", principal_angles_deg(basis, U_ro), d=d)
    M["readout_cov_angles_deg"] = metric("kclass.readout_cov_angles_deg", principal_angles_deg(basis, U_cov), d=d)
    M["readout_variance_in_plane"] = metric(
        "kclass.readout_variance_in_plane", float(np.linalg.norm(Wc @ basis.T) ** 2 / np.linalg.norm(Wc) ** 2), d=d
    )
    lfrac, _, lVt = pca_spectrum(slow.P @ Wc.T)
    M["logit_fractions"] = metric("kclass.logit_fractions", lfrac[: setup.k].tolist())
    M["dimension_logit"] = metric(
        "kclass.dimension_logit", spectrum_dimension(lfrac[: setup.k], opts.share), share=opts.share
    )
    return lVt


@dataclass(frozen=True, eq=False)
class Linearized:
    """The slow points linearized (rows ``index`` of the slow points; ``lin``: the ``Linearization``), the
    |eigenvalues| at each ``absev`` [n, S] and how many reach the threshold ``counts`` [n]."""

    index: np.ndarray
    lin: Any
    absev: np.ndarray
    counts: np.ndarray


def measure_eigenvalues(setup: Setup, slow: SlowPoints, opts: Options, rng, out: KClassAnalysis) -> Linearized:
    """Linearize a seeded sample of ``n_linearize`` slow points; count their slow eigenvalues."""
    from rnnlens.linearization import linearize

    M, k = out.metrics[SECTION], setup.k
    index = np.sort(rng.choice(slow.P.shape[0], min(opts.n_linearize, slow.P.shape[0]), replace=False))
    li = torch.from_numpy(index)
    lin = linearize(setup.fn64, slow.P_t[li], setup.x64[li])
    absev = to_numpy(lin.eigvals.abs())
    counts = (absev >= opts.eig_threshold).sum(1)
    M["n_eig_slow_median"] = metric(
        "kclass.n_eig_slow_median", float(np.median(counts)), threshold=opts.eig_threshold, n=len(index)
    )
    M["n_eig_slow_counts"] = metric(
        "kclass.n_eig_slow_counts", np.bincount(counts, minlength=2 * k).tolist(), threshold=opts.eig_threshold
    )
    M["eig_abs_median"] = metric("kclass.eig_abs_median", np.median(absev[:, : 2 * k], 0).tolist(), n=2 * k)
    return Linearized(index=index, lin=lin, absev=absev, counts=counts)


def measure_fixed_points(setup: Setup, slow: SlowPoints, opts: Options, rng, out: KClassAnalysis) -> None:
    """Exact fixed points from a seeded sample of ``n_fixed_seeds`` slow points: how many converge, are
    distinct and stable, and how much of them lies in the slow points' top k-1 PCs."""
    from rnnlens.fixedpoints import find_fixed_points
    from rnnlens.linearization import linearize

    M, d, P = out.metrics[SECTION], setup.k - 1, slow.P
    seeds = slow.P_t[np.sort(rng.choice(P.shape[0], min(opts.n_fixed_seeds, P.shape[0]), replace=False))]
    fps = find_fixed_points(setup.fn64, seeds, setup.x_star.double(), tol=opts.tol)
    out.fixed_points = fps
    conv = fps[torch.from_numpy(to_numpy(fps.converged).astype(bool))]
    M["fixed_points_n_converged"] = metric(
        "kclass.fixed_points_n_converged", int(len(conv)), tol=opts.tol, n=len(seeds)
    )
    if not len(conv):
        out.missing.append({"what": "kclass fixed points", "why": f"no slow point converged to q < {opts.tol:g}"})
        return
    uniq = conv.unique()
    ulin = linearize(
        setup.fn64, uniq.points.double(), setup.x_star.double().expand(len(uniq), -1).clone(), vectors=False
    )
    unstable = to_numpy(ulin.n_unstable)
    off = to_numpy(uniq.points.double()) - slow.mean
    inside = np.linalg.norm(off @ slow.basis.T) ** 2 / max(np.linalg.norm(off) ** 2, 1e-300)
    M["fixed_points_n_unique"] = metric("kclass.fixed_points_n_unique", int(len(uniq)))
    M["fixed_points_n_stable"] = metric("kclass.fixed_points_n_stable", int((unstable == 0).sum()))
    M["fixed_points_in_subspace"] = metric("kclass.fixed_points_in_subspace", float(inside), d=d)
    out.arrays["kc_fp_pc"] = (off @ slow.Vt[:3].T).astype(np.float32)
    out.arrays["kc_fp_unstable"] = unstable.astype(np.int64)


def measure_evidence(setup: Setup, slow: SlowPoints, linear: Linearized, out: KClassAnalysis) -> dict | None:
    """The words' evidence vectors, averaged over the linearized slow points, where the embeddings and
    words are known: returns {word: row of the embeddings} (None without them)."""
    M, d, Wc = out.metrics[SECTION], setup.k - 1, setup.Wc
    projectors, used = slow_projectors(linear.lin, d)
    J_inp = to_numpy(linear.lin.J_inp)
    n = len(linear.index)
    A_man = np.mean([slow.basis @ projectors[p] @ J_inp[p] for p in range(n)], axis=0)  # [d, I]
    A_log = np.mean([Wc @ projectors[p] @ J_inp[p] for p in range(n)], axis=0)  # [k, I]
    M["n_slow_modes_used"] = metric("kclass.n_slow_modes_used", float(np.median(used)), d=d)
    if setup.E is None:
        return None
    out.words = list(setup.words)
    out.evidence = setup.E @ A_man.T
    out.class_evidence = setup.E @ A_log.T
    return {w: i for i, w in enumerate(setup.words)}


def figure_arrays(setup: Setup, slow: SlowPoints, linear: Linearized, rng, out: KClassAnalysis) -> None:
    """The report's arrays: a seeded sample of at most 2000 slow points in their top 3 PCs with the class the
    readout predicts there, the readout rows, the spectrum and the linearized points' eigenvalues."""
    a, P, mean, top3, k = out.arrays, slow.P, slow.mean, slow.Vt[:3].T, setup.k
    show = np.sort(rng.choice(P.shape[0], min(2000, P.shape[0]), replace=False))
    a["kc_slow_pc"] = ((P[show] - mean) @ top3).astype(np.float32)
    logits = P[show] @ setup.W.T
    a["kc_slow_class"] = (logits if setup.bias is None else logits + setup.bias).argmax(1).astype(np.int64)
    a["kc_readout_pc"] = (setup.Wc @ top3).astype(np.float32)
    a["kc_pca_fractions"] = slow.frac[:10]
    a["kc_lin_pc"] = ((P[linear.index] - mean) @ top3).astype(np.float32)
    a["kc_eig_count"] = linear.counts.astype(np.int64)
    a["kc_eig_abs"] = linear.absev[:, : 2 * k].astype(np.float32)
