"""Linearization of a step ``h' = F(x, h)`` at many points, and its eigendecomposition.

Around a point (h*, x*): ``dh_t ~ J_rec dh_{t-1} + J_inp dx_t`` with ``J_rec = dF/dh`` and
``J_inp = dF/dx``. ``J_rec = R diag(lambda) L`` with the right eigenvectors as the columns of R and
the left eigenvectors as the rows of ``L = R^-1`` (so ``L R = I``), eigenvalues sorted by
``|lambda|``, largest first; time constants ``tau = 1 / |ln |lambda||`` (in steps / tokens; inf for
``|lambda| = 1``); ``n_unstable`` = number of modes with ``|lambda| > 1`` beyond rounding (0: stable; 1: a
saddle with one unstable direction, ...): ``|lambda| > 1 + 64 eps`` of the points' precision (1.4e-14 in
float64, 7.6e-6 in float32), so a mode at exactly 1 (a perfect integrator, whose computed modulus may
round to 1 + 2e-16) counts as marginal, not unstable.

Precision: float64 Jacobians are decomposed in float64. Float32 Jacobians (a float32 network's) are
decomposed by LAPACK's float32 geev, about 3x faster at 256-512 units: its backward error (~1e-6 ||J||) is
about ten times the rounding already in a float32 J. The three slowest eigenvalues are then refined in float64 by
the two-sided Rayleigh quotient ``l_k J r_k / (l_k r_k)``, whose error is the product of the two vectors' errors,
so |lambda_1..3| and tau_1..3 carry float64 accuracy (when the eigenvectors are asked for), and the eigenvectors
returned with ``modes=k`` (the first, without ``modes``) by one step of float64 inverse iteration; the other
eigenvalues keep float32 LAPACK's error (2e-6 on a non-normal test matrix, < 3e-5 at the fixed points of IMDB
GRUs and LSTMs of 64-256 units), and the other
eigenvectors agree with float64's to ~1e-6 / gap in angle. Every number of the analysis of the shipped GRU and
LSTM stays within 2e-3 (relative) of the float64 path (tests/analysis/test_eigen_precision.py). Counts of
eigenvalues above a threshold (n_unstable, modes above 0.98) can differ only for eigenvalues within that
error of the threshold.
``LAPACK_FLOAT32 = False`` restores float64 for every Jacobian.

Every eigenvalue is computed (LAPACK's geev), never only the top few by a Krylov method: a trained RNN's
saturated units give an eigenvalue of 1 many times over, and a Krylov space grown from one start vector holds
one direction of such an eigenspace, so ARPACK returned 1, 0.996 where the spectrum is 1, 1, ... (tried; see
tests/test_eigen_top.py). ``modes=k`` saves the rest of the work: only k rows of L = R^-1 are solved for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlens._types import StepLike, TensorLike
from rnnlens.errors import ArgumentError
from rnnlens.fixedpoints import FixedPoints
from rnnlens.solvers import closed_form_cell
from rnnlens.solvers.common import _CPU_BATCHED_LU_MAX, inverse_ex
from rnnlens.steps import as_step

__all__ = ["linearize", "Linearization", "eigendecompose", "UNSTABLE_EPS"]

# |lambda| counts as above 1 only beyond this many machine epsilons of the points' precision (rounding)
UNSTABLE_EPS = 64

# float32 Jacobians are decomposed by LAPACK's float32 geev (about 3x faster than float64; see the module
# docstring for what that costs in accuracy); False decomposes them in float64 as float64 ones are
LAPACK_FLOAT32 = True

# the check of the slowest left eigenvectors (l_k J = lambda_k l_k, L R = I), by the decomposition's precision
_CHECK_TOL = {torch.float64: 1e-6, torch.float32: 1e-3}


@dataclass
class Linearization:
    """Jacobians and eigenmodes at P points (see the module docstring for the definitions).

    points ``[P, S]``, inputs ``[P, I]``; J_rec ``[P, S, S]``; J_inp ``[P, S, I]``;
    eigvals ``[P, S]`` complex, sorted by ``|lambda|`` descending; R ``[P, S, K]`` complex (right
    eigenvectors as columns, the first K modes); L ``[P, K, S]`` complex (left eigenvectors as rows,
    rows of ``R_full^-1``); K = S unless ``modes`` was given; R and L are None with ``vectors=False``.
    tau ``[P, S]``: ``1/|ln|lambda||``; n_unstable ``[P]``: number of ``|lambda| > 1`` beyond rounding
    (``1 + UNSTABLE_EPS * eps``, see the module docstring).
    """

    points: Tensor
    inputs: Tensor
    J_rec: Tensor
    J_inp: Tensor
    eigvals: Tensor
    R: Tensor | None
    L: Tensor | None
    tau: Tensor
    n_unstable: Tensor

    def __len__(self) -> int:
        return int(self.points.shape[0])


def eigendecompose(J: Tensor, *, modes: int | None = None, vectors: bool = True):
    """Eigenvalues of a batch ``J [P, S, S]`` sorted by ``|lambda|`` descending, with R and L = R^-1.

    Computed in float64 (complex128) for float64 ``J``, in float32 with the three slowest eigenvalues refined in
    float64 for float32 ``J`` (see the module docstring), and returned in J's precision (complex64 for float32).
    Returns ``(eigvals [P, S], R [P, S, K] or None, L [P, K, S] or None)``; K = ``modes`` (all when None; then
    L is the whole inverse, else its first K rows, solved for).

    On the CPU the points are split over ``torch.get_num_threads()`` Python threads, each decomposing its
    share with one LAPACK thread (LAPACK's own threading gains little on one matrix of a few hundred rows, and
    on a busy machine its spinning threads made one batched call up to 30x slower); each matrix goes through
    the same LAPACK call either way, so the result is the same. A ``J`` on a GPU is decomposed on the host and
    the results are moved back: torch's CUDA eig runs LAPACK-style geev on the host anyway, and the refinement's
    many small solves cost a kernel launch each (on an H100 the modes of 100 GRU-256 fixed points took 7.5 s
    this way against 2.4 s on the host).
    """
    if J.device.type != "cpu":  # on the host: see the docstring
        out = eigendecompose(J.cpu(), modes=modes, vectors=vectors)
        return tuple(None if t is None else t.to(J.device) for t in out)
    workers = min(torch.get_num_threads(), J.shape[0])
    if workers < 2 or J.shape[-1] < 32:
        return _eigendecompose(J, modes, vectors)
    from concurrent.futures import ThreadPoolExecutor

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda part: _eigendecompose(part, modes, vectors), J.tensor_split(workers)))
    finally:
        torch.set_num_threads(threads)
    return tuple(None if parts[0][i] is None else torch.cat([p[i] for p in parts]) for i in range(3))


def _eigendecompose(J: Tensor, modes: int | None, vectors: bool):
    """:func:`eigendecompose` of one share of the points, in the calling thread."""
    cdtype = torch.complex128 if J.dtype == torch.float64 else torch.complex64
    Jd = J.to(torch.float64)
    work = J if J.dtype == torch.float32 and LAPACK_FLOAT32 else Jd
    if vectors:
        lam, V = torch.linalg.eig(work)
    else:
        lam, V = torch.linalg.eigvals(work), None
    order = torch.argsort(-lam.abs(), dim=1, stable=True)
    lam = lam.gather(1, order).to(torch.complex128)
    if V is None:
        return lam.to(cdtype), None, None
    R = V.gather(2, order.unsqueeze(1).expand_as(V)).to(torch.complex128)
    rows = R.shape[-1] if modes is None else min(R.shape[-1], max(modes, 3))
    L, info = inverse_ex(R) if rows == R.shape[-1] else _first_rows_of_inverse(R, rows)
    top = min(3, R.shape[-1])
    L = _checked_left(Jd, _left_times(L, Jd, top), lam, R, L, info, rows, tol=_CHECK_TOL[work.dtype])
    if work.dtype == torch.float32:
        lam = _refine_eigenvalues(_left_times(L, Jd, top), lam, R, L)
        lam, R, L = _refine_vectors(Jd, lam, R, L, 1 if modes is None else min(modes, 3))
    k = R.shape[-1] if modes is None else modes
    return lam.to(cdtype), R[:, :, :k].to(cdtype), L[:, :k, :].to(cdtype)


def closed_form_modes(cell, x: Tensor, *, modes: int | None = None, vectors: bool = True):
    """:func:`eigendecompose`'s output for a cell elementwise linear in the state (``cell.spectrum``), at inputs
    ``x`` ``[P, I]``: the eigenvalues are the update's coefficients and the eigenvectors unit vectors (pairs
    ``(e_m -/+ i e_{N+m}) / sqrt 2`` for complex modes), exact; sorted by ``|lambda|`` descending (stable)."""
    with torch.no_grad():
        lam, R, L = cell.spectrum(x)
    cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
    order = torch.argsort(-lam.abs(), dim=1, stable=True)
    lam = lam.gather(1, order).to(cdtype)
    if not vectors:
        return lam, None, None
    k = R.shape[-1] if modes is None else modes
    cols = order[:, :k]
    return lam, R.to(cdtype)[:, cols].permute(1, 0, 2), L.to(cdtype)[cols]


def _left_times(L: Tensor, Jd: Tensor, top: int) -> Tensor:
    """``l_k J`` for the first ``top`` rows of L (complex) and a real float64 J, without a complex copy of J."""
    return torch.complex(L[:, :top].real @ Jd, L[:, :top].imag @ Jd)


def _refine_eigenvalues(LJ: Tensor, lam: Tensor, R: Tensor, L: Tensor) -> Tensor:
    """The first ``top = LJ.shape[1]`` eigenvalues of a float32 decomposition refined in float64 by the two-sided
    Rayleigh quotient ``l_k J r_k / (l_k r_k)``: its error is the product of the left and the right vector's errors
    (~1e-12 from float32 vectors), so the slowest modes' eigenvalues (|lambda_1|, tau_1) carry float64
    accuracy. Kept as computed where the quotient is not finite, l_k r_k ~ 0 (inside a defective block) or the
    quotient moves the eigenvalue by more than ``1e-3 max(1, |lambda|)`` (far beyond float32's error: a vector
    that is not an eigenvector of J, e.g. one of a nearly repeated eigenvalue)."""
    top = LJ.shape[1]
    Rt = R[:, :, :top].transpose(1, 2)
    num, den = (LJ * Rt).sum(-1), (L[:, :top, :] * Rt).sum(-1)
    ok = torch.isfinite(num) & (den.abs() > 1e-6)
    rho = num / torch.where(ok, den, torch.ones_like(den))
    ok &= (rho - lam[:, :top]).abs() <= 1e-3 * lam[:, :top].abs().clamp_min(1.0)
    out = lam.clone()
    out[:, :top] = torch.where(ok, rho, lam[:, :top])
    return out


def _refine_vectors(Jd: Tensor, lam: Tensor, R: Tensor, L: Tensor, k: int) -> tuple[Tensor, Tensor, Tensor]:
    """The first ``k`` modes of a float32 decomposition refined in float64: one step of inverse iteration with the
    refined eigenvalue as the shift (``(J - lambda I) r' = r``, ``(J - lambda I)^T l' = l``; one complex LU per
    mode and point), r' scaled to unit norm with r's phase, l' to ``l' r' = 1``, and lambda from the refined
    vectors' Rayleigh quotient. The slowest modes' vectors then carry float64 accuracy (float32 geev leaves an
    angle of ~1e-6 / gap, which moved the word valences of an LSTM's slow manifold by 0.6%). A mode is kept as
    computed where the step is not finite or turns a vector by more than 0.05 rad (not the same mode)."""
    R, L, lam = R.clone(), L.clone(), lam.clone()
    eye = torch.eye(Jd.shape[-1], dtype=R.dtype, device=R.device)
    for b in range(Jd.shape[0]):
        Jc = Jd[b].to(R.dtype)
        for j in range(k):
            LU, piv, info = torch.linalg.lu_factor_ex(Jc - lam[b, j] * eye)
            r = torch.linalg.lu_solve(LU, piv, R[b, :, j, None])[:, 0]
            left = torch.linalg.lu_solve(LU, piv, L[b, j, :, None].conj(), adjoint=True)[:, 0].conj()  # A^T l' = l
            c = (R[b, :, j].conj() * r).sum()
            cos_r = float(c.abs() / (r.norm() * R[b, :, j].norm()))
            r = r * (c.conj() / c.abs()) / r.norm()
            left = left / (left * r).sum()
            rho = ((left @ Jc) * r).sum()  # l' r' = 1
            cos_l = float((L[b, j].conj() * left).sum().abs() / (L[b, j].norm() * left.norm()))
            finite = bool(torch.isfinite(r).all() and torch.isfinite(left).all() and torch.isfinite(rho))
            if int(info) == 0 and finite and min(cos_r, cos_l) > math.cos(0.05):
                R[b, :, j], L[b, j], lam[b, j] = r, left, rho
    return lam, R, L


def _checked_left(
    Jd: Tensor, LJ: Tensor, lam: Tensor, R: Tensor, L: Tensor, info: Tensor, rows: int, tol: float
) -> Tensor:
    """``L`` with the rows of the points where it is not usable replaced (see :func:`_left_from_transpose`).

    A singular or numerically singular R (repeated eigenvalues, e.g. saturated or dead units) gives no usable
    inverse: L R = I is checked on the slowest modes, the ones the analysis reads. L R = I is not enough: beside
    a defective block eig returns nearly parallel columns whose exact inverse has rows that are not left
    eigenvectors, so l_k J = lambda_k l_k itself is checked too (relative to ||l_k|| ||J||, max norms). ``tol``
    follows the precision of the decomposition (float32 vectors are accurate to ~1e-6 relative, not 1e-12)."""
    top = LJ.shape[1]
    eye = torch.eye(R.shape[-1], dtype=R.dtype, device=R.device)[:top]
    resid = (L[:, :top, :] @ R - eye).abs().flatten(1).amax(1)
    Lt = L[:, :top, :]
    scale = Lt.abs().amax(-1) * Jd.abs().amax((1, 2)).clamp_min(1e-300)[:, None]
    left = ((LJ - lam[:, :top, None] * Lt).abs().amax(-1) / scale).amax(1)
    bad = (info != 0) | ~torch.isfinite(resid) | (resid > tol) | ~torch.isfinite(left) | (left > tol)
    if bool(bad.any()):
        L = L.clone()
        for b in bad.nonzero().flatten().tolist():
            L[b] = _left_from_transpose(Jd[b], lam[b], R[b])[:rows]
    return L


def _first_rows_of_inverse(R: Tensor, rows: int) -> tuple[Tensor, Tensor]:
    """The first ``rows`` rows of R^-1 for a batch ``R [P, S, S]`` (one LU solve of R^T Y = E instead of the
    whole inverse) and LAPACK's info per matrix (> 0: singular)."""
    E = torch.eye(R.shape[-1], rows, dtype=R.dtype, device=R.device)
    Rt = R.transpose(1, 2)
    if R.is_cuda or R.shape[-1] <= _CPU_BATCHED_LU_MAX:  # batched LU fails above ~200 on the CPU (see there)
        Y, info = torch.linalg.solve_ex(Rt, E.expand(R.shape[0], -1, -1))
    else:
        parts = [torch.linalg.solve_ex(a, E) for a in Rt]
        Y = torch.stack([y for y, _ in parts]) if parts else E.expand(0, -1, -1)
        info = torch.stack([i for _, i in parts]) if parts else torch.zeros(0, dtype=torch.int32)
    return Y.transpose(1, 2), info


def _left_from_transpose(J: Tensor, lam: Tensor, R: Tensor) -> Tensor:
    """Left eigenvectors of one ``J [S, S]`` whose right-eigenvector matrix ``R`` is singular (a repeated
    eigenvalue without a full set of independent eigenvectors, e.g. units whose tanh is saturated or
    dead: their rows of J are zero). The left eigenvectors are the right eigenvectors of J^T; each
    eigenvalue ``lam[k]`` (in R's order) takes the nearest unused eigenvalue of J^T, and its row is
    scaled so that l_k . r_k = 1 (left as a unit vector where l_k . r_k is ~0, which happens only inside
    a repeated eigenvalue). A simple eigenvalue (such as the slowest mode of a line attractor) gets
    exactly its left eigenvector; modes inside a repeated eigenvalue are not biorthogonal to each other.
    """
    mu, W = torch.linalg.eig(J.T)
    free = torch.ones(mu.shape[0], dtype=torch.bool, device=mu.device)
    L = torch.empty_like(R.T)
    for k in range(lam.shape[0]):
        d = (mu - lam[k]).abs()
        d[~free] = float("inf")
        j = int(d.argmin())
        free[j] = False
        w = W[:, j]
        dot = (w * R[:, k]).sum()  # l . r without conjugation: J^T w = mu w
        L[k] = w / dot if float(dot.abs()) > 1e-10 else w / w.norm()
    return L


def linearize(
    step: StepLike,
    points: TensorLike,
    inputs: TensorLike | None = None,
    *,
    chunk_size: int | None = None,
    modes: int | None = None,
    vectors: bool = True,
) -> Linearization:
    """Jacobians ``dF/dh``, ``dF/dx`` and the eigendecomposition of ``dF/dh`` at every point.

    Args:
        step: as for :func:`rnnlens.fixedpoints.find_fixed_points` (cell, torch RNN module, callable).
        points: a :class:`~rnnlens.fixedpoints.FixedPoints` (its inputs are used) or a tensor ``[P, S]``.
        inputs: None (zeros), ``[I]`` or ``[P, I]``; must be None when ``points`` is a FixedPoints.
        chunk_size: points per batch of Jacobians + eigendecompositions (bounds the temporary memory); None:
            as many as keep the decomposition's temporaries (about 48 S^2 bytes a point) near 1 GiB, at most 256.
        modes: keep only the first ``modes`` eigenvectors (columns of R, rows of L); None keeps all.
        vectors: False skips R and L (eigenvalues only; much less memory).

    Returns:
        A :class:`Linearization` with one row per point, in the order of ``points``: the points and their
        inputs, ``J_rec``, ``J_inp``, the eigenvalues sorted by ``|lambda|`` descending, R and L (None with
        ``vectors=False``), the time constants ``tau`` and ``n_unstable``; without autograd graph.

    Raises:
        ArgumentError: ``inputs`` given with a FixedPoints, a bad ``chunk_size`` or ``modes`` (not in
            ``[1, S]``), a step that is not one of the kinds above, or points or inputs of the wrong shape
            or dtype or holding NaN/inf.
    """
    if isinstance(points, FixedPoints):
        if inputs is not None:
            raise ArgumentError("linearize: points is a FixedPoints, which carries its inputs; pass inputs=None.")
        points, inputs = points.points, points.inputs
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1):
        raise ArgumentError(f"linearize: chunk_size must be a positive integer or None, got {chunk_size!r}.")
    fn = as_step(step)
    fn.check_parameters()
    h, x = fn.prepare(points, inputs, name="points")
    S = h.shape[1]
    if modes is not None and (isinstance(modes, bool) or not isinstance(modes, int) or not 1 <= modes <= S):
        raise ArgumentError(f"linearize: modes must be an integer in [1, {S}] or None, got {modes!r}.")
    if chunk_size is None:
        chunk_size = max(1, min(256, (1 << 30) // (48 * S * S)))
    parts: dict[str, list] = {k: [] for k in ("J_rec", "J_inp", "eigvals", "R", "L")}
    cell = closed_form_cell(fn)
    for i in range(0, h.shape[0], chunk_size):
        # plain arrays for the user: no autograd graph back into their module's parameters
        J_rec, J_inp = (J.detach() for J in fn.jacobians(x[i : i + chunk_size], h[i : i + chunk_size]))
        if cell is not None:  # elementwise linear in the state: the spectrum in closed form, no LAPACK
            lam, R, L = closed_form_modes(cell, x[i : i + chunk_size], modes=modes, vectors=vectors)
        else:
            lam, R, L = eigendecompose(J_rec, modes=modes, vectors=vectors)
        for k, v in zip(parts, (J_rec, J_inp, lam, R, L)):
            parts[k].append(v)
    # one chunk (the usual case) is returned as it is: torch.cat would copy every Jacobian and eigenvector once more
    cat = {k: (None if not v or v[0] is None else v[0] if len(v) == 1 else torch.cat(v)) for k, v in parts.items()}
    mag = cat["eigvals"].abs().to(torch.float64)
    tau = (1.0 / mag.log().abs()).to(h.dtype)
    n_unstable = (mag > 1 + UNSTABLE_EPS * torch.finfo(h.dtype).eps).sum(1)
    return Linearization(points=h, inputs=x, tau=tau, n_unstable=n_unstable, **cat)
