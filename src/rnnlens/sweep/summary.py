"""What is universal across the networks of a sweep: ``DIR/summary.csv``, ``DIR/comparison.json`` and
``DIR/report/report.html``, from the trial folders only (no Ray, no model is run).

- ``summary.csv``: one row per trial of the SPEC (finished or not): the SPEC's values, the state and the
  number of attempts, accuracy, and the line-attractor numbers of its analysis (column definitions in
  ``comparison.json["columns"]`` and in the report).
- spread: for every (dataset, architecture) and every number, n / median / min / max / mean / std over
  the finished trials.
- word-valence agreement, per dataset: Spearman rank correlation between the word valences of every
  pair of networks (valence of a word = Re(l_1^T J_inp x_word), averaged over the traced slow
  manifold's nodes, array ``sm_valence_mean``), over the words every network's vocabulary has and the
  bag of words saw at least ``[compare] min_count`` times in training; and of each network against
  the bag-of-words coefficients.
- figures: |lambda_1| (median along the slow manifold), one-dimensionality, readout alignment and test
  accuracy of every trial by architecture and dataset; the pairwise agreement matrices.
- learning curves (:mod:`rnnlens.sweep.curves`): every trial's validation accuracy and train loss per epoch, and
  the trials ranked by validation accuracy with the settings that vary between them.
"""

from __future__ import annotations

import csv
import html
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnlens._atomic import write_json_atomic, write_text_atomic
from rnnlens.sweep.curves import CURVE_DEFINITION, curves_figure, learning_curves, ranked_table
from rnnlens.sweep.spec import SweepSpec
from rnnlens.sweep.trial import ANALYSIS_DIR, CHECKPOINT_DIR, read_status

__all__ = ["summarize", "SweepSummary", "METRIC_COLUMNS", "collect_rows", "valence_agreement"]

# (column, metric path in the analysis summary, index into a list value or None)
METRIC_COLUMNS = [
    ("analysis_accuracy", "data.rnn_accuracy", None),
    ("abs_lambda1_median", "slow_manifold.abs_lambda1_median", None),
    ("median_abs_dev_lambda1", "slow_manifold.median_abs_dev_lambda1", None),
    ("frac_abs_lambda1_within_0_02", "slow_manifold.frac_abs_lambda1_within_0_02", None),
    ("tau1_median", "slow_manifold.tau_median", 0),
    ("one_dimensionality", "slow_manifold.one_dimensionality", None),
    ("top_pc_fraction", "slow_manifold.top_pc_fraction", None),
    ("readout_alignment", "slow_manifold.readout_alignment", None),
    ("readout_explained_by_position", "slow_manifold.readout_explained_by_position", None),
    ("q_median", "slow_manifold.q_median", None),
    ("n_exact_fixed_points", "slow_manifold.n_exact_fixed_points", None),
    ("spearman_bow", "slow_manifold.spearman_bow", None),
    ("spearman_truth", "slow_manifold.spearman_truth", None),
    ("pca_top3", "pca.trained_cumulative", 2),
]
BASE_COLUMNS = {
    "trial": "trial id: folder DIR/trials/<id>/ (<dataset>-<arch>-s<seed>-<hash of the training configuration>)",
    "dataset": "dataset label in the SPEC",
    "corpus": "load_corpus name",
    "data_seed": "load_corpus seed of the dataset",
    "arch": "architecture",
    "seed": "training seed (TrainSettings.seed)",
    "hidden_size": "units N (TrainSettings.hidden_size)",
    "draw": "index of the random draw ([random]); empty without one",
    "state": "done | failed | running (a stopped run) | pending (never started)",
    "attempts": "attempts recorded in the trial's status.json (all runs)",
    "validation_accuracy": "fraction of validation documents classified correctly by the selected checkpoint",
    "test_accuracy": "fraction of test documents classified correctly (stage evaluate)",
    "train_seconds": "wall seconds of the train stage in the attempt that finished it",
    "analyze_seconds": "wall seconds of the analyze stage",
}
# what the figures show
FIGURE_METRICS = [
    ("abs_lambda1_median", "|λ₁| (median along the slow manifold)", 1.0),
    ("one_dimensionality", "one-dimensionality of the slow points", 1.0),
    ("readout_alignment", "readout alignment |cos(tangent, Σw)|", 1.0),
    ("test_accuracy", "test accuracy (fraction correct)", None),
]
SPREAD_COLUMNS = [
    "test_accuracy",
    "abs_lambda1_median",
    "median_abs_dev_lambda1",
    "one_dimensionality",
    "readout_alignment",
    "readout_explained_by_position",
    "spearman_bow",
]


