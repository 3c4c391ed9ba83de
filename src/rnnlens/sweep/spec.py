"""The sweep SPEC: read (TOML or YAML), check every key before anything runs, expand into trials.

A SPEC lists datasets, architectures, training seeds and training settings (fixed, as a grid, or as
seeded random draws); the trials are every combination

    datasets x architectures x grid points x random draws x seeds

Each trial trains one network (``rnnlens.train``), evaluates it on the test split and analyzes it
(``rnnlens.analyze``), as ``stages`` says. Keys (every one optional except ``datasets`` and
``architectures``; the full description with an example is in docs/sweep.md):

    architectures = ["gru", "lstm"]          # rnnlens.cells.ARCHS
    seeds = [0, 1, 2]                        # training seeds (TrainSettings.seed); an integer n means 0..n-1
    stages = ["train", "evaluate", "analyze"]
    bag_of_words = true                      # fit one per dataset, for the analysis and the valence comparison
    [[datasets]]  name, label, seed (the data seed), data_dir (relative: to the SPEC file's folder),
                  options = {load_corpus options}
    [settings]    fixed TrainSettings fields (0 means None for patience, clip_norm, vocab_size, max_length,
                  as on the command line)
    [grid]        TrainSettings field -> non-empty list; every combination
    [random]      draws = n, seed = s, [random.settings] field -> {uniform|log_uniform|int_uniform = [lo, hi]}
                  or {choice = [...]}; the n draws are made once (seeded) and shared by every dataset and arch
    [analysis]    options of rnnlens.analyze (n_docs, n_seeds, manifold_points, ...); modifiers = true for the
                  default modifier list
    [resources]   num_cpus (per trial, default 1), num_gpus (per trial, default 0)
    [compare]     min_count: words seen this often in training enter the valence agreement (default 5); and
                  the options of rnnlens compare (measures, svcca_keep, dsa_delays, ...): with measures given,
                  the networks of each dataset are compared by them (rnnlens.compare.study) in DIR/compare/
    max_trials = 10000                       # the cap on the number of trials (MAX_TRIALS), checked before expansion

Nothing here imports Ray (TrainSettings' device check imports torch). Every mistake is an
:class:`rnnlens.errors.ArgumentError` naming the SPEC file and the key (``grid.hidden_size``,
``datasets[1].options.n_trian``, ...).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlens.constants import ARCHS
from rnnlens.errors import ArgumentError
from rnnlens.settings import TrainSettings, cli_options

__all__ = ["SweepSpec", "Trial", "DatasetSpec", "load_spec", "parse_spec", "STAGES", "DISTRIBUTIONS"]

STAGES = ("train", "evaluate", "analyze")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
TOP_KEYS = (
    "name",
    "architectures",
    "seeds",
    "stages",
    "bag_of_words",
    "datasets",
    "settings",
    "grid",
    "random",
    "analysis",
    "resources",
    "compare",
    "max_trials",
)
MAX_TRIALS = 10_000  # default cap on a SPEC's trials (SPEC key max_trials, rnnlens sweep --max-trials)
MAX_TRIALS_LIMIT = 1_000_000  # the highest cap: each trial is an object here and a folder on disk
INT64 = (-(2**63), 2**63 - 1)  # TOML's integers; seeds reach torch and numpy as 64-bit integers
DATASET_KEYS = ("name", "label", "seed", "data_dir", "options")
RESOURCE_KEYS = ("num_cpus", "num_gpus")
COMPARE_KEYS = ("min_count", "measures", "svcca_keep", "dsa_delays", "dsa_rank", "dsa_score", "dsa_steps", "seed")
# settings the SPEC gives elsewhere: arch by `architectures`, seed by `seeds`
RESERVED_SETTINGS = {"arch": "architectures", "seed": "seeds"}
# analyze() arguments a trial supplies itself
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # a load_corpus name
    label: str  # how trials and tables call it (default: name)
    seed: int = 0  # load_corpus seed (synthetic generator, carved validation split)
    data_dir: str | None = None
    options: dict = field(default_factory=dict)

    def corpus_key(self) -> dict:
        return {"name": self.name, "seed": self.seed, "data_dir": self.data_dir, "options": self.options}


@dataclass(frozen=True)
class Trial:
    """One network: a dataset, an architecture, a training seed and the other settings."""

    id: str  # folder name under DIR/trials/: <dataset label>-<arch>-s<seed>-<8 hex of the config>
    dataset: DatasetSpec
    arch: str
    seed: int
    settings: dict  # every TrainSettings field given by the SPEC (settings, grid, random), plus arch and seed
    varied: dict  # the grid and random values of this trial (summary columns)
    draw: int | None  # index of the random draw, None without [random]
    stages: tuple[str, ...]
    analysis: dict
    bag_of_words: bool
    num_cpus: float
    num_gpus: float

    def train_settings(self) -> TrainSettings:
        return TrainSettings.from_dict(self.settings)

    def config(self) -> dict:
        """Everything that defines this trial's results (JSON); its hash decides whether a finished trial is
        still current."""
        return {
            "dataset": dataclasses.asdict(self.dataset),
            "arch": self.arch,
            "seed": self.seed,
            "settings": self.settings,
            "varied": self.varied,
            "draw": self.draw,
            "stages": list(self.stages),
            "analysis": self.analysis,
            "bag_of_words": self.bag_of_words,
        }

    def config_hash(self) -> str:
        return _hash(_without_data_dir(self.config()))


@dataclass
class SweepSpec:
    path: Path | None
    name: str
    datasets: list[DatasetSpec]
    architectures: list[str]
    seeds: list[int]
    stages: tuple[str, ...]
    bag_of_words: bool
    settings: dict
    grid: dict
    random: dict | None  # {"draws": n, "seed": s, "settings": {key: {dist: args}}}
    analysis: dict
    num_cpus: float
    num_gpus: float
    min_count: int
    raw: dict
    max_trials: int = MAX_TRIALS
    trials: list[Trial] = field(default_factory=list)
    compare: dict = field(default_factory=dict)  # rnnlens compare's settings (CompareSettings fields)

    def dataset(self, label: str) -> DatasetSpec:
        return next(d for d in self.datasets if d.label == label)

    def error(self, key: str, what: str) -> ArgumentError:
        """The error naming this SPEC's file and ``key`` (as every check of the SPEC words it)."""
        return ArgumentError(f"{_Where(self.path).prefix}: {key}: {what}")

    def fingerprint(self) -> str:
        """What this SPEC makes (recorded in ``DIR/sweep.json``; a folder made by another SPEC is refused):
        every trial's configuration and the comparison's ``min_count``; not the SPEC's name, its file,
        the corpora's folders or the cap."""
        return _hash({"trials": sorted(t.config_hash() for t in self.trials), "min_count": self.min_count})


