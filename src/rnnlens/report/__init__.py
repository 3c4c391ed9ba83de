"""Figures and a self-contained HTML report drawn from saved analysis folders.

``make_report(dirs, out)`` only reads what :func:`rnnlens.analysis.analyze` saved (``summary.json``
and ``arrays.npz``); it never computes dynamics, and imports neither torch nor the fixed-point solver.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnlens._atomic import check_writable, write_text_atomic
from rnnlens._lock import output_lock
from rnnlens._types import PathLike
from rnnlens.analysis.registry import resolve, sections
from rnnlens.analysis.result import Analysis
from rnnlens.errors import ArgumentError
from rnnlens.report import figures as _fig
from rnnlens.report.html import figure_html, model_section, page
from rnnlens.report.style import model_title, save_figure

__all__ = ["make_report", "REPORT_FILE"]
REPORT_FILE = "report.html"

INTRO = ("Each section below is one trained network. The paper's finding is that such networks integrate "
         "evidence along a line of (nearly) fixed points aligned with the readout: one eigenvalue near 1 at "
         "every fixed point, each word pushing the state along the line by its valence. The checks say, for "
         "each model, whether that picture holds here; a FAIL is reported as measured, never hidden.")


def make_report(dirs: PathLike | Sequence[PathLike], out: PathLike, *,
                preface: list[str] | None = None) -> Path:
    """Draw the figures of every analysis folder in ``dirs`` (and a grid across them when there are
    several) into ``out``, and write ``out/report.html``. ``preface``: HTML sections placed before the
    models (e.g. an accuracy table). Returns the HTML path. ``out`` is checked writable first and locked
    while the report is written (:mod:`rnnlens._lock`)."""
    dirs = [Path(d) for d in ([dirs] if isinstance(dirs, (str, Path)) else dirs)]
    if not dirs:
        raise ArgumentError("report: give at least one analysis folder (written by `rnnlens analyze -o DIR`)")
    out = Path(out)
    check_writable(out, "-o")
    with output_lock(out, "report"):
        return _make_report(dirs, out, preface)


def section_figures(analysis: Analysis) -> list:
    """The figures of one analysis, section by section (:class:`rnnlens.analysis.registry.FigureSpec`): every
    section's, except those of an optional section that did not run."""
    return [f for s in sections() if not s.optional or analysis.ran(s) for f in s.figures]


def _make_report(dirs, out: Path, preface) -> Path:
    analyses = [Analysis.load(d) for d in dirs]
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(dirs)
    parts = list(preface or [])
    if len(analyses) > 1:
        grid = save_figure(_fig.fig_grid([(a.summary, a.arrays) for a in analyses]), out, "fig6_grid")
        parts.append("<h2>All models</h2>" + figure_html(
            "fig6_grid", grid["png"], "One row per model: variance explained by the top PCs (trained vs "
            "untrained), states and fixed points, |lambda_1| at the fixed points, word groups along the line."))
    for name, analysis in zip(names, analyses):
        sub = out / name
        sub.mkdir(exist_ok=True)
        figs = []
        for spec in section_figures(analysis):
            fig = resolve(spec.draw)(analysis.summary, analysis.arrays)
            png = save_figure(fig, sub, spec.name)["png"] if fig is not None else None
            figs.append((spec.name, png, spec.caption))
        parts.append(model_section(analysis.summary, figs, f"{name}: {model_title(analysis.summary)}"))
    text = page("rnnlens report", INTRO, parts)
    path = out / REPORT_FILE
    return write_text_atomic(path, text)


def _unique_names(dirs) -> list[str]:
    names, seen = [], {}
    for d in dirs:
        base = d.resolve().name or "analysis"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names
