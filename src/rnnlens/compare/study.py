"""Many networks, one comparison: the saved analyses of networks that read the same inputs, compared by geometry
(SVCCA of their state trajectories), fixed-point topology (the labelled graph of their fixed points) and DSA (their
dynamics). What ``rnnlens compare`` and a sweep's comparison run.

Each measure gives a distance matrix ``[M, M]`` with its definition, a 2-D MDS embedding of it (scikit-learn's
metric MDS on the precomputed distances) and the leave-one-out nearest-neighbour accuracy of the networks' labels
(the architecture): does the measure separate the architectures? A measure that cannot be computed (too few
networks with what it needs, DSA not installed) is reported as missing, with why, and the others still run.

Everything is read from the analysis folders (sections ``trajectories`` and ``topology``); nothing here runs a
network. The networks must have read the same inputs: the analyses' corpus fingerprints and saved trajectory
lengths must agree, else :class:`rnnlens.errors.ArgumentError` names the first that differs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnlens.errors import ArgumentError
from rnnlens.settings import Int, OneOf, Real, SettingsGroup, Words, setting

__all__ = ["MEASURES", "CompareSettings", "Member", "Comparison", "load_members", "compare_members"]

MEASURES = ("svcca", "topology", "dsa")

DEFINITIONS = {
    "svcca": "SVCCA distance = 1 - mean canonical correlation between two networks' states on the same inputs "
    "(traj_states of each analysis, every step of every saved sequence as a row), each network first reduced to "
    "{reduced} (Raghu et al. 2017); 0: the same geometry up to a linear map",
    "topology": "topology distance between the fixed-point graphs (nodes: distinct fixed points labelled by their "
    "number of unstable modes; edges: saddle -> the fixed point a run along an unstable direction settles on): 0 "
    "when the labelled graphs are isomorphic, else 1 + the L1 difference of their node counts by index and edge "
    "counts by (index, index)",
    "dsa": "DSA distance (Ostrow et al. 2023, dsa-metric): each network's states delay-embedded ({n_delays} delays), "
    "a rank-{rank} linear operator fitted to them (DMD), and the operators compared by {score} (wasserstein: "
    "between their eigenvalue spectra; angular/euclidean: Procrustes over a change of basis); on the first "
    "{steps} steps of each saved sequence",
}


@dataclass(frozen=True)
class CompareSettings(SettingsGroup):
    """What a comparison computes."""

    name = "compare"
    kind = "compare"
    measures: tuple = setting(MEASURES, "Measures to compute: svcca, topology, dsa.", Words())
    svcca_dims: int | None = setting(
        10,
        "SVCCA: principal directions kept per network, the same number for every network (a larger subspace "
        "correlates better with anything, so unequal sizes bias the distance).",
        Int(),
        none="the directions holding svcca_keep of each network's variance",
    )
    svcca_keep: float = setting(
        0.99,
        "SVCCA with svcca_dims None: share of each network's state variance its kept principal directions hold.",
        Real(gt=0, le=1),
    )
    dsa_delays: int = setting(10, "DSA: delays in the delay embedding.", Int())
    dsa_rank: int = setting(10, "DSA: rank of the fitted linear operator.", Int())
    dsa_score: str = setting(
        "wasserstein",
        "DSA: how two operators are compared (wasserstein: eigenvalue spectra; angular: Procrustes, slow).",
        OneOf(("wasserstein", "angular", "euclidean")),
    )
    dsa_steps: int = setting(200, "DSA: at most this many first steps of each saved sequence.", Int())
    seed: int = setting(0, "Seed of the MDS embedding.", Int(0))

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = [m for m in self.measures if m not in MEASURES]
        if unknown:
            raise ArgumentError(f"compare setting measures: unknown {unknown}; choose among {', '.join(MEASURES)}")


@dataclass
class Member:
    """One network of a comparison, as its saved analysis holds it."""

    name: str
    folder: Path
    label: str
    summary: dict
    arrays: Any

    def trajectories(self) -> list[np.ndarray]:
        """The saved state trajectories, one ``[T_i, S]`` array per sequence."""
        if "traj_states" not in self.arrays:
            return []
        ends = np.cumsum(self.arrays["traj_lengths"])
        return np.split(np.asarray(self.arrays["traj_states"], dtype=np.float64), ends[:-1])

    def graph(self):
        """The :class:`rnnlens.compare.topology.FixedPointGraph` of the ``topology`` section, or None."""
        from rnnlens.compare.topology import FixedPointGraph

        if "topo_index" not in self.arrays:
            return None
        return FixedPointGraph(
            points=np.asarray(self.arrays["topo_points"], dtype=np.float64),
            index=np.asarray(self.arrays["topo_index"], dtype=np.int64),
            edges=np.asarray(self.arrays["topo_edges"], dtype=np.int64).reshape(-1, 2),
            q=np.asarray(self.arrays["topo_q"], dtype=np.float64),
        )

    def value(self, path: str) -> Any:
        """A metric's value (``section.name``), or None."""
        section, name = path.split(".", 1)
        return (self.summary.get("metrics", {}).get(section, {}).get(name) or {}).get("value")


