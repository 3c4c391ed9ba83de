"""Gradient descent on q with Adam: the method of FixedPointFinder (Golub & Sussillo 2018) and renn.

The loss is the mean over points of ``q_half = 0.5 ||F(x, h) - h||^2`` (FixedPointFinder's); Adam
(``torch.optim.Adam``) moves every point; the learning rate is multiplied by ``decay`` when the loss
has not improved for ``plateau_patience`` iterations (``torch.optim.lr_scheduler.ReduceLROnPlateau``).

Stopping rule (``stop``):
* ``"point"`` (default): each point is frozen at the first iterate with ``q < tol``;
* ``"all"``: run until every point has ``q < tol`` (FixedPointFinder), all points keep moving;
* ``"mean"``: run until the mean q is under ``tol`` (renn) - single points may stop unconverged.
Adam does not identify slow points (``slow`` is all False).
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlens.errors import ArgumentError
from rnnlens.solvers.common import SolveResult, Tracker

__all__ = ["solve_adam"]

STOP_RULES = ("point", "all", "mean")


def solve_adam(step, x: Tensor, h0: Tensor, *, tol: float, max_iter: int = 5000, lr: float = 1.0,
               decay: float = 0.95, plateau_patience: int = 5, stop: str = "point",
               betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
               history: bool = False, t0: float | None = None) -> SolveResult:
    """Adam on the mean of ``0.5 ||F(x, h) - h||^2``; see the module docstring for the options.

    ``tol`` is on ``q = (1/S) ||F(x, h) - h||^2`` like every solver (FixedPointFinder's
    ``q_half < t`` is ``tol = 2 t / S``).
    """
    if stop not in STOP_RULES:
        raise ArgumentError(f"solver 'adam': stop={stop!r}; choose one of {', '.join(STOP_RULES)}.")
    B, S = h0.shape
    h = h0.clone().requires_grad_(True)
    opt = torch.optim.Adam([h], lr=lr, betas=betas, eps=eps)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=decay,
                                                       patience=plateau_patience, threshold=0.0)
    tr = Tracker(h0, torch.full((B,), float("inf"), dtype=h0.dtype, device=h0.device), history=history, t0=t0)
    frozen = torch.zeros(B, dtype=torch.bool, device=h0.device)  # no longer moved
    diverged = torch.zeros_like(frozen)
    it = 0
    while True:
        with torch.enable_grad():
            r = step.fn(x, h) - h
            q_half = 0.5 * r.square().sum(1)
        finite = torch.isfinite(q_half.detach())
        diverged |= ~finite & ~frozen  # keeps its last finite iterate
        frozen |= diverged
        live = ~frozen
        q = q_half.detach() * (2.0 / S)
        tr.points[live] = h.detach()[live]
        tr.q[live] = q[live]
        tr.iterations[live] = it
        under = tr.q < tol
        if stop == "point":
            frozen |= under
            finished = bool(frozen.all())
        elif stop == "all":
            finished = bool((under | diverged).all())
        else:
            finished = bool(tr.q[~diverged].mean() < tol) if bool((~diverged).any()) else True
        tr.index = (~frozen).nonzero().squeeze(1)
        tr.record(it)
        if finished or it >= max_iter:
            break
        with torch.enable_grad():
            loss = torch.where(frozen, torch.zeros_like(q_half), q_half).sum() / B
        (grad,) = torch.autograd.grad(loss, h)
        grad[frozen] = 0.0
        h.grad = grad
        keep = h.detach()[frozen].clone()
        opt.step()
        with torch.no_grad():
            h[frozen] = keep
        sched.step(float(loss.detach()))
        it += 1
    tr.converged = tr.q < tol
    tr.diverged = diverged
    return tr.result()
