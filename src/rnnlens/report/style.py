"""What the report's figure modules share: the matplotlib backend, the colours, the title of a model,
the check for measured arrays, the axes helpers and the writing of a figure.

This module imports nothing from the rest of :mod:`rnnlens.report`, so :mod:`rnnlens.report.figures`,
:mod:`rnnlens.report.modifiers` and :mod:`rnnlens.report.kclass` can all import it.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from rnnlens._atomic import atomic_file  # noqa: E402

__all__ = ["COLORS", "plt", "model_title", "has_arrays", "new_axes", "not_measured", "save_figure"]

DPI = 110
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
    """Write ``name.png`` and ``name.svg`` to ``out_dir`` (temporary name, then rename); close the figure.

    The PNG is drawn at :data:`DPI` and reduced to a palette of at most 256 colours (:func:`_palette_png`): the
    report embeds every PNG, and a palette cuts its bytes about four times with no difference one can see on a
    plot; the SVG keeps the exact drawing."""
    out = {}
    # the tight box is laid out once for both files (bbox_inches="tight" would lay the figure out again for each)
    box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
    for ext in ("png", "svg"):
        path = Path(out_dir) / f"{name}.{ext}"
        with atomic_file(path) as tmp:
            if ext == "png":
                buf = io.BytesIO()
                fig.savefig(buf, format="png", dpi=DPI, bbox_inches=box)
                Path(tmp).write_bytes(_palette_png(buf.getvalue()))
            else:
                fig.savefig(tmp, format=ext, dpi=DPI, bbox_inches=box)
        out[ext] = path
    plt.close(fig)
    return out


def _palette_png(data: bytes) -> bytes:
    """``data`` (a PNG) quantized to at most 256 colours without dithering (flat areas stay flat). Pillow comes
    with matplotlib; method 2 is its fast octree and dither 0 none (plain numbers: older Pillows lack the enums)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        pal = im.convert("RGBA").quantize(colors=256, method=2, dither=0)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
