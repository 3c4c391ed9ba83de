"""LM's factorization of ``JᵀJ + mu I``: the CPU path (BLAS syrk + LAPACK potrf per matrix, in place)
gives the batched torch factor (up to rounding), the same info and the same starting damping."""

import pytest
import torch

from rnnlens.solvers import lm


def _torch_factor(J, mu):
    A = J.transpose(1, 2) @ J
    A.diagonal(dim1=1, dim2=2).add_(mu.unsqueeze(1))
    return torch.linalg.cholesky_ex(A, upper=True)


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-4), (torch.float64, 1e-12)])
@pytest.mark.parametrize("S", [1, 5, 130])
def test_cpu_factor_matches_torch(dtype, atol, S):
    g = torch.Generator().manual_seed(S)
    J = torch.randn(6, S, S, generator=g, dtype=dtype) / S**0.5 - torch.eye(S, dtype=dtype)
    U, info, mu = lm._factor(J, damping=1e-3)
    diag = (J.transpose(1, 2) @ J).diagonal(dim1=1, dim2=2)
    torch.testing.assert_close(mu, 1e-3 * diag.amax(1), rtol=1e-5, atol=0)
    Ut, it = _torch_factor(J, mu)
    assert U.dtype == dtype and U.shape == J.shape and U.is_contiguous()
    assert info.tolist() == it.tolist() == [0] * 6
    assert torch.equal(U, U.triu())  # the other triangle is zeroed, not left over
    assert (U - Ut).abs().max() < atol * max(1.0, float(Ut.abs().max()))
    # and the solve the solver does with it
    b = torch.randn(6, S, generator=g, dtype=dtype)
    x = lm._cholesky_solve(U, b)
    A = J.transpose(1, 2) @ J + mu[:, None, None] * torch.eye(S, dtype=dtype)
    assert ((A @ x.unsqueeze(-1)).squeeze(-1) - b).abs().max() < 1e3 * atol


def test_cpu_factor_reports_not_positive_definite_and_empty_batches():
    J = torch.zeros(3, 4, 4)
    _, info, _ = lm._factor(J, mu=torch.tensor([1.0, 0.0, -1.0]))
    assert info[0] == 0 and info[1] > 0 and info[2] > 0
    U, info, mu = lm._factor(torch.zeros(0, 4, 4), damping=1e-3)
    assert U.shape == (0, 4, 4) and info.shape == (0,) and mu.shape == (0,)


def test_torch_path_is_kept(monkeypatch):
    J = torch.randn(3, 7, 7, dtype=torch.float64) - torch.eye(7, dtype=torch.float64)
    U, info, mu = lm._factor(J, damping=1e-3)
    monkeypatch.setattr(lm, "_CPU_LAPACK", False)
    Ut, it, mut = lm._factor(J, damping=1e-3)
    assert torch.equal(mu, mut) and info.tolist() == it.tolist()
    torch.testing.assert_close(U, Ut, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("B,S", [(1, 3), (7, 2), (400, 128)])
def test_compact_moves_kept_rows_to_the_front_in_place(B, S):
    g = torch.Generator().manual_seed(B)
    t = torch.randn(B, S, S, generator=g)
    ref = t.clone()
    keep = torch.rand(B, generator=g) < 0.6
    out = lm._compact(t, keep.nonzero().squeeze(1))
    assert torch.equal(out, ref[keep])
    if keep.any():
        assert out.data_ptr() == t.data_ptr()
    assert lm._compact(t, torch.arange(B)) is t