def _without_data_dir(config: dict) -> dict:
    """Where the corpus files lie is no part of a trial's identity (the checkpoint's data fingerprint guards
    the data itself): moving the data, or a cluster path, keeps the trials."""
    return {**config, "dataset": {k: v for k, v in config["dataset"].items() if k != "data_dir"}}


def _hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class _Where:
    """Names the SPEC file in every message."""

    def __init__(self, path):
        self.prefix = f"sweep spec {path}" if path is not None else "sweep spec"

    def fail(self, key: str, what: str):
        raise ArgumentError(f"{self.prefix}: {key}: {what}")


def _check_compare(w: _Where, values: dict) -> dict:
    """The ``[compare]`` options of rnnlens compare, checked by making its settings."""
    from rnnlens.compare.study import CompareSettings

    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    try:
        CompareSettings(**values)
    except (ArgumentError, TypeError) as e:
        w.fail("compare", str(e))
    return values


def load_spec(path, *, max_trials: int | None = None) -> SweepSpec:
    """Read and check a SPEC file (``.toml``, or ``.yaml``/``.yml``) and expand its trials (at most
    ``max_trials``: see :func:`parse_spec`)."""
    path = Path(path)
    if not path.is_file():
        raise ArgumentError(f"sweep spec {path}: no such file")
    text = path.read_bytes()
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            import tomllib  # type: ignore[import-not-found,unused-ignore]  # Python >= 3.11

            raw = tomllib.loads(text.decode("utf-8"))
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ArgumentError(
                    f"sweep spec {path}: reading YAML needs PyYAML (pip install 'rnnlens[sweep]' "
                    "or pyyaml); or write the SPEC in TOML"
                ) from None
            raw = yaml.safe_load(text.decode("utf-8"))
        else:
            raise ArgumentError(
                f"sweep spec {path}: unknown format {suffix or '(no extension)'!r}; name the file "
                "*.toml, *.yaml or *.yml"
            )
    except ArgumentError:
        raise
    except UnicodeDecodeError as exc:
        raise ArgumentError(f"sweep spec {path}: not UTF-8 text ({exc})") from None
    except Exception as exc:  # tomllib.TOMLDecodeError, yaml.YAMLError: both say line and column
        raise ArgumentError(f"sweep spec {path}: not valid {suffix[1:].upper()}: {exc}") from None
    return parse_spec(raw, path=path, max_trials=max_trials)


