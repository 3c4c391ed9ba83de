"""Comparing networks: geometry (CCA, SVCCA), dynamics (DSA, through ``dsa-metric``) and fixed-point topology.

Each measure reads what an analysis saved (the ``trajectories`` and ``topology`` sections) or arrays a user
passes; nothing here trains or runs an analysis. ``dsa_distances`` needs the ``compare`` extra
(``pip install 'rnnlens[compare]'``).
"""

from rnnlens.compare.dsa import DSAResult, dsa_distances
from rnnlens.compare.similarity import CCAResult, canonical_correlations, cca, chance_similarity, svcca, svcca_distances
from rnnlens.compare.topology import FixedPointGraph, fixed_point_graph, topology_distance, topology_distances

__all__ = [
    "CCAResult",
    "canonical_correlations",
    "cca",
    "svcca",
    "svcca_distances",
    "chance_similarity",
    "DSAResult",
    "dsa_distances",
    "FixedPointGraph",
    "fixed_point_graph",
    "topology_distance",
    "topology_distances",
]