def load_members(folders, labels: list[str] | None = None) -> list[Member]:
    """The analyses in ``folders`` (each written by ``analyze``), labelled by ``labels`` or by their architecture.

    Raises:
        ArgumentError: fewer than 2 folders, labels of another length, or analyses of different inputs.
    """
    from rnnlens.analysis.result import load_analysis

    folders = [Path(f) for f in folders]
    if len(folders) < 2:
        raise ArgumentError(f"compare: needs at least 2 analyses, got {len(folders)}")
    if labels is not None and len(labels) != len(folders):
        raise ArgumentError(f"compare: {len(labels)} labels for {len(folders)} analyses")
    members: list[Member] = []
    for i, folder in enumerate(folders):
        a = load_analysis(folder)
        arch = (a.provenance.get("model") or {}).get("arch", "?")
        members.append(
            Member(_unique_name(folder, members), folder, labels[i] if labels else arch, a.summary, a.arrays)
        )
    _check_same_inputs(members)
    return members


def _unique_name(folder: Path, members: list[Member]) -> str:
    """The folder's name, or its last two parts when another member has that name (a sweep's trial/analysis)."""
    name = folder.name if folder.name != "analysis" else folder.parent.name
    taken = {m.name for m in members}
    k = 2
    while name in taken:
        name, k = f"{name}-{k}", k + 1
    return name


def _check_same_inputs(members: list[Member]) -> None:
    first = members[0]
    fp0 = first.summary.get("provenance", {}).get("corpus_fingerprint")
    len0 = _lengths(first)
    for m in members[1:]:
        fp = m.summary.get("provenance", {}).get("corpus_fingerprint")
        if fp != fp0:
            raise ArgumentError(
                f"compare: {m.folder} analysed other data than {first.folder} (corpus fingerprint {str(fp)[:12]} "
                f"against {str(fp0)[:12]}); compare networks analysed on the same inputs"
            )
        lengths = _lengths(m)
        if len0 is not None and lengths is not None and not np.array_equal(lengths, len0):
            raise ArgumentError(
                f"compare: {m.folder} saved trajectories of other sequences than {first.folder} ({len(lengths)} "
                f"against {len(len0)} sequences, or other lengths); analyse both with the same n_trajectories"
            )


def _lengths(m: Member) -> np.ndarray | None:
    return np.asarray(m.arrays["traj_lengths"]) if "traj_lengths" in m.arrays else None


