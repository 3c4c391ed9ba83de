"""Analysis pieces on constructed data and hand-built systems whose answers are known in closed form."""

import math

import numpy as np
import pytest
import torch

from rnnlens.analysis.dynamics import approach_speed, linear_rollout, nearest_point, one_step_errors
from rnnlens.analysis.geometry import (
    against_null,
    expected_random_abs_cos,
    manifold_axis,
    pca,
    pca_fit,
    pca_variance,
    random_abs_cos,
    readout_covariance_direction,
    readout_covariance_directions,
    readout_direction,
)
from rnnlens.analysis.modes import input_projections, mode_stats, orient_top_mode
from rnnlens.analysis.valence import valence_summary, word_groups
from rnnlens.errors import ArgumentError


def _eig_sorted(A):
    """Eigendecomposition sorted by |lambda| descending, as linearize returns it (R columns, L = R^-1)."""
    lam, R = np.linalg.eig(A)
    order = np.argsort(-np.abs(lam), kind="stable")
    lam, R = lam[order], R[:, order]
    return lam, R, np.linalg.inv(R)


def test_pca_variance_matches_constructed_spectrum():
    rng = np.random.default_rng(0)
    n, d = 400, 10
    Z = rng.standard_normal((n, 3))
    Q, _ = np.linalg.qr(Z - Z.mean(0))  # orthonormal, centred columns
    V, _ = np.linalg.qr(rng.standard_normal((d, 3)))
    s = np.array([5.0, 2.0, 1.0])
    X = Q @ np.diag(s) @ V.T + 3.0  # an offset PCA must remove
    cum = pca_variance(X, 10)
    expected = np.cumsum(s**2) / np.sum(s**2)
    np.testing.assert_allclose(cum[:3], expected, atol=1e-10)
    np.testing.assert_allclose(cum[3:], 1.0, atol=1e-10)  # rank 3: nothing left for PCs 4..10
    assert cum.shape == (10,)


@pytest.mark.parametrize("n", [400, 50])  # the covariance solver (n >= 4 dim) and the full SVD
def test_pca_total_variance_and_rms_radius(n):
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 10)) * np.arange(1, 11) + 5.0
    fit = pca(X, 3)
    assert fit.total_variance == pytest.approx(X.var(axis=0, ddof=1).sum(), rel=1e-12)
    radius = np.sqrt(((X - X.mean(0)) ** 2).sum(1).mean())
    assert fit.rms_radius == pytest.approx(radius, rel=1e-12)
    captured = np.trace(fit.components @ np.cov(X.T) @ fit.components.T)  # the variance of the top 3 PCs
    assert fit.cumulative[-1] == pytest.approx(captured / X.var(axis=0, ddof=1).sum(), rel=1e-10)
    same = pca(np.ones((5, 4)), 2)  # no variance at all
    assert same.total_variance == 0 and same.rms_radius == 0 and not same.cumulative.any()


def test_pca_variance_rejects_too_few_samples():
    with pytest.raises(ArgumentError, match="n_samples >= 2"):
        pca_variance(np.zeros((1, 4)))


def test_manifold_axis_line_with_readout():
    rng = np.random.default_rng(1)
    d = np.array([3.0, 4.0, 0.0, 0.0]) / 5.0
    s = np.linspace(-2, 2, 41)
    pts = s[:, None] * d + 1e-4 * rng.standard_normal((41, 4)) + np.array([1.0, 0, 0, 2.0])
    w = np.array([-1.0, 0.0, 0.0, 0.0])  # readout anti-aligned with d: m must flip to -d
    out = manifold_axis(pts, readout=w)
    np.testing.assert_allclose(out["m"], -d, atol=1e-4)
    assert out["top_pc_fraction"] > 1 - 1e-6
    assert out["readout_cos"] == pytest.approx(0.6, abs=1e-4)
    # theta is the rescaled projection: -1 at the end where the logit is smallest, +1 at the other
    assert out["theta"].min() == -1.0 and out["theta"].max() == 1.0
    np.testing.assert_allclose(out["theta"], -s / 2.0, atol=1e-3)


def test_manifold_axis_two_equal_directions_is_not_one_dimensional():
    # points on a circle in a plane: the top PC carries exactly half of the variance
    a = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    pts = np.stack([np.cos(a), np.sin(a), np.zeros_like(a)], 1)
    assert manifold_axis(pts)["top_pc_fraction"] == pytest.approx(0.5, abs=1e-9)


def test_readout_direction_binary_and_multiclass():
    np.testing.assert_array_equal(readout_direction(np.array([[1.0, 2.0]])), [1.0, 2.0])
    np.testing.assert_array_equal(readout_direction(np.array([[1.0, 2.0], [0, 0], [3.0, -1.0]])), [2.0, -3.0])


