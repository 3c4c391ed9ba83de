"""Every number ``analyze`` reports, defined once.

Each analysis section declares the metrics it reports (:class:`MetricSpec`: the dotted path, as in
``summary.json["metrics"]``, and the definition written beside the value; for the numbers the report
lists first, a short label and a format). ``METRICS`` is the table of every registered section's
metrics, in section order. The measurements fill values through :func:`metric`; the report, the
checks, the CLI and ``Analysis.value`` read them back through :func:`metric_node` /
:func:`metric_value`. A path that is not in the table is an error on both sides, so a check or a
report row can never point at a number that does not exist.

Definitions may hold ``str.format`` fields (``{tol:g}``, ``{n}``) filled by the measurement that
records the value. This module imports neither torch nor the solvers.
"""

from __future__ import annotations

from collections.abc import Mapping

from rnnlens.analysis import sections as _sections  # noqa: F401  (registers the built-in sections)
from rnnlens.analysis.registry import MetricSpec, metric, metric_node, metric_spec, metric_value, sections

__all__ = ["MetricSpec", "METRICS", "metric", "metric_node", "metric_value", "key_numbers", "optional_sections"]


class _MetricTable(Mapping):
    """Dotted path -> :class:`MetricSpec` over every registered section (read live, so a section registered
    later is in it)."""

    def __getitem__(self, path: str) -> MetricSpec:
        return metric_spec(path)

    def __iter__(self):
        return (m.path for s in sections() for m in s.metrics)

    def __len__(self) -> int:
        return sum(len(s.metrics) for s in sections())


METRICS: Mapping[str, MetricSpec] = _MetricTable()


def optional_sections() -> dict[str, str]:
    """Sections that are not in every complete analysis: name -> how they are asked for."""
    return {s.name: s.optional for s in sections() if s.optional}


def key_numbers() -> list[MetricSpec]:
    """The metrics the report lists first (those with a label), in table order."""
    return [m for s in sections() for m in s.metrics if m.label is not None]
