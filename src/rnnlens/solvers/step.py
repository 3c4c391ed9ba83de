"""Moved to :mod:`rnnlens.steps` (it holds the step-function adapters, no solver).

Only re-exports the old names so that ``from rnnlens.solvers.step import as_step`` keeps working
until every caller imports from :mod:`rnnlens.steps`; add nothing here.
"""

from rnnlens.steps import FuncJacobian, StepFunction, as_step, torch_rnn_step

__all__ = ["StepFunction", "as_step", "FuncJacobian", "torch_rnn_step"]