def test_readout_covariance_direction_closed_form():
    # states on a line along e0 (variance 4) plus small independent noise along e1 (variance 0.01);
    # e2 is never visited. Cov(h, w.h) = Sigma w = (4 w0, 0.01 w1, 0) exactly for the population.
    rng = np.random.default_rng(0)
    n = 200000
    X = np.stack([2 * rng.standard_normal(n), 0.1 * rng.standard_normal(n), np.full(n, 3.0)], 1)
    w = np.array([1.0, 1.0, 1.0])  # raw |cos| with the line: 1/sqrt(3)
    c = readout_covariance_direction(X, w)
    np.testing.assert_allclose(c, [4.0, 0.01, 0.0], rtol=0.02, atol=2e-3)
    t = np.array([1.0, 0.0, 0.0])
    assert abs(t @ w) / np.linalg.norm(w) == pytest.approx(3**-0.5)
    assert abs(t @ c) / np.linalg.norm(c) > 0.9999  # the visited line carries the readout
    # a readout orthogonal to the line reads only the noise: the direction turns away from the line
    c_orth = readout_covariance_direction(X, np.array([0.0, 1.0, 0.0]))
    assert abs(t @ c_orth) / np.linalg.norm(c_orth) < 0.1  # sampling: ~0.05 at this n; random: ~0.5
    # exact for a finite sample: the sample covariance times w
    Xs = X[:50]
    np.testing.assert_allclose(readout_covariance_direction(Xs, w), np.cov(Xs.T) @ w, rtol=1e-10, atol=1e-12)
    # over the rows of a mask (blocks across which the mask falls unevenly), without copying them out
    mask = (np.arange(n) % 7 == 0) | (X[:, 0] > 3)
    np.testing.assert_allclose(
        readout_covariance_direction(X, w, rows=mask), np.cov(X[mask].T) @ w, rtol=1e-10, atol=1e-12
    )
    both = readout_covariance_directions(X, w, [mask, None, ~mask])  # several masks in the same passes
    for got, rows in zip(both, (mask, np.ones(n, bool), ~mask)):
        np.testing.assert_allclose(got, np.cov(X[rows].T) @ w, rtol=1e-10, atol=1e-12)
    with pytest.raises(ArgumentError, match="readout_covariance_direction"):
        readout_covariance_direction(X[:, :2], w)
    with pytest.raises(ArgumentError, match="readout_covariance_direction"):
        readout_covariance_direction(X, w, rows=np.arange(n) == 5)  # one state: no covariance


@pytest.mark.parametrize("dim,closed", [(2, 2 / math.pi), (3, 0.5)])
def test_null_closed_form_small_dims(dim, closed):
    assert expected_random_abs_cos(dim) == pytest.approx(closed, rel=1e-12)


@pytest.mark.parametrize("dim", [2, 3, 64, 256])
def test_null_sample_matches_closed_form(dim):
    null = random_abs_cos(dim, 20000, seed=dim)
    se = null.std() / math.sqrt(null.size)
    assert abs(null.mean() - expected_random_abs_cos(dim)) < 4 * se
    assert np.all((null >= 0) & (null <= 1))


def test_against_null_percentile_and_z():
    null = np.arange(1, 101) / 100.0
    out = against_null([1.5, 0.505, 0.0], null)
    np.testing.assert_allclose(out["percentile"], [100.0, 50.0, 0.0])
    np.testing.assert_allclose(out["z"][1], (0.505 - null.mean()) / null.std(ddof=1))


# --- a hand-built 3-D line attractor: F(x, h) = A h + B x, A = Q diag(1, 0.5, 0.2) Q^-1 ----------
Q = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
Q = Q / np.linalg.norm(Q, axis=0)  # unit columns; q1 = e1 is the line
LAM = np.array([1.0, 0.5, 0.2])
A = Q @ np.diag(LAM) @ np.linalg.inv(Q)
B = np.array([[1.0, -2.0], [0.5, 0.0], [0.0, 3.0]])
W = np.array([2.0, 0.3, -0.1])  # readout: w . q1 = 2 > 0


def test_top_mode_orientation_stats_and_valence_on_line_attractor():
    lam, R, L = _eig_sorted(A)
    P = 5
    R5 = np.stack([R * (-1) ** p for p in range(P)])  # alternate arbitrary signs of eigenvectors
    L5 = np.linalg.inv(R5)
    eig5 = np.tile(lam, (P, 1))
    r1, l1, wr = orient_top_mode(R5, L5, W)
    np.testing.assert_allclose(r1.real, np.tile([1.0, 0, 0], (P, 1)), atol=1e-12)  # +q1 every time
    np.testing.assert_allclose(wr, 2.0, atol=1e-12)
    np.testing.assert_allclose((l1 * r1).sum(1), 1.0, atol=1e-12)
    with np.errstate(divide="ignore"):
        tau = 1.0 / np.abs(np.log(np.abs(eig5)))
    st = mode_stats(eig5, tau, r1, np.array([-1.0, 0.0, 0.0]))
    np.testing.assert_allclose(st["abs_lambda1"], 1.0)
    assert np.all(np.isinf(st["tau_top"][:, 0]))
    np.testing.assert_allclose(st["tau_top"][:, 1:], np.tile([1 / math.log(2), 1 / math.log(5)], (P, 1)))
    np.testing.assert_allclose(st["r1_m_overlap"], 1.0)
    # valence: the component of B x along q1 in the eigenbasis, (Q^-1 B x)_1
    E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    J_inp = np.tile(B, (P, 1, 1))
    proj = input_projections(l1, J_inp, E)
    expected = (np.linalg.inv(Q) @ B @ E.T)[0]
    np.testing.assert_allclose(proj, np.tile(expected, (P, 1)), atol=1e-6)
    # and it is the long-run effect on the logit: a word moves the state by B x, the fast modes
    # decay, what remains is (valence) * q1, whose logit effect is valence * (w . q1)
    for v, x in zip(expected, E):
        h = B @ x
        for _ in range(200):
            h = A @ h
        assert W @ h == pytest.approx(v * 2.0, abs=1e-9)


def test_input_projections_shape_errors():
    with pytest.raises(ArgumentError, match="shapes do not fit"):
        input_projections(np.ones((2, 3)), np.ones((2, 3, 2)), np.ones((4, 5)))


