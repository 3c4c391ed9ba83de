"""The grouped linear rollout and the nearest-point search it reuses, against plain reference loops on random
systems with many fixed points, groups of every size, sequences of different lengths and diverging runs."""

import math

import pytest
import torch

from rnnlens.analysis.dynamics import _Nearest, linear_rollout, nearest_point


def _reference_rollout(x_seq, lengths, h0, points, x_star, J_rec, J_inp, visited=None):
    """One sequence at a time, one token at a time: h <- h* + J_rec (h - h*) + J_inp (x - x*) around the point
    nearest the current state; a state that is not finite before a step becomes NaN."""
    points, x_star = points.double(), x_star.double()
    final = torch.full(h0.shape, math.nan, dtype=torch.float64)
    for b in range(h0.shape[0]):
        h = h0[b].double()
        for t in range(int(lengths[b])):
            if not bool(torch.isfinite(h).all()):
                h = torch.full_like(h, math.nan)
                continue
            p = int(nearest_point(h[None], points)[0])
            if visited is not None:
                visited.setdefault(t, set()).add(p)
            h = points[p] + J_rec[p] @ (h - points[p]) + J_inp[p] @ (x_seq[b, t] - x_star)
        final[b] = h
    return final, ~torch.isfinite(final).all(dim=1)