@dataclass
class SweepSummary:
    csv: Path
    json: Path
    report: Path | None
    rows: list[dict]


def _metric(summary: dict, path: str, index):
    from rnnlens.analysis.metrics import metric_node

    try:
        node = metric_node(summary, path)
    except KeyError:
        return None, None
    if node is None:
        return None, None
    v = node.get("value")
    if index is not None:
        v = v[index] if isinstance(v, list) and len(v) > index else None
    if isinstance(v, str):  # "nan"/"inf" as written in summary.json
        try:
            v = float(v)
        except ValueError:
            return None, node.get("definition")
    return v, node.get("definition")


def collect_rows(spec: SweepSpec, out_dir) -> tuple[list[dict], dict]:
    """One row per trial of ``spec`` and the column definitions."""
    from rnnlens.analysis.metrics import METRICS

    out_dir = Path(out_dir)
    varied = []
    for t in spec.trials:
        for k in t.varied:
            if k not in varied and k != "hidden_size":
                varied.append(k)
    columns = dict(BASE_COLUMNS)
    for k in varied:
        columns[k] = f"TrainSettings.{k} of the trial (from [grid] or [random])"
    metric_defs = {}
    rows = []
    for t in spec.trials:
        d = out_dir / "trials" / t.id
        st = read_status(d) or {}
        res = st.get("results", {})
        current = st.get("config_hash") == t.config_hash()
        row = {
            "trial": t.id,
            "dataset": t.dataset.label,
            "corpus": t.dataset.name,
            "data_seed": t.dataset.seed,
            "arch": t.arch,
            "seed": t.seed,
            "hidden_size": t.settings.get("hidden_size", 128),
            "draw": "" if t.draw is None else t.draw,
            **{k: t.varied.get(k, "") for k in varied},
            "state": st.get("state", "pending") if current else "pending",
            "attempts": len(st.get("attempts", [])),
            "validation_accuracy": res.get("validation_accuracy") if current else None,
            "test_accuracy": res.get("test_accuracy") if current else None,
            "train_seconds": st.get("stages", {}).get("train", {}).get("seconds") if current else None,
            "analyze_seconds": st.get("stages", {}).get("analyze", {}).get("seconds") if current else None,
        }
        summary = None
        if current and row["state"] == "done" and (d / ANALYSIS_DIR / "summary.json").is_file():
            try:
                summary = json.loads((d / ANALYSIS_DIR / "summary.json").read_text(encoding="utf-8"))
            except ValueError:
                summary = None
        for col, path, idx in METRIC_COLUMNS:
            v, definition = _metric(summary, path, idx) if summary else (None, None)
            row[col] = v
            if definition and col not in metric_defs:
                metric_defs[col] = definition
        rows.append(row)
    for col, path, idx in METRIC_COLUMNS:
        # the definition as the analyses wrote it; else the template, its fields shown by name
        base = metric_defs.get(col) or re.sub(r"\{(\w+)(?::[^}]*)?\}", r"\1", METRICS[path].definition)
        columns[col] = f"{path}" + (f"[{idx}]" if idx is not None else "") + f" of the trial's analysis: {base}"
    return rows, columns


def _fmt(v) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:.6g}" if math.isfinite(v) else str(v)
    return str(v)


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([_fmt(r.get(c)) for c in columns])
    write_text_atomic(path, buf.getvalue())