@dataclass
class Comparison:
    """The result of :func:`compare_members`.

    Attributes:
        names: the networks' names, in order; labels: their labels (architecture).
        measures: per computed measure, ``{"distances": [M, M], "definition", "mds": [M, 2], "mds_stress",
            "nn_accuracy", "nn_chance", "networks": indices of the networks it covers}``.
        missing: per measure not computed, why.
        topology: per network, its fixed-point counts by index, edges and graph hash (None without the section).
        settings: the :class:`CompareSettings` used.
    """

    names: list[str]
    labels: list[str]
    measures: dict[str, dict]
    missing: dict[str, str]
    topology: list[dict | None]
    settings: CompareSettings
    info: dict = field(default_factory=dict)

    def distances(self, measure: str) -> np.ndarray:
        """The distance matrix of ``measure``."""
        if measure not in self.measures:
            why = self.missing.get(measure, f"not asked for ({', '.join(self.measures)} were)")
            raise ArgumentError(f"compare: no {measure} distances: {why}")
        return self.measures[measure]["distances"]


def nearest_neighbour_accuracy(D: np.ndarray, labels: list[str]) -> tuple[float, float]:
    """(accuracy, chance) of labelling each network by its nearest other network under ``D`` (leave one out;
    where several are nearest, as integer topology distances often are, the share of them with its label, so
    the order of the networks does not matter); chance: the same accuracy for a neighbour drawn at random,
    sum_c n_c (n_c - 1) / (M (M - 1))."""
    M = len(labels)
    D = np.array(D, dtype=np.float64)
    np.fill_diagonal(D, np.inf)
    lab = np.asarray(labels)
    nearest = D == D.min(axis=1, keepdims=True)
    accuracy = float(np.mean([np.mean(lab[row] == lab[i]) for i, row in enumerate(nearest)]))
    counts = Counter(labels)
    chance = sum(n * (n - 1) for n in counts.values()) / (M * (M - 1))
    return accuracy, float(chance)


