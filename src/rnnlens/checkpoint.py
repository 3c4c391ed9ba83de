"""Checkpoints: a folder with ``model.safetensors`` (weights) and ``config.json`` (everything else).

``config.json`` holds the format version, the model config (what ``SentimentRNN(**config)`` needs),
the vocabulary (``Vocab.to_dict()``) and a free-form *record*: training settings, dataset name and
data fingerprint, metrics, code version, the command line that made it and a timestamp.

Writing is atomic: the folder is built under a temporary sibling name and then swapped in with one
rename, so a reader sees either the previous checkpoint or the new one, never a half-written one.
Files of the user's in the folder (notes, ``.git``, an ``analysis/``) are never deleted: then only the
checkpoint's own files are replaced, each in one rename, and both carry the run id of the save
(``config.json`` ``run_id``, the weights' safetensors metadata) so a mix of two saves is refused.
Loading reads safetensors and JSON only; nothing is ever unpickled.
"""

from __future__ import annotations

import datetime as _dt
import errno
import json
import os
import shlex
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from rnnlens._atomic import file_mode, is_disk_full, output_folder
from rnnlens._types import PathLike
from rnnlens._version import code_version
from rnnlens.errors import ArgumentError, CheckpointError

FORMAT = "rnnlens-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
RESUME_DIR = "resume"
_FILE_OPTIONS = ("path", "train", "validation", "test")
REBUILD = "train again (rnnlens train ... --out DIR) or restore the folder from a copy"

__all__ = [
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "is_checkpoint",
    "load_training_corpus",
    "save_tensors",
    "load_tensors",
    "FORMAT_VERSION",
]


@dataclass
class Checkpoint:
    """A trained model with its vocabulary and the record of how it was made."""

    model: torch.nn.Module
    vocab: Any  # rnnlens.data.Vocab
    record: dict
    path: Path | None = None


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], metadata: dict | None = None) -> None:
    """Save a flat dict of tensors with safetensors (copies to contiguous CPU tensors first). A full disk
    raises OSError(ENOSPC) naming the file (safetensors' own error carries the reason in its text only)."""
    try:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    except SafetensorError as exc:
        if is_disk_full(exc):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    os.chmod(path, file_mode())  # safetensors creates the file private (0600); see rnnlens._atomic


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a safetensors file; a missing or corrupt file raises CheckpointError."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: file missing. The folder is not a complete rnnlens "
            "checkpoint; train again (rnnlens train ... --out DIR) or point to "
            "another checkpoint."
        )
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable safetensors file ({exc}). The file is corrupt or truncated; {REBUILD}."
        ) from exc


def _run_id_of(path: Path) -> str | None:
    """The run id in a safetensors file's metadata (None for files written before run ids)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return (f.metadata() or {}).get("rnnlens_run_id")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc}); {REBUILD}.") from exc


def read_json(path: Path, what: str = "file") -> dict:
    """Read a JSON object; missing or malformed -> CheckpointError naming the file."""
    if not path.is_file():
        raise CheckpointError(
            f"{path}: {what} missing. The folder is not a complete rnnlens "
            "checkpoint; train again (rnnlens train ... --out DIR) or point to "
            "another checkpoint."
        )
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: not valid JSON ({exc}); the file is corrupt: {REBUILD}.") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a JSON object, found {type(obj).__name__}.")
    return obj


# --------------------------------------------------------------------------------------------
# checkpoints


def is_checkpoint(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder holding both checkpoint files."""
    path = Path(path)
    return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()


