"""Section ``fixed_points``: the fixed points F(h*, x*) = h* searched from visited states (minimising q),
and the same search at looser tolerances (a diagnostic: exact fixed points against the slow manifold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlens.analysis.registry import Q_DEFINITION as _Q, ArraySpec, Measurement, MetricSpec, Section, metric
from rnnlens.constants import PAPER_TOL
from rnnlens.settings import Int, OneOf, Real, Reals, SettingsGroup, Table, setting

__all__ = ["FixedPointSettings", "FixedPointSearch", "measure", "tolerance_sweep", "SECTION"]


@dataclass(frozen=True)
class FixedPointSettings(SettingsGroup):
    """The fixed-point search."""

    name = "fixed_points"
    n_seeds: int = setting(500, "Seeds for the fixed-point search, drawn from visited states.", Int())
    input_point: str = setting(
        "zero",
        "Constant input x* of the fixed points: zero (the paper), the mean embedding (padding excluded), or "
        "task: the x* the generated task declares (zero for flipflop; the middle frequency's cue for sine; "
        "context 1 without evidence for context; zero for a network trained on no task).",
        OneOf(("zero", "mean", "task")),
    )
    tol: float = setting(PAPER_TOL, "Keep fixed points with q = (1/N)||F(h*, x*) - h*||^2 < tol.", Real(gt=0))
    tol_sweep: tuple = setting(
        (1e-7, 1e-6, 1e-5),
        "Looser tolerances at which the search is repeated on the "
        "same seeds (comma-separated; reported under fixed_points.by_tolerance).",
        Reals(),
    )
    seed_noise: float = setting(
        0.0,
        "Standard deviation of Gaussian noise added to each seed (0: the visited "
        "states themselves; FixedPointFinder adds noise to reach saddle points, "
        "which visited states rarely lie near).",
        Real(ge=0),
    )
    solver_options: dict = setting(
        {},
        "Options of find_fixed_points (e.g. solver=lm, max_iter=200); on a command line KEY=VALUE, repeatable.",
        Table(),
    )


@dataclass
class FixedPointSearch(Measurement):
    """The solver's result for every seed (``fps``) and the points under ``tol`` (``points``, float64;
    None when there are none)."""

    fps: Any = None
    seeds: Any = None
    inputs: Any = None
    points: Any = None


def applies_to_points(run) -> bool:
    """Whether the fixed-point search found points under tol (the sections measured at them need some)."""
    return run.products["fixed_points"].points is not None


def measure(run) -> FixedPointSearch:
    """Search for fixed points from ``n_seeds`` visited states; keep those with q < tol; rerun at ``tol_sweep``.
    The seeds are drawn on the CPU (one generator on every device) and searched from on the run's device."""
    import torch

    from rnnlens.device import to_device, to_numpy
    from rnnlens.fixedpoints import find_fixed_points_at, sample_seeds

    s, states = run.settings.fixed_points, run.products["documents"]
    visited = states.X
    seeds = to_device(
        sample_seeds(
            torch.from_numpy(visited),
            None,
            n=s.n_seeds,
            seed=run.settings.documents.seed,
            replace=s.n_seeds > visited.shape[0],
            noise=s.seed_noise,
        ),
        run.device,
    )
    inputs = run.x_star.to(seeds.dtype).expand(seeds.shape[0], -1).clone()
    # the looser tolerances of the sweep are read off the main search's iterates (find_fixed_points_at)
    by_tol = find_fixed_points_at(
        run.network.step,
        seeds,
        inputs,
        tols=[s.tol, *(t for t in map(float, s.tol_sweep) if t > s.tol)],
        **s.solver_options,
    )
    fps = by_tol[float(s.tol)]
    conv = to_numpy(fps.converged).astype(bool)
    q = to_numpy(fps.q).astype(np.float64)
    dist = to_numpy(fps.distance).astype(np.float64)
    out = FixedPointSearch(fps=fps, seeds=seeds, inputs=inputs)
    out.metrics["fixed_points"] = {
        "n_seeds": metric("fixed_points.n_seeds", int(len(fps))),
        "n_converged": metric("fixed_points.n_converged", int(conv.sum()), tol=s.tol, input_point=s.input_point),
        "n_slow": metric("fixed_points.n_slow", int(fps.slow.sum())),
        "q_min": metric("fixed_points.q_min", float(q.min())),
        "q_median": metric("fixed_points.q_median", float(np.median(q))),
        "distance_median": metric("fixed_points.distance_median", float(np.median(dist))),
        "distance_max": metric("fixed_points.distance_max", float(dist.max())),
    }
    out.arrays.update(fp_q=q, fp_distance=dist)
    if conv.sum() == 0:
        out.missing.append(
            {
                "what": "fixed-point geometry, spectra, word valence, linearization",
                "why": f"no fixed point reached q < {s.tol:g} from {len(fps)} seeds (smallest q "
                f"{q.min():.3g}); try more seeds (n_seeds), more solver iterations or check "
                "that the network was trained",
            }
        )
    else:
        out.points = torch.as_tensor(fps[torch.from_numpy(conv)].points).double()
    out.metrics["fixed_points"]["by_tolerance"] = tolerance_sweep(run, out, by_tol)
    if fps.solver == "closed":
        out.metrics["fixed_points"]["closed_form_check"] = closed_form_check(run, seeds, inputs)
    return out


