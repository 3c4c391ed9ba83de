"""Fixed-point topology against hand-built systems whose fixed points, stability and connections are known in
closed form."""

import itertools

import numpy as np
import pytest
import torch

from rnnlens import find_fixed_points
from rnnlens.compare import FixedPointGraph, fixed_point_graph, topology_distance, topology_distances
from rnnlens.errors import ArgumentError

DT = 0.05


def three_attractors(x, h):
    """h = (u, v): u' = u + DT f(u), f(u) = -u (u^2 - 1)(u^2 - 4), stable at -2, 0, 2 and unstable at -1, 1;
    v' = 0.5 v (stable). Fixed points (u, 0): 3 attractors, 2 saddles of index 1."""
    u, v = h[:, :1], h[:, 1:]
    f = -u * (u**2 - 1) * (u**2 - 4)
    return torch.cat([u + DT * f, 0.5 * v + 0 * x], 1)


def flip_flop(x, h):
    """Three uncoupled bistable units h_i' = h_i + DT (h_i - h_i^3): 8 attractors (+-1, +-1, +-1), 12 saddles of
    index 1, 6 of index 2 and 1 of index 3 (the corners, edges, faces and centre of the cube)."""
    return h + DT * (h - h**3) + 0 * x.sum(1, keepdim=True)


def _graph(step, seeds, inputs):
    fps = find_fixed_points(step, seeds, inputs, tol=1e-20, refine=True)
    return fixed_point_graph(step, fps[torch.as_tensor(fps.converged)])


def test_three_attractors_are_recovered_exactly():
    seeds = torch.linspace(-2.5, 2.5, 41, dtype=torch.float64)[:, None] * torch.tensor([[1.0, 0.0]]).double()
    seeds[:, 1] = 0.3
    g = _graph(three_attractors, seeds, torch.zeros(1, 1, dtype=torch.float64))
    order = np.argsort(g.points[:, 0])
    u = g.points[order, 0]
    np.testing.assert_allclose(u, [-2, -1, 0, 1, 2], atol=1e-9)
    assert g.index[order].tolist() == [0, 1, 0, 1, 0]
    name = {int(order[i]): n for i, n in enumerate("A s1 B s2 C".split())}
    assert sorted((name[a], name[b]) for a, b in g.edges) == [("s1", "A"), ("s1", "B"), ("s2", "B"), ("s2", "C")]
    assert g.counts_by_index().tolist() == [3, 2] and g.n_unsettled == 0 and g.n_runs == 4
    sig = g.signature()
    assert sig["counts_by_index"] == [3, 2] and sig["edges_by_index"] == {"1->0": 4}


def test_a_flip_flop_cube_is_recovered():
    grid = torch.tensor(list(itertools.product([-1.3, -0.9, -0.1, 0.1, 0.9, 1.3], repeat=3)), dtype=torch.float64)
    g = _graph(flip_flop, grid, torch.zeros(1, 1, dtype=torch.float64))
    assert g.counts_by_index().tolist() == [8, 12, 6, 1]
    assert set(np.unique(np.round(g.points, 6) + 0.0)) == {-1.0, 0.0, 1.0}
    # every run settles on a node of lower index (an attractor, or, where a polished point has an exact zero
    # coordinate that the uncoupled dynamics keep, a saddle); each index-1 saddle connects to its two corners
    edges = g.signature()["edges_by_index"]
    assert edges["1->0"] == 24 and all(int(k[0]) > int(k[-1]) for k in edges) and g.n_unsettled == 0
    for a, b in g.edges:
        assert g.index[b] < g.index[a]
        if g.index[a] == 1:
            assert np.sum(np.abs(g.points[a] - g.points[b]) > 0.5) == 1


def test_topology_distance_is_zero_for_isomorphic_graphs_only():
    seeds = torch.linspace(-2.5, 2.5, 41, dtype=torch.float64)[:, None].repeat(1, 2)
    g = _graph(three_attractors, seeds, torch.zeros(1, 1, dtype=torch.float64))
    perm = np.array([4, 2, 0, 3, 1])  # the same graph with its nodes relabelled
    inv = np.argsort(perm)
    h = FixedPointGraph(points=g.points[perm], index=g.index[perm], edges=inv[g.edges], q=g.q[perm])
    assert topology_distance(g, h) == 0.0 and g.signature()["wl_hash"] == h.signature()["wl_hash"]
    # same counts, other wiring: one saddle reaches A twice-over instead of B
    s = int(np.flatnonzero(g.index == 1)[0])
    other = [e for e in g.edges.tolist() if e[0] != s] + [[s, int(np.flatnonzero(g.index == 0)[0])]]
    rewired = FixedPointGraph(points=g.points, index=g.index, edges=np.array(other), q=g.q)
    assert topology_distance(g, rewired) == 2.0  # one edge of type 1->0 fewer
    D = topology_distances([g, h, rewired])
    assert D.tolist() == [[0, 0, 2], [0, 0, 2], [2, 2, 0]]


def test_a_float32_network_and_bad_arguments():
    gru = torch.nn.GRU(2, 6)
    torch.manual_seed(0)
    fps = find_fixed_points(gru, torch.randn(20, 6) * 0.5, torch.zeros(1, 2), tol=1e-12)
    g = fixed_point_graph(gru, fps[torch.as_tensor(fps.converged)])
    assert len(g) >= 1 and g.points.dtype == np.float64
    with pytest.raises(ArgumentError, match="merge_tol"):
        fixed_point_graph(gru, fps.points, torch.zeros(2), merge_tol=0)
    with pytest.raises(ArgumentError, match="give inputs"):
        fixed_point_graph(three_attractors, torch.zeros(1, 2))
