"""Griffe extension for the API reference: a settings class declared with :func:`rnnlens.settings.setting`
(``TrainSettings``, every analysis section's ``SettingsGroup``) gets an ``Args`` section written from its
fields' declarations: each field's help text, what values it accepts (its rule) and its default. The
declaration is the one place these are written, and the command-line help reads the same text.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from griffe import Class, Extension, Object


def _settings_fields(obj: Object) -> list[dataclasses.Field] | None:
    """The fields of the live class behind ``obj`` when it is a settings dataclass, else None."""
    try:
        cls = getattr(importlib.import_module(obj.module.path), obj.name)
    except (ImportError, AttributeError):
        return None
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        return None
    fields = [f for f in dataclasses.fields(cls) if "rule" in f.metadata and "help" in f.metadata]
    return fields or None


def _default(f: dataclasses.Field) -> str:
    value = f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[misc]
    text = "None" if value is None else repr(value)
    return f"{text} ({f.metadata['none']})" if value is None and f.metadata.get("none") else text


def args_section(fields: list[dataclasses.Field]) -> str:
    """A Google-style ``Args:`` section, one entry per field."""
    lines = ["Args:"]
    for f in fields:
        rule = f.metadata["rule"]
        accepts = rule.describe() if hasattr(rule, "describe") else ""
        none = f.metadata.get("none")
        # help texts are plain text: "<unk>" must not reach Markdown as an HTML tag
        help_text = f.metadata["help"].rstrip(".").replace("<", "&lt;").replace(">", "&gt;")
        text = f"{help_text}. Default: `{_default(f)}`"
        if accepts:
            text += f"; {accepts}" + (f", or None for {none}" if none else "")
        text += "."
        lines.append(f"    {f.name}: {text}")
    return "\n".join(lines)


class SettingsAsArgs(Extension):
    """Appends :func:`args_section` to the docstring of every settings class without an ``Args`` section."""

    def on_class_instance(self, *, node: Any, cls: Class, agent: Any, **kwargs: Any) -> None:
        fields = _settings_fields(cls)
        if fields is None or cls.docstring is None or "\nArgs:" in cls.docstring.value:
            return
        value = cls.docstring.value.rstrip()
        before, sep, after = value.partition("\nRaises:")  # Args before Raises, as in the other docstrings
        cls.docstring.value = (before.rstrip() + "\n\n" + args_section(fields) + "\n" + sep + after).rstrip()