def _torch_linear_system(quad=0.0):
    At, Bt = torch.tensor(A), torch.tensor(B)

    def step(x, h):
        return h @ At.T + x @ Bt.T + quad * h * h

    return step


def test_one_step_error_zero_for_linear_and_quadratic_remainder_exact():
    pts = torch.tensor([[s, 0.0, 0.0] for s in np.linspace(-1, 1, 5)])
    J_rec = torch.tensor(np.tile(A, (5, 1, 1)))
    J_inp = torch.tensor(np.tile(B, (5, 1, 1)))
    rng = np.random.default_rng(2)
    h = torch.tensor(rng.uniform(-1, 1, (50, 3)))
    x = torch.tensor(rng.standard_normal((50, 2)))
    err, _, _ = one_step_errors(h, x, _torch_linear_system()(x, h), pts, torch.zeros(2), J_rec, J_inp)
    assert err.max() < 1e-12
    # F = A h + B x + c h*h has Jacobian A at the fixed point h* = 0 (zero input): the one-step
    # error at h = delta*e2, x = 0 is exactly c delta^2 / ||F(h)||
    c = 0.3
    pts0 = torch.zeros(1, 3, dtype=torch.float64)
    for delta in (0.1, 0.2):
        h1 = torch.tensor([[0.0, delta, 0.0]], dtype=torch.float64)
        x0 = torch.zeros(1, 2, dtype=torch.float64)
        nxt = _torch_linear_system(c)(x0, h1)
        err, _, idx = one_step_errors(h1, x0, nxt, pts0, torch.zeros(2), J_rec[:1], J_inp[:1])
        assert err.item() == pytest.approx(c * delta**2 / nxt.norm().item(), rel=1e-12)


def test_linear_rollout_reproduces_linear_system_with_lengths():
    pts = torch.tensor([[s, 0.0, 0.0] for s in np.linspace(-1, 1, 7)])
    J_rec = torch.tensor(np.tile(A, (7, 1, 1)))
    J_inp = torch.tensor(np.tile(B, (7, 1, 1)))
    rng = np.random.default_rng(3)
    xs = torch.tensor(rng.standard_normal((4, 9, 2)))
    lengths = torch.tensor([9, 1, 5, 3])
    final, diverged = linear_rollout(
        xs, lengths, torch.zeros(4, 3, dtype=torch.float64), pts, torch.zeros(2), J_rec, J_inp
    )
    step = _torch_linear_system()
    for b in range(4):
        h = torch.zeros(1, 3, dtype=torch.float64)
        for t in range(int(lengths[b])):
            h = step(xs[b : b + 1, t], h)
        torch.testing.assert_close(final[b], h[0], rtol=1e-12, atol=1e-12)
    assert not diverged.any()


