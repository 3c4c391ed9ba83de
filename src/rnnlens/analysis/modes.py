"""Eigenmodes at fixed points: orientation of the top mode, time constants, overlaps, word valence.

Pure numpy on the arrays of a ``rnnlens.linearization.Linearization`` (eigvals, R, L, tau, J_inp), so
the pieces can be checked on hand-built linear systems.

Sign convention (used everywhere in rnnlens): the top right eigenvector r_1 at each fixed point is
rescaled by a unit complex number c so that ``w . r_1`` is real and >= 0, where w is the readout
direction (``geometry.readout_direction``); the left eigenvector l_1 is divided by the same c so that
``l_1 r_1 = 1`` still holds. A positive input projection ``l_1^T J_inp x`` therefore moves the state
along r_1 in the direction that increases the readout logit.
"""

from __future__ import annotations

import numpy as np

from rnnlens.analysis.geometry import abs_cos
from rnnlens.errors import ArgumentError

SIGN_CONVENTION = (
    "r_1 (top right eigenvector) is scaled by a unit complex number so that readout . r_1 >= 0; "
    "l_1 (top left eigenvector, a row of R^-1) is scaled inversely so that l_1 r_1 = 1. m (main "
    "axis of the fixed points) is oriented so that readout . m >= 0. Hence a positive word valence "
    "l_1^T J_inp x pushes the state along the line towards a larger readout logit (the last label; "
    "for k > 2 labels the readout direction is W[last] - W[first])."
)


def orient_top_mode(R, L, readout) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Oriented top right/left eigenvectors (see the module's sign convention).

    ``R`` [P, S, K] (right eigenvectors as columns, sorted by |lambda| descending), ``L`` [P, K, S]
    (the first K rows of R^-1, left eigenvectors), ``readout`` [S]; K >= 1. Returns (r1 [P, S], l1 [P, S], w_dot_r1 [P])
    where ``w_dot_r1`` = readout . r1 (real, >= 0; 0 when r1 is orthogonal to the readout, in which
    case the orientation is arbitrary).
    """
    R = np.asarray(R)
    L = np.asarray(L)
    w = np.asarray(readout, dtype=np.float64)
    if R.ndim != 3 or L.shape != (R.shape[0], R.shape[2], R.shape[1]) or R.shape[1] != w.shape[0]:
        raise ArgumentError(
            f"R and L must be [P, S, K] and [P, K, S] and readout [S]; got {R.shape}, {L.shape}, {w.shape}"
        )
    r1 = R[:, :, 0].astype(np.complex128)
    l1 = L[:, 0, :].astype(np.complex128)
    proj = r1 @ w
    mag = np.abs(proj)
    c = np.where(mag > 0, np.conj(proj) / np.where(mag > 0, mag, 1.0), 1.0)
    r1 = r1 * c[:, None]
    l1 = l1 / c[:, None]
    return r1, l1, (r1 @ w).real


def orient_along(r1, l1, direction) -> tuple[np.ndarray, np.ndarray]:
    """``r1`` and ``l1`` [P, S] flipped, point by point, where Re(r1) . direction < 0 (``direction`` [P, S], e.g.
    the tangent of the slow manifold towards its high-readout end); l1 r1 is unchanged."""
    sign = np.where(np.einsum("ps,ps->p", np.asarray(r1).real, direction) < 0, -1.0, 1.0)
    return r1 * sign[:, None], l1 * sign[:, None]


def mode_stats(eigvals, tau, r1, m, *, n_tau: int = 3) -> dict:
    """Per-fixed-point summary of the spectrum.

    Returns ``abs_lambda1`` [P] (|lambda_1|, the largest eigenvalue modulus), ``tau_top`` [P, n_tau]
    (tau_a = 1/|ln|lambda_a|| in tokens for the n_tau slowest modes) and ``r1_m_overlap`` [P]
    (|cos| between the top right eigenvector r_1 and the manifold axis m).
    """
    eigvals = np.asarray(eigvals)
    tau = np.asarray(tau, dtype=np.float64)
    r1 = np.asarray(r1)
    k = min(n_tau, tau.shape[1])
    return {
        "abs_lambda1": np.abs(eigvals[:, 0]).astype(np.float64),
        "tau_top": tau[:, :k],
        "r1_m_overlap": np.array([abs_cos(r, m) for r in r1]),
    }


def input_projections(l1, J_inp, embeddings, *, chunk: int = 4096) -> np.ndarray:
    """Word valence at each fixed point: Re(l_1^T J_inp x_word) for every embedding row.

    ``l1`` [P, S] (oriented, complex allowed), ``J_inp`` [P, S, I], ``embeddings`` [V, I].
    Returns [P, V] float32. J_inp x_word is the linear (first-order) effect of the word on the
    state at the fixed point; l_1^T picks its component along the slow mode r_1.
    """
    l1 = np.asarray(l1)
    J = np.asarray(J_inp)
    E = np.asarray(embeddings, dtype=np.float64)
    if J.ndim != 3 or l1.shape != J.shape[:2] or E.shape[1] != J.shape[2]:
        raise ArgumentError(f"shapes do not fit: l1 {l1.shape}, J_inp {J.shape}, embeddings {E.shape}")
    u = np.einsum("ps,psi->pi", l1, J).real  # [P, I]: the row vector l_1^T J_inp per point
    out = np.empty((u.shape[0], E.shape[0]), dtype=np.float32)
    for a in range(0, E.shape[0], chunk):
        out[:, a : a + chunk] = u @ E[a : a + chunk].T
    return out
