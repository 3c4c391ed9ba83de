"""The ``rnnlens`` command line: a thin click layer over the Python API.

One module per command group: :mod:`rnnlens.cli.training` (train, evaluate, baseline),
:mod:`rnnlens.cli.analysis` (analyze, report) and :mod:`rnnlens.cli.workflows` (demo, reproduce); what
they share lives in :mod:`rnnlens.cli._common`. Nothing here imports torch, so ``rnnlens --help`` is fast.

Every number printed says what it is. A user mistake (:class:`rnnlens.errors.RnnlensError`) prints
``error: <message>`` on stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import sys

import click

from rnnlens._version import __version__
from rnnlens.cli import analysis, compare, explore, sweep, training, workflows
from rnnlens.cli._common import ErrorGroup

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
