#!/usr/bin/env python
"""Regenerate the small trained networks the tests read from tests/networks/ instead of training them each run.

    .venv/bin/python scripts/make_test_networks.py

toy-modifier-gru: the GRU of the modifier truth test (tests/analysis/test_modifiers.py), trained on the toy
language with negation and intensifiers by its TOY corpus and SETTINGS recipe (about 25 s on one core). The
test checks that the checkpoint's recorded settings and data fingerprint are that recipe's, so a changed
recipe fails until this script is run again. Training state (resume/) is not kept.
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


def _recipe():
    spec = importlib.util.spec_from_file_location("_modifier_tests", ROOT / "tests" / "analysis" / "test_modifiers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TOY, module.SETTINGS


def main() -> int:
    toy, settings = _recipe()
    corpus = load_corpus("synthetic", seed=0, **toy)
    DEST.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=DEST) as work:
        out = Path(work) / "toy-modifier-gru"
        train(corpus, TrainSettings(**settings), out, resume=False, progress=True, verbose=True)
        shutil.rmtree(out / "resume", ignore_errors=True)
        final = DEST / "toy-modifier-gru"
        shutil.rmtree(final, ignore_errors=True)
        out.rename(final)
    print(f"wrote {final}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
