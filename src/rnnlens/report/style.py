"""What the report's figure modules share: the matplotlib backend, the colours, the title of a model,
the check for measured arrays, the axes helpers and the writing of a figure.

This module imports nothing from the rest of :mod:`rnnlens.report`, so :mod:`rnnlens.report.figures`,
:mod:`rnnlens.report.modifiers` and :mod:`rnnlens.report.kclass` can all import it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlens._atomic import atomic_file  # noqa: E402

__all__ = ["COLORS", "plt", "model_title", "has_arrays", "new_axes", "not_measured", "save_figure"]

COLORS = ["#c0392b", "#2471a3", "#229954", "#b9770e", "#7d3c98"]


def model_title(summary) -> str:
    """The model's architecture and dataset, as read from the summary's provenance."""
    prov = summary.get("provenance", {})
    arch = (prov.get("model") or {}).get("arch", "model")
    return f"{arch} on {prov.get('dataset', '?')}"


def has_arrays(arrays, *names) -> bool:
    """True when every one of ``names`` is in ``arrays``."""
    return all(n in arrays for n in names)


def new_axes(ax, size):
    """``(figure, ax)`` for ``ax``, or a new figure of ``size`` inches with one axis when ``ax`` is None."""
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=size)
    return fig, ax


def not_measured(ax):
    """Write "not measured" in the middle of ``ax`` and remove its ticks."""
    ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig, out_dir, name) -> dict:
    """Write ``name.png`` and ``name.svg`` to ``out_dir`` (temporary name, then rename); close the figure."""
    out = {}
    for ext in ("png", "svg"):
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_file(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=110, bbox_inches="tight")
        out[ext] = path
    plt.close(fig)
    return out
