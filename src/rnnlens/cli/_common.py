"""What the command groups share: the click group class, ``KEY=VALUE`` parsing, the corpus options and the
training-setting options generated from :class:`rnnlens.settings.TrainSettings` (no torch import here)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import click

from rnnlens.errors import ArgumentError, RnnlensError
from rnnlens.settings import cli_options, parse_key_values


class ErrorGroup(click.Group):
    """A click group that turns RnnlensError into ``error: ...`` on stderr and exit status 2 (and a
    PermissionError, which a folder that changed under a running command can still give, and a full disk,
    likewise)."""

    def invoke(self, ctx):
        from rnnlens._atomic import is_disk_full

        try:
            return super().invoke(ctx)
        except RnnlensError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except PermissionError as exc:
            click.echo(
                f"error: {exc.filename}: cannot be written or read ({exc.strerror}); fix the permissions "
                "or choose another folder.",
                err=True,
            )
            ctx.exit(2)
        except Exception as exc:
            if not is_disk_full(exc):
                raise
            where = getattr(exc, "filename", None) or "a file"
            click.echo(
                f"error: {where}: no space left on the disk (or over the quota) while writing it; files "
                "rnnlens finished before are kept. Free some space, or write to another disk, then run "
                "again.",
                err=True,
            )
            ctx.exit(2)


@contextmanager
def guarded_output(folder, command: str, flag: str = "-o", names: tuple[str, ...] = ()):
    """Before a command's work: refuse an unwritable output folder, or one where an entry the command
    writes (``names``) is the user's (:func:`rnnlens._atomic.check_output`), then hold its lock (a second
    run into the same folder fails fast, naming the lock file and the pid that holds it). A full disk
    during the work ends with one line naming the folder, whose previous outputs are unchanged."""
    from rnnlens._atomic import check_output
    from rnnlens._lock import output_lock

    target = check_output(folder, names, flag)
    with output_lock(target, f"rnnlens {command}"):
        try:
            yield
        except Exception as exc:
            _disk_full(exc, folder, command, flag)
            raise


def _disk_full(exc: Exception, folder, command: str, flag: str) -> None:
    """Raise DiskFullError for ``exc`` when it is a full disk's (nothing when it is another error)."""
    from rnnlens._atomic import is_disk_full
    from rnnlens.errors import DiskFullError

    if isinstance(exc, RnnlensError) or not is_disk_full(exc):
        return
    again = "run again (training continues from its last saved state)" if command == "train" else "run again"
    raise DiskFullError(
        f"{folder}: no space left on the disk (or over the quota) while writing the new outputs; "
        f"the previous outputs in {folder} are unchanged. Free some space, or choose an output "
        f"folder on another disk ({flag}), then {again}."
    ) from None


OUTPUT_FOLDER_HELP = (
    "rnnlens replaces only what it wrote there itself (listed in the folder's .rnnlens-output.json, and "
    "unchanged since): your other files stay untouched, and one named like an output of this command stops "
    "it before any work, saying what to move. A symbolic link is written through: the outputs go inside "
    "the folder it points to (created when missing), and the link stays as it is."
)


def parse_options(pairs, flag: str = "--option") -> dict:
    """``KEY=VALUE`` pairs to a dict (values read as JSON when they parse); ``flag`` names the option in errors."""
    return parse_key_values(pairs, flag)


OFFLINE_HELP = (
    "Never download: a corpus missing locally (IMDB) is an error naming where it was looked for "
    "(by default IMDB is downloaded into the cache, 84 MB, checksum verified)."
)


def _remember_offline(ctx, param, value):
    ctx.meta["rnnlens.offline"] = bool(value)
    return value


def offline_corpus_options(dataset: str | None, options: dict) -> dict:
    """``options`` plus ``download=False`` when the command ran with ``--offline`` and loads IMDB."""
    ctx = click.get_current_context(silent=True)
    if dataset == "imdb" and ctx is not None and ctx.meta.get("rnnlens.offline"):
        return {**options, "download": False}
    return options