@pytest.mark.parametrize("shared", ["both", "rec", "diagonal rec", "diagonal both", "block rec", "block both", "none"])
def test_linear_rollout_equals_the_loop_around_the_nearest_point(shared):
    # every row steps with the Jacobians of the point nearest its current state; the paths for Jacobians shared
    # by every point (one product for all rows; a diagonal one elementwise) and for per-point ones (grouped by
    # point) agree with a plain loop
    g = torch.Generator().manual_seed(7)
    P, S, I, B, T = 6, 4, 3, 20, 12
    pts = torch.randn(P, S, generator=g, dtype=torch.float64)
    J_rec = 0.3 * torch.randn(P, S, S, generator=g, dtype=torch.float64)
    J_inp = torch.randn(P, S, I, generator=g, dtype=torch.float64)
    if shared.startswith("diagonal"):
        J_rec[:] = torch.diag(J_rec[0].diagonal())
    if shared.startswith("block"):  # a complex diagonal map in [Re z, Im z] coordinates
        lam = torch.complex(*(0.5 * torch.randn(2, S // 2, generator=g, dtype=torch.float64)))
        J_rec[:] = torch.cat(
            [
                torch.cat([torch.diag(lam.real), -torch.diag(lam.imag)], 1),
                torch.cat([torch.diag(lam.imag), torch.diag(lam.real)], 1),
            ]
        )
    if shared in ("both", "rec"):
        J_rec[:] = J_rec[0]
    if shared.endswith("both"):
        J_inp[:] = J_inp[0]
    xs = torch.randn(B, T, I, generator=g, dtype=torch.float64)
    lengths = torch.randint(1, T + 1, (B,), generator=g)
    x_star = torch.randn(I, generator=g, dtype=torch.float64)
    h0 = torch.randn(B, S, generator=g, dtype=torch.float64)
    final, diverged = linear_rollout(xs, lengths, h0, pts, x_star, J_rec, J_inp)
    for b in range(B):
        h = h0[b]
        for t in range(int(lengths[b])):
            p = int(nearest_point(h[None], pts)[0])
            h = pts[p] + J_rec[p] @ (h - pts[p]) + J_inp[p] @ (xs[b, t] - x_star)
        torch.testing.assert_close(final[b], h, rtol=1e-12, atol=1e-12)
    assert not diverged.any()


def test_approach_speed_exact_on_line_attractor():
    h0 = torch.tensor([[1.0, 1.0, 0.0]], dtype=torch.float64)
    A0 = torch.diag(torch.tensor([1.0, 0.5, 0.2], dtype=torch.float64))
    speed = approach_speed(lambda x, h: h @ A0.T, h0, torch.zeros(2), n_steps=6)
    t = np.arange(6)
    expected = 0.5 ** (t + 1) / np.sqrt(1 + 0.25**t)
    np.testing.assert_allclose(speed[0].numpy(), expected, rtol=1e-12)


def test_valence_summary_spearman_and_groups():
    rng = np.random.default_rng(4)
    itos = ["<pad>", "<unk>"] + [f"w{i}" for i in range(30)]
    truth = {f"w{i}": float(i - 15) for i in range(30)}
    coef = {f"w{i}": float(i - 15) ** 3 for i in range(30)}
    coef["notinvocab"] = 99.0
    vals = np.array([0.0, 0.0] + [np.tanh((i - 15) / 5.0) for i in range(30)])
    proj = vals[None, :] + 0.001 * rng.standard_normal((6, 32))
    out = valence_summary(proj, itos, bow_coef=coef, truth=truth, n_group=100)
    assert out["spearman_truth"] == pytest.approx(1.0)
    assert out["spearman_bow"] == pytest.approx(1.0)
    assert out["n_words_truth"] == 30 and out["n_words_bow"] == 30
    g = out["groups"]
    assert g["n"] == 10  # 30 words: groups of 30 // 3, never overlapping
    assert set(g["positive"]["words"]) == {f"w{i}" for i in range(20, 30)}
    assert set(g["negative"]["words"]) == {f"w{i}" for i in range(10)}
    # smallest |coef|: w15, w14/w16, ..., w11/w19, then the tie w10/w20 (|coef| = 125) goes to "w10"
    assert set(g["neutral"]["words"]) == {f"w{i}" for i in range(10, 20)}
    assert g["positive"]["mean"] > 0 > g["negative"]["mean"]
    assert g["positive"]["per_point"].shape == (6,)
    np.testing.assert_allclose(out["mean"], proj.mean(0), rtol=1e-12)


def test_word_groups_error_when_vocabularies_do_not_meet():
    with pytest.raises(ArgumentError) as info:
        word_groups({"a": 1.0, "b": -1.0}, ["<pad>", "<unk>", "zz"])
    assert str(info.value) == (
        "only 0 words of the bag-of-words coefficients are in the model's vocabulary; "
        "was the baseline fitted on another corpus?"
    )


def test_word_groups_break_ties_by_the_word_whatever_the_input_order():
    # the dict lists words in reverse order; every group is a four-way tie
    coef = {w: c for c, ws in ((2.0, "zyxw"), (0.0, "ponm"), (-3.0, "dcba")) for w in ws}
    g = word_groups(coef, list(coef) + ["<pad>", "<unk>"], n=2)
    assert g["n"] == 2
    assert g["negative"] == ["a", "b"] and g["neutral"] == ["m", "n"]
    assert g["positive"] == ["z", "y"]  # the largest coefficients, read from the top of the same order


@pytest.mark.parametrize("n_points", [7, 300])
def test_nearest_point_matches_exhaustive_search(n_points):
    # few points: cdist; many points (more than chunk): float32 block winners refined exactly; far from
    # the origin (||h||^2 ~ 1e4), where float32 squared distances carry absolute errors ~1e-3
    g = torch.Generator().manual_seed(1)
    pts = 10.0 + torch.randn(n_points, 6, generator=g, dtype=torch.float64)
    h = pts[torch.randint(n_points, (50,), generator=g)] + 0.05 * torch.randn(50, 6, generator=g, dtype=torch.float64)
    want = torch.cdist(h, pts).argmin(1)
    assert torch.equal(nearest_point(h, pts, chunk=16), want)
    assert torch.equal(nearest_point(h, pts), want)
    # the point itself is its own nearest
    k = min(20, n_points)
    assert torch.equal(nearest_point(pts[:k], pts, chunk=16), torch.arange(k))
    with pytest.raises(ArgumentError, match="at least one"):
        nearest_point(h, pts[:0])


def test_manifold_axis_and_pca_edge_cases():
    # an off-centre anisotropic cloud: exact mean, cumulative variance from the closed-form spectrum
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((4000, 3)) * np.array([3.0, 1.0, 0.5])
    Z -= Z.mean(0)
    pts = Z + np.array([10.0, -5.0, 2.0])
    out = manifold_axis(pts)
    np.testing.assert_allclose(out["mean"], [10.0, -5.0, 2.0], atol=1e-9)
    ev = np.sort(np.linalg.eigvalsh(np.cov(Z.T)))[::-1]  # the spectrum, computed independently
    np.testing.assert_allclose(out["cumulative"], np.cumsum(ev) / ev.sum(), rtol=1e-9)
    assert out["top_pc_fraction"] == pytest.approx(ev[0] / ev.sum(), rel=1e-9)
    assert out["theta"].min() == -1.0 and out["theta"].max() == 1.0 and out["readout_cos"] is None
    # one point, or identical points: no axis (nan fraction), theta all 0, m the first unit vector
    for P in (np.array([[1.0, 2.0]]), np.tile([[1.0, 2.0]], (5, 1))):
        o = manifold_axis(P, readout=[0.0, 1.0])
        assert math.isnan(o["top_pc_fraction"]) and np.all(o["theta"] == 0)
        np.testing.assert_array_equal(o["m"], [1.0, 0.0])
        np.testing.assert_array_equal(o["cumulative"], [1.0])
        assert o["readout_cos"] == pytest.approx(0.0)
    # two distinct points: a line (fraction 1), theta -1 and 1 in readout order
    o = manifold_axis(np.array([[0.0, 1.0], [0.0, 3.0]]), readout=[0.0, -1.0])
    assert o["top_pc_fraction"] == pytest.approx(1.0) and o["theta"].tolist() == [1.0, -1.0]
    for bad in (np.zeros((0, 3)), np.zeros(3), np.zeros((2, 2, 2))):
        with pytest.raises(ArgumentError, match="manifold_axis needs"):
            manifold_axis(bad)
    # pca_fit: 2 samples are enough, 1 is not; k = min(n_components, dim, samples); constant data -> zeros
    cum, mean, comps = pca_fit(np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]]), 10)
    assert cum.shape == (2,) and cum[0] == pytest.approx(1.0) and comps.shape == (2, 3)
    np.testing.assert_allclose(mean, [0.5, 1.0, 1.0])
    np.testing.assert_allclose(np.abs(comps[0]), [1 / 3, 2 / 3, 2 / 3], atol=1e-12)
    assert pca_fit(rng.standard_normal((50, 4)), 10)[0].shape == (4,)
    np.testing.assert_array_equal(pca_fit(np.ones((20, 3)), 2)[0], [0.0, 0.0])
    with pytest.raises(ArgumentError, match="n_samples >= 2"):
        pca_fit(np.zeros((1, 3)))
    # the float32 input is read in float64 (no rounding of the variance shares)
    X32 = (rng.standard_normal((500, 3)) * [1.0, 1e-4, 1e-4] + 1e3).astype(np.float32)
    np.testing.assert_allclose(pca_fit(X32, 3)[0], pca_fit(X32.astype(np.float64), 3)[0], rtol=1e-12)


