"""Whole jobs built from the stages: ``demo`` (shipped IMDB networks -> report) and ``reproduce``
(train the four architectures and the baseline on a corpus, analyze each, report with the paper's
table beside ours). Both resume: every step whose output exists (and matches) is skipped.
"""

from __future__ import annotations

import hashlib
import html
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rnnlens._atomic import write_json_atomic
from rnnlens.constants import ARCH_TITLES, ARCHS, PAPER_ARCHS
from rnnlens.errors import ArgumentError, CheckpointError, DataError

PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"

# The test accuracies (%) Maheswaranathan et al. 2019 report per dataset and architecture ("Reverse engineering
# recurrent networks for sentiment classification reveals line attractor dynamics", NeurIPS 2019).
PAPER_ACCURACY = {
    "yelp-binary": {"baseline": 93.37, "vanilla": 92.96, "ugrnn": 95.67, "gru": 95.84, "lstm": 95.05},
    "imdb": {"baseline": 88.53, "vanilla": 87.08, "ugrnn": 87.96, "gru": 86.86, "lstm": 86.93},
    "sst2": {"baseline": 79.74, "vanilla": 78.09, "ugrnn": 77.74, "gru": 80.25, "lstm": 80.09},
}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pretrained_checkpoints(folder: Path | None = None) -> dict[str, Path]:
    """The shipped IMDB checkpoints, ``{arch: folder}`` (``rnnlens/pretrained/imdb-<arch>``)."""
    folder = Path(folder) if folder is not None else PRETRAINED_DIR
    found = {a: folder / f"imdb-{a}" for a in ARCHS if (folder / f"imdb-{a}" / "config.json").exists()}
    if not found:
        raise CheckpointError(
            f"{folder}: no shipped checkpoints (imdb-<arch>/config.json). Reinstall rnnlens, "
            "or regenerate them with `python scripts/make_pretrained.py` (see README)."
        )
    return found


def accuracy_table(dataset: str, ours: dict[str, float | None]) -> tuple[str, str]:
    """Our test accuracy (%) beside the paper's, as (markdown, html)."""
    paper = PAPER_ACCURACY.get(dataset, {})
    cols = [c for c in ("baseline", *ARCHS) if c in ours or c in paper]

    def cell(c):
        v = ours.get(c)
        s = "—" if v is None else f"{v:.2f}"
        return s + (f" ({paper[c]:.2f})" if c in paper else "")

    md = (
        "| "
        + " | ".join(ARCH_TITLES[c] for c in cols)
        + " |\n| "
        + " | ".join("---" for _ in cols)
        + " |\n| "
        + " | ".join(cell(c) for c in cols)
        + " |"
    )
    rows = "".join(f"<td class='num'>{html.escape(cell(c))}</td>" for c in cols)
    table = (
        "<table><tr>" + "".join(f"<th>{html.escape(ARCH_TITLES[c])}</th>" for c in cols) + f"</tr><tr>{rows}</tr>"
        "</table><p class='def'>Test accuracy (% of test documents classified correctly); in parentheses "
        f"the paper's number for {html.escape(dataset)} (Maheswaranathan et al. 2019).</p>"
    )
    return md, table


@dataclass
class DemoResult:
    report: Path
    analyses: dict[str, Path]
    seconds: float