def _check_keys(w: _Where, where: str, d: Any, known) -> dict:
    if not isinstance(d, dict):
        w.fail(where, f"expected a table (mapping); got {type(d).__name__} {d!r}")
    for k in d:
        if k not in known:
            w.fail(f"{where}.{k}" if where else str(k), f"unknown key; known keys here: {', '.join(known)}")
    return d


def _int(w: _Where, key: str, v, lo: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        w.fail(key, f"must be an integer >= {lo}; got {v!r}")
    return v


def _check_integers(w: _Where, key: str, v) -> None:
    """Every integer of the SPEC within 64 bits (TOML's own range; a seed reaches torch and numpy as one):
    a larger one is named here, not met as an OverflowError inside a trial."""
    if isinstance(v, dict):
        for k, x in v.items():
            _check_integers(w, f"{key}.{k}" if key else str(k), x)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _check_integers(w, f"{key}[{i}]", x)
    elif isinstance(v, int) and not isinstance(v, bool) and not INT64[0] <= v <= INT64[1]:
        w.fail(key or "(top level)", f"{v} does not fit a 64-bit integer (from {INT64[0]} to {INT64[1]})")


def _check_cap(w: _Where, raw: dict, max_trials) -> int:
    """The cap on the number of trials: the caller's (--max-trials), else the SPEC's max_trials, else MAX_TRIALS."""
    for key, cap in (("max_trials", raw.get("max_trials", MAX_TRIALS)), ("--max-trials", max_trials)):
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= MAX_TRIALS_LIMIT):
            w.fail(key, f"must be an integer in [1, {MAX_TRIALS_LIMIT}]; got {cap!r}")
    return max_trials if max_trials is not None else raw.get("max_trials", MAX_TRIALS)


def _count_trials(w: _Where, cap: int, parts: list[tuple[int, str]]) -> None:
    """Refuse a SPEC whose trials (the product of ``parts``: (count, what)) exceed ``cap``, before any is made."""
    n = math.prod(k for k, _ in parts)
    if n > cap:
        fix = (
            f"shrink the sweep, or raise the cap with max_trials = {n} in the SPEC or rnnlens sweep --max-trials {n}"
            if n <= MAX_TRIALS_LIMIT
            else f"shrink the sweep: one SPEC makes at most {MAX_TRIALS_LIMIT} trials "
            "(max_trials, --max-trials); split it into several"
        )
        w.fail(
            "max_trials",
            f"the SPEC makes {n} trials ({' x '.join(f'{k} {what}' for k, what in parts)}), above "
            f"the cap of {cap} trials; {fix}",
        )


def _number(w: _Where, key: str, v, lo: float = 0.0) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
        w.fail(key, f"must be a number >= {lo:g}; got {v!r}")
    return v


def _list(w: _Where, key: str, v, *, allow_empty: bool = False) -> list:
    if not isinstance(v, list):
        w.fail(key, f"must be a list; got {type(v).__name__} {v!r}")
    if not v and not allow_empty:
        w.fail(key, "is an empty list: it would make no trials; give at least one value")
    return v


_FIELDS = {f.name: f for f in dataclasses.fields(TrainSettings)}
# as on the command line, 0 stands for None where a None-able setting has another default (TOML has no null)
_ZERO_IS_NONE = {o.name for o in cli_options() if o.zero_is_none}


def _none_for_zero(name: str, v):
    return None if name in _ZERO_IS_NONE and v == 0 and not isinstance(v, bool) else v


