"""Section ``slow_manifold``: the slow manifold traced as an ordered curve through the visited states
(:func:`rnnlens.manifold.trace_slow_manifold`) and the paper's quantities along it: its
one-dimensionality, its alignment with the readout, |lambda_1| and tau at its nodes, r_1 against its
tangent, word valence and the linearized dynamics around its nodes. The paper's checks read these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlens.analysis.geometry import halves_cos, middle_node
from rnnlens.analysis.registry import (
    Q_DEFINITION as _Q,
    ArraySpec,
    FigureSpec,
    Measurement,
    MetricSpec,
    Section,
    metric,
)
from rnnlens.analysis.sections.linearization import linear_fit, linearization_arrays, linearization_specs
from rnnlens.analysis.sections.valence import valence_arrays, valence_specs, word_valence
from rnnlens.constants import MANIFOLD_NODES, RELAX_STEPS
from rnnlens.device import to_numpy as _np
from rnnlens.settings import Int, SettingsGroup, setting

__all__ = ["SlowManifoldSettings", "SlowManifoldMeasurement", "readout_explained", "measure", "SECTION"]


@dataclass(frozen=True)
class SlowManifoldSettings(SettingsGroup):
    """The traced slow manifold."""

    name = "slow_manifold"
    manifold_points: int = setting(MANIFOLD_NODES, "Nodes of the traced slow manifold.", Int(3))
    relax_steps: int = setting(
        RELAX_STEPS, "Steps of the network's own dynamics at x* that turn visited states into slow points.", Int(0)
    )


@dataclass
class SlowManifoldMeasurement(Measurement):
    """The traced curve (``curve``, a :class:`rnnlens.manifold.SlowManifold`), the linearization at its
    nodes (``lin``) and the oriented slow mode there (``r1``, ``l1``)."""

    curve: Any = None
    lin: Any = None
    l1: np.ndarray | None = None
    r1: np.ndarray | None = None


def readout_explained(X: np.ndarray, r: np.ndarray, nodes: np.ndarray, arc: np.ndarray, ro: np.ndarray) -> float:
    """Share of the variance of the readouts ``r`` of states ``X`` explained by their position along the
    curve ``nodes`` (arc lengths ``arc``, readout ``ro`` at the nodes). States beyond an end of the curve
    (the relaxation that traces it pulls states inwards, so documents' final states can lie past its
    ends) are placed on the straight extension of the end segment, and the readout is extended linearly
    there too, so that a line traced shorter than the states it integrates still counts as explaining them."""
    import torch

    from rnnlens.manifold import project_on_curve

    pos = project_on_curve(torch.from_numpy(X).double(), torch.from_numpy(nodes).double())[0].numpy()
    for end, a, b, s0 in ((0, nodes[0], nodes[1], arc[0]), (-1, nodes[-1], nodes[-2], arc[-1])):
        d = (a - b) / max(float(np.linalg.norm(a - b)), 1e-300)  # pointing out of the curve
        beyond = (X - a) @ d
        out = (np.isclose(pos, s0, rtol=0, atol=1e-12 * max(arc[-1], 1.0))) & (beyond > 0)
        pos[out] = s0 - beyond[out] if end == 0 else s0 + beyond[out]
    slope0 = (ro[1] - ro[0]) / max(arc[1] - arc[0], 1e-300)
    slope1 = (ro[-1] - ro[-2]) / max(arc[-1] - arc[-2], 1e-300)
    at = np.interp(pos, arc, ro)
    at = np.where(pos < arc[0], ro[0] + slope0 * (pos - arc[0]), at)
    at = np.where(pos > arc[-1], ro[-1] + slope1 * (pos - arc[-1]), at)
    return 1.0 - float(np.var(r - at)) / max(float(np.var(r)), 1e-300)


def _trace(run) -> SlowManifoldMeasurement:
    """The curve, the linearization at its nodes and the slow mode oriented towards the high-readout end."""
    import torch

    from rnnlens.analysis.modes import orient_along
    from rnnlens.linearization import linearize
    from rnnlens.manifold import trace_slow_manifold

    s, states = run.settings.slow_manifold, run.products["documents"]
    # the states stay on the CPU here: trace_slow_manifold draws its subset of them there and relaxes, traces
    # and polishes on the step's device (the run's)
    curve = trace_slow_manifold(
        run.network.step,
        torch.from_numpy(states.X),
        readout=states.w,
        inputs=run.x_star,
        n_points=s.manifold_points,
        relax_steps=s.relax_steps,
        seed=run.settings.documents.seed,
    )
    nodes = curve.points
    # in float64 (the modifier section reuses it at these nodes), the 3 slowest modes
    lin = linearize(
        run.network.step,
        nodes.double(),
        run.x_star.double().expand(nodes.shape[0], -1).clone(),
        modes=min(3, nodes.shape[1]),
    )
    R, L = _np(lin.R), _np(lin.L)
    r1, l1 = orient_along(R[:, :, 0], L[:, 0, :], curve.tangent.cpu().numpy())
    return SlowManifoldMeasurement(curve=curve, lin=lin, l1=l1, r1=r1)


def _shape_metrics(run, out: SlowManifoldMeasurement) -> dict:
    """One-dimensionality of the slow points and the curve's alignment with the readout."""
    from rnnlens.analysis.geometry import abs_cos, pca_fit
    from rnnlens.manifold import curve_variance_explained

    states, curve, steps = run.products["documents"], out.curve, run.settings.slow_manifold.relax_steps
    w, nodes, t = states.w, curve.points, curve.tangent.cpu().numpy()
    J = _np(out.lin.J_rec).astype(np.float64)
    sens = np.einsum("psk,s->pk", J, w)  # (w^T J_rec): the readout's sensitivity one step later
    cos_t = np.array([abs_cos(a, w) for a in t])
    cos_sens = np.array([abs_cos(a, g) for a, g in zip(t, sens)])
    # where the states go as the readout changes: over all of them, and over those of each half of the curve
    cov_dir, cos_arm = _covariance_directions(states.X, w, curve, t)
    cos_cov = np.array([abs_cos(a, cov_dir) for a in t])
    relaxed = curve.relaxed.cpu().numpy()
    chord = nodes[-1].cpu().numpy() - nodes[0].cpu().numpy()
    span = float(curve.readout.max() - curve.readout.min())
    final_states = states.final_states()
    finals = final_states @ w
    explained = readout_explained(
        final_states, finals, nodes.cpu().numpy(), curve.arclength.cpu().numpy(), curve.readout.cpu().numpy()
    )
    out.arrays.update(
        sm_tangent_cos=cos_t, sm_sensitivity_cos=cos_sens, sm_covariance_cos=cos_cov, sm_arm_covariance_cos=cos_arm
    )
    return {
        "one_dimensionality": metric(
            "slow_manifold.one_dimensionality", curve_variance_explained(curve.relaxed, nodes), steps=steps
        ),
        "top_pc_fraction": metric("slow_manifold.top_pc_fraction", float(pca_fit(relaxed, 2)[0][0]), steps=steps),
        "readout_span_fraction": metric(
            "slow_manifold.readout_span_fraction", span / max(float(np.ptp(finals)), 1e-12)
        ),
        "tangent_readout_cos_median": metric("slow_manifold.tangent_readout_cos_median", float(np.median(cos_t))),
        "chord_readout_cos": metric("slow_manifold.chord_readout_cos", abs_cos(chord, w)),
        "readout_sensitivity_cos_median": metric(
            "slow_manifold.readout_sensitivity_cos_median", float(np.median(cos_sens))
        ),
        "tangent_readout_covariance_cos_median": metric(
            "slow_manifold.tangent_readout_covariance_cos_median", float(np.median(cos_cov))
        ),
        "readout_explained_by_position": metric("slow_manifold.readout_explained_by_position", explained),
        "arm_readout_covariance_cos_median": metric(
            "slow_manifold.arm_readout_covariance_cos_median", float(np.median(cos_arm))
        ),
        "halves_cos": metric("slow_manifold.halves_cos", halves_cos(nodes.cpu().numpy(), curve.readout.cpu().numpy())),
        "readout_alignment": metric("slow_manifold.readout_alignment", float(np.median(cos_cov))),
    }


