"""One trial in this process (no Ray): stages, the attempt records, and what a rerun redoes."""

import json

from rnnlens.sweep.driver import _payload
from rnnlens.sweep.spec import load_spec, parse_spec
from rnnlens.sweep.trial import fit_dataset_baseline, run_trial


def test_trial_stages_attempts_and_rerun(tmp_path, tiny_spec):
    spec = load_spec(tiny_spec)
    t = spec.trials[0]
    bow = fit_dataset_baseline({"label": t.dataset.label, **t.dataset.corpus_key()}, str(tmp_path / "bow.json"))
    d = tmp_path / "trial"
    import torch

    threads = torch.get_num_threads()
    r = run_trial(_payload(t), str(d), "run-a", bow)
    assert r["state"] == "done" and r["attempt"] == 1
    assert torch.get_num_threads() == threads  # the trial's 1 thread does not stay with the process
    st = json.loads((d / "status.json").read_text())
    assert set(st["stages"]) == {"train", "evaluate", "analyze"} and 0 <= st["results"]["test_accuracy"] <= 1
    ck_mtime = (d / "checkpoint" / "model.safetensors").stat().st_mtime_ns

    # an attempt of an earlier run that never ended (driver killed) is closed as interrupted; nothing is redone
    st["attempts"].append(
        {"n": 2, "run": "run-b", "pid": 1, "host": "elsewhere", "started": "t", "ended": None, "outcome": None}
    )
    (d / "status.json").write_text(json.dumps(st))
    r = run_trial(_payload(t), str(d), "run-c", bow)
    st = json.loads((d / "status.json").read_text())
    assert [a["outcome"] for a in st["attempts"]] == ["done", "interrupted", "done"]
    assert (d / "checkpoint" / "model.safetensors").stat().st_mtime_ns == ck_mtime

    # other analysis options: same trial id, the analysis is redone, the training is not
    raw = dict(spec.raw, analysis=dict(spec.raw["analysis"], n_docs=30))
    t2 = next(x for x in parse_spec(raw, path=tiny_spec).trials if x.id == t.id)
    assert t2.config_hash() != t.config_hash()
    r = run_trial(_payload(t2), str(d), "run-d", bow)
    assert r["state"] == "done"
    summary = json.loads((d / "analysis" / "summary.json").read_text())
    assert summary["metrics"]["data"]["n_docs"]["value"] == 30
    assert (d / "checkpoint" / "model.safetensors").stat().st_mtime_ns == ck_mtime
    assert "=== attempt 4" in (d / "log.txt").read_text()


def test_user_error_is_recorded_and_not_retryable(tmp_path, tiny_spec):
    spec = load_spec(tiny_spec)
    raw = dict(spec.raw, analysis=dict(spec.raw["analysis"], modifiers=["zzzz"]))
    t = parse_spec(raw, path=tiny_spec).trials[0]
    d = tmp_path / "trial"
    r = run_trial(_payload(t), str(d), "run-a", None)
    assert r["state"] == "failed" and not r["retryable"] and "zzzz" in r["error"]
    st = json.loads((d / "status.json").read_text())
    assert st["state"] == "failed" and st["attempts"][0]["outcome"] == "error"
    assert "Traceback" in (d / "log.txt").read_text()


def test_trial_waits_for_a_lock_a_live_process_holds(tmp_path, tiny_spec):
    import os
    import socket
    import subprocess
    import sys
    import threading
    import time

    t = load_spec(tiny_spec).trials[0]
    d = tmp_path / "trial"
    d.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3)"])
    threading.Thread(target=holder.wait, daemon=True).start()  # reaped when it ends (a zombie looks alive)
    try:
        (d / ".checkpoint.lock").write_text(
            json.dumps(
                {"pid": holder.pid, "host": socket.gethostname(), "command": "an earlier attempt", "started": "t"}
            )
        )
        t0 = time.monotonic()
        r = run_trial(_payload(t), str(d), "run-a", None)
    finally:
        holder.wait()
    assert r["state"] == "done", r
    assert time.monotonic() - t0 >= 2.5
    assert "waiting (up to" in (d / "log.txt").read_text()
    assert not (d / ".checkpoint.lock").exists() and os.path.isdir(d / "checkpoint")
