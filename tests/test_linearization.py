"""Linearization: Jacobians and eigendecomposition against closed forms."""

import math

import pytest
import torch

from rnnlens.errors import ArgumentError
from rnnlens.fixedpoints import find_fixed_points
from rnnlens.linearization import eigendecompose, linearize

D = torch.float64


def _linear(S=6, I=2, seed=0, scale=1.3):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(S, S, generator=g, dtype=D) * scale / math.sqrt(S)
    U = torch.randn(S, I, generator=g, dtype=D)
    return W, U, (lambda x, h: h @ W.T + x @ U.T)


def test_linear_map_eigendecomposition_exact():
    W, U, F = _linear()
    pts = torch.randn(5, 6, dtype=D)
    lin = linearize(F, pts, torch.zeros(2, dtype=D))
    assert torch.allclose(lin.J_rec, W.expand(5, -1, -1)) and torch.allclose(lin.J_inp, U.expand(5, -1, -1))
    want = torch.linalg.eigvals(W)
    want = want[want.abs().argsort(descending=True)]
    assert torch.allclose(lin.eigvals[0].abs(), want.abs(), atol=1e-12)
    assert (lin.eigvals[0][:, None] - want[None]).abs().min(1).values.max() < 1e-12
    assert (lin.eigvals.abs()[:, :-1] >= lin.eigvals.abs()[:, 1:]).all()  # sorted descending
    eye = torch.eye(6, dtype=torch.complex128)
    assert torch.allclose(lin.L @ lin.R, eye.expand(5, -1, -1), atol=1e-10)  # L = R^-1
    # right eigenvectors: J r = lambda r; left: l J = lambda l
    Jc = lin.J_rec.to(torch.complex128)
    assert torch.allclose(Jc @ lin.R, lin.R * lin.eigvals[:, None, :], atol=1e-10)
    assert torch.allclose(lin.L @ Jc, lin.eigvals[:, :, None] * lin.L, atol=1e-10)
    mag = lin.eigvals.abs()
    assert torch.allclose(lin.tau, 1 / mag.log().abs())
    assert torch.equal(lin.n_unstable, (mag > 1).sum(1))
    assert lin.n_unstable[0] == int((want.abs() > 1).sum()) > 0  # scale 1.3: some modes unstable


def test_tau_of_known_eigenvalues():
    J = torch.diag(torch.tensor([1.0, 0.5, -0.9, 0.0], dtype=D)).unsqueeze(0)
    lam, R, L = eigendecompose(J)
    assert lam[0].real.tolist() == [1.0, -0.9, 0.5, 0.0]
    lin = linearize(lambda x, h: h @ J[0].T, torch.zeros(1, 4, dtype=D))
    assert lin.tau[0, 0] == math.inf
    assert lin.tau[0, 1] == pytest.approx(1 / abs(math.log(0.9)))
    assert lin.tau[0, 2] == pytest.approx(1 / math.log(2))
    assert lin.tau[0, 3] == 0.0
    assert lin.n_unstable[0] == 0


def test_chunks_modes_and_eigenvalues_only_agree_with_the_full_run():
    torch.manual_seed(1)
    W, U, _ = _linear(S=5, I=3, scale=0.8)
    F = lambda x, h: torch.tanh(h @ W.T + x @ U.T)  # noqa: E731
    pts, x = torch.randn(11, 5, dtype=D), torch.randn(11, 3, dtype=D)
    full = linearize(F, pts, x, chunk_size=256)
    small = linearize(F, pts, x, chunk_size=3)
    for k in ("J_rec", "J_inp", "eigvals", "R", "L", "tau", "n_unstable"):
        assert torch.allclose(getattr(full, k), getattr(small, k)), k
    top = linearize(F, pts, x, modes=2)
    assert top.R.shape == (11, 5, 2) and top.L.shape == (11, 2, 5)
    assert torch.allclose(top.R, full.R[:, :, :2]) and torch.allclose(top.L, full.L[:, :2])
    vals = linearize(F, pts, x, vectors=False)
    assert vals.R is None and vals.L is None and torch.allclose(vals.eigvals, full.eigvals)


