"""``Analysis``: the typed result of ``analyze`` (settings, provenance, metrics, arrays), saved and loaded.

The saved form is a folder (:mod:`rnnlens.analysis.io`): ``summary.json`` (every number with its
definition, the settings, the provenance, the checks), ``arrays.npz`` (the arrays the figures draw)
and ``fixed_points.safetensors``. Lookups are checked against the registered sections'
declarations: :meth:`Analysis.value` of a path no section declares, or ``analysis.arrays[name]`` of
an array no section declares, is a KeyError, so a renamed metric or array fails loudly instead of
leaving a figure or a table silently empty. This module imports neither torch nor the solvers.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rnnlens._types import PathLike
from rnnlens.analysis.registry import Section, array_spec, metric_node, metric_value
from rnnlens.analysis.settings import AnalysisSettings

__all__ = ["Analysis", "Arrays", "load_analysis"]


class Arrays(Mapping):
    """The arrays of one analysis, by name. A name that no registered section declares is a KeyError, on
    reading and on ``in``; a declared array that was not measured is simply absent (``name in arrays`` is
    False)."""

    def __init__(self, arrays: Mapping[str, Any] | None = None):
        self._data = dict(arrays or {})

    def __getitem__(self, name: str):
        if name not in self._data:
            array_spec(name)
        return self._data[name]

    def __contains__(self, name) -> bool:
        if name in self._data:
            return True
        array_spec(name)
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def to_dict(self) -> dict:
        """A plain ``{name: array}`` copy."""
        return dict(self._data)


class Analysis:
    """What :func:`rnnlens.analysis.analyze` measured on one network, or what :meth:`load` read back.

    Attributes:
        summary: the JSON form written to ``summary.json`` (``schema``, ``status``, ``missing``,
            ``sign_convention``, ``provenance``, ``settings``, ``metrics``, ``checks``, ``run_id``).
        arrays: :class:`Arrays`, written to ``arrays.npz``.
        fixed_points: the solver's ``FixedPoints`` for every seed (None when not run or loaded without
            them); ``linearization``: the ``Linearization`` at the fixed points with q < tol (None when
            there were none, or loaded); ``slow_manifold``: the traced ``SlowManifold`` (None when loaded).
        out_dir: the folder it was saved to or loaded from.
    """

    def __init__(
        self,
        summary: dict,
        arrays: Mapping | None = None,
        *,
        fixed_points: Any = None,
        linearization: Any = None,
        slow_manifold: Any = None,
        out_dir: Path | None = None,
    ):
        self.summary = summary
        self.arrays = arrays if isinstance(arrays, Arrays) else Arrays(arrays)
        self.fixed_points = fixed_points
        self.linearization = linearization
        self.slow_manifold = slow_manifold
        self.out_dir = out_dir

    def __repr__(self) -> str:
        return (
            f"Analysis(status={self.status!r}, dataset={self.provenance.get('dataset')!r}, "
            f"checkpoint={self.provenance.get('checkpoint')!r}, {len(self.arrays)} arrays)"
        )

    # ------------------------------------------------------------------ typed views
    @property
    def settings(self) -> AnalysisSettings:
        """The settings the analysis ran with."""
        return AnalysisSettings.from_dict(self.summary["settings"])

    @property
    def provenance(self) -> dict:
        """How it was made: checkpoint, training record, corpus fingerprint, code version, times."""
        return self.summary.get("provenance", {})

    @property
    def metrics(self) -> dict:
        """``{section: {name: {"value", "definition"}}}``."""
        return self.summary.get("metrics", {})

    @property
    def checks(self) -> list[dict]:
        """The paper's checks, each ``{"name", "claim", "metric", "value", "passed", "detail"}``."""
        return self.summary.get("checks", [])

    @property
    def paper_checks(self) -> list[dict]:
        """The paper's five claims as checked along the traced slow manifold
        (:data:`rnnlens.analysis.checks.FIVE_CHECKS`), in that order: entries of :attr:`checks`; the other
        checks are the same claims at the fixed points under the tolerance and, on a synthetic corpus, against
        the truth."""
        from rnnlens.analysis.checks import FIVE_CHECKS

        by_name = {c["name"]: c for c in self.checks}
        return [by_name[n] for n in FIVE_CHECKS if n in by_name]

    @property
    def missing(self) -> list[dict]:
        """What could not be measured, and why."""
        return self.summary.get("missing", [])

    @property
    def skipped(self) -> list[dict]:
        """The sections that did not apply to this network or these data, each ``{"section", "why"}``."""
        return self.summary.get("skipped", [])

    @property
    def status(self) -> str:
        """``complete``, or ``partial`` when something is missing."""
        return self.summary.get("status", "partial")

    @property
    def complete(self) -> bool:
        """True when no measurement is missing."""
        return not self.missing

    def value(self, path: str) -> Any:
        """The value of a metric by dotted path, e.g. ``analysis.value("fixed_points.n_converged")`` (None when
        it was not measured; KeyError for a path that is not a metric)."""
        return metric_value(self.summary, path)

    def node(self, path: str) -> dict | None:
        """The ``{"value", "definition"}`` node of a metric (None when not measured; KeyError for a non-metric)."""
        return metric_node(self.summary, path)

    def ran(self, section: Section) -> bool:
        """Whether the analysis section (a registered :class:`~rnnlens.analysis.registry.Section`) ran here: it
        is timed in the provenance, or (older analyses) one of its metrics is in the summary."""
        if section.name in self.provenance.get("section_seconds", {}):
            return True
        return any(metric_node(self.summary, m.path) is not None for m in section.metrics)

    # ------------------------------------------------------------------ files
    def save(self, out_dir: PathLike) -> Path:
        """Write ``arrays.npz``, ``fixed_points.safetensors`` and ``summary.json`` to ``out_dir``.

        The folder is replaced as a whole when it holds only analysis files (a reader sees all old or all
        new files); files of the user's there are kept, and only the analysis files are replaced, the
        summary last; a file of the user's with an analysis file's name is refused, before anything is
        written (:func:`rnnlens._atomic.output_folder`). All three carry one new run id, which :meth:`load`
        checks. An ``out_dir`` that is a symbolic link is written inside the folder it points to.
        """
        from rnnlens._atomic import check_output, output_folder
        from rnnlens._lock import output_lock
        from rnnlens.analysis.io import (
            ARRAYS_FILE,
            FIXED_POINTS_FILE,
            OWN_FILES,
            RUN_ID,
            SUMMARY_FILE,
            write_arrays,
            write_json,
        )

        out = Path(out_dir)
        folder = check_output(out, OWN_FILES, "-o")
        run_id = uuid.uuid4().hex
        self.summary[RUN_ID] = run_id
        with output_lock(folder, "analyze"), output_folder(folder, "analyze", last=SUMMARY_FILE) as tmp:
            write_arrays(tmp / ARRAYS_FILE, {**self.arrays.to_dict(), RUN_ID: np.array(run_id)})
            if self.fixed_points is not None and hasattr(self.fixed_points, "save"):
                self.fixed_points.save(tmp / FIXED_POINTS_FILE, run_id=run_id)
            write_json(tmp / SUMMARY_FILE, self.summary)
        self.out_dir = out
        return out

    @classmethod
    def load(cls, folder: PathLike) -> Analysis:
        """Read an analysis folder (:func:`rnnlens.analysis.io.read_folder`: damaged files and files of two
        different runs are refused, naming the file and the command that rebuilds it).

        Args:
            folder: an analysis folder (the ``out_dir`` of :func:`rnnlens.analysis.analyze`, or
                ``rnnlens analyze -o``).

        Returns:
            The :class:`Analysis` with its summary and arrays, ``out_dir`` the folder; ``fixed_points``,
            ``linearization`` and ``slow_manifold`` are None.

        Raises:
            ArgumentError: no ``summary.json`` there, a damaged ``summary.json``, ``arrays.npz`` or fixed-points
                file, a summary of another schema, or files of two different runs.
        """
        from rnnlens.analysis.io import read_folder

        summary, arrays = read_folder(folder)
        return cls(summary, arrays, out_dir=Path(folder))


def load_analysis(folder: PathLike) -> Analysis:
    """Read an analysis folder written by ``analyze`` (:meth:`Analysis.load`).

    Args:
        folder: the analysis folder (the ``out_dir`` of ``analyze``).

    Returns:
        The :class:`Analysis` read back, as :meth:`Analysis.load` returns it (no solver objects).

    Raises:
        ArgumentError: a missing or damaged file, another schema, or files of two runs (:meth:`Analysis.load`).
    """
    return Analysis.load(folder)