def _check_setting(w: _Where, key: str, name: str, v) -> None:
    """One TrainSettings value against the rule TrainSettings declares for it (rnnlens.settings)."""
    if name in RESERVED_SETTINGS:
        w.fail(key, f"give {name} with the top-level key {RESERVED_SETTINGS[name]!r}, not as a setting")
    f = _FIELDS.get(name)
    if f is None:
        w.fail(key, f"unknown training setting; known: {', '.join(n for n in _FIELDS if n not in RESERVED_SETTINGS)}")
    rule, none = f.metadata["rule"], f.metadata["none"]
    v = _none_for_zero(name, v)
    if v is None and none is not None:
        return
    if not rule.accepts(v):
        w.fail(
            key,
            f"training setting {name}={v!r} is invalid: {rule.describe()}" + (f", or None for {none}" if none else ""),
        )


def _check_distribution(w: _Where, key: str, name: str, d) -> dict:
    if not isinstance(d, dict) or len(d) != 1 or next(iter(d)) not in DISTRIBUTIONS:
        w.fail(
            key,
            f"must be one of {{uniform = [lo, hi]}}, {{log_uniform = [lo, hi]}}, {{int_uniform = [lo, hi]}} "
            f"or {{choice = [...]}}; got {d!r}",
        )
    kind, args = next(iter(d.items()))
    args = _list(w, f"{key}.{kind}", args)
    if kind == "choice":
        for i, v in enumerate(args):
            _check_setting(w, f"{key}.choice[{i}]", name, v)
        return {kind: args}
    if len(args) != 2:
        w.fail(f"{key}.{kind}", f"needs two bounds [lo, hi]; got {args!r}")
    lo, hi = args
    for b in (lo, hi):
        if kind == "int_uniform" and (isinstance(b, bool) or not isinstance(b, int)):
            w.fail(f"{key}.{kind}", f"bounds must be integers; got {args!r}")
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b):
            w.fail(f"{key}.{kind}", f"bounds must be finite numbers; got {args!r}")
    if lo > hi:
        w.fail(f"{key}.{kind}", f"lower bound {lo!r} is above the upper bound {hi!r}")
    if kind == "log_uniform" and lo <= 0:
        w.fail(f"{key}.{kind}", f"log_uniform bounds must be > 0; got {args!r}")
    for b in (lo, hi):  # a draw lies between the bounds: both ends must be valid settings
        _check_setting(w, f"{key}.{kind}", name, int(b) if kind == "int_uniform" else b)
    return {kind: [lo, hi]}


def _draw(rng, dist: dict):
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    lo, hi = args
    if kind == "uniform":
        return float(rng.uniform(lo, hi))
    if kind == "log_uniform":
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return int(rng.integers(lo, hi + 1))


def _check_dataset(w: _Where, i: int, d, base: Path | None = None) -> DatasetSpec:
    from rnnlens.data import load as data_load

    key = f"datasets[{i}]"
    _check_keys(w, key, d, DATASET_KEYS)
    name = d.get("name")
    if name is None:
        w.fail(f"{key}.name", "missing: name the corpus (see rnnlens.data.load_corpus)")
    if name not in data_load.CORPORA:
        w.fail(f"{key}.name", f"unknown corpus {name!r}; choose one of {', '.join(data_load.CORPORA)}")
    options = d.get("options", {})
    if not isinstance(options, dict):
        w.fail(f"{key}.options", f"expected a table of load_corpus options; got {options!r}")
    known = getattr(data_load, "_OPTIONS", {}).get(name)
    if known is not None:
        for k in options:
            if k not in known:
                w.fail(
                    f"{key}.options.{k}",
                    f"unknown option for corpus {name!r}; known: {', '.join(sorted(known)) or 'none'}",
                )
    label = d.get("label", name)
    if not isinstance(label, str) or not _LABEL.match(label):
        w.fail(f"{key}.label", f"must be a name of letters, digits and _ . + - (it names folders); got {label!r}")
    data_dir = d.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        w.fail(f"{key}.data_dir", f"must be a folder path (string); got {data_dir!r}")
    if data_dir is not None:  # relative to the SPEC file's folder; absolute, since workers have their own cwd
        data_dir = str(((base or Path.cwd()) / Path(data_dir).expanduser()).resolve())
    return DatasetSpec(
        name=name, label=label, seed=_int(w, f"{key}.seed", d.get("seed", 0)), data_dir=data_dir, options=dict(options)
    )


