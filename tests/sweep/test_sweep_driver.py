"""The driver's bookkeeping without Ray (a stand-in with remote / wait / get): exceptions resubmitted up to
--retries times, rnnlens' own errors not, a trial Ray gave up on recorded as failed; the others go on."""

import json

import pytest

from rnnlens.sweep.driver import SweepResult, _schedule, trial_dir
from rnnlens.sweep.spec import parse_spec


class FakeRay:
    """Runs each submitted call at once; ``script(trial_id, n)`` says what the n-th call of a trial returns
    (a dict) or raises."""

    def __init__(self, script):
        self.script, self.calls, self.options = script, {}, []

    def remote(self, fn):
        fake = self

        class Task:
            def options(self, **kw):
                fake.options.append((fn.__name__, kw))
                return self

            def remote(self, *args):
                if fn.__name__ != "run_trial":
                    return Ref(args[-1])
                tid = args[0]["id"]
                n = fake.calls[tid] = fake.calls.get(tid, 0) + 1
                try:
                    return Ref(fake.script(tid, n))
                except Exception as exc:  # what ray.get would raise
                    return Ref(error=exc)

        return Task()

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if ref.error is not None:
            raise ref.error
        return ref.value


class Ref:
    def __init__(self, value=None, error=None):
        self.value, self.error = value, error


class WorkerCrashedError(Exception):
    pass


def ok(tid, n):
    return {"id": tid, "state": "done", "error": None, "retryable": False, "attempt": n}


def failed(tid, n, retryable):
    return {"id": tid, "state": "failed", "error": f"boom {n}", "retryable": retryable, "attempt": n}


@pytest.fixture
def spec():
    return parse_spec(
        {
            "architectures": ["gru", "vanilla", "lstm"],
            "stages": ["train"],
            "datasets": [{"name": "synthetic", "options": {"n_train": 20}}],
        },
        path="s.toml",
    )


def run(spec, tmp_path, script, retries=2):
    ray = FakeRay(script)
    result = SweepResult(out_dir=tmp_path)
    _schedule(ray, spec, tmp_path, list(spec.trials), "run1", result, max_concurrent=2, retries=retries, progress=False)
    return ray, result


def test_exceptions_are_retried_then_reported_and_the_others_finish(spec, tmp_path):
    gru, vanilla, lstm = (t.id for t in spec.trials)

    def script(tid, n):
        if tid == gru:
            return failed(tid, n, retryable=True) if n < 3 else ok(tid, n)  # passes on the 3rd attempt
        if tid == vanilla:
            return failed(tid, n, retryable=True)  # never passes
        return failed(tid, n, retryable=False) if tid == lstm and n == 1 else ok(tid, n)

    ray, result = run(spec, tmp_path, script, retries=2)
    assert ray.calls == {gru: 3, vanilla: 3, lstm: 1}
    assert result.done == [gru]
    assert set(result.failed) == {vanilla, lstm} and result.failed[vanilla] == "boom 3"
    trial_opts = [kw for name, kw in ray.options if name == "run_trial"]
    assert all(kw["max_retries"] == 2 and kw["num_cpus"] == 1 and kw["num_gpus"] == 0 for kw in trial_opts)


def test_no_retries_means_one_attempt(spec, tmp_path):
    ray, result = run(spec, tmp_path, lambda tid, n: failed(tid, n, retryable=True), retries=0)
    assert set(ray.calls.values()) == {1} and len(result.failed) == 3


def test_a_trial_ray_gave_up_on_is_recorded_as_failed(spec, tmp_path):
    gru = spec.trials[0].id
    d = trial_dir(tmp_path, gru)
    d.mkdir(parents=True)
    (d / "status.json").write_text(
        json.dumps(
            {
                "id": gru,
                "state": "running",
                "attempts": [
                    {"n": 1, "run": "run1", "pid": 1, "host": "h", "started": "t", "ended": None, "outcome": None}
                ],
            }
        )
    )

    def script(tid, n):
        if tid == gru:
            raise WorkerCrashedError("the worker died")
        return ok(tid, n)

    ray, result = run(spec, tmp_path, script, retries=1)
    assert ray.calls[gru] == 1  # Ray's own restarts happen inside ray.get; the driver does not add more
    assert "died 2 times" in result.failed[gru]
    st = json.loads((d / "status.json").read_text())
    assert st["state"] == "failed" and st["attempts"][0]["outcome"] == "worker died"
    assert len(result.done) == 2


def test_unreachable_address_fails_fast_naming_it(tmp_path, tiny_spec):
    pytest.importorskip("ray")
    from rnnlens.errors import ArgumentError
    from rnnlens.sweep.driver import run_sweep

    with pytest.raises(ArgumentError, match=r"--address 127\.0\.0\.1:1: nothing accepts connections"):
        run_sweep(tiny_spec, tmp_path / "out", address="127.0.0.1:1", progress=False)
    with pytest.raises(ArgumentError, match="size a local Ray"):
        run_sweep(tiny_spec, tmp_path / "out", address="auto", num_cpus=2, progress=False)
    with pytest.raises(ArgumentError, match="retries must be an integer >= 0"):
        run_sweep(tiny_spec, tmp_path / "out", retries=-1, progress=False)
