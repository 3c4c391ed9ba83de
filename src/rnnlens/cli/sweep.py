"""Click command ``sweep``: every trial of a SPEC on Ray, then the comparison across networks."""

from __future__ import annotations

import sys

import click

__all__ = ["COMMANDS", "sweep_command"]


@click.command("sweep")
@click.argument("spec", type=click.Path())
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(),
    help="Sweep folder: trials/<id>/, summary.csv, comparison.json, report/. On a Ray cluster a path every node sees.",
)
@click.option(
    "--address",
    default=None,
    help="Ray cluster to run on (auto, HOST:PORT as `ray start --head` prints it, or ray://HOST:10001). A "
    "cluster with token authentication needs the head's token (`ray get-auth-token` there) in "
    "RAY_AUTH_TOKEN or ~/.ray/auth_token (docs/sweep.md). Default: start Ray on this machine.",
)
@click.option(
    "--max-concurrent",
    type=int,
    default=None,
    help="At most this many trials submitted at once (default: as many as the resources allow).",
)
@click.option(
    "--retries",
    type=int,
    default=2,
    show_default=True,
    help="Restarts of a trial whose worker died (Ray) and resubmissions of one that raised.",
)
@click.option(
    "--num-cpus",
    type=int,
    default=None,
    help="CPUs of the local Ray (default: all of this machine's); not with --address.",
)
@click.option("--num-gpus", type=int, default=None, help="GPUs of the local Ray (default: Ray's detection).")
@click.option(
    "--max-trials",
    type=int,
    default=None,
    help="Refuse a SPEC of more trials than this, before making any (default: the SPEC's max_trials, "
    "else 10000; at most 1000000).",
)
@click.option(
    "--reuse",
    is_flag=True,
    help="Run into a sweep folder made by another SPEC (refused without it): finished trials of the same "
    "configuration are kept, a bag of words of another corpus is fitted again.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check everything a run checks first (the SPEC, each corpus and its options, the analysis's "
    "solver options and split, the folder) and list the trials (and which are finished); run nothing.",
)
@click.option("--no-report", is_flag=True, help="Write summary.csv and comparison.json only (no figures, no HTML).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: when stderr is a terminal); one line per finished trial either way.",
)
def sweep_command(
    spec, out_dir, address, max_concurrent, retries, num_cpus, num_gpus, max_trials, reuse, dry_run, no_report, progress
):
    """Train, evaluate and analyze every trial of SPEC (TOML or YAML) as Ray tasks into DIR/trials/<id>/, then
    compare them: DIR/summary.csv and DIR/report/report.html. Everything is checked before anything starts. A
    rerun skips finished trials and resumes the others. Exit status 1 when some trial failed (the others
    still ran), 2 for a bad SPEC or option, a folder made by another SPEC, or a cluster that cannot be reached
    or refuses this driver (nothing started)."""
    from rnnlens.sweep.driver import check_folder, pending_trials, run_sweep
    from rnnlens.sweep.preflight import check_spec
    from rnnlens.sweep.spec import load_spec

    s = load_spec(spec, max_trials=max_trials)
    if dry_run:
        check_spec(s)
        check_folder(s, out_dir, reuse=reuse)
        todo = {t.id for t in pending_trials(s, out_dir)}
        click.echo(
            f"{len(s.trials)} trials ({len(todo)} to run) of sweep {s.name}; each asks for "
            f"{s.num_cpus:g} CPU, {s.num_gpus:g} GPU; stages {', '.join(s.stages)}"
        )
        for t in s.trials:
            varied = ", ".join(f"{k}={v}" for k, v in t.varied.items())
            click.echo(f"  {'to run  ' if t.id in todo else 'finished'} {t.id}" + (f"  ({varied})" if varied else ""))
        return
    result = run_sweep(
        s,
        out_dir,
        address=address,
        max_concurrent=max_concurrent,
        retries=retries,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        progress=progress,
        report=not no_report,
        reuse=reuse,
    )
    click.echo(
        f"{len(result.done)} trials finished in this run, {len(result.skipped)} were finished before, "
        f"{len(result.failed)} failed; {result.seconds:.1f} s wall time of this run"
    )
    for tid, err in result.failed.items():
        click.echo(f"FAILED {tid}: {err}", err=True)
    click.echo(f"summary (one row per trial): {result.summary_csv}")
    if result.report is not None:
        click.echo(f"report: {result.report}")
    if result.failed:
        sys.exit(1)


COMMANDS = [sweep_command]
