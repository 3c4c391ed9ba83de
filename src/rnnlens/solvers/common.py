"""Pieces shared by the fixed-point solvers: residuals, per-point bookkeeping (:class:`Progress`),
and batched linear solves that work around a torch CPU bug."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "residual",
    "residual_jacobian",
    "residual_gradient",
    "SolveResult",
    "Progress",
    "ActiveState",
    "start",
    "lu_solve",
    "inverse_ex",
]


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
    """Per-point outcome of one solver run (all tensors have B rows, in the order of the seeds)."""

    points: Tensor
    q: Tensor
    iterations: Tensor
    converged: Tensor
    slow: Tensor
    diverged: Tensor


@dataclass
class Progress(SolveResult):
    """The outputs of B points while a solver works on them; part of every solver state.

    Every tensor has B rows in the order of the seeds and always holds the latest iterate:
    ``points``, its ``q``, the ``iterations`` it took, the flags ``converged`` / ``slow`` /
    ``diverged`` (as in :class:`SolveResult`); ``active``: the rows still being iterated;
    ``iteration``: iterations run so far (0 after ``init``). The shared loop reads ``iteration``,
    ``q`` and ``active`` (for ``max_iter`` and the history); the solver that owns the state writes
    it through :meth:`store` and :meth:`retire` (or, for a solver that keeps every point in the
    batch, sets ``active`` and the flags directly).
    """

    active: Tensor
    iteration: int = 0

    @classmethod
    def start(cls, h0: Tensor, q0: Tensor) -> Progress:
        """Every point at its seed ``h0`` with ``q0``, active, no flags set."""
        B = h0.shape[0]
        flags = torch.zeros(B, dtype=torch.bool, device=h0.device)
        return cls(
            points=h0.clone(),
            q=q0.clone(),
            iterations=torch.zeros(B, dtype=torch.int64, device=h0.device),
            converged=flags,
            slow=torch.zeros_like(flags),
            diverged=torch.zeros_like(flags),
            active=torch.arange(B, device=h0.device),
        )

    def store(self, h: Tensor, q: Tensor, rows: Tensor | None = None) -> None:
        """Write the current iterate ``h``, ``q`` (and ``iteration``) of ``rows`` (default: the active rows)."""
        rows = self.active if rows is None else rows
        self.points[rows] = h
        self.q[rows] = q
        self.iterations[rows] = self.iteration

    def retire(self, done: Tensor, *, converged=None, slow=None, diverged=None) -> Tensor:
        """Retire the active points selected by ``done`` (a mask over the active points) with their
        flags (masks of the same length); returns the keep-mask of the points that stay active."""
        rows = self.active[done]
        for flags, value in ((self.converged, converged), (self.slow, slow), (self.diverged, diverged)):
            if value is not None:
                flags[rows] = value[done]
        keep = ~done
        self.active = self.active[keep]
        return keep

    def result(self) -> SolveResult:
        return SolveResult(self.points, self.q, self.iterations, self.converged, self.slow, self.diverged)


@dataclass
class ActiveState:
    """What the second-order solvers keep of the points still active (rows): their inputs ``x``,
    iterates ``h``, residuals ``r`` and ``q``; with the step, the tolerance and the :class:`Progress`."""

    step: Any
    tol: float
    progress: Progress
    x: Tensor
    h: Tensor
    r: Tensor
    q: Tensor


def start(step, x: Tensor, h0: Tensor, *, tol: float):
    """Evaluate the seeds, retire those already under ``tol`` (0 iterations, converged) and those
    whose q is not finite (0 iterations, diverged: no step can be measured against an infinite q).

    Returns ``(progress, x, h, r, q)`` with x, h, r, q restricted to the points still active.
    """
    h = h0.clone()
    r, q = residual(step, x, h)
    progress = Progress.start(h, q)
    under = q < tol
    finite = torch.isfinite(q)
    active = ~under & finite
    progress.retire(~active, converged=under, diverged=~finite)
    return progress, x[active], h[active], r[active], q[active]


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


def inverse_ex(A: Tensor) -> tuple[Tensor, Tensor]:
    """``(A^-1, info)`` for a batch ``A [B, n, n]`` without raising (one matrix at a time on the CPU for
    large n, see above): ``info[b] > 0`` where ``A[b]`` is singular (its inverse is then not usable)."""
    if A.is_cuda or A.shape[-1] <= _CPU_BATCHED_LU_MAX or A.shape[0] == 0:
        return torch.linalg.inv_ex(A)
    parts = [torch.linalg.inv_ex(a) for a in A]
    return torch.stack([p[0] for p in parts]), torch.stack([p[1] for p in parts])