def test_abs_cos_readout_direction_null_and_percentiles_in_detail():
    import warnings

    from rnnlens.analysis.geometry import abs_cos

    # non-unit vectors: |<a, b>| / (|a| |b|); complex vectors use the conjugate (np.vdot)
    assert abs_cos([2.0, 0.0], [3.0, 4.0]) == pytest.approx(0.6)
    assert abs_cos([3.0, 4.0], [-6.0, -8.0]) == pytest.approx(1.0)
    assert abs_cos([1j, 0.0], [1.0, 0.0]) == pytest.approx(1.0)
    assert abs_cos(np.array([1.0, 1j]), np.array([1.0, 1j])) == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a zero vector: nan, without a 0/0 warning
        assert math.isnan(abs_cos([0.0, 0.0], [1.0, 2.0])) and math.isnan(abs_cos([1.0, 2.0], [0.0, 0.0]))
    # readout_direction: float64 even from integers; shapes other than [n_out >= 1, S] are refused
    w = readout_direction(np.array([[1, 2]]))
    assert w.dtype == np.float64 and w.tolist() == [1.0, 2.0]
    for bad in (np.array([1.0, 2.0]), np.zeros((0, 3)), np.zeros((1, 2, 2))):
        with pytest.raises(ArgumentError, match=r"readout matrix must be \[n_out, S\]"):
            readout_direction(bad)
    # the null: reproducible by seed, n values, |first coordinate| of unit Gaussian vectors
    a, b = random_abs_cos(5, 100, seed=3), random_abs_cos(5, 100, seed=3)
    assert a.shape == (100,) and np.array_equal(a, b) and not np.array_equal(a, random_abs_cos(5, 100, seed=4))
    g = np.random.default_rng(3).standard_normal((100, 5))
    np.testing.assert_allclose(a, np.abs(g[:, 0]) / np.linalg.norm(g, axis=1))
    assert np.all(random_abs_cos(1, 10) == 1.0)
    for dim, n in ((0, 10), (3, 1)):
        with pytest.raises(ArgumentError, match="random_abs_cos needs"):
            random_abs_cos(dim, n)
    # against_null in full: percentiles (strictly below), z, and the summary numbers of the null
    null = np.array([0.4, 0.1, 0.3, 0.2])
    out = against_null([0.3, 0.05, 0.45], null)
    np.testing.assert_allclose(out["percentile"], [50.0, 0.0, 100.0])
    sd = np.std([0.1, 0.2, 0.3, 0.4], ddof=1)
    np.testing.assert_allclose(out["z"], (np.array([0.3, 0.05, 0.45]) - 0.25) / sd)
    assert out["null_mean"] == pytest.approx(0.25) and out["null_std"] == pytest.approx(sd)
    assert out["null_p99"] == pytest.approx(np.percentile([0.1, 0.2, 0.3, 0.4], 99))


