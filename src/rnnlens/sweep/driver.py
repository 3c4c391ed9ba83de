"""The sweep driver: every trial of a SPEC as a Ray task, retried, resumed, then summarized.

``run_sweep(spec, out_dir)`` writes::

    DIR/sweep.json            the SPEC as read, the trial ids and the runs of this folder
    DIR/datasets/<label>/     bag_of_words.json (one per dataset, a Ray task of its own) and its log
    DIR/trials/<id>/          one folder per trial (rnnlens.sweep.trial)
    DIR/summary.csv, DIR/report/   the comparison (rnnlens.sweep.summary)

Ray: without ``address`` Ray starts on this machine (``ray.init(num_cpus=...)``, no dashboard, no
network); with one (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``) the trials run on that cluster, and
DIR must be a path every node sees (shared storage). Each trial declares ``num_cpus``/``num_gpus`` from
the SPEC's ``[resources]``; ``max_concurrent`` caps how many are submitted at once.

Failures: a trial whose worker process dies is restarted by Ray (``max_retries=retries``); a trial that
raises is resubmitted by the driver up to ``retries`` times (not for rnnlens' own user errors, which would
fail the same way again). A failed trial is reported and never stops the others. A rerun skips finished
trials (status ``done`` with the same configuration) and resumes the others where they stopped.
"""

from __future__ import annotations

import datetime as _dt
import os
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rnnlens._atomic import check_writable, write_json_atomic
from rnnlens.errors import ArgumentError
from rnnlens.sweep.spec import SweepSpec, Trial, load_spec
from rnnlens.sweep.trial import STATUS_FILE, read_status

__all__ = ["run_sweep", "SweepResult", "trial_dir", "pending_trials"]

SWEEP_FILE = "sweep.json"


@dataclass
class SweepResult:
    out_dir: Path
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)     # id -> last error
    skipped: list[str] = field(default_factory=list)         # finished before this run
    seconds: float = 0.0                                     # wall time of this run (driver start to summary)
    summary_csv: Path | None = None
    report: Path | None = None


def trial_dir(out_dir, trial: Trial | str) -> Path:
    return Path(out_dir) / "trials" / (trial if isinstance(trial, str) else trial.id)


def _is_finished(out_dir, trial: Trial) -> bool:
    st = read_status(trial_dir(out_dir, trial))
    return bool(st) and st.get("state") == "done" and st.get("config_hash") == trial.config_hash()


def pending_trials(spec: SweepSpec, out_dir) -> list[Trial]:
    """The trials a run of ``spec`` into ``out_dir`` still has to do."""
    return [t for t in spec.trials if not _is_finished(out_dir, t)]


def _payload(t: Trial) -> dict:
    return {"id": t.id, "config": t.config(), "config_hash": t.config_hash(), "num_cpus": t.num_cpus}


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _ray_init(address: str | None, num_cpus: int | None, num_gpus: int | None):
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise ArgumentError("rnnlens sweep needs Ray: pip install 'rnnlens[sweep]' (or pip install 'ray>=2.40')") \
            from None
    if ray.is_initialized():
        return ray, False
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address:
        _probe(address)
        try:
            ray.init(address=address, **kwargs)
        except ConnectionError as exc:
            raise ArgumentError(f"--address {address}: cannot reach a Ray cluster there ({exc}). Start one with "
                                "`ray start --head`, and give the address it prints (on the head node: --address "
                                "auto); leave --address out to start Ray on this machine.") from None
    else:
        # trials pass only small dicts through Ray's object store: keep it small (Ray's minimum is 75 MiB)
        ray.init(num_cpus=num_cpus if num_cpus is not None else os.cpu_count(), num_gpus=num_gpus,
                 object_store_memory=128 * 1024 * 1024, **kwargs)
    return ray, True


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast when HOST:PORT accepts no connection (ray.init would retry for minutes)."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ArgumentError(f"--address {address!r}: write auto, HOST:PORT (the head node's GCS port, 6379 by "
                            "default) or ray://HOST:10001")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ArgumentError(f"--address {address}: nothing accepts connections there ({exc.strerror or exc}). Start "
                            "a cluster with `ray start --head` and give the address it prints (on the head node: "
                            "--address auto); leave --address out to start Ray on this machine.") from None


def _check_resources(ray, spec: SweepSpec, address: str | None) -> None:
    total = ray.cluster_resources()
    where = f"the Ray cluster at {address}" if address else "the local Ray"
    for name, need in (("CPU", spec.num_cpus), ("GPU", spec.num_gpus)):
        if need > total.get(name, 0):
            key = "resources.num_cpus" if name == "CPU" else "resources.num_gpus"
            raise ArgumentError(f"sweep spec {spec.path}: {key}: each trial asks for {need:g} {name}(s) but {where} has "
                                f"{total.get(name, 0):g}; no trial could ever start")