def _num(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


def spread(rows: list[dict], columns=SPREAD_COLUMNS) -> list[dict]:
    """Per (dataset, arch): n, median, min, max, mean, std (ddof=1; None for one value) of each column over
    the finished trials that have it."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        if r["state"] == "done":
            groups.setdefault((r["dataset"], r["arch"]), []).append(r)
    out = []
    for (ds, arch), rs in groups.items():
        entry = {"dataset": ds, "arch": arch, "n_trials": len(rs), "numbers": {}}
        for c in columns:
            vals = np.array([x for x in (_num(r.get(c)) for r in rs) if x is not None])
            if len(vals) == 0:
                continue
            entry["numbers"][c] = {
                "n": int(len(vals)),
                "median": float(np.median(vals)),
                "min": float(vals.min()),
                "max": float(vals.max()),
                "mean": float(vals.mean()),
                "std": float(vals.std(ddof=1)) if len(vals) > 1 else None,
            }
        out.append(entry)
    return out


def _valences(trial_path: Path):
    """(words, valence) of one finished trial: its vocabulary (checkpoint config.json) and the slow-manifold
    valence (``sm_valence_mean``; ``valence_mean``, over fixed points, when the curve is missing); None for a
    network without words (a task's) or without a valence."""
    from rnnlens.analysis import load_analysis

    cfg = json.loads((trial_path / CHECKPOINT_DIR / "config.json").read_text(encoding="utf-8"))
    if not cfg.get("vocab"):  # a network of a task (no words): no word valences to agree on
        return None
    itos = cfg["vocab"]["itos"]
    arrays = load_analysis(trial_path / ANALYSIS_DIR).arrays
    key = "sm_valence_mean" if "sm_valence_mean" in arrays else "valence_mean"
    if key not in arrays:
        return None
    v = np.asarray(arrays[key], dtype=float)
    if v.shape[0] != len(itos):
        return None
    return dict(zip(itos[2:], v[2:])), key


def _bow_coefficients(out_dir: Path, label: str, min_count: int):
    from rnnlens.analysis.geometry import readout_direction
    from rnnlens.baseline import load_bag_of_words

    path = out_dir / "datasets" / label / "bag_of_words.json"
    if not path.is_file():
        return None
    bow = load_bag_of_words(path)
    row = readout_direction(bow.coef)
    counts = np.asarray(bow.counts)
    return {w: float(c) for w, c, n in zip(bow.words, row, counts) if n >= min_count}


def valence_agreement(spec: SweepSpec, out_dir, rows: list[dict]) -> dict:
    """Per dataset: the pairwise Spearman matrix of word valences and each network against the bag of words."""
    from scipy.stats import spearmanr

    out_dir = Path(out_dir)
    result = {}
    for ds in spec.datasets:
        trials = [r for r in rows if r["dataset"] == ds.label and r["state"] == "done"]
        vals, ids, archs, source = [], [], [], None
        for r in trials:
            d = out_dir / "trials" / r["trial"]
            if not (d / ANALYSIS_DIR / "summary.json").is_file():
                continue
            got = _valences(d)
            if got is None:
                continue
            vals.append(got[0])
            source = got[1]
            ids.append(r["trial"])
            archs.append(r["arch"])
        if not vals:
            continue
        bow = _bow_coefficients(out_dir, ds.label, spec.min_count)
        shared = set(vals[0])
        for v in vals[1:]:
            shared &= set(v)
        if bow is not None:
            shared &= set(bow)
        words = sorted(shared)
        entry = {
            "trials": ids,
            "archs": archs,
            "n_words": len(words),
            "valence": source,
            "words_rule": (
                f"words in every network's vocabulary and seen >= {spec.min_count} times in the "
                "training split (bag-of-words counts)"
                if bow is not None
                else "words in every network's vocabulary (no bag of words to count them)"
            ),
        }
        if len(words) < 3:
            entry["note"] = "fewer than 3 shared words: no correlation computed"
            result[ds.label] = entry
            continue
        X = np.array([[v[w] for w in words] for v in vals])  # [networks, words]
        if len(vals) >= 2:
            rho = (
                spearmanr(X, axis=1).statistic
                if len(vals) > 2
                else np.array([[1.0, spearmanr(X[0], X[1]).statistic], [spearmanr(X[0], X[1]).statistic, 1.0]])
            )
            rho = np.atleast_2d(np.asarray(rho, dtype=float))
            entry["pairwise"] = [[float(x) if math.isfinite(x) else None for x in row] for row in rho]
            iu = np.triu_indices(len(vals), 1)
            same = [rho[i, j] for i, j in zip(*iu) if archs[i] == archs[j]]
            diff = [rho[i, j] for i, j in zip(*iu) if archs[i] != archs[j]]
            entry["pairs"] = {
                "all": _stats([rho[i, j] for i, j in zip(*iu)]),
                "same_arch": _stats(same),
                "different_arch": _stats(diff),
            }
        if bow is not None:
            b = np.array([bow[w] for w in words])
            entry["vs_bow"] = [_finite(spearmanr(x, b).statistic) for x in X]
            entry["vs_bow_by_arch"] = {
                a: _stats([s for s, aa in zip(entry["vs_bow"], archs) if aa == a]) for a in dict.fromkeys(archs)
            }
        result[ds.label] = entry
    return result


def _finite(x) -> float | None:
    """A float, or None for NaN (a network whose valences are all equal has no rank correlation)."""
    x = float(x)
    return x if math.isfinite(x) else None


def _stats(xs) -> dict | None:
    xs = np.array([x for x in xs if x is not None and math.isfinite(x)], dtype=float)
    if len(xs) == 0:
        return None
    return {"n": int(len(xs)), "median": float(np.median(xs)), "min": float(xs.min()), "max": float(xs.max())}


def _figures(rows: list[dict], agreement: dict, report_dir: Path, archs: list[str]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg", force=False)

    figs = []
    done = [r for r in rows if r["state"] == "done"]
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    metrics = [m for m in FIGURE_METRICS if any(_num(r.get(m[0])) is not None for r in done)]
    if metrics:
        name = "line_attractor_across_trials.png"
        _save_png(_trials_figure(done, datasets, archs, metrics), report_dir / name)
        figs.append(
            (
                name,
                "The line-attractor numbers of every trial: |λ₁| at the traced slow manifold's nodes "
                "(median), the share of the slow points' variance explained by the curve "
                "(one-dimensionality), |cos| of the curve's tangent with Σw (readout alignment), and "
                "test accuracy. 1 is the ideal line attractor for the first three.",
            )
        )
    for ds, entry in agreement.items():
        if "pairwise" not in entry:
            continue
        name = f"valence_agreement_{ds}.png"
        _save_png(_agreement_figure(ds, entry, archs), report_dir / name)
        figs.append(
            (
                name,
                f"{ds}: Spearman rank correlation between the word valences of every pair of networks "
                "(and, last row, with the bag-of-words coefficients) "
                f"(valence: Re(l₁ᵀ J_inp x_word) averaged over the slow manifold's nodes), over "
                f"{entry['n_words']} {entry['words_rule']}.",
            )
        )
    return figs


def _save_png(fig, path: Path) -> None:
    """Write ``fig`` to ``path`` as PNG (temporary name, then rename) and close it."""
    import matplotlib.pyplot as plt

    from rnnlens._atomic import atomic_file

    with atomic_file(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def _trials_figure(done: list[dict], datasets: list[str], archs: list[str], metrics: list):
    """One panel per metric of ``metrics``: every finished trial as a dot (jittered, seeded) at its
    architecture, coloured by dataset, with the median per architecture and dataset as a bar and the
    ideal line attractor's value dashed."""
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10")
    ncol = 2 if len(metrics) == 4 else len(metrics)
    nrow = math.ceil(len(metrics) / ncol)
    fig, axes = plt.subplots(
        nrow, ncol, figsize=(max(3.2 * ncol, 0.9 * len(archs) * ncol), 3.0 * nrow + 0.6), squeeze=False
    )
    axes = axes.ravel()
    for ax in axes[len(metrics) :]:
        ax.set_visible(False)
    rng = np.random.default_rng(0)
    for ax, (col, title, ref) in zip(axes, metrics):
        for k, ds in enumerate(datasets):
            for i, arch in enumerate(archs):
                ys = [_num(r.get(col)) for r in done if r["dataset"] == ds and r["arch"] == arch]
                ys = [y for y in ys if y is not None]
                if not ys:
                    continue
                x = i + (k - (len(datasets) - 1) / 2) * 0.8 / max(len(datasets), 1) + rng.uniform(-0.06, 0.06, len(ys))
                ax.scatter(
                    x,
                    ys,
                    s=18,
                    color=colors(k % 10),
                    alpha=0.8,
                    label=ds
                    if i
                    == next(j for j, a in enumerate(archs) if any(r["arch"] == a and r["dataset"] == ds for r in done))
                    else None,
                )
                ax.hlines(np.median(ys), x.min() - 0.08, x.max() + 0.08, color=colors(k % 10), lw=2)
        if ref is not None:
            ax.axhline(ref, color="0.6", lw=0.8, ls="--")
        ax.set_xticks(range(len(archs)), archs)
        ax.set_xlim(-0.6, len(archs) - 0.4)
        ax.set_title(title, fontsize=9)
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False)
    fig.suptitle(
        "every trial (dot), the median per architecture and dataset (bar);\ndashed: the ideal line attractor",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 0.94))
    return fig


def _agreement_figure(ds: str, entry: dict, archs: list[str]):
    """The matrix of Spearman correlations between the word valences of every pair of networks of dataset
    ``ds`` (ordered by architecture), with the bag of words as the last row and column when it was fitted."""
    import matplotlib.pyplot as plt

    rho = np.array(entry["pairwise"], dtype=float)
    order = sorted(
        range(len(entry["trials"])),
        key=lambda i: (archs.index(entry["archs"][i]) if entry["archs"][i] in archs else 99, i),
    )
    rho = rho[np.ix_(order, order)]
    names = _short_names([entry["trials"][i] for i in order], ds)
    if "vs_bow" in entry:  # the bag of words as one more row and column
        b = np.array(entry["vs_bow"], dtype=float)[order]
        rho = np.block([[rho, b[:, None]], [b[None, :], np.ones((1, 1))]])
        names.append("bag of words")
    n = len(names)
    fig, ax = plt.subplots(figsize=(min(4.2 + 0.3 * n, 15), min(3.4 + 0.3 * n, 14)))
    im = ax.imshow(rho, vmin=-1, vmax=1, cmap="RdBu_r")
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman rank correlation", shrink=0.8)
    ax.set_title(f"{ds}: word valences, network vs network\n({entry['n_words']} words)", fontsize=9)
    fig.tight_layout()
    return fig


def _short_names(ids: list[str], label: str) -> list[str]:
    """Trial ids without the dataset label; the configuration hash only where arch and seed repeat."""
    short = [i[len(label) + 1 :] if i.startswith(label + "-") else i for i in ids]
    stem = [s.rsplit("-", 1)[0] for s in short]
    return [st if stem.count(st) == 1 else sh for st, sh in zip(stem, short)]


def _range(s: dict | None, digits: int = 3) -> str:
    if not s:
        return "—"
    return f"{s['median']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}] (n={s['n']})"


def _html(spec: SweepSpec, rows, columns, spreads, agreement, figs, curves_html: str = "") -> str:
    esc = html.escape
    n_done = sum(r["state"] == "done" for r in rows)
    failed = [r for r in rows if r["state"] == "failed"]
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>rnnlens sweep {esc(spec.name)}</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 6px}"
        "td.num{text-align:right}.def{color:#555;font-size:13px}img{max-width:100%}</style>",
        f"<h1>Sweep {esc(spec.name)}: what is universal across {len(rows)} networks</h1>",
        f"<p>{n_done} of {len(rows)} trials finished, {len(failed)} failed. Datasets: "
        f"{esc(', '.join(d.label for d in spec.datasets))}; architectures: {esc(', '.join(spec.architectures))}; "
        f"seeds: {esc(', '.join(map(str, spec.seeds)))}. One row per trial in <code>summary.csv</code>.</p>",
    ]
    parts.append(curves_html)
    parts.append(
        "<h2>Spread per architecture and dataset</h2><p class='def'>Each cell: median [min, max] "
        "(n = finished trials that have the number).</p><table><tr><th>dataset</th><th>arch</th>"
        + "".join(f"<th>{esc(c)}</th>" for c in SPREAD_COLUMNS)
        + "</tr>"
    )
    for e in spreads:
        parts.append(
            f"<tr><td>{esc(e['dataset'])}</td><td>{esc(e['arch'])}</td>"
            + "".join(f"<td class='num'>{esc(_range(e['numbers'].get(c)))}</td>" for c in SPREAD_COLUMNS)
            + "</tr>"
        )
    parts.append(
        "</table><ul class='def'>"
        + "".join(f"<li><b>{esc(c)}</b>: {esc(columns[c])}</li>" for c in SPREAD_COLUMNS)
        + "</ul>"
    )
    parts.append(
        "<h2>Agreement of word valences</h2><p class='def'>Spearman rank correlation of the word "
        "valences (Re(l₁ᵀ J_inp x_word), averaged over the traced slow manifold's nodes) between every "
        "pair of networks on one dataset, and of each network with the bag-of-words coefficients. Each "
        "cell: median [min, max] (n = pairs or networks).</p><table><tr><th>dataset</th><th>words</th>"
        "<th>all pairs</th><th>same architecture</th><th>different architectures</th>"
        "<th>vs bag of words, by architecture</th></tr>"
    )
    for ds, e in agreement.items():
        pairs = e.get("pairs", {})
        vb = "<br>".join(f"{esc(a)}: {esc(_range(s))}" for a, s in e.get("vs_bow_by_arch", {}).items()) or "—"
        parts.append(
            f"<tr><td>{esc(ds)}</td><td class='num'>{e['n_words']}</td>"
            f"<td class='num'>{esc(_range(pairs.get('all')))}</td>"
            f"<td class='num'>{esc(_range(pairs.get('same_arch')))}</td>"
            f"<td class='num'>{esc(_range(pairs.get('different_arch')))}</td><td>{vb}</td></tr>"
        )
    parts.append("</table>")
    for ds, e in agreement.items():
        parts.append(
            f"<p class='def'>{esc(ds)}: {esc(e['words_rule'])}."
            + (f" {esc(e['note'])}." if e.get("note") else "")
            + "</p>"
        )
    parts.append("<h2>Figures</h2>")
    for name, caption in figs:
        parts.append(
            f"<figure><img src='{esc(name)}' alt='{esc(name)}'><figcaption class='def'>{esc(caption)}"
            "</figcaption></figure>"
        )
    if failed:
        parts.append(
            "<h2>Failed trials</h2><ul>"
            + "".join(
                f"<li>{esc(r['trial'])}: see trials/{esc(r['trial'])}/status.json and log.txt</li>" for r in failed
            )
            + "</ul>"
        )
    parts.append(
        "<h2>Columns of summary.csv</h2><ul class='def'>"
        + "".join(f"<li><b>{esc(c)}</b>: {esc(d)}</li>" for c, d in columns.items())
        + "</ul>"
    )
    parts.append("<p class='def'>Per-network figures: <code>rnnlens report DIR/trials/*/analysis -o OUT</code>.</p>")
    return "\n".join(parts)