def corpus_options(
    default: str | None = "synthetic",
    dataset_help: str = "Corpus name (see rnnlens.data.load_corpus), or a generated task with per-step targets: "
    "flipflop, sine, context (options such as --option bits=3: see rnnlens.data.tasks).",
):
    """``--dataset``, ``--data-dir``, ``--data-seed`` and ``--option KEY=VALUE`` (parameters ``dataset``,
    ``data_dir``, ``data_seed``, ``options``), and ``--offline`` (kept in the click context, read by
    :func:`offline_corpus_options`). ``default=None``: the dataset a checkpoint records."""

    def decorate(f):
        f = click.option("--offline", is_flag=True, expose_value=False, callback=_remember_offline, help=OFFLINE_HELP)(
            f
        )
        f = click.option(
            "--option",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help="Extra load_corpus option (value read as JSON when it parses), repeatable.",
        )(f)
        f = click.option(
            "--data-seed",
            type=int,
            default=None,
            help="Seed of the corpus (validation carve-out, synthetic generation); default 0"
            + (", or the one recorded in the checkpoint." if default is None else "."),
        )(f)
        f = click.option(
            "--data-dir",
            type=click.Path(file_okay=False),
            default=None,
            help="Folder with the corpora (else $RNNLENS_DATA_DIR, then the cache).",
        )(f)
        return click.option("--dataset", default=default, show_default=default is not None, help=dataset_help)(f)

    return decorate


# evaluate, analyze: the corpus a checkpoint records, unless these options say otherwise
checkpoint_corpus_options = corpus_options(
    None,
    "Corpus name (default: the one the model was trained on, with the same options and seed; "
    "--option / --data-seed change those).",
)


def load_named_corpus(dataset, data_dir, data_seed, options):
    """The corpus the options name (``--option`` pairs parsed)."""
    from rnnlens.data import load_corpus

    return load_corpus(
        dataset,
        data_dir=data_dir,
        seed=0 if data_seed is None else data_seed,
        **offline_corpus_options(dataset, parse_options(options)),
    )


NETWORK_HELP = (
    "Your own network instead of a CHECKPOINT: FILE.py:FUNCTION, a function of no arguments returning an "
    "rnnlens.Network (e.g. Network.from_parts(rnn=..., readout=..., embedding=..., tokenizer=...)). "
    "This runs your Python file, and only when this option is given; --dataset names the corpus."
)


