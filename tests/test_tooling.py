"""The project's tooling holds: ruff and mypy are clean, the version is written once and is what the CLI
reports, and the package's text speaks for itself (no pointers to the project's issue tracker or notes a user
never sees).

The linters are the ones installed next to the interpreter running the tests (the virtual environment's
``bin/``, which ``./run.sh test`` fills from the ``test`` extra). Where one is missing its test is skipped,
except under CI (the variable CI set), where that is a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import rnnlens
from rnnlens.cli import main

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "rnnlens"
# what `ruff check` and `ruff format` cover; the same list as in .pre-commit-config.yaml
LINTED = ["src", "tests", "benchmarks", "scripts", "examples", "docs/hooks"]


def _tool(name: str) -> Path:
    path = Path(sys.executable).parent / name
    if not path.is_file():
        why = f"{name} is not installed next to {sys.executable} (pip install -e '.[test]' installs it)"
        if os.environ.get("CI"):
            pytest.fail(why + "; CI is set, so this is a failure, not a skip")
        pytest.skip(why)
    return path


def _run(args: list) -> None:
    res = subprocess.run(
        [str(a) for a in args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert res.returncode == 0, f"{' '.join(map(str, args))} exited {res.returncode}:\n{res.stdout}{res.stderr}"


def test_ruff_is_clean():
    _run([_tool("ruff"), "check", *LINTED])


def test_the_code_is_as_ruff_format_writes_it():
    # one layout for everyone's code: `ruff format` (configured in pyproject.toml) leaves nothing to change
    _run([_tool("ruff"), "format", "--check", *LINTED])


def test_mypy_is_clean():
    # the configuration ([tool.mypy] in pyproject.toml) keeps its cache in .mypy_cache: about 7 s from empty
    _run([_tool("mypy"), "src"])


def test_the_cli_reports_the_package_version():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0, r.output
    assert r.output == f"rnnlens, version {rnnlens.__version__}\n"


def test_the_version_is_written_once():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rnnlens._version.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)*", rnnlens.__version__), rnnlens.__version__


# "issue 12", "(issue", "PAPER.md": pointers into the project's own tracker and notes, which a user of the
# package never sees; a docstring, comment, help text or message says what it means instead
INTERNAL_REFERENCE = re.compile(r"\bissue ?#?\d+|\(issue\b|PAPER\.md", re.IGNORECASE)


def _source_texts():
    for p in sorted(SRC.rglob("*")):
        if not p.is_file() or "__pycache__" in p.parts:
            continue
        try:
            yield p, p.read_text(encoding="utf-8")
        except UnicodeDecodeError:  # weights and other binary files
            continue


def test_the_internal_reference_pattern_finds_what_it_should():
    for text in ("see issue 12", "(issue 23: ...)", "Issue #7", "PAPER.md step 4"):
        assert INTERNAL_REFERENCE.search(text), text
    for text in ("an issue with the input", "the paper's q", "Maheswaranathan et al. 2019", "tissue 3"):
        assert not INTERNAL_REFERENCE.search(text), text


def test_no_internal_references_in_the_package():
    found = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p, text in _source_texts()
        for n, line in enumerate(text.splitlines(), 1)
        if INTERNAL_REFERENCE.search(line)
    ]
    assert found == [], "\n".join(found)