def analysis_settings(table: dict):
    """The :class:`rnnlens.AnalysisSettings` of a SPEC's ``[analysis]`` table (flat setting names, as the
    ``rnnlens analyze`` options; 0 stands for None where it does there, e.g. ``max_length = 0`` is no limit;
    a list of words that switches a section on or off takes ``true`` (its default list) or ``false``, as
    ``modifiers = false`` skips the modifier section)."""
    from rnnlens.analysis.settings import AnalysisSettings, command_line_options

    options = {o.name: o for o in command_line_options()}
    values = {}
    for k, v in table.items():
        o = options.get(k)
        if o is not None and o.zero_is_none and v == 0 and not isinstance(v, bool):
            v = None
        elif o is not None and o.parse == "words" and isinstance(v, bool):
            if v:
                continue
            v = None
        values[k] = v
    return AnalysisSettings.make(**values)


def _check_analysis(w: _Where, a) -> dict:
    """The ``[analysis]`` table, checked by the analysis settings' own rules (the same messages as
    ``rnnlens analyze`` and the Python API)."""
    if not isinstance(a, dict):
        w.fail("analysis", f"expected a table of analysis settings; got {a!r}")
    try:
        analysis_settings(a)
    except ArgumentError as exc:
        w.fail("analysis", str(exc))
    return dict(a)


def parse_spec(raw: dict, *, path=None, max_trials: int | None = None) -> SweepSpec:
    """Check a SPEC given as a mapping (what the TOML or YAML file holds) and expand its trials; ``max_trials``
    (default: the SPEC's ``max_trials``, else :data:`MAX_TRIALS`) caps their number, checked before any is made."""
    w = _Where(path)
    if raw is None:
        w.fail("(top level)", "the file is empty")
    _check_keys(w, "", raw, TOP_KEYS)
    _check_integers(w, "", raw)
    cap = _check_cap(w, raw, max_trials)
    name = raw.get("name", Path(path).stem if path is not None else "sweep")
    if not isinstance(name, str):
        w.fail("name", f"must be a string; got {name!r}")
    datasets = _check_datasets(w, raw, path)
    archs = _check_architectures(w, raw)
    seeds = _check_seeds(w, raw)
    stages = _check_stages(w, raw)
    bag = raw.get("bag_of_words", True)
    if not isinstance(bag, bool):
        w.fail("bag_of_words", f"must be true or false; got {bag!r}")
    settings = _check_settings(w, raw)
    grid = _check_grid(w, raw, settings)
    random = _check_random(w, raw, settings, grid)
    _count_trials(
        w,
        cap,
        [
            (len(datasets), "datasets"),
            (len(archs), "architectures"),
            (math.prod(len(v) for v in grid.values()), "grid points"),
            (random["draws"] if random else 1, "random draws"),
            (len(seeds), "seeds"),
        ],
    )

    analysis = _check_analysis(w, raw.get("analysis", {}))
    if "analyze" not in stages and analysis:
        w.fail("analysis", "analysis options are given but stages has no 'analyze'")

    res = _check_keys(w, "resources", raw.get("resources", {}), RESOURCE_KEYS)
    num_cpus = _number(w, "resources.num_cpus", res.get("num_cpus", 1))
    num_gpus = _number(w, "resources.num_gpus", res.get("num_gpus", 0))
    if num_cpus == 0 and num_gpus == 0:
        w.fail("resources", "a trial needs some resource: num_cpus > 0 or num_gpus > 0")
    cmp_ = _check_keys(w, "compare", raw.get("compare", {}), COMPARE_KEYS)
    min_count = _int(w, "compare.min_count", cmp_.get("min_count", 5), 1)
    compare = _check_compare(w, {k: v for k, v in cmp_.items() if k != "min_count"})

    spec = SweepSpec(
        path=Path(path) if path is not None else None,
        name=name,
        datasets=datasets,
        architectures=list(archs),
        seeds=list(seeds),
        stages=tuple(stages),
        bag_of_words=bag,
        settings=dict(settings),
        grid=dict(grid),
        random=random,
        analysis=analysis,
        num_cpus=num_cpus,
        num_gpus=num_gpus,
        min_count=min_count,
        raw=raw,
        max_trials=cap,
        compare=compare,
    )
    spec.trials = expand(spec, w)
    return spec


