"""The whole-job commands through the CLI, with their numbers recomputed independently.

`reproduce` on a tiny synthetic corpus (one epoch, one architecture) and `demo` on a slice of IMDB:
each value the user reads (accuracy table, fixed points, documents analysed, paper checks) is recomputed
here from the saved model and the corpus, not only checked to exist.
"""

import html as html_lib
import json
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from safetensors.numpy import load_file

from rnnlens.baseline import load_bag_of_words
from rnnlens.checkpoint import load_checkpoint
from rnnlens.cli import main
from rnnlens.data import load_corpus, tokenize
from rnnlens.data.corpus import Split
from rnnlens.training import evaluate

CORPUS = dict(n_train=2000, n_validation=200, n_test=250, min_length=8, max_length=20, n_neutral=20, n_per_valence=10)


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _recomputed_q(model, fixed_points: dict) -> np.ndarray:
    """q = (1/S)||F(h*, x*) - h*||^2 from the saved points and inputs, one float64 step of the saved cell."""
    cell = model.cell.double()
    h = torch.as_tensor(fixed_points["points"], dtype=torch.float64)
    x = torch.as_tensor(fixed_points["inputs"], dtype=torch.float64)
    with torch.no_grad():
        return ((cell.step(x, h) - h) ** 2).mean(1).numpy()


def _analysed_rows(n_total: int, n_docs: int, seed: int) -> np.ndarray:
    # the documented rule: a seeded random subset, in corpus order
    return np.sort(np.random.default_rng(seed).choice(n_total, n_docs, replace=False))


