#!/usr/bin/env python
"""Regenerate the small IMDB checkpoints shipped in src/rnnlens/pretrained/ (used by `rnnlens demo`).

    RNNLENS_DATA_DIR=../shared/data .venv/bin/python scripts/make_pretrained.py [--work DIR] [--arch gru ...]

Each network is trained by the `rnnlens train` command itself, so its config.json records that command,
the data fingerprint, the code version and the test accuracy. The bag-of-words baseline is fitted by
`rnnlens baseline` and shipped as a BagOfWords file (rnnlens.baseline.load_bag_of_words reads it) restricted
to the words in the networks' vocabulary (BagOfWords.subset; its accuracy is the full model's).
Training state (resume/) is not shipped. `--only-baseline` rewrites just the bag-of-words file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from rnnlens._atomic import atomic_folder
from rnnlens.baseline import FILE_NAME as BOW_FILE, load_bag_of_words
from rnnlens.constants import ARCHS

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / "src" / "rnnlens" / "pretrained"
# Small enough to ship (a few MB in all) and to analyze in seconds; trained for a few epochs on 2 CPU cores.
COMMON = {
    "--dataset": "imdb",
    "--hidden-size": "64",
    "--embed-dim": "32",
    "--vocab-size": "6000",
    "--epochs": "3",
    "--batch-size": "64",
    "--lr": "3e-3",
    "--lr-decay": "0.7",
    "--patience": "1",
    "--seed": "0",
}
# The vanilla RNN: the recipe of docs/training-recipes.md (128 units, embedding 64; orthogonal embedding,
# N(0, 1/fan_in) input and recurrent weights, a trained initial state, Adam lr 3e-4 decayed x0.85 every 1,000
# steps, clipping at 1, reviews over 1,000 tokens dropped; about 25 s an epoch on one core, stopped early).
PER_ARCH = {
    "vanilla": {
        "--hidden-size": "128",
        "--embed-dim": "64",
        "--epochs": "20",
        "--patience": "5",
        "--lr": "3e-4",
        "--lr-decay": "0.85",
        "--lr-decay-steps": "1000",
        "--clip-norm": "1.0",
        "--recurrent-init": "normal",
        "--recurrent-gain": "1.0",
        "--input-init": "normal",
        "--embedding-init": "orthogonal",
        "--initial-state": "learned",
        "--drop-longer": "1000",
    }
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default=str(ROOT / "runs" / "pretrained"), help="training folders")
    p.add_argument("--arch", action="append", choices=ARCHS, help="only these (repeatable)")
    p.add_argument("--threads", default=str(os.cpu_count() or 1))
    p.add_argument("--baseline", help="reuse this folder's bag_of_words.json (from `rnnlens baseline --dataset imdb`)")
    p.add_argument("--only-baseline", action="store_true", help="train nothing; only rewrite the shipped bag of words")
    args = p.parse_args()
    rnnlens = str(Path(sys.executable).with_name("rnnlens"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    vocab_words: set[str] = set()
    for arch in [] if args.only_baseline else args.arch or ARCHS:
        out = work / f"imdb-{arch}"
        opts = {**COMMON, **PER_ARCH.get(arch, {}), "--arch": arch, "--threads": args.threads, "--out": str(out)}
        cmd = [rnnlens, "train", *(part for kv in opts.items() for part in kv), "--no-resume"]
        print("+", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
        with atomic_folder(DEST / f"imdb-{arch}") as tmp:
            for name in ("config.json", "model.safetensors"):
                shutil.copy2(out / name, tmp / name)
    for arch in ARCHS:
        cfg = DEST / f"imdb-{arch}" / "config.json"
        if cfg.exists():
            vocab_words.update(json.loads(cfg.read_text())["vocab"]["itos"])
    bow_dir = Path(args.baseline) if args.baseline else work / "baseline"
    if not (bow_dir / BOW_FILE).exists():
        cmd = [rnnlens, "baseline", "--dataset", "imdb", "-o", str(bow_dir)]
        print("+", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    bow = load_bag_of_words(bow_dir).subset(vocab_words, "only words in the shipped networks' vocabulary")
    bow.save(DEST / BOW_FILE)
    print(f"wrote {DEST} ({sum(f.stat().st_size for f in DEST.rglob('*') if f.is_file()) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