def _covariance_directions(X: np.ndarray, w: np.ndarray, curve, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cov(h, w.h) over every visited state, and the |cos| of each node's tangent with Cov(h, w.h) over the visited
    states that project on the node's half of the curve (the halves of
    :func:`rnnlens.analysis.geometry.halves_cos`; a half with fewer than 2 states uses all of them)."""
    import torch

    from rnnlens.analysis.geometry import abs_cos, readout_covariance_directions
    from rnnlens.manifold import project_on_curve

    k = middle_node(curve.readout.detach().cpu().numpy())
    arc = curve.arclength.detach().cpu().double().numpy()
    # project_on_curve takes the states to float64 a block at a time (no float64 copy of all of them)
    pos = project_on_curve(torch.from_numpy(np.asarray(X)), curve.points.detach().cpu().double())[0].numpy()
    low = pos <= arc[k]
    full, *halves = readout_covariance_directions(X, w, [None, *(m if m.sum() >= 2 else None for m in (low, ~low))])
    return full, np.array([abs_cos(a, halves[0] if i <= k else halves[1]) for i, a in enumerate(t)])


def _spectrum_metrics(out: SlowManifoldMeasurement) -> dict:
    """|lambda_1|, slow modes, time constants and r_1 against the tangent at the nodes; the exact fixed points."""
    from rnnlens.analysis.geometry import abs_cos

    curve, lin = out.curve, out.lin
    eig = _np(lin.eigvals)
    al1 = np.abs(eig[:, 0]).astype(np.float64)
    tau = np.asarray(_np(lin.tau), dtype=np.float64)[:, :3]
    t = curve.tangent.cpu().numpy()
    fp_unstable = curve.fixed_point_unstable.tolist()
    out.arrays.update(sm_abs_lambda1=al1, sm_tau=tau)
    return {
        "abs_lambda1_median": metric("slow_manifold.abs_lambda1_median", float(np.median(al1))),
        "median_abs_dev_lambda1": metric("slow_manifold.median_abs_dev_lambda1", float(np.median(np.abs(al1 - 1)))),
        "frac_abs_lambda1_within_0_02": metric(
            "slow_manifold.frac_abs_lambda1_within_0_02", float((np.abs(al1 - 1) <= 0.02).mean())
        ),
        "n_slow_modes_median": metric(
            "slow_manifold.n_slow_modes_median", float(np.median((np.abs(eig) > 0.98).sum(1)))
        ),
        "tau_median": metric("slow_manifold.tau_median", np.median(tau, axis=0)),
        "r1_tangent_overlap_median": metric(
            "slow_manifold.r1_tangent_overlap_median", float(np.median([abs_cos(a.real, b) for a, b in zip(out.r1, t)]))
        ),
        "n_exact_fixed_points": metric(
            "slow_manifold.n_exact_fixed_points", len(fp_unstable), tol=curve.info["fixed_point_tol"]
        ),
        "exact_fixed_point_unstable": metric("slow_manifold.exact_fixed_point_unstable", fp_unstable),
        "method": curve.info["method"],
    }


def _curve_arrays(run, out: SlowManifoldMeasurement) -> dict:
    """The curve's nodes and its exact fixed points, in state space and PC coordinates."""
    import torch

    from rnnlens.manifold import project_on_curve

    states, curve = run.products["documents"], out.curve
    mean, comps, w = states.mean, states.components, states.w
    nodes = curve.points.cpu().numpy()
    fps = curve.fixed_points
    P = torch.as_tensor(fps.points).double().cpu()
    return dict(
        sm_points=nodes.astype(np.float32),  # in state space (e.g. for explore)
        sm_pc=(nodes - mean) @ comps.T,
        sm_q=curve.q.cpu().numpy(),
        sm_position=curve.readout.cpu().numpy(),
        sm_arclength=curve.arclength.cpu().numpy(),
        sm_fp_pc=((P.numpy() - mean) @ comps.T) if len(fps) else np.zeros((0, 2)),
        sm_fp_unstable=np.asarray(curve.fixed_point_unstable.tolist(), dtype=np.int64),
        sm_fp_position=(P.numpy() @ w) if len(fps) else np.zeros(0),
        sm_fp_arclength=project_on_curve(P, curve.points.cpu())[0].numpy() if len(fps) else np.zeros(0),
    )


