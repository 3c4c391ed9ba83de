#!/usr/bin/env python
"""Regenerate the small trained networks the tests read from tests/networks/ instead of training them each run.

    .venv/bin/python scripts/make_test_networks.py [NAME ...]

The recipes (corpus options and training settings) are ``RECIPES`` in tests/conftest.py, where the
``stored_network`` fixture checks that each stored checkpoint's recorded settings and data fingerprint are its
recipe's: a changed recipe, or a changed corpus generator, fails those tests until this script is run again.
Training state (resume/) is not kept. All of them take about two minutes on one core.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

from rnnlens.data import load_corpus
from rnnlens.training import TrainSettings, train

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "tests" / "networks"


def _recipes() -> dict:
    spec = importlib.util.spec_from_file_location("_test_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RECIPES


def main(argv: list[str]) -> int:
    recipes = _recipes()
    names = argv or list(recipes)
    unknown = [n for n in names if n not in recipes]
    if unknown:
        print(f"unknown network(s) {unknown}; the recipes are {sorted(recipes)}", file=sys.stderr)
        return 2
    DEST.mkdir(parents=True, exist_ok=True)
    for name in names:
        corpus_options, settings = recipes[name]
        corpus = load_corpus("synthetic", seed=0, **corpus_options)
        with tempfile.TemporaryDirectory(dir=DEST) as work:
            out = Path(work) / name
            train(corpus, TrainSettings(**settings), out, resume=False, progress=False, verbose=True)
            shutil.rmtree(out / "resume", ignore_errors=True)
            final = DEST / name
            shutil.rmtree(final, ignore_errors=True)
            out.rename(final)
        print(f"wrote {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
