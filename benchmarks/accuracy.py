"""Test accuracy of the four architectures and the bag-of-words baseline, next to the paper's numbers.

Run (one arch at a time is fine; a killed run resumes where it stopped when rerun with the same
arguments; finished architectures are not trained again):

    .venv/bin/python benchmarks/accuracy.py --dataset sst2 --out results/accuracy-sst2
    .venv/bin/python benchmarks/accuracy.py --dataset imdb --archs gru --epochs 5 --out results/accuracy-imdb
    .venv/bin/python benchmarks/accuracy.py --dataset sst2 --out results/accuracy-sst2 --table-only

For each architecture it trains with rnnlens.training.train (checkpoint in OUT/<arch>/, early stopping
and model selection on the validation split), evaluates the selected model on the test split and
writes OUT/<arch>.json; the baseline (rnnlens.baseline.fit_bag_of_words, C chosen on validation)
writes OUT/bag_of_words.json and OUT/baseline.json. It then prints, and writes to OUT/table.md, a
markdown table of test accuracy (%, fraction of test documents classified correctly x 100) with the
paper's numbers (Maheswaranathan et al. 2019, Table in ../shared/PAPER.md) in parentheses, followed
by the equivalent `rnnlens` commands for every cell of the table.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from rnnlens._atomic import write_json_atomic, write_text_atomic
from rnnlens.constants import ARCH_TITLES, ARCHS
from rnnlens.settings import TrainSettings, cli_options

# The paper's test accuracies (%), shared with `rnnlens reproduce`.
from rnnlens.workflows import PAPER_ACCURACY as PAPER  # noqa: E402

# The training options are those of `rnnlens train` (names, types, defaults from TrainSettings).
SETTINGS = cli_options(exclude=("arch",))

COLUMNS = ("baseline", *ARCHS)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="sst2", help="rnnlens corpus name (default sst2)")
    p.add_argument("--data-dir", default=None, help="corpus folder (else $RNNLENS_DATA_DIR, then the cache)")
    p.add_argument("--out", required=True, type=Path, help="results folder (checkpoints, JSON, table.md)")
    p.add_argument("--archs", default=",".join(ARCHS), help="comma-separated subset of vanilla,ugrnn,gru,lstm")
    p.add_argument("--no-baseline", action="store_true", help="skip the bag-of-words baseline")
    p.add_argument("--table-only", action="store_true", help="only rebuild the table from OUT/*.json")
    for o in SETTINGS:
        p.add_argument(*o.flags, dest=o.name, type=o.type, default=o.default, choices=o.choices, help=o.help)
    p.add_argument("--progress", action="store_true", help="show the tqdm bars")
    args = p.parse_args(argv)
    args.archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    bad = [a for a in args.archs if a not in ARCHS]
    if bad:
        p.error(f"--archs: unknown {bad}; choose from {','.join(ARCHS)}")
    return args


def settings_for(args, arch) -> TrainSettings:
    return TrainSettings(arch=arch, **{o.name: o.to_setting(getattr(args, o.name)) for o in SETTINGS})


def cli_commands(args, arch, folder) -> list[str]:
    """The `rnnlens` commands that reproduce one cell of the table."""
    data = ["--dataset", args.dataset] + (["--data-dir", args.data_dir] if args.data_dir else [])
    if arch == "baseline":
        return [shlex.join(["rnnlens", "baseline", *data, "-o", str(folder)])]
    s = settings_for(args, arch).to_dict()
    train = ["rnnlens", "train", *data, "--arch", arch]
    for o in SETTINGS:  # every setting that differs from the default, as `rnnlens train` spells it
        if s[o.name] != o.default and o.name != "num_threads":
            train += [o.flags[0], 0 if s[o.name] is None else s[o.name]]
    train += ["--out", str(folder)]
    evaluate = ["rnnlens", "evaluate", str(folder), *data, "--split", "test"]
    return [shlex.join(map(str, train)), shlex.join(evaluate)]


def run_arch(args, corpus, arch) -> dict:
    from rnnlens.training import evaluate, train

    s = settings_for(args, arch)
    result_path = args.out / f"{arch}.json"
    if result_path.exists():
        old = json.loads(result_path.read_text())
        if old.get("settings") == s.to_dict() and old.get("data_fingerprint") == corpus.fingerprint():
            print(f"[{arch}] done before: {result_path}", file=sys.stderr)
            return old
    folder = args.out / arch
    t0 = time.time()
    ck = train(corpus, s, folder, resume=True, progress=args.progress)
    seconds = time.time() - t0
    test = evaluate(ck.model, ck.vocab, corpus.splits["test"], max_length=s.max_length)
    m = ck.record["metrics"]
    result = {
        "kind": "rnn",
        "arch": arch,
        "dataset": corpus.name,
        "data_fingerprint": corpus.fingerprint(),
        "test_accuracy": test["accuracy"],
        "test_n": test["n"],
        "test_loss": test["loss"],
        "test_n_truncated": test["n_truncated"],
        "validation_accuracy": m["validation"]["accuracy"],
        "validation_n": m["validation"]["n"],
        "best_epoch": m["best_epoch"],
        "epochs_run": m["epochs_run"],
        "stopped_early": m["stopped_early"],
        "train_tokens_per_s": m["train_tokens_per_s"],
        "fast_path": m.get("fast_path"),
        "wall_seconds_this_call": seconds,
        "settings": s.to_dict(),
        "checkpoint": str(folder),
        "code_version": ck.record["code_version"],
        "benchmark_command": shlex.join(sys.argv),
        "commands": cli_commands(args, arch, folder),
    }
    write_json_atomic(result_path, result)
    print(f"[{arch}] test accuracy (fraction correct, n={test['n']}): {test['accuracy']:.4f}", file=sys.stderr)
    return result


def run_baseline(args, corpus) -> dict:
    from rnnlens.baseline import fit_bag_of_words

    result_path = args.out / "baseline.json"
    if result_path.exists():
        old = json.loads(result_path.read_text())
        if old.get("data_fingerprint") == corpus.fingerprint():
            print(f"[baseline] done before: {result_path}", file=sys.stderr)
            return old
    t0 = time.time()
    bow = fit_bag_of_words(corpus)
    bow.save(args.out / "bag_of_words.json")
    result = {
        "kind": "baseline",
        "arch": "baseline",
        "dataset": corpus.name,
        "data_fingerprint": corpus.fingerprint(),
        "test_accuracy": bow.accuracy["test"],
        "test_n": bow.n["test"],
        "validation_accuracy": bow.accuracy["validation"],
        "validation_n": bow.n["validation"],
        "C": bow.C,
        "converged": bow.info.get("converged"),
        "n_words": len(bow.words),
        "wall_seconds_this_call": time.time() - t0,
        "benchmark_command": shlex.join(sys.argv),
        "commands": cli_commands(args, "baseline", args.out / "bag_of_words"),
    }
    write_json_atomic(result_path, result)
    print(
        f"[baseline] test accuracy (fraction correct, n={bow.n['test']}): {bow.accuracy['test']:.4f}", file=sys.stderr
    )
    return result


def table(out: Path) -> str:
    """Markdown table of every result JSON in ``out`` (test accuracy %, paper in parentheses)."""
    results = {}
    for path in sorted(out.glob("*.json")):
        try:
            r = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and r.get("arch") in COLUMNS and "test_accuracy" in r:
            results[r["arch"]] = r
    if not results:
        return f"(no results in {out} yet)"
    dataset = next(iter(results.values()))["dataset"]
    paper = PAPER.get(dataset, {})
    n = next(iter(results.values()))["test_n"]
    lines = [
        f"Test accuracy on {dataset} (%, n={n} test documents); the paper's number in parentheses.",
        "",
        "| data | " + " | ".join(ARCH_TITLES[c] for c in COLUMNS) + " |",
        "| --- |" + " --- |" * len(COLUMNS),
    ]
    cells = []
    for c in COLUMNS:
        ours = f"{100 * results[c]['test_accuracy']:.2f}" if c in results else "-"
        cells.append(f"{ours} ({paper[c]:.2f})" if c in paper else ours)
    lines.append(f"| {dataset} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "| model | validation acc. | best epoch / run | train tokens/s | settings |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in COLUMNS:
        if c not in results:
            continue
        r = results[c]
        if c == "baseline":
            lines.append(
                f"| bag of words | {100 * r['validation_accuracy']:.2f} | - | - | C={r['C']:g}, {r['n_words']} words |"
            )
        else:
            s = r["settings"]
            tps = f"{r['train_tokens_per_s']:.0f}" if r.get("train_tokens_per_s") else "-"
            lines.append(
                f"| {ARCH_TITLES[c]} | {100 * r['validation_accuracy']:.2f} | "
                f"{r['best_epoch']} / {r['epochs_run']} | {tps} | N={s['hidden_size']}, "
                f"emb {s['embed_dim']}, {s['epochs']} epochs max, "
                f"lr {s['lr']:g} x{s['lr_decay']:g}/epoch, batch {s['batch_size']} |"
            )
    lines += ["", "Commands:", "", "```"]
    for c in COLUMNS:
        if c in results:
            lines += results[c]["commands"]
    lines += ["```", "", f"Produced by: `{next(iter(results.values()))['benchmark_command']}`"]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        from rnnlens.data import load_corpus
        from rnnlens.errors import RnnlensError

        try:
            corpus = load_corpus(args.dataset, data_dir=args.data_dir)
            if "test" not in corpus.splits:
                print(f"error: corpus {args.dataset} has no test split", file=sys.stderr)
                return 2
            if not args.no_baseline:
                run_baseline(args, corpus)
            for arch in args.archs:
                run_arch(args, corpus, arch)
        except RnnlensError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    text = table(args.out)
    write_text_atomic(args.out / "table.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
