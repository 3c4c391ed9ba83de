"""The built-in analysis sections, registered in the order ``analyze`` runs them (one line each).

A section of your own is one module declaring a :class:`rnnlens.analysis.registry.Section` and one
:func:`rnnlens.analysis.registry.register` call.
"""

from rnnlens.analysis.registry import register
from rnnlens.analysis.sections import (
    documents,
    fixed_points,
    kclass,
    linearization,
    manifold,
    modes,
    modifiers,
    slow_manifold,
    speed,
    topology,
    trajectories,
    valence,
)

register(documents.SECTION)
register(trajectories.SECTION)
register(fixed_points.SECTION)
register(manifold.SECTION)
register(modes.SECTION)
register(topology.SECTION)
register(valence.SECTION)
register(linearization.SECTION)
register(speed.SECTION)
register(slow_manifold.SECTION)
register(modifiers.SECTION)
register(kclass.SECTION)
