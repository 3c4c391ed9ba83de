"""How `rnnlens analyze` scales with the network's size: time per section, peak memory, the growth exponent.

Run (each network analysed by `rnnlens analyze` with its defaults and the issue's sizes, 1,000 IMDB test
reviews and 500 fixed-point seeds, in its own process):

    RNNLENS_DATA_DIR=../shared/data python benchmarks/scaling.py CHECKPOINT [CHECKPOINT ...] [--out DIR]
    RNNLENS_DATA_DIR=../shared/data python benchmarks/scaling.py --train gru:64,128,256 lstm:256 --work DIR

``--train ARCH:N,N,...`` first trains the networks that are missing under ``--work`` with `rnnlens train`
(IMDB, embedding 128, ``--train-epochs`` epochs, reviews cut to ``--train-max-length`` tokens: a timing
benchmark wants networks with a trained network's fixed-point structure, not the best accuracy; the
checkpoint records how it was made). ``--threads`` sets torch's threads of both commands (training's
``--threads``; OMP_NUM_THREADS for the analysis; default 1, the issue's setting; the analysis's own default is
torch's, all cores).

Measured per network: wall seconds of the whole command (process start to exit, the bag of words read from
the cache after the first network of a corpus), each section's seconds and peak resident memory as the
summary records them (``provenance.section_seconds``, ``section_peak_rss_mib``: VmHWM reset per section),
the command's peak (the largest section peak), and how the bag of words was obtained (a cold cache fits it
once per corpus: minutes of the first network's total; the "sections" column leaves it and the start-up out).
The growth exponent of an architecture is the slope of
log(total seconds) against log(N) over its sizes (least squares; N^2 would be 2, N^3 3). Writes
``scaling.json`` and ``scaling.md`` (the table docs/benchmarks.md shows) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RNNLENS = [str(Path(sys.executable).with_name("rnnlens"))]  # the command beside this Python


def train_missing(specs: list[str], work: Path, epochs: int, max_length: int, threads: int) -> list[Path]:
    """Checkpoint folders ``work/ARCH-N`` for every ``ARCH:N,N`` spec, trained where missing."""
    out = []
    for spec in specs:
        arch, _, sizes = spec.partition(":")
        for n in (int(s) for s in sizes.split(",") if s):
            ck = work / f"{arch}-{n}"
            if not (ck / "model.safetensors").is_file():
                cmd = [
                    *RNNLENS,
                    "train",
                    "--dataset",
                    "imdb",
                    "--arch",
                    arch,
                    "--hidden",
                    str(n),
                    "--embed",
                    "128",
                    "--epochs",
                    str(epochs),
                    "--max-length",
                    str(max_length),
                    "--threads",
                    str(threads),
                    "--no-progress",
                    "--out",
                    str(ck),
                ]
                print("training:", " ".join(cmd[1:]), flush=True)
                subprocess.run(cmd, check=True)
            out.append(ck)
    return out


def output_names(cks: list[Path]) -> list[str]:
    """One analysis folder name per checkpoint: its folder's name, or with its parent's where two share it (sweep
    trials' ``TRIAL/checkpoint``)."""
    names = [ck.name for ck in cks]
    return [f"{ck.parent.name}-{ck.name}" if names.count(ck.name) > 1 else ck.name for ck in cks]


def analyse(ck: Path, dest: Path, n_docs: int, n_seeds: int, threads: int) -> dict:
    """One `rnnlens analyze` run of checkpoint ``ck`` into ``dest`` in its own process: wall seconds, the summary's
    per-section seconds and peak memory, the network's size."""
    cmd = [*RNNLENS, "analyze", str(ck), "-o", str(dest), "--n-docs", str(n_docs), "--n-seeds", str(n_seeds), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}  # torch's threads
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    wall = time.perf_counter() - started
    summary = json.loads((dest / "summary.json").read_text())
    prov, cfg = summary["provenance"], json.loads((ck / "config.json").read_text())
    peaks = prov.get("section_peak_rss_mib", {})
    model = cfg.get("model", cfg)
    return {
        "checkpoint": str(ck),
        "arch": model.get("arch"),
        "hidden_size": model.get("hidden_size"),
        "state_size": summary["metrics"]["data"]["state_size"]["value"],
        "wall_seconds": round(wall, 1),
        "section_seconds": prov.get("section_seconds", {}),
        "section_peak_rss_mib": peaks,
        "peak_rss_mib": max(peaks.values()) if peaks else None,
        "status": summary.get("status"),
        "bag_of_words": {k: prov.get("bag_of_words", {}).get(k) for k in ("obtained", "seconds")},
    }


def growth(rows: list[dict]) -> dict:
    """Per architecture with two sizes or more: the least-squares slope of log(wall seconds) on log(N)."""
    out = {}
    for arch in sorted({r["arch"] for r in rows}):
        pts = sorted((r["hidden_size"], r["wall_seconds"]) for r in rows if r["arch"] == arch)
        if len({n for n, _ in pts}) >= 2:
            n, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            out[arch] = round(float(np.polyfit(n, t, 1)[0]), 2)
    return out


def table(rows: list[dict], exponents: dict) -> str:
    """The markdown table: one row per network, the three slowest sections named."""
    lines = [
        "| network | state | total (s) | sections (s) | peak memory (MiB) | slowest sections (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["arch"], r["hidden_size"])):
        top = sorted(r["section_seconds"].items(), key=lambda kv: -kv[1])[:3]
        lines.append(
            f"| {r['arch']}-{r['hidden_size']} | {r['state_size']} | {r['wall_seconds']:.0f} | "
            f"{sum(r['section_seconds'].values()):.0f} | {r['peak_rss_mib']:.0f} | "
            + ", ".join(f"{k} {v:.0f}" for k, v in top)
            + " |"
        )
    if exponents:
        lines.append("")
        lines.append(
            "Growth exponent of the total time in N (slope of log time on log N): "
            + ", ".join(f"{a} {e}" for a, e in exponents.items())
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="*", type=Path)
    ap.add_argument("--train", nargs="*", default=[], metavar="ARCH:N,N", help="train these under --work first")
    ap.add_argument("--work", type=Path, default=Path("scaling-networks"))
    ap.add_argument("--train-epochs", type=int, default=1)
    ap.add_argument("--train-max-length", type=int, default=256)
    ap.add_argument("--out", type=Path, default=Path("scaling-out"))
    ap.add_argument("--n-docs", type=int, default=1000)
    ap.add_argument("--n-seeds", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not os.environ.get("RNNLENS_DATA_DIR"):
        ap.error("set RNNLENS_DATA_DIR to the folder holding imdb/aclImdb.tar.gz")
    cks = list(args.checkpoints) + train_missing(
        args.train, args.work, args.train_epochs, args.train_max_length, args.threads
    )
    if not cks:
        ap.error("give checkpoint folders or --train ARCH:N,N")
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ck, name in zip(cks, output_names(cks)):
        rows.append(analyse(ck, args.out / name, args.n_docs, args.n_seeds, args.threads))
        r = rows[-1]
        print(
            f"{r['arch']}-{r['hidden_size']}: {r['wall_seconds']:.0f} s, peak {r['peak_rss_mib']:.0f} MiB, "
            f"sections {r['section_seconds']}",
            flush=True,
        )
    result = {
        "rows": rows,
        "growth_exponent": growth(rows),
        "n_docs": args.n_docs,
        "n_seeds": args.n_seeds,
        "threads": args.threads,
    }
    (args.out / "scaling.json").write_text(json.dumps(result, indent=1))
    md = table(rows, result["growth_exponent"])
    (args.out / "scaling.md").write_text(md)
    print(md)
    return result


if __name__ == "__main__":
    main()
