"""Figures and a self-contained HTML report drawn from saved analysis folders.

``make_report(dirs, out)`` only reads what :func:`rnnlens.analysis.analyze` saved (``summary.json``
and ``arrays.npz``); it never computes dynamics, and imports neither torch nor the fixed-point solver.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from rnnlens._atomic import check_output, output_folder, write_text_atomic
from rnnlens._lock import output_lock
from rnnlens._types import PathLike
from rnnlens.analysis.io import SUMMARY_FILE
from rnnlens.analysis.registry import resolve, sections
from rnnlens.analysis.result import Analysis
from rnnlens.errors import ArgumentError, DataError
from rnnlens.report import figures as _fig
from rnnlens.report.html import figure_html, model_section, overview_html, page
from rnnlens.report.style import model_title, save_figure
from rnnlens.report.summary_types import check_summary

__all__ = ["make_report", "REPORT_FILE"]
REPORT_FILE = "report.html"
GRID = "fig6_grid"

INTRO = (
    "Each section below is one trained network. The paper's finding is that such networks integrate "
    "evidence along a line of (nearly) fixed points aligned with the readout: one eigenvalue near 1 at "
    "every fixed point, each word pushing the state along the line by its valence. The checks say, for "
    "each model, whether that picture holds here; a FAIL is reported as measured, never hidden."
)


def make_report(dirs: PathLike | Sequence[PathLike], out: PathLike, *, preface: list[str] | None = None) -> Path:
    """Draw the figures of every analysis folder in ``dirs`` (and a grid across them when there are
    several) into ``out``, and write ``out/report.html``. ``preface``: HTML sections placed before the
    models (e.g. an accuracy table). Returns the HTML path.

    The report is one unit (:func:`rnnlens._atomic.output_folder`): it is drawn beside ``out`` and then
    replaces the previous report there as a whole, so a kill or a full disk leaves the old report and its
    figures, never a mix; entries of the user's in ``out`` are kept, and one named like a report entry is
    refused before any drawing. ``out`` is checked writable first and locked while the report is written
    (:mod:`rnnlens._lock`); an ``out`` that is a symbolic link is written inside the folder it points to.

    Args:
        dirs: one analysis folder (written by :func:`rnnlens.analyze` with ``out_dir``) or several; each
            model's section and figures are named after its folder's name (``name-2``, ... when two are alike).
        out: the report folder (made when missing).
        preface: HTML fragments placed after the overview and before the models; None: none.

    Returns:
        The path of ``report.html`` in ``out``.

    Raises:
        ArgumentError: no folder in ``dirs``; a folder without a readable, current-schema ``summary.json``
            and ``arrays.npz`` from the same run; an ``out`` that cannot be written or holds an entry of the
            user's named like a report entry.
        DataError: a summary field the report reads has the wrong type (the file was edited or damaged).
        RnnlensError: another rnnlens run is writing ``out`` (its lock is held), or the disk is full.
    """
    folders = [Path(d) for d in ([dirs] if isinstance(dirs, (str, os.PathLike)) else dirs)]
    if not folders:
        raise ArgumentError("report: give at least one analysis folder (written by `rnnlens analyze -o DIR`)")
    names = _unique_names(folders)
    folder = check_output(out, [REPORT_FILE, *(f"{GRID}.{ext}" for ext in ("png", "svg")), *names], "-o")
    analyses = [_load(d) for d in folders]
    with output_lock(folder, "report"), output_folder(folder, "report", last=REPORT_FILE) as tmp:
        _make_report(analyses, names, tmp, preface)
    return Path(out) / REPORT_FILE


def _load(folder: Path) -> Analysis:
    """An analysis folder, its summary's fields checked for the types the report reads."""
    analysis = Analysis.load(folder)
    check_summary(analysis.summary, folder / SUMMARY_FILE)
    return analysis


def section_figures(analysis: Analysis) -> list:
    """The figures of one analysis, section by section (:class:`rnnlens.analysis.registry.FigureSpec`): every
    section's, except those of an optional section that did not run."""
    return [f for s in sections() if not s.optional or analysis.ran(s) for f in s.figures]


def _make_report(analyses: list[Analysis], names: list[str], out: Path, preface) -> Path:
    titles = [f"{name}: {model_title(a.summary)}" for name, a in zip(names, analyses)]
    parts = [overview_html([(name, title, a.summary) for name, title, a in zip(names, titles, analyses)])]
    parts.extend(preface or [])
    if len(analyses) > 1:
        grid = save_figure(_fig.fig_grid([(a.summary, a.arrays) for a in analyses]), out, GRID)
        parts.append(
            "<h2>All models</h2>"
            + figure_html(
                GRID,
                grid["png"],
                "One row per model: variance explained by the top PCs (trained vs untrained), states and fixed "
                "points (marked as in each model's state-space figure below), |lambda_1| at the fixed points, "
                "word groups along the line.",
            )
        )
    for name, title, analysis in zip(names, titles, analyses):
        sub = out / name
        sub.mkdir(exist_ok=True)
        try:
            parts.append(_model_part(analysis, name, title, sub))
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            where = analysis.out_dir or name
            raise DataError(
                f"{where}: its {SUMMARY_FILE} or arrays.npz holds a value of an unexpected type or "
                f"shape ({type(exc).__name__}: {exc}), so the report cannot be drawn. Rebuild the "
                f"folder with `rnnlens analyze CHECKPOINT -o {where}`."
            ) from exc
    text = page("rnnlens report", INTRO, parts)
    return write_text_atomic(out / REPORT_FILE, text)


def _model_part(analysis: Analysis, name: str, title: str, sub: Path) -> str:
    figs = []
    for spec in section_figures(analysis):
        fig = resolve(spec.draw)(analysis.summary, analysis.arrays)
        png = save_figure(fig, sub, spec.name)["png"] if fig is not None else None
        figs.append((spec.name, png, spec.caption))
    return model_section(analysis.summary, figs, title, anchor=name)


def _unique_names(dirs) -> list[str]:
    names: list[str] = []
    seen: dict[str, int] = {}
    for d in dirs:
        base = d.resolve().name or "analysis"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names
