"""The slow point nearest each seed in closed form: the :class:`Closed` solver, for steps elementwise linear in
the state at a fixed input (the cells of :mod:`rnnlens.cells.diagonal`: minGRU, minLSTM, LRU, S6).

There ``F(x, h) - h = (a - 1)(z - z*)`` per mode, so no iteration is needed: each point is the state nearest its
seed with ``q = (1/S) ||F(x, h) - h||^2`` at ``tol`` (:meth:`rnnlens.cells.DiagonalCell.nearest_slow_points`),
which is where a damped Newton path from the seed crosses ``tol`` (aimed at ``0.999 tol``, and lower for a point
whose q, as the step itself computes it in its dtype, still rounds to ``tol`` or above). A seed already under
``tol`` stays where it is (as every solver stops at its first iterate under ``tol``); with ``tol`` near 0 the
points are the exact fixed point. The q reported is the step's own, evaluated at the point.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlens._types import StepLike
from rnnlens.errors import ArgumentError
from rnnlens.solvers.base import Solver
from rnnlens.solvers.common import Progress, residual

__all__ = ["Closed", "closed_form_cell"]

_RETRIES = 8


def closed_form_cell(step):
    """The cell (given as it is, or behind a StepFunction) when its update is elementwise linear in the state (it
    has ``nearest_slow_points``), else None."""
    cell = step if hasattr(step, "nearest_slow_points") else getattr(step, "module", None)
    return cell if cell is not None and hasattr(cell, "nearest_slow_points") else None


@dataclass
class ClosedState:
    """The finished points (the solver takes no iterations)."""

    progress: Progress


@dataclass(frozen=True, kw_only=True)
class Closed(Solver):
    """No iterations: each point is the slow point nearest its seed, in closed form (see the module docstring).

    Args:
        max_iter: accepted for a common interface (the analysis passes it to every solver); not used.

    Raises:
        ArgumentError: ``max_iter`` not an integer >= 0; at ``init``, a step that is not elementwise linear in the
            state.
    """

    name = "closed"

    max_iter: int = 1

    def init(self, step: StepLike, x: Tensor, h0: Tensor, tol: float) -> ClosedState:
        cell = closed_form_cell(step)
        if cell is None:
            raise ArgumentError(
                "solver 'closed' needs a step whose update is elementwise linear in the state (an rnnlens minGRU, "
                "minLSTM, LRU or S6 cell); use solver 'lm' for any other step."
            )
        x = x.to(h0.dtype)
        target = torch.full((h0.shape[0],), tol * (1 - 1e-3), dtype=torch.float64, device=h0.device)
        points, reached = cell.nearest_slow_points(x, h0, target)
        _, q = residual(step, x, points)
        for _ in range(_RETRIES):  # the step's own rounding can lift q above tol: aim lower for those points
            redo = reached & (q >= tol)
            if not bool(redo.any()):
                break
            target = torch.where(redo, target / 4, target)
            points[redo] = cell.nearest_slow_points(x[redo], h0[redo], target[redo])[0]
            q[redo] = residual(step, x[redo], points[redo])[1]
        progress = Progress.start(points, q)
        progress.converged[:] = reached & (q < tol)
        progress.iterations[:] = (points != h0).any(1).long()
        progress.active = progress.active[:0]
        progress.iteration = 1
        return ClosedState(progress)

    def terminate(self, state: ClosedState) -> bool:
        return True

    def step(self, state: ClosedState) -> ClosedState:  # pragma: no cover - never called (terminate is True)
        return state