def test_geometry_shapes_and_boundaries():
    rng = np.random.default_rng(5)
    # manifold_axis: at most 10 cumulative shares; one-dimensional states; a line shorter than 1
    o = manifold_axis(rng.standard_normal((40, 12)))
    assert o["cumulative"].shape == (10,)
    o = manifold_axis(np.array([[0.0], [2.0], [1.0]]), readout=[1.0])
    assert o["top_pc_fraction"] == pytest.approx(1.0) and o["theta"].tolist() == [-1.0, 1.0, 0.0]
    o = manifold_axis(np.array([[0.0, 0.0], [0.3, 0.4]]), readout=[1.0, 0.0])
    assert o["theta"].tolist() == [-1.0, 1.0]
    # pca_fit / pca_variance: k components of the right shape; constant data: its mean and unit rows
    cum, mean, comps = pca_fit(rng.standard_normal((50, 4)), 2)
    assert cum.shape == (2,) and mean.shape == (4,) and comps.shape == (2, 4)
    assert pca_variance(rng.standard_normal((50, 4)), 3).shape == (3,)
    cum, mean, comps = pca_fit(np.full((20, 3), 2.0), 2)
    np.testing.assert_array_equal(mean, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(comps, np.eye(2, 3))
    # readout_covariance_direction: a row readout, two states, one unit, bad shapes
    X = rng.standard_normal((2, 3))
    np.testing.assert_allclose(
        readout_covariance_direction(X, [[1.0, 2.0, 3.0]]), np.cov(X.T) @ np.array([1.0, 2.0, 3.0])
    )
    x1 = rng.standard_normal((10, 1))
    np.testing.assert_allclose(readout_covariance_direction(x1, [2.0]), [2.0 * np.var(x1, ddof=1)])
    for bad in (np.zeros(3), np.zeros((1, 3))):
        with pytest.raises(ArgumentError, match="readout_covariance_direction needs"):
            readout_covariance_direction(bad, [1.0, 2.0, 3.0])


def test_one_step_errors_are_relative_to_each_transition_own_size():
    # F = A h + c h*h around h* = 0: errors c delta^2 / ||F(h)|| per row, computed in one batch
    c = 0.3
    J_rec = torch.tensor(A)[None]
    J_inp = torch.tensor(B)[None]
    h = torch.tensor([[0.0, 0.1, 0.0], [0.0, 0.4, 0.0]], dtype=torch.float64)
    x = torch.zeros(2, 2, dtype=torch.float64)
    nxt = _torch_linear_system(c)(x, h)
    err, h_lin, idx = one_step_errors(h, x, nxt, torch.zeros(1, 3, dtype=torch.float64), torch.zeros(2), J_rec, J_inp)
    want = [c * d**2 / nxt[i].norm().item() for i, d in enumerate((0.1, 0.4))]
    assert err.tolist() == pytest.approx(want, rel=1e-12) and idx.tolist() == [0, 0]


def test_valence_summary_spread_across_fixed_points_and_default_group_size():
    itos = ["<pad>", "<unk>"] + [f"w{i}" for i in range(400)]
    proj = np.arange(402, dtype=np.float64)[None, :] * np.array([[1.0], [3.0]])  # two fixed points
    out = valence_summary(proj, itos)
    np.testing.assert_allclose(out["std"], np.abs(proj[1] - proj[0]) / math.sqrt(2), rtol=1e-12)
    one = valence_summary(proj[:1], itos)
    assert (one["std"] == 0).all() and np.array_equal(one["mean"], proj[0])
    coef = {f"w{i}": float(i - 200) for i in range(400)}
    g = valence_summary(proj, itos, bow_coef=coef)["groups"]
    assert g["n"] == 100 and g["positive"]["words"][0] == "w399" and len(g["neutral"]["words"]) == 100


def test_orient_top_mode_refuses_shapes_that_do_not_fit():
    R = np.eye(3)[None].repeat(2, 0)
    for bad_R, bad_L, w in ((R[0], R[0], np.ones(3)), (R, R[:, :2], np.ones(3)), (R, R, np.ones(4))):
        with pytest.raises(ArgumentError, match=r"R and L must be \[P, S, K\] and \[P, K, S\] and readout \[S\]; got"):
            orient_top_mode(bad_R, bad_L, w)


def test_input_projections_in_chunks_equal_one_product():
    rng = np.random.default_rng(5)
    l1 = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))
    J = rng.normal(size=(3, 4, 2))
    E = rng.normal(size=(11, 2))
    want = np.einsum("ps,psi->pi", l1, J).real @ E.T
    for chunk in (1, 3, 4096):
        np.testing.assert_allclose(input_projections(l1, J, E, chunk=chunk), want, rtol=1e-5)


def test_spectrum_dimension_and_participation_ratio_at_their_edges():
    from rnnlens.analysis.wordcount import participation_ratio, spectrum_dimension

    assert spectrum_dimension([0.9, 0.1], 0.9) == 1  # exactly the share
    assert spectrum_dimension([0.3, 0.3, 0.3, 0.1], 0.9) == 3  # 0.3 * 3 is 0.8999999999999999 in floats
    assert spectrum_dimension([0.5, 0.3], 0.9) == 2  # never reached: all of them
    assert math.isnan(participation_ratio([0.0, 0.0])) and participation_ratio([-1.0, 2.0]) == 1.0


def test_linear_rollout_flags_each_diverged_sequence_alone():
    # J_rec = 1e10 I: a sequence read for 40 tokens overflows, one read for 1 token stays finite
    pts = torch.zeros(1, 3, dtype=torch.float64)
    J_rec = torch.eye(3, dtype=torch.float64)[None] * 1e10
    J_inp = torch.ones(1, 3, 2, dtype=torch.float64)
    xs = torch.ones(2, 40, 2, dtype=torch.float64)
    final, diverged = linear_rollout(
        xs, torch.tensor([40, 1]), torch.zeros(2, 3, dtype=torch.float64), pts, torch.zeros(2), J_rec, J_inp
    )
    assert diverged.tolist() == [True, False]
    assert final[1].tolist() == [2.0, 2.0, 2.0]  # one token: J_inp x = 2 per unit