def test_float32_jacobians_return_complex64():
    W, U, F = _linear()
    lin = linearize(lambda x, h: h @ W.float().T, torch.randn(3, 6))
    assert lin.eigvals.dtype == torch.complex64 and lin.R.dtype == torch.complex64
    assert lin.tau.dtype == torch.float32


def test_linearize_fixed_points_uses_their_inputs():
    W, U, F = _linear(scale=0.5)
    x = torch.randn(4, 2, dtype=D)
    fp = find_fixed_points(lambda x, h: h @ W.T + x @ U.T + 1.0, torch.zeros(4, 6, dtype=D), x, tol=1e-20)
    lin = linearize(lambda x, h: h @ W.T + x @ U.T + 1.0, fp)
    assert torch.equal(lin.inputs, x) and torch.equal(lin.points, fp.points)
    with pytest.raises(ArgumentError, match="carries its inputs"):
        linearize(F, fp, x)


def test_bad_input():
    W, U, F = _linear()
    with pytest.raises(ArgumentError, match="chunk_size"):
        linearize(F, torch.zeros(2, 6, dtype=D), torch.zeros(2, dtype=D), chunk_size=0)
    with pytest.raises(ArgumentError, match="modes"):
        linearize(F, torch.zeros(2, 6, dtype=D), torch.zeros(2, dtype=D), modes=7)
    with pytest.raises(ArgumentError, match="NaN"):
        linearize(F, torch.full((2, 6), float("nan"), dtype=D), torch.zeros(2, dtype=D))


def test_large_state_uses_a_working_inverse():
    # torch 2.13's CPU batched LU breaks for n >= ~200; the per-matrix path must give L R = I
    W, _, F = _linear(S=260, I=1, scale=0.9)
    lin = linearize(F, torch.zeros(2, 260, dtype=D), torch.zeros(1, dtype=D))
    eye = torch.eye(260, dtype=torch.complex128)
    assert torch.allclose(lin.L @ lin.R, eye.expand(2, -1, -1), atol=1e-8)
    fp = find_fixed_points(lambda x, h: h @ W.T + 1.0, torch.zeros(2, 260, dtype=D), solver="newton", tol=1e-20)
    assert fp.converged.all()
    assert torch.allclose(fp.points[0], torch.linalg.solve(torch.eye(260, dtype=D) - W, torch.ones(260, dtype=D)))


def test_left_eigenvectors_when_the_eigenvector_matrix_is_singular():
    from rnnlens.linearization import eigendecompose

    # rank one (eigenvalue 0 repeated S - 1 times, as with saturated or dead units) and a defective
    # matrix (a Jordan block at 0.5) beside a simple top eigenvalue 0.9: R = eig vectors is singular
    S = 6
    m = torch.ones(S, dtype=torch.float64) / S**0.5
    rank_one = 0.8 * torch.outer(m, m)
    jordan = torch.zeros(S, S, dtype=torch.float64)
    jordan[0, 0] = 0.9
    for i in range(1, S):
        jordan[i, i] = 0.5
        if i < S - 1:
            jordan[i, i + 1] = 1.0
    Q = torch.linalg.qr(torch.randn(S, S, generator=torch.Generator().manual_seed(0), dtype=torch.float64))[0]
    J = torch.stack([rank_one, Q @ jordan @ Q.T])
    lam, R, L = eigendecompose(J)
    assert lam[0, 0].real == pytest.approx(0.8) and lam[1, 0].real == pytest.approx(0.9)
    for b in range(2):
        l1, r1 = L[b, 0], R[b, :, 0]
        assert torch.isfinite(L[b]).all()
        assert complex((l1 * r1).sum()) == pytest.approx(1.0)  # l_1 . r_1 = 1
        torch.testing.assert_close(l1 @ J[b].to(l1.dtype), lam[b, 0] * l1)  # a left eigenvector
    l1 = L[0, 0].real
    torch.testing.assert_close(l1 * torch.sign(l1[0]), m, rtol=0, atol=1e-10)  # l_1 = +-m for m m^T


