"""Fixed-point finding: known answers (closed forms, constructed attractors), stopping rules, bad input."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from rnnlens.errors import ArgumentError
from rnnlens.fixedpoints import FixedPoints, as_step, find_fixed_points, sample_seeds
from rnnlens.linearization import linearize
from rnnlens.steps import FuncJacobian

D = torch.float64


def _linear_system(S=6, I=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(S, S, generator=g, dtype=D) * 0.9 / math.sqrt(S)
    U = torch.randn(S, I, generator=g, dtype=D)
    b = torch.randn(S, generator=g, dtype=D)
    return W, U, b, (lambda x, h: h @ W.T + x @ U.T + b)


def _flipflop():
    """h' = tanh(W h): a' = tanh(2a) (fixed points 0 (unstable, lambda 2) and +-a*), (b, c) a contraction."""
    W = torch.tensor([[2.0, 0, 0], [0, 0.5, 0.3], [0, -0.3, 0.5]], dtype=D)
    a_star = 0.9575040240772687  # tanh(2 a) = a
    return (lambda x, h: torch.tanh(h @ W.T)), a_star


def _slow_line(eps=1e-4):
    """a' = a - eps a (a^2 - 1) (exact fixed points a = 0, +-1), b' = 0.5 b + 0.1 a^2: a slow manifold."""

    def F(x, h):
        a, b = h[:, :1], h[:, 1:]
        return torch.cat([a - eps * a * (a * a - 1), 0.5 * b + 0.1 * a * a], 1)

    return F


# ----------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("solver", ["lm", "newton"])
def test_linear_rnn_fixed_point_matches_closed_form(solver):
    W, U, b, F = _linear_system()
    S, I = U.shape
    P = 12
    x = torch.randn(P, I, dtype=D, generator=torch.Generator().manual_seed(1))  # one input per seed
    seeds = 3 * torch.randn(P, S, dtype=D, generator=torch.Generator().manual_seed(2))
    fp = find_fixed_points(F, seeds, x, solver=solver, tol=1e-20)
    exact = torch.linalg.solve(torch.eye(S, dtype=D) - W, (x @ U.T + b).T).T
    assert fp.converged.all()
    assert (fp.points - exact).abs().max() < 1e-6
    assert torch.equal(fp.inputs, x) and torch.equal(fp.seeds, seeds)
    lin = linearize(F, fp)
    want = torch.linalg.eigvals(W)
    for row in lin.eigvals:  # same multiset of eigenvalues (each matched to its nearest)
        assert (row[:, None] - want[None, :]).abs().min(1).values.max() < 1e-10
    assert torch.allclose(lin.J_inp, U.expand(P, -1, -1))


def test_one_input_for_all_seeds_broadcasts():
    W, U, b, F = _linear_system()
    x = torch.ones(U.shape[1], dtype=D)
    fp = find_fixed_points(F, torch.zeros(4, U.shape[0], dtype=D), x, tol=1e-20)
    exact = torch.linalg.solve(torch.eye(U.shape[0], dtype=D) - W, U @ x + b)
    assert (fp.points - exact).abs().max() < 1e-6
    assert fp.inputs.shape == (4, U.shape[1])


def test_line_attractor_every_seed_lands_on_the_line():
    S = 4
    Q, _ = torch.linalg.qr(torch.randn(S, S, dtype=D, generator=torch.Generator().manual_seed(3)))
    lam = torch.tensor([0.5, -0.3, 0.2], dtype=D)

    def F(x, h):  # coordinates y = Q^T h; y1 kept exactly, the rest contract: the line y_rest = 0
        y = h @ Q
        rest = lam * torch.tanh(y[:, 1:]) * (1 + 0.2 * torch.tanh(y[:, :1]))
        return torch.cat([y[:, :1], rest], 1) @ Q.T

    seeds = torch.randn(40, S, dtype=D, generator=torch.Generator().manual_seed(4))
    fp = find_fixed_points(F, seeds, tol=1e-20)
    assert fp.converged.all()
    y = fp.points @ Q
    assert y[:, 1:].abs().max() < 1e-8  # on the line
    assert y[:, 0].std() > 0.3  # spread along it: the seeds' own positions, not one point
    lin = linearize(F, fp)
    assert (lin.eigvals[:, 0] - 1).abs().max() < 1e-5
    expected = lam * (1 + 0.2 * torch.tanh(y[:, :1]))  # [P, 3]
    got = lin.eigvals[:, 1:].real
    assert torch.allclose(
        got, expected[torch.arange(len(fp))[:, None], expected.abs().argsort(1, descending=True)], atol=1e-8
    )


def test_flipflop_two_stable_points_and_a_saddle():
    F, a_star = _flipflop()
    seeds = torch.empty(200, 3, dtype=D).uniform_(-1.5, 1.5, generator=torch.Generator().manual_seed(5))
    fp = find_fixed_points(F, seeds, tol=1e-24)
    assert fp.converged.all()
    found = fp.unique(abs_tol=1e-6)
    assert len(found) == 3
    a = found.points[:, 0]
    order = a.argsort()
    want = torch.tensor([-a_star, 0.0, a_star], dtype=D)
    assert (found.points[order, 0] - want).abs().max() < 1e-9
    assert found.points[:, 1:].abs().max() < 1e-9
    lin = linearize(F, found[order])
    assert lin.n_unstable.tolist() == [0, 1, 0]  # stable, saddle, stable
    assert abs(lin.eigvals[1, 0].real - 2.0) < 1e-9  # the saddle's unstable mode: tanh'(0) * 2


# ----------------------------------------------------------------------------- stopping rules
def test_per_point_stopping_each_point_its_own_iterations():
    F, a_star = _flipflop()
    seeds = torch.tensor([[a_star, 0, 0], [a_star + 1e-3, 0, 0], [1.4, 0.9, -0.8], [0.3, 1.0, 1.0]], dtype=D)
    tol = 1e-20
    fp = find_fixed_points(F, seeds, tol=tol)
    assert fp.converged.all()
    it = fp.iterations.tolist()
    assert it[0] == 0  # already a fixed point: no iteration
    assert 0 < it[1] < it[2]
    assert len(set(it)) >= 3
    # each point stopped at the FIRST iterate under tol: one iteration fewer leaves it above
    for i in range(1, 4):
        short = find_fixed_points(F, seeds[i : i + 1], tol=tol, max_iter=it[i] - 1)
        assert not short.converged[0] and short.q[0] >= tol
        assert not short.slow[0] and short.iterations[0] == it[i] - 1


def test_tolerance_semantics_slow_manifold_versus_exact_points():
    F = _slow_line()
    g = torch.Generator().manual_seed(6)
    a = torch.empty(60, 1, dtype=D).uniform_(0.15, 0.85, generator=g) * torch.where(
        torch.rand(60, 1, generator=g) < 0.5, -1.0, 1.0
    ).to(D)
    seeds = torch.cat([a, torch.empty(60, 1, dtype=D).uniform_(-1, 1, generator=g)], 1)
    loose = find_fixed_points(F, seeds, tol=1e-8)
    assert loose.converged.all()
    # the paper's tolerance: points stop on the slow manifold b = 0.2 a^2 wherever they reach it,
    # spread along it, mostly far from the exact fixed points a in {-1, 0, 1}
    a_loose = loose.points[:, 0]
    # q < 1e-8 bounds |r_b| = 0.5 |b - 0.2 a^2| by sqrt(2e-8)
    assert (loose.points[:, 1] - 0.2 * a_loose**2).abs().max() < 2 * math.sqrt(2e-8)
    assert loose.q.median() > 1e-13  # stopped at the tolerance, not driven far below it
    assert ((a_loose - a_loose.round()).abs() > 0.05).float().mean() > 0.9
    assert a_loose.std() > 0.4
    tight = find_fixed_points(F, seeds, tol=1e-26)  # |r_a| ~ eps |a - a*|: |a - a*| < 1.5e-9
    assert tight.converged.all() and not tight.slow.any()
    # near-zero tolerance: collapse onto the exact fixed points a in {-1, 0, 1}, b = 0.1 a^2 / 0.5
    a_end = tight.points[:, 0]
    assert (a_end - a_end.round()).abs().max() < 1e-6
    assert (tight.points[:, 1] - 0.2 * a_end**2).abs().max() < 1e-6
    assert len(tight.unique(abs_tol=1e-4)) <= 3


def test_history_and_info():
    F, _ = _flipflop()
    fp = find_fixed_points(F, torch.full((5, 3), 0.3, dtype=D), tol=1e-20, record_history=True)
    h = fp.info["history"]
    assert h[0]["iteration"] == 0 and h[-1]["n_active"] == 0
    assert all(a["seconds"] <= b["seconds"] for a, b in zip(h, h[1:]))
    assert fp.info["seconds"] > 0


# ----------------------------------------------------------------------------- torch modules and cells
def _module(kind, batch_first, I=3, N=5):
    torch.manual_seed(11)
    cls = {"rnn": nn.RNN, "rnn-relu": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
    kw = {"nonlinearity": "relu"} if kind == "rnn-relu" else {}
    return cls(I, N, batch_first=batch_first, **kw).double()


def _module_one_step(m, x, h):
    N = m.hidden_size
    seq = x.unsqueeze(1 if m.batch_first else 0)
    if isinstance(m, nn.LSTM):
        _, (hn, cn) = m(seq, (h[:, :N].unsqueeze(0).contiguous(), h[:, N:].unsqueeze(0).contiguous()))
        return torch.cat([hn[0], cn[0]], 1)
    _, hn = m(seq, h.unsqueeze(0).contiguous())
    return hn[0]


def _central_differences(fn, x, h, eps=1e-6):
    S, I = h.shape[1], x.shape[1]
    Jh = torch.stack([(fn(x, h + eps * e) - fn(x, h - eps * e)) / (2 * eps) for e in torch.eye(S, dtype=D)], -1)
    Jx = torch.stack([(fn(x + eps * e, h) - fn(x - eps * e, h)) / (2 * eps) for e in torch.eye(I, dtype=D)], -1)
    return Jh, Jx


@pytest.mark.parametrize("kind", ["rnn", "rnn-relu", "gru", "lstm"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_torch_module_adapter_step_and_jacobians(kind, batch_first):
    m = _module(kind, batch_first)
    fn = as_step(m)
    S = fn.state_size
    assert S == m.hidden_size * (2 if kind == "lstm" else 1) and fn.input_size == 3
    g = torch.Generator().manual_seed(12)
    x, h = torch.randn(4, 3, dtype=D, generator=g), torch.randn(4, S, dtype=D, generator=g)
    with torch.no_grad():
        assert torch.allclose(fn.step(x, h), _module_one_step(m, x, h), atol=1e-12)
    Jh, Jx = fn.jacobians(x, h)
    Fh, Fx = _central_differences(fn.step, x, h)
    assert Jh.shape == (4, S, S) and Jx.shape == (4, S, 3)
    assert torch.allclose(Jh, Fh, atol=1e-7) and torch.allclose(Jx, Fx, atol=1e-7)


@pytest.mark.parametrize("arch", ["vanilla", "gru", "lstm", "ugrnn"])
def test_rnnlens_cells_use_closed_form_jacobians_matching_finite_differences(arch):
    from rnnlens.cells import make_cell

    torch.manual_seed(13)
    cell = make_cell(arch, 3, 5).double()
    fn = as_step(cell)
    assert fn.kind == "cell" and "closed-form" in repr(fn)
    g = torch.Generator().manual_seed(14)
    x, h = torch.randn(4, 3, dtype=D, generator=g), torch.randn(4, cell.state_size, dtype=D, generator=g)
    Jh, Jx = fn.jacobians(x, h)
    Fh, Fx = _central_differences(fn.step, x, h)
    assert torch.allclose(Jh, Fh, atol=1e-7) and torch.allclose(Jx, Fx, atol=1e-7)


def test_lstm_fixed_point_includes_the_cell_state():
    m = _module("lstm", True)
    seeds = 0.1 * torch.randn(8, 10, dtype=D, generator=torch.Generator().manual_seed(15))
    fp = find_fixed_points(m, seeds, tol=1e-20)
    assert fp.points.shape == (8, 10) and fp.converged.all()
    nxt = _module_one_step(m, fp.inputs, fp.points).detach()
    assert (nxt - fp.points).abs().max() < 1e-9


def test_users_module_is_left_as_it_was():
    m = nn.GRU(3, 6, batch_first=True)  # float32, train mode
    m.weight_hh_l0.requires_grad_(False)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    flags = {k: p.requires_grad for k, p in m.named_parameters()}
    seeds = torch.randn(10, 6)
    for solver in ("lm", "adam", "newton"):
        find_fixed_points(m, seeds, solver=solver, tol=1e-10, max_iter=50, refine=(solver == "lm"))
    linearize(m, seeds)
    assert m.training
    assert {k: p.requires_grad for k, p in m.named_parameters()} == flags
    assert all(p.dtype == torch.float32 and p.grad is None for p in m.parameters())
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_refine_reaches_below_float32_precision():
    m = nn.GRU(2, 8)
    seeds = torch.randn(6, 8, generator=torch.Generator().manual_seed(16))
    plain = find_fixed_points(m, seeds, tol=1e-22)
    refined = find_fixed_points(m, seeds, tol=1e-22, refine=True)
    assert plain.points.dtype == torch.float32 and refined.points.dtype == torch.float64
    assert not plain.converged.all()  # float32 cannot resolve q < 1e-22 in general
    assert refined.converged.all() and (refined.q < 1e-22).all()


def test_unsupported_modules_say_so():
    assert as_step(nn.GRU(3, 4, num_layers=2)).state_size == 8  # a stack is one system (tests/test_stacked.py)
    with pytest.raises(ArgumentError, match="bidirectional RNN reads the sequence backwards"):
        as_step(nn.LSTM(3, 4, bidirectional=True))
    with pytest.raises(ArgumentError, match="GRUCell"):
        as_step(nn.GRUCell(3, 4))


def test_func_jacobian_modes_agree_and_auto_records_timings():
    W, U, b, _ = _linear_system(S=5, I=2)
    F = lambda x, h: torch.tanh(h @ W.T + x @ U.T + b)  # noqa: E731
    x, h = torch.randn(7, 2, dtype=D), torch.randn(7, 5, dtype=D)
    fwd = FuncJacobian(F, "fwd")(x, h)
    rev = FuncJacobian(F, "rev")(x, h)
    auto = FuncJacobian(F, "auto")
    both = auto(x, h)
    for a, b_, c in zip(fwd, rev, both):
        assert torch.allclose(a, b_, atol=1e-12) and torch.allclose(a, c, atol=1e-12)
    ((key, times),) = auto.timings.items()
    assert set(times) == {"fwd", "rev"} and auto.choice[key] == min(times, key=times.get)


# ----------------------------------------------------------------------------- bad input
def test_bad_input_is_a_clear_argument_error():
    cell_like = nn.GRU(3, 4)
    with pytest.raises(ArgumentError, match="seeds must be a tensor of shape"):
        find_fixed_points(cell_like, torch.zeros(4))
    with pytest.raises(ArgumentError, match="state_size=4"):
        find_fixed_points(cell_like, torch.zeros(2, 5))
    with pytest.raises(ArgumentError, match="cat"):
        find_fixed_points(nn.LSTM(3, 4), torch.zeros(2, 4))  # forgot the cell state
    bad = torch.zeros(3, 4)
    bad[1, 2] = float("nan")
    with pytest.raises(ArgumentError, match="seeds holds NaN or inf in 1 row.*first: 1"):
        find_fixed_points(cell_like, bad)
    with pytest.raises(ArgumentError, match="inputs holds NaN"):
        find_fixed_points(cell_like, torch.zeros(2, 4), torch.tensor([1.0, float("inf"), 0.0]))
    with pytest.raises(ArgumentError, match="inputs must have shape"):
        find_fixed_points(cell_like, torch.zeros(2, 4), torch.zeros(2, 5))
    broken = nn.GRU(3, 4)
    with torch.no_grad():
        broken.weight_hh_l0[0, 0] = float("inf")
    with pytest.raises(ArgumentError, match="parameter 'weight_hh_l0'"):
        find_fixed_points(broken, torch.zeros(2, 4))
    with pytest.raises(ArgumentError, match="same shape as h"):
        find_fixed_points(lambda x, h: h[:, :2], torch.zeros(2, 4))
    with pytest.raises(ArgumentError, match="NaN/inf at 2 seed"):
        find_fixed_points(lambda x, h: h / 0.0 * torch.tensor([0.0, 1.0]), torch.ones(2, 2))
    with pytest.raises(ArgumentError, match="failed"):
        find_fixed_points(lambda x, h: h + x @ torch.ones(3, 2), torch.ones(2, 2))  # needs inputs of size 3
    with pytest.raises(ArgumentError, match="unknown solver"):
        find_fixed_points(cell_like, torch.zeros(2, 4), solver="bfgs")
    with pytest.raises(ArgumentError, match="no option.*'lr'"):
        find_fixed_points(cell_like, torch.zeros(2, 4), solver="lm", lr=0.1)
    with pytest.raises(ArgumentError, match="tol must be a positive"):
        find_fixed_points(cell_like, torch.zeros(2, 4), tol=0.0)
    with pytest.raises(ArgumentError, match="max_iter"):
        find_fixed_points(cell_like, torch.zeros(2, 4), max_iter=-1)
    with pytest.raises(ArgumentError, match="stop="):
        find_fixed_points(cell_like, torch.zeros(2, 4), solver="adam", stop="sometimes")
    with pytest.raises(ArgumentError, match="pass the recurrent cell"):
        from rnnlens.model import SentimentRNN

        as_step(SentimentRNN(10, hidden_size=4, embed_dim=3))
    with pytest.raises(ArgumentError, match="step must be"):
        as_step(42)


# ----------------------------------------------------------------------------- FixedPoints container
def _toy_points():
    pts = torch.tensor([[0.0, 0.0], [1e-4, 0.0], [1.0, 1.0], [1.0, 1.0 + 2e-4], [50.0, 0.0]], dtype=D)
    seeds = torch.tensor([[0.5, 0.0], [-0.5, 0.0], [1.5, 1.0], [1.0, 0.5], [0.0, 0.0]], dtype=D)
    q = torch.tensor([3e-9, 1e-12, 1e-10, 1e-13, 1e-3], dtype=D)
    n = len(q)
    return FixedPoints(
        points=pts,
        inputs=torch.zeros(n, 1, dtype=D),
        seeds=seeds,
        q=q,
        iterations=torch.arange(n),
        converged=q < 1e-8,
        slow=q >= 1e-8,
        grad_norm=torch.full((n,), 1e-9, dtype=D),
        diverged=torch.zeros(n, dtype=torch.bool),
        tol=1e-8,
        solver="lm",
        info={"note": "toy"},
    )


def test_fixedpoints_views_and_both_q_definitions():
    fp = _toy_points()
    assert len(fp) == 5 and fp.state_size == 2
    assert torch.equal(fp.q_half, fp.q * 2 / 2)  # S = 2: q_half = q * S / 2
    assert fp.distance[0] == pytest.approx(0.5)
    assert len(fp.where_q(1e-8)) == 4
    assert torch.equal(fp[2].points, fp.points[2:3])
    assert torch.equal(fp[[0, 4]].q, fp.q[[0, 4]])
    assert torch.equal(fp[fp.q < 1e-11].iterations, torch.tensor([1, 3]))
    assert len(fp[1:3]) == 2
    with pytest.raises(ArgumentError):
        fp[9]
    text = fp.summary()
    assert "(1/S)||F(x,h)-h||^2" in text and "0.5||F(x,h)-h||^2" in text and "converged 4" in text


def test_unique_keeps_lowest_q_with_tolerance_relative_to_seed_spread():
    fp = _toy_points()
    spread = fp.seed_spread()
    u = fp.unique(rel_tol=1e-3 / spread)  # radius 1e-3: merges the two close pairs
    assert sorted(u.q.tolist()) == sorted([1e-12, 1e-13, 1e-3])
    assert len(fp.unique(rel_tol=1e-6 / spread)) == 5  # radius 1e-6: nothing merged
    assert len(fp.unique(abs_tol=1e-3)) == 3
    assert len(fp.unique(abs_tol=100.0)) == 1 and fp.unique(abs_tol=100.0).q[0] == 1e-13


def test_drop_outliers_and_concat():
    fp = _toy_points()
    kept = fp.drop_outliers(factor=10.0)  # seed spread ~0.75: the point at 50 is far outside
    assert len(kept) == 4 and kept.points[:, 0].max() < 2
    both = FixedPoints.concat([fp, kept])
    assert len(both) == 9 and torch.equal(both.points[5:], kept.points)
    with pytest.raises(ArgumentError):
        FixedPoints.concat([])


def _points_at(points, seeds, q=None, *, tol=1e-8, solver="lm", info=None):
    points, seeds = torch.as_tensor(points, dtype=D), torch.as_tensor(seeds, dtype=D)
    n = len(points)
    q = torch.full((n,), 1e-10, dtype=D) if q is None else torch.as_tensor(q, dtype=D)
    return FixedPoints(
        points=points,
        inputs=torch.arange(n, dtype=D)[:, None],
        seeds=seeds,
        q=q,
        iterations=torch.arange(n) + 10,
        converged=q < tol,
        slow=q >= tol,
        grad_norm=torch.arange(n, dtype=D) * 1e-9,
        diverged=torch.arange(n) % 2 == 1,
        tol=tol,
        solver=solver,
        info=info or {},
    )


def test_drop_outliers_measures_from_the_seed_centroid_in_units_of_the_seed_spread():
    # seeds around (5, 0) at distance 1: centroid (5, 0), RMS spread exactly 1
    seeds = [[6.0, 0.0], [4.0, 0.0], [5.0, 1.0], [5.0, -1.0]]
    points = [[5.5, 0.0], [5.0, 10.0], [15.5, 0.0], [2.0, 0.0]]  # 0.5, 10 (on the border), 10.5 and 3 away
    fp = _points_at(points, seeds)
    assert fp.seed_spread() == 1.0
    assert fp.drop_outliers().points.tolist() == [[5.5, 0.0], [5.0, 10.0], [2.0, 0.0]]  # default factor 10
    assert fp.drop_outliers(factor=2.0).points.tolist() == [[5.5, 0.0]]
    assert len(fp.drop_outliers(factor=10.6)) == 4
    kept = fp.drop_outliers()
    assert kept.iterations.tolist() == [10, 11, 13] and kept.inputs[:, 0].tolist() == [0.0, 1.0, 3.0]
    assert len(fp[torch.zeros(4, dtype=torch.bool)].drop_outliers()) == 0
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ArgumentError, match=r"drop_outliers: factor must be > 0"):
            fp.drop_outliers(factor=bad)


def test_concat_joins_every_field_and_records_mixed_tolerances_and_solvers():
    a = _points_at(
        [[0.0, 0.0], [1.0, 0.0]], [[0.0, 1.0], [1.0, 1.0]], [1e-12, 1e-9], tol=1e-8, solver="lm", info={"part": "a"}
    )
    b = _points_at([[2.0, 0.0]], [[2.0, 1.0]], [1e-7], tol=1e-6, solver="adam", info={"part": "b"})
    both = FixedPoints.concat([a, b])
    for k in ("points", "inputs", "seeds", "q", "iterations", "converged", "slow", "grad_norm", "diverged"):
        assert torch.equal(getattr(both, k), torch.cat([getattr(a, k), getattr(b, k)])), k
    assert math.isnan(both.tol) and both.solver == "adam+lm"
    assert both.info == {"parts": [{"part": "a"}, {"part": "b"}]}
    same = FixedPoints.concat([a, a])
    assert same.tol == 1e-8 and same.solver == "lm" and len(same) == 4
    with pytest.raises(ArgumentError, match="FixedPoints.concat needs a non-empty list of FixedPoints"):
        FixedPoints.concat([])
    with pytest.raises(ArgumentError, match="FixedPoints.concat needs a non-empty list of FixedPoints"):
        FixedPoints.concat([a, "b"])
    wide = _points_at([[0.0, 0.0, 0.0]], [[0.0, 0.0, 1.0]])
    with pytest.raises(ArgumentError, match=r"parts differ in \(state size, input size\): \[\(2, 1\), \(3, 1\)\]"):
        FixedPoints.concat([a, wide])


def test_save_load_roundtrip_without_pickle(tmp_path):
    fp = _toy_points()
    path = fp.save(tmp_path / "sub" / "fp.safetensors")
    back = FixedPoints.load(path)
    for k in ("points", "inputs", "seeds", "q", "iterations", "converged", "slow", "grad_norm", "diverged"):
        assert torch.equal(getattr(back, k), getattr(fp, k)), k
    assert back.tol == fp.tol and back.solver == "lm" and back.info == {"note": "toy"}
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["fp.safetensors"]  # no temp file left
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ArgumentError, match="junk"):
        FixedPoints.load(tmp_path / "junk.safetensors")
    with pytest.raises(ArgumentError, match="no such file"):
        FixedPoints.load(tmp_path / "missing.safetensors")


# ----------------------------------------------------------------------------- seeds
def test_sample_seeds_only_valid_steps_with_noise():
    B, T, S = 3, 5, 2
    states = torch.arange(B * T * S, dtype=D).reshape(B, T, S)
    lengths = torch.tensor([2, 5, 1])
    states[0, 2:] = float("nan")  # padding: must never be drawn
    states[2, 1:] = float("nan")
    seeds = sample_seeds(states, lengths, n=8, seed=0)
    assert seeds.shape == (8, S) and torch.isfinite(seeds).all()
    valid = torch.cat([states[0, :2], states[1], states[2, :1]])
    assert all((valid == s).all(1).any() for s in seeds)
    assert len({tuple(s.tolist()) for s in seeds}) == 8  # without replacement
    assert torch.equal(seeds, sample_seeds(states, lengths, n=8, seed=0))
    with pytest.raises(ArgumentError, match="only 8 valid states"):
        sample_seeds(states, lengths, n=9)
    assert sample_seeds(states, lengths, n=20, replace=True).shape == (20, S)
    flat = torch.zeros(4000, 3, dtype=D)
    noisy = sample_seeds(flat, n=4000, noise=0.5, seed=1)
    assert abs(noisy.std().item() - 0.5) < 0.02
    with pytest.raises(ArgumentError, match="lengths"):
        sample_seeds(states, torch.tensor([2, 6, 1]))
    with pytest.raises(ArgumentError, match="NaN"):
        sample_seeds(states)  # without lengths the padding (NaN here) is a visited state


def test_sample_seeds_noise_follows_the_seed_and_errors_say_what_is_wrong():
    flat = torch.zeros(50, 3, dtype=D)
    a = sample_seeds(flat, n=10, noise=0.1, seed=4)
    assert torch.equal(a, sample_seeds(flat, n=10, noise=0.1, seed=4))  # the noise is drawn from the seed too
    assert not torch.equal(a, sample_seeds(flat, n=10, noise=0.1, seed=5))
    with pytest.raises(ArgumentError, match="^sample_seeds: there are no valid states to sample from\\.$"):
        sample_seeds(torch.zeros(0, 3, dtype=D), n=1)


def test_history_rows_name_their_chunk():
    F, _ = _flipflop()
    fp = find_fixed_points(F, torch.full((5, 3), 0.3, dtype=D), tol=1e-20, record_history=True, chunk_size=2)
    h = fp.info["history"]
    assert set(h[0]) == {"iteration", "seconds", "q_median", "q_max", "n_active", "chunk"}
    assert sorted({row["chunk"] for row in h}) == [0, 1, 2]  # 5 seeds in chunks of 2
    assert all(0 <= row["seconds"] < 60 for row in h)  # seconds since the search started
    assert [row["n_active"] for row in h if row["chunk"] == 2][0] == 1


def test_summary_counts_each_outcome_with_its_share():
    fp = _points_at(
        [[0.0, 0.0]] * 5, [[1.0, 0.0]] * 5, [1e-12, 1e-12, 1e-3, 1e-3, 1e-3], tol=1e-8, info={"seconds": 1.5}
    )
    fp.slow[:] = torch.tensor([False, False, True, False, False])
    fp.diverged[:] = torch.tensor([False, False, False, True, False])
    text = fp.summary()
    # 2 converged, 1 slow, 1 diverged, and the 5th stopped at max_iter
    assert "converged 2 (40.0%), slow points 1 (20.0%), diverged 1, stopped at max_iter 1" in text
    assert "wall time 1.5 s" in text
    assert "wall time" not in _points_at([[0.0, 0.0]], [[1.0, 0.0]]).summary()


def test_indexing_keeps_tolerance_solver_and_info():
    fp = _toy_points()
    for part in (fp[0], fp[[1, 2]], fp[fp.q < 1e-9], fp.where_q(1e-9), fp.unique()):
        assert part.tol == 1e-8 and part.solver == "lm" and part.info == {"note": "toy"}


def test_unique_default_tolerance_is_one_percent_of_the_seed_spread():
    seeds = [[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]]  # spread sqrt(2)
    spread = math.sqrt(2.0)
    # two pairs: one 0.5% of the spread apart (merged), one 2% apart (kept apart)
    points = [[0.0, 0.0], [0.005 * spread, 0.0], [1.0, 1.0], [1.0, 1.0 + 0.02 * spread]]
    fp = _points_at(points, seeds, [1e-12, 1e-11, 1e-10, 1e-9])
    assert fp.seed_spread() == pytest.approx(spread)
    assert fp.unique().q.tolist() == [1e-12, 1e-10, 1e-9]
    assert fp.unique().q.tolist() == fp.unique(rel_tol=0.01).q.tolist()


def test_load_refuses_files_that_are_not_rnnlens_fixed_points(tmp_path):
    from safetensors.torch import save_file

    fp = _toy_points()
    tensors = {k: v.contiguous() for k, v in fp._tensors().items()}
    save_file(tensors, str(tmp_path / "plain.safetensors"))  # no metadata at all
    save_file(tensors, str(tmp_path / "other.safetensors"), metadata={"rnnlens": json.dumps([1, 2])})
    save_file(tensors, str(tmp_path / "foreign.safetensors"), metadata={"rnnlens": json.dumps({"format": "x"})})
    for name in ("plain", "other", "foreign"):
        with pytest.raises(ArgumentError, match=rf"{name}\.safetensors: not an rnnlens fixed-points file"):
            FixedPoints.load(tmp_path / f"{name}.safetensors")
    meta = {"format": "rnnlens-fixed-points", "format_version": 99, "tol": 1e-8, "solver": "lm"}
    save_file(tensors, str(tmp_path / "future.safetensors"), metadata={"rnnlens": json.dumps(meta)})
    with pytest.raises(
        ArgumentError,
        match=r"future\.safetensors: fixed-points format version 99; this rnnlens "
        r"reads version 1",
    ):
        FixedPoints.load(tmp_path / "future.safetensors")


def test_q_and_q_half_from_a_known_residual_with_more_than_two_units():
    # F(x, h) = 0.5 h: at h the residual is F(h) - h = -0.5 h, so with S = 5 units
    # q = (1/5) ||0.5 h||^2 and q_half = 0.5 ||0.5 h||^2 (they differ by S / 2 = 2.5)
    h = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0]], dtype=D)
    fp = find_fixed_points(lambda x, s: 0.5 * s, h, torch.zeros(2, 1, dtype=D), max_iter=0)
    assert fp.q.tolist() == pytest.approx([1.0 / 5, 1.0 / 5])
    assert fp.q_half.tolist() == pytest.approx([0.5, 0.5])


# ----------------------------------------------------------------------------- the container's contract
def test_grad_norm_is_two_over_s_times_the_residual_gradient():
    # F = 0.5 h: r = -0.5 h, dF/dh - I = -0.5 I, so (J - I)^T r = 0.25 h and |grad q| = (2/S) 0.25 ||h||
    h = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0, 3.0]], dtype=D)
    fp = find_fixed_points(lambda x, s: 0.5 * s, h, torch.zeros(3, 1, dtype=D), max_iter=0, chunk_size=2)
    assert fp.grad_norm.tolist() == pytest.approx([(2 / 5) * 0.25 * float(v.norm()) for v in h], rel=1e-12)
    # more points than units, one per chunk: every point gets its own norm
    h2 = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [1.0, 1.0]], dtype=D)
    fp = find_fixed_points(lambda x, s: 0.5 * s, h2, torch.zeros(4, 1, dtype=D), max_iter=0, chunk_size=1)
    assert fp.grad_norm.tolist() == pytest.approx([(2 / 2) * 0.25 * float(v.norm()) for v in h2], rel=1e-12)


def test_find_fixed_points_defaults_and_argument_errors():
    F, _ = _flipflop()
    seeds = torch.full((3, 3), 0.3, dtype=D)
    fp = find_fixed_points(F, seeds)
    assert fp.tol == 1e-8 and "history" not in fp.info and fp.info["seconds"] < 60
    fp = find_fixed_points(F, seeds, refine=True)
    assert fp.tol == 1e-8 and fp.converged.all()
    for kw, msg in (
        (dict(tol="small"), r"^tol must be a positive"),
        (dict(refine_iter=-1), r"^refine_iter must be an integer >= 0, got -1\.$"),
        (dict(refine_iter=1.5), r"^refine_iter must be an integer >= 0, got 1\.5\.$"),
        (dict(chunk_size=0), r"^chunk_size must be a positive integer or None, got 0\.$"),
        (dict(chunk_size=2.0), r"^chunk_size must be a positive integer or None, got 2\.0\.$"),
        (dict(jacobian_mode="sideways"), r"jacobian_mode='sideways': choose 'auto', 'fwd' or 'rev'"),
    ):
        with pytest.raises(ArgumentError, match=msg):
            find_fixed_points(F, seeds, **kw)
    assert find_fixed_points(F, seeds, refine_iter=0, chunk_size=1).converged.all()
    # a solver that couples its points (Adam's learning-rate schedule) gets them all in one chunk
    from rnnlens.solvers import Adam

    fp = find_fixed_points(F, seeds, solver=Adam(max_iter=5), chunk_size=1, record_history=True)
    assert {row["chunk"] for row in fp.info["history"]} == {0}


def test_indexing_and_where_q_at_their_boundaries():
    fp = _toy_points()
    assert torch.equal(fp[-5].points, fp.points[:1]) and torch.equal(fp[4].points, fp.points[4:])
    for bad in (5, -6):
        with pytest.raises(ArgumentError, match=rf"^FixedPoints index {bad} out of range for 5 points\.$"):
            fp[bad]
    assert torch.equal(fp[np.array([3, 1])].q, fp.q[[3, 1]])
    with pytest.raises(ArgumentError, match=r"^FixedPoints: boolean mask of shape \(3,\); expected \[5\]\.$"):
        fp[torch.ones(3, dtype=torch.bool)]
    assert fp.where_q(1e-10).q.tolist() == [1e-12, 1e-13]  # strictly below: q = 1e-10 is not kept
    empty = fp[torch.zeros(5, dtype=torch.bool)]
    assert empty.seed_spread() == 0.0 and empty.summary() == (
        "FixedPoints: 0 points, state size 2, solver 'lm', tol 1e-08 on q = (1/S)||F(x,h)-h||^2"
    )


def test_unique_edges_and_ties():
    fp = _toy_points()
    assert len(fp.unique(rel_tol=0.0)) == 5 and len(fp.unique(abs_tol=0.0)) == 5
    for kw, msg in (
        (dict(rel_tol=-0.1), r"^unique: rel_tol must be >= 0, got -0\.1\.$"),
        (dict(abs_tol=-1.0), r"^unique: abs_tol must be >= 0, got -1\.0\.$"),
    ):
        with pytest.raises(ArgumentError, match=msg):
            fp.unique(**kw)
    assert len(fp[[0]].unique()) == 1 and len(fp[[]].unique()) == 0
    # two coinciding points with the same q: one is kept, the first
    twin = _points_at([[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [2.0, 2.0]], [1e-9, 1e-9])
    kept = twin.unique()
    assert len(kept) == 1 and kept.iterations.tolist() == [10]


def test_drop_outliers_scales_with_the_spread_and_takes_any_positive_factor():
    seeds = [[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]]  # spread 2
    fp = _points_at([[0.5, 0.0], [3.0, 0.0], [5.0, 0.0], [0.0, 0.0]], seeds)
    assert fp.drop_outliers(factor=2.0).points[:, 0].tolist() == [0.5, 3.0, 0.0]  # within 4
    assert fp.drop_outliers(factor=0.5).points[:, 0].tolist() == [0.5, 0.0]  # within 1
    lone = _points_at([[1.0, 0.0]], [[0.0, 0.0]])  # one seed: spread 0
    assert len(lone.drop_outliers()) == 0


def test_concat_of_one_part_and_the_exact_message():
    a = _toy_points()
    one = FixedPoints.concat([a])
    assert one.tol == a.tol and one.solver == "lm" and len(one) == 5
    with pytest.raises(ArgumentError) as info:
        FixedPoints.concat([])
    assert str(info.value) == "FixedPoints.concat needs a non-empty list of FixedPoints."


def test_save_records_the_run_id_and_load_names_what_is_wrong(tmp_path):
    from safetensors import safe_open
    from safetensors.torch import save_file

    fp = _toy_points()
    path = fp.save(tmp_path / "fp.safetensors", run_id="run-7")
    with safe_open(str(path), framework="pt") as f:
        assert f.metadata()["rnnlens_run_id"] == "run-7"
    with safe_open(str(fp.save(tmp_path / "plain.safetensors")), framework="pt") as f:
        assert "rnnlens_run_id" not in f.metadata()
    bad = FixedPoints(**fp._tensors(), tol=1e-8, solver="lm", info={"f": object()})
    with pytest.raises(ArgumentError, match=r"^FixedPoints\.save: info is not JSON-serializable \("):
        bad.save(tmp_path / "bad.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ArgumentError) as info:
        FixedPoints.load(tmp_path / "junk.safetensors")
    assert str(info.value).endswith(
        "the file is damaged. Find the fixed points again (rerun `rnnlens analyze "
        "CHECKPOINT -o DIR` for an analysis folder)."
    )
    meta = {"format": "rnnlens-fixed-points", "format_version": 1, "tol": 1e-8, "solver": "lm"}  # no info
    tensors = {k: v.contiguous() for k, v in fp._tensors().items()}
    save_file(tensors, str(tmp_path / "noinfo.safetensors"), metadata={"rnnlens": json.dumps(meta)})
    assert FixedPoints.load(tmp_path / "noinfo.safetensors").info == {}
    del tensors["q"], tensors["slow"]
    save_file(tensors, str(tmp_path / "part.safetensors"), metadata={"rnnlens": json.dumps(meta)})
    with pytest.raises(
        ArgumentError,
        match=r"part\.safetensors: tensors \['q', 'slow'\] missing; the file is "
        r"damaged\. Find the fixed points again\.$",
    ):
        FixedPoints.load(tmp_path / "part.safetensors")


def test_summary_lines_read_the_quantiles():
    fp = _points_at([[0.0, 0.0]] * 3, [[1.0, 0.0]] * 3, [1e-12, 1e-10, 1e-9])
    lines = fp.summary().split("\n")
    assert len(lines) == 7
    assert lines[2] == "  q = (1/S)||F(x,h)-h||^2: min 1e-12, median 1e-10, max 1e-09"
    assert lines[3] == "  q_half = 0.5||F(x,h)-h||^2: min 1e-12, median 1e-10, max 1e-09"  # S = 2: the same
    gone = _points_at([[0.0, 0.0]], [[1.0, 0.0]], [float("inf")])
    assert "  q = (1/S)||F(x,h)-h||^2: n/a" in gone.summary().split("\n")
    one = _points_at([[0.0, 0.0]], [[1.0, 0.0]], [1e-9])
    assert "min 1e-09, median 1e-09, max 1e-09" in one.summary()


def test_sample_seeds_defaults_and_what_each_error_says():
    states = torch.arange(3000.0, dtype=D).reshape(1500, 2)
    seeds = sample_seeds(states)
    assert seeds.shape == (1000, 2) and torch.equal(seeds, sample_seeds(states, n=1000, seed=0))
    assert torch.equal(sample_seeds(states, n=5, replace=True, seed=3), sample_seeds(states, n=5, replace=True, seed=3))
    noisy = sample_seeds(states, n=1500, noise=0.5, seed=2)
    base = sample_seeds(states, n=1500, seed=2)
    assert abs(float((noisy - base).mean())) < 0.05 and abs(float((noisy - base).std()) - 0.5) < 0.05
    cases = (
        (dict(states=states, n=0), r"^sample_seeds: n must be a positive integer, got 0\.$"),
        (dict(states=states, n=2.0), r"^sample_seeds: n must be a positive integer, got 2\.0\.$"),
        (dict(states=states, noise=-1.0), r"^sample_seeds: noise must be a finite number >= 0, got -1\.0\.$"),
        (dict(states=states, noise=float("inf")), r"^sample_seeds: noise must be a finite number >= 0"),
        (dict(states=states, noise="a"), r"^sample_seeds: noise must be a finite number >= 0"),
        (
            dict(states=states, lengths=[3]),
            r"^sample_seeds: lengths only applies to states of shape "
            r"\[B, T, S\]\.$",
        ),
        (
            dict(states=states[None, None]),
            r"^sample_seeds: states must have shape \[B, T, S\] or \[M, S\], "
            r"got \(1, 1, 1500, 2\)\.$",
        ),
        (
            dict(states=states.reshape(3, 500, 2), lengths=torch.tensor([1.0, 2.0, 3.0])),
            r"^sample_seeds: lengths must be an integer tensor of shape \[3\], got shape \(3,\) dtype "
            r"torch\.float32\.$",
        ),
        (
            dict(states=states.reshape(3, 500, 2), lengths=torch.tensor([1, 2])),
            r"^sample_seeds: lengths must be an integer tensor of shape \[3\], got shape \(2,\)",
        ),
        (dict(states=torch.full((3, 2), float("nan"), dtype=D)), r"^sample_seeds: states holds NaN or inf"),
        (dict(states=[[1.0, 2.0]]), r"^states must be a tensor"),
        (
            dict(states=states, n=2000),
            r"only 1500 valid states; lower n, pass more documents, or pass "
            r"replace=True \(then add noise to tell repeats apart\)\.$",
        ),
    )
    for kw, msg in cases:
        with pytest.raises(ArgumentError, match=msg):
            sample_seeds(**kw)


def test_several_tolerances_from_one_search_equal_one_search_per_tolerance():
    # a trained-like GRU (random weights, gain 1.5: stable points, saddles and slow points), float32, and the
    # slow-line system (points that stall as slow points at the tighter tolerances): each looser tolerance read
    # off the tightest search equals its own search (flags and iterations exactly, points to float32 rounding)
    from rnnlens.cells import make_cell
    from rnnlens.fixedpoints import find_fixed_points_at

    torch.manual_seed(0)
    cell = make_cell("gru", 4, 24)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(1.5)
    seeds = torch.randn(120, 24) * 0.5

    def no_zero(x, h):  # r = 1e-3 (1 + (h - 0.5)^2): q >= 1e-6, a slow point at h = 0.5
        return h + 1e-3 * (1 + (h - 0.5) ** 2)

    g = torch.Generator().manual_seed(1)
    cases = [
        (cell, seeds, None, dict()),
        (_slow_line(1e-7), 3 * torch.randn(40, 2, generator=g, dtype=D), None, dict(patience=2, max_iter=30)),
        (no_zero, torch.randn(30, 3, generator=g, dtype=D), None, dict()),
    ]
    seen = set()
    for step, h0, x, kw in cases:
        tols = [1e-5, 1e-10, 1e-7, 1e-12]
        at = find_fixed_points_at(step, h0, x, tols=tols, **kw)
        assert sorted(at) == sorted(tols)
        for t in tols:
            one = find_fixed_points(step, h0, x, tol=t, **kw)
            for k in ("converged", "slow", "diverged", "iterations"):
                assert torch.equal(getattr(at[t], k), getattr(one, k)), (t, k)
            torch.testing.assert_close(at[t].points, one.points, rtol=0, atol=1e-4)
            assert at[t].tol == t
        tight, loose = at[1e-12], at[1e-5]
        seen |= {"fewer iterations"} if bool((loose.iterations < tight.iterations).any()) else set()
        seen |= {"slow"} if bool(tight.slow.any() & loose.converged.any()) else set()
        seen |= {"out of iterations"} if bool((~tight.converged & ~tight.slow & loose.converged).any()) else set()
    assert seen == {"fewer iterations", "slow", "out of iterations"}  # every way a looser search ends differently


def test_several_tolerances_fall_back_to_one_search_each_for_adam_and_refine():
    from rnnlens.fixedpoints import find_fixed_points_at

    W, U, b, F = _linear_system()
    h0 = torch.randn(5, 6, dtype=torch.float64)
    x = torch.zeros(3, dtype=torch.float64)
    for kw in (dict(solver="adam", max_iter=300), dict(refine=True)):
        at = find_fixed_points_at(F, h0, x, tols=[1e-6, 1e-9], **kw)
        for t in (1e-6, 1e-9):
            one = find_fixed_points(F, h0, x, tol=t, **kw)
            assert torch.equal(at[t].points, one.points) and torch.equal(at[t].converged, one.converged)
    with pytest.raises(ArgumentError, match="tols"):
        find_fixed_points_at(F, h0, x, tols=[])
    with pytest.raises(ArgumentError, match="not tol"):
        find_fixed_points_at(F, h0, x, tols=[1e-6], tol=1e-6)
    with pytest.raises(ArgumentError, match="positive number"):
        find_fixed_points_at(F, h0, x, tols=[1e-6, -1.0])