def load_network(spec: str):
    """The :class:`rnnlens.network.Network` that ``FILE.py:FUNCTION`` returns (the file is run as a module)."""
    import importlib.util
    from pathlib import Path

    from rnnlens.network import Network

    path, sep, name = spec.rpartition(":")
    if not sep or not path or not name:
        raise ArgumentError(f"--network {spec!r}: write FILE.py:FUNCTION (e.g. --network my_model.py:build)")
    file = Path(path)
    if not file.is_file():
        raise ArgumentError(f"--network {spec!r}: {file} is not a file")
    module_spec = importlib.util.spec_from_file_location(f"rnnlens_user_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    build = getattr(module, name, None)
    if not callable(build):
        raise ArgumentError(f"--network {spec!r}: {file} has no function {name!r}")
    network = build()
    if not isinstance(network, Network):
        raise ArgumentError(
            f"--network {spec!r}: {name}() returned a {type(network).__name__}, not an rnnlens.Network "
            "(build one with rnnlens.Network.from_parts(...))"
        )
    return network


def load_checkpoint_corpus(ck, dataset, data_dir, data_seed, options):
    """The corpus ``ck`` was trained on (recorded name, options and seed), unless the options say otherwise."""
    from rnnlens.checkpoint import load_training_corpus

    opts = offline_corpus_options(dataset or ck.record.get("dataset"), parse_options(options))
    return load_training_corpus(ck, data_dir=data_dir, dataset=dataset, seed=data_seed, **opts)


def settings_options(exclude: tuple[str, ...] = ()):
    """One click option per TrainSettings field (name, type, default and help from the field)."""

    def decorate(f):
        for o in reversed(cli_options(exclude)):
            f = click.option(
                *o.flags,
                o.name,
                type=click.Choice(o.choices) if o.choices else o.type,
                default=o.default,
                show_default=o.default is not None,
                help=o.help,
            )(f)
        return f

    return decorate


def pop_settings(values: dict, exclude: tuple[str, ...] = ()) -> dict:
    """Take the TrainSettings values out of a command's keyword arguments (0 -> None where 0 means none)."""
    return {o.name: o.to_setting(values.pop(o.name)) for o in cli_options(exclude)}


def analysis_options(preset: str | None = None, exclude: tuple[str, ...] = ()):
    """One click option per analysis setting (:mod:`rnnlens.analysis.settings`: name, type and help from the
    field; the default shown is the field's, or ``preset``'s: ``"DEMO"``); a list of words also gets a
    ``--no-NAME`` flag when None switches its section off. Values not given keep the settings' defaults
    (:func:`pop_analysis_settings` with the same ``exclude``)."""
    from rnnlens.analysis import settings as _settings

    base = getattr(_settings, preset) if preset else _settings.AnalysisSettings()
    defaults = base.flat()

    def decorate(f):
        for o in reversed(_settings.command_line_options(exclude)):
            shown = defaults[o.name]
            shown = ",".join(map(str, shown)) if isinstance(shown, (list, tuple)) else shown
            if o.parse == "words" and o.help:
                f = click.option(
                    f"--no-{o.name.replace('_', '-')}",
                    f"no_{o.name}",
                    is_flag=True,
                    help=f"Skip: {o.name} = None ({_none_text(o.name)}).",
                )(f)
            kind = {
                "table": dict(multiple=True, metavar="KEY=VALUE"),
                "words": dict(metavar="WORD,..."),
                "reals": dict(metavar="X,..."),
            }.get(o.parse, {})
            note = "" if shown in ("", None, {}) else f" [default: {shown}]"
            f = click.option(
                *o.flags,
                o.name,
                type=click.Choice(o.choices) if o.choices else o.type,
                default=None,
                help=o.help + note,
                **kind,
            )(f)
        return f

    return decorate


def _none_text(name: str) -> str:
    from rnnlens.analysis.settings import setting_fields

    return setting_fields()[name][1].metadata["none"]


def pop_analysis_settings(values: dict, preset: str | None = None, exclude: tuple[str, ...] = ()):
    """Take the analysis options out of a command's keyword arguments and return the
    :class:`rnnlens.analysis.settings.AnalysisSettings` they make (``preset``'s defaults, then the values given;
    ``--no-NAME`` sets NAME to None, and contradicts ``--NAME``). A device this machine lacks (``--device cuda``
    without CUDA) is refused here, before any work."""
    from rnnlens.analysis import settings as _settings
    from rnnlens.device import resolve_device

    base = getattr(_settings, preset) if preset else _settings.AnalysisSettings()
    given: dict[str, Any] = {}
    for o in _settings.command_line_options(exclude):
        value = values.pop(o.name)
        off = values.pop(f"no_{o.name}", False)
        if off and value is not None:
            raise click.UsageError(
                f"--{o.name.replace('_', '-')} and --no-{o.name.replace('_', '-')} contradict each other; give one"
            )
        if off:
            given[o.name] = None
        elif value is not None and value != ():
            given[o.name] = o.to_setting(value)
    out = base.replace(**given)
    resolve_device(out.documents.device)
    return out


# reproduce takes the training options and the analysis options; these names are the training ones there
# (its analyses run on the training --device when the analysis can: cpu, cuda, cuda:N)
SHARED_WITH_TRAINING = ("seed", "max_length", "min_count", "device")
