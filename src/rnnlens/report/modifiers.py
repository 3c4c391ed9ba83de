"""Figures of the modifier analysis (how words such as "not" and "very" bend the integration), drawn from saved
arrays only (``mod_*`` in ``arrays.npz``).

Each function takes ``(summary, arrays)`` and returns a matplotlib Figure, or None when the analysis
has no modifier section. :data:`FIGURES` lists them for the report.
"""

from __future__ import annotations

import numpy as np

from rnnlens.report.style import COLORS, has_arrays as _has, plt


def _mod_color(i: int):
    """One distinct colour per modifier (tab10 has ten; the default list has seven)."""
    return plt.get_cmap("tab10")(i % 10)


_LEAD_COLORS = (COLORS[0], COLORS[2], "0.35")
_MARKERS = (("o", "end of the context"), ("^", "after the modifier / neutral word"))


def fig_modifier_3d(summary, arrays, ax=None):
    """Trajectories through "not good", "very good" and "good" (after a neutral word), as small multiples: one
    column per lead, the same axes in each; top row: along the line (the chord of the slow manifold) against the
    top direction of the modifiers' excursions normal to it, bottom row: against the second. The word's step is
    an arrow; the last panel sets its part along the line side by side for each context (flipped after a
    negator, longer after an intensifier, where the network does what the paper found)."""
    if not _has(arrays, "mod_3d_traj", "mod_3d_nodes", "mod_3d_names"):
        return None
    names = arrays["mod_3d_names"].tolist()
    word = str(arrays["mod_3d_word"]) if "mod_3d_word" in arrays else "the word"
    traj, nodes = np.asarray(arrays["mod_3d_traj"], float), arrays["mod_3d_nodes"]
    n = len(names)
    fig = plt.figure(figsize=(2.75 * n + 2.3, 5.4))
    grid = fig.add_gridspec(2, n + 1, width_ratios=[1] * n + [0.85], wspace=0.08, hspace=0.12)
    first = [fig.add_subplot(grid[0, 0])]
    first.append(fig.add_subplot(grid[1, 0], sharex=first[0]))
    for s, name in enumerate(names):
        color = _LEAD_COLORS[s % len(_LEAD_COLORS)]
        for row in range(2):
            a = first[row] if s == 0 else fig.add_subplot(grid[row, s], sharex=first[0], sharey=first[row])
            a.plot(nodes[:, 0], nodes[:, row + 1], color="k", lw=1.6, alpha=0.7, zorder=1)
            for path in traj[s]:
                _lead_trajectory(a, path[:, [0, row + 1]], color)
            a.grid(True, color="0.92", lw=0.6)
            a.tick_params(labelsize=8, labelleft=s == 0, labelbottom=row == 1)
            if s == 0:
                a.set_ylabel(f"modifier direction {row + 1}")
            if row == 1:
                a.set_xlabel("along the line")
            else:
                a.set_title(name, fontsize=9, color=color)
    _step_along_line(fig.add_subplot(grid[:, n]), traj, names, word)
    handles = [plt.Line2D([], [], color="k", lw=1.6, alpha=0.7, label="slow manifold (the line)")]
    handles += [plt.Line2D([], [], color="0.3", ls="none", marker=m, ms=6, label=what) for m, what in _MARKERS]
    handles += [
        plt.Line2D([], [], color="0.3", lw=2, marker="s", ms=6, label=f"the step of {word!r} (arrow)"),
        plt.Line2D([], [], color="0.3", lw=0.8, alpha=0.6, label="then neutral words"),
    ]
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.02), ncol=3, frameon=False, fontsize=8)
    return fig


