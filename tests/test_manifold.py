"""trace_slow_manifold against known truths: an exact line attractor, a line with a known slow drift,
curve measures on a bent line, bad input, and a user's torch module."""

import math

import pytest
import torch

from rnnlens.errors import ArgumentError
from rnnlens.manifold import curve_variance_explained, project_on_curve, trace_slow_manifold

torch.manual_seed(0)


def _rotation(S, seed=0):
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(S, S, generator=g, dtype=torch.float64))
    return Q


def _line_system(S=6, eps=0.0, decay=0.5, seed=0):
    """h' = Q F(Q^T h) with, in rotated coordinates z = Q^T h: z_1' = z_1 + eps (1 - z_1^2),
    z_k' = decay z_k (k > 1). The line {z_k = 0, k > 1} is invariant; on it q = eps^2 (1 - z_1^2)^2 / S,
    zero everywhere when eps = 0 (an exact line attractor)."""
    Q = _rotation(S, seed)

    def F(x, h):
        z = h @ Q
        z1 = z[:, :1] + eps * (1 - z[:, :1] ** 2)
        return torch.cat([z1, decay * z[:, 1:]], 1) @ Q.T

    return F, Q


def _states(Q, n=400, spread=1.5, off=0.5, seed=1):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, Q.shape[0], generator=g, dtype=torch.float64) * off
    z[:, 0] = (torch.rand(n, generator=g, dtype=torch.float64) * 2 - 1) * spread
    return z @ Q.T


def test_exact_line_attractor_is_recovered_to_1e_6():
    F, Q = _line_system(eps=0.0)
    axis = Q[:, 0]
    sm = trace_slow_manifold(
        F, _states(Q), readout=axis, inputs=torch.zeros(0, dtype=torch.float64), n_points=20, relax_steps=30
    )
    z = sm.points @ Q
    assert float(z[:, 1:].abs().max()) < 1e-6  # every node on the line
    assert float(sm.q.max()) < 1e-12
    # ordered from the low-readout end to the high one, spanning the visited range (trimmed 1%)
    assert torch.all(torch.diff(sm.readout) > 0)
    assert float(sm.readout[0]) < -1.3 and float(sm.readout[-1]) > 1.3
    assert float((sm.tangent @ axis).abs().min()) > 1 - 1e-9
    assert curve_variance_explained(sm.relaxed, sm.points) > 0.999


def test_known_slow_drift_profile_is_recovered():
    eps, S = 1e-3, 6
    F, Q = _line_system(S=S, eps=eps)
    sm = trace_slow_manifold(
        F,
        _states(Q, spread=0.9),
        readout=Q[:, 0],
        inputs=torch.zeros(0, dtype=torch.float64),
        n_points=25,
        relax_steps=10,
    )
    z1 = sm.points @ Q[:, 0]
    expected = eps**2 * (1 - z1**2) ** 2 / S  # q on the invariant line, closed form
    assert torch.allclose(sm.q, expected, rtol=1e-3, atol=1e-16)
    assert float((sm.points @ Q)[:, 1:].abs().max()) < 1e-6
    # the exact fixed points are the ends of the drift, z_1 = -1 (unstable: |lambda| = 1 + 2 eps) and
    # z_1 = +1 (stable). At tol 1e-14 on q a point counts once |1 - z_1^2| < sqrt(1e-14 S) / eps = 2.4e-4.
    z_fp = [float(p.double() @ Q[:, 0]) for p in sm.fixed_points.points]
    assert len(z_fp) == 2 and z_fp[0] == pytest.approx(-1, abs=2e-4) and z_fp[1] == pytest.approx(1, abs=2e-4)
    assert sm.fixed_point_unstable.tolist() == [1, 0]


def test_bent_line_scores_one_by_the_curve_measure_but_not_by_the_top_pc():
    s = torch.linspace(-1, 1, 400, dtype=torch.float64)
    curve = torch.stack([s, s**2, torch.zeros_like(s)], 1)  # a parabola
    X = curve[::3] + 1e-4 * torch.randn(134, 3, dtype=torch.float64)
    assert curve_variance_explained(X, curve) > 0.999
    top_pc = torch.linalg.svdvals(X - X.mean(0))
    assert float(top_pc[0] ** 2 / (top_pc**2).sum()) < 0.9
    pos, dist = project_on_curve(torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64), curve)
    assert float(dist) == pytest.approx(1.0, abs=1e-4)


