"""Click commands ``analyze`` and ``report``."""

from __future__ import annotations

import math

import click

from rnnlens.cli._common import checkpoint_corpus_options, guarded_output, load_checkpoint_corpus

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
@click.argument("checkpoint", type=click.Path())
@checkpoint_corpus_options
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
@click.option("--manifold-points", type=int, default=64, show_default=True,
              help="Nodes of the traced slow manifold (rnnlens.manifold.trace_slow_manifold).")
@click.option("--relax-steps", type=int, default=100, show_default=True,
              help="Steps of the network's own dynamics at x* that turn visited states into slow points.")
@click.option("--modifiers", default=None, metavar="WORD,WORD,...",
              help="Modifier tokens whose effect on the next words is measured (section 'modifiers'; issue 11). "
                   "Default: not,n't,never,no,hardly,very,extremely (those missing from the vocabulary are "
                   "listed as missing); a list of your own must be in the vocabulary.")
@click.option("--no-modifiers", is_flag=True, help="Skip the modifier analysis.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="Print only where the results went.")
def analyze_command(checkpoint, dataset, data_dir, data_seed, options, out_dir, bow, split, n_docs, n_seeds,
                    input_point, tol, max_length, n_linear_docs, manifold_points, relax_steps, modifiers,
                    no_modifiers, seed, quiet):
    """Measure the line-attractor picture of CHECKPOINT on a dataset; write DIR/summary.json."""
    from rnnlens.analysis import analyze
    from rnnlens.analysis.modifiers import DEFAULT_MODIFIERS
    from rnnlens.checkpoint import load_checkpoint

    if no_modifiers and modifiers is not None:
        raise click.UsageError("--modifiers and --no-modifiers contradict each other; give one")
    modifiers = None if no_modifiers else (DEFAULT_MODIFIERS if modifiers is None else modifiers)
    with guarded_output(out_dir, "analyze"):
        ck = load_checkpoint(checkpoint)
        corpus = load_checkpoint_corpus(ck, dataset, data_dir, data_seed, options)
        result = analyze(ck, corpus, bow=bow, split=split, n_docs=n_docs, n_seeds=n_seeds,
                         input_point=input_point, tol=tol, max_length=max_length, n_linear_docs=n_linear_docs,
                         manifold_points=manifold_points, relax_steps=relax_steps, modifiers=modifiers, seed=seed,
                         out_dir=out_dir)
    if not quiet:
        print_summary(result.summary)
    if result.summary["provenance"]["trained_on_same_corpus"] is False:
        click.echo(f"warning: the checkpoint was trained on a corpus with another fingerprint than {corpus.name!r} "
                   "as loaded now (other options or data?)", err=True)
    status = result.summary["status"]
    click.echo(f"analysis ({status}) written to {out_dir}/summary.json")


@click.command("report")
@click.argument("dirs", nargs=-1, required=True, type=click.Path())
@click.option("-o", "--out", "out", required=True, type=click.Path(), help="Folder for the figures and report.html.")
def report_command(dirs, out):
    """Draw figures and a self-contained HTML report from saved analysis folders DIRS (no recomputation)."""
    from rnnlens.report import make_report

    with guarded_output(out, "report"):
        path = make_report(list(dirs), out)
    click.echo(f"report written to {path}")


COMMANDS = [analyze_command, report_command]
