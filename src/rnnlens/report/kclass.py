"""Figures of the k-class analysis (the integration manifold of a network that tells k classes apart), drawn
from saved arrays only (``kc_*`` in ``arrays.npz``).

Each function takes ``(summary, arrays)`` and returns a matplotlib Figure, or None when the analysis has
no k-class section. :data:`FIGURES` lists them for the report; :func:`kclass_table` is the predicted vs
measured dimension table.
"""

from __future__ import annotations

import numpy as np

from rnnlens.report.style import COLORS, has_arrays as _has, plt


def _labels(summary, k):
    names = summary.get("provenance", {}).get("label_names") or []
    return names if len(names) == k else [f"class {j}" for j in range(k)]


def fig_kclass_manifold(summary, arrays, ax=None):
    """The slow points in their top 2 (k = 3) or 3 PCs, coloured by the class the readout predicts there, with
    each class's centred readout row (arrows) and the exact fixed points (x stable, o unstable)."""
    if not _has(arrays, "kc_slow_pc", "kc_slow_class", "kc_readout_pc"):
        return None
    P, cls, R = arrays["kc_slow_pc"], arrays["kc_slow_class"], np.asarray(arrays["kc_readout_pc"], float)
    k = R.shape[0]
    three = k > 3
    fig = plt.figure(figsize=(6.5, 5.5))
    ax = fig.add_subplot(projection="3d") if three else fig.add_subplot()
    dims = 3 if three else 2
    scale = np.abs(P[:, :dims]).max() / max(np.abs(R[:, :dims]).max(), 1e-12) * 0.8
    names = _labels(summary, k)
    for c in range(k):
        m = cls == c
        col = COLORS[c % len(COLORS)]
        ax.scatter(*P[m, :dims].T, s=3, color=col, alpha=0.4, label=f"predicted {names[c]}")
        end = R[c, :dims] * scale
        if three:
            ax.plot([0, end[0]], [0, end[1]], [0, end[2]], color=col, lw=2.5)
            ax.text(*end, names[c], color=col, fontsize=8)
        else:
            ax.annotate("", xy=end, xytext=(0, 0), arrowprops=dict(arrowstyle="->", color=col, lw=2))
            ax.text(*end, names[c], color=col, fontsize=9)
    if "kc_fp_pc" in arrays and len(arrays["kc_fp_pc"]):
        F, unst = arrays["kc_fp_pc"], arrays["kc_fp_unstable"]
        for mask, marker, lab in ((unst == 0, "x", "stable fixed point"), (unst > 0, "o", "unstable fixed point")):
            if mask.any():
                ax.plot(
                    *F[mask, :dims].T,
                    linestyle="none",
                    marker=marker,
                    ms=7,
                    mew=1.5,
                    color="k",
                    markerfacecolor="none",
                    label=lab,
                )
    fr = arrays.get("kc_pca_fractions")
    lab = [f"PC {i + 1}" + (f" ({fr[i]:.0%})" if fr is not None else "") for i in range(dims)]
    ax.set_xlabel(lab[0])
    ax.set_ylabel(lab[1])
    if three:
        ax.set_zlabel(lab[2])
    ax.legend(frameon=False, fontsize=7, loc="upper left")
    return fig


