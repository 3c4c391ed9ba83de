"""Pieces shared by the fixed-point solvers: residuals, per-point bookkeeping, progress history."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor

__all__ = ["residual", "residual_jacobian", "residual_gradient", "SolveResult", "Tracker", "start", "lu_solve",
           "inverse"]


def residual(step, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """``r = F(x, h) - h`` ``[B, S]`` and ``q = (1/S) ||r||^2`` ``[B]`` (inf where r is not finite)."""
    r = step.step(x, h) - h
    q = r.square().mean(1)
    return r, torch.where(torch.isfinite(q), q, torch.full_like(q, float("inf")))


def residual_jacobian(step, x, h) -> Tensor:
    """``J = dF/dh - I`` ``[B, S, S]`` (the identity is taken off in place when the Jacobian is a fresh tensor)."""
    J = step.jacobian_rec(x, h)
    if J._base is not None or not J.is_contiguous() or J.requires_grad:
        J = J.clone()
    J.diagonal(dim1=1, dim2=2).sub_(1.0)
    return J


def residual_gradient(J: Tensor, r: Tensor) -> Tensor:
    """``Jᵀr`` ``[B, S]`` (as the row vector ``rᵀJ``: 4x faster than ``Jᵀ @ r`` on the CPU)."""
    return (r.unsqueeze(1) @ J).squeeze(1)


@dataclass
class SolveResult:
    """Per-point outcome of one solver call (all tensors have B rows, in the order of the seeds)."""

    points: Tensor
    q: Tensor
    iterations: Tensor
    converged: Tensor
    slow: Tensor
    diverged: Tensor
    history: list = field(default_factory=list)


class Tracker:
    """Holds the outputs of B points while the solver works on the still-active ones.

    ``finish(mask, ...)`` writes the active points selected by ``mask`` to the outputs and returns
    the mask of points that stay active; ``record`` appends a history row (seconds since ``t0``,
    iteration, median and max q over all B points, number still active).
    """

    def __init__(self, h0: Tensor, q0: Tensor, *, history: bool, t0: float | None = None):
        B = h0.shape[0]
        self.points = h0.clone()
        self.q = q0.clone()
        self.iterations = torch.zeros(B, dtype=torch.int64, device=h0.device)
        self.converged = torch.zeros(B, dtype=torch.bool, device=h0.device)
        self.slow = torch.zeros_like(self.converged)
        self.diverged = torch.zeros_like(self.converged)
        self.index = torch.arange(B, device=h0.device)  # original rows of the active points
        self.history = [] if history else None
        self.t0 = time.perf_counter() if t0 is None else t0

    def update(self, h: Tensor, q: Tensor, iteration: int) -> None:
        """Store the current iterate of every active point (so the outputs are always current)."""
        self.points[self.index] = h
        self.q[self.index] = q
        self.iterations[self.index] = iteration

    def finish(self, done: Tensor, *, converged=None, slow=None, diverged=None) -> Tensor:
        """Retire the active points in ``done`` with their flags; returns the keep-mask of the rest."""
        rows = self.index[done]
        for flags, value in ((self.converged, converged), (self.slow, slow), (self.diverged, diverged)):
            if value is not None:
                flags[rows] = value[done]
        keep = ~done
        self.index = self.index[keep]
        return keep

    def record(self, iteration: int) -> None:
        if self.history is not None:
            q = self.q
            self.history.append({
                "iteration": iteration,
                "seconds": time.perf_counter() - self.t0,
                "q_median": float(q.median()),
                "q_max": float(q.max()),
                "n_active": int(self.index.numel()),
            })

    def result(self) -> SolveResult:
        return SolveResult(self.points, self.q, self.iterations, self.converged, self.slow, self.diverged,
                           self.history or [])


def start(step, x: Tensor, h0: Tensor, *, tol: float, history: bool, t0: float | None):
    """Evaluate the seeds, retire those already under ``tol`` (0 iterations, converged).

    Returns ``(tracker, x, h, r, q)`` with x, h, r, q restricted to the points still active.
    """
    h = h0.clone()
    r, q = residual(step, x, h)
    tr = Tracker(h, q, history=history, t0=t0)
    active = q >= tol
    tr.finish(~active, converged=torch.ones_like(active))
    return tr, x[active], h[active], r[active], q[active]


# torch 2.13's CPU build fails on batched LU (linalg.solve / solve_ex / inv) for matrices of about
# 200 x 200 and larger ("Intel oneMKL ERROR: Parameter 6 was incorrect on entry to DLASWP", then a
# RuntimeError); one matrix at a time works. Batched Cholesky is not affected.
_CPU_BATCHED_LU_MAX = 128


def lu_solve(A: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """``x = A^-1 b`` for batches ``A [B, n, n]``, ``b [B, n]``; returns ``(x, info)`` like solve_ex."""
    if A.is_cuda or A.shape[-1] <= _CPU_BATCHED_LU_MAX:
        return torch.linalg.solve_ex(A, b)
    parts = [torch.linalg.solve_ex(a, v) for a, v in zip(A, b)]
    if not parts:
        return b.clone(), torch.zeros(0, dtype=torch.int32, device=b.device)
    return torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])


def inverse(A: Tensor) -> Tensor:
    """``A^-1`` for a batch ``A [B, n, n]`` (one matrix at a time on the CPU for large n, see above)."""
    if A.is_cuda or A.shape[-1] <= _CPU_BATCHED_LU_MAX or A.shape[0] == 0:
        return torch.linalg.inv(A)
    return torch.stack([torch.linalg.inv(a) for a in A])