def test_bow_coefficients_direction_and_fingerprint_warning():
    from types import SimpleNamespace

    from rnnlens.analysis.sections.valence import bow_coefficients

    common = dict(words=["a", "b"], dataset="toy", data_fingerprint="f1", C=1.0, accuracy={})
    binary = SimpleNamespace(coef=np.array([[1.0, -2.0]]), **common)
    coef, info = bow_coefficients(binary, "f1")
    assert coef == {"a": 1.0, "b": -2.0} and info["direction"] == "coef[0]" and "warning" not in info
    three = SimpleNamespace(coef=np.array([[1.0, 0.0], [9.0, 9.0], [4.0, -1.0]]), **common)
    coef, info = bow_coefficients(three, "other")
    assert coef == {"a": 3.0, "b": -1.0} and info["direction"] == "coef[last] - coef[first]"
    assert info["warning"] == "the bag of words was fitted on a different corpus (fingerprint differs)"
    assert bow_coefficients({"a": 2}, "f1") == ({"a": 2.0}, {"source": "dict"})
    assert bow_coefficients(None, "f1") == (None, None)


def test_orient_top_mode_turns_a_complex_mode_to_a_real_positive_readout():
    # a complex top mode r_1 with readout . r_1 = (1 + 2i) / sqrt(2): scaled by the unit number that
    # makes it |1 + 2i| / sqrt(2), l_1 scaled inversely (l_1 r_1 stays 1)
    r = np.array([1.0 + 2.0j, 0.0, 1.0 - 1.0j]) / np.sqrt(2)
    R = np.stack([r, [0, 1, 0], [0, 0, 1]], 1)[None].astype(np.complex128)
    L = np.linalg.inv(R[0])[None]
    w = np.array([1.0, 0.0, 0.0])
    r1, l1, wr = orient_top_mode(R, L, w)
    assert wr[0] == pytest.approx(abs(1 + 2j) / np.sqrt(2)) and abs((r1[0] @ w).imag) < 1e-12
    assert complex(l1[0] @ r1[0]) == pytest.approx(1.0)
    # a mode orthogonal to the readout is left as it is
    R2 = np.eye(3, dtype=np.complex128)[None][:, :, [1, 0, 2]]
    r1, l1, wr = orient_top_mode(R2, np.linalg.inv(R2[0])[None], w)
    assert wr[0] == 0.0 and np.array_equal(r1[0], R2[0, :, 0])


def test_small_samples_in_the_geometry_and_rank_pieces():
    from rnnlens.analysis.valence import spearman

    assert random_abs_cos(3, 2).shape == (2,)
    assert math.isnan(spearman([1.0, 2.0], [1.0, 2.0])) and math.isnan(spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_valence_pairs_leave_out_special_tokens_and_unknown_words():
    itos = ["<pad>", "<unk>", "good", "bad", "meh"]
    proj = np.array([[0.0, 0.0, 1.0, -1.0, 0.1], [0.0, 0.0, 1.2, -0.8, 0.0]])
    out = valence_summary(proj, itos, truth={"<unk>": 5.0, "good": 1.0, "bad": -1.0, "other": 2.0})
    assert out["n_words_truth"] == 2 and out["spearman_truth"] != out["spearman_truth"]  # 2 words: nan
    out = valence_summary(proj, itos, truth={"<unk>": 5.0, "good": 1.0, "bad": -1.0, "meh": 0.0})
    assert out["n_words_truth"] == 3 and out["spearman_truth"] == pytest.approx(1.0)


def test_linear_rollout_when_every_sequence_ends_before_the_padding():
    pts = torch.zeros(1, 3, dtype=torch.float64)
    J_rec, J_inp = torch.eye(3, dtype=torch.float64)[None] * 0.5, torch.ones(1, 3, 2, dtype=torch.float64)
    final, diverged = linear_rollout(
        torch.ones(2, 6, 2, dtype=torch.float64),
        torch.tensor([1, 2]),
        torch.zeros(2, 3, dtype=torch.float64),
        pts,
        torch.zeros(2),
        J_rec,
        J_inp,
    )
    assert final[:, 0].tolist() == [2.0, 3.0] and diverged.tolist() == [False, False]  # 2, then 0.5 * 2 + 2


def test_halves_cos_tells_a_straight_line_from_an_l_shaped_curve():
    from rnnlens.analysis.geometry import halves_cos as _halves_cos

    s = np.linspace(-1, 1, 41)
    straight = np.outer(s, [1.0, 2.0, 0.5])
    assert _halves_cos(straight, s) == pytest.approx(1.0, abs=1e-12)
    # two orthogonal arms (an LSTM's negative and positive arms in other cell units), readout monotonic along it
    arm = np.where(s[:, None] < 0, np.outer(-s, [1.0, 0, 0]), np.outer(s, [0, 1.0, 0]))
    assert _halves_cos(arm, s) == pytest.approx(0.0, abs=1e-12)
    bent = np.where(s[:, None] < 0, np.outer(-s, [1.0, 0, 0]), np.outer(s, [-0.6, 0.8, 0]))  # 127 degrees apart
    assert _halves_cos(bent, s) == pytest.approx(0.6, abs=1e-12)


def test_arm_alignment_follows_each_arm_of_a_bent_line_where_one_direction_cannot():
    from types import SimpleNamespace

    from rnnlens.analysis.geometry import abs_cos, readout_covariance_direction
    from rnnlens.analysis.sections.slow_manifold import _covariance_directions

    # state [h, c1, c2], readout w = h; negative evidence along c1 (h = -c1), positive along c2 (h = c2): an L
    s = np.linspace(-1, 1, 41)
    nodes = np.stack([s, np.clip(-s, 0, None), np.clip(s, 0, None)], 1)
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(nodes, axis=0), axis=1))])
    curve = SimpleNamespace(
        points=torch.from_numpy(nodes), arclength=torch.from_numpy(arc), readout=torch.from_numpy(s)
    )
    t = np.gradient(nodes, axis=0)
    rng = np.random.default_rng(0)
    u = rng.uniform(-1, 1, 4000)
    X = np.stack([u, np.clip(-u, 0, None), np.clip(u, 0, None)], 1) + 0.01 * rng.standard_normal((4000, 3))
    w = np.array([1.0, 0.0, 0.0])
    g, arm = _covariance_directions(X, w, curve, t)
    assert np.median(arm) > 0.99  # each arm is read out along itself
    np.testing.assert_allclose(g, readout_covariance_direction(X, w), rtol=1e-12)
    np.testing.assert_allclose(g, np.cov(X.T) @ w, rtol=1e-10)
    # one direction sits between the arms: Cov(h, w.h) ~ (2, -1, 1) against (1, -1, 0) and (1, 0, 1): sqrt(3)/2
    assert np.median([abs_cos(a, g) for a in t]) == pytest.approx(np.sqrt(3) / 2, abs=0.01)
    # a straight line: the arms' directions are the global one
    line = np.stack([u, -u, 0 * u], 1) + 0.01 * rng.standard_normal((4000, 3))
    straight = SimpleNamespace(
        points=torch.from_numpy(np.stack([s, -s, 0 * s], 1)),
        arclength=torch.from_numpy((s + 1) * np.sqrt(2)),
        readout=torch.from_numpy(s),
    )
    ts = np.tile([1.0, -1.0, 0.0], (41, 1))
    assert np.allclose(
        _covariance_directions(line, w, straight, ts)[1],
        [abs_cos(a, readout_covariance_direction(line, w)) for a in ts],
        atol=1e-3,
    )


