"""Solver behaviour beyond reaching known points: slow points, divergence, stopping rules, chord steps."""

import math

import pytest
import torch
from solver_problems import flipflop, linear

from rnnlens.fixedpoints import as_step, find_fixed_points
from rnnlens.solvers import LM, Adam

D = torch.float64


def test_slow_points_are_identified_not_spun_to_max_iter():
    # x = +1: a' = a + 0.01 + a^2 never has a fixed point; q has a minimum (a = 0) at q = 1e-4 / 2
    # x = -1: a' = a - 0.01 + a^2 has fixed points a = +-0.1
    def F(x, h):
        a, b = h[:, :1], h[:, 1:]
        return torch.cat([a + 0.01 * x + a * a, 0.5 * b], 1)

    seeds = torch.tensor([[0.3, 1.0], [-0.4, -2.0], [0.3, 1.0], [-0.05, 0.5]], dtype=D)
    x = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]], dtype=D)
    fp = find_fixed_points(F, seeds, x, tol=1e-20, max_iter=500)
    assert fp.slow.tolist() == [True, True, False, False]
    assert fp.converged.tolist() == [False, False, True, True]
    assert (fp.iterations[:2] < 100).all()
    assert torch.allclose(fp.q[:2], torch.full((2,), 0.5e-4, dtype=D), rtol=1e-4)
    assert (fp.grad_norm[:2] < 1e-7).all()
    assert torch.allclose(fp.points[2:, 0].abs(), torch.full((2,), 0.1, dtype=D), atol=1e-9)


def test_diverging_points_are_reported_and_the_batch_survives():
    # NaN outside |h| < 5; near a = 0.44 the Newton step is huge (J - I ~ 0 there)
    def F(x, h):
        out = torch.tanh(2 * h)
        return torch.where(h.abs() > 5, torch.full_like(h, float("nan")), out)

    seeds = torch.tensor([[0.4406], [0.9], [-0.2]], dtype=D)
    newton = find_fixed_points(F, seeds, solver="newton", tol=1e-20)
    assert newton.diverged[0] and not newton.converged[0]
    assert torch.isfinite(newton.points[0]).all() and torch.isfinite(newton.q[0])
    assert newton.converged[1:].all()
    lm = find_fixed_points(F, seeds, solver="lm", tol=1e-20)
    assert lm.converged.all() and not lm.diverged.any()


def test_singular_newton_step_is_diverged_and_lm_calls_it_slow():
    def F(x, h):  # x = 1: r = 1 everywhere (no fixed point, J - I = 0); x = 0: contraction
        return x * (h + 1) + (1 - x) * 0.5 * h

    seeds = torch.tensor([[1.0, 2.0], [1.0, 2.0]], dtype=D)
    x = torch.tensor([[1.0], [0.0]], dtype=D)
    newton = find_fixed_points(F, seeds, x, solver="newton", tol=1e-20)
    assert newton.diverged.tolist() == [True, False] and newton.converged.tolist() == [False, True]
    lm = find_fixed_points(F, seeds, x, tol=1e-20)
    assert lm.slow.tolist() == [True, False] and lm.converged.tolist() == [False, True]
    assert lm.q[0] == pytest.approx(1.0)


@pytest.mark.parametrize("stop", ["point", "all"])
def test_adam_stop_rules(stop):
    F, seeds, x, exact, _ = linear(D)
    seeds, x, exact = seeds[:6].clone(), x[:6], exact[:6]
    seeds[0] = exact[0]  # already fixed
    fp = find_fixed_points(F, seeds, x, solver=Adam(lr=0.05, stop=stop, max_iter=4000), tol=1e-12)
    assert fp.converged.all() and not fp.slow.any()
    assert (fp.points - exact).abs().max() < 1e-4
    if stop == "point":
        assert fp.iterations[0] == 0 and len(set(fp.iterations.tolist())) > 2
    else:
        assert len(set(fp.iterations.tolist())) == 1


def test_adam_mean_rule_stops_on_the_mean_and_marks_points_by_their_own_q():
    F, seeds, x, exact, _ = linear(D)
    fp = find_fixed_points(F, seeds, x, solver=Adam(lr=0.05, stop="mean", max_iter=4000), tol=1e-8)
    assert fp.q.mean() < 1e-8 and len(set(fp.iterations.tolist())) == 1  # every point moved until then
    assert torch.equal(fp.converged, fp.q < 1e-8) and not fp.slow.any() and not fp.diverged.any()
    before = find_fixed_points(
        F, seeds, x, solver=Adam(lr=0.05, stop="mean"), max_iter=int(fp.iterations[0]) - 1, tol=1e-8
    )
    assert before.q.mean() >= 1e-8  # it stopped at the first iterate with the mean under tol