def _curves_html(rows: list[dict], columns: dict, curves: dict, report_dir: Path) -> str:
    """The report's section on how the trials learned: the ranked table and the learning-curve figure."""
    if not curves:
        return ""
    esc = html.escape
    varied = [k for k in columns if k not in BASE_COLUMNS and k not in {c for c, _, _ in METRIC_COLUMNS}]
    _save_png(curves_figure(curves, rows), report_dir / "learning_curves.png")
    return (
        "<h2>Trials by validation accuracy, and how they learned</h2><p class='def'>Best validation accuracy "
        "first (the checkpoint each trial kept); test: the whole test split (stage evaluate); test within "
        "drop_longer: without the test documents longer than the trial's drop_longer tokens.</p>"
        + ranked_table(rows, curves, varied)
        + "<figure><img src='learning_curves.png' alt='learning curves'><figcaption class='def'>"
        + esc("Learning curves: " + CURVE_DEFINITION)
        + ".</figcaption></figure>"
    )


def comparisons(spec: SweepSpec, out_dir: Path, rows: list[dict]) -> dict:
    """Per dataset with at least two finished analyses: their comparison (:mod:`rnnlens.compare.study`, the SPEC's
    ``[compare]`` settings, labels = architectures) written to ``DIR/compare/<dataset>/``; returns per dataset the
    measures' nearest-neighbour accuracies (or why there is none). Only when the SPEC's ``[compare]`` names its
    ``measures`` (DSA alone takes seconds to import)."""
    from rnnlens.compare.output import write_comparison
    from rnnlens.compare.study import CompareSettings, compare_members, load_members
    from rnnlens.errors import RnnlensError

    out: dict = {}
    if "measures" not in spec.compare:
        return out
    for ds in dict.fromkeys(r["dataset"] for r in rows):
        done = [r for r in rows if r["dataset"] == ds and r["state"] == "done"]
        folders = [out_dir / "trials" / r["trial"] / ANALYSIS_DIR for r in done]
        kept = [(r, f) for r, f in zip(done, folders) if (f / "summary.json").is_file()]
        if len(kept) < 2:
            out[ds] = {"why": f"{len(kept)} finished analyses; a comparison needs 2"}
            continue
        where = out_dir / "compare" / re.sub(r"[^A-Za-z0-9_.-]", "_", ds)
        try:
            members = load_members([f for _, f in kept], [r["arch"] for r, _ in kept])
            result = compare_members(members, CompareSettings(**spec.compare))
            write_comparison(result, where)
        except RnnlensError as e:
            out[ds] = {"why": str(e)}
            continue
        out[ds] = {
            "report": str(where.relative_to(out_dir) / "report.html"),
            "networks": len(kept),
            "measures": {
                n: {k: m[k] for k in ("nn_accuracy", "nn_chance", "mds_stress", "definition")}
                for n, m in result.measures.items()
            },
            "missing": result.missing,
        }
    return out