class _Progress:
    """Trials done / running / waiting / failed: a tqdm bar on a terminal, one line per finished trial always."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done, self.failed, self.running = total, done, 0, 0
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="trial", desc="sweep", file=sys.stderr,
                            dynamic_ncols=True)

    def line(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            _say(msg)

    def finished(self, ok: bool, msg: str) -> None:
        self.running = max(0, self.running - 1)     # this one (counted at the last poll) has ended
        if ok:
            self.done += 1
            if self.bar is not None:
                self.bar.update(1)
        else:
            self.failed += 1
        self.line(f"[{self.done}/{self.total} done, {self.running} running, {self.failed} failed] {msg}")

    def show(self, running: int, waiting: int, queued: int) -> None:
        self.running = running
        if self.bar is not None:
            self.bar.set_postfix_str(f"running {running}, waiting for resources {waiting}, queued {queued}, "
                                     f"failed {self.failed}", refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep(spec, out_dir, *, address: str | None = None, max_concurrent: int | None = None, retries: int = 2,
              num_cpus: int | None = None, num_gpus: int | None = None, progress: bool | None = None,
              report: bool = True) -> SweepResult:
    """Run every unfinished trial of ``spec`` (a SweepSpec or a SPEC file) into ``out_dir``, then write the
    comparison. ``num_cpus``/``num_gpus``: the local Ray's size (default: this machine's CPUs; ignored with
    ``address``). ``progress``: the tqdm bar (default: when stderr is a terminal)."""
    from rnnlens._lock import output_lock

    t_start = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    for name, v, lo in (("retries", retries, 0), ("max_concurrent", max_concurrent, 1), ("num_cpus", num_cpus, 1),
                        ("num_gpus", num_gpus, 0)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
            raise ArgumentError(f"sweep: {name} must be an integer >= {lo}; got {v!r}")
    if address and (num_cpus is not None or num_gpus is not None):
        raise ArgumentError("sweep: --num-cpus/--num-gpus size a local Ray; a cluster (--address) has its own")
    out_dir = Path(out_dir).resolve()      # workers do not share the driver's working directory
    check_writable(out_dir, "-o")
    out_dir.mkdir(parents=True, exist_ok=True)
    with output_lock(out_dir, "sweep"):
        result = _run_locked(spec, out_dir, address=address, max_concurrent=max_concurrent, retries=retries,
                             num_cpus=num_cpus, num_gpus=num_gpus,
                             progress=sys.stderr.isatty() if progress is None else progress)
        from rnnlens.sweep.summary import summarize

        s = summarize(spec, out_dir, report=report)
        result.summary_csv, result.report = s.csv, s.report
    result.seconds = time.perf_counter() - t_start
    return result


def _record_run(spec: SweepSpec, out_dir: Path, run_id: str, started: str, **more) -> None:
    import json

    path = out_dir / SWEEP_FILE
    try:
        old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        old = {}
    runs = [r for r in old.get("runs", []) if r.get("run") != run_id]
    runs.append({"run": run_id, "started": started, "host": socket.gethostname(), "pid": os.getpid(), **more})
    write_json_atomic(path, {"schema": "rnnlens-sweep/1", "name": spec.name,
                             "spec_file": str(spec.path) if spec.path else None, "spec": spec.raw,
                             "trials": [t.id for t in spec.trials], "runs": runs})


def _run_locked(spec: SweepSpec, out_dir: Path, *, address, max_concurrent, retries, num_cpus, num_gpus,
                progress) -> SweepResult:
    run_id = uuid.uuid4().hex[:12]
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    result = SweepResult(out_dir=out_dir)
    todo = pending_trials(spec, out_dir)
    result.skipped = [t.id for t in spec.trials if t not in todo]
    _record_run(spec, out_dir, run_id, started, pending=len(todo), finished_before=len(result.skipped))
    _say(f"sweep {spec.name}: {len(spec.trials)} trials, {len(result.skipped)} finished before, {len(todo)} to run "
         f"-> {out_dir}")
    if not todo:
        return result

    ray, started_here = _ray_init(address, num_cpus, num_gpus)
    try:
        _check_resources(ray, spec, address)
        _schedule(ray, spec, out_dir, todo, run_id, result, max_concurrent=max_concurrent, retries=retries,
                  progress=progress)
    finally:
        if started_here:
            ray.shutdown()
    _record_run(spec, out_dir, run_id, started, pending=len(todo), finished_before=len(result.skipped),
                done=len(result.done), failed=sorted(result.failed))
    return result


def _schedule(ray, spec: SweepSpec, out_dir: Path, todo: list[Trial], run_id: str, result: SweepResult, *,
              max_concurrent, retries, progress) -> None:
    from rnnlens.sweep.trial import fit_dataset_baseline, run_trial

    trial_task = ray.remote(run_trial)
    bow_task = ray.remote(fit_dataset_baseline)
    # one bag of words per dataset that needs one, as a task the trials of that dataset depend on
    bows = {}
    for ds in spec.datasets:
        if spec.bag_of_words and "analyze" in spec.stages and any(t.dataset.label == ds.label for t in todo):
            path = out_dir / "datasets" / ds.label / "bag_of_words.json"
            if path.is_file():
                bows[ds.label] = str(path)
            else:
                bows[ds.label] = bow_task.options(num_cpus=min(1.0, spec.num_cpus) or 1.0, max_retries=retries,
                                                  name=f"bag of words {ds.label}").remote(
                    {"label": ds.label, **ds.corpus_key()}, str(path))

    queue = list(todo)
    in_flight: dict = {}              # ObjectRef -> Trial
    errors_retried: dict[str, int] = {}
    bar = _Progress(len(spec.trials), len(result.skipped), progress)

    def submit(t: Trial):
        ref = trial_task.options(num_cpus=t.num_cpus, num_gpus=t.num_gpus, max_retries=retries,
                                 retry_exceptions=False, name=f"trial {t.id}").remote(
            _payload(t), str(trial_dir(out_dir, t)), run_id, bows.get(t.dataset.label))
        in_flight[ref] = t

    try:
        while queue or in_flight:
            while queue and (max_concurrent is None or len(in_flight) < max_concurrent):
                submit(queue.pop(0))
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=0.5)
            for ref in ready:
                t = in_flight.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as exc:  # worker died more than `retries` times, or the bag of words failed
                    out = {"id": t.id, "state": "failed", "retryable": False,
                           "error": _ray_error(exc, retries, t.dataset.label, bows)}
                    _mark_failed(out_dir, t, out["error"])
                if out["state"] == "done":
                    result.done.append(t.id)
                    bar.finished(True, f"done {t.id} (attempt {out['attempt']})")
                elif out["retryable"] and errors_retried.get(t.id, 0) < retries:
                    errors_retried[t.id] = errors_retried.get(t.id, 0) + 1
                    bar.line(f"retrying {t.id} ({errors_retried[t.id]}/{retries}) after: {out['error']}")
                    queue.insert(0, t)
                else:
                    result.failed[t.id] = out["error"]
                    bar.finished(False, f"FAILED {t.id}: {out['error']} (log: {trial_dir(out_dir, t) / 'log.txt'})")
            running = sum(1 for t in in_flight.values() if _running_now(out_dir, t, run_id))
            bar.show(running, len(in_flight) - running, len(queue))
    except KeyboardInterrupt:
        bar.line("interrupted: the running trials stop now; rerun the same command to resume them")
        raise
    finally:
        bar.close()


def _running_now(out_dir: Path, t: Trial, run_id: str) -> bool:
    """True when the trial's status says an attempt of this run has started (not just queued in Ray)."""
    st = read_status(trial_dir(out_dir, t)) or {}
    attempts = st.get("attempts") or [{}]
    return st.get("state") == "running" and attempts[-1].get("run") == run_id