def test_float32_jacobians_get_float32_lapack_with_the_slowest_eigenvalues_refined_in_float64(monkeypatch):
    # a non-normal float32 matrix: float32 LAPACK alone misses its eigenvalues by ~2e-6. The three slowest,
    # refined by the two-sided Rayleigh quotient in float64, are off by the complex64 cast's rounding only
    # (~6e-8); the bulk keeps float32 LAPACK's error; float64 LAPACK (LAPACK_FLOAT32 = False) gets every one.
    import rnnlens.linearization as lz

    g = torch.Generator().manual_seed(0)
    S = 32
    J = (
        torch.randn(S, S, generator=g, dtype=D) / S**0.5 + 0.5 * torch.triu(torch.randn(S, S, generator=g, dtype=D), 1)
    ).float()
    ref = torch.linalg.eigvals(J.double())

    def errors(lam):
        return [float((ref - z).abs().min()) for z in lam[0].to(torch.complex128)]  # each to its nearest true one

    lam, R, L = eigendecompose(J[None])
    assert lam.dtype == R.dtype == L.dtype == torch.complex64
    err = errors(lam)
    assert max(err[:3]) < 2e-7
    assert 5e-7 < max(err[3:]) < 1e-5  # the bulk: float32 LAPACK's own error
    torch.testing.assert_close(L[0, :3] @ J.double().to(L.dtype), lam[0, :3, None] * L[0, :3], rtol=0, atol=1e-5)
    monkeypatch.setattr(lz, "LAPACK_FLOAT32", False)
    lam64, _, _ = eigendecompose(J[None])
    assert max(errors(lam64)) < 2e-7
    lam64, R64, L64 = eigendecompose(J.double()[None])
    assert lam64.dtype == R64.dtype == L64.dtype == torch.complex128


def test_one_mode_is_allowed():
    A = torch.diag(torch.tensor([0.9, 0.5, 0.1], dtype=torch.float64))
    lin = linearize(lambda x, h: h @ A.T, torch.zeros(2, 3, dtype=torch.float64), modes=1)
    assert lin.R.shape == (2, 3, 1) and lin.L.shape == (2, 1, 3)
    assert lin.eigvals[0].real.tolist() == pytest.approx([0.9, 0.5, 0.1])
    with pytest.raises(ArgumentError, match=r"modes must be an integer in \[1, 3\]"):
        linearize(lambda x, h: h @ A.T, torch.zeros(2, 3, dtype=torch.float64), modes=0)


def test_left_eigenvector_fallback_normalises_a_non_normal_slow_mode_and_leaves_defective_rows_unit():
    # a Jordan block at 0.5 beside 0.9, and row 0 coupled to coordinate 1 (non-normal: l_1 != r_1)
    S = 5
    J = torch.zeros(S, S, dtype=D)
    J[0, 0], J[0, 1] = 0.9, 0.3
    for i in range(1, S):
        J[i, i] = 0.5
        if i < S - 1:
            J[i, i + 1] = 1.0
    lam, R, L = eigendecompose(J[None])
    l1, r1 = L[0, 0], R[0, :, 0]
    assert lam[0, 0].real == pytest.approx(0.9)
    assert complex((l1 * r1).sum()) == pytest.approx(1.0)
    torch.testing.assert_close(l1 @ J.to(l1.dtype), 0.9 * l1)
    assert abs(complex(l1[1])) > 0.1  # the coupling shows in l_1, not in r_1
    # inside the defective block l_k . r_k ~ 0: those rows are left as unit vectors, not blown up
    norms = L[0, 1:].abs().square().sum(1).sqrt()
    torch.testing.assert_close(norms, torch.ones(S - 1, dtype=D), rtol=0, atol=1e-9)