def _comparisons_html(found: dict) -> str:
    if not found:
        return ""
    esc = html.escape
    parts = ["<h2>Geometry, topology and dynamics across the networks (rnnlens compare)</h2>"]
    for ds, c in found.items():
        if "why" in c:
            parts.append(f"<p class='def'>{esc(ds)}: no comparison: {esc(c['why'])}</p>")
            continue
        rows = "".join(
            f"<tr><td>{esc(n)}</td><td class='num'>{m['nn_accuracy']:.3f}</td><td class='num'>{m['nn_chance']:.3f}"
            f"</td><td class='num'>{m['mds_stress']:.3f}</td></tr>"
            for n, m in c["measures"].items()
        )
        parts.append(
            f"<h3>{esc(ds)}: {c['networks']} networks (<a href='../{esc(c['report'])}'>the comparison</a>)</h3>"
            "<table><tr><th>measure</th><th>nearest-neighbour architecture accuracy</th><th>chance</th>"
            f"<th>MDS stress</th></tr>{rows}</table>"
            + "".join(f"<p class='def'>{esc(n)} not computed: {esc(w)}</p>" for n, w in c["missing"].items())
        )
    return "".join(parts)


def summarize(spec: SweepSpec, out_dir, *, report: bool = True) -> SweepSummary:
    """Write ``summary.csv``, ``comparison.json`` and (``report=True``) ``report/report.html`` with figures."""
    out_dir = Path(out_dir)
    rows, columns = collect_rows(spec, out_dir)
    csv_path = out_dir / "summary.csv"
    _write_csv(csv_path, rows, list(columns))
    spreads = spread(rows)
    agreement = valence_agreement(spec, out_dir, rows)
    curves = learning_curves(out_dir, rows)
    compared = comparisons(spec, out_dir, rows)
    json_path = write_json_atomic(
        out_dir / "comparison.json",
        {
            "schema": "rnnlens-sweep-comparison/1",
            "name": spec.name,
            "columns": columns,
            "spread": spreads,
            "spread_definition": "per (dataset, arch) over finished trials: n, median, min, max, mean, std (ddof=1)",
            "valence_agreement": agreement,
            "learning_curves": curves,
            "comparisons": compared,
            "learning_curve_definition": CURVE_DEFINITION,
            "valence_definition": "Spearman rank correlation of word valences Re(l_1^T J_inp x_word) averaged over "
            "the slow manifold's nodes (sm_valence_mean), between networks and against the "
            "bag-of-words coefficients",
        },
    )
    report_path = None
    if report:
        report_dir = out_dir / "report"
        report_dir.mkdir(parents=True, exist_ok=True)
        figs = _figures(rows, agreement, report_dir, spec.architectures)
        report_path = report_dir / "report.html"
        write_text_atomic(
            report_path,
            _html(
                spec,
                rows,
                columns,
                spreads,
                agreement,
                figs,
                _curves_html(rows, columns, curves, report_dir) + _comparisons_html(compared),
            ),
        )
    return SweepSummary(
        csv=csv_path, json=Path(json_path) if json_path else out_dir / "comparison.json", report=report_path, rows=rows
    )
