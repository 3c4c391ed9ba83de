"""The sweep on a local Ray with 2 CPUs: 4 tiny trials finish with a summary; a killed worker's trial is
retried and completes; a killed driver's sweep, rerun, finishes only the trials that were not finished.

The kills are real: SIGKILL to the Ray worker process (its pid is in the trial's status.json) and to the
driver process (`rnnlens sweep` in a subprocess)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

pytestmark = pytest.mark.slow
DRIVER = [sys.executable, "-c", "from rnnlens.cli import main; main()", "sweep"]


def status(out: Path, tid: str) -> dict:
    try:
        return json.loads((out / "trials" / tid / "status.json").read_text())
    except (OSError, ValueError):
        return {}


def statuses(out: Path) -> dict:
    d = out / "trials"
    return {p.name: status(out, p.name) for p in d.iterdir()} if d.is_dir() else {}


def wait_for(pred, proc, timeout: float, what: str):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        got = pred()
        if got:
            return got
        if proc.poll() is not None:
            raise AssertionError(f"the driver exited ({proc.returncode}) before {what}:\n{proc.stdout.read()}")
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def start_driver(spec: Path, out: Path, *more) -> subprocess.Popen:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", MPLBACKEND="Agg")
    return subprocess.Popen(
        [*DRIVER, str(spec), "-o", str(out), "--num-cpus", "2", "--no-progress", *more],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )


def end_group(proc: subprocess.Popen) -> None:
    """Kill what is left of the process group the test started (Ray's helper processes of a killed driver)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=30)


def test_four_trials_finish_with_summary_and_rerun_skips_them(tmp_path, tiny_spec):
    from rnnlens.sweep import load_spec, run_sweep

    out = tmp_path / "sweep"
    t0 = time.perf_counter()
    r = run_sweep(tiny_spec, out, num_cpus=2, progress=False)
    first = time.perf_counter() - t0
    assert sorted(r.done) == sorted(t.id for t in load_spec(tiny_spec).trials) and not r.failed
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert len(rows) == 4 and {row["state"] for row in rows} == {"done"}
    for row in rows:
        assert 0 <= float(row["test_accuracy"]) <= 1
        assert float(row["abs_lambda1_median"]) > 0 and row["one_dimensionality"] and row["readout_alignment"]
        st = status(out, row["trial"])
        assert [a["outcome"] for a in st["attempts"]] == ["done"]
        assert set(st["stages"]) == {"train", "evaluate", "analyze"}
        assert (out / "trials" / row["trial"] / "analysis" / "summary.json").is_file()
        assert "epoch 1" in (out / "trials" / row["trial"] / "log.txt").read_text()
    comp = json.loads((out / "comparison.json").read_text())
    agree = comp["valence_agreement"]["synthetic"]
    assert len(agree["pairwise"]) == 4 and agree["pairs"]["all"]["n"] == 6 and len(agree["vs_bow"]) == 4
    assert {e["arch"] for e in comp["spread"]} == {"gru", "vanilla"}
    assert "abs_lambda1_median" in comp["columns"]
    html = (out / "report" / "report.html").read_text()
    assert "Agreement of word valences" in html
    assert (out / "report" / "line_attractor_across_trials.png").stat().st_size > 1000
    assert (out / "report" / "valence_agreement_synthetic.png").is_file()

    t0 = time.perf_counter()
    again = run_sweep(tiny_spec, out, num_cpus=2, progress=False)
    assert again.done == [] and len(again.skipped) == 4
    assert time.perf_counter() - t0 < first / 2  # no Ray started, nothing trained
    for row in rows:
        assert len(status(out, row["trial"])["attempts"]) == 1


# a corpus every check before the start accepts, whose bag of words fails inside Ray: class "c" has no
# training document
BROKEN_DATASET = """
[[datasets]]
name = "csv"
label = "missing"
options = {{ path = "{path}", test = "{path}", label_names = ["a", "b", "c"] }}
"""


def test_killed_worker_is_retried_and_completes_and_a_failed_trial_stops_nothing(tmp_path, spec_writer):
    two = tmp_path / "two-classes.csv"
    two.write_text("text,label\n" + "".join(f"good movie {i},a\nbad film {i},b\n" for i in range(30)))
    spec = spec_writer(tmp_path, architectures=["gru"], seeds=[0], extra=BROKEN_DATASET.format(path=two))
    out = tmp_path / "sweep"
    proc = start_driver(spec, out, "--retries", "2")
    try:

        def first_attempt_running():
            for tid, st in statuses(out).items():
                if st.get("state") == "running" and len(st.get("attempts", [])) == 1:
                    return tid, st["attempts"][0]["pid"]

        tid, pid = wait_for(first_attempt_running, proc, 120, "the trial started")
        os.kill(pid, signal.SIGKILL)
        text, _ = proc.communicate(timeout=180)
    finally:
        end_group(proc)
    assert proc.returncode == 1, text  # one trial failed; the other still ran
    assert tid.startswith("synthetic-")
    st = status(out, tid)
    assert st["state"] == "done"
    outcomes = [a["outcome"] for a in st["attempts"]]
    assert outcomes == ["worker died", "done"], st["attempts"]
    assert st["attempts"][0]["pid"] == pid and st["attempts"][1]["pid"] != pid
    assert st["attempts"][0]["run"] == st["attempts"][1]["run"]  # restarted within the same run
    assert "1 trials finished in this run" in text and "1 failed" in text
    broken = [t for t, x in statuses(out).items() if t.startswith("missing-")]
    assert len(broken) == 1 and status(out, broken[0])["state"] == "failed"
    error = status(out, broken[0])["error"]
    assert "bag of words of dataset missing failed" in error and "every class needs training documents" in error
    assert f"FAILED {broken[0]}" in text
    rows = {row["trial"]: row for row in csv.DictReader(open(out / "summary.csv"))}
    assert rows[tid]["state"] == "done" and rows[broken[0]]["state"] == "failed"


def test_killed_driver_rerun_finishes_only_the_remaining_trials(tmp_path, spec_writer):
    # 12 epochs without early stopping (about 1-2 s of training): the driver is killed while a trial trains
    tiny_spec = spec_writer(tmp_path, epochs=12, extra_settings="patience = 0")
    out = tmp_path / "sweep"
    proc = start_driver(tiny_spec, out, "--max-concurrent", "1")
    try:

        def one_done_one_running():
            states = [st.get("state") for st in statuses(out).values()]
            return "done" in states and "running" in states

        wait_for(one_done_one_running, proc, 150, "a trial finished and the next one started")
        os.kill(proc.pid, signal.SIGKILL)  # the driver; Ray's processes follow it
    finally:
        end_group(proc)
    # Ray's workers end when their raylet does; one may still finish its trial meanwhile (the rerun then skips it)
    time.sleep(3.0)
    before = statuses(out)
    finished = {tid for tid, st in before.items() if st.get("state") == "done"}
    assert 1 <= len(finished) < 4
    cut = {tid for tid, st in before.items() if st.get("state") == "running"}  # killed mid-run
    first_run = before[next(iter(finished))]["attempts"][0]["run"]

    rerun = start_driver(tiny_spec, out)
    try:
        text, _ = rerun.communicate(timeout=240)
    finally:
        end_group(rerun)
    assert rerun.returncode == 0, text
    after = statuses(out)
    assert len(after) == 4 and all(st["state"] == "done" for st in after.values())
    assert f"{len(finished)} were finished before" in text
    for tid, st in after.items():
        runs = [a["run"] for a in st["attempts"]]
        if tid in finished:  # untouched by the rerun
            assert st["attempts"] == before[tid]["attempts"]
        else:  # finished by the rerun; an attempt cut by the kill is recorded as such
            assert runs[-1] != first_run and st["attempts"][-1]["outcome"] == "done"
            assert all(a["outcome"] == "interrupted" for a in st["attempts"][:-1]), st["attempts"]
            assert len(st["attempts"]) == (2 if tid in cut else 1)
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert len(rows) == 4 and {row["state"] for row in rows} == {"done"}
    sweep = json.loads((out / "sweep.json").read_text())
    assert len(sweep["runs"]) == 2
