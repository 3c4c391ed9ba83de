"""Fixed-point solvers, chosen by name: ``"lm"``, ``"newton"``, ``"adam"``.

Each solver is ``solve(step, x [B, I], h0 [B, S], *, tol, max_iter, history, t0, **options)``
returning a :class:`~rnnlens.solvers.common.SolveResult`; ``tol`` is always on the paper's
``q = (1/S) ||F(x, h) - h||^2`` and applies per point.
"""

from rnnlens.solvers.adam import solve_adam
from rnnlens.solvers.common import SolveResult, residual
from rnnlens.solvers.lm import solve_lm, solve_newton
from rnnlens.solvers.step import StepFunction, as_step

SOLVERS = {"lm": solve_lm, "newton": solve_newton, "adam": solve_adam}
DEFAULT_MAX_ITER = {"lm": 200, "newton": 50, "adam": 5000}

__all__ = ["SOLVERS", "DEFAULT_MAX_ITER", "SolveResult", "StepFunction", "as_step", "residual",
           "solve_lm", "solve_newton", "solve_adam"]
