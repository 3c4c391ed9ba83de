"""Undamped Newton on the residual ``r(h) = F(x, h) - h``: the :class:`Newton` solver (for comparison with LM).

Every step ``h <- h - J^-1 r`` (``J = dF/dh - I``) is taken. A point leaves the batch the first
time its ``q = (1/S) ||r||^2`` is below ``tol`` (converged), or when its linear system is singular
or its next iterate is not finite (diverged; its last finite iterate is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from rnnlens._types import StepLike
from rnnlens.solvers.base import Solver
from rnnlens.solvers.common import ActiveState, lu_solve, residual, start

__all__ = ["Newton"]


@dataclass
class NewtonState(ActiveState):
    """The points still active (see ActiveState) and the identity ``eye`` ``[S, S]``."""

    eye: Tensor


@dataclass(frozen=True, kw_only=True)
class Newton(Solver):
    """Undamped Newton; its only option is ``max_iter`` (most iterations per point).

    Args:
        max_iter: most iterations per point (an integer >= 0).

    Raises:
        ArgumentError: ``max_iter`` not an integer >= 0.
    """

    name = "newton"

    max_iter: int = 50

    def init(self, step: StepLike, x: Tensor, h0: Tensor, tol: float) -> NewtonState:
        progress, x, h, r, q = start(step, x, h0, tol=tol)
        eye = torch.eye(h0.shape[1], dtype=h.dtype, device=h.device)
        return NewtonState(step=step, tol=tol, progress=progress, x=x, h=h, r=r, q=q, eye=eye)

    def terminate(self, state: NewtonState) -> bool:
        return len(state.h) == 0

    def step(self, state: NewtonState) -> NewtonState:
        s = state
        x, h, r, q = s.x, s.h, s.r, s.q
        J = s.step.jacobian_rec(x, h) - s.eye
        d, info = lu_solve(J, -r)
        h_new = h + d
        r_new, q_new = residual(s.step, x, h_new)
        bad = (info != 0) | ~torch.isfinite(q_new) | ~torch.isfinite(h_new).all(1)
        a = (~bad).unsqueeze(1)
        h, r, q = torch.where(a, h_new, h), torch.where(a, r_new, r), torch.where(bad, q, q_new)
        s.progress.iteration += 1
        s.progress.store(h, q)
        conv = ~bad & (q < s.tol)
        done = conv | bad
        if done.any():
            keep = s.progress.retire(done, converged=conv, diverged=bad)
            h, r, q, x = h[keep], r[keep], q[keep], x[keep]
        return replace(s, x=x, h=h, r=r, q=q)
