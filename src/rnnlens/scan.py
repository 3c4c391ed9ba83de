"""The chunked scan of an elementwise linear recurrence ``h_t = a_t * h_{t-1} + b_t``.

The minimal gated cells (minGRU, minLSTM), the LRU and the selective state-space layer (S6) all update their
state this way, with ``a_t`` and ``b_t`` computed from the input alone (complex for the LRU). Their fast path
is then one input projection for the whole sequence and this scan, instead of a Python step per token.

:func:`diagonal_scan` splits the T steps into chunks of about ``sqrt(T)`` steps: it runs the recurrence inside
every chunk at once (one vectorised step per position in a chunk), then carries the state across chunks (one
step per chunk), then adds each chunk's carried-in state times the chunk's running product of ``a``. That is
about ``2 sqrt(T)`` vectorised steps instead of T, with the same products as the sequential loop (no division,
no logarithm: a that underflow to 0, or equal 1 exactly, are fine). The backward pass is the same scan run
backwards over the adjoint ``g_t = dL/dh_t + conj(a_{t+1}) g_{t+1}``, written by hand, so autograd keeps no
per-step graph.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlens.errors import ArgumentError

__all__ = ["diagonal_scan", "sequential_scan"]


def _chunk_length(T: int) -> int:
    return max(1, int(math.ceil(math.sqrt(T))))


@torch.no_grad()
def _scan(a: Tensor, b: Tensor, h0: Tensor, reverse: bool = False) -> Tensor:
    """Every ``h_t`` ``[B, T, M]`` of ``h_t = a_t h_{t-1} + b_t`` from ``h0`` ``[B, M]`` (no autograd); with
    ``reverse``, of ``h_t = a_t h_{t+1} + b_t`` from ``h_T = h0``. ``a`` may have a batch dimension of 1 (it is
    broadcast, not copied). Few temporaries: large ones cost page faults as well as arithmetic."""
    B, T, M = b.shape
    L = _chunk_length(T)
    nc = -(-T // L)
    pad = nc * L - T
    a = a.expand(a.shape[0], T, M)
    if pad:  # the identity step (a = 1, b = 0) fills the last chunk; those outputs are dropped
        a = torch.cat([a, a.new_ones(a.shape[0], pad, M)], 1)
        b = torch.cat([b, b.new_zeros(B, pad, M)], 1)
    a = a.reshape(a.shape[0], nc, L, M)
    b = b.reshape(B, nc, L, M)
    local = torch.empty_like(b)  # the scan inside each chunk, from a zero state
    prod = torch.empty(a.shape, dtype=b.dtype, device=b.device)  # the running product of a inside each chunk
    steps = range(L - 2, -1, -1) if reverse else range(1, L)
    first, step = (L - 1, 1) if reverse else (0, -1)
    local[:, :, first] = b[:, :, first]
    prod[:, :, first] = a[:, :, first]
    for t in steps:
        torch.addcmul(b[:, :, t], a[:, :, t], local[:, :, t + step], out=local[:, :, t])
        torch.mul(a[:, :, t], prod[:, :, t + step], out=prod[:, :, t])
    carry = torch.empty(B, nc, M, dtype=b.dtype, device=b.device)  # the state entering each chunk
    h = h0.to(b.dtype)
    last = 0 if reverse else L - 1
    for c in range(nc - 1, -1, -1) if reverse else range(nc):
        carry[:, c] = h
        h = torch.addcmul(local[:, c, last], prod[:, c, last], h)
    out = local.addcmul_(prod, carry.unsqueeze(2))
    return out.reshape(B, nc * L, M)[:, :T]


class _DiagonalScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, b, h0):
        out = _scan(a, b, h0)
        ctx.save_for_backward(a, h0, out)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        a, h0, out = ctx.saved_tensors
        B, T, M = out.shape
        at = a.expand(a.shape[0], T, M)
        # adjoint: g_t = grad_t + conj(a_{t+1}) g_{t+1} (g_T = 0), a reversed scan with the coefficients shifted by one
        shifted = torch.empty(at.shape, dtype=at.dtype, device=at.device)
        shifted[:, :-1] = at[:, 1:].conj()
        shifted[:, -1] = 0
        g = _scan(shifted, grad.to(out.dtype), grad.new_zeros(B, M, dtype=out.dtype), reverse=True)
        ga = torch.empty_like(g)  # dL/da_t = g_t conj(h_{t-1}), h_{-1} = h0
        torch.mul(g[:, 0], h0.to(out.dtype).conj(), out=ga[:, 0])
        torch.mul(g[:, 1:], out[:, :-1].conj(), out=ga[:, 1:])
        if a.shape != ga.shape:  # a was broadcast over batch or time: sum the gradient back to its shape
            dims = [d for d in range(3) if a.shape[d] == 1 and ga.shape[d] != 1]
            ga = ga.sum(dims, keepdim=True)
        if not a.is_complex() and ga.is_complex():
            ga = ga.real
        gh0 = g[:, 0] * at[:, 0].conj()
        if not h0.is_complex() and gh0.is_complex():
            gh0 = gh0.real
        return ga, g, gh0


def _check(a, b, h0) -> None:
    if not isinstance(b, Tensor) or b.dim() != 3:
        raise ArgumentError(f"diagonal_scan: b must be a tensor [batch, time, M], got {getattr(b, 'shape', type(b))}.")
    if not isinstance(a, Tensor) or a.dim() != 3 or any(s not in (1, t) for s, t in zip(a.shape, b.shape)):
        raise ArgumentError(
            f"diagonal_scan: a must be a tensor [batch, time, M] (or broadcastable to b's {tuple(b.shape)}), "
            f"got {getattr(a, 'shape', type(a))}."
        )
    if h0 is not None and (not isinstance(h0, Tensor) or tuple(h0.shape) != (b.shape[0], b.shape[2])):
        raise ArgumentError(
            f"diagonal_scan: h0 must be a tensor [batch={b.shape[0]}, M={b.shape[2]}], "
            f"got {getattr(h0, 'shape', type(h0))}."
        )


def diagonal_scan(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """Every state of ``h_t = a_t * h_{t-1} + b_t`` (elementwise), by the chunked scan.

    Args:
        a: ``[B, T, M]`` coefficients, real or complex; a size-1 batch or time dimension is broadcast (a
            constant ``a``, as in the LRU, is ``[1, 1, M]``).
        b: ``[B, T, M]`` inputs (complex when ``a`` is).
        h0: ``[B, M]`` the state before step 0; None: zeros.

    Returns:
        ``[B, T, M]``: entry t is the state after step t. Differentiable in ``a``, ``b`` and ``h0`` (a hand-written
        backward pass: the same scan over the adjoint).

    Raises:
        ArgumentError: shapes that do not fit.
    """
    _check(a, b, h0)
    if h0 is None:
        h0 = b.new_zeros(b.shape[0], b.shape[2])
    return _DiagonalScan.apply(a, b, h0)


def sequential_scan(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """The same states by the plain loop over time (the reference the tests hold :func:`diagonal_scan` to)."""
    _check(a, b, h0)
    B, T, M = b.shape
    a = a.expand(B, T, M)
    h = b.new_zeros(B, M) if h0 is None else h0.to(b.dtype)
    out = []
    for t in range(T):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, 1)
