"""Training settings and their constraints, declared once as data (no torch import: the CLI's
``--help`` is built from these fields).

Every field of :class:`TrainSettings` carries, in its ``metadata``, a help text and a constraint
(:class:`Int`, :class:`Real` or :class:`OneOf`, optionally with ``none=`` saying what ``None``
means). :meth:`TrainSettings.validate` checks them all in one place; the ``rnnlens train`` and
``rnnlens reproduce`` options are generated from the same fields (:func:`cli_options`), so each
default and each rule is written once.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rnnlens.constants import ARCHS, EMBEDDING_INITS, INITIAL_STATES, INITS
from rnnlens.device import check_device_name, describe_device_rule
from rnnlens.errors import ArgumentError

__all__ = [
    "TrainSettings",
    "Int",
    "Real",
    "OneOf",
    "Reals",
    "Table",
    "Words",
    "DeviceName",
    "SettingsGroup",
    "SettingOption",
    "cli_options",
    "parse_key_values",
]

FAST_PATHS = ("auto", "fused", "scan")
# Documents are cut to this many tokens unless asked otherwise (training and analysis), counted and
# reported: padding is per batch, so one 10-million-token row would set the memory of its whole batch.
DEFAULT_MAX_LENGTH = 10_000


@dataclass(frozen=True)
class Int:
    """An integer (bools refused) ``>= min``."""

    min: int = 1
    type = int

    def accepts(self, v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= self.min

    def describe(self) -> str:
        return "use a positive integer" if self.min == 1 else f"use an integer >= {self.min}"


@dataclass(frozen=True)
class Real:
    """A finite number in the interval given by ``gt``/``ge`` (lower) and ``le`` (upper) bounds."""

    gt: float | None = None
    ge: float | None = None
    le: float | None = None
    type = float

    def accepts(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        return (
            (self.gt is None or v > self.gt) and (self.ge is None or v >= self.ge) and (self.le is None or v <= self.le)
        )

    def describe(self) -> str:
        if self.le is not None:
            low = f"({self.gt:g}" if self.gt is not None else f"[{self.ge:g}"
            return f"use a number in {low}, {self.le:g}]"
        return f"use a number > {self.gt:g}" if self.gt is not None else f"use a number >= {self.ge:g}"


@dataclass(frozen=True)
class OneOf:
    """One of a fixed set of strings."""

    choices: tuple[str, ...]
    type = str

    def accepts(self, v) -> bool:
        return v in self.choices

    def describe(self) -> str:
        return f"choose one of {', '.join(self.choices)}"


@dataclass(frozen=True)
class Text:
    """Any string (checked further by :meth:`TrainSettings.validate`)."""

    type = str

    def accepts(self, v) -> bool:
        return isinstance(v, str)

    def describe(self) -> str:
        return "use a string"


@dataclass(frozen=True)
class Reals:
    """A list (or tuple) of finite numbers ``> 0``, possibly empty; kept as a tuple."""

    type = str
    parse = "reals"

    def accepts(self, v) -> bool:
        return isinstance(v, (list, tuple)) and all(Real(gt=0).accepts(x) for x in v)

    def describe(self) -> str:
        return "use a list of finite numbers > 0 (may be empty)"


@dataclass(frozen=True)
class Table:
    """A mapping of option names (strings) to values (checked further by whoever reads it)."""

    type = str
    parse = "table"

    def accepts(self, v) -> bool:
        return isinstance(v, dict) and all(isinstance(k, str) for k in v)

    def describe(self) -> str:
        return "use a table of NAME = VALUE options"


@dataclass(frozen=True)
class Words:
    """A non-empty list of distinct non-empty strings (tokens); on a command line, comma-separated."""

    type = str
    parse = "words"

    def accepts(self, v) -> bool:
        return (
            isinstance(v, (list, tuple))
            and len(v) > 0
            and all(isinstance(x, str) and x.strip() == x and x for x in v)
            and len(set(v)) == len(v)
        )

    def describe(self) -> str:
        return "use a non-empty list of distinct words without spaces around them"


@dataclass(frozen=True)
class DeviceName:
    """A torch device an analysis computes on: ``cpu``, ``cuda`` or ``cuda:N`` (:mod:`rnnlens.device`; checked
    without torch, and whether this machine has it only when the analysis starts, so that an analysis run
    on a GPU can be read anywhere)."""

    type = str

    def accepts(self, v) -> bool:
        return check_device_name(v)

    def describe(self) -> str:
        return describe_device_rule()


def setting(default, help: str, rule, *, none: str | None = None, flags: tuple[str, ...] = ()):
    """A TrainSettings field: ``rule`` constrains its value; ``none`` (when given) says what None means and
    lets the field be None (on the command line 0 stands for None when the default is not None);
    ``flags`` are extra spellings of its command-line option, kept for older commands."""
    metadata = {"help": help, "rule": rule, "none": none, "flags": flags}
    if isinstance(default, dict):  # a mutable default: each settings object gets its own copy
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def default_of(f: dataclasses.Field):
    """The default value of a settings field (also when it is made by a factory)."""
    return f.default_factory() if f.default is dataclasses.MISSING else f.default  # type: ignore[operator]


@dataclass
class TrainSettings:
    """Everything that defines a training run (stored in the checkpoint's record).

    Invalid values raise :class:`rnnlens.errors.ArgumentError` naming the setting and what it accepts,
    when the settings are made and again when training starts.

    Raises:
        ArgumentError: a value its setting does not accept, ``fast_path="fused"`` with the UGRNN, or a
            ``device`` torch does not know.
    """

    arch: str = setting("gru", "Cell architecture.", OneOf(ARCHS))
    embed_dim: int = setting(64, "Embedding size.", Int(), flags=("--embed",))
    hidden_size: int = setting(128, "Units N (the hidden state size).", Int(), flags=("--hidden",))
    epochs: int = setting(5, "Maximum number of epochs.", Int())
    batch_size: int = setting(64, "Documents per training batch.", Int())
    lr: float = setting(1e-3, "Initial AdamW learning rate.", Real(gt=0))
    lr_decay: float = setting(
        0.9,
        "Learning-rate factor applied after every epoch, or per --lr-decay-steps optimizer "
        "steps when that is set (1: constant).",
        Real(gt=0, le=1),
    )
    lr_decay_steps: int | None = setting(
        None,
        "Decay the learning rate at every optimizer step instead: lr x lr_decay^(step / lr_decay_steps).",
        Int(),
        none="once per epoch",
    )
    weight_decay: float = setting(0.0, "AdamW decoupled weight decay.", Real(ge=0))
    l2_penalty: float = setting(
        0.0,
        "L2 penalty added to the loss: l2_penalty x the sum of every trained parameter "
        "squared (embedding and biases included); unlike weight_decay it passes through "
        "Adam's scaling.",
        Real(ge=0),
    )
    adam_eps: float = setting(
        1e-8,
        "Adam's epsilon (added to the root of the second moment; a large one, e.g. 0.1, "
        "damps the steps of rarely seen words).",
        Real(gt=0),
    )
    recurrent_init: str = setting(
        "default",
        "Recurrent weights at the start, one N x N block per gate: default "
        "(torch's uniform +-1/sqrt(N)), normal (N(0, gain^2/N): spectral radius about "
        "the gain), orthogonal (gain x a random orthogonal matrix).",
        OneOf(INITS),
    )
    recurrent_gain: float = setting(1.0, "The gain g of --recurrent-init normal or orthogonal.", Real(gt=0))
    input_init: str = setting(
        "default",
        "Input weights at the start, one block per gate: default (torch's), normal "
        "(N(0, gain^2/I), I the embedding size), orthogonal (gain x semi-orthogonal).",
        OneOf(INITS),
    )
    input_gain: float = setting(1.0, "The gain of --input-init normal or orthogonal.", Real(gt=0))
    embedding_init: str = setting(
        "default",
        "The embedding at the start: default (torch's N(0, 1) per entry) or "
        "orthogonal (orthonormal columns: entries about 1/sqrt(vocabulary), so an "
        "--l2-penalty barely touches it).",
        OneOf(EMBEDDING_INITS),
    )
    initial_state: str = setting(
        "zero",
        "Where every document's state starts: zero, or learned (a trained initial state).",
        OneOf(INITIAL_STATES),
    )
    clip_norm: float | None = setting(5.0, "Maximum global gradient norm.", Real(gt=0), none="no clipping")
    patience: int | None = setting(
        2, "Early stop after this many epochs without better validation accuracy.", Int(), none="never stop early"
    )
    seed: int = setting(0, "Initialisation and batch-order seed.", Int(0))
    vocab_size: int | None = setting(
        20000, "Most frequent training words kept (with <pad> and <unk>).", Int(3), none="all words"
    )
    min_count: int = setting(1, "Words seen fewer times in the train split map to <unk>.", Int())
    max_length: int | None = setting(
        DEFAULT_MAX_LENGTH,
        "Cut documents to this many tokens (counted and "
        "reported); the default is far above IMDB's longest review (~2,800).",
        Int(),
        none="no limit",
    )
    drop_longer: int | None = setting(
        None,
        "Drop (not cut) the training and validation documents with more tokens "
        "than this; the test split is scored both whole and without its long "
        "documents. Dropped documents are counted and reported.",
        Int(),
        none="keep every document",
    )
    checkpoint_every: int = setting(200, "Batches between resume states (0: only at epoch ends).", Int(0))
    num_threads: int | None = setting(None, "torch CPU threads.", Int(), none="torch's setting", flags=("--threads",))
    device: str = setting("cpu", "torch device (cpu runs are bitwise reproducible).", Text())
    fast_path: str = setting(
        "auto",
        "Cell implementation for training (auto: scan on CPU, fused kernel on GPU; the UGRNN has only the scan).",
        OneOf(FAST_PATHS),
    )
    eval_batch_size: int = setting(256, "Documents per evaluation batch.", Int())

    def __post_init__(self):
        self.validate()

    def validate(self) -> TrainSettings:
        """Raise ArgumentError naming the first invalid setting and the accepted values."""
        for f in dataclasses.fields(self):
            v, rule, none = getattr(self, f.name), f.metadata["rule"], f.metadata["none"]
            if v is None and none is not None:
                continue
            if not rule.accepts(v):
                _bad(f.name, v, rule.describe() + (f", or None for {none}" if none else ""))
        if self.fast_path == "fused" and self.arch == "ugrnn":
            _bad("fast_path", self.fast_path, "the UGRNN has only the scan; use auto or scan")
        import torch  # only here: importing this module stays torch-free

        try:
            torch.device(self.device)
        except RuntimeError:
            _bad("device", self.device, "use a torch device name such as cpu or cuda")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainSettings:
        """The settings :meth:`to_dict` wrote (a checkpoint's ``record["settings"]``).

        Args:
            d: field name -> value; fields not given keep their defaults.

        Returns:
            The checked :class:`TrainSettings`.

        Raises:
            ArgumentError: a field this rnnlens does not know, or an invalid value.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ArgumentError(f"unknown training settings {unknown}; known: {sorted(names)}.")
        return cls(**d)


def _bad(name: str, value: Any, want: str, kind: str = "training"):
    raise ArgumentError(f"{kind} setting {name}={value!r} is invalid: {want}.")


def _frozen(v):
    """Lists become tuples (settings objects are frozen and hashable), dicts stay dicts."""
    return tuple(v) if isinstance(v, list) else v


@dataclass(frozen=True)
class SettingsGroup:
    """Base of a small frozen group of settings declared with :func:`setting` (e.g. one analysis
    section's options). Every field is checked against its rule when the group is made; the error
    names the setting, the value and what it accepts (``<kind> setting NAME=VALUE is invalid: ...``).
    Subclasses set ``name`` (the group's key) and ``kind`` (the word in error messages)."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "analysis"

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = _frozen(getattr(self, f.name))
            object.__setattr__(self, f.name, v)
            rule, none = f.metadata["rule"], f.metadata["none"]
            if v is None and none is not None:
                continue
            if not rule.accepts(v):
                _bad(f.name, v, rule.describe() + (f", or None for {none}" if none else ""), self.kind)

    def to_dict(self) -> dict:
        """Field name -> value (tuples as lists, as JSON holds them)."""
        return {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in dataclasses.fields(self)
        }


@dataclass(frozen=True)
class SettingOption:
    """How one TrainSettings field appears on a command line."""

    name: str  # the field name (and the click parameter name)
    flags: tuple[str, ...]  # "--hidden-size" first, then older spellings
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] | None
    zero_is_none: bool  # the command line's 0 stands for None (Optional fields with a default)
    parse: str | None = None  # "words", "reals": one comma-separated value; "table": repeated KEY=VALUE

    def to_setting(self, value):
        """The command-line value as the settings value (a comma-separated list split, ``KEY=VALUE`` pairs
        read as a table with values read as JSON where they parse)."""
        if self.parse == "words":
            return [w.strip() for w in value.split(",") if w.strip()]
        if self.parse == "reals":
            return [_real(self.name, x) for x in value.split(",") if x.strip()]
        if self.parse == "table":
            return _table(self.name, value)
        return None if self.zero_is_none and value == 0 else value


def _real(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ArgumentError(
            f"--{name.replace('_', '-')}: {text.strip()!r} is not a number; write numbers "
            "separated by commas (e.g. 1e-7,1e-6)."
        ) from None


def _table(name: str, pairs) -> dict:
    return parse_key_values(pairs, "--" + name.replace("_", "-"))


def parse_key_values(pairs, flag: str = "--option") -> dict:
    """``KEY=VALUE`` pairs to a dict (values read as JSON when they parse); ``flag`` names the option in errors."""
    import json

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ArgumentError(f"{flag} {pair!r}: write KEY=VALUE (e.g. {flag} n_train=2000).")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cli_options(exclude: tuple[str, ...] = (), fields=None) -> list[SettingOption]:
    """One :class:`SettingOption` per TrainSettings field (or per field of ``fields``, e.g. an analysis
    settings group's), in field order, minus ``exclude``."""
    out = []
    for f in dataclasses.fields(TrainSettings) if fields is None else fields:
        if f.name in exclude:
            continue
        rule, none = f.metadata["rule"], f.metadata["none"]
        default = default_of(f)
        zero_is_none = none is not None and default is not None and not getattr(rule, "parse", None)
        help_text = f.metadata["help"]
        if none is not None and not getattr(rule, "parse", None):
            help_text = help_text.rstrip(".") + (f" (0: {none})." if zero_is_none else f" (default: {none}).")
        out.append(
            SettingOption(
                name=f.name,
                flags=("--" + f.name.replace("_", "-"), *f.metadata["flags"]),
                type=rule.type,
                default=default,
                help=help_text,
                choices=getattr(rule, "choices", None),
                zero_is_none=zero_is_none,
                parse=getattr(rule, "parse", None),
            )
        )
    return out
