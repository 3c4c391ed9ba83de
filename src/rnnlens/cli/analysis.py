"""Click commands ``analyze`` and ``report``."""

from __future__ import annotations

import math
from pathlib import Path

import click

from rnnlens.cli._common import (
    NETWORK_HELP,
    OUTPUT_FOLDER_HELP,
    analysis_options,
    checkpoint_corpus_options,
    guarded_output,
    load_checkpoint_corpus,
    load_named_corpus,
    load_network,
    pop_analysis_settings,
)

__all__ = ["COMMANDS", "analyze_command", "report_command", "print_summary"]


def _show(x) -> str:
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else str(x)
    if isinstance(x, list):
        return "[" + ", ".join(_show(v) for v in x[:10]) + (", ..." if len(x) > 10 else "") + "]"
    return str(x)


def print_summary(summary: dict) -> None:
    """Print every measured number with its definition, then the checks and what is missing."""
    for section, items in summary["metrics"].items():
        click.echo(f"[{section}]")
        for name, node in items.items():
            if isinstance(node, dict) and "value" in node:
                click.echo(f"  {name} = {_show(node['value'])}  -- {node['definition']}")
    click.echo("[checks]")
    for c in summary["checks"]:
        mark = "NOT CHECKED" if c["passed"] is None else ("PASS" if c["passed"] else "FAIL")
        click.echo(f"  {mark}: {c['claim']} ({c['detail']})")
    for m in summary["missing"]:
        click.echo(f"missing: {m['what']}: {m['why']}", err=True)


@click.command("analyze")
@click.argument("checkpoint", type=click.Path(), required=False)
@click.option("--network", "network_spec", default=None, metavar="FILE.py:FUNCTION", help=NETWORK_HELP)
@checkpoint_corpus_options
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(),
    help="Folder for summary.json, arrays.npz and fixed_points.safetensors. " + OUTPUT_FOLDER_HELP,
)
@click.option(
    "--bow",
    type=click.Path(),
    default=None,
    help="Bag-of-words baseline JSON (rnnlens baseline) for the word-valence comparison. Default: "
    "the corpus's own, fitted once (rnnlens baseline's defaults) and then read from the cache "
    "($RNNLENS_CACHE_DIR or ~/.cache/rnnlens, bag_of_words/); none for networks without words.",
)
@click.option(
    "--no-bow",
    is_flag=True,
    help="No bag of words: the word-valence comparison and the word groups are left unmeasured.",
)
@analysis_options()
@click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar of the sections on stderr [default: when stderr is a terminal and not --quiet].",
)
@click.option("--quiet", is_flag=True, help="Print only where the results went (no progress lines).")
def analyze_command(
    checkpoint, network_spec, dataset, data_dir, data_seed, options, out_dir, bow, no_bow, progress, quiet, **settings
):
    """Measure the line-attractor picture of CHECKPOINT (or of your own network, --network) on a dataset;
    write DIR/summary.json. While it runs, one line per section (its seconds and peak memory) goes to
    stderr.

    The analysis options are the fields of rnnlens.AnalysisSettings (the same names in a sweep SPEC's
    [analysis] table)."""
    import sys

    from rnnlens import progress as _progress
    from rnnlens.analysis import analyze
    from rnnlens.analysis.io import OWN_FILES
    from rnnlens.baseline_cache import describe
    from rnnlens.checkpoint import load_checkpoint

    if (checkpoint is None) == (network_spec is None):
        raise click.UsageError("give a CHECKPOINT folder or --network FILE.py:FUNCTION (one of them)")
    if network_spec is not None and dataset is None:
        raise click.UsageError("--network needs --dataset (the corpus to analyse it on)")
    if bow is not None and no_bow:
        raise click.UsageError("--bow and --no-bow contradict each other; give one")
    analysis_settings = pop_analysis_settings(settings)
    bars = (sys.stderr.isatty() and not quiet) if progress is None else progress
    with guarded_output(out_dir, "analyze", names=OWN_FILES), _progress.show(bars=bars, lines=not quiet):
        if network_spec is not None:
            network = load_network(network_spec)
            corpus = load_named_corpus(dataset, data_dir, data_seed, options)
        else:
            network = load_checkpoint(checkpoint)
            corpus = load_checkpoint_corpus(network, dataset, data_dir, data_seed, options)
        bow = None if no_bow else ("auto" if bow is None else Path(bow))
        result = analyze(network, corpus, analysis_settings, bow=bow, out_dir=out_dir)
    if not quiet:
        print_summary(result.summary)
        click.echo(f"bag of words: {describe(result.provenance['bag_of_words'])}")
    if result.provenance["trained_on_same_corpus"] is False:
        click.echo(
            f"warning: the checkpoint was trained on a corpus with another fingerprint than {corpus.name!r} "
            "as loaded now (other options or data?)",
            err=True,
        )
    click.echo(f"analysis ({result.status}) written to {out_dir}/summary.json")


@click.command("report")
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option(
    "-o",
    "--out",
    "out",
    required=True,
    type=click.Path(),
    help="Folder for report.html and the figures (one subfolder per analysis), replaced as one unit: "
    "the previous report's figures go with it. " + OUTPUT_FOLDER_HELP,
)
def report_command(dirs, out):
    """Draw figures and a self-contained HTML report from saved analysis folders DIRS (no recomputation)."""
    from rnnlens.report import make_report

    with guarded_output(out, "report"):
        path = make_report(list(dirs), out)
    click.echo(f"report written to {path}")


COMMANDS = [analyze_command, report_command]
