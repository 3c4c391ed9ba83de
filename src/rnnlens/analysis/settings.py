"""``AnalysisSettings``: every option of ``analyze``, declared once as data.

Each analysis section declares its own small frozen settings group (a
:class:`rnnlens.settings.SettingsGroup`: every field with its default, help text and constraint);
``AnalysisSettings`` holds one group per registered section, reached as an attribute
(``settings.fixed_points.tol``). The ``analyze``/``demo``/``reproduce`` command-line options and the
sweep SPEC's ``[analysis]`` table are generated from, and checked by, the same fields, so a bad value
gets the same message (``analysis setting NAME=VALUE is invalid: ...``) wherever it comes from.

Field names are unique across groups, so flat keywords name them too:
``AnalysisSettings.make(n_docs=200, tol=1e-10)`` or ``settings.replace(n_seeds=100)``. This module
imports no torch.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rnnlens.analysis import sections as _sections  # noqa: F401  (registers the built-in sections)
from rnnlens.analysis.registry import settings_groups
from rnnlens.errors import ArgumentError
from rnnlens.settings import cli_options

__all__ = ["AnalysisSettings", "DEMO", "QUICK", "setting_fields", "command_line_options"]


def setting_fields() -> dict[str, tuple[str, dataclasses.Field]]:
    """Every analysis setting: flat name -> (group name, dataclass field), in section order."""
    out = {}
    for name, group in settings_groups():
        for f in dataclasses.fields(group):
            out[f.name] = (name, f)
    return out


class AnalysisSettings:
    """The settings of one analysis: one frozen group per registered section that has settings.

    ``AnalysisSettings()`` holds every default; ``AnalysisSettings.make(**flat)`` and
    :meth:`replace` change single fields by name; ``AnalysisSettings.from_dict`` reads what
    :meth:`to_dict` wrote (``summary.json["settings"]``). Invalid values raise
    :class:`rnnlens.errors.ArgumentError` naming the setting and what it accepts.

    Args:
        groups: group name -> that group's settings object, or a ``{field: value}`` dict for it; a group not
            given holds its defaults; None: every default.

    Raises:
        ArgumentError: an unknown group, a group of the wrong type, an unknown field in a group's dict, or an
            invalid value.
    """

    __slots__ = ("_groups",)

    def __init__(self, groups: dict[str, Any] | None = None):
        given = dict(groups or {})
        made = {}
        for name, cls in settings_groups():
            g = given.pop(name, None)
            if g is None:
                g = cls()
            elif isinstance(g, dict):
                g = _group(cls, g)
            elif not isinstance(g, cls):
                raise ArgumentError(
                    f"analysis settings group {name!r} must be a {cls.__name__}; got {type(g).__name__}"
                )
            made[name] = g
        if given:
            raise ArgumentError(f"unknown analysis settings groups {sorted(given)}; known: {sorted(made)}")
        object.__setattr__(self, "_groups", made)

    def __getattr__(self, name: str):
        groups = object.__getattribute__(self, "_groups")
        if name in groups:
            return groups[name]
        raise AttributeError(f"AnalysisSettings has no group {name!r}; groups: {sorted(groups)}")

    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError("AnalysisSettings is frozen; use .replace(name=value)")

    def __eq__(self, other) -> bool:
        return isinstance(other, AnalysisSettings) and self._groups == other._groups

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, repr(v)) for k, v in self._groups.items())))

    def __repr__(self) -> str:
        return "AnalysisSettings(" + ", ".join(f"{k}={v!r}" for k, v in self._groups.items()) + ")"

    @property
    def groups(self) -> dict[str, Any]:
        """Group name -> settings group, in section order."""
        return dict(self._groups)

    @classmethod
    def make(cls, **flat) -> AnalysisSettings:
        """Defaults with the named fields changed (``n_docs=200`` sets ``documents.n_docs``).

        Args:
            **flat: field name -> value, for fields of any group (the names are unique across groups).

        Returns:
            The new :class:`AnalysisSettings`.

        Raises:
            ArgumentError: an unknown field name (the known ones are listed) or an invalid value.
        """
        return cls().replace(**flat)

    def replace(self, **flat) -> AnalysisSettings:
        """A copy with the named fields changed; an unknown name is an ArgumentError listing the known ones."""
        fields = setting_fields()
        unknown = sorted(set(flat) - set(fields))
        if unknown:
            raise ArgumentError(f"unknown analysis settings {unknown}; known: {sorted(fields)}")
        changes: dict[str, dict] = {}
        for name, value in flat.items():
            changes.setdefault(fields[name][0], {})[name] = value
        groups = dict(self._groups)
        for group, values in changes.items():
            groups[group] = dataclasses.replace(groups[group], **values)
        return AnalysisSettings(groups)

    def flat(self) -> dict[str, Any]:
        """Field name -> value over every group."""
        return {k: v for g in self._groups.values() for k, v in g.to_dict().items()}

    def to_dict(self) -> dict[str, dict]:
        """``{group: {field: value}}`` as written to ``summary.json`` (tuples as lists)."""
        return {name: g.to_dict() for name, g in self._groups.items()}

    @classmethod
    def from_dict(cls, d: dict) -> AnalysisSettings:
        """From :meth:`to_dict`'s nested form, or from a flat ``{field: value}`` table (a sweep SPEC's
        ``[analysis]``); groups or fields this rnnlens does not know are refused.

        Args:
            d: ``{group: {field: value}}`` (read as that when every key is a group name and every value a
                dict), else ``{field: value}``; fields not given keep their defaults.

        Returns:
            The :class:`AnalysisSettings`.

        Raises:
            ArgumentError: ``d`` not a dict, an unknown group or field, or an invalid value.
        """
        if not isinstance(d, dict):
            raise ArgumentError(f"analysis settings must be a table; got {type(d).__name__}")
        names = {name for name, _ in settings_groups()}
        if d and all(isinstance(v, dict) for v in d.values()) and set(d) <= names:
            return cls(d)
        return cls.make(**d)


def _group(cls, values: dict):
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ArgumentError(f"unknown {cls.name} settings {unknown}; known: {sorted(known)}")
    return cls(**values)


def command_line_options(exclude: tuple[str, ...] = ()):
    """One :class:`rnnlens.settings.SettingOption` per analysis setting (in section order), minus ``exclude``."""
    return cli_options(exclude, fields=[f for _, f in setting_fields().values()])


# Presets: the demo's sizes (four networks in about a minute and a half on 2 CPU cores) and the
# explorer's quick analysis of a checkpoint given without one.
DEMO = AnalysisSettings.make(n_linear_docs=200)
QUICK = AnalysisSettings.make(n_docs=200, n_seeds=100)
