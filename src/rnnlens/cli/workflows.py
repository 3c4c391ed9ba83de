"""Click commands ``demo`` and ``reproduce`` (thin wrappers of :mod:`rnnlens.workflows`)."""

from __future__ import annotations

import click

from rnnlens.cli._common import (
    OFFLINE_HELP,
    SHARED_WITH_TRAINING,
    analysis_options,
    corpus_options,
    offline_corpus_options,
    parse_options,
    pop_analysis_settings,
    pop_settings,
    settings_options,
)
from rnnlens.constants import ARCHS, PAPER_ARCHS
from rnnlens.errors import ArgumentError

__all__ = ["COMMANDS", "demo_command", "reproduce_command"]


def _archs_option(help_text: str):
    return click.option(
        "--arch",
        "archs",
        multiple=True,
        type=click.Choice(ARCHS),
        help=help_text + " (repeatable; default the paper's four: " + ", ".join(PAPER_ARCHS) + ").",
    )


@click.command("demo")
@click.option(
    "-o",
    "--out",
    "out_dir",
    default="rnnlens-demo",
    show_default=True,
    type=click.Path(),
    help="Folder for the analyses and report/report.html.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder with the IMDB corpus (else $RNNLENS_DATA_DIR, then the cache).",
)
@_archs_option("Analyze only these shipped networks")
@click.option("--offline", is_flag=True, help=OFFLINE_HELP)
@click.option(
    "--download", is_flag=True, help="Download IMDB if it is not found locally (the default; kept for older scripts)."
)
@analysis_options("DEMO")
def demo_command(out_dir, data_dir, archs, offline, download, **settings):
    """The main job: analyze the four small IMDB networks shipped with rnnlens on IMDB test reviews and
    write a full report (figures, numbers with definitions, checks against the paper). IMDB is
    downloaded into the cache once when it is not found locally, unless --offline. The analysis options
    are those of `rnnlens analyze` (defaults: the demo's preset; --n-docs 150 is a quick look)."""
    from rnnlens.workflows import run_demo

    if offline and download:
        raise ArgumentError("--offline forbids the download that --download asks for; pass one of them.")
    result = run_demo(
        out_dir,
        data_dir=data_dir,
        archs=tuple(archs) or PAPER_ARCHS,
        download=not offline,
        settings=pop_analysis_settings(settings, "DEMO"),
    )
    click.echo(f"demo finished in {result.seconds:.1f} s (wall clock)")
    click.echo(f"report written to {result.report}")


@click.command("reproduce")
@corpus_options("imdb")
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(),
    help="Folder for baseline/, models/, analysis/, report/ and accuracy.json; rerun to resume.",
)
@_archs_option("Architectures to train")
@settings_options(exclude=("arch",))
@analysis_options(exclude=SHARED_WITH_TRAINING)
@click.option("--no-baseline", is_flag=True, help="Skip the bag-of-words baseline.")
def reproduce_command(dataset, data_dir, data_seed, options, out_dir, archs, no_baseline, **settings):
    """Train the four architectures and the bag-of-words baseline, analyze each network and write the
    report with a table of test accuracy beside the paper's. Each step resumes where it stopped.
    The training options are those of `rnnlens train`, the analysis options those of `rnnlens analyze`
    (--seed, --max-length and --min-count are the training ones here; the analysis keeps its defaults;
    --device is the training one, and the analyses run there too when it is cpu, cuda or cuda:N)."""
    from rnnlens.device import check_device_name
    from rnnlens.workflows import run_reproduce

    analysis_settings = pop_analysis_settings(settings, exclude=SHARED_WITH_TRAINING)
    training = pop_settings(settings, exclude=("arch",))
    if check_device_name(training["device"]):
        analysis_settings = analysis_settings.replace(device=training["device"])
    result = run_reproduce(
        dataset,
        out_dir,
        settings=training,
        archs=tuple(archs) or PAPER_ARCHS,
        data_dir=data_dir,
        data_seed=0 if data_seed is None else data_seed,
        corpus_options=offline_corpus_options(dataset, parse_options(options)),
        baseline=not no_baseline,
        analysis_settings=analysis_settings,
    )
    click.echo("test accuracy (%, fraction of test documents correct x 100; paper's in parentheses):")
    click.echo(result.table_markdown)
    click.echo(f"report written to {result.report}")


COMMANDS = [demo_command, reproduce_command]