def test_lm_chord_steps_reuse_jacobians_and_reach_the_same_points():
    """Chord steps (kept Jacobian + factorization) find the same fixed points as plain LM (chord=0),
    with fewer Jacobian evaluations; every point still stops at its first iterate under tol."""
    F, known = flipflop()
    seeds = torch.empty(100, 3, dtype=D).uniform_(-1.5, 1.5, generator=torch.Generator().manual_seed(7))
    runs = {}
    for chord in (0.0, 0.5):
        step = as_step(F)
        rows = []
        jac = step.jacobian_rec
        step.jacobian_rec = lambda x_, h_, jac=jac, rows=rows: rows.append(len(h_)) or jac(x_, h_)
        fp = find_fixed_points(step, seeds, solver=LM(chord=chord), tol=1e-24)
        # find_fixed_points takes one more Jacobian per point after solving, for grad_norm
        runs[chord] = (fp, sum(rows) - len(seeds))
        assert fp.converged.all()
        q = (F(fp.inputs, fp.points) - fp.points).square().mean(1)
        assert (q < 1e-24).all()
        # the three exact answers: -a*, 0 (saddle), +a* on the first axis, 0 on the others
        nearest = (fp.points[:, None, :] - known[None]).norm(dim=2).min(1).values
        assert nearest.max() < 1e-10
    (plain, n_plain), (chord, n_chord) = runs[0.0], runs[0.5]
    same = ((plain.points - chord.points).abs().max(1).values < 1e-10).double().mean()
    assert same >= 0.9  # seeds near a basin boundary (a ~ +-0.3) may legitimately end at another point
    assert n_chord < 0.8 * n_plain  # Jacobian rows evaluated


def test_lm_relax_warm_start_keeps_seeds_and_unstable_points():
    """relax=k runs the dynamics k steps before LM; the result keeps the original seeds, and a point
    whose dynamics move away from its fixed point (unstable) starts from its seed instead."""
    seeds = torch.empty(20, 3, dtype=D).uniform_(-1, 1, generator=torch.Generator().manual_seed(3))
    for F in (lambda x, h: 0.5 * h + 0.1 * torch.tanh(h), lambda x, h: 2.0 * h + 0.1 * torch.tanh(h)):
        plain = find_fixed_points(F, seeds, solver=LM(), tol=1e-24)
        warm = find_fixed_points(F, seeds, solver=LM(relax=5), tol=1e-24)
        assert torch.equal(warm.seeds, seeds) and warm.converged.all()
        assert (warm.points - plain.points).abs().max() < 1e-10  # the one fixed point, 0
    assert find_fixed_points(F, seeds, solver=LM(relax=0), tol=1e-24).info["solver_options"]["relax"] == 0


def _sqrt_or_halving(x, h):
    # x = 1: F = h - sqrt(h), whose q pulls h below 0, where sqrt is NaN (diverges after its first step);
    # x = 0: F = h / 2, a contraction to 0 (its sqrt branch sees 1, so no NaN reaches its gradient)
    return torch.where(x > 0, h - torch.sqrt(torch.where(x > 0, h, torch.ones_like(h))), 0.5 * h)


@pytest.mark.parametrize("stop", ["point", "all", "mean"])
def test_adam_marks_diverging_points_and_keeps_their_last_finite_iterate(stop):
    seeds = torch.tensor([[0.5], [0.5]], dtype=D)
    x = torch.tensor([[1.0], [0.0]], dtype=D)
    fp = find_fixed_points(_sqrt_or_halving, seeds, x, solver=Adam(lr=1.0, stop=stop, max_iter=3000), tol=1e-10)
    assert fp.diverged.tolist() == [True, False] and fp.converged.tolist() == [False, True]
    assert torch.isfinite(fp.points).all() and torch.isfinite(fp.q).all()
    assert fp.points[0, 0] >= 0 and fp.q[0] == pytest.approx(float(fp.points[0, 0]))  # q = (1/1) * sqrt(h)^2
    # when every point diverges the run stops at once instead of spinning to max_iter
    gone = find_fixed_points(
        _sqrt_or_halving, seeds, torch.ones(2, 1, dtype=D), solver=Adam(lr=1.0, stop=stop, max_iter=3000), tol=1e-10
    )
    assert gone.diverged.all() and int(gone.iterations.max()) < 10


