"""A comparison on disk: ``comparison.json`` (every distance matrix with its definition, the MDS embeddings, the
nearest-neighbour accuracies, the fixed-point topologies), figures and ``report.html``.

Written to temporary names and renamed, so a crash leaves the previous files or none.
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import numpy as np

from rnnlens._atomic import write_json_atomic, write_text_atomic
from rnnlens.compare.study import Comparison

__all__ = ["write_comparison", "topology_by_label"]

SCHEMA = "rnnlens-comparison/1"
NN_DEFINITION = (
    "nearest-neighbour accuracy: the share of networks whose nearest other network under the distance has the "
    "same label (architecture), leave one out; chance: the same share for a neighbour drawn at random, "
    "sum_c n_c (n_c - 1) / (M (M - 1)); well above chance: the measure separates the labels"
)
MDS_DEFINITION = (
    "MDS: 2-D metric multidimensional scaling of the distance matrix (scikit-learn, classical start), one point "
    "per network coloured by its label; stress: Kruskal's stress-1 of the fit, sqrt(sum (d - D)^2 / sum D^2) over "
    "pairs with d the distances in the plane (0 perfect, above ~0.2 the plane misrepresents the distances)"
)


def topology_by_label(comparison: Comparison) -> list[dict]:
    """Per label: networks, the most common fixed-point counts by index (entry i: points with i unstable modes),
    the share of networks with exactly those counts, and the share with the most common whole graph (hash)."""
    rows = []
    for label in sorted(set(comparison.labels)):
        tops = [t for t, lab in zip(comparison.topology, comparison.labels) if lab == label and t is not None]
        if not tops:
            continue
        counts = Counter(tuple(t["counts_by_index"]) for t in tops)
        stable = Counter(int(t["counts_by_index"][0]) for t in tops)
        hashes = Counter(t["wl_hash"] for t in tops)
        common, n = counts.most_common(1)[0]
        rows.append(
            {
                "label": label,
                "networks": len(tops),
                "stable_points": dict(sorted(stable.items())),
                "common_counts_by_index": list(common),
                "share_with_common_counts": n / len(tops),
                "share_with_common_graph": hashes.most_common(1)[0][1] / len(tops),
            }
        )
    return rows


def _json(comparison: Comparison) -> dict:
    return {
        "schema": SCHEMA,
        "names": comparison.names,
        "labels": comparison.labels,
        "settings": comparison.settings.to_dict(),
        "measures": {
            name: {
                "definition": m["definition"],
                "networks": [comparison.names[i] for i in m["networks"]],
                "distances": np.asarray(m["distances"]).tolist(),
                "mds": np.asarray(m["mds"]).tolist(),
                "mds_stress": m["mds_stress"],
                "nn_accuracy": m["nn_accuracy"],
                "nn_chance": m["nn_chance"],
            }
            for name, m in comparison.measures.items()
        },
        "nn_definition": NN_DEFINITION,
        "mds_definition": MDS_DEFINITION,
        "missing": comparison.missing,
        "topology": dict(zip(comparison.names, comparison.topology)),
        "topology_by_label": topology_by_label(comparison),
        "info": comparison.info,
    }


def _figure(comparison: Comparison, out_dir: Path) -> Path | None:
    """MDS of every measure (top row) and its distance matrix ordered by label (bottom row)."""
    from rnnlens.report.style import COLORS, plt, save_figure

    names = list(comparison.measures)
    if not names:
        return None
    labels = sorted(set(comparison.labels))
    color = {lab: COLORS[i % len(COLORS)] for i, lab in enumerate(labels)}
    fig, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 8), squeeze=False)
    for k, name in enumerate(names):
        m = comparison.measures[name]
        own = [comparison.labels[i] for i in m["networks"]]
        ax = axes[0, k]
        for lab in labels:
            pts = np.asarray(m["mds"])[[j for j, x in enumerate(own) if x == lab]]
            if len(pts):
                ax.scatter(pts[:, 0], pts[:, 1], s=22, color=color[lab], label=lab, alpha=0.85)
        ax.set_title(f"{name}: nearest-neighbour {m['nn_accuracy']:.2f} (chance {m['nn_chance']:.2f})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.legend(fontsize=7, loc="best")
        order = np.argsort(own, kind="stable")
        D = np.asarray(m["distances"])[np.ix_(order, order)]
        im = axes[1, k].imshow(D, cmap="viridis", interpolation="nearest")
        axes[1, k].set_title(f"{name} distances, networks by label", fontsize=9)
        ordered = [own[i] for i in order]
        centres = [np.mean([j for j, x in enumerate(ordered) if x == lab]) for lab in labels if lab in ordered]
        axes[1, k].set_xticks([])
        axes[1, k].set_yticks(centres, [lab for lab in labels if lab in ordered], fontsize=8)
        fig.colorbar(im, ax=axes[1, k], fraction=0.046)
    fig.tight_layout()
    return save_figure(fig, out_dir, "comparison")["png"]


def _html(comparison: Comparison, png: Path | None) -> str:
    from rnnlens.report.html import definition_html, figure_html, page

    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(n)}</td><td class='num'>{len(m['networks'])}</td><td class='num'>{m['nn_accuracy']:.3f}</td>"
        f"<td class='num'>{m['nn_chance']:.3f}</td><td class='num'>{m['mds_stress']:.3f}</td></tr>"
        for n, m in comparison.measures.items()
    )
    table = (
        "<table><tr><th>measure</th><th>networks</th><th>nearest-neighbour label accuracy</th><th>chance</th>"
        f"<th>MDS stress</th></tr>{rows}</table>"
    )
    defs = "".join(definition_html(m["definition"], f"{esc(n)}: definition") for n, m in comparison.measures.items())
    missing = "".join(
        f"<p class='missing'>{esc(n)} not computed: {esc(why)}</p>" for n, why in comparison.missing.items()
    )
    topo = topology_by_label(comparison)
    topo_rows = "".join(
        f"<tr><td>{esc(r['label'])}</td><td class='num'>{r['networks']}</td>"
        f"<td>{esc(', '.join(f'{k}: {v}' for k, v in r['stable_points'].items()))}</td>"
        f"<td>{r['common_counts_by_index']}</td>"
        f"<td class='num'>{r['share_with_common_counts']:.2f}</td><td class='num'>{r['share_with_common_graph']:.2f}"
        "</td></tr>"
        for r in topo
    )
    topo_html = (
        "<h2>Fixed-point topology by label</h2><table><tr><th>label</th><th>networks</th><th>stable fixed points: "
        "networks with that many</th><th>most common fixed points "
        "by number of unstable modes [stable, index 1, ...]</th><th>share with those counts</th><th>share with the "
        f"most common graph</th></tr>{topo_rows}</table>"
        if topo
        else ""
    )
    groups = ", ".join(f"{n} {lab}" for lab, n in sorted(Counter(comparison.labels).items()))
    intro = f"{len(comparison.names)} networks ({groups}), compared on the same inputs."
    sections = [
        "<h2>Does each measure separate the labels?</h2>" + table + definition_html(NN_DEFINITION) + defs + missing,
        figure_html("comparison", png, MDS_DEFINITION + "; bottom: the distance matrices, networks ordered by label."),
        topo_html,
    ]
    return page("rnnlens comparison", esc(intro), sections)


OUTPUTS = ("comparison.json", "comparison.png", "comparison.svg", "report.html")


def write_comparison(comparison: Comparison, out_dir) -> Path:
    """Write ``comparison.json``, ``comparison.png``/``.svg`` and ``report.html`` into ``out_dir`` (its own earlier
    outputs replaced together, anything else there left alone; an entry of the user's with one of these names is
    refused before any work); returns the report's path."""
    from rnnlens._atomic import check_output, output_folder
    from rnnlens._lock import output_lock

    folder = check_output(out_dir, OUTPUTS)
    with output_lock(folder, "compare"), output_folder(folder, "compare", last="report.html") as tmp:
        write_json_atomic(tmp / "comparison.json", _json(comparison))
        png = _figure(comparison, tmp)
        write_text_atomic(tmp / "report.html", _html(comparison, png))
    return folder / "report.html"
