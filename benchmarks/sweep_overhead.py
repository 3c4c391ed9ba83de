"""Overhead of `rnnlens sweep`: wall time of a small sweep on a local Ray vs the same trials one after
another in one process.

Run:  .venv/bin/python benchmarks/sweep_overhead.py [--spec SPEC] [--num-cpus 2] [--repeat 1]

Default SPEC: the tests' 4 tiny synthetic trials (GRU and vanilla x seeds 0, 1; hidden 8, one epoch,
small analysis). Both paths run the same code per trial (rnnlens.sweep.trial.run_trial: train ->
evaluate -> analyze, plus the bag of words once per dataset) into fresh folders:

- sweep: `run_sweep(spec, DIR, num_cpus=N)` from the call to its return: Ray start-up, the bag-of-words task,
  the trials as Ray tasks (1 CPU each, so up to N at once), Ray shutdown, summary.csv and the report.
- sequential: the bag of words, then each trial in this process one after another, then the same summary
  and report (no Ray).

Printed: both wall times (seconds, time.perf_counter), their difference and ratio, and the sum of the
trials' own stage times from their status.json (train + evaluate + analyze) under each path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _default_spec(folder: Path) -> Path:
    sys.path.insert(0, str(HERE.parent / "tests" / "sweep"))
    import conftest  # the tests' tiny SPEC

    return conftest.write_spec(folder)


def _stage_seconds(out: Path) -> float:
    total = 0.0
    for st in (out / "trials").glob("*/status.json"):
        total += sum(s["seconds"] for s in json.loads(st.read_text())["stages"].values())
    return total


def run_sequential(spec, out: Path) -> float:
    from rnnlens.sweep.driver import _payload, trial_dir
    from rnnlens.sweep.summary import summarize
    from rnnlens.sweep.trial import fit_dataset_baseline, run_trial

    t0 = time.perf_counter()
    bows = {}
    for ds in spec.datasets:
        if spec.bag_of_words and "analyze" in spec.stages:
            bows[ds.label] = fit_dataset_baseline(
                {"label": ds.label, **ds.corpus_key()}, str(out / "datasets" / ds.label / "bag_of_words.json")
            )
    for t in spec.trials:
        r = run_trial(_payload(t), str(trial_dir(out, t)), "sequential", bows.get(t.dataset.label))
        if r["state"] != "done":
            raise SystemExit(f"trial {t.id} failed: {r['error']}")
    summarize(spec, out)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default=None, help="SPEC file (default: the tests' 4 tiny trials)")
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray (default 2)")
    ap.add_argument("--repeat", type=int, default=1, help="measure each path this many times (fresh folders)")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("MPLBACKEND", "Agg")

    from rnnlens.sweep import load_spec, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        spec = load_spec(args.spec or _default_spec(tmp))
        print(
            f"{len(spec.trials)} trials, {spec.num_cpus:g} CPU each; local Ray with {args.num_cpus} CPUs; "
            f"{os.cpu_count()} CPUs on this machine",
            flush=True,
        )
        seq, swp = [], []
        for i in range(args.repeat):
            # the sequential path first also warms the imports (torch, sklearn) of this process
            out = tmp / f"seq{i}"
            seq.append(run_sequential(spec, out))
            seq_stages = _stage_seconds(out)
            out = tmp / f"sweep{i}"
            t0 = time.perf_counter()
            r = run_sweep(spec, out, num_cpus=args.num_cpus, progress=False)
            swp.append(time.perf_counter() - t0)
            if r.failed:
                raise SystemExit(f"sweep trials failed: {r.failed}")
            sweep_stages = _stage_seconds(out)
            print(
                f"[{i + 1}] sequential {seq[-1]:.1f} s (trials' stages {seq_stages:.1f} s), sweep {swp[-1]:.1f} s "
                f"(trials' stages {sweep_stages:.1f} s, summed over trials that ran in parallel)",
                flush=True,
            )
        s, w = min(seq), min(swp)
        print(f"sequential, one process: {s:.1f} s wall (best of {len(seq)})")
        print(f"sweep on local Ray:      {w:.1f} s wall (best of {len(swp)})")
        print(f"difference sweep - sequential: {w - s:+.1f} s; ratio sweep / sequential: {w / s:.2f}")


if __name__ == "__main__":
    main()