def run_demo(
    out_dir,
    *,
    data_dir=None,
    pretrained: Path | None = None,
    archs=PAPER_ARCHS,
    progress: bool = True,
    download: bool = True,
    settings=None,
) -> DemoResult:
    """Analyze the shipped IMDB networks on IMDB test reviews and write ``out_dir/report/report.html``.

    Needs the IMDB corpus where ``load_corpus("imdb")`` finds it (``data_dir``, ``$RNNLENS_DATA_DIR`` or
    the cache); when it is found nowhere the official archive is downloaded into the cache (progress bar,
    SHA-256 checked) unless ``download=False``. The corpus is loaded as recorded in the
    checkpoints (:func:`rnnlens.checkpoint.load_training_corpus`). The bag-of-words model shipped beside the
    checkpoints (``bag_of_words.json``, an :class:`rnnlens.baseline.BagOfWords` file trimmed to the networks'
    vocabulary) picks the positive, negative and neutral words. ``settings``: the analysis settings
    (default :data:`rnnlens.analysis.settings.DEMO`).
    """
    from rnnlens.analysis import analyze
    from rnnlens.analysis.settings import DEMO
    from rnnlens.baseline import FILE_NAME as BOW_FILE, load_bag_of_words
    from rnnlens.checkpoint import load_checkpoint, load_training_corpus
    from rnnlens.report import make_report

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    found = pretrained_checkpoints(pretrained)
    unknown = [a for a in archs if a not in ARCHS]
    if unknown or not archs:
        raise ArgumentError(f"demo: unknown architectures {unknown}; choose from {', '.join(ARCHS)}")
    missing = [a for a in archs if a not in found]
    if missing:
        raise CheckpointError(
            f"demo: no shipped checkpoint for {missing} in {pretrained or PRETRAINED_DIR}; "
            "regenerate them with `python scripts/make_pretrained.py`."
        )
    checkpoints = {arch: load_checkpoint(found[arch]) for arch in archs}
    bow_path = (Path(pretrained) if pretrained else PRETRAINED_DIR) / BOW_FILE
    bow = load_bag_of_words(bow_path) if bow_path.exists() else None
    if bow is None:
        _say(f"note: {bow_path} not found; word groups and the bag-of-words comparison are left out")
    _say("loading IMDB (test reviews) ...")
    try:  # the shipped networks were all trained on the same IMDB corpus: load it once, as recorded
        corpus = load_training_corpus(checkpoints[archs[0]], data_dir=data_dir, download=download, progress=progress)
    except DataError as exc:
        if download:
            raise DataError(
                f"{exc}\nWithout network access, copy aclImdb_v1.tar.gz (84 MB) into one of the "
                "folders above, or pass --data-dir."
            ) from exc
        raise DataError(
            f"{exc}\n--offline: nothing was downloaded; run `rnnlens demo` without --offline to "
            "fetch the official archive (84 MB) into the cache once."
        ) from exc
    settings = DEMO if settings is None else settings
    analyses, accuracy = {}, {}
    for arch, ck in checkpoints.items():
        test = ck.record.get("metrics", {}).get("test", {})
        accuracy[arch] = 100 * test["accuracy"] if "accuracy" in test else None
        target = out_dir / "analysis" / f"imdb-{arch}"
        _say(f"analyzing imdb-{arch} ({found[arch]}) -> {target}")
        t = time.perf_counter()
        analyze(ck, corpus, settings, bow=bow, out_dir=target)
        _say(f"  done in {time.perf_counter() - t:.1f} s")
        analyses[arch] = target
    if bow is not None and "test" in bow.accuracy:
        accuracy["baseline"] = 100 * bow.accuracy["test"]
    _, table = accuracy_table("imdb", accuracy)
    intro = (
        "<h2>Test accuracy of the shipped networks</h2>"
        + table
        + "<p class='def'>The shipped networks are small (see each checkpoint's config.json for the exact "
        "training command); `rnnlens reproduce --dataset imdb` trains full-size ones.</p>"
    )
    report = make_report([analyses[a] for a in archs], out_dir / "report", preface=[intro])
    return DemoResult(report=report, analyses=analyses, seconds=time.perf_counter() - t0)


@dataclass
class ReproduceResult:
    report: Path
    accuracy: dict[str, float | None]
    table_markdown: str


