"""Tutorial: a sweep on Ray. Write a SPEC, run every trial (train -> evaluate -> analyze) as a Ray task, on
this machine or on a cluster, and read the comparison.

    python examples/tutorials/sweep.py [--out DIR] [--dataset sst2] [--archs vanilla,ugrnn,gru,lstm] [--seeds 1]
                                       [--hidden 128] [--embed 64] [--epochs 1] [--lr 2e-3] [--option KEY=VALUE]
                                       [--small-analysis] [--no-bow] [--no-report]
                                       [--num-cpus N | --address HOST:PORT]

The defaults are the measured sweep of docs/sweep.md (SST-2 x the four architectures, 128 units, one epoch,
the default analysis; needs sst2/ under RNNLENS_DATA_DIR). tests/tutorials/test_tutorials_tools.py runs two
tiny trials on the synthetic corpus (``--dataset synthetic --option n_train=1000 ... --small-analysis``).
The SPEC is written next to the sweep folder (``DIR.toml``). With ``--address`` the trials run on the Ray
cluster there (docs/tutorials/sweep-cluster.md); then ``--out`` must be a folder every node sees at the same
path.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from rnnlens.sweep import run_sweep

# --8<-- [start:spec]
SPEC = """\
name = "{name}"
architectures = {archs}
seeds = {seeds}                      # n: training seeds 0..n-1
bag_of_words = {bow}                 # one bag of words per dataset, compared with every network

[[datasets]]
name = "{dataset}"
options = {options}

[settings]                           # fixed for every trial (TrainSettings fields)
hidden_size = {hidden}
embed_dim = {embed}
epochs = {epochs}
lr = {lr}
batch_size = 32

[analysis]                           # rnnlens.analyze settings of every trial
{analysis}

[resources]                          # what each trial asks Ray for
num_cpus = 1
"""

# a few documents and seeds: enough for a tiny network's line attractor, seconds per trial
SMALL_ANALYSIS = {
    "n_docs": 40,
    "n_seeds": 20,
    "n_linear_docs": 10,
    "n_transitions": 200,
    "n_speed": 10,
    "speed_steps": 10,
    "tol_sweep": [],
    "manifold_points": 12,
    "relax_steps": 20,
}


def write_spec(path: Path, args: argparse.Namespace) -> Path:
    """The SPEC of this run as TOML (a YAML file with the same keys works too)."""
    options = dict(args.option)
    if args.dataset in ("imdb", "ag_news"):
        options.setdefault("download", False)  # a trial never downloads on its own (download once, beforehand)
    analysis = {**SMALL_ANALYSIS, "modifiers": False} if args.small_analysis else {"modifiers": False}
    text = SPEC.format(
        name=path.stem,
        archs=json.dumps(args.archs),
        seeds=args.seeds,
        dataset=args.dataset,
        options="{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in options.items()) + " }",
        hidden=args.hidden,
        embed=args.embed,
        epochs=args.epochs,
        lr=args.lr,
        bow="false" if args.no_bow else "true",
        analysis="\n".join(f"{key} = {json.dumps(value)}" for key, value in analysis.items()),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --8<-- [end:spec]


def corpus_option(text: str) -> tuple[str, object]:
    """KEY=VALUE -> (KEY, VALUE read as JSON: a number, true/false, a list; else the text itself)."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: give KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/tutorial-sweep"), help="the sweep folder")
    ap.add_argument("--dataset", default="sst2", help="a load_corpus name (sst2, imdb, synthetic, ...)")
    ap.add_argument("--archs", type=lambda s: s.split(","), default=["vanilla", "ugrnn", "gru", "lstm"])
    ap.add_argument("--seeds", type=int, default=1, help="training seeds 0..N-1 per architecture")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument(
        "--option",
        type=corpus_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a load_corpus option of the dataset (repeatable), e.g. n_train=2000 for the synthetic corpus",
    )
    ap.add_argument("--small-analysis", action="store_true", help="a few documents and seeds per analysis")
    ap.add_argument("--no-bow", action="store_true", help="no bag of words (no spearman_bow column)")
    ap.add_argument("--no-report", action="store_true", help="summary.csv and comparison.json only, no figures")
    ap.add_argument("--num-cpus", type=int, default=None, help="size of the local Ray (default: all CPUs)")
    ap.add_argument("--address", default=None, help="a Ray cluster (HOST:PORT or auto) instead of a local Ray")
    args = ap.parse_args(argv)
    if args.address and args.num_cpus is not None:
        ap.error("--num-cpus sizes a local Ray; a cluster (--address) has its own")
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the sweep; returns ``{"result": SweepResult, "rows": summary.csv as dicts, "comparison": ...}``."""
    args = parse_args(argv)
    # --8<-- [start:run]
    spec = write_spec(args.out.parent / f"{args.out.name}.toml", args)
    # local Ray of --num-cpus CPUs when address is None; a running cluster's (HOST:PORT, "auto") otherwise
    result = run_sweep(spec, args.out, address=args.address, num_cpus=args.num_cpus, report=not args.no_report)
    done, skipped, failed = len(result.done), len(result.skipped), len(result.failed)
    print(f"{done} trial(s) done, {skipped} finished before, {failed} failed, in {result.seconds:.1f} s")
    for trial, error in result.failed.items():
        print(f"FAILED {trial}: {error}")
    # --8<-- [end:run]

    # --8<-- [start:read]
    with open(result.summary_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = ["trial", "state", "test_accuracy", "abs_lambda1_median", "one_dimensionality", "readout_alignment"]
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(row[c] for c in columns))
    comparison = json.loads((result.out_dir / "comparison.json").read_text(encoding="utf-8"))
    print(f"report: {result.report}")
    # --8<-- [end:read]
    return {"result": result, "rows": rows, "comparison": comparison}


if __name__ == "__main__":
    main()
