"""The code version recorded in every checkpoint and report."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

# The one place the version is written: pyproject.toml reads it from here ([tool.setuptools.dynamic]), so the
# installed metadata, ``rnnlens --version`` and every checkpoint's record agree.
__version__ = "0.1.0"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>`` plus ``+g<commit>`` (and ``.dirty``) when running from a git checkout."""
    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}{'.dirty' if dirty else ''}"
