"""Section ``manifold``: the shape of the fixed points with q < tol: how one-dimensional
they are, their axis m, its alignment with the readout, and how far they lie from the visited states.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, Measurement, MetricSpec, Section, metric
from rnnlens.analysis.sections.fixed_points import applies_to_points

__all__ = ["Manifold", "measure", "SECTION"]

THETA_DEFINITION = (
    "theta = projection (h* - mean) . m rescaled linearly to [-1, 1] (min -> -1, max -> +1); m is "
    "oriented so that readout . m >= 0, so theta = +1 is the end with the largest logit. The paper "
    "used LLE; on a near-straight manifold both order the points alike, and the projection needs no "
    "neighbourhood size."
)


@dataclass
class Manifold(Measurement):
    """The line's axis ``m`` (unit, oriented so that readout . m >= 0)."""

    m: np.ndarray | None = None


def measure(run) -> Manifold:
    """Shape of the fixed points: how one-dimensional, their axis m, its alignment with the readout,
    and how far the points lie from the visited states."""

    from rnnlens.analysis.geometry import abs_cos, manifold_axis, random_abs_cos
    from rnnlens.device import to_numpy

    states, points = run.products["documents"], run.products["fixed_points"].points
    P = to_numpy(points)
    w, W, mean, comps = states.w, states.W, states.mean, states.components
    man = manifold_axis(P, readout=w)
    m = man["m"]
    visible = np.any(W != 0, axis=0)  # coordinates with a readout weight (LSTM: the h block)
    out = Manifold(m=m)
    out.arrays.update(fp_pc=((P - mean) @ comps.T), fp_theta=man["theta"], m_pc=comps @ m)
    d_vis = states.visited_distance(points, run.device)
    radius = states.rms_radius
    out.metrics["fixed_points"] = {
        "dist_to_visited_median": metric("fixed_points.dist_to_visited_median", float(np.median(d_vis))),
        "visited_rms_radius": metric("fixed_points.visited_rms_radius", radius),
    }
    out.arrays["fp_dist_to_visited"] = d_vis
    null = random_abs_cos(P.shape[1], 10000, seed=run.settings.documents.seed)
    out.metrics["manifold"] = {
        "top_pc_fraction": metric("manifold.top_pc_fraction", man["top_pc_fraction"]),
        "cumulative": metric("manifold.cumulative", man["cumulative"]),
        "readout_cos": metric("manifold.readout_cos", man["readout_cos"]),
        "m_readout_visible_fraction": metric("manifold.m_readout_visible_fraction", float(np.sum(m[visible] ** 2))),
        "readout_cos_visible": metric("manifold.readout_cos_visible", abs_cos(m[visible], w[visible])),
        "readout_cos_null_p99": metric("manifold.readout_cos_null_p99", float(np.percentile(null, 99))),
        "theta_definition": THETA_DEFINITION,
    }
    return out


METRICS = (
    MetricSpec(
        "fixed_points.dist_to_visited_median",
        "median over fixed points (q < tol) of the distance to the nearest visited state (of the PCA states)",
        "median distance of a fixed point to the nearest visited state",
        "{:.3g}",
    ),
    MetricSpec(
        "fixed_points.visited_rms_radius",
        "RMS distance of the visited states from their mean (the size of the visited region)",
        "size (RMS radius) of the region of visited states",
        "{:.3g}",
    ),
    MetricSpec(
        "manifold.top_pc_fraction",
        "variance of the fixed points (q < tol) along their top PC / their "
        "total variance (nan with fewer than 2 distinct points)",
        "variance of the fixed points on their top PC",
        "{:.1%}",
    ),
    MetricSpec("manifold.cumulative", "cumulative variance fractions of the fixed points' PCs 1..k"),
    MetricSpec(
        "manifold.readout_cos",
        "|cos| between m (top PC of the fixed points) and the readout direction "
        "(binary: the readout row; k classes: W[last] - W[first])",
        "|cos| between the line of fixed points and the readout",
        "{:.3f}",
    ),
    MetricSpec(
        "manifold.m_readout_visible_fraction",
        "fraction of m's squared length on the state coordinates the "
        "readout sees (1 except for the LSTM, whose readout sees h but "
        "not the cell state c)",
        "share of the line's direction the readout can see (LSTM: h, not c)",
        "{:.1%}",
    ),
    MetricSpec(
        "manifold.readout_cos_visible",
        "|cos| between m and the readout restricted to the coordinates the "
        "readout sees (equals readout_cos except for the LSTM)",
        "|cos| with the readout over the coordinates it sees",
        "{:.3f}",
    ),
    MetricSpec("manifold.readout_cos_null_p99", "99th percentile of |cos| for random unit vectors in R^S"),
)

ARRAYS = (
    ArraySpec("fp_pc", "f", 2, "[P, 2] the fixed points (q < tol) in PC coordinates"),
    ArraySpec("fp_theta", "f", 1, "[P] each fixed point's coordinate theta in [-1, 1] along m"),
    ArraySpec("m_pc", "f", 1, "[2] the axis m in PC coordinates"),
    ArraySpec("fp_dist_to_visited", "f", 1, "[P] distance of each fixed point to the nearest visited state"),
)

SECTION = Section(
    name="manifold",
    title="shape of the fixed points",
    measure=measure,
    applies=applies_to_points,
    metrics=METRICS,
    arrays=ARRAYS,
)