def measure(run) -> SlowManifoldMeasurement:
    """Trace the slow manifold and measure the paper's quantities along it, the word valence at its nodes and
    the linearized dynamics around them."""
    out = _trace(run)
    curve, steps = out.curve, run.settings.slow_manifold.relax_steps
    sm = {
        "n_points": metric("slow_manifold.n_points", len(curve)),
        "relax_steps": metric("slow_manifold.relax_steps", steps),
        "q_median": metric("slow_manifold.q_median", float(curve.q.median())),
        "q_max": metric("slow_manifold.q_max", float(curve.q.max())),
        "relaxed_q_median": metric("slow_manifold.relaxed_q_median", float(curve.relaxed_q.median()), steps=steps),
    }
    sm.update(_shape_metrics(run, out))
    sm.update(_spectrum_metrics(out))
    out.arrays.update(_curve_arrays(run, out))
    out.metrics["slow_manifold"] = sm
    parts = [] if run.lacks("words") else [word_valence(run, out.l1, out.lin, section="slow_manifold", prefix="sm_")]
    parts.append(
        linear_fit(
            run,
            curve.points,
            out.lin,
            np.random.default_rng([run.settings.documents.seed, 1]),
            section="slow_manifold",
            prefix="sm_",
        )
    )
    for part in parts:
        sm.update(part.metrics["slow_manifold"])
        out.arrays.update(part.arrays)
    return out


