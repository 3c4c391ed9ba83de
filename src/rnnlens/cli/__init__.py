"""The ``rnnlens`` command line: a thin click layer over the Python API.

One module per command group: :mod:`rnnlens.cli.training` (train, evaluate, baseline),
:mod:`rnnlens.cli.analysis` (analyze, report) and :mod:`rnnlens.cli.workflows` (demo, reproduce); what
they share lives in :mod:`rnnlens.cli._common`. Nothing here imports torch, so ``rnnlens --help`` is fast.

Every number printed says what it is. A user mistake (:class:`rnnlens.errors.RnnlensError`) prints
``error: <message>`` on stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import os
import sys

# numpy asks the kernel for transparent huge pages for every array over 4 MB. The analysis writes several GB of
# arrays once each (every visited state, float64 copies), and where huge pages are handed out on demand (THP
# "madvise") each first touch of a 2 MB page is a stall: on the project's 2-core VM an analysis took 4 s longer
# (35.5 s against 31.8 s) with them. The command line turns them off unless the user has chosen
# (NUMPY_MADVISE_HUGEPAGE=1 keeps them); it is read when numpy is imported, which nothing above this line does.
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

import click  # noqa: E402

from rnnlens._memory import reuse_freed_memory  # noqa: E402
from rnnlens.errors import ArgumentError  # noqa: E402

# freed memory kept for reuse instead of faulted in again (rnnlens._memory: 124 -> 115 s for a GRU-256's
# analysis); RNNLENS_MALLOC=system keeps glibc's defaults. Before torch and numpy make their first arrays.
try:
    reuse_freed_memory()
except ArgumentError as _exc:  # as every user mistake: the message on stderr, status 2
    print(f"error: {_exc}", file=sys.stderr)
    sys.exit(2)

from rnnlens._version import __version__  # noqa: E402
from rnnlens.cli import analysis, compare, explore, sweep, training, workflows  # noqa: E402
from rnnlens.cli._common import ErrorGroup  # noqa: E402

__all__ = ["main"]


@click.group(cls=ErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="rnnlens")
def main():
    """rnnlens: train sentiment RNNs and reverse-engineer them as dynamical systems."""


for _module in (training, analysis, workflows, explore, sweep, compare):
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