def test_torch_gru_module_and_bad_input():
    gru = torch.nn.GRU(3, 8, batch_first=True)
    with torch.no_grad():
        seq = torch.randn(50, 20, 3)
        hs, _ = gru(seq)
    states = hs.reshape(-1, 8)
    sm = trace_slow_manifold(gru, states, n_points=8, relax_steps=20)
    assert sm.points.shape == (8, 8) and torch.isfinite(sm.q).all()
    F = gru(torch.zeros(8, 1, 3, dtype=torch.float32), sm.points.float().unsqueeze(0))[1][0]
    q_module = ((F.double() - sm.points) ** 2).mean(1)  # the module's own step gives the same q
    assert torch.allclose(q_module, sm.q, rtol=1e-3, atol=1e-9)
    with pytest.raises(ArgumentError, match="n_points"):
        trace_slow_manifold(gru, states, n_points=2)
    with pytest.raises(ArgumentError, match="states"):
        trace_slow_manifold(gru, states[:5], n_points=8)
    with pytest.raises(ArgumentError, match="readout has 3 numbers"):
        trace_slow_manifold(gru, states, readout=torch.ones(3), n_points=8)
    assert math.isfinite(float(sm.arclength[-1]))


def test_project_on_curve_against_a_point_by_point_reference():
    # a bent polyline in R^5 and points around it (some beyond its ends): every row's foot, position and
    # distance against a plain loop over the segments, including points far from the origin
    g = torch.Generator().manual_seed(0)
    C = torch.cumsum(torch.randn(12, 5, generator=g, dtype=torch.float64), 0) + 30.0
    X = torch.cat(
        [
            C[torch.randint(12, (300,), generator=g)] + 0.7 * torch.randn(300, 5, generator=g, dtype=torch.float64),
            C[:1] - 3.0,
            C[-1:] + 3.0,
        ]
    )
    pos, dist = project_on_curve(X, C, chunk=64)
    seg = (C[1:] - C[:-1]).norm(dim=1)
    start = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(seg, 0)])
    for i, x in enumerate(X):
        best = (math.inf, None)
        for j in range(11):
            a, d = C[j], C[j + 1] - C[j]
            u = float(((x - a) @ d) / (d @ d))
            u = min(max(u, 0.0), 1.0)
            r = float((x - a - u * d).norm())
            if r < best[0]:
                best = (r, float(start[j] + u * seg[j]))
        assert float(dist[i]) == pytest.approx(best[0], rel=1e-9, abs=1e-9)
        assert float(pos[i]) == pytest.approx(best[1], rel=1e-9, abs=1e-9)


def test_fixed_point_stability_is_judged_at_the_given_input():
    # z_1' = z_1 + x eps (1 - z_1^2): dz_1'/dz_1 = 1 - 2 x eps z_1. At x* = -1 the ends swap roles:
    # z_1 = -1 is stable (1 - 2 eps) and z_1 = +1 unstable (1 + 2 eps); at x = 0 both would read |lambda| = 1
    eps, S = 1e-3, 6
    Q = _rotation(S)

    def F(x, h):
        z = h @ Q
        z1 = z[:, :1] + x[:, :1] * eps * (1 - z[:, :1] ** 2)
        return torch.cat([z1, 0.5 * z[:, 1:]], 1) @ Q.T

    sm = trace_slow_manifold(
        F,
        _states(Q, spread=0.9),
        readout=Q[:, 0],
        inputs=torch.tensor([-1.0], dtype=torch.float64),
        n_points=25,
        relax_steps=10,
    )
    z_fp = [float(p.double() @ Q[:, 0]) for p in sm.fixed_points.points]
    assert z_fp == pytest.approx([-1, 1], abs=2e-4) and sm.fixed_point_unstable.tolist() == [0, 1]


def test_no_relaxation_and_no_curve_iterations_are_allowed_and_recorded():
    F, Q = _line_system(eps=0.0)
    sm = trace_slow_manifold(
        F,
        _states(Q, off=0.0),
        readout=Q[:, 0],
        inputs=torch.zeros(0, dtype=torch.float64),
        n_points=10,
        relax_steps=0,
        init_steps=0,
        n_iter=0,
        bandwidth=1.5,
    )
    assert float((sm.points @ Q)[:, 1:].abs().max()) < 1e-9  # the states already lie on the line
    assert sm.info["relax_steps"] == 0 and sm.info["n_iter"] == 0 and sm.info["bandwidth"] == 1.5