def test_the_rollout_applies_a_shared_diagonal_or_complex_diagonal_jacobian_elementwise():
    # the structure is found from the numbers alone: diagonal (minGRU, S6), the four diagonal blocks of a complex
    # diagonal map in [Re z, Im z] (LRU); anything else, or a J_rec that differs between points, is a matrix
    from rnnlens.analysis.dynamics import _Product

    lam = torch.tensor([0.9 + 0.1j, 0.5 - 0.2j], dtype=torch.complex128)
    block = torch.cat(
        [
            torch.cat([torch.diag(lam.real), -torch.diag(lam.imag)], 1),
            torch.cat([torch.diag(lam.imag), torch.diag(lam.real)], 1),
        ]
    )
    J_inp = torch.zeros(3, 4, 2, dtype=torch.float64)
    cases = {
        "diagonal": (torch.diag(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)), 1),
        "block": (block, 4),
        "dense": (block + 1e-3, None),
    }
    for name, (J, n_blocks) in cases.items():
        got = _Product(J.expand(3, 4, 4).clone(), J_inp.clone(), "cpu").blocks
        assert (None if got is None else len(got)) == n_blocks, name
    differs = block.expand(3, 4, 4).clone()
    differs[2, 0, 0] += 1e-9
    assert _Product(differs, J_inp, "cpu").blocks is None
    # the structure is remembered for the same tensors, and looked at again once they change in place
    J = torch.diag(torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)).expand(3, 4, 4).clone()
    assert len(_Product(J, J_inp, "cpu").blocks) == 1
    J[1, 0, 1] = 0.5
    assert _Product(J, J_inp, "cpu").blocks is None


@pytest.mark.parametrize("spread", ["inside the basis", "outside it"])
def test_the_bounded_nearest_search_is_exact(spread):
    # points near a 3-dimensional subspace of R^40 (the k-d tree on the lifts prunes almost all of them) and
    # isotropic ones (it falls back to the block search): both give the exhaustive float64 answer
    from rnnlens.analysis.dynamics import NearestIndex

    g = torch.Generator().manual_seed(3)
    S, P = 40, 6000
    Q = torch.linalg.qr(torch.randn(S, S, generator=g, dtype=torch.float64))[0]
    scale = torch.ones(S) * (1e-3 if spread == "inside the basis" else 1.0)
    scale[:3] = 5.0
    pts = ((torch.randn(P, S, generator=g, dtype=torch.float64) * scale) @ Q.T).float()
    h = ((torch.randn(300, S, generator=g, dtype=torch.float64) * scale) @ Q.T) + 0.01
    h = torch.cat([h, pts[:50].double()])  # queries on a point: distance 0
    want = torch.cdist(h, pts.double()).argmin(1)
    index = NearestIndex(pts, chunk=512, basis=Q[:, :3].T.numpy(), center=torch.zeros(S).numpy())
    assert index.tree is not None
    assert (index._bounded(h) is None) == (spread == "outside it")
    assert torch.equal(index(h), want)
    assert torch.equal(index(h[:1]), want[:1])


def test_rows_into_from_stacked_and_per_document_states():
    from rnnlens.analysis.sections.documents import _rows_into

    rng = np.random.default_rng(3)
    docs = [rng.standard_normal((n, 4)).astype(np.float32) for n in (3, 1, 7, 2, 5)]
    X = np.concatenate(docs)
    for rows in (np.arange(X.shape[0]), np.sort(rng.choice(X.shape[0], 9, replace=False)), np.array([0, 17])):
        want = X[rows].astype(np.float64)
        assert np.array_equal(_rows_into(np.empty((rows.size, 4)), X, rows), want)
        assert np.array_equal(_rows_into(np.empty((rows.size, 4)), docs, rows), want)
