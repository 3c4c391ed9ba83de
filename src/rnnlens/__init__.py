"""rnnlens: reverse-engineer recurrent networks with dynamical-systems analysis."""

from rnnlens._version import __version__, code_version
from rnnlens.errors import ArgumentError, CheckpointError, DataError, RnnlensError

__all__ = [
    "__version__",
    "code_version",
    "RnnlensError",
    "DataError",
    "CheckpointError",
    "ArgumentError",
]