def _check_datasets(w: _Where, raw: dict, path) -> list[DatasetSpec]:
    """The SPEC's datasets (one table or a list of them), each checked, with distinct labels; relative data
    folders are taken from the SPEC file's folder."""
    if "datasets" not in raw:
        w.fail("datasets", 'missing: list at least one dataset ([[datasets]] name = "synthetic" ...)')
    dlist = raw["datasets"]
    if isinstance(dlist, dict):  # one dataset written as a table
        dlist = [dlist]
    base = Path(path).resolve().parent if path is not None else None
    datasets = [_check_dataset(w, i, d, base) for i, d in enumerate(_list(w, "datasets", dlist))]
    labels = [d.label for d in datasets]
    for lab in labels:
        if labels.count(lab) > 1:
            w.fail("datasets", f'two datasets are labelled {lab!r}; give each a distinct label = "..."')
    return datasets


def _check_architectures(w: _Where, raw: dict) -> list:
    """The SPEC's architectures: a non-empty list of known ones, none twice."""
    if "architectures" not in raw:
        w.fail("architectures", f"missing: list the architectures to train ({', '.join(ARCHS)})")
    archs = _list(w, "architectures", raw["architectures"])
    for i, a in enumerate(archs):
        if a not in ARCHS:
            w.fail(f"architectures[{i}]", f"unknown architecture {a!r}; choose from {', '.join(ARCHS)}")
    if len(set(archs)) != len(archs):
        w.fail("architectures", f"lists an architecture twice: {archs}")
    return archs


def _check_seeds(w: _Where, raw: dict) -> list | range:
    """The SPEC's training seeds (default [0]; an integer n means 0..n-1): integers >= 0, none twice."""
    seeds = raw.get("seeds", [0])
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            w.fail("seeds", f"an integer n means seeds 0..n-1 and must be >= 1; got {seeds}")
        return range(seeds)  # not a list: the cap on trials is checked before any seed is made
    seeds = _list(w, "seeds", seeds)
    for i, s in enumerate(seeds):
        _int(w, f"seeds[{i}]", s)
    if len(set(seeds)) != len(seeds):
        w.fail("seeds", f"lists a seed twice: {seeds}")
    return seeds


def _check_stages(w: _Where, raw: dict) -> list:
    """The SPEC's stages (default all): known ones, starting with train, in the order of :data:`STAGES`."""
    stages = _list(w, "stages", raw.get("stages", list(STAGES)))
    for i, s in enumerate(stages):
        if s not in STAGES:
            w.fail(f"stages[{i}]", f"unknown stage {s!r}; stages are {', '.join(STAGES)} (in that order)")
    if (
        stages[0] != "train"
        or len(set(stages)) != len(stages)
        or [STAGES.index(s) for s in stages] != sorted(STAGES.index(s) for s in stages)
    ):
        w.fail("stages", f"must start with train and keep the order train, evaluate, analyze; got {stages}")
    return stages


def _check_settings(w: _Where, raw: dict) -> dict:
    """The SPEC's fixed training settings (``[settings]``), each checked."""
    settings = raw.get("settings", {})
    if not isinstance(settings, dict):
        w.fail("settings", f"expected a table of training settings; got {settings!r}")
    for k, v in settings.items():
        _check_setting(w, f"settings.{k}", k, v)
    return settings


def _check_grid(w: _Where, raw: dict, settings: dict) -> dict:
    """The SPEC's grid (``[grid]``): known training settings not fixed under ``[settings]``, each with a
    non-empty list of checked values."""
    grid = raw.get("grid", {})
    if not isinstance(grid, dict):
        w.fail("grid", f"expected a table: setting = [values]; got {grid!r}")
    for k, values in grid.items():
        if k in RESERVED_SETTINGS or k not in _FIELDS:
            _check_setting(w, f"grid.{k}", k, None)
        if k in settings:
            w.fail(f"grid.{k}", "is also under [settings]; give it in one place")
        for i, v in enumerate(_list(w, f"grid.{k}", values)):
            _check_setting(w, f"grid.{k}[{i}]", k, v)
    return grid


