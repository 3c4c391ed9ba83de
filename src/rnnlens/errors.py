"""User-facing errors.

Every error a user can cause (a missing corpus, a malformed row, a bad argument, a checkpoint from
another version) is raised as a subclass of :class:`RnnlensError` whose message says what went wrong,
where (file, line, argument) and what to do. The CLI prints such errors without a traceback and
exits with status 2; anything else is a bug in rnnlens.
"""


class RnnlensError(Exception):
    """An error caused by input or settings, with a message meant for the user."""


class DataError(RnnlensError):
    """A corpus could not be found, read or parsed."""


class CheckpointError(RnnlensError):
    """A checkpoint folder is missing, incomplete, or from an incompatible version."""


class ArgumentError(RnnlensError, ValueError):
    """An argument passed to the Python API or the CLI is invalid."""


class DiskFullError(RnnlensError):
    """The disk (or the quota) filled up while rnnlens wrote an output folder; the previous outputs are kept."""
