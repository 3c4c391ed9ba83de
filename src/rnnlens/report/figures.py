"""Figures from a saved analysis (``summary.json`` + ``arrays.npz``): the paper's figures 2-5 and 6.

Every function takes ``(summary, arrays)`` as returned by :func:`rnnlens.analysis.io.load_analysis`
and returns a matplotlib Figure, or None when the arrays it needs were not measured (a partial
analysis). Nothing here computes dynamics.
"""

from __future__ import annotations

import numpy as np

from rnnlens.report.style import COLORS, has_arrays as _has, model_title, new_axes, not_measured, plt


def fig_pca(summary, arrays, ax=None):
    """Fig 2a: cumulative variance explained by the top PCs, trained vs untrained."""
    if not _has(arrays, "pca_trained", "pca_untrained"):
        return None
    fig, ax = new_axes(ax, (4, 3))
    k = np.arange(1, len(arrays["pca_trained"]) + 1)
    ax.plot(k, 100 * arrays["pca_trained"], "o-", color=COLORS[1], label="trained")
    ax.plot(
        np.arange(1, len(arrays["pca_untrained"]) + 1),
        100 * arrays["pca_untrained"],
        "s--",
        color="gray",
        label="untrained",
    )
    ax.set(xlabel="number of PCs", ylabel="variance explained (%)", ylim=(0, 102), xticks=k)
    ax.legend(frameon=False)
    return fig


def fig_states(summary, arrays, ax=None):
    """Fig 2b: visited states in PC1-PC2 coloured by label, the readout direction and the fixed points. Drawn
    alone, its legend sits below the axes (never over the states); in the grid (``ax`` given) it has none."""
    if not _has(arrays, "state_pc", "state_label"):
        return None
    alone = ax is None
    fig, ax = new_axes(ax, (5.6, 4.6))
    names = summary.get("provenance", {}).get("label_names") or []
    pc, lab = arrays["state_pc"], arrays["state_label"]
    for j in np.unique(lab):
        sel = lab == j
        name = names[j] if j < len(names) else str(j)
        ax.scatter(
            pc[sel, 0],
            pc[sel, 1],
            s=2,
            alpha=0.15,
            color=COLORS[j % len(COLORS)],
            rasterized=True,
            label=f"states, {name} docs",
        )
    if "fp_pc" in arrays:
        ax.scatter(
            arrays["fp_pc"][:, 0],
            arrays["fp_pc"][:, 1],
            s=6,
            color="0.35",
            marker=".",
            label="fixed points with q < tol",
            zorder=3,
        )
    if "sm_pc" in arrays:
        _slow_manifold(fig, ax, arrays)
    if "readout_pc" in arrays:
        _readout_arrow(ax, arrays["readout_pc"], pc)
    ax.set(xlabel="PC1", ylabel="PC2")
    if alone:
        leg = ax.legend(
            frameon=False, fontsize=8, markerscale=1.5, loc="upper center", ncol=2, bbox_to_anchor=(0.5, -0.13)
        )
        for h in leg.legend_handles:
            h.set_alpha(1)
    return fig


def _slow_manifold(fig, ax, arrays):
    """The traced slow manifold (nodes coloured by log10 q, with a colour bar) and its exact fixed points."""
    line = arrays["sm_pc"]
    ax.plot(line[:, 0], line[:, 1], color="k", lw=0.8, zorder=4)
    sc = ax.scatter(
        line[:, 0],
        line[:, 1],
        c=np.log10(np.maximum(arrays["sm_q"], 1e-30)),
        cmap="viridis",
        s=14,
        edgecolor="k",
        linewidth=0.3,
        label="slow manifold (colour: log10 q)",
        zorder=5,
    )
    fig.colorbar(sc, ax=ax, label="log10 q on the slow manifold", shrink=0.8, pad=0.03)
    fp, unstable = arrays.get("sm_fp_pc", np.zeros((0, 2))), arrays.get("sm_fp_unstable", np.zeros(0))
    for kind, sel, marker in (("stable", unstable == 0, "o"), ("saddle / unstable", unstable > 0, "X")):
        if np.any(sel):
            ax.scatter(
                fp[sel, 0],
                fp[sel, 1],
                s=45,
                marker=marker,
                facecolor="w" if marker == "o" else "k",
                edgecolor="k",
                linewidth=1.2,
                label=f"exact fixed point, {kind}",
                zorder=6,
            )


