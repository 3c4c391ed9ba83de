"""Gradient descent on q with Adam: the method of FixedPointFinder (Golub & Sussillo 2018) and renn.

The loss is the mean over points of ``q_half = 0.5 ||F(x, h) - h||^2`` (FixedPointFinder's); Adam
(``torch.optim.Adam``) moves every point; the learning rate is multiplied by ``decay`` when the loss
has not improved for ``plateau_patience`` iterations (``torch.optim.lr_scheduler.ReduceLROnPlateau``).

Stopping rule (``stop``):
* ``"point"`` (default): each point is frozen at the first iterate with ``q < tol``;
* ``"all"``: run until every point has ``q < tol`` (FixedPointFinder), all points keep moving;
* ``"mean"``: run until the mean q is under ``tol`` (renn) - single points may stop unconverged.
Adam does not identify slow points (``slow`` is all False). ``converged`` is ``q < tol`` at the
last iterate of each point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnlens._types import StepLike
from rnnlens.errors import ArgumentError
from rnnlens.solvers.base import Solver, check_option
from rnnlens.solvers.common import Progress

__all__ = ["Adam"]

STOP_RULES = ("point", "all", "mean")


@dataclass
class AdamState:
    """Every point stays in the batch: h ``[B, S]`` (a leaf the optimizer moves), x ``[B, I]``;
    ``q_half`` at h (with its autograd graph, for the next gradient); ``frozen``: points no longer
    moved; ``diverged``: points whose q stopped being finite; ``finished``: the stop rule is met."""

    step: Any
    tol: float
    progress: Progress
    x: Tensor
    h: Tensor
    optimizer: torch.optim.Optimizer
    scheduler: Any
    q_half: Tensor
    frozen: Tensor
    diverged: Tensor
    finished: bool = False


@dataclass(frozen=True, kw_only=True)
class Adam(Solver):
    """Adam on the mean of ``0.5 ||F(x, h) - h||^2``; see the module docstring for the options.

    ``tol`` is on ``q = (1/S) ||F(x, h) - h||^2`` like every solver (FixedPointFinder's
    ``q_half < t`` is ``tol = 2 t / S``). Options: ``max_iter``, ``lr``, ``decay`` (learning-rate
    factor on a plateau), ``plateau_patience``, ``stop`` ("point", "all", "mean"), ``betas``, ``eps``.
    All points are one batch (the loss is their mean): ``chunk_size`` does not apply.

    Args:
        max_iter: most iterations (an integer >= 0).
        lr: the initial learning rate (> 0).
        decay: the learning-rate factor on a plateau, in (0, 1).
        plateau_patience: iterations without improvement of the loss before the rate decays (>= 0).
        stop: the stopping rule, ``"point"``, ``"all"`` or ``"mean"`` (the module docstring).
        betas: ``torch.optim.Adam``'s pair of moment decays, each in [0, 1).
        eps: ``torch.optim.Adam``'s epsilon (>= 0).

    Raises:
        ArgumentError: an option out of its range, or an unknown ``stop``.
    """

    name = "adam"
    batch_coupled = True

    max_iter: int = 5000
    lr: float = 1.0
    decay: float = 0.95
    plateau_patience: int = 5
    stop: str = "point"
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        check_option("Adam", "lr", self.lr, low=0, low_open=True)
        check_option("Adam", "decay", self.decay, low=0, high=1, low_open=True, high_open=True)
        check_option("Adam", "plateau_patience", self.plateau_patience, integer=True, low=0)
        if self.stop not in STOP_RULES:
            raise ArgumentError(f"Adam: stop={self.stop!r}; choose one of {', '.join(STOP_RULES)}.")
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ArgumentError(f"Adam: betas must be a pair of numbers in [0, 1), got {self.betas!r}.")
        for k, b in enumerate(self.betas):
            check_option("Adam", f"betas[{k}]", b, low=0, high=1, high_open=True)
        object.__setattr__(self, "betas", tuple(self.betas))
        check_option("Adam", "eps", self.eps, low=0)

    def init(self, step: StepLike, x: Tensor, h0: Tensor, tol: float) -> AdamState:
        B = h0.shape[0]
        h = h0.clone().requires_grad_(True)
        opt = torch.optim.Adam([h], lr=self.lr, betas=self.betas, eps=self.eps)
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=self.decay, patience=self.plateau_patience, threshold=0.0
        )
        progress = Progress.start(h0, torch.full((B,), float("inf"), dtype=h0.dtype, device=h0.device))
        frozen = torch.zeros(B, dtype=torch.bool, device=h0.device)
        state = AdamState(
            step=step,
            tol=tol,
            progress=progress,
            x=x,
            h=h,
            optimizer=opt,
            scheduler=sched,
            q_half=h0.new_zeros(B),
            frozen=frozen,
            diverged=torch.zeros_like(frozen),
        )
        return self._evaluate(state)

    def terminate(self, state: AdamState) -> bool:
        return state.finished

    def step(self, state: AdamState) -> AdamState:
        s = state
        B = s.h.shape[0]
        with torch.enable_grad():
            loss = torch.where(s.frozen, torch.zeros_like(s.q_half), s.q_half).sum() / B
        (grad,) = torch.autograd.grad(loss, s.h)
        grad[s.frozen] = 0.0
        s.h.grad = grad
        keep = s.h.detach()[s.frozen].clone()
        s.optimizer.step()
        with torch.no_grad():
            s.h[s.frozen] = keep
        s.scheduler.step(float(loss.detach()))
        s.progress.iteration += 1
        return self._evaluate(s)

    def _evaluate(self, s: AdamState) -> AdamState:
        """q at the current h; store it for the points still moving; apply the stop rule."""
        S = s.h.shape[1]
        with torch.enable_grad():
            r = s.step.fn(s.x, s.h) - s.h
            s.q_half = 0.5 * r.square().sum(1)
        finite = torch.isfinite(s.q_half.detach())
        s.diverged |= ~finite & ~s.frozen  # keeps its last finite iterate
        s.frozen |= s.diverged
        live = ~s.frozen
        q = s.q_half.detach() * (2.0 / S)
        p = s.progress
        p.store(s.h.detach()[live], q[live], rows=live)
        under = p.q < s.tol
        if self.stop == "point":
            s.frozen |= under
            s.finished = bool(s.frozen.all())
        elif self.stop == "all":
            s.finished = bool((under | s.diverged).all())
        else:
            s.finished = bool(p.q[~s.diverged].mean() < s.tol) if bool((~s.diverged).any()) else True
        p.active = (~s.frozen).nonzero().squeeze(1)
        p.converged = under
        p.diverged = s.diverged.clone()
        return s