def _vocab_misfit(n_tokens: int, vocab_size: int) -> str:
    return (
        f"the vocabulary has {n_tokens} tokens but the model's embedding has vocab_size={vocab_size} rows: "
        f"tokens {vocab_size}..{n_tokens - 1} would index past it"
    )


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, vocab: Any, record: dict | None = None) -> Path:
    """Write a checkpoint folder at ``path`` atomically and return its path.

    ``model`` must have ``config()`` (a dict ``SentimentRNN(**config)`` accepts, or ``SequenceRNN(**config)``
    for a model fed input vectors); ``vocab`` must have ``to_dict()`` (None for a model without words).
    ``record`` (JSON-serializable) is stored as is; ``code_version``, ``command`` (this process's command
    line) and ``timestamp`` are added when absent.
    A vocabulary with more tokens than the model's ``vocab_size`` is refused (ArgumentError), as
    :func:`load_checkpoint` refuses it (CheckpointError). An existing checkpoint at ``path`` is replaced,
    with the ``resume/`` state a finished run leaves; other entries of the folder are kept, and an entry of
    the user's named like a checkpoint file is refused (see :func:`rnnlens._atomic.output_folder`). A ``path``
    that is a symbolic link is written inside the folder it points to.

    Args:
        path: the checkpoint folder (made when missing).
        model: the trained model; its ``state_dict()`` goes to ``model.safetensors``, its ``config()`` to
            ``config.json``.
        vocab: its vocabulary (stored in ``config.json`` by ``to_dict()``); None: none (a :class:`SequenceRNN`).
        record: how the model was made; None: an empty record (then only the three entries above).

    Returns:
        ``path``, as a :class:`~pathlib.Path`.

    Raises:
        ArgumentError: a vocabulary larger than the model's ``vocab_size``, or a ``path`` that cannot be
            written or holds an entry of the user's named like a checkpoint file.
        TypeError: a ``record`` or config that is not JSON-serializable (before anything is written).
        OSError: the disk filled up while writing (ENOSPC, naming the file); the previous checkpoint is kept.
    """
    size = getattr(model, "vocab_size", None)
    if isinstance(size, int) and hasattr(vocab, "__len__") and len(vocab) > size:
        raise ArgumentError(
            f"save_checkpoint: {_vocab_misfit(len(vocab), size)}; build the model with vocab_size=len(vocab)."
        )
    record = dict(record or {})
    record.setdefault("code_version", code_version())
    record.setdefault("command", shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "")
    record.setdefault("timestamp", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "model": model.config(),
        "vocab": None if vocab is None else vocab.to_dict(),
        "record": record,
        "run_id": uuid.uuid4().hex,
    }
    text = json.dumps(config, indent=1)  # fail before touching the disk if not serializable
    with output_folder(path, "train", last=CONFIG_FILE, flag="--out") as tmp:
        save_tensors(tmp / WEIGHTS_FILE, model.state_dict(), metadata={"rnnlens_run_id": config["run_id"]})
        with open(tmp / CONFIG_FILE, "w", encoding="utf-8") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def load_checkpoint(path: str | os.PathLike, *, map_location: str = "cpu") -> Checkpoint:
    """Load a checkpoint folder written by :func:`save_checkpoint` (safetensors + JSON only).

    Raises CheckpointError naming the file and what to do when the folder or a file is missing,
    the format version differs, the vocabulary holds more tokens than the model's embedding has rows,
    or the weights do not match the model config.

    Args:
        path: the checkpoint folder (the ``--out`` folder of ``rnnlens train``).
        map_location: the torch device the model is moved to.

    Returns:
        The :class:`Checkpoint`: the model in eval mode, its vocabulary, its record and the folder.

    Raises:
        CheckpointError: as above, and for a damaged file, files of two different runs, or weights holding
            NaN or inf.
    """
    path = Path(path)
    if not path.is_dir():
        hint = " (a checkpoint is a folder, not a file)" if path.is_file() else ""
        raise CheckpointError(
            f"{path}: no checkpoint folder here{hint}. Pass the --out folder of `rnnlens train`, or train one first."
        )
    config_path = path / CONFIG_FILE
    config = read_json(config_path, CONFIG_FILE)
    if config.get("format") != FORMAT:
        raise CheckpointError(
            f"{config_path}: not an rnnlens checkpoint config (format {config.get('format')!r}, expected {FORMAT!r})."
        )
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{config_path}: checkpoint format version {version!r}, but this rnnlens "
            f"({code_version()}) reads version {FORMAT_VERSION}. Retrain with this version "
            "(rnnlens train ...) or use the rnnlens version recorded in the file."
        )
    model, vocab = _model_and_vocab(config, config_path)
    if vocab is not None and len(vocab) > model.vocab_size:
        raise CheckpointError(
            f"{config_path}: {_vocab_misfit(len(vocab), model.vocab_size)}; the file was edited or "
            f"its parts come from different runs. {REBUILD[0].upper() + REBUILD[1:]}."
        )
    weights_path = path / WEIGHTS_FILE
    state = load_tensors(weights_path)
    run_id = _run_id_of(weights_path)
    if config.get("run_id") != run_id and (run_id or config.get("run_id")):
        raise CheckpointError(
            f"{path}: {CONFIG_FILE} and {WEIGHTS_FILE} come from different runs (run ids "
            f"{config.get('run_id')} and {run_id}); a save was interrupted or files were "
            f"copied in. {REBUILD[0].upper() + REBUILD[1:]}."
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise CheckpointError(
            f"{weights_path}: the weights do not match the model config in {config_path} "
            f"({'; '.join(s.strip() for s in first[:3])}). The two files come from different "
            "runs; train again or restore both files from the same checkpoint."
        ) from exc
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise CheckpointError(
            f"{weights_path}: parameters {', '.join(bad)} hold NaN or inf; such a model gives "
            "meaningless outputs (training probably diverged). Train again with a lower "
            "learning rate or gradient clipping."
        )
    model.to(map_location)
    model.eval()
    return Checkpoint(model=model, vocab=vocab, record=config["record"], path=path)


def _model_and_vocab(config: dict, config_path: Path) -> tuple[torch.nn.Module, Any]:
    """The untrained model and the vocabulary of a checkpoint's config: a ``SentimentRNN`` with its ``Vocab``,
    or (``model_class`` ``"SequenceRNN"``, a model fed input vectors) a ``SequenceRNN`` and None."""
    from rnnlens.data import Vocab
    from rnnlens.model import SentimentRNN, SequenceRNN

    sequences = config.get("model_class") == "SequenceRNN"
    for key in ("model", "record") if sequences else ("model", "vocab", "record"):
        if not isinstance(config.get(key), dict):
            raise CheckpointError(
                f"{config_path}: the '{key}' entry is missing or not an object; "
                "the file was edited or is damaged. Train again."
            )
    vocab = None
    if not sequences:
        try:
            vocab = Vocab.from_dict(config["vocab"])
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{config_path}: the vocabulary entry is malformed ({exc}).") from exc
    try:
        model = (SequenceRNN if sequences else SentimentRNN)(**config["model"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{config_path}: the model config {config['model']} is not valid "
            f"for this rnnlens ({exc}). Retrain with this version."
        ) from exc
    return model, vocab


def load_training_corpus(
    source: Checkpoint | PathLike | dict,
    *,
    data_dir: PathLike | None = None,
    dataset: str | None = None,
    seed: int | None = None,
    **options: Any,
) -> Any:
    """Load the corpus a checkpoint was trained on, as it was then: the dataset name, the
    ``load_corpus`` options, the data seed and the validation fraction are read from its record.

    ``source``: a :class:`Checkpoint`, a checkpoint folder, or a record dict (``Checkpoint.record``).
    ``options`` and ``seed`` override the recorded ones (e.g. ``download=False``); ``dataset`` names
    another corpus, which is then loaded with only the options given here (the recorded ones belong to
    the training corpus). ``data_dir`` is where to look (else ``$RNNLENS_DATA_DIR``, then the cache).
    An option ``path`` or ``train`` (another training file of a CSV/JSONL corpus) drops the recorded files
    (``path``, ``train``, ``validation``, ``test``): they went with the recorded training file.
    Compare ``corpus.fingerprint()`` with ``record["data_fingerprint"]`` to know whether the data is
    still the same.

    Args:
        source: a :class:`Checkpoint`, a checkpoint folder (its ``config.json`` is read), or a record dict.
        data_dir: the folder searched first for the corpus's files; None: the environment and the cache.
        dataset: load this corpus instead of the recorded one; None (or the recorded name): the recorded one.
        seed: the data seed; None: the recorded one (0 when none is recorded, or with another ``dataset``).
        **options: :func:`rnnlens.data.load_corpus` options, over the recorded ones.

    Returns:
        The :class:`~rnnlens.data.Corpus`, as :func:`rnnlens.data.load_corpus` returns it.

    Raises:
        ArgumentError: a record that names no dataset (and no ``dataset`` given), or a bad option.
        CheckpointError: a checkpoint folder whose ``config.json`` is missing or damaged.
        DataError: the corpus's files missing, unreadable or malformed.
    """
    from rnnlens.data import load_corpus

    where: Path | str
    if isinstance(source, Checkpoint):
        record, where = source.record, source.path
    elif isinstance(source, dict):
        record, where = source, "the record"
    else:
        where = Path(source)
        record = read_json(where / CONFIG_FILE, CONFIG_FILE).get("record") or {}
    trained_on = record.get("dataset")
    if dataset is not None and dataset != trained_on:
        return load_corpus(dataset, data_dir=data_dir, seed=0 if seed is None else seed, **options)
    if not trained_on:
        raise ArgumentError(f"{where}: the checkpoint does not record its dataset; pass --dataset NAME.")
    info = record.get("data_info") or {}
    carved = info.get("validation") if isinstance(info.get("validation"), dict) else {}
    kwargs = {"validation_fraction": carved["fraction"]} if "fraction" in carved else {}
    recorded = info.get("options") if isinstance(info.get("options"), dict) else {}
    if {"path", "train"} & set(options):  # another training file: the recorded files belong to the old one
        recorded = {k: v for k, v in recorded.items() if k not in _FILE_OPTIONS}
    return load_corpus(
        trained_on,
        data_dir=data_dir,
        seed=info.get("seed", 0) if seed is None else seed,
        **{**kwargs, **recorded, **options},
    )