def mds_embedding(D: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    """2-D metric MDS of the distances ``D`` (scikit-learn's SMACOF from the classical solution), and Kruskal's
    stress-1 of the fit,
    ``sqrt(sum (d_ij - D_ij)^2 / sum D_ij^2)`` over pairs, d the distances in the plane: 0 is a perfect fit, above
    about 0.2 the plane misrepresents the distances."""
    from sklearn.manifold import MDS

    if not np.isfinite(D).all():
        raise ArgumentError("compare: a distance matrix holds NaN or inf; it cannot be embedded")
    if np.allclose(D, 0):
        return np.zeros((len(D), 2)), 0.0
    mds = MDS(n_components=2, metric="precomputed", init="random", n_init=1, random_state=seed)
    xy = mds.fit_transform(D, init=_classical(D))
    d = np.linalg.norm(xy[:, None] - xy[None, :], axis=-1)
    return xy, float(np.sqrt(((d - D) ** 2).sum() / (D**2).sum()))


def _classical(D: np.ndarray) -> np.ndarray:
    """Classical (Torgerson) MDS of ``D`` in 2-D, the start of the iterative fit: the top eigenvectors of the
    double-centred squared distances, negative eigenvalues (distances that no Euclidean plane holds, as SVCCA's
    and the topology's may be) taken as 0."""
    n = len(D)
    J = np.eye(n) - 1.0 / n
    w, V = np.linalg.eigh(-0.5 * J @ (D**2) @ J)
    top = np.argsort(w)[::-1][:2]
    return V[:, top] * np.sqrt(np.clip(w[top], 0, None))


def _measure(name: str, D: np.ndarray, covered: list[int], labels: list[str], s: CompareSettings, **fmt) -> dict:
    sub = [labels[i] for i in covered]
    xy, stress = mds_embedding(D, s.seed)
    acc, chance = nearest_neighbour_accuracy(D, sub) if len(sub) > 1 else (float("nan"), float("nan"))
    return {
        "distances": D,
        "definition": DEFINITIONS[name].format(**fmt),
        "mds": xy,
        "mds_stress": stress,
        "nn_accuracy": acc,
        "nn_chance": chance,
        "networks": covered,
    }


def _svcca(members: list[Member], s: CompareSettings) -> tuple[np.ndarray, list[int]] | str:
    from rnnlens.compare.similarity import svcca_distances

    covered = [i for i, m in enumerate(members) if "traj_states" in m.arrays and len(m.arrays["traj_states"])]
    if len(covered) < 2:
        return f"{len(covered)} of the analyses saved trajectories (section trajectories); 2 are needed"
    states = [np.asarray(members[i].arrays["traj_states"], dtype=np.float64) for i in covered]
    if s.svcca_dims is None:
        return svcca_distances(states, keep=s.svcca_keep), covered
    return svcca_distances([top_directions(X, s.svcca_dims) for X in states], keep=None), covered


def top_directions(X: np.ndarray, k: int) -> np.ndarray:
    """The centred states ``X`` [n, N] projected on their top ``k`` principal directions, [n, k'] with k' = k or
    fewer where the states span fewer (directions of singular value under 1e-6 of the largest are the rounding of
    states saved in float32)."""
    X = X - X.mean(axis=0)
    U, S, _ = np.linalg.svd(X, full_matrices=False)
    k = min(k, int((S > 1e-6 * S[0]).sum()) if S.size and S[0] > 0 else 0)
    return U[:, :k] * S[:k]


def _topology(members: list[Member]) -> tuple[np.ndarray, list[int]] | str:
    from rnnlens.compare.topology import topology_distances

    graphs = [m.graph() for m in members]
    covered = [i for i, g in enumerate(graphs) if g is not None]
    if len(covered) < 2:
        return f"{len(covered)} of the analyses hold a fixed-point graph (section topology); 2 are needed"
    return topology_distances([graphs[i] for i in covered]), covered


def _dsa(members: list[Member], s: CompareSettings) -> tuple[np.ndarray, list[int], int] | str:
    from rnnlens.compare.dsa import dsa_distances  # dsa-metric itself is imported by the call (missing: ArgumentError)

    covered = [i for i, m in enumerate(members) if len(m.trajectories())]
    if len(covered) < 2:
        return f"{len(covered)} of the analyses saved trajectories (section trajectories); 2 are needed"
    trajs = [members[i].trajectories() for i in covered]
    steps = min(s.dsa_steps, min(len(t) for t in trajs[0]))
    data = [np.stack([t[:steps] for t in tr]) for tr in trajs]
    try:
        result = dsa_distances(data, n_delays=s.dsa_delays, rank=s.dsa_rank, score_method=s.dsa_score, delay_interval=1)
    except ArgumentError as e:
        return str(e)
    return np.asarray(result.distances, dtype=np.float64), covered, steps


def compare_members(members: list[Member], settings: CompareSettings | None = None) -> Comparison:
    """Every asked-for measure over ``members`` (see the module docstring)."""
    s = settings or CompareSettings()
    labels = [m.label for m in members]
    measures: dict[str, dict] = {}
    missing: dict[str, str] = {}
    for name in s.measures:
        got: Any
        if name == "svcca":
            got = _svcca(members, s)
            fmt: dict = {
                "reduced": f"its top {s.svcca_dims} principal directions (the same number for every network)"
                if s.svcca_dims is not None
                else f"the top principal directions holding {s.svcca_keep:g} of its variance"
            }
        elif name == "topology":
            got = _topology(members)
            fmt = {}
        else:
            got = _dsa(members, s)
            fmt = {"n_delays": s.dsa_delays, "rank": s.dsa_rank, "score": s.dsa_score}
            if not isinstance(got, str):
                fmt["steps"] = got[2]
        if isinstance(got, str):
            missing[name] = got
            continue
        measures[name] = _measure(name, got[0], got[1], labels, s, **fmt)
    topology = [None if m.value("topology.counts_by_index") is None else _topology_row(m) for m in members]
    return Comparison([m.name for m in members], labels, measures, missing, topology, s)


def _topology_row(m: Member) -> dict:
    return {
        "counts_by_index": m.value("topology.counts_by_index"),
        "n_edges": m.value("topology.n_edges"),
        "wl_hash": m.value("topology.wl_hash"),
    }