METRICS = (
    MetricSpec("slow_manifold.n_points", "nodes on the traced slow manifold (ordered from the low-readout end)"),
    MetricSpec(
        "slow_manifold.relax_steps",
        "steps of the network's own dynamics at x* from visited states before "
        "tracing; the relaxed states are the slow points",
    ),
    MetricSpec(
        "slow_manifold.q_median",
        "median over nodes of " + _Q + " (the valley floor of q across the curve)",
        "median q along the traced slow manifold",
        "{:.2e}",
    ),
    MetricSpec("slow_manifold.q_max", "largest q over the nodes"),
    MetricSpec("slow_manifold.relaxed_q_median", "median q of the visited states after {steps} steps at x*"),
    MetricSpec(
        "slow_manifold.one_dimensionality",
        "1 - (mean squared distance of the slow points, visited states "
        "after {steps} steps at x*, to the traced curve) / (their total "
        "variance): the share of their variance a position along the "
        "curve explains; a curved line scores 1 too",
        "one-dimensionality of the slow points (variance explained by the curve)",
        "{:.1%}",
    ),
    MetricSpec(
        "slow_manifold.top_pc_fraction",
        "variance of the same slow points on their top PC / their total "
        "variance (a straight-line measure: a curved line scores lower)",
        "variance of the slow points on their top PC",
        "{:.1%}",
    ),
    MetricSpec(
        "slow_manifold.readout_span_fraction",
        "range of readout . h over the curve / the range of readout . h "
        "over the final states of the analysed documents",
    ),
    MetricSpec(
        "slow_manifold.tangent_readout_cos_median",
        "median over nodes of |cos(tangent, readout direction)| "
        "(tangent: top PC of the nodes within an eighth of the curve)",
        "|cos(tangent of the curve, readout)| (median over nodes)",
        "{:.3f}",
    ),
    MetricSpec(
        "slow_manifold.chord_readout_cos",
        "|cos| between the chord from the first to the last node and the readout direction",
    ),
    MetricSpec(
        "slow_manifold.readout_sensitivity_cos_median",
        "median over nodes of |cos(tangent, J_rec^T w)|: w^T "
        "J_rec is how the readout of the next state changes "
        "with the state, so this sees motion in the LSTM's "
        "cell state c, which the readout reads through h",
        "|cos(tangent, readout sensitivity w^T J_rec)| (median over nodes)",
        "{:.3f}",
    ),
    MetricSpec(
        "slow_manifold.tangent_readout_covariance_cos_median",
        "median over nodes of |cos(tangent, Cov(h, w.h))|, the covariance over every visited state of the "
        "state with its readout w.h: the direction the network's states move in as its readout changes. "
        "It ignores readout weight along directions the states never take (which changes no readout the "
        "network produces) and sees coordinates that move with the readout without being read (the "
        "LSTM's c)",
        "|cos(tangent, Cov(h, readout))| (median over nodes)",
        "{:.3f}",
    ),
    MetricSpec(
        "slow_manifold.readout_explained_by_position",
        "1 - Var(w.h_T - w.c(s_T)) / Var(w.h_T) over the analysed documents' final states h_T, with c(s_T) "
        "the curve at h_T's projection on it (on the straight extension of an end segment for states "
        "past that end, where the readout is extended linearly): the share of the final readout that the "
        "position along the traced curve explains",
        "readout explained by the position along the curve",
        "{:.3f}",
    ),
    MetricSpec(
        "slow_manifold.arm_readout_covariance_cos_median",
        "median over nodes of |cos(tangent, Cov_half(h, w.h))|, the covariance over the visited states that "
        "project on the node's half of the curve (halves as in halves_cos): the readout alignment arm by "
        "arm, which follows a bent curve (equal to the global one for a straight line; not what the check "
        "reads)",
        "readout alignment arm by arm (median over nodes)",
        "{:.3f}",
    ),
    MetricSpec(
        "slow_manifold.halves_cos",
        "|cos| between the chords of the traced curve's two halves, split at the "
        "node where the readout along the curve is nearest the middle of its range: 1 for a straight line, "
        "0 for two orthogonal arms. A bent curve cannot align every tangent with one direction: with two "
        "orthogonal arms of equal length the best |cos| with any single direction is about 0.71 on both, so "
        "the readout-alignment check then fails whatever the readout does along the curve",
        "straightness: |cos| of the two halves' chords",
        "{:.3f}",
    ),
    MetricSpec(
        "slow_manifold.readout_alignment",
        "the alignment the checks use: slow_manifold.tangent_readout_covariance_cos_median",
    ),
    MetricSpec(
        "slow_manifold.abs_lambda1_median",
        "median over nodes of |lambda_1| of J_rec at (node, x*)",
        "median |lambda_1| along the slow manifold",
        "{:.4f}",
    ),
    MetricSpec("slow_manifold.median_abs_dev_lambda1", "median over nodes of | |lambda_1| - 1 |"),
    MetricSpec("slow_manifold.frac_abs_lambda1_within_0_02", "fraction of nodes with | |lambda_1| - 1 | <= 0.02"),
    MetricSpec(
        "slow_manifold.n_slow_modes_median", "median over nodes of the number of eigenvalues with |lambda| > 0.98"
    ),
    MetricSpec(
        "slow_manifold.tau_median",
        "median over nodes of tau_a = 1/|ln|lambda_a|| (tokens), a = 1..3",
        "median time constants of the 3 slowest modes along the slow manifold (tokens)",
        "tau",
    ),
    MetricSpec("slow_manifold.r1_tangent_overlap_median", "median over nodes of |cos(r_1, tangent)|"),
    MetricSpec(
        "slow_manifold.n_exact_fixed_points",
        "distinct exact fixed points on the curve (q < {tol:g}, found from the local minima of q along it)",
        "exact fixed points on the slow manifold",
        "{}",
    ),
    MetricSpec(
        "slow_manifold.exact_fixed_point_unstable",
        "number of |lambda| > 1 at each exact fixed point, in order along the curve (0: stable, 1: saddle)",
    ),
    *valence_specs("slow_manifold", "slow-manifold nodes"),
    *linearization_specs("slow_manifold", "the slow-manifold node"),
)

