"""One trial, run where Ray places it: train -> evaluate -> analyze into ``DIR/trials/<id>/``.

Layout of a trial folder::

    status.json        state (pending | running | done | failed), config, attempts, stage timings, results
    log.txt            everything the trial printed (one header line per attempt)
    checkpoint/        rnnlens.train's output (resume/ while training: a killed trial resumes mid-epoch)
    evaluation.json    test accuracy and loss (rnnlens.evaluate)
    analysis/          rnnlens.analyze's output (summary.json, arrays.npz, fixed_points.safetensors)

``status.json`` is written atomically at the start of every attempt and after every stage. Each attempt
is a record ``{n, run, pid, host, node, started, ended, outcome, error}`` (``node``: the Ray node id); an
attempt that never ended is closed by the next one as ``worker died`` (same sweep run: Ray restarted the
task after its process died) or ``interrupted`` (an earlier run of the sweep stopped, e.g. the driver was
killed). A stage whose output exists and matches is skipped, so a rerun only does what is missing.

Nothing here imports Ray: the driver (:mod:`rnnlens.sweep.driver`) wraps :func:`run_trial` in a task.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import json
import os
import shutil
import socket
import sys
import time
import traceback
from pathlib import Path

from rnnlens._atomic import write_json_atomic
from rnnlens._lock import _alive
from rnnlens.errors import RnnlensError

__all__ = [
    "run_trial",
    "read_status",
    "fit_dataset_baseline",
    "STATUS_FILE",
    "LOG_FILE",
    "CHECKPOINT_DIR",
    "ANALYSIS_DIR",
    "EVALUATION_FILE",
    "STATUS_SCHEMA",
]

STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
CHECKPOINT_DIR = "checkpoint"
ANALYSIS_DIR = "analysis"
EVALUATION_FILE = "evaluation.json"
STATUS_SCHEMA = "rnnlens-sweep-trial/1"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def read_status(trial_dir) -> dict | None:
    """The trial's status.json, or None when there is none (or it cannot be read)."""
    p = Path(trial_dir) / STATUS_FILE
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_status(trial_dir: Path, status: dict) -> None:
    write_json_atomic(trial_dir / STATUS_FILE, status)


