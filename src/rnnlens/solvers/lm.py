"""Levenberg-Marquardt on the residual ``r(h) = F(x, h) - h``: the :class:`LM` solver (the default).

It works on a batch of points with per-point state; a point leaves the batch the first time its
``q = (1/S) ||r||^2`` is below ``tol`` (converged) or when it is identified as a slow point.

Levenberg-Marquardt (Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems",
2004, algorithm 3.16): step ``d = -(JᵀJ + mu I)^-1 Jᵀr`` with ``J = dF/dh - I``; the gain ratio
``rho`` = actual / predicted decrease of ``0.5 ||r||^2`` accepts the step when positive and updates
each point's own damping ``mu`` (``mu *= max(1/3, 1 - (2 rho - 1)^3)`` on acceptance, ``mu *= nu;
nu *= 2`` on rejection). The initial ``mu`` is ``damping`` (1e-3) times the largest diagonal entry of
``JᵀJ``: near a line attractor ``JᵀJ`` has a tiny eigenvalue and much smaller damping lets the first
steps slide points along the line to far-away exact fixed points (measured: with 1e-4 a trained
synthetic-language GRU's points no longer lie on one line). Near-singular ``J`` is otherwise harmless:
the damping keeps the system positive definite.

Chord steps (simplified Newton): the Cholesky factorization of ``JᵀJ + mu I`` (JᵀJ + Cholesky cost
about 3x the closed-form Jacobian) is kept for the next step while the point's steps keep paying: an
accepted step that cut q by at least the factor ``chord`` (0.5) with ``rho > 0.5`` is followed by a
step with the same ``J``, factor and ``mu`` and the new residual (``g = J_oldᵀ r``; two triangular
solves). Any other outcome refreshes: an accepted step gets a new Jacobian at the new point; a
rejected step after chord steps gets a new Jacobian at the same point; a rejected step
on a fresh Jacobian refactors with a larger ``mu``. The damping updates of the chord steps are
carried into the next factorization. ``chord=0`` is plain LM (a new Jacobian after every accepted
step). Only points that refresh pay for Jacobians and factorizations.

The factorization is most of the cost. On the CPU each matrix goes to BLAS ``syrk`` (``JᵀJ``
straight into the factor's memory) and LAPACK ``potrf`` in place, one call each per point: measured
1.5-2x faster than batched ``Jᵀ @ J`` plus ``torch.linalg.cholesky_ex`` on one thread at S = 128, 1,000
points (``potrf`` alone 2-3x: torch's batched Cholesky copies each matrix into a column-major buffer
and back); on other devices
the batched torch calls. The two give the same factor up to rounding.

Slow points (a minimum of q that is not a zero of r) are recognised and retired, not iterated to
``max_iter``, when either
* the gradient is small relative to the residual: ``||Jᵀr|| <= grad_rtol * ||r||`` (checked only
  with a Jacobian taken at the current point), or
* no progress: for ``patience`` iterations in a row, q fell by less than ``progress_rtol`` (relative)
  while the damping did not shrink (steps rejected, or accepted with a poor gain ratio
  rho <= 0.5). Iterations that shrink the damping are the solver heading for a Gauss-Newton step
  and do not count.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor

from rnnlens._types import StepLike
from rnnlens.solvers.base import Solver, check_option
from rnnlens.solvers.common import (
    ActiveState,
    residual,
    residual_gradient,
    residual_jacobian,
    start,
)

__all__ = ["LM"]


_CPU_LAPACK = True  # False: the batched torch path on the CPU too (benchmarks/fixed_points.py compares the two)
_HOST = torch.device("cpu")  # the host's memory itself: BLAS/LAPACK on numpy views (any other device: torch)


def _factor(J, mu=None, damping=None):
    """Upper Cholesky factor ``U`` of ``JᵀJ + mu I = UᵀU``, LAPACK's info (0 = positive definite) and mu.

    With ``mu=None`` the damping starts at ``damping`` times the largest diagonal entry of ``JᵀJ``.
    On the CPU (float32 / float64) each matrix goes to BLAS ``syrk`` and LAPACK ``potrf`` in place
    (:func:`_factor_cpu`); elsewhere batched torch (``Jᵀ @ J``, ``cholesky_ex``).
    """
    if mu is None:
        diag_max = torch.linalg.vector_norm(J, dim=1).amax(1).square() if J.shape[0] else J.new_zeros(0)
        mu = damping * torch.clamp(diag_max, min=torch.finfo(J.dtype).tiny ** 0.5)
    if _CPU_LAPACK and J.device == _HOST and J.dtype in (torch.float32, torch.float64) and not J.requires_grad:
        U, info = _factor_cpu(J, mu)
        return U, info, mu
    A = J.transpose(1, 2) @ J
    A.diagonal(dim1=1, dim2=2).add_(mu.unsqueeze(1))
    U, info = torch.linalg.cholesky_ex(A, upper=True)
    return U, info, mu


def _factor_cpu(J, mu):
    """:func:`_factor` on the CPU, one matrix at a time: ``syrk`` writes ``JᵀJ`` straight into the
    output, ``potrf`` factors it there (no batch copies); see the module docstring for the timings.
    Same factor up to rounding.

    A row-major ``[S, S]`` block seen as a Fortran array is its transpose, so the lower factor ``L``
    that ``potrf`` leaves in the Fortran view is ``U = Lᵀ`` in the row-major tensor.
    """
    from scipy.linalg import blas, lapack

    single = J.dtype == torch.float32
    syrk, potrf = (blas.ssyrk, lapack.spotrf) if single else (blas.dsyrk, lapack.dpotrf)
    Jn = J.detach().contiguous().numpy()
    U = torch.empty_like(J, memory_format=torch.contiguous_format)
    Un = U.numpy()
    info = torch.zeros(J.shape[0], dtype=torch.int32)
    mus = mu.tolist()
    S = J.shape[-1]
    for b in range(J.shape[0]):
        out = Un[b].T  # Fortran-contiguous view of row b of U
        syrk(1.0, Jn[b].T, beta=0.0, c=out, trans=0, lower=1, overwrite_c=1)  # lower triangle of JᵀJ
        Un[b].reshape(-1)[:: S + 1] += mus[b]  # the diagonal (a view: row b is C-contiguous)
        c, inf = potrf(out, lower=1, clean=1, overwrite_a=1)
        if c is not out and not (c.ctypes.data == out.ctypes.data):
            Un[b] = c.T
        info[b] = inf
    return U, info


def _cholesky_solve(U, b):
    """``(UᵀU)^-1 b`` for ``b [B, S]`` by two triangular solves (3x faster than torch.cholesky_solve
    on one CPU thread, measured at B = 1000, S = 128)."""
    y = torch.linalg.solve_triangular(U.transpose(1, 2), b.unsqueeze(-1), upper=False)
    return torch.linalg.solve_triangular(U, y, upper=True).squeeze(-1)


def _relax(step, x, h0, n):
    """``n`` steps of the network's own dynamics ``h <- F(x, h)`` from ``h0``; a point keeps the iterate
    with the smallest q seen (so a seed already under ``tol``, or one that the dynamics push away,
    never gets worse)."""
    if n <= 0 or len(h0) == 0:
        return h0
    h = h0
    best, (_, best_q) = h0.clone(), residual(step, x, h0)
    for _ in range(n):
        h = step.step(x, h)
        _, q = residual(step, x, h)
        better = q < best_q
        best = torch.where(better.unsqueeze(1), h, best)
        best_q = torch.where(better, q, best_q)
    return best


def _put(t, mask, value):
    """``t`` with rows ``mask`` replaced by ``value`` (no copy when every row is replaced)."""
    if bool(mask.all()):
        return value
    t[mask] = value
    return t


def _compact(t, idx):
    """``t[idx]`` for increasing row indices ``idx``, written over the front rows of ``t`` itself (a view of
    them is returned): the rows move block by block (each block gathered before it is written; a block's
    sources are never in front of its destinations, so later sources are untouched), with temporaries of
    at most 8 MB. Retiring points then costs no fresh ``[B, S, S]`` allocation: on the CPU a new buffer
    of that size is page-faulted in at every call (measured 0.13 s for 1,000 x 128 x 128 float32, ten
    times the copy itself)."""
    n = len(idx)
    if n == t.shape[0]:
        return t
    row_bytes = max(1, t[0].numel() * t.element_size()) if t.shape[0] else 1
    block = max(1, (8 << 20) // row_bytes)
    for k in range(0, n, block):
        src = idx[k : k + block]
        t[k : k + len(src)] = t[src]
    return t[:n]


@dataclass
class LMState(ActiveState):
    """The points still active (rows of every tensor below) and their per-point LM state.

    x, h, r, q: inputs, iterates, residuals, q (see ActiveState); J: ``dF/dh - I`` (possibly from an earlier iterate,
    see chord steps); U, info: Cholesky factor of ``JᵀJ + mu I`` and LAPACK's info; g: ``Jᵀr``;
    mu: the damping of U; mu_next: the damping of the next factorization; nu: its growth factor;
    stall: iterations in a row without progress; fresh: J was taken at the current h.
    """

    J: Tensor
    U: Tensor
    info: Tensor
    g: Tensor
    mu: Tensor
    mu_next: Tensor
    nu: Tensor
    stall: Tensor
    fresh: Tensor


@dataclass(frozen=True, kw_only=True)
class LM(Solver):
    """Batched Levenberg-Marquardt with per-point damping, chord steps, stopping and slow-point detection.

    Args (the options; see the module docstring):
        max_iter: most iterations per point (one iteration = one trial step).
        damping: initial ``mu`` relative to the largest diagonal entry of ``JᵀJ`` (tau in MNT).
        patience: a point stops as a slow point after this many iterations in a row in which q fell by less
            than ``progress_rtol``.
        progress_rtol: the relative fall of q that counts as progress.
        grad_rtol: a point stops as a slow point when ``||Jᵀr|| <= grad_rtol * ||r||`` (a minimum of q that
            is not a zero).
        chord: a point keeps its Jacobian and factorization for the next step while each accepted
            step multiplies its q by at most ``chord`` (0 turns chord steps off: plain LM).
        relax: steps of the network's own dynamics ``h <- F(x, h)`` run from every seed before the
            first Jacobian (a warm start: modes that decay fast are gone in a few steps); each point
            starts from the iterate with the smallest q. 0 (default): start at the seeds. Faster on a
            trained IMDB GRU-128 (fewer iterations) but it changes what is found: seeds near an
            unstable fixed point (a saddle) are carried away from it first, so saddles are missed
            (the flip-flop test's saddle at 0 is not found with relax=10).

    Raises:
        ArgumentError: an option out of its range (``max_iter`` and ``relax`` integers >= 0, ``patience`` an
            integer >= 1, ``damping`` > 0, ``progress_rtol`` and ``grad_rtol`` >= 0, ``chord`` in [0, 1]).
    """

    name = "lm"

    max_iter: int = 200
    damping: float = 1e-3
    patience: int = 10
    progress_rtol: float = 1e-3
    grad_rtol: float = 1e-7
    chord: float = 0.5
    relax: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_option("LM", "damping", self.damping, low=0, low_open=True)
        check_option("LM", "patience", self.patience, integer=True, low=1)
        check_option("LM", "progress_rtol", self.progress_rtol, low=0)
        check_option("LM", "grad_rtol", self.grad_rtol, low=0)
        check_option("LM", "chord", self.chord, low=0, high=1)
        check_option("LM", "relax", self.relax, integer=True, low=0)

    def init(self, step: StepLike, x: Tensor, h0: Tensor, tol: float) -> LMState:
        S = h0.shape[1]
        h0 = _relax(step, x, h0, self.relax)
        progress, x, h, r, q = start(step, x, h0, tol=tol)
        J = residual_jacobian(step, x, h) if len(h) else h.new_zeros(0, S, S)
        U, info, mu = _factor(J, damping=self.damping)
        return LMState(
            step=step,
            tol=tol,
            progress=progress,
            x=x,
            h=h,
            r=r,
            q=q,
            J=J,
            U=U,
            info=info,
            g=residual_gradient(J, r),
            mu=mu,
            mu_next=mu.clone(),
            nu=torch.full_like(mu, 2.0),
            stall=torch.zeros(len(h), dtype=torch.int64, device=h.device),
            fresh=torch.ones(len(h), dtype=torch.bool, device=h.device),
        )

    def terminate(self, state: LMState) -> bool:
        return len(state.h) == 0

    def step(self, state: LMState) -> LMState:
        step, tol, s = state.step, state.tol, state
        x, h, r, q, J, U, info, g, mu = s.x, s.h, s.r, s.q, s.J, s.U, s.info, s.g, s.mu
        mu_next, nu, stall, fresh = s.mu_next, s.nu, s.stall, s.fresh
        S = h.shape[1]
        d = -_cholesky_solve(U, g)
        ok = (info == 0) & torch.isfinite(d).all(1)
        d = torch.where(ok.unsqueeze(1), d, torch.zeros_like(d))
        h_new = h + d
        r_new, q_new = residual(step, x, h_new)
        predicted = 0.5 * (d * (mu.unsqueeze(1) * d - g)).sum(1)
        actual = 0.5 * S * (q - q_new)
        rho = actual / torch.where(predicted > 0, predicted, torch.ones_like(predicted))
        accept = ok & torch.isfinite(q_new) & (actual > 0) & (predicted > 0)
        rel = torch.where(accept, (q - q_new) / q, torch.zeros_like(q))
        # chord: a step that cut q at least by the factor `chord` keeps J, its factor and mu
        keep_j = accept & (rel >= 1 - self.chord) & (rho > 0.5)
        lm = ~keep_j & (accept | fresh)  # an ordinary LM update of mu; J is new or recomputed from J
        shrink = torch.clamp(1 - (2 * rho - 1) ** 3, min=1.0 / 3.0)
        mu_next = torch.where(accept, mu_next * shrink, torch.where(lm, torch.clamp(mu_next * nu, max=1e30), mu_next))
        nu = torch.where(accept, torch.full_like(nu, 2.0), torch.where(lm, torch.clamp(nu * 2, max=1e10), nu))
        progressed = rel >= self.progress_rtol
        stuck = ~progressed & ~(accept & (rho > 0.5))
        stall = torch.where(progressed, torch.zeros_like(stall), stall + stuck.long())
        a = accept.unsqueeze(1)
        h, r, q = torch.where(a, h_new, h), torch.where(a, r_new, r), torch.where(accept, q_new, q)
        s.progress.iteration += 1
        s.progress.store(h, q)
        conv = accept & (q < tol)
        # a new Jacobian where the point moved without a chord step, or a rejected step came from an old J
        new_j = ~conv & ~keep_j & (accept | ~fresh)
        if new_j.any():
            J = _put(J, new_j, residual_jacobian(step, x[new_j], h[new_j]))
        refactor = ~conv & ~keep_j
        if refactor.any():
            mu = torch.where(refactor, mu_next, mu)
            Uf, inf, _ = _factor(J[refactor] if not bool(refactor.all()) else J, mu[refactor])
            U, info = _put(U, refactor, Uf), _put(info, refactor, inf)
        g = torch.where(conv.unsqueeze(1), g, residual_gradient(J, r))
        fresh = (fresh & ~accept) | new_j
        flat = fresh & (g.norm(dim=1) <= self.grad_rtol * r.norm(dim=1))
        stopped = ~conv & ((stall >= self.patience) | flat)
        # a point stuck at a non-finite q is no minimum of q: it diverged, it is not a slow point
        diverged = stopped & ~torch.isfinite(q)
        slow = stopped & ~diverged
        done = conv | stopped
        if done.any():
            keep = s.progress.retire(done, converged=conv, slow=slow, diverged=diverged)
            rows = keep.nonzero().squeeze(1)
            J, U = _compact(J, rows), _compact(U, rows)
            h, r, q, x, g, info = h[keep], r[keep], q[keep], x[keep], g[keep], info[keep]
            mu, mu_next, nu, stall, fresh = mu[keep], mu_next[keep], nu[keep], stall[keep], fresh[keep]
        return replace(
            s, x=x, h=h, r=r, q=q, J=J, U=U, info=info, g=g, mu=mu, mu_next=mu_next, nu=nu, stall=stall, fresh=fresh
        )
