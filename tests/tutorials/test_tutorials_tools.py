"""The tools tutorials' scripts (examples/tutorials/explore.py, sweep.py) run at small sizes and show what their
pages say they show: the shipped IMDB GRU read through the explore app, a two-trial sweep on a local Ray."""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request

import pytest

# a quick analysis small enough for a test (about 4 s for the 64-unit GRU on one thread)
SMALL_ANALYSIS = {
    "n_docs": 80,
    "n_seeds": 40,
    "manifold_points": 24,
    "n_transitions": 2000,
    "n_speed": 20,
    "speed_steps": 20,
    "tol_sweep": [],
    "relax_steps": 60,
    "n_contexts": 30,
    "n_boot": 0,
    "n_eig_contexts": 0,
}


@pytest.fixture
def explored(tutorial, real_corpus_dir):
    """The explore tutorial's module and its --query run (the quick analysis reads IMDB test reviews)."""
    pytest.importorskip("fastapi", reason="the explore extra is not installed (pip install 'rnnlens[explore]')")
    import torch

    real_corpus_dir("imdb")
    torch.set_num_threads(1)
    settings = [a for key, value in SMALL_ANALYSIS.items() for a in ("--setting", f"{key}={json.dumps(value)}")]
    texts = [a for text in ("good", "not good", "bad", "a wonderful film", "zzzq") for a in ("--text", text)]
    script = tutorial("explore")
    return script, script.main(["--query", *settings, *texts, "--words", "10"])


def test_explore_reads_the_shipped_gru_as_the_page_shows_it_and_serves_it(explored):
    script, explored = explored
    (model,) = explored["models"]
    reads = {text: by_model[model.name] for text, by_model in explored["reads"].items()}
    good, not_good, bad = reads["good"], reads["not good"], reads["bad"]
    # the verdicts: "good" positive, "bad" and "not good" negative, and the probabilities are the readout's
    assert good["readout"][-1] > 1.0 and bad["readout"][-1] < -2.0 and not_good["readout"][-1] < -0.3
    for d in (good, not_good, bad):
        assert d["probs"][-1][1] == pytest.approx(1 / (1 + math.exp(-d["readout"][-1])), abs=1e-3)
        assert len(d["readout"]) == len(d["tokens"]) + 1 == len(d["pc"])
    # "not" pushes down along the line and about halves the push of the "good" after it (settled pushes)
    assert not_good["settled"][0] < -1.0
    assert 0 < not_good["settled"][1] < 0.6 * good["settled"][0]
    assert reads["a wonderful film"]["settled"][1] > 2.0  # "wonderful" carries the review
    assert reads["zzzq"]["unknown"] == [True] and any("not in the vocabulary" in n for n in reads["zzzq"]["notes"])
    # the word panel and the scene: a line attractor with a saddle between two stable fixed points
    words = explored["words"][model.name]
    assert words["positive"][0]["push"] > 0.2 > -0.2 > words["negative"][0]["push"]
    assert {"perfect", "brilliant"} <= {w["word"] for w in words["positive"]}
    assert {"horrible", "insult"} <= {w["word"] for w in words["negative"]}
    scene = explored["scene"][model.name]
    assert scene["fixed_points"]["unstable"] == [0, 1, 0]
    assert all(0.98 < lam < 1.03 for lam in scene["line"]["abs_lambda1"])
    factor = scene["modifiers"]["factor"]
    assert factor["not"][0] < 0.7 and factor["very"][0] > 1.2  # "not" dampens, "very" amplifies
    # the same models served as `rnnlens explore` serves them, on a free port
    server, sock, url = script.make_server(explored["models"], "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        while not server.started and time.monotonic() - started < 20:
            time.sleep(0.02)
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.status == 200 and "rnnlens" in page.read().decode()
        with urllib.request.urlopen(url + "api/models", timeout=10) as models:
            assert [m["name"] for m in json.load(models)["models"]] == ["imdb-gru"]
    finally:
        server.should_exit = True
        thread.join(10)


# training 1,000 short synthetic documents of a 22-word language: a GRU of 8 units learns it in 3 epochs
SWEEP_ARGS = [
    *("--dataset", "synthetic", "--archs", "gru", "--seeds", "2"),
    *("--hidden", "8", "--embed", "8", "--epochs", "3", "--lr", "0.02"),
    *(a for o in ("n_train=1000", "n_validation=100", "n_test=100") for a in ("--option", o)),
    *(a for o in ("min_length=8", "max_length=16", "n_neutral=10", "n_per_valence=3") for a in ("--option", o)),
    # one CPU: one Ray worker imports torch (two competed for the 2 cores: slower, not faster)
    *("--small-analysis", "--no-bow", "--no-report", "--num-cpus", "1"),
]


@pytest.mark.slow
def test_sweep_runs_two_trials_on_a_local_ray_and_a_rerun_skips_them(tmp_path, tutorial):
    pytest.importorskip("ray")
    from rnnlens.sweep import load_spec

    sweep = tutorial("sweep")
    out = tmp_path / "sweep"
    got = sweep.main(["--out", str(out), *SWEEP_ARGS])
    spec = load_spec(tmp_path / "sweep.toml")  # the SPEC the script wrote
    assert len(spec.trials) == 2 and spec.trials[0].num_cpus == 1
    assert sorted(got["result"].done) == sorted(t.id for t in spec.trials) and not got["result"].failed
    rows = got["rows"]
    assert [r["state"] for r in rows] == ["done", "done"] and {r["seed"] for r in rows} == {"0", "1"}
    for row in rows:
        # each tiny GRU learned the task and integrates along a line: |lambda_1| near 1, states nearly 1-D
        assert float(row["test_accuracy"]) > 0.85
        assert 0.85 < float(row["abs_lambda1_median"]) < 1.2 and float(row["one_dimensionality"]) > 0.9
        assert float(row["spearman_truth"]) > 0.5  # its word valences rank as the language's true ones
        status = json.loads((out / "trials" / row["trial"] / "status.json").read_text())
        assert status["attempts"][-1]["outcome"] == "done" and status["attempts"][-1]["node"]
    agreement = got["comparison"]["valence_agreement"]["synthetic"]["pairwise"]
    assert agreement[0][1] > 0.3  # the two seeds' valences agree
    # a rerun of the same command finds both trials finished and starts no Ray
    started = time.perf_counter()
    again = sweep.main(["--out", str(out), *SWEEP_ARGS])
    assert sorted(again["result"].skipped) == sorted(got["result"].done) and not again["result"].done
    assert time.perf_counter() - started < 3
    assert again["rows"] == rows
