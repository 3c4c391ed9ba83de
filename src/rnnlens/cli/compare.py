"""Click command ``compare``: many networks' saved analyses compared by geometry, topology and dynamics."""

from __future__ import annotations

from pathlib import Path

import click

from rnnlens.errors import ArgumentError

__all__ = ["COMMANDS", "compare", "analysis_folders"]


def analysis_folders(runs) -> list[Path]:
    """The analysis folders that ``runs`` name: an analysis folder (it holds ``summary.json``) as it is; a sweep
    folder (it holds ``trials/``) gives every trial's ``analysis/`` that finished, in the trials' order.

    Raises:
        ArgumentError: a run that is neither, or a sweep with no finished analysis.
    """
    out: list[Path] = []
    for run in map(Path, runs):
        if (run / "summary.json").is_file():
            out.append(run)
        elif (run / "trials").is_dir():
            found = sorted(p.parent for p in (run / "trials").glob("*/analysis/summary.json"))
            if not found:
                raise ArgumentError(f"{run}: a sweep folder without any finished analysis (trials/*/analysis)")
            out.extend(found)
        else:
            raise ArgumentError(
                f"{run}: not an analysis folder (no summary.json: write one with rnnlens analyze CKPT -o DIR) "
                "nor a sweep folder (no trials/)"
            )
    return out


def _settings_options(f):
    import dataclasses

    from rnnlens.compare.study import CompareSettings
    from rnnlens.settings import cli_options

    for o in reversed(cli_options(fields=dataclasses.fields(CompareSettings))):
        shown = ",".join(o.default) if isinstance(o.default, tuple) else o.default
        f = click.option(
            *o.flags,
            o.name,
            type=click.Choice(o.choices) if o.choices else o.type,
            default=None,
            metavar="WORD,..." if o.parse == "words" else None,
            help=f"{o.help} [default: {shown}]",
        )(f)
    return f


@click.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("-o", "--out", "out", type=click.Path(), required=True, help="Folder for the comparison.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    help="Label of each analysis, in order (repeat once per analysis; default: its architecture).",
)
@_settings_options
def compare(runs, out, labels, **values):
    """Compare networks analysed on the same inputs: RUNS are analysis folders (rnnlens analyze -o DIR) or sweep
    folders (every finished trial's analysis).

    Writes OUT/comparison.json (each distance matrix with its definition, the 2-D MDS embeddings, the
    nearest-neighbour label accuracy), OUT/comparison.png and OUT/report.html. Measures: svcca (geometry of the
    states, section trajectories), topology (the fixed-point graph, section topology), dsa (dynamics; needs the
    'compare' extra)."""
    import dataclasses

    from rnnlens.compare.output import write_comparison
    from rnnlens.compare.study import CompareSettings, compare_members, load_members
    from rnnlens.settings import cli_options

    given = {}
    for o in cli_options(fields=dataclasses.fields(CompareSettings)):
        v = values.pop(o.name)
        if v is not None:
            given[o.name] = tuple(o.to_setting(v)) if o.parse == "words" else o.to_setting(v)
    settings = CompareSettings(**given)
    folders = analysis_folders(runs)
    members = load_members(folders, list(labels) if labels else None)
    result = compare_members(members, settings)
    report = write_comparison(result, out)
    for name, m in result.measures.items():
        click.echo(
            f"{name}: nearest-neighbour label accuracy {m['nn_accuracy']:.3f} (chance {m['nn_chance']:.3f}; "
            f"leave-one-out, the nearest other network under the {name} distance), MDS stress {m['mds_stress']:.3f}"
        )
    for name, why in result.missing.items():
        click.echo(f"{name}: not computed: {why}")
    click.echo(f"report: {report}")


COMMANDS = [compare]