def closed_form_check(run, seeds, inputs, n: int = 10) -> dict:
    """The closed forms used for a cell elementwise linear in the state, held against the iterative solver: LM in
    float64 from the first ``n`` seeds to q < 1e-20, then the largest distance of its points from the closed-form
    fixed point (over the modes with |lambda| != 1, where the fixed point is unique) and the largest distance of
    LAPACK's eigenvalues of dF/dh at those points from the closed-form spectrum.

    Returns the metric node ``fixed_points.closed_form_check``."""
    import torch

    from rnnlens.fixedpoints import find_fixed_points

    step = run.network.step.to(torch.float64)
    cell = step.module
    x, h0 = inputs[:n].double().cpu(), seeds[:n].double().cpu()
    lm = find_fixed_points(step, h0.to(step.device), x.to(step.device), solver="lm", tol=1e-20, refine=True)
    pts = lm.points.double().cpu()
    cell = cell.cpu()
    with torch.no_grad():
        exact, (lam, _, _) = cell.fixed_point(x), cell.spectrum(x)
        a, _ = cell.coefficients(x)
        J = cell.jacobian_rec(x, pts)
    unique = (a.expand_as(cell.to_modes(exact)) != 1).to(torch.float64)
    diff = (cell.to_modes(pts) - cell.to_modes(exact)).abs() * unique
    gap = diff.amax(1)
    relative = (diff / cell.to_modes(exact).abs().clamp_min(1.0)).amax(1)
    eig = []
    for i in range(len(pts)):
        ev = torch.view_as_real(torch.linalg.eigvals(J[i]))
        d = torch.cdist(torch.view_as_real(lam[i].to(torch.complex128))[None], ev[None])[0]
        eig.append(float(max(d.min(1).values.max(), d.min(0).values.max())))
    value = {
        "n": len(pts),
        "n_converged": int(lm.converged.sum()),
        "max_point_distance": float(gap.max()),
        "max_relative_point_distance": float(relative.max()),
        "max_eigenvalue_distance": max(eig),
    }
    return metric("fixed_points.closed_form_check", value)


def tolerance_sweep(run, search: FixedPointSearch, found: dict) -> dict:
    """The same seeds solved again at looser tolerances: how the picture depends on where each point
    is allowed to stop. With the paper's q < 1e-8 a network whose line is only approximately slow
    can give a few clusters at its exact fixed points; at looser tolerances the points stop on the
    slow manifold near where they started. Diagnostic only: the checks use ``tol``. ``found``: the searches
    already made (tolerance -> FixedPoints); the others are run here.

    Returns the metric node ``fixed_points.by_tolerance``."""
    import torch

    from rnnlens.analysis.geometry import manifold_axis
    from rnnlens.device import to_numpy
    from rnnlens.fixedpoints import find_fixed_points

    s, states = run.settings.fixed_points, run.products["documents"]
    rows = []
    tol = float(search.fps.tol)
    for t in sorted({tol, *map(float, s.tol_sweep)}):
        fps = (
            found[t]
            if t in found
            else find_fixed_points(run.network.step, search.seeds, search.inputs, tol=t, **s.solver_options)
        )
        conv = torch.as_tensor(fps.converged, dtype=torch.bool)
        row = {
            "tol": t,
            "n_converged": int(conv.sum()),
            "distance_median": float(torch.as_tensor(fps.distance).double().median()),
        }
        if int(conv.sum()) >= 2:
            pts = torch.as_tensor(fps.points)[conv].double()
            man = manifold_axis(to_numpy(pts), readout=states.w)
            row.update(
                top_pc_fraction=man["top_pc_fraction"],
                readout_cos=man["readout_cos"],
                dist_to_visited_median=float(np.median(states.visited_distance(pts, run.device))),
            )
        rows.append(row)
    return metric("fixed_points.by_tolerance", rows)


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("fixed_points.n_seeds", "seeds drawn from visited states (fixedpoints.sample_seeds)"),
    MetricSpec(
        "fixed_points.n_converged",
        "points with " + _Q + " < {tol:g} (x* = {input_point} input); the paper's definition of q",
        "fixed points with q < tol (of the seeds)",
        "{}",
    ),
    MetricSpec("fixed_points.n_slow", "points that stalled at a local minimum of q above tol"),
    MetricSpec("fixed_points.q_min", "smallest q reached over all seeds"),
    MetricSpec("fixed_points.q_median", "median q over all seeds"),
    MetricSpec("fixed_points.distance_median", "median ||h* - seed|| (how far points travelled)"),
    MetricSpec("fixed_points.distance_max", "largest ||h* - seed||"),
    MetricSpec(
        "fixed_points.by_tolerance",
        "the fixed-point search rerun on the same seeds with tolerance tol on "
        + _Q
        + ": points under tol, median distance travelled from the seed, "
        "and for those points the variance on their top PC, |cos(m, readout)| "
        "and median distance to the nearest visited state",
    ),
)

METRICS = METRICS + (
    MetricSpec(
        "fixed_points.closed_form_check",
        "the closed-form fixed point and spectrum (the cell's update is elementwise linear in the state; solver "
        "closed) against Levenberg-Marquardt run in float64 from the first n seeds to q < 1e-20: the largest "
        "distance of its points from the closed-form fixed point (modes with |lambda| != 1; also relative to "
        "max(1, |z*|) per mode, as a residual r moves a mode by r / |1 - lambda|) and the largest "
        "distance of LAPACK's eigenvalues of dF/dh there from the closed-form eigenvalues",
        only_when="the fixed points were found by the closed form (a cell elementwise linear in the state)",
    ),
)

ARRAYS = (
    ArraySpec("fp_q", "f", 1, "[n_seeds] q reached from each seed"),
    ArraySpec("fp_distance", "f", 1, "[n_seeds] distance each point travelled from its seed"),
)

SECTION = Section(
    name="fixed_points",
    title="fixed points",
    measure=measure,
    settings=FixedPointSettings,
    metrics=METRICS,
    arrays=ARRAYS,
    table="rnnlens.report.html:tolerance_table",
)
