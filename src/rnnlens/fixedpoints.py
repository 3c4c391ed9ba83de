"""Fixed points and slow points of a recurrent step ``h' = F(x, h)``.

Two definitions of the residual size are used in the literature; both are kept:

* ``q = (1/S) ||F(x, h) - h||^2``: the paper's (Maheswaranathan et al. 2019), S = state size.
  Every ``tol`` in rnnlens is on this q, per point.
* ``q_half = 0.5 ||F(x, h) - h||^2``: FixedPointFinder's (Golub & Sussillo 2018).

:func:`find_fixed_points` runs a solver object (``LM()``, ``Newton()``, ``Adam()``, or its name
``"lm"``, ``"newton"``, ``"adam"``; see :mod:`rnnlens.solvers`) from many seeds, driving it with one
loop; each point stops at the first iterate with ``q < tol``.
With the paper's ``tol = 1e-8`` the points found trace the slow manifold (a line attractor's
line); with a tolerance near zero (``tol=1e-20, refine=True``) they collapse onto the few exact
fixed points. :class:`FixedPoints` holds the result; :func:`sample_seeds` draws seeds from the states
a model visits.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlens._atomic import atomic_file
from rnnlens._types import PathLike, StepLike, TensorLike
from rnnlens.constants import PAPER_TOL
from rnnlens.errors import ArgumentError
from rnnlens.solvers import (
    AUTO,
    LM,
    SOLVERS,
    Adam,
    Newton,
    Solver,
    SolveResult,
    make_solver,
    residual,
)
from rnnlens.solvers.common import residual_gradient, residual_jacobian
from rnnlens.steps import StepFunction, as_float_tensor, as_step, check_finite

__all__ = [
    "as_step",
    "StepFunction",
    "find_fixed_points",
    "find_fixed_points_at",
    "FixedPoints",
    "sample_seeds",
    "SOLVERS",
    "LM",
    "Newton",
    "Adam",
]

FORMAT = "rnnlens-fixed-points"
FORMAT_VERSION = 1
_TENSOR_FIELDS = ("points", "inputs", "seeds", "q", "iterations", "converged", "slow", "grad_norm", "diverged")


@dataclass
class FixedPoints:
    """Fixed points (and slow points) found from P seeds; every tensor has P rows.

    Fields:
        points ``[P, S]``; inputs ``[P, I]`` (the constant input x* of each point); seeds ``[P, S]``;
        q ``[P]``: the paper's ``(1/S) ||F(x, h) - h||^2`` at the point;
        iterations ``[P]`` (int64): solver iterations used by that point;
        converged ``[P]`` (bool): ``q < tol``; slow ``[P]`` (bool): the solver stalled at a minimum of
        q above tol (a slow point); diverged ``[P]`` (bool): the iterate left the finite numbers or
        the linear system was singular (the last finite iterate is kept);
        grad_norm ``[P]``: ``||dq/dh|| = (2/S) ||(dF/dh - I)^T (F(x, h) - h)||``;
        tol: the tolerance on q; solver: its name; info: settings, timings, optional history.
    Properties: ``q_half`` (``0.5 ||F(x, h) - h||^2`` = ``q * S / 2``), ``distance`` (``||point - seed||``).
    """

    points: Tensor
    inputs: Tensor
    seeds: Tensor
    q: Tensor
    iterations: Tensor
    converged: Tensor
    slow: Tensor
    grad_norm: Tensor
    diverged: Tensor
    tol: float = float("nan")
    solver: str = ""
    info: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def state_size(self) -> int:
        return int(self.points.shape[1])

    @property
    def q_half(self) -> Tensor:
        """FixedPointFinder's ``0.5 ||F(x, h) - h||^2`` (= ``q * S / 2``)."""
        return self.q * (self.state_size / 2.0)

    @property
    def distance(self) -> Tensor:
        """Euclidean distance of each point from its seed, ``||point - seed||``."""
        return (self.points - self.seeds).norm(dim=1)

    def seed_spread(self) -> float:
        """RMS distance of the seeds from their centroid, ``sqrt(mean ||seed - mean(seeds)||^2)``."""
        s = self.seeds.double()
        return float((s - s.mean(0)).square().sum(1).mean().sqrt()) if len(self) else 0.0

    def _tensors(self) -> dict[str, Tensor]:
        return {k: getattr(self, k) for k in _TENSOR_FIELDS}

    def __getitem__(self, index) -> FixedPoints:
        """Select points by an int, a slice, a list / tensor of indices or a boolean mask."""
        if isinstance(index, int):
            if not -len(self) <= index < len(self):
                raise ArgumentError(f"FixedPoints index {index} out of range for {len(self)} points.")
            index = [index % len(self)]
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        if isinstance(index, Tensor) and index.dtype == torch.bool and index.shape != (len(self),):
            raise ArgumentError(f"FixedPoints: boolean mask of shape {tuple(index.shape)}; expected [{len(self)}].")
        if isinstance(index, (list, tuple)):
            index = torch.as_tensor(index, dtype=torch.int64)
        if isinstance(index, Tensor):
            index = index.to(self.points.device)
        parts = {k: v[index] for k, v in self._tensors().items()}
        return FixedPoints(**parts, tol=self.tol, solver=self.solver, info=self.info)

    def where_q(self, threshold: float) -> FixedPoints:
        """The points with ``q < threshold`` (the paper keeps q < 1e-8)."""
        return self[self.q < threshold]

    # ------------------------------------------------------------------ filtering
    def unique(self, rel_tol: float = 0.01, *, abs_tol: float | None = None) -> FixedPoints:
        """De-duplicate: points closer than a tolerance form a group; keep the lowest-q point of each.

        The tolerance is ``rel_tol * seed_spread()`` (relative to the spread of the seeds, so it scales
        with the region the network visits) unless ``abs_tol`` is given. Greedy in order of increasing
        q: the best remaining point claims every unclaimed point within the tolerance. On a continuous
        attractor, any tolerance picks a spacing along it: the kept points are a subsample, not
        "the" fixed points (use a tolerance near zero with :func:`find_fixed_points` for those).
        """
        from sklearn.neighbors import NearestNeighbors

        if abs_tol is None:
            if not rel_tol >= 0:
                raise ArgumentError(f"unique: rel_tol must be >= 0, got {rel_tol!r}.")
            radius = rel_tol * self.seed_spread()
        else:
            if not abs_tol >= 0:
                raise ArgumentError(f"unique: abs_tol must be >= 0, got {abs_tol!r}.")
            radius = float(abs_tol)
        if len(self) <= 1:
            return self[torch.arange(len(self))]
        order = torch.argsort(self.q.cpu(), stable=True).numpy()
        pts = self.points.detach().cpu().double().numpy()[order]
        neigh = NearestNeighbors(radius=radius).fit(pts).radius_neighbors(pts, return_distance=False)
        claimed = np.zeros(len(pts), dtype=bool)
        keep = []
        for i in range(len(pts)):
            if not claimed[i]:
                keep.append(order[i])
                claimed[neigh[i]] = True
        return self[torch.as_tensor(sorted(keep), dtype=torch.int64)]

    def drop_outliers(self, factor: float = 10.0) -> FixedPoints:
        """Drop points farther than ``factor * seed_spread()`` from the centroid of the seeds.

        Points that travelled out of the region the network visits (where gates saturate) are
        not the network's dynamics; FixedPointFinder filters the same way.
        """
        if not factor > 0:
            raise ArgumentError(f"drop_outliers: factor must be > 0, got {factor!r}.")
        if len(self) == 0:
            return self
        centre = self.seeds.mean(0)
        return self[(self.points - centre).norm(dim=1) <= factor * self.seed_spread()]

    @classmethod
    def concat(cls, parts: list[FixedPoints]) -> FixedPoints:
        """Concatenate several results (same state and input size) into one."""
        parts = list(parts)
        if not parts or not all(isinstance(p, FixedPoints) for p in parts):
            raise ArgumentError("FixedPoints.concat needs a non-empty list of FixedPoints.")
        shapes = {(p.points.shape[1], p.inputs.shape[1]) for p in parts}
        if len(shapes) > 1:
            raise ArgumentError(f"FixedPoints.concat: parts differ in (state size, input size): {sorted(shapes)}.")
        tols = {p.tol for p in parts}
        tol = parts[0].tol if len(tols) == 1 else float("nan")
        solvers = sorted({p.solver for p in parts})
        tensors = {k: torch.cat([getattr(p, k) for p in parts]) for k in _TENSOR_FIELDS}
        return cls(**tensors, tol=tol, solver="+".join(solvers), info={"parts": [p.info for p in parts]})

    # ------------------------------------------------------------------ I/O
    def save(self, path: PathLike, *, run_id: str | None = None) -> Path:
        """Write one safetensors file (tensors + JSON metadata) through a temporary name and a rename.

        ``run_id``: stored in the metadata (``rnnlens_run_id``) so a reader can tell that the file
        belongs with the other files of one saved analysis. The file gets the usual permissions
        (``0o666 & ~umask``; see :mod:`rnnlens._atomic`)."""
        from safetensors.torch import save_file

        path = Path(path)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "tol": self.tol,
            "solver": self.solver,
            "info": self.info,
        }
        try:
            text = json.dumps(meta)
        except TypeError as exc:
            raise ArgumentError(f"FixedPoints.save: info is not JSON-serializable ({exc}).") from exc
        tensors = {k: v.detach().cpu().contiguous() for k, v in self._tensors().items()}
        metadata = {"rnnlens": text, **({"rnnlens_run_id": run_id} if run_id else {})}
        with atomic_file(path) as tmp:
            save_file(tensors, str(tmp), metadata=metadata)
        return path

    @classmethod
    def load(cls, path: PathLike) -> FixedPoints:
        """Read a file written by :meth:`save` (safetensors + JSON; nothing is unpickled).

        Args:
            path: the ``.safetensors`` file (an analysis folder's ``fixed_points.safetensors``).

        Returns:
            The :class:`FixedPoints` as saved: its tensors, ``tol``, ``solver`` and ``info``.

        Raises:
            ArgumentError: no such file, a damaged or unreadable file, a file that is not an rnnlens fixed-points
                file, another format version, or missing tensors.
        """
        from safetensors import SafetensorError, safe_open

        path = Path(path)
        if not path.is_file():
            raise ArgumentError(f"{path}: no such file; pass a file written by FixedPoints.save.")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads((f.metadata() or {}).get("rnnlens", "null"))
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except (SafetensorError, OSError, ValueError) as exc:
            raise ArgumentError(
                f"{path}: not a readable safetensors file ({exc}); the file is damaged. Find "
                "the fixed points again (rerun `rnnlens analyze CHECKPOINT -o DIR` for an "
                "analysis folder)."
            ) from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ArgumentError(f"{path}: not an rnnlens fixed-points file (no '{FORMAT}' metadata).")
        if meta.get("format_version") != FORMAT_VERSION:
            raise ArgumentError(
                f"{path}: fixed-points format version {meta.get('format_version')!r}; this "
                f"rnnlens reads version {FORMAT_VERSION}. Find the fixed points again."
            )
        missing = [k for k in _TENSOR_FIELDS if k not in tensors]
        if missing:
            raise ArgumentError(f"{path}: tensors {missing} missing; the file is damaged. Find the fixed points again.")
        return cls(
            **{k: tensors[k] for k in _TENSOR_FIELDS}, tol=meta["tol"], solver=meta["solver"], info=meta.get("info", {})
        )

    # ------------------------------------------------------------------ report
    def summary(self) -> str:
        """A readable multi-line summary (counts, q quantiles with their definition, distances)."""
        P = len(self)
        lines = [
            f"FixedPoints: {P} points, state size {self.state_size}, solver {self.solver!r}, "
            f"tol {self.tol:.3g} on q = (1/S)||F(x,h)-h||^2"
        ]
        if P == 0:
            return lines[0]
        n_conv, n_slow, n_div = int(self.converged.sum()), int(self.slow.sum()), int(self.diverged.sum())
        n_other = P - n_conv - n_slow - n_div
        lines.append(
            f"  converged {n_conv} ({100 * n_conv / P:.1f}%), slow points {n_slow} "
            f"({100 * n_slow / P:.1f}%), diverged {n_div}, stopped at max_iter {n_other}"
        )

        def quant(t):
            t = t.double().cpu()
            t = t[torch.isfinite(t)]
            if t.numel() == 0:
                return "n/a"
            v = torch.quantile(t, torch.tensor([0.0, 0.5, 1.0], dtype=t.dtype)).tolist()
            return f"min {v[0]:.3g}, median {v[1]:.3g}, max {v[2]:.3g}"

        lines.append(f"  q = (1/S)||F(x,h)-h||^2: {quant(self.q)}")
        lines.append(f"  q_half = 0.5||F(x,h)-h||^2: {quant(self.q_half)}")
        lines.append(f"  |grad q|: {quant(self.grad_norm)}")
        lines.append(
            f"  distance ||point - seed||: {quant(self.distance)} (seed spread, RMS radius: {self.seed_spread():.3g})"
        )
        lines.append(f"  iterations: {quant(self.iterations.double())}")
        if "seconds" in self.info:
            lines.append(f"  wall time {self.info['seconds']:.3g} s")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"FixedPoints(n={len(self)}, state_size={self.state_size}, converged={int(self.converged.sum())}, "
            f"slow={int(self.slow.sum())}, solver={self.solver!r}, tol={self.tol:.3g})"
        )


