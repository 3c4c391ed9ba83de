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

import contextlib
import datetime as _dt
import json
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
    failed: dict[str, str] = field(default_factory=dict)  # id -> last error
    skipped: list[str] = field(default_factory=list)  # finished before this run
    seconds: float = 0.0  # wall time of this run (driver start to summary)
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
        raise ArgumentError(
            "rnnlens sweep needs Ray: pip install 'rnnlens[sweep]' (or pip install 'ray>=2.40')"
        ) from None
    if ray.is_initialized():
        return ray, False
    kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False)
    if address:
        _connect(ray, address, kwargs)
    else:
        # trials pass only small dicts through Ray's object store: keep it small (Ray's minimum is 75 MiB)
        ray.init(
            num_cpus=num_cpus if num_cpus is not None else os.cpu_count(),
            num_gpus=num_gpus,
            object_store_memory=128 * 1024 * 1024,
            **kwargs,
        )
    return ray, True


def _connect(ray, address: str, kwargs: dict) -> None:
    """ray.init on the cluster at ``address``, with the token authentication a cluster of Ray >= 2.5x may ask
    for (see :func:`_token_authentication`); a refused token, or none, is named as such."""
    _probe(address)
    token = _token_authentication(address)
    _probe_authentication(address, token)
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:
        if _authentication_failed(exc):
            raise ArgumentError(_authentication_message(address, token)) from None
        if not isinstance(exc, ConnectionError):
            raise
        raise ArgumentError(
            f"--address {address}: cannot reach a Ray cluster there ({exc}). Start one with "
            "`ray start --head`, and give the address it prints (on the head node: --address "
            "auto); leave --address out to start Ray on this machine."
        ) from None


def _token_authentication(address: str) -> bool:
    """Whether this driver authenticates with a token. A head started by ``ray start --head`` where a token
    exists (``~/.ray/auth_token``, which any local ``ray.init`` writes) requires one; Ray's own driver sends it
    only for ``address="auto"``. Here, unless ``RAY_AUTH_MODE`` says otherwise, token mode is on for any
    HOST:PORT whenever a token is at hand (``RAY_AUTH_TOKEN``, the file ``RAY_AUTH_TOKEN_PATH`` names, or
    ``~/.ray/auth_token``), as Ray does for ``auto``; a cluster without authentication ignores it."""
    if "://" in address:  # Ray Client: its own connection
        return False
    try:
        from ray._private.authentication import authentication_token_setup as setup
    except ImportError:  # a Ray without token authentication
        return False
    if os.environ.get(setup.AUTH_MODE_ENV_VAR) is None:
        import logging

        log = logging.getLogger(setup.__name__)
        level = log.level
        log.setLevel(logging.ERROR)  # its note speaks of starting a cluster, not of joining one
        try:
            setup.maybe_enable_token_auth_if_token_available(warn_if_disabled=False)
        finally:
            log.setLevel(level)
    return os.environ.get(setup.AUTH_MODE_ENV_VAR, "").lower() == "token"


def _probe_authentication(address: str, token: bool) -> None:
    """Ask the cluster's GCS once whether it accepts this driver (under a second; ray.init would retry for
    about 20 s and then only say it failed to connect)."""
    if address == "auto" or "://" in address:
        return
    try:
        from ray._raylet import GcsClient
        from ray.exceptions import AuthenticationError
    except ImportError:
        return
    with _stderr_held() as held:  # Ray's C++ client logs each refusal on stderr: our message says it once
        try:
            GcsClient(address=address)
        except AuthenticationError:
            held.drop()
            raise ArgumentError(_authentication_message(address, token)) from None
        except Exception:  # noqa: BLE001  (anything else: ray.init says it)
            return


class _HeldOutput:
    def __init__(self, file):
        self.file, self.dropped = file, False

    def drop(self) -> None:
        self.dropped = True


@contextlib.contextmanager
def _stderr_held():
    """Send what this process writes on file descriptor 2 to a temporary file for the body, then pass it on to
    stderr unless the body called ``drop()`` on what it yields."""
    import tempfile

    sys.stderr.flush()
    with tempfile.TemporaryFile() as f:
        saved = os.dup(2)
        held = _HeldOutput(f)
        try:
            os.dup2(f.fileno(), 2)
            yield held
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not held.dropped:
                f.seek(0)
                sys.stderr.write(f.read().decode("utf-8", "replace"))
                sys.stderr.flush()


