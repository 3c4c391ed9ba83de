"""Dynamics checks around fixed points: one-step linearization error, classification with the
linearized dynamics alone, and the speed of approach to the attractor at constant input.

Functions take torch tensors (any float dtype; computed in the dtype of the Jacobians) and a step
function ``step(x [B, I], h [B, S]) -> [B, S]`` where needed.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from rnnlens.errors import ArgumentError
from rnnlens.structure import all_same, diagonal_blocks


def nearest_point(h: torch.Tensor, points: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
    """Index [N] of the nearest (Euclidean) of ``points`` [P, S] for every row of ``h`` [N, S].

    Few points (P <= ``chunk``): exact distances in ``h``'s precision. Many points (e.g. every visited
    state): the nearest point of each block of ``chunk`` points is found with float32 matrix products
    (a third of the cost of ``cdist`` in float64), then the nearest of those block winners by exact
    distances in ``h``'s precision. It can differ from an all-float64 search only where two points of
    one block are equally near within float32 rounding (~1e-7 of ||h||^2 in squared distance).
    For many searches against the same points, :class:`NearestIndex` prepares them once.
    """
    return NearestIndex(points.to(h.dtype), chunk=chunk)(h)


class NearestIndex:
    """:func:`nearest_point` against fixed ``points`` [P, S], prepared once for many queries: the exact
    distances are in the points' precision (queries are converted to it), and for P > ``chunk`` the float32
    copy of the points and their squared norms are made here, not at every search.

    With an orthonormal ``basis`` [k, S] and ``center`` [S] (e.g. the states' top principal components and
    mean) and points on the CPU, the search is exact and much faster where the points vary mostly inside the
    basis. Write each vector x as ``[P(x - c), ||R(x - c)||]`` (k + 1 numbers: P the projection on the basis, R
    the rest); the squared distance between two such lifts, ``||P(q - p)||^2 + (||R(q - c)|| - ||R(p - c)||)^2``,
    is a lower bound of ``||q - p||^2`` (the reverse triangle inequality in the rest). scipy's k-d tree finds,
    for each query, the point nearest in the lifts, whose true distance bounds the answer from above, then
    every point whose lower bound is under that; only those are measured, in float64 (ties: the lower index).
    When that leaves more than one pair in 2,000 (points spread outside the basis) it falls back to the block
    search.
    """

    def __init__(self, points: torch.Tensor, *, chunk: int = 4096, basis=None, center=None):
        if points.shape[0] == 0:
            raise ArgumentError("nearest_point needs at least one fixed point")
        self.points, self.chunk = points, chunk
        self.p32 = self.p2 = None
        self.tree: Any = None  # scipy's cKDTree of the lifts, when there is a basis
        if points.shape[0] > chunk:
            self.p32 = points.float()
            self.p2 = (self.p32 * self.p32).sum(1)
            if basis is not None and points.device.type == "cpu":
                self._bound_tree(basis, center)

    def _bound_tree(self, basis, center) -> None:
        import numpy as np
        from scipy.spatial import cKDTree

        V = torch.as_tensor(np.asarray(basis), dtype=torch.float64)
        c = torch.as_tensor(np.asarray(center), dtype=torch.float64)
        self.V, self.c = V, c
        # in blocks of 2048 rows: temporaries small enough to be reused, not fresh memory from the kernel each time
        aug = torch.cat([self._lift(self.points[a : a + 2048]) for a in range(0, self.points.shape[0], 2048)])
        self.scale = float(aug.pow(2).sum(1).max())  # the largest ||x - c||^2: the rounding slack's scale
        self.tree = cKDTree(aug.numpy())

    def _lift(self, x: torch.Tensor) -> torch.Tensor:
        """``[P(x - c), ||R(x - c)||]`` in float64, rows of ``x``."""
        d = x.double() - self.c
        p = d @ self.V.T
        rest = (d.pow(2).sum(1) - p.pow(2).sum(1)).clamp_min(0).sqrt()
        return torch.cat([p, rest[:, None]], 1)

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if self.tree is not None:
            found = self._bounded(h)
            if found is not None:
                return found
        return self._blocks(h)

    def _bounded(self, h: torch.Tensor) -> torch.Tensor | None:
        import numpy as np

        q = h.double().cpu()
        aug = self._lift(q)
        workers = torch.get_num_threads()  # scipy's threads: as many as torch may use
        _, first = self.tree.query(aug.numpy(), k=1, workers=workers)
        first = torch.as_tensor(first, dtype=torch.long)
        upper = (q - self.points[first].double()).pow(2).sum(1)  # a true squared distance: the nearest's is below
        slack = 1e-9 * (upper + aug.pow(2).sum(1) + self.scale)  # rounding of the bound, generously
        radius = (upper + slack).sqrt().numpy()
        near = self.tree.query_ball_point(aug.numpy(), r=radius, return_sorted=False, workers=workers)
        sizes = np.fromiter(map(len, near), dtype=np.int64, count=len(near))
        # a gathered float64 distance costs as much as 100-1000 pairs of the block search's float32 products
        if sizes.sum() > max(len(sizes) * self.points.shape[0] // 2000, 1000):
            return None
        cand = torch.as_tensor(np.concatenate([np.asarray(n, dtype=np.int64) for n in near]))
        rows = torch.repeat_interleave(torch.arange(len(near)), torch.as_tensor(sizes))
        d2 = torch.cat(
            [
                (q[rows[a : a + 4096]] - self.points[cand[a : a + 4096]].double()).pow(2).sum(1)
                for a in range(0, cand.shape[0], 4096)
            ]
        )
        # per query the smallest distance (the lowest index among equals): sort by (query, distance, index)
        order = np.lexsort((cand.numpy(), d2.numpy(), rows.numpy()))
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return cand[torch.as_tensor(order[starts])].to(h.device)

    def _blocks(self, h: torch.Tensor) -> torch.Tensor:
        pts, chunk = self.points, self.chunk
        h = h.to(pts.dtype)
        out = torch.empty(h.shape[0], dtype=torch.long, device=h.device)
        if self.p32 is None:
            for a in range(0, h.shape[0], chunk):
                out[a : a + chunk] = torch.cdist(h[a : a + chunk], pts).argmin(dim=1)
            return out
        p32, p2 = self.p32, self.p2
        n_blocks = -(-p32.shape[0] // chunk)
        rows = max(1, min(chunk, (1 << 22) // (n_blocks * pts.shape[1])))  # the exact refinement's [rows, blocks, S]
        for a in range(0, h.shape[0], rows):
            q = h[a : a + rows]
            q32 = q.float()
            # per block: argmin of ||p||^2 - 2 q . p (the ||q||^2 term is the same for every p)
            cand = torch.stack(
                [
                    torch.addmm(p2[b : b + chunk], q32, p32[b : b + chunk].T, alpha=-2).argmin(1) + b
                    for b in range(0, p32.shape[0], chunk)
                ],
                1,
            )  # [m, blocks]
            exact = ((q[:, None, :] - pts[cand]) ** 2).sum(2)
            out[a : a + rows] = cand.gather(1, exact.argmin(1, keepdim=True)).squeeze(1)
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
        rows = order[start : start + c]
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
    near, h = _Nearest(points), h_prev.to(dtype)
    idx = torch.cat([near(h[a : a + 4096]) for a in range(0, h.shape[0], 4096)]) if h.shape[0] else near(h)
    h_lin = linear_step(h_prev, x, idx, points, x_star, J_rec, J_inp)
    hn = h_next.to(dtype)
    err = torch.linalg.vector_norm(hn - h_lin, dim=1) / torch.linalg.vector_norm(hn, dim=1).clamp_min(1e-12)
    return err, h_lin, idx


class _Nearest:
    """The nearest (Euclidean) of fixed ``points`` [P, S] for many calls (one per token of a rollout), exact.

    For 25 < P <= 4096 float64 points on the CPU it screens in float32 and decides in float64. Centred on the points'
    mean c, the score ``s_p = ||p - c||^2 - 2 (h - c).(p - c)`` is ``||h - p||^2 - ||h - c||^2``: the same order.
    The float32 score (both factors rounded to float32, a dot product of S terms) is within
    ``m_p = (2S + 16) u ||h - c|| ||p - c|| + 4u ||p - c||^2`` of the exact one (u = 2^-24; the standard bound of
    a dot product is (S + 2) u ||a|| ||b||, kept with room), so only the points whose ``s_p - m_p`` is under the
    smallest ``s_q + m_q`` can be the nearest. A row with one such point takes it; the others measure their
    candidates' ``||h - p||^2`` from the differences in float64 (ties: the lower index). Against
    :func:`nearest_point` (``cdist``'s float64 product form) it can differ only where two points are equally
    near within that form's rounding (~1e-16 of ||h||^2), where this one is the more accurate.
    Other points (float32, on another device, 25 or fewer, more than 4096) and more than 4096 rows:
    :func:`nearest_point`.
    """

    def __init__(self, points: torch.Tensor):
        self.points = points
        self.screen = (
            25 < points.shape[0] <= 4096
            and points.dtype == torch.float64
            and points.device.type == "cpu"
            and torch.get_float32_matmul_precision() == "highest"  # no reduced-precision float32 products
        )
        if self.screen:
            u, S = 2.0**-24, points.shape[1]
            self.center = points.mean(0)
            pc = points - self.center
            pn = pc.pow(2).sum(1)
            self.pc32_t = pc.float().mT.contiguous()  # [S, P]
            self.pn32 = pn.float()
            self.bound_rel = ((2 * S + 16) * u) * pn.sqrt().float()  # times ||h - c||: the product's share of m_p
            self.bound_abs = (8 * u) * self.pn32  # the rounding of ||p - c||^2 and of the sums below

    def __call__(self, h: torch.Tensor) -> torch.Tensor:
        if not self.screen or h.shape[0] > 4096 or h.dtype != torch.float64 or h.device.type != "cpu":
            return nearest_point(h, self.points).to(h.device)
        hc = h - self.center
        score = torch.addmm(self.pn32, hc.float(), self.pc32_t, alpha=-2)  # [n, P]
        margin = torch.outer(torch.linalg.vector_norm(hc, dim=1).float(), self.bound_rel).add_(self.bound_abs)
        best = score.argmin(1)
        ceiling = (score + margin).amin(1, keepdim=True)
        cand = score.sub_(margin).le_(ceiling)  # [n, P]: may be the nearest
        count = cand.sum(1)
        if not bool((count > 1).any()):  # one candidate per row (none: a non-finite row, left to the caller)
            return best
        rows = (count > 1).nonzero().squeeze(1)
        r, p = cand[rows].nonzero(as_tuple=True)
        d2 = (h[rows[r]] - self.points[p]).pow_(2).sum(1)
        exact = torch.full((rows.shape[0], self.points.shape[0]), float("inf"), dtype=torch.float64)
        exact[r, p] = d2
        best[rows] = exact.argmin(1)  # the first of equal minima: the lower index
        return best


def linear_rollout(x_seq, lengths, h0, points, x_star, J_rec, J_inp):
    """Run the linearized dynamics alone over whole sequences.

    At every token the state is updated by ``h_lin = h* + J_rec (h - h*) + J_inp (x - x*)`` around the
    fixed point h* nearest to the *current linearized* state (the network's own nonlinear step is never
    used). ``x_seq`` [B, T, I], ``lengths`` [B] (>= 1), ``h0`` [B, S]. Returns (final state after each
    sequence's last valid token [B, S], diverged [B] bool: the state became non-finite; one that became
    non-finite before its last token ends as NaN).

    How it runs: only the rows still reading are kept (compacted when a sequence ends or diverges). Where the
    Jacobians differ between points the rows are sorted by their nearest point at every step, so the rows of one
    point are one contiguous slice and one matrix product ``[h - h*, x - x*] [J_rec | J_inp]^T`` with the two
    Jacobians of the point joined when it is first used; where both are the same at every point (a cell
    elementwise linear in the state) every row goes at once, unsorted. The nearest point is :class:`_Nearest`'s
    (exact; screened in float32). Each point's Jacobians are read from memory once per step (the cost on CPU:
    768 KB per point at 256 units); groups run in alternating order at alternate steps, so the points used last
    are still in cache.
    Against :func:`linear_step`'s ``h* + (h - h*) J_rec^T + (x - x*) J_inp^T`` the only difference is
    the order of the sums (one dot product over both parts; the matrix kernel picked by the group size):
    float64 rounding, at most 5e-15 relative in the final states of 400 IMDB reviews (up to 1297 tokens)
    through a 256-unit GRU (tests/analysis/test_pieces.py holds it to a plain loop within 1e-12).
    """
    dtype, device = J_rec.dtype, h0.device
    points = points.to(dtype=dtype, device=device)
    xs = x_star.to(dtype=dtype, device=device)
    (B, S), T, n_in = h0.shape, x_seq.shape[1], J_inp.shape[2]
    final = torch.full((B, S), float("nan"), dtype=dtype, device=device)
    lengths = torch.as_tensor(lengths).to(device=device, dtype=torch.long)
    h = h0.to(dtype)
    # the rows that read a token and start finite (a non-finite start ends as NaN, as it would after one step)
    rows = ((lengths > 0) & torch.isfinite(h).all(dim=1)).nonzero().squeeze(1)
    h, lens = h[rows], lengths[rows]
    n_ends = torch.bincount((lens - 1).clamp_max(T).cpu(), minlength=T + 1).tolist()  # rows ending at step t
    near, product = _Nearest(points), _Product(J_rec, J_inp, device)
    hx_buf = torch.empty(B, S + n_in, dtype=dtype, device=device)
    star_buf, sorted_buf, *out_bufs = (torch.empty(B, S, dtype=dtype, device=device) for _ in range(4))
    for t in range(T):
        n = rows.shape[0]
        if n == 0:
            break
        idx = near(h)
        groups: list = []
        starts: list[int] = []
        if product.grouped:  # per-point Jacobians: the rows of one point made contiguous
            order = torch.argsort(idx, stable=True)
            idx, rows, lens = idx[order], rows[order], lens[order]
            h = torch.index_select(h, 0, order, out=sorted_buf[:n])
            uniq, counts = torch.unique_consecutive(idx, return_counts=True)
            groups, a = list(zip(uniq.tolist(), counts.tolist())), 0
            for _, c in groups:
                starts.append(a)
                a += c
        h_star = torch.index_select(points, 0, idx, out=star_buf[:n])
        hx = hx_buf[:n]
        torch.sub(h, h_star, out=hx[:, :S])
        torch.sub(x_seq[rows.to(x_seq.device), t].to(device=device, dtype=dtype), xs, out=hx[:, S:])
        out = out_bufs[t % 2][:n]  # h is the other one (or sorted_buf)
        product(out, hx, groups, starts, t)
        h = out.add_(h_star)
        # one sum says whether every entry is finite (a NaN or inf entry makes it non-finite; so can an overflow)
        dead = not bool(torch.isfinite(h.sum()))
        if dead:
            ok = torch.isfinite(h).all(dim=1)
            dead = not bool(ok.all())
        if n_ends[t] or dead:
            last = lens == t + 1
            final[rows[last]] = h[last]  # a row non-finite before its end keeps NaN
            go = ~(last | ~ok) if dead else ~last
            rows, lens, h = rows[go], lens[go], h[go]
    diverged = ~torch.isfinite(final).all(dim=1)
    return final, diverged


class _Product:
    """``out = [h - h*, x - x*] [J_rec | J_inp]^T`` for rows grouped by their point (one step of
    :func:`linear_rollout`).

    A Jacobian the same at every point (a cell elementwise linear in the state has one J_rec at a given x*, the
    LRU one J_inp too) is applied to every row at once; a shared J_rec made of diagonal blocks (diagonal: minGRU,
    S6; the four diagonal blocks of a complex diagonal map in ``[Re z, Im z]``: the LRU) as elementwise products,
    O(S) per row instead of O(S^2) (a diagonal one bitwise the matrix product's, the other terms being exact zeros;
    the block form within a rounding of it). Per-point Jacobians go group by group, each point's
    ``[J_rec | J_inp]`` joined when it is first used."""

    def __init__(self, J_rec: torch.Tensor, J_inp: torch.Tensor, device):
        self.J_rec, self.J_inp, self.device, self.S = J_rec, J_inp, device, J_rec.shape[1]
        self.shared_rec, self.shared_inp, blocks = _structure(J_rec, J_inp)
        self.grouped = not (self.shared_rec and self.shared_inp)  # whether __call__ reads the groups
        self.joined: dict[int, torch.Tensor] = {}  # point -> [J_rec | J_inp], [S, S + I]
        self.blocks = None if blocks is None else [b.to(device) for b in blocks]
        if self.shared_inp:
            self.inp = J_inp[0].to(J_rec.dtype).to(device)
            self.both = torch.cat([J_rec[0].to(device), self.inp], 1)

    def __call__(self, out, hx, groups, starts, t) -> None:
        S, dtype = self.S, self.J_rec.dtype
        if self.blocks is not None:
            _apply_blocks(out, hx[:, :S], self.blocks)
        elif self.shared_rec and self.shared_inp:
            torch.mm(hx, self.both.mT, out=out)
            return
        elif self.shared_rec:
            torch.mm(hx[:, :S], self.J_rec[0].mT, out=out)
        if self.shared_inp:
            out.addmm_(hx[:, S:], self.inp.mT)
        elif self.shared_rec:
            make = lambda p: self.J_inp[p].to(dtype).to(self.device)  # noqa: E731
            _grouped(out, hx[:, S:], groups, starts, t, self.joined, make, add=True)
        else:
            make = lambda p: torch.cat([self.J_rec[p], self.J_inp[p].to(dtype)], 1).to(self.device)  # noqa: E731
            _grouped(out, hx, groups, starts, t, self.joined, make)


_last_structure: list = []  # [(weak references to J_rec and J_inp, their versions, the structure)]


def _structure(J_rec: torch.Tensor, J_inp: torch.Tensor) -> tuple[bool, bool, list | None]:
    """``(J_rec shared, J_inp shared, J_rec's diagonal blocks or None)`` for :class:`_Product`; remembered for the
    last pair of tensors while they live unchanged (torch's version counter), so a rollout in batches reads the
    Jacobians (1 GB for 500 points of 512 numbers) once instead of once per batch."""
    versions = (J_rec._version, J_inp._version)
    if _last_structure:
        (rec, inp), seen, found = _last_structure[0]
        if rec() is J_rec and inp() is J_inp and seen == versions:
            return found
    shared_rec, shared_inp = all_same(J_rec), all_same(J_inp)
    found = (shared_rec, shared_inp, diagonal_blocks(J_rec[0]) if shared_rec else None)
    _last_structure[:] = [((weakref.ref(J_rec), weakref.ref(J_inp)), versions, found)]
    return found


def _apply_blocks(out: torch.Tensor, h: torch.Tensor, blocks: list) -> None:
    """``out = h J^T`` for ``J`` given by :func:`rnnlens.structure.diagonal_blocks`."""
    if len(blocks) == 1:
        torch.mul(h, blocks[0], out=out)
        return
    A, B, C, D = blocks
    N = A.shape[0]
    h1, h2 = h[:, :N], h[:, N:]
    torch.mul(h1, A, out=out[:, :N]).addcmul_(h2, B)
    torch.mul(h1, C, out=out[:, N:]).addcmul_(h2, D)


def _grouped(out, hx, groups, starts, t, cache, make, add: bool = False) -> None:
    """``out[rows of p] (+)= hx[rows of p] K_p^T`` for each group ``(p, count)`` (rows contiguous from ``starts``),
    ``K_p`` from ``cache`` or ``make(p)``; the groups run in alternating order at alternate steps ``t``, so the
    matrices used last are still in cache."""
    for g in range(len(groups)) if t % 2 == 0 else range(len(groups) - 1, -1, -1):
        p, c = groups[g]
        a = starts[g]
        K = cache.get(p)
        if K is None:
            K = cache[p] = make(p)
        rows = slice(a, a + c)
        if 2 <= c <= 4:  # K [hx]^T: about twice as fast as [hx] K^T for 2-4 rows in MKL on CPU
            part = torch.mm(K, hx[rows].mT).mT
            if add:
                out[rows] += part
            else:
                out[rows] = part
        elif add:
            out[rows].addmm_(hx[rows], K.mT)
        else:
            torch.mm(hx[rows], K.mT, out=out[rows])


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
