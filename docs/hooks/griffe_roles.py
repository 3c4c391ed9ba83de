"""Griffe extension for the API reference: the reStructuredText markup that rnnlens' docstrings use,
read as Markdown.

- A Sphinx role (``:func:`find_fixed_points```, ``:class:`~rnnlens.network.Network```) becomes inline code
  (with ``~``: the last part of the dotted name, as Sphinx shows it).
- A paragraph ending in ``::`` that introduces an indented literal block ends in ``:``
  (the indented block is a code block in Markdown already).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj|const|term|ref):`(~?)([^`]+)`")
LITERAL = re.compile(r"(?<=\S)::(?=\n\s*\n)")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def markdown_text(text: str) -> str:
    """``text`` with Sphinx roles as inline code and ``::`` literal-block markers as ``:``."""
    return LITERAL.sub(":", ROLE.sub(_role, text))


class SphinxRolesAsCode(Extension):
    """Rewrites every docstring as :func:`markdown_text` says, before it is parsed."""

    def on_instance(self, *, node: Any, obj: Object, agent: Any, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_text(obj.docstring.value)
