"""Second-order solvers on the residual ``r(h) = F(x, h) - h``: Levenberg-Marquardt and Newton.

Both work on a batch of points with per-point state; a point leaves the batch the first time its
``q = (1/S) ||r||^2`` is below ``tol`` (converged), when it is identified as a slow point (LM), or
when its iterate is not finite / its linear system is singular (Newton: diverged).

Levenberg-Marquardt (Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems",
2004, algorithm 3.16): step ``d = -(JᵀJ + mu I)^-1 Jᵀr`` with ``J = dF/dh - I``; the gain ratio
``rho`` = actual / predicted decrease of ``0.5 ||r||^2`` accepts the step when positive and updates
each point's own damping ``mu`` (``mu *= max(1/3, 1 - (2 rho - 1)^3)`` on acceptance, ``mu *= nu;
nu *= 2`` on rejection). A rejected point keeps its ``JᵀJ`` and ``Jᵀr``: only points that moved get
new Jacobians. Near-singular ``J`` (a line attractor, where an eigenvalue of dF/dh is 1) is
harmless: the damping keeps the system positive definite.

Slow points (a minimum of q that is not a zero of r) are recognised and retired, not iterated to
``max_iter``, when either
* the gradient is small relative to the residual: ``||Jᵀr|| <= grad_rtol * ||r||``, or
* no progress: for ``patience`` iterations in a row, q fell by less than ``progress_rtol`` (relative)
  while the damping did not shrink (steps rejected, or accepted with a poor gain ratio
  rho <= 0.5). Iterations that shrink the damping are the solver heading for a Gauss-Newton step
  and do not count.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlens.solvers.common import SolveResult, lu_solve, residual, start

__all__ = ["solve_lm", "solve_newton"]


def _normal_equations(step, x, h, r):
    """``A = JᵀJ`` ``[B, S, S]`` and ``g = Jᵀr`` ``[B, S]`` with ``J = dF/dh - I``."""
    J = step.jacobian_rec(x, h)
    J = J - torch.eye(J.shape[-1], dtype=J.dtype, device=J.device)
    Jt = J.transpose(1, 2)
    return Jt @ J, (Jt @ r.unsqueeze(-1)).squeeze(-1)


def solve_lm(step, x: Tensor, h0: Tensor, *, tol: float, max_iter: int = 200, damping: float = 1e-3,
             patience: int = 10, progress_rtol: float = 1e-3, grad_rtol: float = 1e-7,
             history: bool = False, t0: float | None = None) -> SolveResult:
    """Batched Levenberg-Marquardt with per-point damping, stopping and slow-point detection.

    Args:
        step: a :class:`~rnnlens.solvers.step.StepFunction`.
        x: inputs ``[B, I]``; h0: starting points ``[B, S]`` (finite).
        tol: a point stops at the first iterate with ``q = (1/S)||F(x,h) - h||^2 < tol``.
        max_iter: most iterations per point (one iteration = one trial step).
        damping: initial ``mu`` relative to the largest diagonal entry of ``JᵀJ`` (tau in MNT).
        patience, progress_rtol, grad_rtol: slow-point rules (see the module docstring).
        history: record (seconds, median q, ...) after every iteration.
    """
    S = h0.shape[1]
    tr, x, h, r, q = start(step, x, h0, tol=tol, history=history, t0=t0)
    A, g = _normal_equations(step, x, h, r) if len(h) else (h.new_zeros(0, S, S), h.new_zeros(0, S))
    eye = torch.eye(S, dtype=h.dtype, device=h.device)
    diag_max = A.diagonal(dim1=1, dim2=2).amax(1) if len(h) else q
    mu = damping * torch.clamp(diag_max, min=torch.finfo(h.dtype).tiny ** 0.5)
    nu = torch.full_like(mu, 2.0)
    stall = torch.zeros(len(h), dtype=torch.int64, device=h.device)
    tr.record(0)
    for it in range(1, max_iter + 1):
        if len(h) == 0:
            break
        chol, info = torch.linalg.cholesky_ex(A + mu[:, None, None] * eye)
        d = -torch.cholesky_solve(g.unsqueeze(-1), chol).squeeze(-1)
        ok = (info == 0) & torch.isfinite(d).all(1)
        d = torch.where(ok.unsqueeze(1), d, torch.zeros_like(d))
        h_new = h + d
        r_new, q_new = residual(step, x, h_new)
        predicted = 0.5 * (d * (mu.unsqueeze(1) * d - g)).sum(1)
        actual = 0.5 * S * (q - q_new)
        rho = actual / torch.where(predicted > 0, predicted, torch.ones_like(predicted))
        accept = ok & torch.isfinite(q_new) & (actual > 0) & (predicted > 0)
        shrink = torch.clamp(1 - (2 * rho - 1) ** 3, min=1.0 / 3.0)
        mu = torch.where(accept, mu * shrink, torch.clamp(mu * nu, max=1e30))
        nu = torch.where(accept, torch.full_like(nu, 2.0), torch.clamp(nu * 2, max=1e10))
        rel = torch.where(accept, (q - q_new) / q, torch.zeros_like(q))
        progressed = rel >= progress_rtol
        stuck = ~progressed & ~(accept & (rho > 0.5))
        stall = torch.where(progressed, torch.zeros_like(stall), stall + stuck.long())
        a = accept.unsqueeze(1)
        h, r, q = torch.where(a, h_new, h), torch.where(a, r_new, r), torch.where(accept, q_new, q)
        tr.update(h, q, it)
        conv = accept & (q < tol)
        moved = accept & ~conv
        if moved.any():
            A[moved], g[moved] = _normal_equations(step, x[moved], h[moved], r[moved])
        flat = g.norm(dim=1) <= grad_rtol * r.norm(dim=1)
        slow = ~conv & ((stall >= patience) | flat)
        done = conv | slow
        if done.any():
            keep = tr.finish(done, converged=conv, slow=slow)
            h, r, q, x, A, g = h[keep], r[keep], q[keep], x[keep], A[keep], g[keep]
            mu, nu, stall = mu[keep], nu[keep], stall[keep]
        tr.record(it)
    return tr.result()


def solve_newton(step, x: Tensor, h0: Tensor, *, tol: float, max_iter: int = 50, history: bool = False,
                 t0: float | None = None) -> SolveResult:
    """Undamped Newton on ``r(h) = 0``: ``h <- h - J^-1 r`` (for comparison with LM).

    Every step is taken. A point whose linear system is singular or whose next iterate is not
    finite is retired as diverged (keeping its last finite iterate); a point under ``tol`` stops.
    """
    S = h0.shape[1]
    tr, x, h, r, q = start(step, x, h0, tol=tol, history=history, t0=t0)
    eye = torch.eye(S, dtype=h.dtype, device=h.device)
    tr.record(0)
    for it in range(1, max_iter + 1):
        if len(h) == 0:
            break
        J = step.jacobian_rec(x, h) - eye
        d, info = lu_solve(J, -r)
        h_new = h + d
        r_new, q_new = residual(step, x, h_new)
        bad = (info != 0) | ~torch.isfinite(q_new) | ~torch.isfinite(h_new).all(1)
        a = (~bad).unsqueeze(1)
        h, r, q = torch.where(a, h_new, h), torch.where(a, r_new, r), torch.where(bad, q, q_new)
        tr.update(h, q, it)
        conv = ~bad & (q < tol)
        done = conv | bad
        if done.any():
            keep = tr.finish(done, converged=conv, diverged=bad)
            h, r, q, x = h[keep], r[keep], q[keep], x[keep]
        tr.record(it)
    return tr.result()
