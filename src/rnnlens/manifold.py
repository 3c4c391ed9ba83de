"""The slow manifold of a step ``h' = F(x*, h)``, traced as an ordered curve.

A trained sentiment network integrates along an approximate line attractor: a curve of *slow*
points where ``q(h) = (1/N)||F(h) - h||^2`` is small but, except at a few exact fixed points
(typically a stable point at each end and a saddle between), not zero. Seeding a fixed-point solver
from many states and keeping the points under a tolerance (the paper's method, kept in
:func:`rnnlens.fixedpoints.find_fixed_points`) shows the curve only where q happens to be under
the tolerance, and a solver that keeps going collapses the points onto the exact fixed points.

:func:`trace_slow_manifold` traces the curve itself, in three steps:

1. **Relax.** Run the network's own dynamics at the constant input x* from visited states. Fast
   modes decay in a few tokens, so the states settle onto the slow manifold (and then drift slowly
   along it, towards its stable ends). The states after ``init_steps`` (still spread along the
   whole line) and after ``relax_steps`` are the *slow points*.
2. **Principal curve.** Start from the slow points' main axis (top principal component, oriented
   so that the readout grows along it); then alternately project every slow point on the curve
   and fit each of the ``n_points`` nodes as the local-linear Gaussian-kernel estimate of the
   points by their position along it.
   The curve follows the slow points where they are, straight or bent.
3. **Valley floor.** Move each node to the minimum of q on the hyperplane through it normal to the
   curve (batched, damped Gauss-Newton / Levenberg-Marquardt steps restricted to the hyperplane),
   within the spread of the slow points around the node: where q is flat in further directions
   (several slow modes), a node must not slide along them, away from the network's states.

Then the exact fixed points on the curve are found by an unconstrained search started at the
nodes where q has a local minimum along the curve, and each is classified by its number of
unstable modes (0: stable, 1: saddle, ...).

Why this method: the slow points *are* the attracting slow manifold (fast transients gone), so a
curve through them is the direct estimate, and it needs nothing but F; the q minimisation only
removes their residual spread across it. Minimising q alone (on slices by the readout value, or with
pseudo-arclength continuation from a fixed point) was tried first: where a network has several slow
modes (tau_2 of hundreds of tokens in the GRUs measured), the valley floor of q is flat in more than
one direction and the minimisers wander across it, leaving a zigzag curve far from the states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnlens._types import StepLike, TensorLike
from rnnlens.constants import MANIFOLD_NODES, RELAX_STEPS
from rnnlens.errors import ArgumentError

__all__ = ["SlowManifold", "trace_slow_manifold", "curve_variance_explained", "project_on_curve"]


@dataclass
class SlowManifold:
    """A traced slow manifold: ``n`` nodes ordered from the low-readout end to the high-readout end.

    points ``[n, S]`` (float64); inputs ``[n, I]`` (x* at every node); arclength ``[n]`` (distance
    along the curve from the first node); readout ``[n]`` (the readout direction . h, or the arc
    length when no readout was given); tangent ``[n, S]`` (unit); q ``[n]`` = (1/N)||F(h) - h||^2
    (the paper's) and q_half ``[n]`` = 0.5||F(h) - h||^2; relaxed ``[M, S]``: the relaxed states the
    curve was traced through, with relaxed_q ``[M]``; fixed_points: the exact fixed points on the
    curve (a :class:`rnnlens.fixedpoints.FixedPoints`, converged ones only; may be empty) and
    fixed_point_unstable ``[F]`` (number of |lambda| > 1 at each); info: settings and convergence
    (iterations of each phase, nodes that had not settled when the iterations ran out).
    """

    points: Tensor
    inputs: Tensor
    arclength: Tensor
    readout: Tensor
    tangent: Tensor
    q: Tensor
    q_half: Tensor
    relaxed: Tensor
    relaxed_q: Tensor
    fixed_points: Any
    fixed_point_unstable: Tensor
    info: dict

    def __len__(self) -> int:
        return int(self.points.shape[0])


def _q(F: Tensor, h: Tensor) -> Tensor:
    return ((F - h) ** 2).mean(1)


def _tangents(P: Tensor, window: int = 1) -> Tensor:
    """Unit tangents of a polyline: the top principal direction of the nodes within ``window`` places
    (a chord, i.e. central differences, for ``window=1``), oriented along the curve. At the ends the
    window is cut to the nodes that exist. All nodes in one batched SVD."""
    n = P.shape[0]
    offs = torch.arange(-window, window + 1, device=P.device)
    idx = torch.arange(n, device=P.device).unsqueeze(1) + offs  # [n, 2w+1]
    valid = ((idx >= 0) & (idx < n)).to(P.dtype).unsqueeze(2)
    seg = P[idx.clamp(0, n - 1)] * valid  # [n, 2w+1, S]
    count = valid.sum(1)
    centred = (seg - (seg.sum(1) / count).unsqueeze(1)) * valid
    _, _, Vh = torch.linalg.svd(centred, full_matrices=False)
    d = Vh[:, 0]
    first = idx.clamp(0, n - 1)[:, 0]
    last = idx.clamp(0, n - 1)[:, -1]
    chord = P[last] - P[first]
    d = d * torch.sign((d * chord).sum(1, keepdim=True) + 1e-300)
    return d / d.norm(dim=1, keepdim=True).clamp_min(1e-300)


def _arclength(P: Tensor) -> Tensor:
    seg = (P[1:] - P[:-1]).norm(dim=1)
    return torch.cat([seg.new_zeros(1), torch.cumsum(seg, 0)])


def _normal_lm_step(fn, x: Tensor, h: Tensor, t: Tensor, lam: Tensor) -> tuple[Tensor, Tensor]:
    """Levenberg-Marquardt steps on 0.5||F(h) - h||^2 restricted to the hyperplanes t . dh = 0.

    Returns (candidate h, q at the candidate). With A = J - I and the projector P = I - t t^T, the
    step solves (P A^T A P + lam I) d = -P A^T r; its t-component is zero because that row reads
    lam d_t = 0.
    """
    F = fn.step(x, h)
    r = F - h
    J = fn.jacobian_rec(x, h).detach()
    d = _structured_lm_direction(J, r, t, lam)
    if d is None:
        d = _dense_lm_direction(J, r, t, lam)
    d = d - (d * t).sum(1, keepdim=True) * t  # exactly in the hyperplane
    h_new = h + d
    return h_new, _q(fn.step(x, h_new), h_new)


def _dense_lm_direction(J: Tensor, r: Tensor, t: Tensor, lam: Tensor) -> Tensor:
    """The step of :func:`_normal_lm_step` by a Cholesky solve per node (0 where the system is not positive
    definite)."""
    A = J - torch.eye(J.shape[1], dtype=J.dtype, device=J.device)
    AP = A - (A @ t.unsqueeze(2)) * t.unsqueeze(1)  # A P
    g = (AP.transpose(1, 2) @ r.unsqueeze(2)).squeeze(2)  # P A^T r
    H = AP.transpose(1, 2) @ AP
    H.diagonal(dim1=1, dim2=2).add_(lam.unsqueeze(1))
    L, info = torch.linalg.cholesky_ex(H)
    d = -torch.cholesky_solve(g.unsqueeze(2), L).squeeze(2)
    d[info != 0] = 0.0
    return d


def _structured_lm_direction(J: Tensor, r: Tensor, t: Tensor, lam: Tensor) -> Tensor | None:
    """The step of :func:`_normal_lm_step` in O(S) per node where every node has the same ``J`` and ``A^T A`` is
    diagonal (``A = J - I`` diagonal, or a complex diagonal map in ``[Re z, Im z]``, whose ``A^T A`` is
    ``|lambda - 1|^2`` twice: rnnlens.structure); None otherwise.

    With ``A^T A = D`` and ``d`` in the hyperplane, ``(P D P + lam I) d = -P A^T r`` reads
    ``(D + lam) d = g + mu t`` (``g = -P A^T r``), and ``t . d = 0`` fixes ``mu``."""
    from rnnlens.structure import all_same, diagonal_blocks

    blocks = diagonal_blocks(J[0]) if all_same(J) else None
    if blocks is None:
        return None
    if len(blocks) == 1:
        a = blocks[0] - 1
        Atr, D = a * r, a * a
    else:
        a11, a12, a21, a22 = blocks[0] - 1, blocks[1], blocks[2], blocks[3] - 1
        if bool((a11 * a12 + a21 * a22 != 0).any()):  # A^T A has off-diagonal entries
            return None
        N = a11.shape[0]
        r1, r2 = r[:, :N], r[:, N:]
        Atr = torch.cat([a11 * r1 + a21 * r2, a12 * r1 + a22 * r2], 1)
        D = torch.cat([a11 * a11 + a21 * a21, a12 * a12 + a22 * a22])
    g = -(Atr - (Atr * t).sum(1, keepdim=True) * t)
    inv = 1.0 / (D + lam.unsqueeze(1))
    mu = -(inv * g * t).sum(1, keepdim=True) / (inv * t * t).sum(1, keepdim=True)
    return inv * (g + mu * t)


def _descend(
    fn, x: Tensor, h: Tensor, normal: Tensor, n_iter: int, radius: Tensor | None = None, min_decrease: float = 0.01
):
    """LM on q restricted to the hyperplanes through ``h`` normal to ``normal`` (per node).

    A node stops at the first accepted step that lowers its q by less than ``min_decrease`` (relative):
    it has reached the valley floor of its hyperplane. Going on would only let it slide along a
    direction in which q is flat (e.g. into a region where the gates saturate and every state is
    nearly fixed), far from the states the network visits. Returns (nodes, iterations, number of
    nodes that had not stopped after ``n_iter``). ``radius`` [n]: a node also stops rather than move
    farther than this from where it started (a trust region around the visited states)."""
    start = h.clone()
    q = _q(fn.step(x, h), h)
    lam = 1e-3 * (1 + q)
    active = torch.ones_like(q, dtype=torch.bool)
    it = 0
    for it in range(1, n_iter + 1):  # noqa: B007 (the last iteration's number is returned)
        idx = active.nonzero().squeeze(1)
        cand, q_new = _normal_lm_step(fn, x[idx], h[idx], normal[idx], lam[idx])
        ok = q_new < q[idx]
        done = ok & (q_new > (1 - min_decrease) * q[idx])
        if radius is not None:
            out = (cand - start[idx]).norm(dim=1) > radius[idx]
            done = done | out
            ok = ok & ~out
        acc = idx[ok]
        h[acc] = cand[ok]
        lam[idx] = torch.where(ok, lam[idx] / 3, lam[idx] * 4).clamp(1e-14, 1e8)
        q[acc] = q_new[ok]
        active[idx[done | (lam[idx] >= 1e8)]] = False
        if not bool(active.any()):
            break
    return h, it, int(active.sum())


def curve_variance_explained(states, curve) -> float:
    """1 - (mean squared distance of ``states`` to the polyline ``curve``) / (their total variance).

    The share of the states' variance that a position along the curve accounts for: 1 when every
    state lies on the curve, whether the curve is straight or bent (unlike the top-PC share, which
    a curved line lowers).
    """
    C = torch.as_tensor(curve, dtype=torch.float64)
    X = torch.as_tensor(states, dtype=torch.float64, device=C.device)
    _, dist = project_on_curve(X, C)
    total = ((X - X.mean(0)) ** 2).sum(1).mean()
    return float(1.0 - (dist**2).mean() / total) if float(total) > 0 else float("nan")


def project_on_curve(X: Tensor, C: Tensor, *, chunk: int = 4096) -> tuple[Tensor, Tensor]:
    """For each row of ``X [M, S]``: its arc-length position on the polyline ``C [n, S]`` and its distance.

    Each row is projected on every segment A + u (B - A), u clipped to [0, 1], and keeps the nearest
    foot. The dot products come from two matrix products (x . A and x . D for all segments at once)
    rather than from [M, n, S] differences: the squared distance is
    ||x - A||^2 - 2 u (x - A) . D + u^2 ||D||^2, exact up to rounding of the norms (float64: ~1e-14
    relative to ||x||^2).
    """
    s = _arclength(C)
    A, B = C[:-1], C[1:]
    D = B - A
    dd = (D * D).sum(1).clamp_min(1e-300)
    AA = (A * A).sum(1)
    AD = (A * D).sum(1)
    pos, dist = [], []
    for i in range(0, X.shape[0], chunk):
        x = X[i : i + chunk].to(C.dtype)
        xD = x @ D.T - AD  # (x - A) . D   [m, n-1]
        xA2 = (x * x).sum(1, keepdim=True) - 2 * (x @ A.T) + AA  # ||x - A||^2
        u = (xD / dd).clamp(0, 1)
        d2 = (xA2 - 2 * u * xD + u * u * dd).clamp_min(0)
        k = d2.argmin(1)
        rows = torch.arange(x.shape[0], device=x.device)
        pos.append(s[k] + u[rows, k] * dd[k].sqrt())
        dist.append(d2[rows, k].sqrt())
    return torch.cat(pos), torch.cat(dist)


def _kernel_means(X: Tensor, pos: Tensor, n: int, trim: float, bandwidth: float) -> tuple[Tensor, Tensor]:
    """``n`` new nodes evenly spaced in arc length between the ``trim`` quantiles of the points'
    positions ``pos``: at each, the local-linear Gaussian-kernel fit (bandwidth in node spacings) of
    the points ``X`` against their position (unlike a plain kernel mean it is not pulled inwards at the
    curve's ends); also the kernel-weighted RMS distance of the points from the node."""
    lo, hi = torch.quantile(pos, torch.tensor([trim, 1 - trim], dtype=pos.dtype, device=pos.device))
    t = torch.linspace(float(lo), float(hi), n, dtype=pos.dtype, device=pos.device)
    h = max(float(hi - lo) / (n - 1), 1e-12) * bandwidth
    d = pos[None, :] - t[:, None]  # [n, M]
    K = torch.exp(-0.5 * (d / h) ** 2)
    S0, S1, S2 = K.sum(1, keepdim=True), (K * d).sum(1, keepdim=True), (K * d * d).sum(1, keepdim=True)
    Kn = K / S0.clamp_min(1e-300)
    W = K * (S2 - d * S1) / (S0 * S2 - S1**2).clamp_min(1e-300)  # local-linear weights
    # where the points under the kernel sit at nearly one position (a gap between clusters of slow
    # points, e.g. around isolated stable points), a line fit extrapolates wildly: use the mean there
    var = (S2 / S0.clamp_min(1e-300) - (S1 / S0.clamp_min(1e-300)) ** 2).squeeze(1)
    W = torch.where((var >= (0.5 * h) ** 2).unsqueeze(1), W, Kn)
    nodes = W @ X
    spread = (Kn * torch.cdist(nodes, X) ** 2).sum(1).sqrt()
    return nodes, spread


def _check_int(v, name, lo):
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise ArgumentError(f"trace_slow_manifold: {name} must be an integer >= {lo}; got {v!r}")
    return v


def trace_slow_manifold(
    step: StepLike,
    states: TensorLike,
    readout: TensorLike | None = None,
    inputs: TensorLike | None = None,
    *,
    n_points: int = MANIFOLD_NODES,
    relax_steps: int = RELAX_STEPS,
    init_steps: int = 20,
    n_iter: int = 10,
    bandwidth: float = 2.0,
    n_polish: int = 20,
    tangent_window: int | None = None,
    trim: float = 0.01,
    fixed_point_tol: float = 1e-14,
    max_states: int = 2000,
    seed: int = 0,
) -> SlowManifold:
    """Trace the 1-D slow manifold of ``step`` at constant input through the region ``states`` visit.

    Args:
        step: an rnnlens cell, a torch ``nn.RNN``/``GRU``/``LSTM`` or a callable ``F(x, h) -> h'``
            (anything :func:`rnnlens.fixedpoints.as_step` accepts).
        states: visited states ``[M, S]`` (e.g. every state of many test documents); at most
            ``max_states`` of them (a seeded random subset) are relaxed.
        readout: the readout direction ``[S]`` (orients the curve: it runs from the low-readout end to the high-readout
            end, and ``SlowManifold.readout`` is readout . h); None orients it by the states' top principal component.
        inputs: the constant input x* (``[I]``; default zeros, the paper's choice).
        n_points: nodes on the curve.
        relax_steps: steps of the network's own dynamics at x*; the states after them are the
            slow points returned as ``relaxed`` (the ones the curve should explain).
        init_steps: the states after this many steps join the slow points (fewer than relax_steps:
            the fast modes have died, but the states have not yet drifted along the line towards its
            stable ends, so they still cover all of it).
        n_iter: principal-curve iterations (project the slow points on the curve, move each node to
            the kernel-weighted mean of the points by their position along it; at least 1).
        bandwidth: width of that Gaussian kernel in node spacings (it smooths the curve: the points'
            spread across the line would otherwise make it zigzag).
        n_polish: then at most this many LM iterations on q in the hyperplane through each node normal
            to the curve (a node stops when a step lowers its q by less than 1%, and stays within the
            spread of the slow points around it).
        tangent_window: the tangent at a node is the top principal direction of the nodes within this
            many places (default ``max(2, n_points // 8)``: an eighth of the curve).
        trim: the curve spans the quantiles [trim, 1 - trim] of the slow points' positions along it
            (a few stragglers do not stretch it).
        fixed_point_tol: tolerance on q = (1/N)||F(h) - h||^2 for the exact fixed points on the curve.
        max_states: the most states relaxed (at least 2); more are subsampled at random, seeded by ``seed``.

    Returns:
        A :class:`SlowManifold`. Computed in float64 on the step's device.

    Raises:
        ArgumentError: a setting out of range, fewer states than ``n_points``, or a bad step, states, input or readout.
    """
    from rnnlens.fixedpoints import as_step

    tangent_window = _check_trace_args(
        n_points, relax_steps, init_steps, n_iter, n_polish, tangent_window, max_states, trim
    )
    fn = as_step(step)
    fn.check_parameters()
    fn, nodes, xs, relaxed, relaxed_q, w, it1, left1 = _fit_nodes(
        fn,
        states,
        inputs,
        readout,
        dict(n_points=n_points, relax_steps=relax_steps, init_steps=init_steps, max_states=max_states, seed=seed),
        dict(n_iter=n_iter, trim=trim, bandwidth=bandwidth, n_polish=n_polish, tangent_window=tangent_window),
    )
    settings: dict[str, Any] = dict(n_points=n_points, relax_steps=relax_steps, init_steps=init_steps, n_iter=n_iter)
    settings |= {"bandwidth": bandwidth, "n_polish": n_polish, "tangent_window": tangent_window, "trim": trim}
    info = _trace_info(settings, int(relaxed.shape[0]), fixed_point_tol, it1, left1)
    return _finish(fn, nodes, xs, (relaxed, relaxed_q), w, tangent_window, fixed_point_tol, info)


def _finish(fn, nodes, xs, relaxed_pair, w, tangent_window, fixed_point_tol, info) -> SlowManifold:
    """The :class:`SlowManifold` of the fitted ``nodes``: q along them, tangents, positions, exact fixed points."""
    relaxed, relaxed_q = relaxed_pair
    F = fn.step(xs, nodes)
    q = _q(F, nodes)
    arclength = _arclength(nodes)
    fps, unstable = _curve_fixed_points(fn, nodes, xs, q, fixed_point_tol)
    return SlowManifold(
        points=nodes,
        inputs=xs,
        arclength=arclength,
        readout=nodes @ w if w is not None else arclength,
        tangent=_tangents(nodes, tangent_window),
        q=q,
        q_half=0.5 * ((F - nodes) ** 2).sum(1),
        relaxed=relaxed,
        relaxed_q=relaxed_q,
        fixed_points=fps,
        fixed_point_unstable=unstable,
        info=info,
    )


def _fit_nodes(fn, states, inputs, readout, relax: dict, curve: dict) -> tuple:
    """The curve's nodes before their exact fixed points are looked for: ``(fn, nodes, xs, relaxed, w, lm_iterations,
    not_settled)``. The states are relaxed at x* (``relax``: :func:`_relax`'s options), a principal curve is fitted
    to the slow points and each node descends to the valley floor of q across it (``curve``: the principal curve's
    and the descent's options)."""
    n_points = relax["n_points"]
    fn, start, relaxed, x = _relax(fn, states, inputs, **relax)
    relaxed_q = _q(fn.step(x, relaxed), relaxed)
    # the slow points: the states after init_steps (fast modes gone, still spread along the whole
    # line) and after relax_steps (settled further, drifting towards the stable ends)
    pool = torch.cat([start, relaxed])
    nodes, spread, w = _principal_curve(
        pool, readout, n_points=n_points, n_iter=curve["n_iter"], trim=curve["trim"], bandwidth=curve["bandwidth"]
    )
    xs = x[:1].expand(n_points, -1).contiguous()
    # then each node moves to the valley floor of q across the curve, but no farther from where it
    # started than the spread of the slow points around it (q can be flat in further directions: the
    # node must not slide along them, away from where the network's states are)
    spacing = float(_arclength(nodes)[-1]) / (n_points - 1)
    radius = spread.clamp_min(0.1 * spacing)
    window = curve["tangent_window"]
    nodes, it1, left1 = _descend(fn, xs, nodes, _tangents(nodes, window), curve["n_polish"], radius)
    return fn, nodes, xs, relaxed, relaxed_q, w, it1, left1


def _trace_info(settings: dict, n_states: int, fixed_point_tol: float, lm_iterations, not_settled) -> dict:
    """The ``info`` record of :func:`trace_slow_manifold`: its method, settings and how the polish went."""
    return {
        "method": "relax with the network's dynamics; principal curve through the slow points (local-linear "
        "kernel fit along it); LM steps on q normal to the curve, within the points' spread",
        **settings,
        "n_states": n_states,
        "fixed_point_tol": fixed_point_tol,
        "lm_iterations": lm_iterations,
        "not_settled": not_settled,
        "q_definition": "q = (1/N)||F(h, x*) - h||^2; q_half = 0.5||F(h, x*) - h||^2",
    }


def _check_trace_args(n_points, relax_steps, init_steps, n_iter, n_polish, tangent_window, max_states, trim) -> int:
    """Check the integer settings and ``trim`` of :func:`trace_slow_manifold` (ArgumentError naming the
    first bad one); returns the tangent window, its default filled in."""
    _check_int(n_points, "n_points", 3)
    _check_int(relax_steps, "relax_steps", 0)
    _check_int(init_steps, "init_steps", 0)
    _check_int(n_iter, "n_iter", 0)
    _check_int(n_polish, "n_polish", 0)
    tangent_window = (
        max(2, n_points // 8) if tangent_window is None else _check_int(tangent_window, "tangent_window", 1)
    )
    _check_int(max_states, "max_states", 2)
    if not 0 <= trim < 0.5:
        raise ArgumentError(f"trace_slow_manifold: trim must be in [0, 0.5); got {trim!r}")
    return tangent_window


def _relax(fn, states, inputs, *, n_points: int, relax_steps: int, init_steps: int, max_states: int, seed: int):
    """Run the step's own dynamics at the constant input from at most ``max_states`` of ``states`` (a
    seeded random subset), in the step's own precision. Returns the step in float64, the states after
    ``min(init_steps, relax_steps)`` and after ``relax_steps`` steps, and the inputs, all in float64."""
    X = torch.as_tensor(states)
    if X.dim() == 2 and X.shape[0] > max_states:
        idx = np.sort(np.random.default_rng(seed).choice(X.shape[0], max_states, replace=False))
        X = X[torch.from_numpy(idx)]
    # relax in the step's own precision (the bulk of the work), trace in float64
    h, x = fn.prepare(X, inputs, name="states")
    if h.shape[0] < n_points:
        raise ArgumentError(
            f"trace_slow_manifold: {h.shape[0]} states for {n_points} nodes; pass more states or fewer n_points"
        )
    start = None
    for k in range(relax_steps + 1):
        if k == min(init_steps, relax_steps):
            start = h  # slow points that still cover the whole line
        if k < relax_steps:
            h = fn.step(x, h)
    fn = fn.to(torch.float64)
    return fn, start.to(torch.float64), h.to(torch.float64), x.to(torch.float64)


def _principal_curve(pool: Tensor, readout, *, n_points: int, n_iter: int, trim: float, bandwidth: float):
    """A principal curve of ``n_points`` nodes through the slow points ``pool``: start from their main
    axis (oriented so that ``readout`` grows along it), then alternately project every point on the
    curve and fit each node to the points in its stretch (:func:`_kernel_means`). Returns the nodes,
    the points' spread around each node and the readout as a float64 vector (None without one)."""
    S = pool.shape[1]
    mean = pool.mean(0)
    _, _, V = torch.linalg.svd(pool - mean, full_matrices=False)
    axis = V[0]
    w = None
    if readout is not None:
        w = torch.as_tensor(readout, dtype=torch.float64, device=pool.device).reshape(-1)
        if w.shape[0] != S:
            raise ArgumentError(f"trace_slow_manifold: readout has {w.shape[0]} numbers, the state has {S}")
        if float(w @ axis) < 0:
            axis = -axis
    proj = (pool - mean) @ axis
    lo, hi = torch.quantile(proj, torch.tensor([trim, 1 - trim], dtype=proj.dtype, device=proj.device))
    t = torch.linspace(float(lo), float(hi), n_points, dtype=proj.dtype, device=proj.device)
    nodes = mean + t.unsqueeze(1) * axis
    spread = None
    for _ in range(max(n_iter, 1)):
        pos, _ = project_on_curve(pool, nodes)
        nodes, spread = _kernel_means(pool, pos, n_points, trim, bandwidth)
    return nodes, spread, w


def _curve_fixed_points(fn, nodes: Tensor, xs: Tensor, q: Tensor, fixed_point_tol: float):
    """The exact fixed points on the curve, from unconstrained searches started at the nodes where q has a
    local minimum along it: the converged ones, distinct, ordered along the curve, and each one's
    number of unstable modes."""
    from rnnlens.fixedpoints import find_fixed_points
    from rnnlens.linearization import linearize

    n_points = nodes.shape[0]
    qs = q.cpu().numpy()
    minima = [
        i for i in range(n_points) if (i == 0 or qs[i] <= qs[i - 1]) and (i == n_points - 1 or qs[i] <= qs[i + 1])
    ]
    fps = find_fixed_points(fn, nodes[minima], xs[minima], tol=fixed_point_tol)
    conv = torch.as_tensor(fps.converged, dtype=torch.bool)
    fps = fps[conv]
    unstable = torch.zeros(0, dtype=torch.long)
    if len(fps):
        fps = fps.unique()
        along = (torch.as_tensor(fps.points).to(nodes) - nodes[0]) @ (nodes[-1] - nodes[0])
        fps = fps[torch.argsort(along.cpu())]
        unstable = linearize(fn, fps.points, fps.inputs, vectors=False).n_unstable.cpu()
    return fps, unstable