def _authentication_failed(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is Ray refusing this driver's token, or its lack of one."""
    seen = 0
    while exc is not None and seen < 10:
        text = str(exc)
        if type(exc).__name__ == "AuthenticationError" or "InvalidAuthToken" in text or "Unauthenticated" in text:
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _authentication_message(address: str, token: bool) -> str:
    how = (
        "on the head node, `ray get-auth-token` prints the cluster's token: export RAY_AUTH_TOKEN=<that token> "
        "here (or copy the head's ~/.ray/auth_token to this machine's ~/.ray/auth_token) and run again"
    )
    if token:
        return (
            f"--address {address}: authentication failed: the Ray cluster there refused this driver's token "
            f"(from RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, in that order); {how}"
        )
    mode = os.environ.get("RAY_AUTH_MODE")
    return (
        f"--address {address}: authentication failed: the Ray cluster there uses token authentication and this "
        f"driver has no token{' (RAY_AUTH_MODE=' + mode + ' is set here: unset it)' if mode else ''}; {how}"
    )


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast when HOST:PORT accepts no connection (ray.init would retry for minutes)."""
    if address == "auto" or "://" in address:
        return
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ArgumentError(
            f"--address {address!r}: write auto, HOST:PORT (the head node's GCS port, 6379 by "
            "default) or ray://HOST:10001"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ArgumentError(
            f"--address {address}: nothing accepts connections there ({exc.strerror or exc}). Start "
            "a cluster with `ray start --head` and give the address it prints (on the head node: "
            "--address auto); leave --address out to start Ray on this machine."
        ) from None


def _check_resources(ray, spec: SweepSpec, address: str | None) -> None:
    total = ray.cluster_resources()
    where = f"the Ray cluster at {address}" if address else "the local Ray"
    for name, need in (("CPU", spec.num_cpus), ("GPU", spec.num_gpus)):
        if need > total.get(name, 0):
            key = "resources.num_cpus" if name == "CPU" else "resources.num_gpus"
            raise ArgumentError(
                f"sweep spec {spec.path}: {key}: each trial asks for {need:g} {name}(s) but "
                f"{where} has {total.get(name, 0):g}; no trial could ever start"
            )


class _Progress:
    """Trials done / running / waiting / failed: a tqdm bar on a terminal, one line per finished trial always."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.total, self.done, self.failed, self.running = total, done, 0, 0
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=done, unit="trial", desc="sweep", file=sys.stderr, dynamic_ncols=True)

    def line(self, msg: str) -> None:
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            _say(msg)

    def finished(self, ok: bool, msg: str) -> None:
        self.running = max(0, self.running - 1)  # this one (counted at the last poll) has ended
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
            self.bar.set_postfix_str(
                f"running {running}, waiting for resources {waiting}, queued {queued}, failed {self.failed}",
                refresh=True,
            )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run_sweep(
    spec,
    out_dir,
    *,
    address: str | None = None,
    max_concurrent: int | None = None,
    retries: int = 2,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    progress: bool | None = None,
    report: bool = True,
    reuse: bool = False,
    max_trials: int | None = None,
) -> SweepResult:
    """Run every unfinished trial of ``spec`` (a SweepSpec or a SPEC file, read with at most ``max_trials``
    trials) into ``out_dir``, then write the comparison. The whole SPEC is checked first
    (:func:`rnnlens.sweep.preflight.check_spec`); a folder made by another SPEC is refused unless ``reuse``
    (:func:`check_folder`). ``num_cpus``/``num_gpus``: the local Ray's size (default: this machine's CPUs;
    ignored with ``address``). ``progress``: the tqdm bar (default: when stderr is a terminal)."""
    from rnnlens._lock import output_lock
    from rnnlens.sweep.preflight import check_spec

    t_start = time.perf_counter()
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec, max_trials=max_trials)
    for name, v, lo in (
        ("retries", retries, 0),
        ("max_concurrent", max_concurrent, 1),
        ("num_cpus", num_cpus, 1),
        ("num_gpus", num_gpus, 0),
    ):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < lo):
            raise ArgumentError(f"sweep: {name} must be an integer >= {lo}; got {v!r}")
    if address and (num_cpus is not None or num_gpus is not None):
        raise ArgumentError("sweep: --num-cpus/--num-gpus size a local Ray; a cluster (--address) has its own")
    fingerprints = check_spec(spec)
    out_dir = Path(out_dir).resolve()  # workers do not share the driver's working directory
    check_writable(out_dir, "-o")
    check_folder(spec, out_dir, reuse=reuse)
    session = _RaySession(spec, address, num_cpus, num_gpus)
    try:
        if pending_trials(spec, out_dir):
            session.get()  # before the folder is written: a cluster that is not there, or refuses us, leaves nothing
        out_dir.mkdir(parents=True, exist_ok=True)
        with output_lock(out_dir, "sweep"):
            check_folder(spec, out_dir, reuse=reuse)  # again, now that no other driver can write sweep.json
            result = _run_locked(
                spec,
                out_dir,
                session,
                max_concurrent=max_concurrent,
                retries=retries,
                fingerprints=fingerprints,
                progress=sys.stderr.isatty() if progress is None else progress,
            )
            from rnnlens.sweep.summary import summarize

            s = summarize(spec, out_dir, report=report)
            result.summary_csv, result.report = s.csv, s.report
    finally:
        session.close()
    result.seconds = time.perf_counter() - t_start
    return result


