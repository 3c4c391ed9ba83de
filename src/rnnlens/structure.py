"""Jacobians with structure, found from their numbers: the same matrix at every point, and a matrix made of
diagonal blocks (diagonal, as a minGRU's, minLSTM's or S6's ``dF/dh``; or the four diagonal blocks of a complex
diagonal map written in ``[Re z, Im z]``, as the LRU's). The linearized rollout
(:mod:`rnnlens.analysis.dynamics`) and the slow manifold's polish (:mod:`rnnlens.manifold`) then work in O(S)
per row instead of O(S^2) or O(S^3)."""

from __future__ import annotations

import torch

__all__ = ["all_same", "diagonal_blocks"]


def all_same(J: torch.Tensor) -> bool:
    """Whether every ``J[p]`` equals ``J[0]`` (point by point: stops at the first that differs)."""
    return all(torch.equal(J[p], J[0]) for p in range(1, J.shape[0]))


def diagonal_blocks(J: torch.Tensor) -> list | None:
    """``J`` [S, S] as diagonal blocks: ``[d]`` when it is diagonal, ``[A, B, C, D]`` (each [S/2]) when it is
    ``[[diag A, diag B], [diag C, diag D]]``; None otherwise (copies: no view keeps ``J`` alive)."""
    S = J.shape[0]
    d = torch.diagonal(J)
    if torch.equal(J, torch.diag_embed(d)):
        return [d.clone()]
    if S % 2:
        return None
    N = S // 2
    parts = [torch.diagonal(J[r : r + N, c : c + N]) for r in (0, N) for c in (0, N)]
    rebuilt = torch.zeros_like(J)
    for (r, c), v in zip(((0, 0), (0, N), (N, 0), (N, N)), parts):
        rebuilt[r : r + N, c : c + N] = torch.diag_embed(v)
    return [v.clone() for v in parts] if torch.equal(J, rebuilt) else None
