"""MkDocs hook: the API reference pages, generated from the public modules' ``__all__`` at build time.

Every nav entry ``api/<module>.md`` (``mkdocs.yml``) becomes a page for that module: its docstring, then one
mkdocstrings entry per name of its ``__all__``; ``api/index.md`` is the page of the top-level ``rnnlens``
package, with a table of every name it exports. ``__all__`` is read by importing the module (several
modules export their names lazily, which static analysis cannot follow), and each name is documented where
it is defined, once: a name that several modules export is rendered on the first page (in nav order) that
exports it and linked from the others. So the reference cannot miss a public name or fall behind ``__all__``.
"""

from __future__ import annotations

import inspect
import re
import sys
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).parent))
from griffe_roles import markdown_text  # noqa: E402

API_PAGE = re.compile(r"^api/(rnnlens[\w.]*|index)\.md$")
INDEX_MODULE = "rnnlens"


def _nav_pages(nav: Any) -> list[str]:
    """Every page path in the nav, in order."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, dict):
        return [p for v in nav.values() for p in _nav_pages(v)]
    if isinstance(nav, list):
        return [p for v in nav for p in _nav_pages(v)]
    return []


def _documented(obj: Any) -> bool:
    """A class or a function (mkdocstrings renders it); anything else is shown as a constant."""
    obj = inspect.unwrap(obj) if callable(obj) else obj
    return inspect.isclass(obj) or inspect.isfunction(obj)


def _canonical(module: ModuleType, name: str) -> str:
    """The dotted path of ``module.name`` where it is defined (a constant: where its module takes it from)."""
    lazy = getattr(module, "_LAZY", {})
    home = import_module(lazy[name]) if name in lazy else module
    obj = inspect.unwrap(getattr(home, name))  # a cached function: the function itself
    if _documented(obj) and obj.__module__.startswith("rnnlens"):
        return f"{obj.__module__}.{obj.__qualname__}"
    return f"{home.__name__}.{name}"


def _summary(path: str) -> str:
    obj = _object(path)
    if not _documented(obj) or not inspect.getdoc(obj):
        return "" if _documented(obj) else "constant"
    doc = inspect.getdoc(obj)
    first = markdown_text(doc).strip().split("\n\n")[0].replace("\n", " ").replace("|", "\\|")
    return first if len(first) <= 160 else first[:157].rsplit(" ", 1)[0] + " ..."


def _object(path: str) -> Any:
    module, _, name = path.rpartition(".")
    obj: Any = import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _entry(path: str) -> str:
    """A class or function: its mkdocstrings entry. A constant: a heading and its value (static analysis
    cannot follow every way a constant is written, e.g. ``PAD, UNK = ...``)."""
    obj = _object(path)
    if _documented(obj):
        return f"::: {path}\n"
    name = path.rpartition(".")[2]
    shown = repr(obj)
    if len(shown) > 120:
        size = f" of {len(obj)} entries" if hasattr(obj, "__len__") else ""
        shown = f"a {type(obj).__name__}{size}"
    else:
        shown = f"`{shown}`"
    anchor = path.replace("_", "\\_")  # unescaped, ``__x__`` in an attribute list would be read as bold
    return f"## `{name}` {{ #{anchor} }}\n\nConstant: {shown}.\n"


def _module_page(modname: str, names: list[str], home: dict[str, str], page_of: dict[str, str], here: str) -> str:
    out = [f"# `{modname}`\n", f"::: {modname}\n    options:\n      members: false\n      show_root_heading: false\n"]
    elsewhere = []
    for name in names:
        path = home[f"{modname}.{name}"]
        if page_of[path] == here:
            out.append(_entry(path))
        else:
            elsewhere.append(f"[`{name}`][{path}]")
    if elsewhere:
        out.append(
            "## Also exported here\n\nDocumented with the module that defines them: " + ", ".join(elsewhere) + ".\n"
        )
    return "\n".join(out)


def _index_page(names: list[str], home: dict[str, str], page_of: dict[str, str]) -> str:
    rows = []
    for name in names:
        path = home[f"{INDEX_MODULE}.{name}"]
        where = page_of[path]
        shown = "this page" if where == "api/index.md" else f"[`{where[4:-3]}`]({where[4:]})"
        rows.append(f"| [`{name}`][{path}] | {shown} | {_summary(path)} |")
    out = [
        "# API reference\n",
        f"::: {INDEX_MODULE}\n    options:\n      members: false\n      show_root_heading: false\n",
        "## Every name `rnnlens` exports\n",
        "| name | documented on | what it is |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n",
        "## Defined outside the public modules\n",
    ]
    here = [home[f"{INDEX_MODULE}.{n}"] for n in names]
    out += [_entry(path) for path in here if page_of[path] == "api/index.md"]
    return "\n".join(out)


def on_files(files: Files, config: Any) -> Files:
    pages = [p for p in _nav_pages(config["nav"]) if API_PAGE.match(p)]
    modules = {p: (INDEX_MODULE if p == "api/index.md" else API_PAGE.match(p).group(1)) for p in pages}
    exported = {p: list(import_module(m).__all__) for p, m in modules.items()}
    home: dict[str, str] = {}
    page_of: dict[str, str] = {}
    # the module pages first (nav order), the index last: it renders only what no module page does
    for page in [p for p in pages if p != "api/index.md"] + [p for p in pages if p == "api/index.md"]:
        module = import_module(modules[page])
        for name in exported[page]:
            path = _canonical(module, name)
            home[f"{modules[page]}.{name}"] = path
            page_of.setdefault(path, page)
    for page in pages:
        if page == "api/index.md":
            text = _index_page(exported[page], home, page_of)
        else:
            text = _module_page(modules[page], exported[page], home, page_of, page)
        files.append(File.generated(config, page, content=text))
    return files