ARRAYS = (
    ArraySpec("sm_points", "f", 2, "[n_points, S] the curve's nodes in state space (float32)"),
    ArraySpec("sm_pc", "f", 2, "[n_points, 2] the nodes in PC coordinates"),
    ArraySpec("sm_q", "f", 1, "[n_points] q at each node"),
    ArraySpec("sm_position", "f", 1, "[n_points] readout . node"),
    ArraySpec("sm_arclength", "f", 1, "[n_points] arc length from the low-readout end"),
    ArraySpec("sm_abs_lambda1", "f", 1, "[n_points] |lambda_1| at each node"),
    ArraySpec("sm_tau", "f", 2, "[n_points, 3] time constants of the 3 slowest modes at each node"),
    ArraySpec("sm_tangent_cos", "f", 1, "[n_points] |cos(tangent, readout)| at each node"),
    ArraySpec("sm_sensitivity_cos", "f", 1, "[n_points] |cos(tangent, J_rec^T w)| at each node"),
    ArraySpec("sm_covariance_cos", "f", 1, "[n_points] |cos(tangent, Cov(h, w.h))| at each node"),
    ArraySpec(
        "sm_arm_covariance_cos",
        "f",
        1,
        "[n_points] |cos(tangent, Cov_half(h, w.h))| at each node, the "
        "covariance over the states on the node's half of the curve",
    ),
    ArraySpec("sm_fp_pc", "f", 2, "[n_fixed, 2] the exact fixed points on the curve in PC coordinates"),
    ArraySpec("sm_fp_unstable", "i", 1, "[n_fixed] number of |lambda| > 1 at each exact fixed point"),
    ArraySpec("sm_fp_position", "f", 1, "[n_fixed] readout . fixed point"),
    ArraySpec("sm_fp_arclength", "f", 1, "[n_fixed] arc length of each exact fixed point along the curve"),
    *valence_arrays("sm_", "slow-manifold nodes"),
    *linearization_arrays("sm_"),
)

FIGURES = (
    FigureSpec(
        "fig3c_line_profile",
        "rnnlens.report.figures:fig_line_profile",
        "Along the traced slow manifold (x: arc length from its low-readout end): q, |lambda_1| (grey "
        "band: within 0.02 of 1) and the time constants of the three slowest modes; dotted lines mark the"
        " exact fixed points.",
    ),
)

SECTION = Section(
    name="slow_manifold",
    title="the traced slow manifold",
    measure=measure,
    settings=SlowManifoldSettings,
    metrics=METRICS,
    arrays=ARRAYS,
    figures=FIGURES,
)