def _check_fixed_points(folder, summary, model):
    fp = load_file(str(folder / "fixed_points.safetensors"))
    q = _recomputed_q(model, fp)
    assert np.allclose(q, fp["q"], rtol=0.05, atol=1e-12)
    tol = summary["settings"]["fixed_points"]["tol"]
    m = summary["metrics"]["fixed_points"]
    assert m["n_seeds"]["value"] == len(q) == summary["settings"]["fixed_points"]["n_seeds"]
    assert m["n_converged"]["value"] == int((fp["q"] < tol).sum())
    assert abs(m["n_converged"]["value"] - int((q < tol).sum())) <= max(1, len(q) // 100)
    assert m["q_median"]["value"] == pytest.approx(float(np.median(fp["q"])), rel=1e-6)


def _check_checks(summary, html):
    metrics = summary["metrics"]
    for c in summary["checks"]:
        assert c["passed"] is not None, c  # evaluated, not "NOT CHECKED"
        section, _, name = c["metric"].partition(".")
        assert c["value"] == pytest.approx(metrics[section][name]["value"], rel=1e-12), c["name"]
        # the report prints the check with the measured value and its threshold
        assert html_lib.escape(c["detail"]) in html, c["detail"]
    return {c["name"]: c["passed"] for c in summary["checks"]}


def test_reproduce_one_epoch_one_architecture_through_the_cli(tmp_path):
    out = tmp_path / "rep"
    opts = [x for k, v in CORPUS.items() for x in ("--option", f"{k}={v}")]
    r = _run(
        "reproduce",
        "--dataset",
        "synthetic",
        *opts,
        "--arch",
        "gru",
        "--epochs",
        1,
        "--hidden",
        16,
        "--embed",
        8,
        "--batch-size",
        16,
        "--lr",
        0.02,
        "--threads",
        1,
        "--n-docs",
        60,
        "--n-seeds",
        40,
        "-o",
        out,
    )
    assert r.exit_code == 0, r.output
    corpus = load_corpus("synthetic", **CORPUS)
    test = corpus.splits["test"]

    # training: exactly one epoch at the requested learning rate
    ck = load_checkpoint(out / "models" / "gru")
    m = ck.record["metrics"]
    assert m["epochs_run"] == 1 and len(m["history"]) == 1 and m["history"][0]["lr"] == 0.02
    assert ck.record["settings"]["hidden_size"] == 16 and ck.model.hidden_size == 16

    # the accuracy table: the saved network and bag of words re-evaluated here on the test split
    acc = json.loads((out / "accuracy.json").read_text())["accuracy"]
    assert acc["gru"] == pytest.approx(100 * evaluate(ck.model, ck.vocab, test)["accuracy"], abs=1e-9)
    bow = load_bag_of_words(out / "baseline")
    assert acc["baseline"] == pytest.approx(100 * float(np.mean(bow.predict(test.texts) == test.labels)), abs=1e-9)
    assert acc["gru"] > 80 and acc["baseline"] > 90  # the synthetic language is easy; one epoch learns most of it
    for name in ("gru", "baseline"):
        assert f"{acc[name]:.2f}" in r.output

    # the analysis: documents, their accuracy, the fixed points
    folder = out / "analysis" / "gru"
    summary = json.loads((folder / "summary.json").read_text())
    data = summary["metrics"]["data"]
    assert data["n_docs"]["value"] == 60
    rows = _analysed_rows(len(test.texts), 60, summary["settings"]["documents"]["seed"])
    sub = Split(texts=[test.texts[i] for i in rows], labels=np.asarray(test.labels)[rows])
    assert data["rnn_accuracy"]["value"] == evaluate(ck.model, ck.vocab, sub)["accuracy"]
    _check_fixed_points(folder, summary, ck.model)

    # the report shows the table and every check, each one evaluated
    html = (out / "report" / "report.html").read_text()
    assert f"{acc['gru']:.2f}" in html and "Test accuracy on synthetic" in html
    _check_checks(summary, html)
    # the synthetic language's valence is known: the bag of words' positive words read positive
    sm = summary["metrics"]["slow_manifold"]
    assert sm["positive_mean"]["value"] > 0 > sm["negative_mean"]["value"]


@pytest.mark.realdata
@pytest.mark.slow
def test_demo_on_a_slice_of_imdb_through_the_cli(tmp_path, real_corpus_dir):
    data = real_corpus_dir("imdb").parent
    out = tmp_path / "demo"
    r = _run("demo", "--arch", "gru", "--n-docs", 150, "--n-seeds", 120, "--offline", "--data-dir", data, "-o", out)
    assert r.exit_code == 0, r.output
    assert re.search(r"demo finished in [0-9.]+ s", r.output) and "report.html" in r.output

    from rnnlens.workflows import pretrained_checkpoints

    ck = load_checkpoint(pretrained_checkpoints()["gru"])
    folder = out / "analysis" / "imdb-gru"
    summary = json.loads((folder / "summary.json").read_text())
    settings = summary["settings"]
    assert settings["documents"]["n_docs"] == 150 and settings["fixed_points"]["n_seeds"] == 120
    assert settings["linearization"]["n_linear_docs"] == 200  # the demo's preset; 150 documents there
    assert summary["metrics"]["linearization"]["linear_accuracy"]["definition"].startswith("accuracy on 150 documents")

    # the shipped network was trained on exactly this corpus, and the analysis says so
    corpus = load_corpus("imdb", data_dir=data, download=False)
    assert ck.record["data_fingerprint"] == corpus.fingerprint()
    assert summary["provenance"]["trained_on_same_corpus"] is True
    # the 150 reviews analysed are the seeded subset of the test split; the accuracy on them recomputed
    test = corpus.splits["test"]
    rows = _analysed_rows(len(test.texts), 150, summary["settings"]["documents"]["seed"])
    sub = Split(texts=[test.texts[i] for i in rows], labels=np.asarray(test.labels)[rows])
    assert summary["metrics"]["data"]["n_docs"]["value"] == 150
    assert summary["metrics"]["data"]["rnn_accuracy"]["value"] == evaluate(ck.model, ck.vocab, sub)["accuracy"]
    # one visited state per token
    assert summary["metrics"]["data"]["n_states"]["value"] == sum(len(tokenize(t)) for t in sub.texts)
    _check_fixed_points(folder, summary, ck.model)

    # the table: the shipped network's recorded accuracy beside the paper's GRU number
    html = (out / "report" / "report.html").read_text()
    assert f"{100 * ck.record['metrics']['test']['accuracy']:.2f} (86.86)" in html
    assert "Checks against the paper" in html
    # the shipped GRU shows the line attractor even on 150 reviews: every paper check evaluated, and the
    # five on the traced slow manifold (the README's "paper checks" column) pass, as on 1,000 reviews
    passed = _check_checks(summary, html)
    from rnnlens.analysis.checks import PAPER_CHECKS

    assert set(passed) == {c[0] for c in PAPER_CHECKS}
    manifold = [c[0] for c in PAPER_CHECKS if c[2].startswith("slow_manifold.")]
    assert len(manifold) == 5 and all(passed[n] for n in manifold), passed
    assert summary["metrics"]["slow_manifold"]["median_abs_dev_lambda1"]["value"] < 0.02