def _readout_arrow(ax, readout, pc):
    """The readout direction as an arrow from the origin, labelled at its tip on a white ground, on the side
    towards the middle of the axes (so the label stays inside them)."""
    if np.linalg.norm(readout) == 0:
        return
    r = readout / np.linalg.norm(readout) * 0.4 * np.ptp(pc[:, 0])
    ax.annotate("", xy=(r[0], r[1]), xytext=(0, 0), arrowprops=dict(arrowstyle="->", lw=2, color="k"), zorder=7)
    inward = 1 if r[0] < np.mean(ax.get_xlim()) else -1
    ax.annotate(
        "readout",
        xy=(r[0], r[1]),
        xytext=(4 * inward, 5),
        textcoords="offset points",
        ha="left" if inward > 0 else "right",
        va="bottom",
        fontsize=9,
        zorder=7,
        bbox=dict(boxstyle="round,pad=0.15", fc="w", ec="none", alpha=0.8),
    )


def fig_line_profile(summary, arrays, ax=None):
    """Fig 3c: q, |lambda_1| and the slowest time constants along the traced slow manifold."""
    if not _has(arrays, "sm_arclength", "sm_q", "sm_abs_lambda1", "sm_tau"):
        return None
    x = arrays["sm_arclength"]
    if ax is not None:  # a single axis (grid): q only
        ax.semilogy(x, arrays["sm_q"], color=COLORS[1])
        ax.set(xlabel="arc length along the slow manifold", ylabel="q")
        return ax.figure
    fig, axes = plt.subplots(3, 1, figsize=(4.5, 6), sharex=True)
    axes[0].semilogy(x, np.maximum(arrays["sm_q"], 1e-30), ".-", color=COLORS[1])
    axes[0].set(ylabel="q = (1/N)||F(h)-h||^2")
    for p in arrays.get("sm_fp_arclength", []):
        for a in axes:
            a.axvline(p, color="gray", lw=0.6, ls=":")
    axes[1].plot(x, arrays["sm_abs_lambda1"], ".-", color=COLORS[0])
    axes[1].axhspan(0.98, 1.02, color="0.9", zorder=0)
    axes[1].axhline(1.0, color="k", lw=0.5)
    axes[1].set(ylabel="|lambda_1|")
    tau = np.array(arrays["sm_tau"], dtype=float)
    finite = tau[np.isfinite(tau)]
    cap = max(finite.max() * 3 if finite.size else 1e4, 10)
    for a in range(tau.shape[1]):
        axes[2].semilogy(
            x, np.where(np.isfinite(tau[:, a]), tau[:, a], cap), ".-", color=COLORS[a], label=f"tau_{a + 1}"
        )
    axes[2].set(ylabel="tau (tokens)", xlabel="arc length along the slow manifold (from its low-readout end)")
    axes[2].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def _example_points(theta, n=3):
    order = np.argsort(theta)
    return [int(order[i]) for i in np.linspace(0, len(order) - 1, min(n, len(order))).round().astype(int)]


def fig_eigvals(summary, arrays, ax=None):
    """Fig 3a: eigenvalues of J_rec in the complex plane at example fixed points, with the unit circle."""
    if not _has(arrays, "eigvals", "fp_theta"):
        return None
    fig, ax = new_axes(ax, (4, 4))
    t = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(t), np.sin(t), color="gray", lw=0.8)
    for c, i in enumerate(_example_points(arrays["fp_theta"])):
        ev = arrays["eigvals"][i]
        ax.scatter(ev.real, ev.imag, s=10, color=COLORS[c], alpha=0.7, label=f"theta = {arrays['fp_theta'][i]:+.2f}")
    ax.set(xlabel="Re lambda", ylabel="Im lambda", aspect="equal")
    ax.legend(frameon=False, fontsize=7)
    return fig


def fig_tau(summary, arrays, ax=None):
    """Fig 3b: time constants of the three slowest modes along theta (infinite tau drawn at the top)."""
    if not _has(arrays, "tau_top", "fp_theta"):
        return None
    fig, ax = new_axes(ax, (4, 3))
    tau = np.array(arrays["tau_top"], dtype=float)
    finite = tau[np.isfinite(tau)]
    cap = max(finite.max() * 3 if finite.size else 1e4, 10)
    for a in range(tau.shape[1]):
        y = np.where(np.isfinite(tau[:, a]), tau[:, a], cap)
        ax.scatter(arrays["fp_theta"], y, s=6, color=COLORS[a], label=f"tau_{a + 1}")
    ax.set(yscale="log", xlabel="theta (position along the fixed points)", ylabel="tau (tokens)")
    ax.legend(frameon=False, fontsize=7)
    return fig


def fig_valence(summary, arrays, ax=None):
    """Fig 4a: each word's valence l_1^T J_inp x against the bag-of-words coefficient (or the truth)."""
    key = ("bow_coef", "bow_model_valence") if _has(arrays, "bow_coef") else ("truth_valence", "truth_model_valence")
    if not _has(arrays, *key):
        return None
    fig, ax = new_axes(ax, (4, 3.5))
    ax.scatter(arrays[key[0]], arrays[key[1]], s=3, alpha=0.4, color=COLORS[1], rasterized=True)
    ax.axhline(0, color="gray", lw=0.5)
    ax.axvline(0, color="gray", lw=0.5)
    ax.set(
        xlabel="bag-of-words coefficient" if key[0] == "bow_coef" else "true valence",
        ylabel="valence l_1^T J_inp x (mean over fixed points)",
    )
    return fig