def _grad_norms(step: StepFunction, x: Tensor, h: Tensor, chunk: int) -> Tensor:
    """``(2/S) ||(dF/dh - I)^T r||`` for every point, in chunks."""
    out = []
    S = h.shape[1]
    for i in range(0, h.shape[0], chunk):
        xs, hs = x[i : i + chunk], h[i : i + chunk]
        r, _ = residual(step, xs, hs)
        J = residual_jacobian(step, xs, hs)  # dF/dh - I, the identity taken off in place
        g = residual_gradient(J, r).norm(dim=1) * (2.0 / S)  # J^T r as the row vector r^T J
        out.append(torch.where(torch.isfinite(g), g, torch.full_like(g, float("inf"))))
    return torch.cat(out)


def _auto_chunk(S: int, dtype: torch.dtype, budget_bytes: float = 2**30) -> int:
    """Points per chunk so that the solver's ~3 ``[chunk, S, S]`` matrices fit in ``budget_bytes``."""
    return max(1, int(budget_bytes // (3 * S * S * torch.finfo(dtype).bits // 8)))


# ---------------------------------------------------------------------- main entry point
def find_fixed_points(
    step: StepLike,
    seeds: TensorLike,
    inputs: TensorLike | None = None,
    *,
    solver: str | Solver = AUTO,
    tol: float = PAPER_TOL,
    max_iter: int | None = None,
    refine: bool = False,
    refine_iter: int = 50,
    chunk_size: int | None = None,
    record_history: bool = False,
    jacobian_mode: str = "auto",
    **options,
) -> FixedPoints:
    """Find fixed points (and slow points) of ``h' = F(x, h)`` from ``seeds``.

    Args:
        step: an rnnlens cell, a torch ``nn.RNN``/``nn.GRU``/``nn.LSTM`` (any ``num_layers``, one direction;
            the state is every layer's state layer by layer, an LSTM layer's ``[h, c]``:
            :func:`rnnlens.stacked.state_layout`) or a differentiable callable ``F(x, h) -> h'`` (see
            :func:`as_step`).
        seeds: ``[P, S]`` starting states (e.g. from :func:`sample_seeds`).
        inputs: None (zero input), ``[I]`` / ``[1, I]`` (one input for all), or ``[P, I]`` (one per seed).
        solver: a solver object, :class:`~rnnlens.solvers.LM` (Levenberg-Marquardt),
            :class:`~rnnlens.solvers.Newton` (undamped), :class:`~rnnlens.solvers.Adam` or
            :class:`~rnnlens.solvers.Closed` (no iterations: the slow point nearest each seed in closed form,
            for the elementwise-linear cells of :mod:`rnnlens.cells.diagonal`), carrying its options
            (``LM(damping=1e-2)``); or its name ``"lm"``, ``"newton"``, ``"adam"``, ``"closed"`` with the options
            as keyword arguments (``solver="lm", damping=1e-2``: the same solver); or ``"auto"`` (the default):
            ``"closed"`` where the step allows it and no option of another solver is given, else ``"lm"``.
        tol: per point, on the paper's ``q = (1/S) ||F(x, h) - h||^2``: a point stops at the first
            iterate with ``q < tol``. (FixedPointFinder's ``q_half < t`` is ``tol = 2 t / S``.)
        max_iter: per point; None keeps the solver's own (LM 200, Newton 50, Adam 5000).
        refine: continue the points that did not converge with LM in float64 (on a float64 copy of
            the module; the user's module is not changed), up to ``refine_iter`` more iterations
            (with the options of an LM solver, LM's defaults after another solver).
            Needed for tolerances below float32's reach (about 1e-14 on q).
        chunk_size: points per solver batch (LM / Newton hold a few ``[chunk, S, S]`` matrices);
            default: as many as fit in about 1 GiB. Adam always takes every point in one batch.
        record_history: keep per-iteration (seconds, median q, max q, active points) in
            ``info["history"]``.
        jacobian_mode: ``torch.func`` Jacobians of callables and torch modules: "auto", "fwd", "rev".
        **options: with a solver name, its options (the fields of its class). lm: ``damping``,
            ``patience``, ``progress_rtol``, ``grad_rtol``, ``chord``; adam: ``lr``, ``decay``,
            ``plateau_patience``, ``stop`` ("point", "all", "mean"), ``betas``, ``eps``.

    Returns:
        :class:`FixedPoints`, in the order of the seeds.

    Raises:
        ArgumentError: an unknown solver or solver option, ``tol`` not a positive finite number, a bad
            ``refine_iter``, ``chunk_size`` or ``jacobian_mode``, a step that is not one of the kinds above
            (a bidirectional module, an ``nn.*Cell``), seeds or inputs of the wrong shape or dtype or holding
            NaN/inf, a step that fails or returns NaN/inf on them, or (``refine=True``) a step that cannot
            run in float64.
    """
    t_start = time.perf_counter()
    fn, solver, h0, x, chunk = _setup(
        step, seeds, inputs, solver, tol, max_iter, refine_iter, chunk_size, jacobian_mode, options
    )
    return _solve(
        fn,
        solver,
        h0,
        x,
        float(tol),
        chunk=chunk,
        refine=refine,
        refine_iter=refine_iter,
        record_history=record_history,
        t_start=t_start,
        grad_chunk=chunk_size,
    )[0]


def find_fixed_points_at(
    step: StepLike,
    seeds: TensorLike,
    inputs: TensorLike | None = None,
    *,
    tols: list[float] | tuple[float, ...],
    **kwargs,
) -> dict[float, FixedPoints]:
    """:func:`find_fixed_points` from the same seeds at several tolerances ``tols``, as if run once per tolerance.

    With the LM solver (the default) and ``refine=False`` one search runs, at the tightest tolerance, and each
    looser tolerance's result is read off its iterates: a point's first iterate with ``q < t`` is where a search
    at ``t`` stops (LM's steps, damping and slow-point rules do not depend on the tolerance), and a point that
    never gets under ``t`` ends as it ends in the tightest search (slow, diverged or out of iterations). The
    numbers are those of separate searches up to the rounding of the batched products over a different set of
    active points. Other solvers, or ``refine=True``: one search per tolerance. ``kwargs`` are
    :func:`find_fixed_points`'s (not ``tol``). Returns ``{t: FixedPoints}`` for every ``t`` in ``tols``.
    """
    if "tol" in kwargs:
        raise ArgumentError("find_fixed_points_at takes tols (a list of tolerances), not tol.")
    if isinstance(tols, (str, bytes)) or not hasattr(tols, "__iter__") or not list(tols):
        raise ArgumentError(f"tols must be a non-empty list of tolerances, got {tols!r}.")
    order = sorted({float(_checked_tol(t)) for t in tols})
    solver = make_solver(
        kwargs.get("solver", AUTO),
        step=as_step(step, jacobian_mode=kwargs.get("jacobian_mode", "auto")),
        **{k: v for k, v in kwargs.items() if k not in _SEARCH_ARGS},
    )
    if not isinstance(solver, LM) or kwargs.get("refine", False):
        return {t: find_fixed_points(step, seeds, inputs, tol=t, **kwargs) for t in order}
    t_start = time.perf_counter()
    fn, solver, h0, x, chunk = _setup(
        step,
        seeds,
        inputs,
        solver,
        order[0],
        kwargs.get("max_iter"),
        kwargs.get("refine_iter", 50),
        kwargs.get("chunk_size"),
        kwargs.get("jacobian_mode", "auto"),
        {},
    )
    found = _solve(
        fn,
        solver,
        h0,
        x,
        order[0],
        chunk=chunk,
        refine=False,
        refine_iter=0,
        record_history=bool(kwargs.get("record_history", False)),
        t_start=t_start,
        grad_chunk=kwargs.get("chunk_size"),
        snapshots=tuple(order[1:]),
    )
    return dict(zip(order, found))


# find_fixed_points' own keyword arguments (the rest are the solver's options)
_SEARCH_ARGS = ("solver", "max_iter", "refine", "refine_iter", "chunk_size", "record_history", "jacobian_mode")


def _checked_tol(tol):
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (tol > 0 and math.isfinite(tol)):
        raise ArgumentError(f"tol must be a positive number (on q = (1/S)||F(x,h)-h||^2), got {tol!r}.")
    return tol


def _setup(step, seeds, inputs, solver, tol, max_iter, refine_iter, chunk_size, jacobian_mode, options):
    """The checks and set-up of a search: ``(step function, solver, seeds h0, inputs x, chunk)``."""
    fn = as_step(step, jacobian_mode=jacobian_mode)
    solver = make_solver(solver, step=fn, **options)
    _checked_tol(tol)
    if max_iter is not None:
        solver = replace(solver, max_iter=max_iter)
    if isinstance(refine_iter, bool) or not isinstance(refine_iter, int) or refine_iter < 0:
        raise ArgumentError(f"refine_iter must be an integer >= 0, got {refine_iter!r}.")
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ArgumentError(f"chunk_size must be a positive integer or None, got {chunk_size!r}.")
    fn.check_parameters()
    h0, x = fn.prepare(seeds, inputs)
    P, S = h0.shape
    return fn, solver, h0, x, P if solver.batch_coupled else (chunk_size or _auto_chunk(S, h0.dtype))


def _iterate(solver: Solver, fn: StepFunction, x: Tensor, h0: Tensor, tol: float, on_iteration=None) -> SolveResult:
    """The one loop that drives every solver (see :mod:`rnnlens.solvers.base`) over one batch.

    ``on_iteration(progress)`` is called after ``init`` (iteration 0) and after every step.
    """
    state = solver.init(fn, x, h0, tol)
    if on_iteration is not None:
        on_iteration(state.progress)
    while state.progress.iteration < solver.max_iter and not solver.terminate(state):
        state = solver.step(state)
        if on_iteration is not None:
            on_iteration(state.progress)
    return state.progress.result()


def _snapshot_recorder(snaps: list[dict], tols: tuple[float, ...], offset: int):
    """``on_iteration`` for :func:`_iterate` that keeps, for each tolerance ``tols[k]`` in ``snaps[k]``, the first
    iterate of each point (row ``offset + i`` of the search) with q under it (see :func:`find_fixed_points_at`)."""

    def record(progress) -> None:
        for t, snap in zip(tols, snaps):
            new = (progress.q < t) & ~snap["taken"][offset : offset + len(progress.q)]
            if bool(new.any()):
                rows = new.nonzero().squeeze(1)
                for k in ("points", "q", "iterations"):
                    snap[k][offset + rows] = getattr(progress, k)[rows]
                snap["taken"][offset + rows] = True

    return record


def _snapshot_results(cat: dict, snaps: list[dict]) -> list[dict]:
    """The outcome of a search at each snapshot tolerance: a point's first iterate under it (converged), or the
    point as the tightest search left it (slow, diverged or out of iterations: it never got under)."""
    out = []
    for snap in snaps:
        taken = snap["taken"]
        res = {
            k: torch.where(taken.view(-1, *[1] * (v.dim() - 1)), snap[k], v) if k in snap else v.clone()
            for k, v in cat.items()
        }
        res["converged"] = cat["converged"] | taken
        res["slow"], res["diverged"] = cat["slow"] & ~taken, cat["diverged"] & ~taken
        out.append(res)
    return out


def _compose(*callbacks):
    """One ``on_iteration`` calling each of ``callbacks`` that is not None (None when there are none)."""
    live = [c for c in callbacks if c is not None]
    if not live:
        return None
    return live[0] if len(live) == 1 else (lambda progress: [c(progress) for c in live])


def _history_recorder(rows: list, chunk: int, t_start: float):
    """``on_iteration`` for :func:`_iterate`: one row per iteration (seconds since ``t_start``, median
    and max q over the batch's points, points still active)."""

    def record(progress) -> None:
        rows.append(
            {
                "iteration": progress.iteration,
                "seconds": time.perf_counter() - t_start,
                "q_median": float(progress.q.median()),
                "q_max": float(progress.q.max()),
                "n_active": int(progress.active.numel()),
                "chunk": chunk,
            }
        )

    return record


# No autograd graph through the iterations: a user's module has parameters that require grad, so the graph
# would chain across iterations and the points would come back attached to it. The Adam solver turns
# gradients on for its own q; torch.func Jacobians ignore an outer no_grad.
@torch.no_grad()
def _solve(
    fn: StepFunction,
    solver: Solver,
    h0: Tensor,
    x: Tensor,
    tol: float,
    *,
    chunk: int,
    refine: bool,
    refine_iter: int,
    record_history: bool,
    t_start: float,
    grad_chunk: int | None,
    snapshots: tuple[float, ...] = (),
) -> list[FixedPoints]:
    """The search at ``tol`` and, read off its iterates, at each looser tolerance of ``snapshots``."""
    results: list[Any] = []
    history: list[Any] = []
    snaps = [
        {
            "points": h0.clone(),
            "q": torch.empty(h0.shape[0], dtype=h0.dtype, device=h0.device),
            "iterations": torch.zeros(h0.shape[0], dtype=torch.int64, device=h0.device),
            "taken": torch.zeros(h0.shape[0], dtype=torch.bool, device=h0.device),
        }
        for _ in snapshots
    ]
    for c, i in enumerate(range(0, h0.shape[0], chunk)):
        recorder = _compose(
            _history_recorder(history, c, t_start) if record_history else None,
            _snapshot_recorder(snaps, snapshots, i) if snapshots else None,
        )
        results.append(_iterate(solver, fn, x[i : i + chunk], h0[i : i + chunk], tol, recorder))
    cat = {
        k: torch.cat([getattr(r, k) for r in results])
        for k in ("points", "q", "iterations", "converged", "slow", "diverged")
    }
    looser = _snapshot_results(cat, snaps)  # before refine (which changes cat) runs on the tightest
    found = [
        _finish(
            fn,
            solver,
            h0,
            x,
            tol,
            cat,
            chunk=chunk,
            refine=refine,
            refine_iter=refine_iter,
            history=history if record_history else None,
            t_start=t_start,
            grad_chunk=grad_chunk,
        )
    ]
    for t, res in zip(snapshots, looser):
        found.append(
            _finish(
                fn,
                solver,
                h0,
                x,
                t,
                res,
                chunk=chunk,
                refine=False,
                refine_iter=0,
                history=None,
                t_start=t_start,
                grad_chunk=grad_chunk,
            )
        )
    return found


def _finish(
    fn: StepFunction,
    solver: Solver,
    h0: Tensor,
    x: Tensor,
    tol: float,
    cat: dict,
    *,
    chunk: int,
    refine: bool,
    refine_iter: int,
    history: list | None,
    t_start: float,
    grad_chunk: int | None,
) -> FixedPoints:
    """The :class:`FixedPoints` of a search's outcome ``cat`` (refined in float64 first with ``refine``)."""
    S = h0.shape[1]
    final_step = fn
    if refine:
        final_step = fn.to(torch.float64)
        for k in ("points", "q"):
            cat[k] = cat[k].to(torch.float64)
        x = x.to(torch.float64)
        todo = ~cat["converged"] & ~cat["diverged"]
        if todo.any():
            rows = todo.nonzero().squeeze(1)
            refiner = replace(solver if isinstance(solver, LM) else LM(), max_iter=refine_iter)
            try:
                res = _iterate(refiner, final_step, x[rows], cat["points"][rows], tol)
            except ArgumentError:
                raise
            except RuntimeError as exc:
                raise ArgumentError(
                    f"refine=True needs a step that runs in float64 (an nn.Module is copied "
                    f"to float64; a plain callable must accept float64 tensors): {exc}"
                ) from exc
            cat["points"][rows], cat["q"][rows] = res.points, res.q
            cat["iterations"][rows] += res.iterations
            cat["converged"][rows], cat["slow"][rows] = res.converged, res.slow
    grad = _grad_norms(final_step, x, cat["points"], grad_chunk or _auto_chunk(S, cat["points"].dtype))
    info = {
        "solver_options": solver.options(),
        "max_iter": solver.max_iter,
        "refine": refine,
        "refine_iter": refine_iter if refine else 0,
        "chunk_size": chunk,
        "step": repr(fn),
        "seconds": time.perf_counter() - t_start,
    }
    timings = fn.jacobian_timings
    if timings:
        info["jacobian_timings_s_per_point"] = {str(k): v for k, v in timings.items()}
    if history is not None:
        info["history"] = history
    out_dtype = cat["points"].dtype
    return FixedPoints(
        points=cat["points"],
        inputs=x.to(out_dtype),
        seeds=h0.to(out_dtype),
        q=cat["q"],
        iterations=cat["iterations"],
        converged=cat["converged"],
        slow=cat["slow"],
        grad_norm=grad.to(out_dtype),
        diverged=cat["diverged"],
        tol=tol,
        solver=solver.name,
        info=info,
    )


# ---------------------------------------------------------------------- seeds
def sample_seeds(
    states: TensorLike,
    lengths: TensorLike | None = None,
    n: int = 1000,
    *,
    noise: float = 0.0,
    seed: int = 0,
    replace: bool = False,
) -> Tensor:
    """Sample ``n`` seeds ``[n, S]`` from the states a model visited.

    Args:
        states: ``[B, T, S]`` (e.g. ``SentimentRNN.states(ids, lengths)``) or ``[M, S]``.
        lengths: ``[B]`` valid lengths (with 3-D states): only time steps ``t < lengths[b]`` are drawn.
        n: number of seeds; more than the valid states needs ``replace=True`` (otherwise an error).
        noise: standard deviation of Gaussian noise added to each seed (0: none).
        seed: random seed (the draw is deterministic given it).
        replace: draw with replacement (the same state may be drawn more than once); False draws distinct states.

    Returns:
        The seeds, ``[n, S]``, a copy with the dtype and on the device of ``states``.

    Raises:
        ArgumentError: ``n`` not a positive integer, ``noise`` negative or not finite, ``states`` not
            floating-point, not 2-D or 3-D, holding NaN/inf or with no valid state, ``lengths`` of the wrong
            shape, dtype or range (or given with 2-D states), or ``n`` above the valid states without ``replace``.
    """
    states = as_float_tensor(states, "states")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ArgumentError(f"sample_seeds: n must be a positive integer, got {n!r}.")
    if not (isinstance(noise, (int, float)) and noise >= 0 and math.isfinite(noise)):
        raise ArgumentError(f"sample_seeds: noise must be a finite number >= 0, got {noise!r}.")
    if states.dim() == 3:
        B, T, S = states.shape
        if lengths is None:
            flat = states.reshape(B * T, S)
        else:
            lengths = torch.as_tensor(lengths)
            if lengths.shape != (B,) or lengths.dtype.is_floating_point:
                raise ArgumentError(
                    f"sample_seeds: lengths must be an integer tensor of shape [{B}], got shape "
                    f"{tuple(lengths.shape)} dtype {lengths.dtype}."
                )
            if B and (int(lengths.min()) < 1 or int(lengths.max()) > T):
                raise ArgumentError(
                    f"sample_seeds: lengths must lie in [1, {T}], got values from "
                    f"{int(lengths.min())} to {int(lengths.max())}."
                )
            valid = torch.arange(T).unsqueeze(0) < lengths.cpu().unsqueeze(1)
            flat = states[valid.to(states.device)]
    elif states.dim() == 2:
        if lengths is not None:
            raise ArgumentError("sample_seeds: lengths only applies to states of shape [B, T, S].")
        flat = states
    else:
        raise ArgumentError(f"sample_seeds: states must have shape [B, T, S] or [M, S], got {tuple(states.shape)}.")
    check_finite(flat, "sample_seeds: states")
    M = flat.shape[0]
    if M == 0:
        raise ArgumentError("sample_seeds: there are no valid states to sample from.")
    gen = torch.Generator().manual_seed(int(seed))
    if n > M and not replace:
        raise ArgumentError(
            f"sample_seeds: n={n} seeds asked from only {M} valid states; lower n, pass more "
            "documents, or pass replace=True (then add noise to tell repeats apart)."
        )
    idx = torch.randint(M, (n,), generator=gen) if replace else torch.randperm(M, generator=gen)[:n]
    out = flat[idx.to(flat.device)].clone()
    if noise > 0:
        out += noise * torch.randn(out.shape, generator=gen, dtype=out.dtype).to(out.device)
    return out
