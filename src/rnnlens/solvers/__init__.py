"""Fixed-point solvers as small objects: :class:`LM` (Levenberg-Marquardt, the default),
:class:`Newton` and :class:`Adam`, one file each, driven by the one loop in
:func:`rnnlens.fixedpoints.find_fixed_points`.

A solver object is a frozen dataclass of its options (defaults declared once, checked when it is
made) with ``init(step, x, h0, tol) -> state``, ``step(state) -> state`` and
``terminate(state) -> bool`` (see :mod:`rnnlens.solvers.base`). ``tol`` is always on the paper's
``q = (1/S) ||F(x, h) - h||^2`` and applies per point. :func:`make_solver` turns the string form
(``"lm"`` and keyword options) into an object.
"""

from __future__ import annotations

from rnnlens.errors import ArgumentError
from rnnlens.solvers.adam import Adam
from rnnlens.solvers.base import Solver
from rnnlens.solvers.closed import Closed, closed_form_cell
from rnnlens.solvers.common import SolveResult, residual
from rnnlens.solvers.lm import LM
from rnnlens.solvers.newton import Newton

SOLVERS: dict[str, type[Solver]] = {cls.name: cls for cls in (LM, Newton, Adam, Closed)}
# the default: Closed where the step allows it (closed_form_cell), else LM
AUTO = "auto"

__all__ = [
    "LM",
    "Newton",
    "Adam",
    "Closed",
    "Solver",
    "SOLVERS",
    "AUTO",
    "make_solver",
    "SolveResult",
    "residual",
    "closed_form_cell",
]


def make_solver(solver: str | Solver = "lm", step=None, **options) -> Solver:
    """A solver object from a name (``"lm"``, ``"newton"``, ``"adam"``, ``"closed"``, or ``"auto"``) and its
    options, or the object itself (then no options may be given: they belong inside it, e.g.
    ``LM(damping=1e-2)``).

    ``"auto"`` is :class:`Closed` when ``step`` is elementwise linear in the state (:func:`closed_form_cell`) and
    every option given is one of Closed's (``max_iter``), else :class:`LM`.

    An unknown name or option raises ArgumentError listing the valid ones (the solver's fields).
    """
    if isinstance(solver, Solver):
        if options:
            name = type(solver).__name__
            raise ArgumentError(
                f"solver={name}(...) is an object: give it its options "
                f"({name}({', '.join(f'{k}=...' for k in sorted(options))})), "
                "not separate keyword arguments."
            )
        return solver
    if solver == AUTO:
        closed = closed_form_cell(step) is not None and set(options) <= set(Closed.option_names())
        solver = Closed.name if closed else LM.name
    if not isinstance(solver, str) or solver not in SOLVERS:
        raise ArgumentError(
            f"unknown solver={solver!r}: choose one of {', '.join(SOLVERS)} or {AUTO} (or pass an object: "
            "rnnlens.solvers.LM(...), Newton(...), Adam(...), Closed())."
        )
    cls = SOLVERS[solver]
    allowed = cls.option_names()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ArgumentError(f"solver {solver!r} has no option(s) {unknown}; its options are {allowed}.")
    return cls(**options)
