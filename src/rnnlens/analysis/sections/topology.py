"""Section ``topology``: the graph of the distinct exact fixed points at x* (from the ``modes`` section), each
labelled by its index (number of unstable modes), with an edge from each saddle to the fixed point that each of
its unstable directions leads to under the network's own dynamics (:func:`rnnlens.compare.fixed_point_graph`),
so that networks can be compared by topology (:func:`rnnlens.compare.topology_distance`) from saved analyses."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, Measurement, MetricSpec, Section, metric
from rnnlens.settings import Int, OneOf, Real, SettingsGroup, setting

__all__ = ["TopologySettings", "measure", "SECTION"]


@dataclass(frozen=True)
class TopologySettings(SettingsGroup):
    """The fixed-point graph."""

    name = "topology"
    fixed_point_graph: str = setting(
        "on",
        "Follow each saddle's unstable directions to the fixed point they reach (off: skip).",
        OneOf(("on", "off")),
    )
    graph_epsilon: float = setting(
        1e-3, "Distance from the saddle at which each run along an unstable direction starts.", Real(gt=0)
    )
    graph_max_steps: int = setting(10000, "Steps a run from a saddle may take before it counts as unsettled.", Int())
    graph_settle_tol: float = setting(
        1e-12, "A run has settled when q = (1/N)||F(h, x*) - h||^2 is below this.", Real(gt=0)
    )


def applies(run) -> bool:
    """When the graph is on and the modes section found distinct exact fixed points."""
    modes = run.products.get("modes")
    return (
        run.settings.topology.fixed_point_graph == "on"
        and modes is not None
        and modes.distinct is not None
        and len(modes.distinct) > 0
    )


def measure(run) -> Measurement:
    """The fixed-point graph of the modes section's distinct points."""
    import torch

    from rnnlens.compare.topology import fixed_point_graph

    s, distinct = run.settings.topology, run.products["modes"].distinct
    merge = float(distinct.info.get("merge_tol", 1e-3)) or 1e-3
    g = fixed_point_graph(
        run.network.step,
        torch.as_tensor(distinct.points),
        run.x_star,
        merge_tol=merge,
        epsilon=s.graph_epsilon,
        max_steps=s.graph_max_steps,
        settle_tol=s.graph_settle_tol,
        match_tol=max(10 * merge, 1e-2),
    )
    sig = g.signature()
    out = Measurement()
    out.metrics["topology"] = {
        "n_nodes": metric("topology.n_nodes", len(g)),
        "counts_by_index": metric("topology.counts_by_index", sig["counts_by_index"]),
        "n_edges": metric("topology.n_edges", int(len(g.edges))),
        "edges_by_index": metric("topology.edges_by_index", sig["edges_by_index"]),
        "wl_hash": metric("topology.wl_hash", sig["wl_hash"]),
        "n_runs": metric("topology.n_runs", g.n_runs, epsilon=s.graph_epsilon),
        "n_unsettled": metric("topology.n_unsettled", g.n_unsettled, steps=s.graph_max_steps),
        "n_added": metric("topology.n_added", g.n_added),
    }
    out.arrays.update(
        topo_points=g.points.astype(np.float32),
        topo_index=g.index.astype(np.int64),
        topo_edges=g.edges.reshape(-1, 2).astype(np.int64),
        topo_q=g.q.astype(np.float64),
    )
    return out


METRICS = (
    MetricSpec(
        "topology.n_nodes",
        "nodes of the fixed-point graph: the distinct exact fixed points of the modes section (modes.n_distinct) "
        "plus any that runs from the saddles settled on and the search had missed",
        "fixed points in the topology graph",
        "{}",
    ),
    MetricSpec(
        "topology.counts_by_index",
        "entry i: nodes with i unstable modes (|lambda| > 1 beyond rounding; 0 stable, i >= 1 a saddle of index i)",
    ),
    MetricSpec(
        "topology.n_edges",
        "distinct edges saddle -> node: a run from the saddle along one of its unstable directions settled there",
        "edges saddle -> fixed point",
        "{}",
    ),
    MetricSpec("topology.edges_by_index", "edges by 'index of the saddle -> index of the node reached'"),
    MetricSpec(
        "topology.wl_hash",
        "Weisfeiler-Lehman hash (networkx, 4 iterations) of the directed graph with nodes labelled by index: equal "
        "for isomorphic graphs, different hashes mean different topologies",
    ),
    MetricSpec(
        "topology.n_runs",
        "runs started at distance {epsilon:g} from a saddle, +- each unstable eigenvector (Re and Im of a complex "
        "pair), under the network's own dynamics at x*",
    ),
    MetricSpec("topology.n_unsettled", "runs that had not settled (q < graph_settle_tol) after {steps} steps"),
    MetricSpec("topology.n_added", "nodes found by the runs that the fixed-point search had missed"),
)

ARRAYS = (
    ArraySpec("topo_points", "f", 2, "[K, S] float32: the graph's fixed points (nodes)"),
    ArraySpec("topo_index", "i", 1, "[K] each node's number of unstable modes"),
    ArraySpec("topo_edges", "i", 2, "[E, 2] edges (saddle row, reached row) into topo_points"),
    ArraySpec("topo_q", "f", 1, "[K] q = (1/N)||F(h*, x*) - h*||^2 at each node"),
)

SECTION = Section(
    name="topology",
    title="fixed-point topology",
    measure=measure,
    settings=TopologySettings,
    applies=applies,
    metrics=METRICS,
    arrays=ARRAYS,
)