def run_reproduce(
    dataset: str,
    out_dir,
    *,
    settings: dict | None = None,
    archs=PAPER_ARCHS,
    data_dir=None,
    data_seed: int = 0,
    corpus_options: dict | None = None,
    analysis_settings=None,
    baseline: bool = True,
    progress: bool = True,
) -> ReproduceResult:
    """Train every architecture in ``archs`` and the bag-of-words baseline on ``dataset``, evaluate on
    the test split, analyze each network and write a report with the paper's table beside ours.

    Layout of ``out_dir``: ``baseline/`` (bag-of-words JSON), ``models/<arch>/`` (checkpoints),
    ``analysis/<arch>/``, ``report/report.html`` and ``accuracy.json``. Each step is skipped when its
    output already exists, so a stopped run continues where it stopped (training itself resumes
    mid-epoch). ``analysis_settings``: an :class:`rnnlens.AnalysisSettings` (None: the defaults).
    """
    from rnnlens.analysis import analyze
    from rnnlens.data import Corpus, load_corpus
    from rnnlens.training import TrainSettings, evaluate, train

    unknown = [a for a in archs if a not in ARCHS]
    if unknown:
        raise ArgumentError(f"reproduce: unknown architectures {unknown}; choose from {', '.join(ARCHS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = load_corpus(dataset, data_dir=data_dir, seed=data_seed, **(corpus_options or {}))
    if not isinstance(corpus, Corpus):
        raise ArgumentError(
            f"reproduce: {dataset!r} is a generated task (input sequences), not a text corpus; train and analyse "
            "it with rnnlens train and rnnlens analyze, or many networks with rnnlens sweep"
        )
    if "test" not in corpus.splits:
        raise ArgumentError(f"reproduce: corpus {dataset!r} has no test split (it has {sorted(corpus.splits)})")
    accuracy: dict[str, float | None] = {}
    acc_path = out_dir / "accuracy.json"
    saved = json.loads(acc_path.read_text(encoding="utf-8")) if acc_path.exists() else {}
    fingerprint = corpus.fingerprint()
    if saved.get("data_fingerprint") not in (None, fingerprint):
        raise CheckpointError(f"{out_dir}: holds results for other data (fingerprint differs); choose another -o.")

    bow = _baseline_step(corpus, out_dir) if baseline else None
    if bow is not None:
        accuracy["baseline"] = 100 * bow.accuracy["test"] if "test" in bow.accuracy else None

    analyses = []
    for i, arch in enumerate(archs, start=2):
        s = TrainSettings.from_dict(dict(settings or {}, arch=arch))
        _say(f"[{i}] {arch}: training (resumes if stopped) ...")
        ck = train(corpus, s, out_dir / "models" / arch, resume=True, progress=progress)
        test = ck.record.get("metrics", {}).get("test") or evaluate(
            ck.model, ck.vocab, corpus.splits["test"], max_length=s.max_length
        )
        accuracy[arch] = 100 * test["accuracy"]
        target = out_dir / "analysis" / arch
        if not (target / "summary.json").exists():
            _say(f"[{i}] {arch}: analyzing ...")
            analyze(ck, corpus, analysis_settings, bow=bow, out_dir=target)
        analyses.append(target)
        write_json_atomic(
            acc_path,
            {
                "dataset": dataset,
                "data_fingerprint": fingerprint,
                "definition": "test accuracy, % of test documents classified correctly",
                "accuracy": accuracy,
                "paper": PAPER_ACCURACY.get(dataset),
            },
        )

    md, table = accuracy_table(dataset, accuracy)
    preface = [f"<h2>Test accuracy on {html.escape(dataset)}</h2>" + table]
    report = _report_step(analyses, out_dir, preface, saved.get("report_made_from"), step=len(archs) + 2)
    return ReproduceResult(report=report, accuracy=accuracy, table_markdown=md)


def _baseline_step(corpus, out_dir: Path):
    """reproduce's bag of words: read from ``out_dir/baseline`` when a run already fitted it, else fitted and
    saved there."""
    from rnnlens.baseline import FILE_NAME as BOW_FILE, fit_bag_of_words, load_bag_of_words

    bow_dir = out_dir / "baseline"
    if (bow_dir / BOW_FILE).exists():
        return load_bag_of_words(bow_dir)
    _say("[1] bag-of-words baseline ...")
    bow = fit_bag_of_words(corpus)
    bow.save(bow_dir)
    return bow


def _report_step(analyses: list[Path], out_dir: Path, preface: list[str], made_before, step: int) -> Path:
    """reproduce's report, a step like the others: made again only when what it shows (the analyses' summaries,
    the accuracy table) changed since ``made_before``; what it was made from is recorded in accuracy.json."""
    from rnnlens.report import make_report

    made_from = hashlib.sha256(
        b"".join((a / "summary.json").read_bytes() for a in analyses) + "".join(preface).encode()
    ).hexdigest()
    report = out_dir / "report" / "report.html"
    if not report.is_file() or made_before != made_from:
        _say(f"[{step}] report ...")
        report = make_report(analyses, out_dir / "report", preface=preface)
    acc_path = out_dir / "accuracy.json"
    write_json_atomic(acc_path, dict(json.loads(acc_path.read_text(encoding="utf-8")), report_made_from=made_from))
    return report