class _RaySession:
    """Ray for one run: connected to (``address``) or started here at the first need, checked against the
    SPEC's resources; shut down by :meth:`close` when it was started here."""

    def __init__(self, spec: SweepSpec, address: str | None, num_cpus: int | None, num_gpus: int | None):
        self.spec, self.address, self.num_cpus, self.num_gpus = spec, address, num_cpus, num_gpus
        self.ray, self.started_here = None, False

    def get(self):
        if self.ray is None:
            self.ray, self.started_here = _ray_init(self.address, self.num_cpus, self.num_gpus)
            _check_resources(self.ray, self.spec, self.address)
        return self.ray

    def close(self) -> None:
        if self.ray is not None and self.started_here:
            self.ray.shutdown()
        self.ray = None


def _read_sweep_file(out_dir: Path) -> dict | None:
    """DIR/sweep.json, {} when it cannot be read as a table, None when there is none."""
    path = Path(out_dir) / SWEEP_FILE
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return old if isinstance(old, dict) else {}


def check_folder(spec: SweepSpec, out_dir, *, reuse: bool = False) -> None:
    """Refuse a sweep folder made by another SPEC (its ``sweep.json`` records another
    :meth:`SweepSpec.fingerprint`; a folder of an older rnnlens, without one, another list of trials) unless
    ``reuse``: its trials and bags of words are not this SPEC's, and a summary would mix them."""
    old = _read_sweep_file(Path(out_dir))
    if old is None or reuse:
        return
    if "fingerprint" in old:
        same = old["fingerprint"] == spec.fingerprint()
    else:
        same = sorted(map(str, old.get("trials") or [])) == sorted(t.id for t in spec.trials)
    if not same:
        made_by = (
            f"{old.get('spec_file') or 'a SPEC given as a table'}, sweep {old.get('name')!r}"
            if old
            else "its sweep.json cannot be read"
        )
        raise ArgumentError(
            f"-o {out_dir}: this sweep folder was made by another SPEC ({made_by}: other trials or "
            "settings). Give another -o, or --reuse to run this SPEC into it anyway (finished trials "
            "of the same configuration are kept; a bag of words is fitted again where its corpus "
            "differs; the summary then lists this SPEC's trials only)."
        )


def _record_run(spec: SweepSpec, out_dir: Path, run_id: str, started: str, **more) -> None:
    fingerprint = spec.fingerprint()
    runs = [r for r in (_read_sweep_file(out_dir) or {}).get("runs", []) if r.get("run") != run_id]
    runs.append(
        {
            "run": run_id,
            "started": started,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "fingerprint": fingerprint,
            **more,
        }
    )
    write_json_atomic(
        out_dir / SWEEP_FILE,
        {
            "schema": "rnnlens-sweep/1",
            "name": spec.name,
            "spec_file": str(spec.path) if spec.path else None,
            "spec": spec.raw,
            "fingerprint": fingerprint,
            "trials": [t.id for t in spec.trials],
            "runs": runs,
        },
    )


