"""How every trial of a sweep learned: its learning curve (one entry per epoch, from the checkpoint's record, or
from the resume state of a run still training) and the trials ranked by validation accuracy with the settings
that made them; for a recipe search (``[random]`` draws over training settings), the report's first view.
Read from the trial folders only."""

from __future__ import annotations

import html
import json
from pathlib import Path

from rnnlens.sweep.trial import CHECKPOINT_DIR

__all__ = ["learning_curves", "curves_figure", "ranked_table", "CURVE_DEFINITION"]

CURVE_DEFINITION = (
    "per epoch: validation accuracy (fraction of the validation documents classified correctly, after "
    "the epoch) and train loss (mean logistic / cross-entropy loss in nats per document over the "
    "epoch's batches, without any L2 penalty), from the checkpoint's record (metrics.history) or, "
    "for a trial still training, its resume state"
)
_KEYS = ("epoch", "lr", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy")


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _history(trial_dir: Path) -> tuple[list[dict], dict]:
    """The epochs of one trial and what its record adds (test accuracy on documents within drop_longer, epochs
    run, best epoch); empty when it has not finished an epoch."""
    ck = _read(trial_dir / CHECKPOINT_DIR / "config.json")
    if ck is not None and isinstance(ck.get("record"), dict):
        m = ck["record"].get("metrics") or {}
        within = (m.get("test") or {}).get("within_drop_longer") or {}
        extra = {
            "best_epoch": m.get("best_epoch"),
            "epochs_run": m.get("epochs_run"),
            "test_accuracy_within_drop_longer": within.get("accuracy"),
        }
        return list(m.get("history") or []), extra
    resume = _read(trial_dir / CHECKPOINT_DIR / "resume" / "state.json")
    if resume is not None:
        return list((resume.get("loop") or {}).get("history") or []), {}
    return [], {}


def learning_curves(out_dir, rows: list[dict]) -> dict[str, dict]:
    """Trial id -> ``{"history": [{epoch, lr, train_loss, train_accuracy, validation_loss,
    validation_accuracy}, ...], **what the record adds}`` for every trial that has finished an epoch."""
    out = {}
    for r in rows:
        hist, extra = _history(Path(out_dir) / "trials" / r["trial"])
        if hist:
            out[r["trial"]] = {"history": [{k: h.get(k) for k in _KEYS} for h in hist], **extra}
    return out


def _ranked(rows: list[dict], curves: dict) -> list[dict]:
    def best(r):
        v = r.get("validation_accuracy")
        if v is None and r["trial"] in curves:
            v = max((h["validation_accuracy"] or 0.0) for h in curves[r["trial"]]["history"])
        return -1.0 if v is None else float(v)

    return sorted(rows, key=best, reverse=True)


def curves_figure(curves: dict, rows: list[dict], *, labelled: int = 6):
    """Validation accuracy and train loss against the epoch, one line per trial; the ``labelled`` best trials (by
    validation accuracy) named in the legend, the others grey."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ranked = [r["trial"] for r in _ranked(rows, curves) if r["trial"] in curves]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    cmap = plt.get_cmap("tab10")
    for rank, tid in reversed(list(enumerate(ranked))):
        h = curves[tid]["history"]
        ep = [e["epoch"] for e in h]
        top = rank < labelled
        style = dict(
            color=cmap(rank % 10) if top else "0.75",
            lw=1.8 if top else 0.9,
            zorder=3 if top else 1,
            marker="o" if top else None,
            ms=3,
        )
        a1.plot(ep, [e["validation_accuracy"] for e in h], label=tid.rsplit("-", 1)[-1] if top else None, **style)
        a2.plot(ep, [e["train_loss"] for e in h], **style)
    a1.set(xlabel="epoch", ylabel="validation accuracy (fraction correct)", title="validation accuracy per epoch")
    a2.set(xlabel="epoch", ylabel="train loss (mean nats per document)", title="train loss per epoch")
    for a in (a1, a2):
        a.grid(alpha=0.3)
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    if ranked:
        handles, names = a1.get_legend_handles_labels()  # drawn worst first (the best on top): list best first
        a1.legend(
            handles[::-1],
            names[::-1],
            title=f"best {min(labelled, len(ranked))} (trial hash)",
            fontsize=8,
            title_fontsize=8,
        )
    fig.tight_layout()
    return fig


def ranked_table(rows: list[dict], curves: dict, varied: list[str]) -> str:
    """An HTML table of the trials, best validation accuracy first, with the settings that vary between them."""
    esc = html.escape
    head = ["trial", *varied, "validation", "test", "test within drop_longer", "epochs run", "best epoch"]
    out = ["<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for r in _ranked(rows, curves):
        c = curves.get(r["trial"], {})
        cells = [
            r["trial"],
            *(r.get(k, "") for k in varied),
            r.get("validation_accuracy"),
            r.get("test_accuracy"),
            c.get("test_accuracy_within_drop_longer"),
            c.get("epochs_run"),
            c.get("best_epoch"),
        ]
        out.append("<tr>" + "".join(f"<td>{esc(_cell(v))}</td>" for v in cells) + "</tr>")
    return "\n".join(out) + "</table>"


def _cell(v) -> str:
    if v is None or v == "":
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)
