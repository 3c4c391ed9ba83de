"""Section ``modes``: the linearization J_rec = dF/dh, J_inp = dF/dx at every fixed point with q < tol and
its spectrum (the paper's measure of the line attractor): |lambda_1|, slow modes, time constants, r_1 against
the axis m.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlens.analysis.registry import ArraySpec, FigureSpec, Measurement, MetricSpec, Section, metric
from rnnlens.analysis.sections.fixed_points import applies_to_points
from rnnlens.device import to_numpy as _np

__all__ = ["Modes", "measure", "SECTION"]


@dataclass
class Modes(Measurement):
    """The linearization at the fixed points (``lin``), the oriented top right / left eigenvectors at
    each (``r1``, ``l1``, [P, S]) and the distinct exact fixed points (``distinct``: a FixedPoints with their
    merge radius in ``distinct.info["merge_tol"]``)."""

    lin: Any = None
    r1: np.ndarray | None = None
    l1: np.ndarray | None = None
    distinct: Any = None


def measure(run) -> Modes:
    """The spectrum of J_rec at the fixed points: |lambda_1|, slow modes, time constants, r_1 vs m."""
    from rnnlens.analysis.geometry import against_null, expected_random_abs_cos, random_abs_cos
    from rnnlens.analysis.modes import mode_stats, orient_top_mode
    from rnnlens.linearization import linearize

    points, states = run.products["fixed_points"].points, run.products["documents"]
    m, w, components = run.products["manifold"].m, states.w, states.components
    lin = linearize(run.network.step, points, run.x_star.expand(points.shape[0], -1).clone(), modes=1)
    eig = _np(lin.eigvals)
    S = eig.shape[1]
    r1, l1, w_r1 = orient_top_mode(_np(lin.R), _np(lin.L), w)
    st = mode_stats(eig, _np(lin.tau), r1, m)
    null = random_abs_cos(S, 10000, seed=run.settings.documents.seed + 1)
    cmp_null = against_null(st["r1_m_overlap"], null)
    al1 = st["abs_lambda1"]
    gain = np.linalg.norm(_np(lin.J_inp).reshape(len(eig), -1), axis=1)
    topology, distinct = _topology(run)
    out = Modes(lin=lin, r1=r1, l1=l1, distinct=distinct)
    out.metrics["modes"] = {
        "abs_lambda1_median": metric("modes.abs_lambda1_median", float(np.median(al1))),
        "frac_abs_lambda1_gt_0_98": metric("modes.frac_abs_lambda1_gt_0_98", float((al1 > 0.98).mean())),
        "frac_abs_lambda1_within_0_02": metric(
            "modes.frac_abs_lambda1_within_0_02", float((np.abs(al1 - 1) <= 0.02).mean())
        ),
        "median_abs_dev_lambda1": metric("modes.median_abs_dev_lambda1", float(np.median(np.abs(al1 - 1)))),
        "n_slow_modes_median": metric("modes.n_slow_modes_median", float(np.median((np.abs(eig) > 0.98).sum(1)))),
        "input_gain_median": metric("modes.input_gain_median", float(np.median(gain))),
        "tau_median": metric("modes.tau_median", np.median(st["tau_top"], axis=0)),
        "n_unstable_median": metric("modes.n_unstable_median", float(np.median(_np(lin.n_unstable)))),
        "r1_m_overlap_median": metric("modes.r1_m_overlap_median", float(np.median(st["r1_m_overlap"]))),
        "r1_m_percentile_median": metric("modes.r1_m_percentile_median", float(np.median(cmp_null["percentile"]))),
        "r1_m_z_median": metric("modes.r1_m_z_median", float(np.median(cmp_null["z"]))),
        "null_mean": metric("modes.null_mean", cmp_null["null_mean"]),
        "null_mean_closed_form": metric("modes.null_mean_closed_form", expected_random_abs_cos(S)),
        "readout_dot_r1_median": metric("modes.readout_dot_r1_median", float(np.median(w_r1))),
    }
    out.metrics["modes"].update(topology)
    out.arrays.update(
        eigvals=eig.astype(np.complex64),
        abs_lambda1=al1,
        tau_top=st["tau_top"],
        r1_m_overlap=st["r1_m_overlap"],
        null_abs_cos=null.astype(np.float32),
        r1_pc=(components @ r1.real.T).T,
    )
    return out


# The tolerance on q to which the points under tol are polished before they are counted as distinct exact
# fixed points (a point stopped at the first iterate under tol can lie far from the exact point along a slow
# mode, so one fixed point would count several times).
EXACT_TOL = 1e-14


def _topology(run) -> tuple[dict, Any]:
    """The distinct exact fixed points and their stability: the points with q < tol polished to q < EXACT_TOL by
    the same solver, merged when closer than 1% of the seeds' spread; how many have 0, 1, 2, ... eigenvalues with
    |lambda| > 1 (stable points, saddles of each index). Returns the metric nodes and the distinct points."""
    import torch

    from rnnlens.fixedpoints import find_fixed_points
    from rnnlens.linearization import linearize

    fps, s = run.products["fixed_points"].fps, run.settings.fixed_points
    conv = fps[torch.as_tensor(fps.converged)]
    exact = find_fixed_points(run.network.step, conv.points, conv.inputs, tol=EXACT_TOL, **s.solver_options)
    exact = exact[torch.as_tensor(exact.converged)]
    merge_tol = 0.01 * conv.seed_spread()
    distinct = exact.unique(abs_tol=merge_tol) if len(exact) else exact
    distinct.info = {**distinct.info, "merge_tol": merge_tol}
    counts = np.zeros(1, dtype=np.int64)
    if len(distinct):
        pts = torch.as_tensor(distinct.points).double()
        lin = linearize(run.network.step, pts, run.x_star.expand(len(distinct), -1).clone(), modes=1)
        counts = np.bincount(_np(lin.n_unstable).astype(np.int64), minlength=1)
    return {
        "n_distinct": metric("modes.n_distinct", int(len(distinct)), tol=EXACT_TOL),
        "distinct_by_unstable": metric("modes.distinct_by_unstable", counts.tolist()),
        "n_distinct_stable": metric("modes.n_distinct_stable", int(counts[0])),
        "n_distinct_saddles": metric("modes.n_distinct_saddles", int(counts[1:].sum())),
    }, distinct


METRICS = (
    MetricSpec(
        "modes.abs_lambda1_median",
        "median over fixed points of |lambda_1|, the largest eigenvalue modulus of J_rec = dF/dh at (h*, x*)",
        "median |lambda_1| at the fixed points",
        "{:.4f}",
    ),
    MetricSpec(
        "modes.frac_abs_lambda1_gt_0_98",
        "fraction of fixed points with |lambda_1| > 0.98",
        "fixed points with |lambda_1| > 0.98",
        "{:.0%}",
    ),
    MetricSpec("modes.frac_abs_lambda1_within_0_02", "fraction of fixed points with | |lambda_1| - 1 | <= 0.02"),
    MetricSpec("modes.median_abs_dev_lambda1", "median over fixed points of | |lambda_1| - 1 |"),
    MetricSpec(
        "modes.n_slow_modes_median",
        "median over fixed points of the number of eigenvalues with |lambda| > "
        "0.98 (1 on a line attractor; many where the gates saturate, e.g. a "
        "GRU update gate z = 1 makes h' = h)",
        "median number of modes with |lambda| > 0.98 at a fixed point (1 on a line)",
        "{:g}",
    ),
    MetricSpec(
        "modes.input_gain_median",
        "median over fixed points of the Frobenius norm of J_inp (about 0 at "
        "saturated points, where no word moves the state)",
        "median ||J_inp|| at the fixed points (about 0 where gates saturate)",
        "{:.3g}",
    ),
    MetricSpec(
        "modes.tau_median",
        "median over fixed points of tau_a = 1/|ln|lambda_a|| (tokens) for the 3 slowest modes a = 1..3",
        "median time constants of the 3 slowest modes (tokens)",
        "tau",
    ),
    MetricSpec(
        "modes.n_unstable_median", "median number of |lambda| > 1 (beyond rounding: 1 + 64 eps of the state precision)"
    ),
    MetricSpec(
        "modes.r1_m_overlap_median",
        "median over fixed points of |cos| between r_1 (top right eigenvector) and m",
        "median |cos(r_1, m)| (null mean in brackets)",
        "r1m",
    ),
    MetricSpec(
        "modes.r1_m_percentile_median",
        "median over fixed points of the percentile of |r_1 . m| within the "
        "null (|cos| of 10,000 random unit vectors in R^S with m)",
    ),
    MetricSpec("modes.r1_m_z_median", "median z-score of |r_1 . m| against that null"),
    MetricSpec("modes.null_mean", "mean |cos| of the null sample"),
    MetricSpec(
        "modes.null_mean_closed_form", "E|cos| for random unit vectors in R^S, Gamma(S/2)/(sqrt(pi) Gamma((S+1)/2))"
    ),
    MetricSpec("modes.readout_dot_r1_median", "median readout . r_1 after orientation (>= 0)"),
    MetricSpec(
        "modes.n_distinct",
        "distinct exact fixed points: the points with q < tol polished by the same solver "
        "to q < {tol:g}, those that get there merged when closer than 1% of the seeds' "
        "spread (FixedPoints.unique); on a line attractor, the few exact points on it",
        "distinct fixed points (q < tol)",
        "{}",
    ),
    MetricSpec(
        "modes.distinct_by_unstable",
        "entry i: distinct fixed points with i eigenvalues |lambda| > 1 (beyond "
        "rounding) of J_rec there (0: stable; i >= 1: a saddle with i unstable "
        "directions)",
    ),
    MetricSpec(
        "modes.n_distinct_stable",
        "distinct fixed points without an eigenvalue |lambda| > 1 (stable)",
        "stable distinct fixed points",
        "{}",
    ),
    MetricSpec(
        "modes.n_distinct_saddles",
        "distinct fixed points with at least one eigenvalue |lambda| > 1 (saddles)",
        "distinct saddle points",
        "{}",
    ),
)

ARRAYS = (
    ArraySpec("eigvals", "c", 2, "[P, S] eigenvalues of J_rec at each fixed point, by decreasing |lambda|"),
    ArraySpec("abs_lambda1", "f", 1, "[P] |lambda_1| at each fixed point"),
    ArraySpec("tau_top", "f", 2, "[P, 3] time constants (tokens) of the 3 slowest modes at each fixed point"),
    ArraySpec("r1_m_overlap", "f", 1, "[P] |cos(r_1, m)| at each fixed point"),
    ArraySpec("null_abs_cos", "f", 1, "[10000] |cos| of random unit vectors with m (the null)"),
    ArraySpec("r1_pc", "f", 2, "[P, 2] Re(r_1) at each fixed point in PC coordinates"),
)

FIGURES = (
    FigureSpec(
        "fig3a_eigenvalues",
        "rnnlens.report.figures:fig_eigvals",
        "Eigenvalues of the recurrent Jacobian at three fixed points (both ends and the middle of the "
        "line) with the unit circle: one eigenvalue near 1 means one slow, integrating mode.",
    ),
    FigureSpec(
        "fig3b_tau",
        "rnnlens.report.figures:fig_tau",
        "Time constants of the three slowest modes along the line of fixed points (in tokens; infinite "
        "values drawn at the top).",
    ),
    FigureSpec(
        "fig4c_r1_vs_m",
        "rnnlens.report.figures:fig_r1m",
        "Overlap of the slow mode r_1 with the line's direction m at each fixed point, against the "
        "overlap of random directions (the null).",
    ),
)

SECTION = Section(
    name="modes",
    title="linearization and spectra at the fixed points",
    measure=measure,
    applies=applies_to_points,
    metrics=METRICS,
    arrays=ARRAYS,
    figures=FIGURES,
)