def _step_along_line(ax, traj, names, word):
    """The word's step along the line (after the lead minus before the word), one dot per context and lead, the
    same context's dots joined."""
    step = traj[:, :, 2, 0] - traj[:, :, 1, 0]  # [lead, context]
    x = np.arange(len(names))
    for c in range(step.shape[1]):
        ax.plot(x, step[:, c], color="0.8", lw=0.8, zorder=1)
    for s in range(len(names)):
        ax.scatter(np.full(step.shape[1], s), step[s], color=_LEAD_COLORS[s % len(_LEAD_COLORS)], s=22, zorder=2)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(x, [nm.replace(" (after a neutral word)", "\n(control)") for nm in names], fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.yaxis.tick_right()
    ax.yaxis.set_label_position("right")
    ax.tick_params(labelsize=8)
    ax.set_ylabel(f"step of {word!r} along the line")
    ax.set_title("the word's push along the line", fontsize=9)
    ax.grid(True, axis="y", color="0.92", lw=0.6)


def _lead_trajectory(ax, xy, color):
    """One context's trajectory in one projection: dashed to the state after the lead, an arrow for the word,
    thin for the neutral words after it; circle, triangle and square at the context's end, after the lead
    and after the word."""
    ax.plot(xy[:2, 0], xy[:2, 1], "--", color=color, lw=0.9, alpha=0.8)
    ax.plot(xy[2:, 0], xy[2:, 1], "-", color=color, lw=0.8, alpha=0.45)
    ax.annotate(
        "",
        xy=xy[2],
        xytext=xy[1],
        arrowprops=dict(arrowstyle="-|>", color=color, lw=1.8, mutation_scale=9, shrinkA=0, shrinkB=3),
    )
    for i, marker in enumerate(("o", "^", "s")):
        ax.scatter(*xy[i], color=color, s=(12, 26, 26)[i], marker=marker, zorder=3, edgecolor="w", linewidth=0.4)


def fig_modifier_factors(summary, arrays, ax=None):
    """Factor against gap per modifier: measured (95% bootstrap band), linearized prediction, truth."""
    if not _has(arrays, "mod_factor", "mod_names"):
        return None
    names = arrays["mod_names"].tolist()
    f = np.asarray(arrays["mod_factor"], dtype=float)
    k = np.arange(1, f.shape[1] + 1)
    n = len(names)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False, sharex=True)
    for i, name in enumerate(names):
        a = axes[i // cols][i % cols]
        a.axhline(1, color="0.6", lw=0.8)
        a.axhline(0, color="0.85", lw=0.8)
        if "mod_ci_low" in arrays:
            a.fill_between(k, arrays["mod_ci_low"][i], arrays["mod_ci_high"][i], color=COLORS[1], alpha=0.25, lw=0)
        a.plot(k, f[i], "o-", color=COLORS[1], ms=4, label="measured")
        if "mod_predicted" in arrays:
            a.plot(k, arrays["mod_predicted"][i], "x--", color=COLORS[3], ms=4, lw=0.8, label="l_1^T J_inp x")
        if "mod_truth" in arrays:
            a.plot(k, arrays["mod_truth"][i], "s:", color="k", ms=3, lw=0.8, label="truth")
        a.set_title(name, fontsize=9)
        if i % cols == 0:
            a.set_ylabel("factor")
        if i // cols == rows - 1:
            a.set_xlabel("gap k (tokens after the modifier)")
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def fig_modifier_eigenvalues(summary, arrays, ax=None):
    """Eigenvalues of J_rec at the excursion states of each modifier (and at the control states), with the unit
    circle; right: the excursion's return to the line (its part normal to the line) against tokens."""
    if not _has(arrays, "mod_eig_excursion", "mod_eig_control", "mod_names"):
        return None
    names = arrays["mod_names"].tolist()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    t = np.linspace(0, 2 * np.pi, 200)
    a.plot(np.cos(t), np.sin(t), color="0.7", lw=0.8)
    for i, name in enumerate(names):
        ev = np.asarray(arrays["mod_eig_excursion"][i]).ravel()
        a.scatter(ev.real, ev.imag, s=8, color=_mod_color(i), alpha=0.5, label=f"after {name!r}")
    ctrl = np.asarray(arrays["mod_eig_control"]).ravel()
    a.scatter(
        ctrl.real, ctrl.imag, s=10, color="k", marker="x", lw=0.7, label="after the neutral control word", zorder=5
    )
    a.set(xlabel="Re lambda", ylabel="Im lambda", aspect="equal", title="slowest modes of J_rec")
    a.legend(frameon=False, fontsize=6, loc="lower left")
    if "mod_return" in arrays:
        r = np.asarray(arrays["mod_return"], dtype=float)
        for i, name in enumerate(names):
            b.semilogy(np.arange(r.shape[1]), np.maximum(r[i], 1e-6), ".-", color=_mod_color(i), label=name)
        b.set(
            xlabel="neutral tokens after the modifier",
            ylabel="||excursion normal to the line|| / at 0",
            title="return to the line",
        )
        b.legend(frameon=False, fontsize=6)
    fig.tight_layout()
    return fig


def modifier_table(summary) -> str:
    """HTML: the factors at gaps 1, 2, 3 and 6 with their 95% intervals, reach and excursion numbers, per modifier;
    empty when the summary has no modifier section."""
    import html
    import math

    from rnnlens.analysis.metrics import metric_node, metric_value

    names = metric_value(summary, "modifiers.modifiers")
    if not names:
        return ""
    f, lo, hi = (metric_value(summary, f"modifiers.{p}") or {} for p in ("factor", "factor_ci_low", "factor_ci_high"))
    reach = metric_value(summary, "modifiers.reach") or {}
    angle = metric_value(summary, "modifiers.excursion_line_angle_deg") or {}
    pr = metric_value(summary, "modifiers.excursion_participation_ratio") or {}
    tau = metric_value(summary, "modifiers.return_tau_trajectory") or {}
    gaps = [k for k in (1, 2, 3, 6) if f and k <= len(next(iter(f.values())))]

    def num(x, fmt="{:+.2f}"):
        return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)

    head = "".join(f"<th>factor, k={k}</th>" for k in gaps)
    rows = []
    for m in names:
        cells = "".join(
            f"<td class='num'>{num(f[m][k - 1])} <span class='ci'>[{num(lo[m][k - 1])}, "
            f"{num(hi[m][k - 1])}]</span></td>"
            for k in gaps
        )
        rows.append(
            f"<tr><td>{html.escape(m)}</td>{cells}<td class='num'>{reach.get(m, '–')}</td>"
            f"<td class='num'>{num(angle.get(m), '{:.0f}')}</td><td class='num'>{num(pr.get(m), '{:.1f}')}</td>"
            f"<td class='num'>{num(tau.get(m), '{:.1f}')}</td></tr>"
        )
    missing = metric_value(summary, "modifiers.missing_modifiers") or []
    note = f"<p>Not in the vocabulary (not measured): {html.escape(', '.join(missing))}.</p>" if missing else ""
    agree = [
        (metric_value(summary, f"modifiers.{p}"), label)
        for p, label in (
            ("prediction_correlation", "l_1^T J_inp x"),
            ("prediction_readout_correlation", "readout^T J_inp x"),
        )
    ]
    agree_txt = "; ".join(f"{label}: correlation {num(v, '{:.2f}')}" for v, label in agree)
    defs = "".join(
        f"<li><b>{label}</b>: {html.escape(node['definition'])}</li>"
        for label, node in (
            (label, metric_node(summary, f"modifiers.{p}"))
            for p, label in (
                ("factor", "factor"),
                ("reach", "reach"),
                ("excursion_line_angle_deg", "angle to the line"),
                ("excursion_participation_ratio", "participation ratio"),
                ("return_tau_trajectory", "return tau"),
            )
        )
        if node and node.get("definition")
    )
    return (
        "<h3>Modifiers: how they bend the integration</h3>"
        f"<table><tr><th>modifier</th>{head}<th>reach (tokens)</th><th>angle to the line (deg)</th>"
        f"<th>participation ratio</th><th>return tau (tokens)</th></tr>{''.join(rows)}</table>{note}"
        f"<p>Linearized prediction of the factors over (modifier, gap): {html.escape(agree_txt)}.</p>"
        "<details class='def'><summary>What the columns measure (brackets: 95% bootstrap interval)</summary>"
        f"<ul>{defs}</ul></details>"
    )
