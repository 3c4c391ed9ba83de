"""What the modifier analysis returns: :class:`ModifierAnalysis`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlens.analysis.registry import metric_value
from rnnlens.errors import ArgumentError

__all__ = ["ModifierAnalysis", "SECTION"]

SECTION = "modifiers"


@dataclass
class ModifierAnalysis:
    """What :func:`rnnlens.analysis.modifiers.analyze_modifiers` measured: ``metrics``
    (``{"modifiers": {name: node}}``, every number with its definition), ``arrays`` (for the report's figures,
    names starting ``mod_``), ``missing`` (what could not be measured, and why) and ``seconds``."""

    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    seconds: float = 0.0

    def value(self, name: str) -> Any:
        """The value of metric ``modifiers.<name>`` (or a full dotted path); None when not measured."""
        path = name if "." in name else f"{SECTION}.{name}"
        return metric_value({"metrics": self.metrics}, path)

    def factor(self, modifier: str) -> np.ndarray:
        """The measured factor of ``modifier`` at gaps 1..max_gap."""
        f = self.value("factor") or {}
        if modifier not in f:
            raise ArgumentError(f"modifier {modifier!r} was not measured (measured: {sorted(f)})")
        return np.asarray(f[modifier], dtype=np.float64)