def fig_kclass_eigen(summary, arrays, ax=None):
    """Left: the slow points (top 2 PCs) coloured by how many eigenvalues of J_rec have |lambda| >= the
    threshold. Right: the top of the spectrum at every linearized slow point."""
    if not _has(arrays, "kc_lin_pc", "kc_eig_count", "kc_eig_abs"):
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    if "kc_slow_pc" in arrays:
        a.scatter(*arrays["kc_slow_pc"][:, :2].T, s=2, color="0.85")
    cnt = arrays["kc_eig_count"]
    sc = a.scatter(*arrays["kc_lin_pc"][:, :2].T, c=cnt, cmap="viridis", s=30, vmin=0, vmax=max(cnt.max(), 1))
    fig.colorbar(sc, ax=a, label="eigenvalues with |lambda| >= threshold")
    a.set(xlabel="PC 1", ylabel="PC 2", title="slow modes per slow point")
    E = np.asarray(arrays["kc_eig_abs"], float)
    for row in E:
        b.plot(np.arange(1, E.shape[1] + 1), row, color=COLORS[1], alpha=0.25, lw=0.8)
    b.plot(np.arange(1, E.shape[1] + 1), np.median(E, 0), "o-", color="k", ms=4, label="median")
    b.axhline(1.0, color="0.6", lw=0.8)
    node = summary.get("metrics", {}).get("kclass", {}).get("n_eig_slow_median", {})
    thr = None
    if "definition" in node:
        import re

        m = re.search(r">= ([0-9.]+)", node["definition"])
        thr = float(m.group(1)) if m else None
    if thr is not None:
        b.axhline(thr, color=COLORS[3], lw=0.8, ls="--", label=f"threshold {thr:g}")
    k = summary.get("metrics", {}).get("kclass", {}).get("num_classes", {}).get("value")
    if k:
        b.axvline(k - 1 + 0.5, color="0.7", lw=0.8, ls=":", label="k-1")
    b.set(xlabel="mode (by |lambda|, descending)", ylabel="|lambda|", title="top of the spectrum at slow points")
    b.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def kclass_table(summary) -> str:
    """HTML: the dimension predicted from word counts vs the dimension measured four ways, the principal angles
    to the readout subspace and the evidence comparison; empty when the summary has no k-class section."""
    import html
    import math

    from rnnlens.analysis.metrics import metric_node, metric_value

    k = metric_value(summary, "kclass.num_classes")
    if k is None:
        return ""

    def v(name, fmt="{:.3g}"):
        x = metric_value(summary, f"kclass.{name}")
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return "–"
        if isinstance(x, list):
            return ", ".join(fmt.format(a) for a in x)
        return fmt.format(x)

    def d(name):
        node = metric_node(summary, f"kclass.{name}")
        return html.escape(node["definition"]) if node else ""

    rows = [
        (
            "predicted from word counts",
            v("predicted_dimension", "{}"),
            v("predicted_participation_ratio", "{:.2f}"),
            v("predicted_fractions", "{:.2f}"),
            d("predicted_fractions"),
        ),
        (
            "slow points, PCA",
            v("dimension_pca", "{}"),
            v("participation_ratio", "{:.2f}"),
            v("pca_fractions", "{:.2f}"),
            d("dimension_pca"),
        ),
        (
            "slow points in logit space",
            v("dimension_logit", "{}"),
            "–",
            v("logit_fractions", "{:.2f}"),
            d("dimension_logit"),
        ),
        (
            "eigenvalues near 1 (median count)",
            v("n_eig_slow_median", "{:.0f}"),
            "–",
            v("eig_abs_median", "{:.3f}"),
            d("n_eig_slow_median"),
        ),
    ]
    body = "".join(
        f"<tr><td><details class='def'><summary>{a}</summary>{f}</details></td><td class='num'>{b}</td>"
        f"<td class='num'>{c}</td><td class='num'>{e}</td></tr>"
        for a, b, c, e, f in rows
    )
    truth = (
        "; vs the true evidence R^2 " + v("evidence_truth_r2", "{:.2f}")
        if metric_value(summary, "kclass.evidence_truth_r2") is not None
        else ""
    )
    extra = (
        f"<p>k = {k}. Principal angles between the slow points' top k-1 PCs and the readout subspace: "
        f"{v('readout_angles_deg', '{:.0f}')} degrees (to Sigma Wc^T: {v('readout_cov_angles_deg', '{:.0f}')}). "
        f"Exact fixed points from slow points: {v('fixed_points_n_unique', '{}')} distinct, "
        f"{v('fixed_points_n_stable', '{}')} stable. Evidence vectors vs bag of words: Spearman per class "
        f"{v('evidence_bow_spearman', '{:.2f}')}, linear-map R^2 {v('evidence_bow_r2', '{:.2f}')}"
        f"{truth}.</p>"
    )
    return (
        "<h3>k classes: the integration manifold's dimension</h3>"
        "<table><tr><th>how (open for its definition)</th><th>dimension</th><th>participation ratio</th>"
        f"<th>spectrum</th></tr>{body}</table>{extra}"
    )