def _run_locked(
    spec: SweepSpec, out_dir: Path, session: _RaySession, *, max_concurrent, retries, fingerprints, progress
) -> SweepResult:
    run_id = uuid.uuid4().hex[:12]
    started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    result = SweepResult(out_dir=out_dir)
    todo = pending_trials(spec, out_dir)
    result.skipped = [t.id for t in spec.trials if t not in todo]
    _record_run(spec, out_dir, run_id, started, pending=len(todo), finished_before=len(result.skipped))
    _say(
        f"sweep {spec.name}: {len(spec.trials)} trials, {len(result.skipped)} finished before, {len(todo)} to run "
        f"-> {out_dir}"
    )
    if not todo:
        return result

    try:
        _schedule(
            session.get(),
            spec,
            out_dir,
            todo,
            run_id,
            result,
            max_concurrent=max_concurrent,
            retries=retries,
            progress=progress,
            fingerprints=fingerprints,
        )
    finally:
        session.close()
    _record_run(
        spec,
        out_dir,
        run_id,
        started,
        pending=len(todo),
        finished_before=len(result.skipped),
        done=len(result.done),
        failed=sorted(result.failed),
    )
    return result


def _bags_of_words(
    ray, spec: SweepSpec, out_dir: Path, todo: list[Trial], retries: int, fingerprints: dict | None
) -> dict:
    """One bag of words per dataset whose pending trials analyze: the file in ``DIR/datasets/<label>/`` when it
    records the corpus's data fingerprint (``fingerprints``, from the checks), else a task that fits it (or
    finds it fitted on this corpus), which the trials of that dataset depend on."""
    from rnnlens.data.load import TASKS
    from rnnlens.sweep.trial import bag_of_words_fingerprint, fit_dataset_baseline

    bow_task = ray.remote(fit_dataset_baseline)
    bows = {}
    for ds in spec.datasets:
        if (
            spec.bag_of_words
            and "analyze" in spec.stages
            and ds.name not in TASKS  # a generated task has no words
            and any(t.dataset.label == ds.label for t in todo)
        ):
            path = out_dir / "datasets" / ds.label / "bag_of_words.json"
            known = (fingerprints or {}).get(ds.label)
            if known is not None and bag_of_words_fingerprint(path) == known:
                bows[ds.label] = str(path)
            else:
                bows[ds.label] = bow_task.options(
                    num_cpus=min(1.0, spec.num_cpus) or 1.0, max_retries=retries, name=f"bag of words {ds.label}"
                ).remote({"label": ds.label, **ds.corpus_key()}, str(path))
    return bows


def _schedule(
    ray,
    spec: SweepSpec,
    out_dir: Path,
    todo: list[Trial],
    run_id: str,
    result: SweepResult,
    *,
    max_concurrent,
    retries,
    progress,
    fingerprints: dict | None = None,
) -> None:
    from rnnlens.sweep.trial import run_trial

    trial_task = ray.remote(run_trial)
    bows = _bags_of_words(ray, spec, out_dir, todo, retries, fingerprints)
    queue = list(todo)
    in_flight: dict = {}  # ObjectRef -> Trial
    errors_retried: dict[str, int] = {}
    bar = _Progress(len(spec.trials), len(result.skipped), progress)

    def submit(t: Trial):
        ref = trial_task.options(
            num_cpus=t.num_cpus, num_gpus=t.num_gpus, max_retries=retries, retry_exceptions=False, name=f"trial {t.id}"
        ).remote(_payload(t), str(trial_dir(out_dir, t)), run_id, bows.get(t.dataset.label))
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
                    out = {
                        "id": t.id,
                        "state": "failed",
                        "retryable": False,
                        "error": _ray_error(exc, retries, t.dataset.label, bows),
                    }
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
        if not isinstance(bows.get(label), (str, type(None))):  # the trial depended on a bag-of-words task
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
        st = {
            "schema": "rnnlens-sweep-trial/1",
            "id": t.id,
            "config_hash": t.config_hash(),
            "config": t.config(),
            "attempts": [],
            "stages": {},
            "results": {},
        }
    for a in st.get("attempts", []):
        if a.get("ended") is None:
            a["ended"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            a["outcome"] = "worker died"
            a["error"] = error
    st.update(state="failed", error=error)
    write_json_atomic(d / STATUS_FILE, st)