def test_curve_variance_explained_closed_form():
    # 4 points at +-1 along a segment, each 0.1 off it: total variance 1 + 0.01, residual 0.01
    X = torch.tensor([[-1.0, 0.1], [-1.0, -0.1], [1.0, 0.1], [1.0, -0.1]], dtype=torch.float64)
    C = torch.tensor([[-2.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
    assert curve_variance_explained(X, C) == pytest.approx(1 - 0.01 / 1.01, rel=1e-12)


def test_trace_records_its_polish_and_names_bad_arguments():
    F, Q = _line_system(eps=0.0)
    states = _states(Q, n=300)
    sm = trace_slow_manifold(
        F,
        states,
        readout=Q[:, 0],
        inputs=torch.zeros(0, dtype=torch.float64),
        n_points=10,
        relax_steps=5,
        max_states=100,
    )
    assert {"lm_iterations", "not_settled", "n_states", "n_polish"} <= set(sm.info) and sm.info["n_states"] == 100
    # the seeded subset of 100 of the 300 states has no repeats
    assert len({tuple(r) for r in sm.relaxed.tolist()}) == 100
    z = torch.zeros(0, dtype=torch.float64)
    for name, bad, lo in (("n_polish", -1, 0), ("init_steps", -1, 0), ("tangent_window", 0, 1), ("n_points", 2, 3)):
        with pytest.raises(
            ArgumentError, match=rf"^trace_slow_manifold: {name} must be an integer >= {lo}; got {bad}$"
        ):
            trace_slow_manifold(F, states, inputs=z, **{name: bad})
    with pytest.raises(ArgumentError, match=r"^states must be a tensor of shape \[n_states, state_size"):
        trace_slow_manifold(F, states[0], inputs=z)
    # no polishing at all is allowed
    assert (
        trace_slow_manifold(F, states, readout=Q[:, 0], inputs=z, n_points=10, relax_steps=5, n_polish=0).info[
            "n_polish"
        ]
        == 0
    )


def test_a_drift_without_fixed_points_reports_none():
    # z_1' = z_1 + 1e-3 everywhere: slow along the line, but no fixed point anywhere
    S = 4
    Q = _rotation(S)

    def F(x, h):
        z = h @ Q
        return torch.cat([z[:, :1] + 1e-3, 0.5 * z[:, 1:]], 1) @ Q.T

    sm = trace_slow_manifold(
        F, _states(Q), readout=Q[:, 0], inputs=torch.zeros(0, dtype=torch.float64), n_points=12, relax_steps=5
    )
    assert len(sm.fixed_points) == 0 and sm.fixed_point_unstable.shape == (0,)
    assert torch.allclose(sm.q, torch.full_like(sm.q, 1e-6 / S), rtol=1e-6)  # q = (1e-3)^2 / S on the line


@pytest.mark.parametrize("kind", ["diagonal", "complex diagonal"])
def test_the_normal_plane_lm_step_in_closed_form_equals_the_cholesky_solve(kind):
    # the same J at every node with a diagonal A^T A (the elementwise cells): (D + lam) d = g + mu t, O(S) per
    # node, against the dense P A^T A P + lam I system
    from rnnlens.manifold import _dense_lm_direction, _structured_lm_direction

    g = torch.Generator().manual_seed(5)
    n, N = 6, 5
    if kind == "diagonal":
        J0 = torch.diag(torch.rand(2 * N, generator=g, dtype=torch.float64) * 1.2)
    else:
        lam_c = torch.polar(
            torch.rand(N, generator=g, dtype=torch.float64), 3 * torch.rand(N, generator=g, dtype=torch.float64)
        )
        J0 = torch.cat(
            [
                torch.cat([torch.diag(lam_c.real), -torch.diag(lam_c.imag)], 1),
                torch.cat([torch.diag(lam_c.imag), torch.diag(lam_c.real)], 1),
            ]
        )
    J = J0.expand(n, -1, -1).clone()
    r = torch.randn(n, 2 * N, generator=g, dtype=torch.float64)
    t = torch.randn(n, 2 * N, generator=g, dtype=torch.float64)
    t = t / t.norm(dim=1, keepdim=True)
    lam = torch.logspace(-3, 1, n, dtype=torch.float64)
    fast = _structured_lm_direction(J, r, t, lam)
    assert fast is not None
    torch.testing.assert_close(fast, _dense_lm_direction(J, r, t, lam), rtol=1e-10, atol=1e-12)
    assert float((fast * t).sum(1).abs().max()) < 1e-12  # in the hyperplane
    J[2, 0, 1] = 0.3  # another J at one node: the dense solve
    assert _structured_lm_direction(J, r, t, lam) is None
