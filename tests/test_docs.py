"""The documentation site builds with ``mkdocs build --strict`` (a broken link, a missing page or a docstring
the API reference cannot read fails it), and its API reference documents every public name.

Skipped where MkDocs, its Material theme or mkdocstrings' Python handler is not installed, except under CI
(the variable CI set), where that is a failure: ``./run.sh test`` installs them with the ``test`` extra.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
import time
from importlib import import_module
from pathlib import Path

import pytest

import rnnlens

ROOT = Path(__file__).resolve().parents[1]
# the modules whose __all__ the reference documents (the API pages of mkdocs.yml's nav)
PUBLIC_MODULES = [
    "rnnlens.network",
    "rnnlens.analysis",
    "rnnlens.fixedpoints",
    "rnnlens.solvers",
    "rnnlens.linearization",
    "rnnlens.manifold",
    "rnnlens.data",
    "rnnlens.cells",
    "rnnlens.scan",
    "rnnlens.model",
    "rnnlens.settings",
    "rnnlens.training",
    "rnnlens.checkpoint",
    "rnnlens.baseline",
    "rnnlens.report",
    "rnnlens.sweep",
]
BUILD_SECONDS = 60


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    missing = [
        m
        for m in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
        if importlib.util.find_spec(m.split(".")[0]) is None
        or (m == "mkdocstrings_handlers.python" and importlib.util.find_spec(m) is None)
    ]
    if missing:
        why = f"{', '.join(missing)} not installed next to {sys.executable} (pip install -e '.[docs]' installs them)"
        if os.environ.get("CI"):
            pytest.fail(why + "; CI is set, so this is a failure, not a skip")
        pytest.skip(why)
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", "NO_MKDOCS_2_WARNING": "1"},
    )
    seconds = time.perf_counter() - start
    assert res.returncode == 0, f"mkdocs build --strict exited {res.returncode}:\n{res.stdout}{res.stderr}"
    assert seconds < BUILD_SECONDS, f"the documentation took {seconds:.0f} s to build (at most {BUILD_SECONDS})"
    return out


def _api_ids(site: Path) -> set[str]:
    ids: set[str] = set()
    for page in (site / "api").rglob("*.html"):
        ids.update(re.findall(r'\bid="([^"]+)"', page.read_text(encoding="utf-8")))
    return ids


def _documented(module, name: str, ids: set[str]) -> bool:
    """The entry of ``module.name`` is in the reference: a class or function under the dotted path where it is
    defined, a constant under a heading of its name."""
    lazy = getattr(module, "_LAZY", {})
    obj = getattr(import_module(lazy[name]) if name in lazy else module, name)
    obj = inspect.unwrap(obj) if callable(obj) else obj
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return f"{obj.__module__}.{obj.__qualname__}" in ids
    return any(i.endswith(f".{name}") for i in ids)


def test_every_name_rnnlens_exports_is_in_the_api_reference(site):
    ids = _api_ids(site)
    missing = [n for n in rnnlens.__all__ if not _documented(rnnlens, n, ids)]
    assert not missing, f"not in the API reference: {missing}"


def test_every_public_module_has_its_page_and_every_name_of_its_all(site):
    ids = _api_ids(site)
    for name in PUBLIC_MODULES:
        assert (site / "api" / name / "index.html").is_file(), f"no API page for {name}"
        module = import_module(name)
        missing = [n for n in module.__all__ if not _documented(module, n, ids)]
        assert not missing, f"{name}: not in the API reference: {missing}"


def test_the_home_page_shows_the_figure_and_the_readme_links_resolve(site):
    assert "images/line-attractor-gru.png" in (site / "index.html").read_text(encoding="utf-8")
    assert (site / "images" / "line-attractor-gru.png").is_file()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(((?:docs/)[^)#\s]+)", readme):
        assert (ROOT / target).is_file(), f"README links {target}, which does not exist"


def test_every_training_setting_is_an_arg_of_train_settings_in_the_reference(site):
    # docs/hooks/griffe_settings.py writes the Args of a settings class from its fields' declarations
    import dataclasses
    import html

    from rnnlens.settings import TrainSettings

    page = html.unescape(re.sub(r"<[^>]+>", "", (site / "api" / "rnnlens.settings" / "index.html").read_text()))
    start = page.index("Everything that defines a training run")
    for f in dataclasses.fields(TrainSettings):
        assert f"{f.metadata['help'].rstrip('.')}. Default: " in page[start:], f"TrainSettings.{f.name} has no Arg"
