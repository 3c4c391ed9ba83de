"""Benchmark: ``lm`` against FixedPointFinder over several networks, one table with the spread.

Usage (from the repository root; one network at a time, each in its own process):

    RNNLENS_DATA_DIR=/work/shared/data OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fixed_points_across.py \\
        /tmp/fpnets/gru128-s0 /tmp/fpnets/gru128-s1 /tmp/fpnets/lstm128-s0 src/rnnlens/pretrained/imdb-gru \\
        --out-dir /tmp/fpacross --json-out /tmp/fpacross/table.json

For every checkpoint folder it runs ``benchmarks/fixed_points.py --checkpoint DIR --fpf --seed-draw per-doc
--n-docs 1000 --threads 1 --lm-repeats 3`` (the issue's settings: 1,000 seeds, one visited state from each of 1,000 test
reviews, zero input; FixedPointFinder with its defaults, the LSTM through its ``[h, c]`` state) and
writes its output to ``OUT_DIR/<name>.log`` and ``OUT_DIR/<name>.json``; a network whose JSON is
already there is not run again unless ``--rerun`` (``--no-run``: only tabulate what is there).

Per network: test accuracy (validation when there is no test score), FixedPointFinder's whole
``find_fixed_points`` time and its final median q_half (the level), ``lm``'s time until the median
point is under that level and until every point is done at it (under it, or labelled a slow point),
the two speed-ups (FixedPointFinder's time / lm's; lm's times are the median of ``--lm-repeats`` runs,
FixedPointFinder runs once), and the share of seeds converged or labelled slow
when ``lm`` runs to q_half < 1e-12. Then min / median / max of each column over the networks, and
whether every network meets the targets (``--target-median`` 50x, ``--target-every`` 25x,
``--target-share`` 99%).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent

COLUMNS = [  # key, header, width, format
    ("network", "network", 22, ""),
    ("arch", "arch", 4, ""),
    ("S", "S", 3, "d"),
    ("accuracy", "acc", 6, ".4f"),
    ("fpf_s", "FPF s", 6, ".1f"),
    ("fpf_median_q_half", "FPF med qh", 10, ".2e"),
    ("t_median_s", "lm med s", 8, ".3f"),
    ("t_every_s", "lm all s", 8, ".3f"),
    ("speedup_median", "x med", 6, ".1f"),
    ("speedup_every", "x all", 6, ".1f"),
    ("share_1e12", "conv|slow", 9, ".1%"),
    ("base_median_s", "base med", 8, ".3f"),
    ("base_every_s", "base all", 8, ".3f"),
    ("slow_1e12", "slow", 6, ".1%"),
]
NUMERIC = [c[0] for c in COLUMNS[4:]]


def _accuracy(checkpoint: Path) -> tuple[float | None, str]:
    cfg = json.loads((checkpoint / "config.json").read_text())
    metrics = (cfg.get("record") or {}).get("metrics") or {}
    for split in ("test", "validation"):
        acc = (metrics.get(split) or {}).get("accuracy")
        if acc is not None:
            return float(acc), split
    return None, ""


def _name(checkpoint: Path) -> str:
    parts = checkpoint.resolve().parts
    return parts[-1] if parts[-2] != "pretrained" else "pretrained/" + parts[-1]


def _row(checkpoint: Path, data: dict, variant: str) -> dict:
    cfg = json.loads((checkpoint / "config.json").read_text())
    acc, split = _accuracy(checkpoint)
    lm = next((r for r in data["lm"] if r["variant"] == variant), data["lm"][0])
    arch = cfg["model"]["arch"]
    n = int(cfg["model"]["hidden_size"])
    return {
        "network": _name(checkpoint),
        "checkpoint": str(checkpoint),
        "arch": arch,
        "N": n,
        "S": 2 * n if arch == "lstm" else n,
        "accuracy": acc,
        "accuracy_split": split,
        "fpf_s": data["fpf_wall_s"],
        "fpf_opt_s": data["fpf_opt_s"],
        "fpf_median_q_half": data["fpf_median_q_half"],
        "t_median_s": lm["t_median_s"],
        "t_every_s": lm["t_every_s"],
        "speedup_median": lm["speedup_median"],
        "speedup_every": lm["speedup_every"],
        "share_1e12": lm["strict_conv_or_slow"],
        "slow_1e12": lm["strict_slow"],
        "lm": lm,
    }


def _fmt(value, width, fmt):
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float) and not (value == value and abs(value) != float("inf")):
        return f"{str(value):>{width}}"
    return f"{value:>{width}{fmt}}"


@click.command()
@click.argument("checkpoints", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option(
    "--out-dir",
    default="/tmp/fixed_points_across",
    show_default=True,
    type=click.Path(file_okay=False),
    help="per network: <name>.log and <name>.json",
)
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="the table and spread as JSON")
@click.option("--rerun", is_flag=True, help="run every network again even when its JSON is there")
@click.option("--no-run", is_flag=True, help="only tabulate the JSON files already in --out-dir")
@click.option("--variant", default="default", show_default=True, help="the --lm-variants entry to tabulate")
@click.option(
    "--baseline",
    default="torch_factor=1",
    show_default=True,
    help="another --lm-variants entry run in the same process for comparison ('' : none); "
    "torch_factor=1 is lm with the batched torch factorization it used before",
)
@click.option("--n-docs", default=1000, show_default=True)
@click.option("--threads", default=1, show_default=True)
@click.option("--lm-repeats", default=3, show_default=True, help="lm runs at the level per network (median time)")
@click.option("--extra", default="", help="more arguments for fixed_points.py (one string)")
@click.option("--target-median", default=50.0, show_default=True)
@click.option("--target-every", default=25.0, show_default=True)
@click.option("--target-share", default=0.99, show_default=True)
def main(
    checkpoints,
    out_dir,
    json_out,
    rerun,
    no_run,
    variant,
    baseline,
    n_docs,
    threads,
    lm_repeats,
    extra,
    target_median,
    target_every,
    target_share,
):
    """Run benchmarks/fixed_points.py --fpf on each checkpoint in turn; one table with the spread."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for ck in map(Path, checkpoints):
        stem = _name(ck).replace("/", "-")
        js, log = out / f"{stem}.json", out / f"{stem}.log"
        if not no_run and (rerun or not js.exists()):
            cmd = [
                sys.executable,
                str(HERE / "fixed_points.py"),
                "--checkpoint",
                str(ck),
                "--fpf",
                "--lm-repeats",
                str(lm_repeats),
                "--seed-draw",
                "per-doc",
                "--n-docs",
                str(n_docs),
                "--n-seeds",
                str(n_docs),
                "--threads",
                str(threads),
                "--json-out",
                str(js),
                *extra.split(),
            ]
            cmd += ["--lm-variants", ";".join(v for v in (variant, baseline) if v)]
            env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
            print(f"running {_name(ck)} -> {log}", file=sys.stderr, flush=True)
            with open(log, "w") as f:
                rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env).returncode
            if rc != 0:
                print(f"  {_name(ck)}: exit status {rc}, see {log}", file=sys.stderr)
                continue
        if not js.exists():
            print(f"  {_name(ck)}: no {js}", file=sys.stderr)
            continue
        data = json.loads(js.read_text())
        row = _row(ck, data, variant)
        base = next((r for r in data["lm"] if baseline and r["variant"] == baseline), None)
        row["base_median_s"] = base["t_median_s"] if base else None
        row["base_every_s"] = base["t_every_s"] if base else None
        rows.append(row)
    if not rows:
        raise click.ClickException("no network measured")
    print(" ".join(f"{h:>{w}}" for _, h, w, _ in COLUMNS))
    for r in rows:
        print(" ".join(_fmt(r[k], w, f) for k, _, w, f in COLUMNS))
    spread = {}
    for label, fn in (("min", min), ("median", statistics.median), ("max", max)):
        cells = []
        for k, _, w, f in COLUMNS:
            if k in NUMERIC:
                vals = [r[k] for r in rows if r[k] is not None]
                v = fn(vals) if vals else None
                spread.setdefault(k, {})[label] = v
                cells.append(_fmt(v, w, f))
            else:
                cells.append(f"{label if k == 'network' else '':>{w}}")
        print(" ".join(cells))
    met = {
        r["network"]: {
            "median": r["speedup_median"] >= target_median,
            "every": r["speedup_every"] >= target_every,
            "share": r["share_1e12"] >= target_share,
        }
        for r in rows
    }
    print(
        f"\nacc: test accuracy (validation where no test score); FPF s: FixedPointFinder's whole find_fixed_points "
        f"(defaults); FPF med qh: its final median q_half = the level; lm med s / all s: lm's time until the median "
        f"point / every point is under the level (or labelled slow); x: FPF s / lm s; "
        f"conv|slow: lm at q_half < 1e-12, share of seeds converged or labelled slow (slow: labelled slow); "
        f"base med / all: the --baseline variant's "
        f"times in the same process ({baseline or 'none'}). {threads} thread(s), {n_docs} seeds."
    )
    for name, m in met.items():
        missed = [k for k, ok in m.items() if not ok]
        print(
            f"  {name}: {'meets every target' if not missed else 'misses ' + ', '.join(missed)} "
            f"(targets: {target_median:g}x median, {target_every:g}x every point, {target_share:.0%} conv|slow)"
        )
    if json_out:
        Path(json_out).write_text(
            json.dumps(
                {
                    "rows": rows,
                    "spread": spread,
                    "targets_met": met,
                    "targets": {"median": target_median, "every": target_every, "share": target_share},
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
