"""Topology: the fixed points of a step ``h' = F(x*, h)``, their stability, and the graph of how they connect,
in a form comparable across networks of any size and architecture.

Definitions.

* **Nodes**: the distinct fixed points. Points closer than ``merge_tol`` (Euclidean, in state units) are one
  point (greedy, lowest q first: :meth:`rnnlens.FixedPoints.unique`).
* **Index** of a node: its number of unstable modes, eigenvalues of ``J_rec = dF/dh`` with ``|lambda| > 1``
  beyond rounding (:func:`rnnlens.linearize`'s ``n_unstable``). 0: stable (an attractor); k >= 1: a saddle
  with k unstable directions.
* **Edges**: from each saddle, along each unstable eigenvector r (for a complex pair, Re r and Im r), the
  states ``h* +- epsilon r / |r|`` are run on under the network's own dynamics at x* for up to ``max_steps``
  steps, stopping once ``q = (1/S)|F(h) - h|^2 < settle_tol`` or once within ``match_tol`` of a stable node
  (inside its basin, where the linearization says it converges; this spares the slow approach along a line
  attractor). A run that ends within ``match_tol`` of a node gives the edge ``saddle -> node`` (an
  attractor, or a lower-index saddle it sits exactly on, as in a product system); a run that settles away
  from every node is a fixed point the search missed: it is polished by :func:`rnnlens.find_fixed_points`
  and added as a node. Runs that never settle are counted (``n_unsettled``). Edges are a set: the same
  (saddle, node) pair reached twice is one edge.
* **Signature**: the directed graph with node labels = index, up to isomorphism. ``signature()`` gives the
  counts of nodes by index, of edges by (index, index), and the Weisfeiler-Lehman hash of the labelled graph
  (networkx, a dependency of torch): equal for isomorphic graphs; different hashes mean different topologies.
* **Topology distance** between two graphs: 0 when the labelled graphs are isomorphic (VF2, networkx);
  otherwise ``1 + sum_i |n_i - n'_i| + sum_(i, j) |e_ij - e'_ij|`` (n_i: nodes of index i; e_ij: edges from
  index i to index j), so any difference costs at least 1 and differences of counts add.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from rnnlens._types import StepLike, TensorLike
from rnnlens.errors import ArgumentError

__all__ = ["FixedPointGraph", "fixed_point_graph", "topology_distance", "topology_distances"]


@dataclass
class FixedPointGraph:
    """The fixed points of one network at one input and how they connect (see the module docstring).

    Attributes:
        points: ``[K, S]`` float64, the distinct fixed points.
        index: ``[K]`` int64, each point's number of unstable modes.
        edges: ``[E, 2]`` int64 rows ``(saddle, reached node)``, sorted, unique.
        q: ``[K]`` the paper's q at each point.
        n_runs: runs started from saddles; n_unsettled: runs that did not settle within max_steps.
        n_added: nodes found by the runs that the given points lacked.
        info: the settings used.
    """

    points: np.ndarray
    index: np.ndarray
    edges: np.ndarray
    q: np.ndarray
    n_runs: int = 0
    n_unsettled: int = 0
    n_added: int = 0
    info: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def counts_by_index(self) -> np.ndarray:
        """Entry i: nodes with i unstable modes (length max index + 1, at least 1)."""
        return np.bincount(self.index, minlength=1).astype(np.int64)

    def to_networkx(self):
        """A ``networkx.DiGraph``: nodes 0..K-1 with attribute ``index``, the edges."""
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from((i, {"index": int(k)}) for i, k in enumerate(self.index))
        g.add_edges_from(map(tuple, self.edges.tolist()))
        return g

    def edge_counts(self) -> Counter:
        """Edges by (index of the saddle, index of the node reached)."""
        return Counter((int(self.index[a]), int(self.index[b])) for a, b in self.edges)

    def signature(self) -> dict:
        """What can be compared across networks: nodes by index, edges by (index, index), and the
        Weisfeiler-Lehman hash of the graph labelled by index (equal for isomorphic graphs)."""
        import warnings

        import networkx as nx

        g = self.to_networkx()
        for i in g.nodes:
            g.nodes[i]["label"] = str(g.nodes[i]["index"])
        with warnings.catch_warnings():  # networkx 3.5 notes that directed hashes changed from earlier versions
            warnings.simplefilter("ignore", UserWarning)
            wl = nx.weisfeiler_lehman_graph_hash(g, node_attr="label", iterations=4)
        return {
            "counts_by_index": self.counts_by_index().tolist(),
            "edges_by_index": {f"{a}->{b}": n for (a, b), n in sorted(self.edge_counts().items())},
            "wl_hash": wl,
        }


def topology_distance(a: FixedPointGraph, b: FixedPointGraph) -> float:
    """0 when the two labelled graphs are isomorphic, else 1 + the L1 differences of their node counts by index
    and edge counts by (index, index) (module docstring)."""
    import networkx as nx
    from networkx.algorithms.isomorphism import categorical_node_match

    ca, cb = a.counts_by_index(), b.counts_by_index()
    n = max(len(ca), len(cb))
    nodes = np.abs(np.pad(ca, (0, n - len(ca))) - np.pad(cb, (0, n - len(cb)))).sum()
    ea, eb = a.edge_counts(), b.edge_counts()
    edges = sum(abs(ea[k] - eb[k]) for k in set(ea) | set(eb))
    if nodes == 0 and edges == 0:
        if nx.is_isomorphic(a.to_networkx(), b.to_networkx(), node_match=categorical_node_match("index", -1)):
            return 0.0
    return float(1 + nodes + edges)


def topology_distances(graphs: list[FixedPointGraph]) -> np.ndarray:
    """:func:`topology_distance` between every pair, ``[M, M]`` (symmetric, zero diagonal)."""
    M = len(graphs)
    D = np.zeros((M, M))
    for i in range(M):
        for j in range(i + 1, M):
            D[i, j] = D[j, i] = topology_distance(graphs[i], graphs[j])
    return D


def _dedupe(points: np.ndarray, q: np.ndarray, tol: float) -> np.ndarray:
    """Rows kept: greedy in increasing q, each kept point claims the points within tol."""
    keep: list[int] = []
    for i in np.argsort(q, kind="stable"):
        if not keep or np.linalg.norm(points[keep] - points[i], axis=1).min() > tol:
            keep.append(int(i))
    return np.sort(np.array(keep, dtype=np.int64))


def _nodes(fn, points, x, merge_tol):
    """Distinct points (float64), their q, index and the leading eigenvectors needed to leave each saddle."""
    import torch

    from rnnlens.linearization import linearize

    with torch.no_grad():
        r = fn.step(x.expand(points.shape[0], -1).to(fn_dtype(fn, points)), points.to(fn_dtype(fn, points)))
    q = ((r.double() - points.double()) ** 2).mean(1).cpu().numpy()
    P = points.double().cpu().numpy()
    keep = _dedupe(P, q, merge_tol)
    pts = torch.from_numpy(P[keep])
    lin = linearize(fn, pts.to(fn_dtype(fn, points)), x.expand(len(keep), -1).to(fn_dtype(fn, points)))
    return P[keep], q[keep], lin


def fn_dtype(fn, points):
    """The dtype the step runs in (its parameters'), or the points' for a plain callable."""
    return fn.dtype if fn.dtype is not None else points.dtype


def _starts(points: np.ndarray, index: np.ndarray, lin, epsilon: float):
    """The start states of the runs and the saddle each leaves from."""
    starts, origin = [], []
    for k in np.flatnonzero(index > 0):
        R = lin.R[k].cpu().numpy()
        dirs, j = [], 0
        while j < index[k]:
            v = R[:, j]
            if abs(v.imag).max() > 1e-12 * abs(v).max():  # a complex pair: its plane
                dirs += [v.real, v.imag]
                j += 2
            else:
                dirs.append(v.real)
                j += 1
        for d in dirs:
            d = d / np.linalg.norm(d)
            starts += [points[k] + epsilon * d, points[k] - epsilon * d]
            origin += [k, k]
    return np.array(starts).reshape(-1, points.shape[1]), np.array(origin, dtype=np.int64)


def _run(fn, h, x, max_steps: int, settle_tol: float, attractors, radius: float):
    """Run every row of h under the step until it settles (q < settle_tol) or comes within ``radius`` of one of
    the ``attractors`` ``[A, S]`` (then it is frozen), or max_steps."""
    import torch

    settled = torch.zeros(h.shape[0], dtype=torch.bool)
    xb = x.expand(h.shape[0], -1).to(h.dtype)
    att = torch.as_tensor(attractors, dtype=torch.float64, device=h.device)
    with torch.no_grad():
        for _ in range(max_steps):
            nxt = fn.step(xb, h)
            q = ((nxt - h).double() ** 2).mean(1)
            near = torch.cdist(nxt.double(), att).amin(1) <= radius if len(att) else torch.zeros_like(q, dtype=bool)
            h = torch.where(settled[:, None].to(h.device), h, nxt)  # rows settled earlier stay where they were
            settled |= (q < settle_tol).cpu() | near.cpu()
            if bool(settled.all()):
                break
    return h.double().cpu().numpy(), settled.numpy()


def fixed_point_graph(
    step: StepLike,
    points: TensorLike,
    inputs: TensorLike | None = None,
    *,
    merge_tol: float = 1e-3,
    epsilon: float = 1e-3,
    max_steps: int = 2000,
    settle_tol: float = 1e-12,
    match_tol: float = 1e-2,
    polish_tol: float = 1e-14,
) -> FixedPointGraph:
    """The fixed-point graph of ``step`` at one constant input (module docstring for every definition).

    Args:
        step: as for :func:`rnnlens.find_fixed_points` (an rnnlens cell, a torch RNN module, a callable
            ``F(x, h)``, a :class:`rnnlens.Network`'s ``step``).
        points: ``[P, S]`` fixed points (a :class:`rnnlens.FixedPoints`: its points; e.g. the converged ones of
            a search), duplicates allowed.
        inputs: the constant input x*: None (zeros), ``[I]`` or ``[1, I]`` (ignored for a FixedPoints: its
            first point's input).
        merge_tol: points closer than this are one node.
        epsilon: distance of each run's start from its saddle, along a unit unstable direction.
        max_steps: steps a run may take; settle_tol: the q under which a run has settled.
        match_tol: a settled run within this distance of a node reaches that node.
        polish_tol: the q to which an unmatched settled end is polished before it becomes a node.

    Returns:
        A :class:`FixedPointGraph`.

    Raises:
        ArgumentError: no points, a non-positive tolerance or count, or what :func:`rnnlens.linearize` refuses.
    """
    import torch

    from rnnlens.fixedpoints import FixedPoints, find_fixed_points
    from rnnlens.steps import as_step

    for name, v in (("merge_tol", merge_tol), ("epsilon", epsilon), ("settle_tol", settle_tol)):
        if not (isinstance(v, (int, float)) and v > 0):
            raise ArgumentError(f"fixed_point_graph: {name} must be a number > 0, got {v!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ArgumentError(f"fixed_point_graph: max_steps must be a positive integer, got {max_steps!r}")
    if isinstance(points, FixedPoints):
        points, inputs = points.points, (points.inputs[:1] if len(points) else None)
    fn = as_step(step)
    pts = torch.as_tensor(points)
    if pts.ndim != 2 or pts.shape[0] == 0:
        raise ArgumentError(f"fixed_point_graph: points must be [P >= 1, S], got shape {tuple(pts.shape)}")
    if inputs is None and fn.input_size is None:
        raise ArgumentError("fixed_point_graph: give inputs (x*) for a step whose input size is not known")
    x = torch.zeros(1, fn.input_size) if inputs is None else torch.as_tensor(inputs)
    x = x.reshape(1, -1).to(fn_dtype(fn, pts))
    P, q, lin = _nodes(fn, pts, x, merge_tol)
    index = lin.n_unstable.cpu().numpy().astype(np.int64)
    starts, origin = _starts(P, index, lin, epsilon)
    dtype = fn_dtype(fn, pts)
    ends, settled = _run(fn, torch.from_numpy(starts).to(dtype), x, max_steps, settle_tol, P[index == 0], match_tol)
    # ends that settled away from every node: fixed points the given ones lacked
    dist = np.linalg.norm(ends[:, None, :] - P[None], axis=2) if len(ends) else np.zeros((0, len(P)))
    lost = settled & (dist.min(1, initial=np.inf) > match_tol)
    n_added = 0
    if lost.any():
        found = find_fixed_points(fn, torch.from_numpy(ends[lost]).to(dtype), x.to(dtype), tol=polish_tol)
        new = found.points[torch.as_tensor(found.converged)]
        if len(new):
            P2, q2, lin2 = _nodes(fn, torch.cat([torch.from_numpy(P).to(new.dtype), new]), x, merge_tol)
            n_added = len(P2) - len(P)
            # node order may change after the merge: map each saddle to its row in the new set
            origin = np.array([int(np.linalg.norm(P2 - P[k], axis=1).argmin()) for k in origin], dtype=np.int64)
            P, q, index = P2, q2, lin2.n_unstable.cpu().numpy().astype(np.int64)
            dist = np.linalg.norm(ends[:, None, :] - P[None], axis=2)
    reached = dist.argmin(1) if len(ends) else np.zeros(0, dtype=np.int64)
    ok = settled & (dist.min(1, initial=np.inf) <= match_tol)
    edges = np.unique(np.stack([origin[ok], reached[ok]], 1).reshape(-1, 2), axis=0).astype(np.int64)
    return FixedPointGraph(
        points=P,
        index=index,
        edges=edges,
        q=q,
        n_runs=len(starts),
        n_unsettled=int((~settled).sum()),
        n_added=n_added,
        info=dict(
            merge_tol=merge_tol,
            epsilon=epsilon,
            max_steps=max_steps,
            settle_tol=settle_tol,
            match_tol=match_tol,
            polish_tol=polish_tol,
        ),
    )
