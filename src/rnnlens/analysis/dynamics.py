"""Dynamics checks around fixed points: one-step linearization error, classification with the
linearized dynamics alone, and the speed of approach to the attractor at constant input.

Functions take torch tensors (any float dtype; computed in the dtype of the Jacobians) and a step
function ``step(x [B, I], h [B, S]) -> [B, S]`` where needed.
"""

from __future__ import annotations

import torch

from rnnlens.errors import ArgumentError


def nearest_point(h: torch.Tensor, points: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
    """Index [N] of the nearest (Euclidean) of ``points`` [P, S] for every row of ``h`` [N, S].

    Few points (P <= ``chunk``): exact distances in ``h``'s precision. Many points (e.g. every visited
    state): the nearest point of each block of ``chunk`` points is found with float32 matrix products
    (a third of the cost of ``cdist`` in float64), then the nearest of those block winners by exact
    distances in ``h``'s precision. It can differ from an all-float64 search only where two points of
    one block are equally near within float32 rounding (~1e-7 of ||h||^2 in squared distance).
    """
    if points.shape[0] == 0:
        raise ArgumentError("nearest_point needs at least one fixed point")
    out = torch.empty(h.shape[0], dtype=torch.long, device=h.device)
    pts = points.to(h.dtype)
    if points.shape[0] <= chunk:
        for a in range(0, h.shape[0], chunk):
            out[a:a + chunk] = torch.cdist(h[a:a + chunk], pts).argmin(dim=1)
        return out
    p32 = pts.float()
    p2 = (p32 * p32).sum(1)
    n_blocks = -(-p32.shape[0] // chunk)
    rows = max(1, min(chunk, (1 << 22) // (n_blocks * pts.shape[1])))     # the exact refinement's [rows, blocks, S]
    for a in range(0, h.shape[0], rows):
        q = h[a:a + rows]
        q32 = q.float()
        # per block: argmin of ||p||^2 - 2 q . p (the ||q||^2 term is the same for every p)
        cand = torch.stack([torch.addmm(p2[b:b + chunk], q32, p32[b:b + chunk].T, alpha=-2).argmin(1) + b
                            for b in range(0, p32.shape[0], chunk)], 1)        # [m, blocks]
        exact = ((q[:, None, :] - pts[cand]) ** 2).sum(2)
        out[a:a + rows] = cand.gather(1, exact.argmin(1, keepdim=True)).squeeze(1)
    return out


def linear_step(h, x, idx, points, x_star, J_rec, J_inp) -> torch.Tensor:
    """One step of the linearized dynamics around fixed point ``idx`` (per row):
    h_lin = h* + J_rec (h - h*) + J_inp (x - x*). Rows are grouped by their point, so each point's
    Jacobians are used in one matrix product and never copied per row."""
    dtype = J_rec.dtype
    out = torch.empty(h.shape, dtype=dtype)
    xs = x_star.to(dtype)
    h, x = h.to(dtype), x.to(dtype)
    order = torch.argsort(idx, stable=True)
    uniq, counts = torch.unique_consecutive(idx[order], return_counts=True)
    start = 0
    for p, c in zip(uniq.tolist(), counts.tolist()):
        rows = order[start:start + c]
        start += c
        hs = points[p].to(dtype)
        out[rows] = hs + (h[rows] - hs) @ J_rec[p].T + (x[rows] - xs) @ J_inp[p].to(dtype).T
    return out


def one_step_errors(h_prev, x, h_next, points, x_star, J_rec, J_inp):
    """Relative one-step error of the linearization around the nearest fixed point.

    For each transition (h_prev -> h_next under input x): h* = nearest fixed point to h_prev,
    h_lin = h* + J_rec (h_prev - h*) + J_inp (x - x*), error = ||h_next - h_lin|| / ||h_next||.
    Returns (error [N], h_lin [N, S], index of the fixed point used [N]).
    """
    dtype = J_rec.dtype
    points = points.to(dtype)
    idx = nearest_point(h_prev.to(dtype), points)
    h_lin = linear_step(h_prev, x, idx, points, x_star, J_rec, J_inp)
    hn = h_next.to(dtype)
    err = torch.linalg.vector_norm(hn - h_lin, dim=1) / torch.linalg.vector_norm(hn, dim=1).clamp_min(1e-12)
    return err, h_lin, idx


def linear_rollout(x_seq, lengths, h0, points, x_star, J_rec, J_inp):
    """Run the linearized dynamics alone over whole sequences.

    At every token the state is updated by ``linear_step`` around the fixed point nearest to the
    *current linearized* state (the network's own nonlinear step is never used). ``x_seq`` [B, T, I],
    ``lengths`` [B] (>= 1), ``h0`` [B, S]. Returns (final state after each sequence's last valid
    token [B, S], diverged [B] bool: the state became non-finite).
    """
    dtype = J_rec.dtype
    points = points.to(dtype)
    h = h0.to(dtype).clone()
    final = torch.full_like(h, float("nan"))
    for t in range(x_seq.shape[1]):
        alive = lengths > t
        if not alive.any():
            break
        rows = alive.nonzero().squeeze(1)
        hc = h[rows]
        ok = torch.isfinite(hc).all(dim=1)
        idx = torch.zeros(rows.shape[0], dtype=torch.long)
        if ok.any():
            idx[ok] = nearest_point(hc[ok], points)
        hc = torch.where(ok.unsqueeze(1), linear_step(torch.nan_to_num(hc), x_seq[rows, t], idx, points,
                                                      x_star, J_rec, J_inp), torch.full_like(hc, float("nan")))
        h[rows] = hc
        done = rows[lengths[rows] == t + 1]
        final[done] = h[done]
    diverged = ~torch.isfinite(final).all(dim=1)
    return final, diverged


@torch.no_grad()
def approach_speed(step, h0, x_star, n_steps: int = 100) -> torch.Tensor:
    """Normalised speed ||h_{t+1} - h_t|| / ||h_t|| for ``n_steps`` steps of ``step`` at constant input
    ``x_star`` [I], from the states ``h0`` [n, S]. Returns [n, n_steps]."""
    if n_steps < 1:
        raise ArgumentError(f"n_steps must be >= 1; got {n_steps}")
    h = h0.clone()
    x = x_star.to(h.dtype).expand(h.shape[0], -1)
    out = torch.empty(h.shape[0], n_steps, dtype=h.dtype, device=h.device)
    for t in range(n_steps):
        h_new = step(x, h)
        out[:, t] = torch.linalg.vector_norm(h_new - h, dim=1) / torch.linalg.vector_norm(h, dim=1).clamp_min(1e-12)
        h = h_new
    return out