def _ray_error(exc: Exception, retries: int, label: str, bows: dict) -> str:
    """What went wrong, from an exception ray.get raised for a trial (run_trial itself never raises)."""
    name = type(exc).__name__
    if "WorkerCrashed" in name or "ActorDied" in name or "NodeDied" in name or "OutOfMemory" in name:
        return f"the worker process died {retries + 1} times ({name}); see the trial's log.txt and Ray's logs"
    cause = getattr(exc, "cause", None)
    if cause is not None:
        what = f"{type(cause).__name__}: {cause}"
        if not isinstance(bows.get(label), (str, type(None))):   # the trial depended on a bag-of-words task
            return f"the bag of words of dataset {label} failed: {what}"
        return what
    lines = str(exc).strip().splitlines()
    return f"{name}: {lines[-1] if lines else ''}"


def _mark_failed(out_dir: Path, t: Trial, error: str) -> None:
    """Record a failure Ray reported (the trial itself could not)."""
    d = trial_dir(out_dir, t)
    st = read_status(d)
    if st is None:
        d.mkdir(parents=True, exist_ok=True)
        st = {"schema": "rnnlens-sweep-trial/1", "id": t.id, "config_hash": t.config_hash(), "config": t.config(),
              "attempts": [], "stages": {}, "results": {}}
    for a in st.get("attempts", []):
        if a.get("ended") is None:
            a["ended"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["outcome"] = "worker died"
            a["error"] = error
    st.update(state="failed", error=error)
    write_json_atomic(d / STATUS_FILE, st)