def _system(n_points, S=6, I=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(n_points, S, generator=g, dtype=torch.float64) * 2
    # contracting Jacobians (spectral norm 0.9) so states stay among the points and change point often
    J_rec = torch.randn(n_points, S, S, generator=g, dtype=torch.float64)
    J_rec = 0.9 * J_rec / torch.linalg.matrix_norm(J_rec, ord=2)[:, None, None]
    J_inp = torch.randn(n_points, S, I, generator=g, dtype=torch.float64)
    x_star = torch.randn(I, generator=g, dtype=torch.float64) * 0.1
    return points, x_star, J_rec, J_inp


def _sequences(B=48, T=60, S=6, I=3, seed=1):
    """Inputs with groups of every size: rows 0-9, 10-13, 14-16 and 17-18 start alike and read the same first
    tokens (one group of 10, 4, 3 and 2 rows while they agree), the rest alone; lengths 1..T."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, I, generator=g, dtype=torch.float64) * 1.5
    h0 = torch.randn(B, S, generator=g, dtype=torch.float64) * 2
    for lo, hi, upto in ((0, 10, 25), (10, 14, 40), (14, 17, 12), (17, 19, 30))[: 4 if B >= 19 else 0]:
        x[lo:hi, :upto] = x[lo, :upto]
        h0[lo:hi] = h0[lo]
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    lengths[:3] = torch.tensor([T, 1, min(2, T)])
    return x, lengths, h0


def _assert_same(got, want):
    (f, d), (f_ref, d_ref) = got, want
    assert torch.equal(d, d_ref)
    ok = ~d_ref
    scale = f_ref[ok].norm(dim=1, keepdim=True).clamp_min(1.0)
    assert ((f[ok] - f_ref[ok]).abs() / scale).max() < 1e-12
    assert torch.equal(torch.isnan(f[d_ref]), torch.isnan(f_ref[d_ref]))


@pytest.mark.parametrize("n_points", [7, 40])  # <= 25 points: cdist's direct form; more: its product form
def test_linear_rollout_matches_the_reference_loop(n_points):
    points, x_star, J_rec, J_inp = _system(n_points)
    if n_points == 7:  # points and x* given in float32 are used in the Jacobians' dtype
        points, x_star = points.float(), x_star.float()
    x, lengths, h0 = _sequences()
    visited = {}
    want = _reference_rollout(x, lengths, h0, points, x_star, J_rec, J_inp, visited)
    _assert_same(linear_rollout(x, lengths, h0, points, x_star, J_rec, J_inp), want)
    assert not bool(want[1].any())
    # the case it is built for: many points at one step, and over the run most of them
    assert max(len(v) for v in visited.values()) >= min(n_points, 15)
    assert len(set().union(*visited.values())) >= 0.8 * n_points


def test_linear_rollout_divergence_matches_the_reference_loop():
    points, x_star, J_rec, J_inp = _system(30)
    x, lengths, h0 = _sequences()
    lengths[20:26] = torch.tensor([30, 30, 10, 5, 45, 45])
    x[20, 7] = 1e308  # the step overflows long before the end: NaN at the end
    x[21, 29] = 1e308  # overflows at its last token: the non-finite state itself is its final state
    x[22, 3, 0] = math.nan  # a NaN input
    h0[23, 2] = math.inf  # starts non-finite
    h0[25], x[25, :40] = h0[24], x[24, :40]  # rows 24 and 25 move as one group for 40 tokens,
    x[25, 40] = -1e308  # then 25 overflows and 24 goes on
    got = linear_rollout(x, lengths, h0, points, x_star, J_rec, J_inp)
    want = _reference_rollout(x, lengths, h0, points, x_star, J_rec, J_inp)
    _assert_same(got, want)
    assert got[1][20:26].tolist() == [True, True, True, True, False, True]
    assert bool(torch.isnan(got[0][[20, 22, 23, 25]]).all())  # non-finite before the end: all NaN
    assert not bool(torch.isnan(got[0][21]).all())  # at its last token: what the step gave
    assert int(got[1].sum()) == 5


def test_linear_rollout_lengths_past_the_inputs_and_no_rows():
    points, x_star, J_rec, J_inp = _system(30)
    x, lengths, h0 = _sequences(B=4, T=5)
    lengths = torch.tensor([5, 6, 0, 3])  # longer than the inputs / no token: never finished
    final, diverged = linear_rollout(x, lengths, h0, points, x_star, J_rec, J_inp)
    assert diverged.tolist() == [False, True, True, False]
    want = _reference_rollout(x, torch.tensor([5, 0, 0, 3]), h0, points, x_star, J_rec, J_inp)[0]
    assert torch.allclose(final[[0, 3]], want[[0, 3]], rtol=1e-12, atol=1e-12)
    final, diverged = linear_rollout(x[:0], lengths[:0], h0[:0], points, x_star, J_rec, J_inp)
    assert final.shape == (0, 6) and diverged.shape == (0,)
    h0[0, 1] = math.inf  # non-finite from the start, one token: NaN, as in the loop
    final, diverged = linear_rollout(x, torch.tensor([1, 1, 1, 1]), h0, points, x_star, J_rec, J_inp)
    assert bool(torch.isnan(final[0]).all()) and diverged.tolist() == [True, False, False, False]


def _exhaustive(h, points):
    """The nearest point by float64 squared differences, every pair (ties: the lower index)."""
    return ((h[:, None, :] - points[None]) ** 2).sum(2).argmin(1)


@pytest.mark.parametrize("n_points", [1, 25, 26, 300, 5000])
def test_nearest_is_the_exhaustive_search(n_points):
    g = torch.Generator().manual_seed(n_points)
    points = torch.randn(n_points, 9, generator=g, dtype=torch.float64)
    near = _Nearest(points)
    for n in (1, 7, 30, 4097):
        h = torch.randn(n, 9, generator=g, dtype=torch.float64)
        h[: n // 2] = points[torch.randint(0, n_points, (n // 2,), generator=g)] + 1e-9  # near ties
        got = near(h)
        assert torch.equal(got, nearest_point(h, points))
        if n <= 30 or n_points <= 300:
            assert torch.equal(got, _exhaustive(h, points))


def test_nearest_decides_what_float32_cannot():
    """Points 1e-6 apart around a far centre, queries nearer one of each pair by 1e-9 of the squared distance: the
    float32 screen cannot tell them apart (its rounding is ~1e-5 there), the float64 decision must."""
    g = torch.Generator().manual_seed(0)
    S = 64
    base = torch.randn(40, S, generator=g, dtype=torch.float64)
    e = torch.zeros(S, dtype=torch.float64)
    e[0] = 1.0
    points = torch.cat([base, base + 1e-6 * e])  # pairs (i, i + 40)
    near = _Nearest(points)
    assert near.screen
    far = torch.randn(40, S, generator=g, dtype=torch.float64)
    far[:, 0] = 0
    for side in (-1.0, 1.0):  # a query past the pair's midpoint by 1e-8 on one side or the other
        h = base + 5e-7 * e + side * 1e-8 * e + 3 * far / far.norm(dim=1, keepdim=True)
        want = torch.arange(40) + (40 if side > 0 else 0)
        assert torch.equal(_exhaustive(h, points), want)
        assert torch.equal(near(h), want)
        screened = torch.cdist(h.float(), points.float()).argmin(1)
        assert not torch.equal(screened, want)  # float32 alone gets some wrong: the decision is float64's
    # exact ties go to the lower index
    h = base + 5e-7 * e
    h[:, 0] = (points[:40, 0] + points[40:, 0]) / 2
    d = _exhaustive(h, points)
    assert torch.equal(near(h), d)
