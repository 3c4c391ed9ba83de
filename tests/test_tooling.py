"""The project's tooling holds: the package's text speaks for itself (no pointers to the project's issue
tracker or notes a user never sees)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "rnnlens"

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
    found = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
             for p, text in _source_texts()
             for n, line in enumerate(text.splitlines(), 1) if INTERNAL_REFERENCE.search(line)]
    assert found == [], "\n".join(found)
