"""What an analysis section is, and the one list of registered sections.

A :class:`Section` declares everything about one part of the analysis: its settings group, when it
applies, its measurement, the metrics it reports (:class:`MetricSpec`: dotted path and definition),
the arrays it saves (:class:`ArraySpec`: name, dtype, shape, meaning), its figures and report table
(named by ``"module:function"`` so that declaring a section loads neither torch nor matplotlib) and
what it adds to the explorer's scene. ``analyze``, the report and the explorer loop over
:func:`sections`; a new section is one module plus one :func:`register` call
(``rnnlens.analysis.sections`` registers the built-in ones, in the order they run).

This module is a leaf: it imports nothing else of rnnlens.analysis, so measurement code can build
its metric nodes with :func:`metric` from here without an import circle.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

import numpy as np

__all__ = [
    "MetricSpec",
    "ArraySpec",
    "FigureSpec",
    "Section",
    "Measurement",
    "register",
    "unregister",
    "sections",
    "section",
    "metric_spec",
    "array_spec",
    "metric",
    "metric_node",
    "metric_value",
    "resolve",
    "settings_groups",
]


@dataclass(frozen=True)
class MetricSpec:
    """One reported number: its dotted ``path`` (``section.name`` as in ``summary.json["metrics"]``), its
    ``definition`` (a ``str.format`` template filled by the measurement), and for key numbers of the
    report a short ``label`` and a ``fmt`` (a format string, or one of the report's named formats
    ``pc3``, ``tau``, ``r1m``). ``only_when`` says when a metric that is not always measured is (e.g. "the
    input sequences have per-step targets"); None: whenever its section runs."""

    path: str
    definition: str
    label: str | None = None
    fmt: str | None = None
    only_when: str | None = None


# q as every metric definition writes it (the paper's; FixedPointFinder's 0.5||.||^2 is q_half elsewhere)
Q_DEFINITION = "q = (1/N)||F(h*, x*) - h*||^2"

_KINDS = {"f": "floating", "i": "integer", "U": "string", "b": "boolean", "c": "complex"}


@dataclass(frozen=True)
class ArraySpec:
    """One saved array: ``name`` (a key of ``arrays.npz``), ``kind`` (numpy dtype kind: ``f`` float,
    ``i`` integer, ``U`` string, ``b`` bool, ``c`` complex), ``ndim``, and what it holds (``definition``,
    with its shape in words)."""

    name: str
    kind: str
    ndim: int
    definition: str

    def check(self, value) -> np.ndarray:
        """``value`` as an array, or TypeError when its dtype kind or number of dimensions differ from the
        declaration (a measurement that saves something else than it declares is a bug)."""
        a = np.asarray(value)
        kind = "i" if a.dtype.kind == "u" else a.dtype.kind
        if kind != self.kind or a.ndim != self.ndim:
            raise TypeError(
                f"array {self.name!r}: declared {_KINDS[self.kind]} with {self.ndim} dimensions, "
                f"measured {a.dtype} with shape {a.shape}"
            )
        return a


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a section: its file ``name``, ``draw`` (``"module:function"``, called as
    ``function(summary, arrays)`` and returning a matplotlib figure, or None when its arrays are
    missing) and its ``caption``."""

    name: str
    draw: str
    caption: str


@dataclass
class Measurement:
    """What one measurement produced: metrics by section, arrays for figures, what is missing."""

    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)


def _always(run) -> bool:
    return True


@dataclass(frozen=True)
class Section:
    """One section of the analysis (see the module docstring).

    Attributes:
        name: the section's key (its settings group is ``settings.<name>`` when it has one).
        title: a few words for humans (progress lines, the report).
        measure: ``measure(run) -> Measurement``; ``run`` is the :class:`rnnlens.analysis.pipeline.Run`
            (network, documents, settings, earlier sections' products in ``run.products``).
        settings: the section's :class:`rnnlens.settings.SettingsGroup` subclass, or None.
        applies: ``applies(run) -> bool``; a section that does not apply is skipped (whoever made it
            impossible, e.g. the fixed-point search finding no point, records why under ``missing``).
        metrics, arrays: everything the measurement may report and save (nothing else is accepted).
        figures: the report's figures of this section, in order.
        table: ``"module:function"`` returning the report's HTML for this section from a summary
            (None: the key numbers of ``metrics`` with a label are enough).
        scene: ``"module:function"`` returning this section's part of the explorer's scene from
            ``(summary, arrays)`` (None: nothing to show there).
        optional: when the section is not part of every complete analysis, how it is asked for.
        needs: what the section needs of the network and the data: ``"words"`` (text documents, a tokenizer
            with a word list and a table of input vectors) and/or ``"labels"`` (labelled documents). A section
            whose needs are not met is skipped, and the analysis says so under ``skipped``.
    """

    name: str
    title: str
    measure: Callable[[Any], Measurement]
    settings: type[Any] | None = None
    applies: Callable[[Any], bool] = _always
    metrics: tuple[MetricSpec, ...] = ()
    arrays: tuple[ArraySpec, ...] = ()
    figures: tuple[FigureSpec, ...] = ()
    table: str | None = None
    scene: str | None = None
    optional: str | None = None
    needs: tuple[str, ...] = ()


_SECTIONS: list[Section] = []


def register(new: Section, *, before: str | None = None) -> Section:
    """Add a section (at the end, or before the section named ``before``). Its name, its settings group's
    field names and its metric and array names must be new."""
    if any(s.name == new.name for s in _SECTIONS):
        raise ValueError(f"a section named {new.name!r} is already registered")
    taken_m = {m.path for s in _SECTIONS for m in s.metrics}
    taken_a = {a.name for s in _SECTIONS for a in s.arrays}
    taken_f = {f.name for _, g in settings_groups() for f in dataclasses.fields(g)}
    clash = (
        [m.path for m in new.metrics if m.path in taken_m]
        + [a.name for a in new.arrays if a.name in taken_a]
        + [f.name for f in (dataclasses.fields(new.settings) if new.settings else ()) if f.name in taken_f]
    )
    if clash or len({m.path for m in new.metrics}) != len(new.metrics):
        raise ValueError(f"section {new.name!r} declares names already taken: {clash}")
    if new.settings is not None and new.settings.name != new.name:
        raise ValueError(f"section {new.name!r}: its settings group must be named {new.name!r}")
    at = len(_SECTIONS) if before is None else [s.name for s in _SECTIONS].index(before)
    _SECTIONS.insert(at, new)
    return new


def unregister(name: str) -> None:
    """Remove the section ``name`` (e.g. a test's own section)."""
    _SECTIONS[:] = [s for s in _SECTIONS if s.name != name]


def sections() -> tuple[Section, ...]:
    """The registered sections, in the order they run."""
    return tuple(_SECTIONS)


def section(name: str) -> Section:
    """The registered section ``name`` (KeyError naming the known ones)."""
    for s in _SECTIONS:
        if s.name == name:
            return s
    raise KeyError(f"no analysis section {name!r}; registered: {[s.name for s in _SECTIONS]}")


def settings_groups() -> list[tuple[str, type]]:
    """``(section name, settings group class)`` of every registered section that has settings."""
    return [(s.name, s.settings) for s in _SECTIONS if s.settings is not None]


def groups_of(settings: Any, names: tuple[str, ...], caller: str) -> tuple:
    """The settings groups ``names`` of an ``AnalysisSettings`` (None: every registered section's defaults, as
    ``AnalysisSettings()`` holds them), for a section entry point that cannot import the settings class
    without an import circle; anything else is an ArgumentError naming ``caller``."""
    from rnnlens.errors import ArgumentError

    classes = dict(settings_groups())
    if settings is None:
        return tuple(classes[name]() for name in names)
    groups = tuple(getattr(settings, name, None) for name in names)
    if not all(isinstance(g, classes[name]) for g, name in zip(groups, names)):
        raise ArgumentError(
            f"{caller}: settings must be an rnnlens.AnalysisSettings (e.g. AnalysisSettings.make("
            f"n_docs=200)); got {type(settings).__name__}"
        )
    return groups


def metric_spec(path: str) -> MetricSpec:
    """The declaration of metric ``path``; KeyError for a path no registered section declares."""
    for s in _SECTIONS:
        for m in s.metrics:
            if m.path == path:
                return m
    raise KeyError(f"{path!r} is not a metric of rnnlens.analysis.metrics.METRICS")


def array_spec(name: str) -> ArraySpec:
    """The declaration of array ``name``; KeyError for a name no registered section declares."""
    for s in _SECTIONS:
        for a in s.arrays:
            if a.name == name:
                return a
    raise KeyError(f"{name!r} is not an array any analysis section declares")


def metric(path: str, value, **fields) -> dict:
    """The summary node ``{"value", "definition"}`` of metric ``path``, its definition filled with ``fields``."""
    return {"value": value, "definition": metric_spec(path).definition.format(**fields)}


def resolve(ref: str):
    """The object a ``"module:function"`` reference names (imported on first use)."""
    module, _, name = ref.partition(":")
    return getattr(import_module(module), name)


def metric_node(summary: dict, path: str) -> dict | None:
    """The ``{"value", "definition"}`` node of metric ``path`` in a summary, or None when it was not measured.

    Raises KeyError for a path no registered section declares (a typo, not a missing measurement).
    """
    metric_spec(path)
    node = summary.get("metrics", {})
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, dict) and "value" in node else None


def metric_value(summary: dict, path: str):
    """The value of metric ``path`` in a summary, or None when it was not measured."""
    node = metric_node(summary, path)
    return None if node is None else node["value"]