def fig_groups(summary, arrays, ax=None):
    """Fig 4b: mean valence of the most positive / negative / neutral words at each fixed point."""
    if not _has(arrays, "group_positive", "fp_theta"):
        return None
    fig, ax = new_axes(ax, (4, 3))
    for c, kind in zip((COLORS[2], COLORS[0], "gray"), ("positive", "negative", "neutral")):
        ax.scatter(arrays["fp_theta"], arrays[f"group_{kind}"], s=6, color=c, label=f"{kind} words")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="theta", ylabel="mean input projection")
    ax.legend(frameon=False, fontsize=7)
    return fig


def fig_r1m(summary, arrays, ax=None):
    """Fig 4c: |cos(r_1, m)| at every fixed point against the null of random unit vectors."""
    if not _has(arrays, "r1_m_overlap", "null_abs_cos"):
        return None
    fig, ax = new_axes(ax, (4, 3))
    bins = np.linspace(0, 1, 51)
    ax.hist(arrays["null_abs_cos"], bins=bins, density=True, color="gray", alpha=0.6, label="random unit vectors")
    ax.hist(
        arrays["r1_m_overlap"], bins=bins, density=True, color=COLORS[1], alpha=0.8, label="|r_1 . m| at fixed points"
    )
    ax.set(xlabel="|cos|", ylabel="density")
    ax.legend(frameon=False, fontsize=7)
    return fig


def fig_linear(summary, arrays, ax=None):
    """Fig 5: an example trajectory, true vs one-step linearized, in PC1-PC2; and the error histogram."""
    if not _has(arrays, "example_true_pc", "one_step_error"):
        return None
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.3))
    a, b = axes
    a.plot(arrays["example_true_pc"][:, 0], arrays["example_true_pc"][:, 1], "-", color="k", lw=1, label="true")
    a.plot(
        arrays["example_lin_pc"][:, 0],
        arrays["example_lin_pc"][:, 1],
        ".",
        color=COLORS[0],
        ms=3,
        label="one-step linearized",
    )
    if "fp_pc" in arrays:
        a.scatter(arrays["fp_pc"][:, 0], arrays["fp_pc"][:, 1], s=4, color="gray", label="fixed points")
    a.set(xlabel="PC1", ylabel="PC2")
    a.legend(frameon=False, fontsize=7)
    err = arrays["one_step_error"]
    b.hist(err[np.isfinite(err)], bins=50, color=COLORS[1])
    b.axvline(np.median(err), color="k", ls="--", lw=1, label=f"median {np.median(err):.3f}")
    b.set(xlabel="||h_next - h_lin|| / ||h_next||", ylabel="transitions")
    b.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def fig_speed(summary, arrays, ax=None):
    """Approach to the attractor: median normalised speed against steps at constant input."""
    if not _has(arrays, "speed"):
        return None
    fig, ax = new_axes(ax, (4, 3))
    sp = arrays["speed"]
    t = np.arange(1, sp.shape[1] + 1)
    ax.fill_between(t, np.percentile(sp, 10, axis=0), np.percentile(sp, 90, axis=0), color=COLORS[1], alpha=0.2)
    ax.plot(t, np.median(sp, axis=0), color=COLORS[1])
    ax.set(xscale="log", yscale="log", xlabel="steps with constant input", ylabel="||h_(t+1) - h_t|| / ||h_t||")
    return fig


def fig_grid(analyses):
    """Fig 6: one row per analysed model (PCA curve, states + fixed points, |lambda_1|, word groups)."""
    n = len(analyses)
    fig, axes = plt.subplots(n, 4, figsize=(15, 3.2 * n), squeeze=False)
    for r, (summary, arrays) in enumerate(analyses):
        row = axes[r]
        for ax, fn in zip(row, (fig_pca, fig_states, None, fig_groups)):
            if fn is None:
                if "abs_lambda1" in arrays:
                    ax.hist(arrays["abs_lambda1"], bins=30, color=COLORS[1])
                    ax.axvline(1.0, color="k", lw=0.5)
                    ax.set(xlabel="|lambda_1| at fixed points", ylabel="fixed points")
                else:
                    not_measured(ax)
                continue
            if fn(summary, arrays, ax=ax) is None:
                not_measured(ax)
        row[0].set_title(model_title(summary), loc="left", fontsize=10)
    fig.tight_layout()
    return fig
