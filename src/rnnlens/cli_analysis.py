"""Click commands ``analyze``, ``report``, ``demo`` and ``reproduce`` (added to the ``rnnlens`` group by
:mod:`rnnlens.cli`)."""

from __future__ import annotations

import math

import click

from rnnlens.errors import ArgumentError

__all__ = ["COMMANDS", "analyze_command", "report_command", "demo_command", "reproduce_command"]


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
@click.argument("checkpoint", type=click.Path())
@click.option("--dataset", default=None, help="Corpus name (default: the dataset recorded in the checkpoint).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with the corpora (else $RNNLENS_DATA_DIR, then the cache).")
@click.option("--data-seed", type=int, default=0, show_default=True, help="Seed of the corpus.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Extra load_corpus option (value read as JSON when it parses), repeatable.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(), help="Folder for summary.json etc.")
@click.option("--bow", type=click.Path(), default=None,
              help="Bag-of-words baseline JSON (rnnlens baseline) for the word-valence comparison.")
@click.option("--split", default="test", show_default=True)
@click.option("--n-docs", type=int, default=1000, show_default=True, help="Documents analysed.")
@click.option("--n-seeds", type=int, default=500, show_default=True, help="Seeds for the fixed-point search.")
@click.option("--input-point", type=click.Choice(["zero", "mean"]), default="zero", show_default=True,
              help="Constant input x* of the fixed points: zero (the paper) or the mean embedding.")
@click.option("--tol", type=float, default=1e-8, show_default=True, help="Keep fixed points with q < tol.")
@click.option("--max-length", type=int, default=None, help="Cut documents to this many tokens (counted).")
@click.option("--n-linear-docs", type=int, default=None, help="Documents classified by the linearized dynamics.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="Print only where the results went.")
def analyze_command(checkpoint, dataset, data_dir, data_seed, options, out_dir, bow, split, n_docs, n_seeds,
                    input_point, tol, max_length, n_linear_docs, seed, quiet):
    """Measure the line-attractor picture of CHECKPOINT on a dataset; write DIR/summary.json."""
    from rnnlens.analysis import analyze
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.cli import _parse_options  # imported here: rnnlens.cli imports this module
    from rnnlens.data import load_corpus

    ck = load_checkpoint(checkpoint)
    if dataset is None:
        dataset = ck.record.get("dataset")
        if not dataset:
            raise ArgumentError(f"{checkpoint}: the checkpoint does not record its dataset; pass --dataset NAME.")
    corpus = load_corpus(dataset, data_dir=data_dir, seed=data_seed, **_parse_options(options))
    result = analyze(ck, corpus, bow=bow, split=split, n_docs=n_docs, n_seeds=n_seeds, input_point=input_point,
                     tol=tol, max_length=max_length, n_linear_docs=n_linear_docs, seed=seed, out_dir=out_dir)
    if not quiet:
        print_summary(result.summary)
    if result.summary["provenance"]["trained_on_same_corpus"] is False:
        click.echo(f"warning: the checkpoint was trained on a corpus with another fingerprint than {dataset!r} "
                   "as loaded now (other options or data?)", err=True)
    status = result.summary["status"]
    click.echo(f"analysis ({status}) written to {out_dir}/summary.json")


@click.command("report")
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", "out", required=True, type=click.Path(), help="Folder for the figures and report.html.")
def report_command(dirs, out):
    """Draw figures and a self-contained HTML report from saved analysis folders DIRS (no recomputation)."""
    from rnnlens.report import make_report

    path = make_report(list(dirs), out)
    click.echo(f"report written to {path}")


@click.command("demo")
@click.option("-o", "--out", "out_dir", default="rnnlens-demo", show_default=True, type=click.Path(),
              help="Folder for the analyses and report/report.html.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with the IMDB corpus (else $RNNLENS_DATA_DIR, then the cache).")
@click.option("--arch", "archs", multiple=True, type=click.Choice(["vanilla", "ugrnn", "gru", "lstm"]),
              help="Analyze only these shipped networks (repeatable; default all four).")
@click.option("--download", is_flag=True,
              help="If IMDB is not found locally, download the official archive into the cache (84 MB).")
def demo_command(out_dir, data_dir, archs, download):
    """The main job, offline: analyze the four small IMDB networks shipped with rnnlens on IMDB test
    reviews and write a full report (figures, numbers with definitions, checks against the paper)."""
    from rnnlens.workflows import ARCHS, run_demo

    result = run_demo(out_dir, data_dir=data_dir, archs=tuple(archs) or ARCHS, download=download)
    click.echo(f"demo finished in {result.seconds:.1f} s (wall clock)")
    click.echo(f"report written to {result.report}")


@click.command("reproduce")
@click.option("--dataset", default="imdb", show_default=True, help="Corpus name (see rnnlens.data.load_corpus).")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(),
              help="Folder for baseline/, models/, analysis/, report/ and accuracy.json; rerun to resume.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="Folder with the corpora (else $RNNLENS_DATA_DIR, then the cache).")
@click.option("--arch", "archs", multiple=True, type=click.Choice(["vanilla", "ugrnn", "gru", "lstm"]),
              help="Architectures to train (repeatable; default all four).")
@click.option("--setting", "settings", multiple=True, metavar="KEY=VALUE",
              help="Training setting (rnnlens.training.TrainSettings field, e.g. hidden_size=256, epochs=3), "
                   "repeatable.")
@click.option("--n-docs", type=int, default=1000, show_default=True, help="Documents analysed per network.")
@click.option("--n-seeds", type=int, default=500, show_default=True, help="Seeds for the fixed-point search.")
@click.option("--no-baseline", is_flag=True, help="Skip the bag-of-words baseline.")
def reproduce_command(dataset, out_dir, data_dir, archs, settings, n_docs, n_seeds, no_baseline):
    """Train the four architectures and the bag-of-words baseline, analyze each network and write the
    report with a table of test accuracy beside the paper's. Each step resumes where it stopped."""
    from rnnlens.cli import _parse_options
    from rnnlens.workflows import ARCHS, run_reproduce

    result = run_reproduce(dataset, out_dir, settings=_parse_options(settings, '--setting'), archs=tuple(archs) or ARCHS,
                           data_dir=data_dir, baseline=not no_baseline,
                           analysis_options={"n_docs": n_docs, "n_seeds": n_seeds})
    click.echo("test accuracy (%, fraction of test documents correct x 100; paper's in parentheses):")
    click.echo(result.table_markdown)
    click.echo(f"report written to {result.report}")


COMMANDS = [analyze_command, report_command, demo_command, reproduce_command]