def test_adam_run_ends_when_the_last_point_stops_and_counts_active_points():
    F, seeds, x, exact, _ = linear(D)
    seeds, x = seeds[:5], x[:5]
    fp = find_fixed_points(
        F, seeds, x, solver=Adam(lr=0.05, stop="point", max_iter=4000), tol=1e-12, record_history=True
    )
    h = fp.info["history"]
    assert fp.converged.all() and int(fp.iterations.max()) < 4000
    assert h[-1]["iteration"] == int(fp.iterations.max())  # no iteration after the last point stopped
    assert h[0]["n_active"] == 5 and h[-1]["n_active"] == 0
    assert [r["n_active"] for r in h] == sorted((r["n_active"] for r in h), reverse=True)


def test_adam_eps_option_is_used():
    # a huge eps turns Adam's step lr * m / (sqrt(v) + eps) into almost nothing
    F, seeds, x, exact, _ = linear(D)
    seeds, x = seeds[:3], x[:3]
    moved = find_fixed_points(F, seeds, x, solver=Adam(lr=0.05, max_iter=50), tol=1e-30)
    stuck = find_fixed_points(F, seeds, x, solver=Adam(lr=0.05, eps=1e6, max_iter=50), tol=1e-30)
    assert (stuck.distance < 1e-4).all() and (moved.distance > 1e-2).all()


def test_newton_counts_its_iterations_like_a_hand_written_newton():
    # F = tanh(2h) from h = 0.3: Newton on r = tanh(2h) - h, counted until q = r^2 < tol
    tol = 1e-24
    h, n = 0.3, 0
    while (math.tanh(2 * h) - h) ** 2 >= tol:
        r, dr = math.tanh(2 * h) - h, 2 * (1 - math.tanh(2 * h) ** 2) - 1
        h, n = h - r / dr, n + 1
    fp = find_fixed_points(lambda x, s: torch.tanh(2 * s), torch.full((2, 1), 0.3, dtype=D), solver="newton", tol=tol)
    assert n > 2 and fp.iterations.tolist() == [n, n] and fp.converged.all()
    assert fp.points[0, 0].item() == pytest.approx(h, abs=1e-12)
    capped = find_fixed_points(
        lambda x, s: torch.tanh(2 * s), torch.full((1, 1), 0.3, dtype=D), solver="newton", tol=tol, max_iter=2
    )
    assert capped.iterations.tolist() == [2] and not capped.converged.any()


@pytest.mark.parametrize("solver", ["lm", "newton"])
def test_a_seed_whose_q_overflows_is_diverged_before_any_step(solver):
    # float32: F is finite (h + 1e20) but q = 1e40 overflows to inf; the other seed is already fixed
    def F(x, h):
        return h + 1e20 * x

    seeds = torch.ones(2, 3)
    fp = find_fixed_points(F, seeds, torch.tensor([[1.0], [0.0]]), solver=solver, tol=1e-8)
    assert fp.diverged.tolist() == [True, False] and fp.converged.tolist() == [False, True]
    assert fp.iterations.tolist() == [0, 0] and torch.equal(fp.points, seeds)


def test_inverse_of_an_empty_batch_of_large_matrices():
    from rnnlens.solvers.common import inverse_ex, lu_solve

    inv, info = inverse_ex(torch.zeros(0, 200, 200, dtype=D))  # above the one-at-a-time size on the CPU
    assert inv.shape == (0, 200, 200) and info.shape == (0,)
    x, info = lu_solve(torch.zeros(0, 200, 200, dtype=D), torch.zeros(0, 200, dtype=D))
    assert x.shape == (0, 200) and info.shape == (0,)
    A = torch.eye(200, dtype=D).expand(3, 200, 200) * torch.tensor([1.0, 2.0, 4.0], dtype=D)[:, None, None]
    inv, info = inverse_ex(A)
    assert torch.allclose(inv, A / torch.tensor([1.0, 4.0, 16.0], dtype=D)[:, None, None]) and not info.any()


def test_lm_relax_runs_the_dynamics_at_each_points_input():
    # F = h / 2 + x: from h = 0 the dynamics at x = 1 visit 1, 1.5, 1.75 (q falling), at x = -1 the mirror
    F = lambda x, h: 0.5 * h + x  # noqa: E731
    seeds, x = torch.zeros(2, 1, dtype=D), torch.tensor([[1.0], [-1.0]], dtype=D)
    for k, want in ((1, 1.0), (3, 1.75)):
        fp = find_fixed_points(F, seeds, x, solver=LM(relax=k), max_iter=0, tol=1e-30)
        assert fp.points[:, 0].tolist() == [want, -want] and torch.equal(fp.seeds, seeds)
    assert find_fixed_points(F, seeds, x, solver=LM(relax=3), tol=1e-24).points[:, 0].tolist() == pytest.approx(
        [2.0, -2.0], abs=1e-12
    )