def _check_random(w: _Where, raw: dict, settings: dict, grid: dict) -> dict | None:
    """The SPEC's random draws (``[random]``) as ``{"draws": n, "seed": s, "settings": {key: {dist: args}}}``,
    or None without them; each setting known, in no other place, with a checked distribution."""
    random = raw.get("random")
    if random is None:
        return None
    _check_keys(w, "random", random, ("draws", "seed", "settings"))
    if "draws" not in random:
        w.fail("random.draws", "missing: how many random settings to draw")
    rs = random.get("settings")
    if not isinstance(rs, dict) or not rs:
        w.fail("random.settings", "missing or empty: give at least one setting = {distribution = [...]}")
    dists = {}
    for k, d in rs.items():
        if k in settings or k in grid:
            w.fail(f"random.settings.{k}", "is also under [settings] or [grid]; give it in one place")
        if k in RESERVED_SETTINGS or k not in _FIELDS:
            _check_setting(w, f"random.settings.{k}", k, None)
        dists[k] = _check_distribution(w, f"random.settings.{k}", k, d)
    return {
        "draws": _int(w, "random.draws", random["draws"], 1),
        "seed": _int(w, "random.seed", random.get("seed", 0)),
        "settings": dists,
    }


def _draws(spec: SweepSpec) -> list[dict | None]:
    if spec.random is None:
        return [None]
    import numpy as np

    rng = np.random.default_rng(spec.random["seed"])
    return [{k: _draw(rng, d) for k, d in spec.random["settings"].items()} for _ in range(spec.random["draws"])]


def expand(spec: SweepSpec, w: _Where | None = None) -> list[Trial]:
    """Every trial of the SPEC, each checked as a whole (``TrainSettings``: cross-field rules, the device)."""
    w = w or _Where(spec.path)
    keys = list(spec.grid)
    points = [dict(zip(keys, combo)) for combo in itertools.product(*(spec.grid[k] for k in keys))]
    draws = _draws(spec)
    trials, seen = [], {}
    for ds in spec.datasets:
        for arch in spec.architectures:
            for point in points:
                for j, draw in enumerate(draws):
                    for seed in spec.seeds:
                        varied = {**point, **(draw or {})}
                        s = {k: _none_for_zero(k, v) for k, v in {**spec.settings, **varied}.items()}
                        s.update(arch=arch, seed=seed)
                        if "num_threads" not in s and spec.num_cpus >= 1:
                            s["num_threads"] = int(spec.num_cpus)
                        if "device" not in s and spec.num_gpus > 0:
                            s["device"] = "cuda"
                        try:
                            TrainSettings.from_dict(s)
                        except ArgumentError as exc:
                            where = ", ".join(f"{k}={v!r}" for k, v in varied.items())
                            w.fail(
                                _source(spec, str(exc)),
                                f"{exc} (trial {ds.label}, {arch}, seed {seed}{', ' + where if where else ''})",
                            )
                        train_key = {
                            "dataset": {k: v for k, v in dataclasses.asdict(ds).items() if k != "data_dir"},
                            "settings": s,
                        }
                        tid = f"{ds.label}-{arch}-s{seed}-{_hash(train_key)[:8]}"
                        if tid in seen:
                            w.fail("grid", f"two trials train the same network ({tid}); a value is listed twice?")
                        seen[tid] = True
                        analysis = dict(spec.analysis) if "analyze" in spec.stages else {}
                        trials.append(
                            Trial(
                                id=tid,
                                dataset=ds,
                                arch=arch,
                                seed=seed,
                                settings=s,
                                varied=varied,
                                draw=None if draw is None else j,
                                stages=spec.stages,
                                analysis=analysis,
                                bag_of_words=spec.bag_of_words,
                                num_cpus=spec.num_cpus,
                                num_gpus=spec.num_gpus,
                            )
                        )
    return trials


def _source(spec: SweepSpec, message: str) -> str:
    """The SPEC key behind a TrainSettings error message ('training setting NAME=...')."""
    m = re.search(r"training setting (\w+)=", message)
    name = m.group(1) if m else None
    if name in spec.grid:
        return f"grid.{name}"
    if spec.random and name in spec.random["settings"]:
        return f"random.settings.{name}"
    if name in spec.settings:
        return f"settings.{name}"
    if name == "arch":
        return "architectures"
    return f"settings.{name}" if name else "settings"