def _clear_locks_of(trial_dir: Path, attempt: dict) -> None:
    """Remove output locks a dead earlier attempt left in the trial folder. Locks of a live process on this
    host, or of another attempt, are left alone (rnnlens._lock takes over a dead local process's lock by
    itself; this also covers an attempt that died on another node of a cluster)."""
    host, pid = socket.gethostname(), os.getpid()
    for lock in trial_dir.glob(".*.lock"):
        try:
            info = json.loads(lock.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if info.get("pid") != attempt.get("pid") or info.get("host") != attempt.get("host"):
            continue
        if info.get("host") == host and (info.get("pid") == pid or _alive(info["pid"])):
            continue
        lock.unlink(missing_ok=True)


DOWNLOADING_CORPORA = ("imdb", "ag_news")  # load_corpus downloads these when missing (option download)


def corpus_options(key: dict) -> dict:
    """The load_corpus options a trial passes for a SPEC dataset (``DatasetSpec.corpus_key()``): the SPEC's,
    without a progress bar."""
    options = dict(key["options"])
    if key["name"] in DOWNLOADING_CORPORA:
        options.setdefault("progress", False)
    return options


@functools.lru_cache(maxsize=2)
def _corpus(key_json: str):
    """Load a corpus once per worker process (Ray reuses workers across trials)."""
    from rnnlens.data import load_corpus

    key = json.loads(key_json)
    return load_corpus(key["name"], data_dir=key["data_dir"], seed=key["seed"], **corpus_options(key))


def load_dataset(dataset: dict):
    """The corpus of a SPEC dataset entry (``DatasetSpec`` as a dict)."""
    key = {k: dataset.get(k) for k in ("name", "seed", "data_dir", "options")}
    return _corpus(json.dumps(key, sort_keys=True))


@contextlib.contextmanager
def _logging_to(path: Path):
    """Send sys.stdout and sys.stderr (Python level) to ``path`` for the body."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8", buffering=1) as f:
        with contextlib.redirect_stdout(f), contextlib.redirect_stderr(f):
            yield f


def bag_of_words_fingerprint(path) -> str | None:
    """The data fingerprint a bag-of-words file records (the corpus it was fitted on), or None."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8")).get("data_fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


def fit_dataset_baseline(dataset: dict, out_file: str) -> str:
    """Fit the bag of words of one SPEC dataset into ``out_file``, unless the file there was fitted on this
    very corpus (its data fingerprint); returns the path."""
    from rnnlens.baseline import fit_bag_of_words

    out = Path(out_file)
    corpus = load_dataset(dataset)
    if out.is_file() and bag_of_words_fingerprint(out) == corpus.fingerprint():
        return str(out)
    with _logging_to(out.parent / LOG_FILE) as log:
        print(
            f"=== bag of words for {dataset['label']}, pid {os.getpid()} on {socket.gethostname()}, {_now()}"
            + (" (the one there was fitted on another corpus)" if out.is_file() else ""),
            file=log,
        )
        bow = fit_bag_of_words(corpus)
        bow.save(out)
        print(f"accuracy {bow.accuracy} (fraction correct per split), C={bow.C}", file=log)
    return str(out)


def _ray_node() -> str | None:
    """The id of the Ray node this process runs on when it is a Ray worker (Ray imported and connected: this
    module does not import it), else None."""
    ray = sys.modules.get("ray")
    try:
        return ray.get_runtime_context().get_node_id() if ray is not None and ray.is_initialized() else None
    except Exception:  # noqa: BLE001  (a record only)
        return None


def _retryable(exc: BaseException) -> bool:
    """User mistakes (rnnlens errors: a bad option, a missing corpus) fail the same way every time; other
    exceptions (out of memory, a lock still held by a dying process, a flaky file system) may pass."""
    from rnnlens._lock import LockError

    return isinstance(exc, LockError) or not isinstance(exc, RnnlensError)


def run_trial(trial: dict, trial_dir: str, run_id: str, bow_path: str | None = None) -> dict:
    """Run the stages of one trial (``trial``: :meth:`Trial.config` plus ``id``, ``config_hash``,
    ``num_cpus``); returns ``{"id", "state": "done"|"failed", "error", "retryable", "attempt"}``.
    Exceptions are caught, recorded in status.json and returned, never raised."""
    tdir = Path(trial_dir)
    tdir.mkdir(parents=True, exist_ok=True)
    status = read_status(tdir) or {}
    if status.get("schema") != STATUS_SCHEMA or status.get("config_hash") != trial["config_hash"]:
        # new trial, or its configuration changed (e.g. other analysis options): keep the attempt history
        status = {
            "schema": STATUS_SCHEMA,
            "id": trial["id"],
            "config_hash": trial["config_hash"],
            "config": trial["config"],
            "attempts": status.get("attempts", []),
            "stages": {},
            "results": {},
        }
    attempts = status["attempts"]
    if attempts and attempts[-1].get("ended") is None:
        last = attempts[-1]
        last["ended"] = _now()
        last["outcome"] = "worker died" if last.get("run") == run_id else "interrupted"
        last["error"] = (
            "the worker process died during this attempt (Ray restarted the task)"
            if last["outcome"] == "worker died"
            else "the sweep stopped during this attempt (driver killed or interrupted); resumed by a rerun"
        )
        _clear_locks_of(tdir, last)
    attempt = {
        "n": len(attempts) + 1,
        "run": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "node": _ray_node(),
        "started": _now(),
        "ended": None,
        "outcome": None,
    }
    attempts.append(attempt)
    status.update(state="running", error=None)
    _write_status(tdir, status)

    t0 = time.perf_counter()
    try:
        with _logging_to(tdir / LOG_FILE) as log:
            print(
                f"=== attempt {attempt['n']} of trial {trial['id']} (sweep run {run_id}), pid {attempt['pid']} "
                f"on {attempt['host']}, {attempt['started']}",
                file=log,
            )
            _stages_when_unlocked(trial, tdir, status, bow_path, log)
    except BaseException as exc:  # noqa: BLE001  (recorded, then reported to the driver)
        retry = _retryable(exc)
        attempt.update(
            ended=_now(),
            outcome="error",
            error=f"{type(exc).__name__}: {exc}",
            seconds=round(time.perf_counter() - t0, 3),
        )
        status.update(state="failed", error=attempt["error"])
        with open(tdir / LOG_FILE, "a", encoding="utf-8") as log:
            traceback.print_exc(file=log)
        _write_status(tdir, status)
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return {
            "id": trial["id"],
            "state": "failed",
            "error": attempt["error"],
            "retryable": retry,
            "attempt": attempt["n"],
        }
    attempt.update(ended=_now(), outcome="done", seconds=round(time.perf_counter() - t0, 3))
    status.update(state="done", error=None, finished=_now())
    _write_status(tdir, status)
    return {"id": trial["id"], "state": "done", "error": None, "retryable": False, "attempt": attempt["n"]}


LOCK_WAIT_S = 900.0  # how long a trial waits for an output lock a live process holds


def _stages_when_unlocked(trial: dict, tdir: Path, status: dict, bow_path: str | None, log) -> None:
    """Run the stages; while another live process holds one of the trial's output locks (a worker of a killed
    driver finishing its attempt), wait for it (up to LOCK_WAIT_S), then go on: finished stages are skipped."""
    from rnnlens._lock import LockError

    deadline = time.monotonic() + LOCK_WAIT_S
    said = 0.0
    while True:
        try:
            return _stages(trial, tdir, status, bow_path)
        except LockError as exc:
            if time.monotonic() > deadline:
                raise
            if time.monotonic() - said > 60:
                print(f"waiting (up to {LOCK_WAIT_S:.0f} s in all) for a lock: {exc}", file=log, flush=True)
                said = time.monotonic()
            time.sleep(2.0)


def _stages(trial: dict, tdir: Path, status: dict, bow_path: str | None) -> None:
    import torch

    threads = torch.get_num_threads()
    try:  # the trial sets torch's threads (and train() does); give the process its own number back
        _run_stages(trial, tdir, status, bow_path)
    finally:
        torch.set_num_threads(threads)


def _run_stages(trial: dict, tdir: Path, status: dict, bow_path: str | None) -> None:
    import torch

    from rnnlens.settings import TrainSettings
    from rnnlens.training import evaluate, train

    cfg = trial["config"]
    stages = cfg["stages"]
    if trial.get("num_cpus", 0) >= 1:
        torch.set_num_threads(int(trial["num_cpus"]))
    corpus = load_dataset(cfg["dataset"])
    settings = TrainSettings.from_dict(cfg["settings"])

    def done_stage(name, t, **more):
        status["stages"][name] = {"seconds": round(time.perf_counter() - t, 3), "finished": _now(), **more}
        _write_status(tdir, status)

    t = time.perf_counter()
    ck = train(corpus, settings, tdir / CHECKPOINT_DIR, resume=True, progress=False)
    m = ck.record.get("metrics", {})
    status["results"]["validation_accuracy"] = m.get("validation", {}).get("accuracy")
    status["results"]["best_epoch"] = m.get("best_epoch")
    status["results"]["epochs_run"] = m.get("epochs_run")
    status["results"]["train_tokens_per_s"] = m.get("train_tokens_per_s")
    if "train" not in status["stages"]:
        done_stage("train", t)

    if "evaluate" in stages:
        t = time.perf_counter()
        ev_path = tdir / EVALUATION_FILE
        if "test" not in corpus.splits:
            raise RnnlensError(
                f"dataset {cfg['dataset']['label']}: corpus has no test split to evaluate on "
                f"(splits {sorted(corpus.splits)}); drop 'evaluate' from stages"
            )
        if not ev_path.is_file() and ck.vocab is None:  # a network of input sequences (a generated task)
            from rnnlens.task_training import evaluate_sequences

            ev = evaluate_sequences(ck.model, corpus.splits["test"])
            definition = (
                "loss = mse: mean squared error over the test (step, output) entries with a target; r2: 1 - "
                "SSE/SST; accuracy: fraction of those entries with the target's sign (sign targets only, else null)"
            )
            write_json_atomic(ev_path, {"split": "test", **ev, "definition": definition})
        if not ev_path.is_file():
            ev = evaluate(ck.model, ck.vocab, corpus.splits["test"], max_length=settings.max_length)
            write_json_atomic(
                ev_path,
                {
                    "split": "test",
                    **ev,
                    "definition": "accuracy: fraction of test documents "
                    "classified correctly; loss: mean cross-entropy (nats per document)",
                },
            )
        ev = json.loads(ev_path.read_text(encoding="utf-8"))
        status["results"]["test_accuracy"] = ev["accuracy"]
        status["results"]["test_loss"] = ev["loss"]
        if "evaluate" not in status["stages"]:
            done_stage("evaluate", t)

    if "analyze" in stages:
        from rnnlens.analysis import analyze

        t = time.perf_counter()
        an_dir = tdir / ANALYSIS_DIR
        from rnnlens.sweep.spec import analysis_settings

        settings = analysis_settings(cfg["analysis"])
        done = (an_dir / "summary.json").is_file() and "analyze" in status["stages"]
        if not done:
            if an_dir.exists() and "analyze" not in status["stages"]:
                shutil.rmtree(an_dir)  # made with other options (the trial's configuration changed)
            analyze(ck, corpus, settings, bow=bow_path, out_dir=an_dir)
            done_stage("analyze", t)
    sys.stdout.flush()
