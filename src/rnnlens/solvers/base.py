"""What every fixed-point solver is: a small frozen settings object with an explicit-state protocol.

A solver object (:class:`~rnnlens.solvers.LM`, :class:`~rnnlens.solvers.Newton`,
:class:`~rnnlens.solvers.Adam`) carries its own options, each declared once as a dataclass field
with its default and checked in ``__post_init__`` (an :class:`~rnnlens.errors.ArgumentError`
naming the option). It does no work until one loop (in :mod:`rnnlens.fixedpoints`) drives it::

    state = solver.init(step, x, h0, tol)        # iteration 0: evaluate the seeds
    while state.progress.iteration < solver.max_iter and not solver.terminate(state):
        state = solver.step(state)               # one iteration over the points still active
    result = state.progress.result()

``step`` is a :class:`~rnnlens.steps.StepFunction`, ``x [B, I]``, ``h0 [B, S]``; ``tol`` is on the
paper's ``q = (1/S) ||F(x, h) - h||^2`` and applies per point. Every state has a ``progress``
(:class:`~rnnlens.solvers.common.Progress`: the per-point outputs over all B points); the state
belongs to the loop that holds it, and ``step`` may update its tensors in place before returning
it. The settings object itself never changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from rnnlens.errors import ArgumentError

__all__ = ["Solver", "check_option"]


def check_option(
    owner: str,
    name: str,
    value,
    *,
    integer: bool = False,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ArgumentError unless ``value`` is a finite number (an int if ``integer``) in the range.

    The range is ``[low, high]``; ``low_open`` / ``high_open`` exclude an end. The message names the
    owner, the option, what is allowed and the value given.
    """
    kind = "an integer" if integer else "a number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    want = f"{kind} {' and '.join(bounds)}".strip()
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    ok = ok and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ArgumentError(f"{owner}: {name} must be {want}, got {value!r}.")


@dataclass(frozen=True, kw_only=True)
class Solver:
    """Base of the solver objects: settings as frozen dataclass fields (each subclass declares
    ``max_iter`` and its own options with their defaults).

    Class attributes: ``name`` (``"lm"``, ``"newton"``, ``"adam"``: the string form of
    :func:`rnnlens.fixedpoints.find_fixed_points` and ``FixedPoints.solver``) and ``batch_coupled``
    (True when the points of one call are not independent, as in Adam whose loss is their mean and
    whose learning rate follows it: such a solver always gets every point in one batch).
    """

    name: ClassVar[str] = ""
    batch_coupled: ClassVar[bool] = False
    if TYPE_CHECKING:
        max_iter: int  # declared by every subclass, with its default

    def __post_init__(self) -> None:
        check_option(type(self).__name__, "max_iter", self.max_iter, integer=True, low=0)

    @classmethod
    def option_names(cls) -> list[str]:
        """The options this solver accepts (its dataclass fields, ``max_iter`` included)."""
        return [f.name for f in fields(cls)]

    def options(self) -> dict[str, Any]:
        """The options other than ``max_iter``, JSON-ready (tuples as lists)."""
        return {
            f.name: (list(v) if isinstance(v, tuple) else v)
            for f in fields(self)
            if f.name != "max_iter"
            for v in (getattr(self, f.name),)
        }

    # the protocol (see the module docstring)
    def init(self, step, x, h0, tol: float):
        raise NotImplementedError

    def step(self, state):
        raise NotImplementedError

    def terminate(self, state) -> bool:
        raise NotImplementedError
