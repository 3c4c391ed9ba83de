"""Every solver on shared problems with known answers (solver x problem x dtype), as optimistix tests.

Each problem knows its fixed points in closed form (or by an independent computation) and bounds how
far a point with residual ``||r|| = sqrt(S q)`` may lie from them, so a solver that stops early, at
the wrong place, or reports a q it did not reach fails.
"""

import math

import pytest
import torch
from solver_problems import flipflop, gen, gru, line_attractor, linear

from rnnlens.cells import make_cell
from rnnlens.fixedpoints import find_fixed_points
from rnnlens.solvers import LM, Adam, Newton

D = torch.float64

# per solver: the object and the tolerance on q used for each dtype (Adam is first order: looser)
SOLVERS = {
    "lm": (LM(), {torch.float64: 1e-20, torch.float32: 1e-11}),
    "newton": (Newton(), {torch.float64: 1e-20, torch.float32: 1e-11}),
    "adam": (Adam(lr=0.1, max_iter=2500), {torch.float64: 1e-10, torch.float32: 1e-10}),
}
# slack on a distance for rounding: float32 iterates are only resolved to about 1e-6
SLACK = {torch.float64: 1e-12, torch.float32: 2e-5}


def over(names=tuple(SOLVERS)):
    """Parametrize a test over ``case`` = (solver name, solver, tol, dtype) for these solvers x both dtypes."""
    cases = [(n, SOLVERS[n][0], SOLVERS[n][1][d], d) for n in names for d in (torch.float64, torch.float32)]
    return pytest.mark.parametrize("case", cases, ids=[f"{c[0]}-{str(c[3])[6:]}" for c in cases])


def _true_q(F, x, h):
    """q = (1/S)||F(x, h) - h||^2 recomputed in float64 from the returned points."""
    return (F(x.double(), h.double()) - h.double()).square().mean(1)


def _check_reported_q(fp, F, tol):
    """Every point converged, and the q reported is the q reached (float32: up to its rounding, ~tol)."""
    q = _true_q(F, fp.inputs, fp.points)
    assert fp.converged.all() and (fp.q < tol).all()
    atol = tol * (1e-2 if fp.q.dtype == torch.float64 else 1.0)
    assert torch.allclose(fp.q.double(), q, rtol=0.05, atol=atol)
    return q


# ----------------------------------------------------------------------------- problems
@over()
def test_linear_rnn_closed_form(case):
    name, solver, tol, dtype = case
    F, seeds, x, exact, K = linear(dtype)
    fp = find_fixed_points(F, seeds, x, solver=solver, tol=tol)
    assert fp.points.dtype == dtype and fp.solver == name
    q = _check_reported_q(fp, F, tol)
    S = seeds.shape[1]
    err = (fp.points.double() - exact).norm(dim=1)
    assert (err <= K * (S * q).sqrt() * (1 + 1e-6) + SLACK[dtype]).all()  # the bound above, per point
    assert err.max() <= K * math.sqrt(S * tol) + SLACK[dtype]
    assert (fp.iterations > 0).all() and torch.equal(fp.seeds, seeds) and torch.equal(fp.inputs, x)


# Newton is left out: dF/dh - I is singular along the line by construction.
@over(("lm", "adam"))
def test_exact_line_attractor(case):
    _, solver, tol, dtype = case
    F, Q = line_attractor()
    seeds = (3 * torch.rand(40, 2, generator=gen(1), dtype=D) - 1.5).to(dtype)
    fp = find_fixed_points(F, seeds, solver=solver, tol=tol)
    q = _check_reported_q(fp, F, tol)
    y = fp.points.double() @ Q
    assert (y[:, 1].abs() <= (2 * q).sqrt() / 0.4 * (1 + 1e-6) + SLACK[dtype]).all()  # on the line
    y_seed = seeds.double() @ Q
    # spread along the line as the seeds were, not pulled to one point: each stays near its own y1
    assert y[:, 0].std() > 0.5 * y_seed[:, 0].std()
    assert (y[:, 0] - y_seed[:, 0]).abs().median() < 0.25


@over()
def test_flipflop_known_fixed_points(case):
    name, solver, tol, dtype = case
    F, known = flipflop()
    seeds = (3 * torch.rand(60, 3, generator=gen(2), dtype=D) - 1.5).to(dtype)
    fp = find_fixed_points(F, seeds, solver=solver, tol=tol)
    ok = fp.converged
    # Newton may leave some seeds (where J - I is nearly singular) as diverged, never as a wrong point
    assert ok.float().mean() >= (0.8 if name == "newton" else 1.0)
    assert not (fp.converged & fp.diverged).any() and ((fp.converged | fp.diverged).all())
    q = _true_q(F, fp.inputs, fp.points)[ok]
    assert (fp.q[ok] < tol).all() and (q < 1.05 * tol + SLACK[dtype] ** 2).all()
    dist = (fp.points[ok].double()[:, None, :] - known[None]).norm(dim=2)  # [P, 3]
    nearest, which = dist.min(1)
    assert (nearest <= 2.5 * (3 * q).sqrt() + SLACK[dtype]).all()
    assert set(which.tolist()) == {0, 1, 2}  # all three found from these seeds


@over()
def test_gru_cell_against_its_own_step(case):
    _, solver, tol, dtype = case
    cell, x, ref = gru(dtype)
    seeds = (2 * torch.rand(20, 6, generator=gen(5), dtype=D) - 1).to(dtype)
    fp = find_fixed_points(cell, seeds, x, solver=solver, tol=tol)
    assert fp.points.dtype == dtype and fp.converged.all() and (fp.q < tol).all()
    with torch.no_grad():
        nxt = cell.step(fp.inputs, fp.points)
    q = (nxt - fp.points).double().square().mean(1)  # F(h*) == h* up to tol, by the cell itself
    assert torch.allclose(fp.q.double(), q, rtol=0.05, atol=tol * 1e-2) and (q < tol).all()
    # the contraction's one fixed point, from every seed (||h - h*|| <= ||r|| / (1 - Lipschitz))
    assert (fp.points.double() - ref).norm(dim=1).max() < 20 * math.sqrt(6 * tol) + SLACK[dtype]


# ----------------------------------------------------------------------------- the string form
@pytest.mark.parametrize(
    "name, options",
    [
        ("lm", {"damping": 1e-2, "chord": 0.0, "patience": 5}),
        ("newton", {"max_iter": 7}),
        ("adam", {"lr": 0.05, "stop": "all", "max_iter": 60, "betas": [0.8, 0.99]}),
    ],
)
def test_string_form_gives_exactly_the_object_result(name, options):
    cls = {"lm": LM, "newton": Newton, "adam": Adam}[name]
    torch.manual_seed(6)
    cell = make_cell("gru", 3, 8)
    seeds = torch.rand(30, 8, generator=gen(7)) * 2 - 1
    a = find_fixed_points(cell, seeds, solver=name, tol=1e-12, **options)
    b = find_fixed_points(cell, seeds, solver=cls(**options), tol=1e-12)
    for k in ("points", "q", "iterations", "converged", "slow", "diverged", "grad_norm"):
        assert torch.equal(getattr(a, k), getattr(b, k)), k
    assert a.solver == b.solver == name and a.info["solver_options"] == b.info["solver_options"]
    assert a.info["max_iter"] == b.info["max_iter"] == options.get("max_iter", cls().max_iter)