def test_eigenvalues_only_keep_the_input_precision():
    J = torch.diag(torch.tensor([0.9, 0.5], dtype=torch.float32))[None]
    lam, R, L = eigendecompose(J, vectors=False)
    assert lam.dtype == torch.complex64 and R is None and L is None


def test_linearize_argument_errors_name_the_argument():
    W, U, F = _linear()
    h = torch.zeros(2, 6, dtype=D)
    x = torch.zeros(2, dtype=D)
    fp = find_fixed_points(F, h, x, tol=1e-20)
    with pytest.raises(ArgumentError) as info:
        linearize(F, fp, x)
    assert str(info.value) == "linearize: points is a FixedPoints, which carries its inputs; pass inputs=None."
    for kw, msg in (
        (dict(chunk_size=True), r"^linearize: chunk_size must be a positive integer or None, got True\.$"),
        (dict(chunk_size=0), r"^linearize: chunk_size must be a positive integer or None, got 0\.$"),
        (dict(modes=True), r"^linearize: modes must be an integer in \[1, 6\] or None, got True\.$"),
        (dict(modes=0), r"^linearize: modes must be an integer in \[1, 6\] or None, got 0\.$"),
    ):
        with pytest.raises(ArgumentError, match=msg):
            linearize(F, h, x, **kw)
    lin = linearize(F, h, x, chunk_size=1, modes=6)
    assert lin.R.shape == (2, 6, 6)
    with pytest.raises(
        ArgumentError,
        match=r"^points must be a tensor of shape \[n_points, state_size\] with at "
        r"least one row, got shape \(6,\)\. One point: points\[None\]\.$",
    ):
        linearize(F, torch.zeros(6, dtype=D), x)


def test_a_mode_at_exactly_one_is_marginal_not_unstable():
    # a rotation-mixed perfect integrator: its computed |lambda| may round to 1 + 2e-16
    Q = torch.linalg.qr(torch.randn(4, 4, generator=torch.Generator().manual_seed(2), dtype=D))[0]
    for top, dtype, unstable in (
        (1.0, D, 0),
        (1 + 1e-9, D, 1),
        (1 + 1e-6, torch.float32, 0),
        (1 + 1e-4, torch.float32, 1),
    ):
        J = (Q @ torch.diag(torch.tensor([top, 0.5, 0.2, 0.1], dtype=D)) @ Q.T).to(dtype)
        lin = linearize(lambda x, h, J=J: h @ J.T, torch.zeros(1, 4, dtype=dtype), vectors=False)
        assert lin.n_unstable.tolist() == [unstable], (top, dtype)


def test_float32_rank_one_jacobians_whose_eigenvector_matrix_is_singular():
    # J = s m m^T in float32: float32 geev returns identical columns for the eigenvalue 0 (R singular) at some s
    # (0.97 here). The left eigenvector must come from the fallback before the slowest eigenvalue is refined with
    # it (refined with the unusable row of R^-1 first, lambda_1 came out 0.376 instead of 0.981 in analyze).
    N = 16
    m = torch.full((N,), 1 / N**0.5, dtype=D)
    s = torch.tensor([0.98144, 0.97, 0.95, 0.5], dtype=D)
    J = (s[:, None, None] * torch.outer(m, m)).float()
    lam, R, L = eigendecompose(J, modes=1)
    torch.testing.assert_close(lam[:, 0].real.double(), s, rtol=0, atol=1e-7)
    for b in range(len(s)):
        l1, r1 = L[b, 0].to(torch.complex128), R[b, :, 0].to(torch.complex128)
        assert complex((L[b, 0] * R[b, :, 0]).sum()) == pytest.approx(1.0, abs=1e-6)
        torch.testing.assert_close((l1.real * torch.sign(l1.real[0])) / l1.real.norm(), m, rtol=0, atol=1e-6)
        torch.testing.assert_close(r1.real.abs(), m, rtol=0, atol=1e-6)
