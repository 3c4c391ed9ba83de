"""The rnnlens command line: train / evaluate / baseline through click, and the real console script."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnnlens.checkpoint import load_checkpoint
from rnnlens.cli import main
from rnnlens.data import load_corpus
from rnnlens.training import evaluate

OPTS = [
    "--option",
    "n_train=800",
    "--option",
    "n_validation=200",
    "--option",
    "n_test=250",
    "--option",
    "min_length=8",
    "--option",
    "max_length=20",
    "--option",
    "n_neutral=20",
    "--option",
    "n_per_valence=10",
]
CORPUS = dict(n_train=800, n_validation=200, n_test=250, min_length=8, max_length=20, n_neutral=20, n_per_valence=10)


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "gru"
    r = _run(
        "train",
        "--dataset",
        "synthetic",
        *OPTS,
        "--arch",
        "gru",
        "--hidden",
        16,
        "--embed",
        8,
        "--epochs",
        3,
        "--batch-size",
        32,
        "--lr",
        0.02,
        "--threads",
        1,
        "--max-length",
        15,
        "--out",
        out,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    (out.parent / "train_stderr.txt").write_text(r.stderr)
    return out, r.output


def test_train_prints_labelled_numbers(checkpoint):
    out, text = checkpoint
    ck = load_checkpoint(out)
    m = ck.record["metrics"]
    assert f"best validation accuracy (fraction correct, n=200): {m['validation']['accuracy']:.4f}" in text
    assert f"(epoch {m['best_epoch']} of 3 run)" in text
    cut = m["n_truncated"]
    assert cut["train"] > 0
    assert f"documents cut to --max-length 15 tokens: {cut['train']} train, {cut['validation']} validation" in text
    assert f"checkpoint: {out}" in text
    assert ck.record["settings"]["hidden_size"] == 16 and ck.record["settings"]["max_length"] == 15
    assert ck.record["data_info"]["options"]["n_train"] == 800


def test_train_no_progress_still_prints_one_line_per_epoch(checkpoint):
    out, _ = checkpoint
    text = (out.parent / "train_stderr.txt").read_text()
    lines = [ln for ln in text.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1", "epoch 2", "epoch 3"], text
    pattern = (
        r"epoch \d: train loss \(mean nats/doc\) \d\.\d{4}, train accuracy \(running, fraction correct\) "
        r"\d\.\d{4}, validation accuracy \(fraction correct, n=200\) \d\.\d{4}, \d+ tokens/s, "
        r"\d+\.\d s training \+ \d+\.\d s validation"
    )
    assert all(re.fullmatch(pattern, ln) for ln in lines), lines


def test_evaluate_reuses_the_training_corpus_and_max_length(checkpoint):
    out, _ = checkpoint
    r = _run("evaluate", out, "--split", "test")
    assert r.exit_code == 0, r.output
    ck = load_checkpoint(out)
    want = evaluate(ck.model, ck.vocab, load_corpus("synthetic", **CORPUS).splits["test"], max_length=15)
    assert f"test accuracy (fraction correct, n=250): {want['accuracy']:.4f}" in r.output
    assert f"test loss (mean logistic loss, nats per document): {want['loss']:.4f}" in r.output
    assert f"documents cut to 15 tokens: {want['n_truncated']} of 250" in r.output
    assert "note:" not in r.output


def test_evaluate_on_other_data_warns(checkpoint):
    out, _ = checkpoint
    r = _run("evaluate", out, "--split", "validation", *OPTS, "--data-seed", 1)
    assert r.exit_code == 0
    assert "note: this corpus differs from the one the model was trained on" in r.output
    assert "validation accuracy (fraction correct, n=200): " in r.output


def test_baseline_command(tmp_path):
    r = _run("baseline", *OPTS, "-o", tmp_path / "bow", "--C", 0.1, "--C", 1.0)
    assert r.exit_code == 0, r.output
    saved = json.loads((tmp_path / "bow" / "bag_of_words.json").read_text())
    for split in ("train", "validation", "test"):
        assert f"{split} accuracy (fraction correct, n={saved['n'][split]}): {saved['accuracy'][split]:.4f}" in r.output
    assert f"C={saved['C']:g}" in r.output
    top = re.search(r"most positive words \(largest coefficients\): (.*)", r.output).group(1).split()
    assert len(top) == 10 and all(w.startswith(("pos", "spos")) for w in top)


@pytest.mark.parametrize(
    "args,message",
    [
        (["evaluate", "{tmp}/missing"], "missing: no checkpoint folder here"),
        (["train", "--epochs", "0", "--out", "{tmp}/x"], "training setting epochs=0 is invalid"),
        (["train", "--option", "n_train", "--out", "{tmp}/x"], "--option 'n_train': write KEY=VALUE"),
        (["train", "--dataset", "nosuch", "--out", "{tmp}/x"], "unknown corpus 'nosuch'"),
        (["baseline", "--option", "colour=3", "-o", "{tmp}/b"], "unknown option(s) ['colour']"),
    ],
)
def test_user_mistakes_exit_2_without_traceback(tmp_path, args, message):
    r = CliRunner().invoke(main, [a.format(tmp=tmp_path) for a in args])
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and message in r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_help_loads_no_torch_and_each_command_group_imports_alone():
    # no import cycle: every command module imports on its own in a fresh interpreter, and --help
    # (of the group and of the generated train options) never imports torch
    code = (
        "import sys, importlib; importlib.import_module(sys.argv[1]); from rnnlens.cli import main; "
        "main(['--help'], standalone_mode=False); main(['train', '--help'], standalone_mode=False); "
        "print('torch' in sys.modules)"
    )
    for module in ("rnnlens.cli.training", "rnnlens.cli.analysis", "rnnlens.cli.workflows", "rnnlens.cli"):
        r = subprocess.run([sys.executable, "-c", code, module], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip().endswith("False"), module


def test_train_options_are_the_settings_fields():
    import dataclasses

    from rnnlens.training import TrainSettings

    params = {p.name: p for p in main.commands["train"].params}
    reproduce = {p.name for p in main.commands["reproduce"].params}
    for f in dataclasses.fields(TrainSettings):
        assert params[f.name].default == f.default, f.name
        assert "--" + f.name.replace("_", "-") in params[f.name].opts
        assert f.name == "arch" or f.name in reproduce  # reproduce takes the same options (--arch repeatable)
    assert "--hidden" in params["hidden_size"].opts  # older spellings still work


def _write_csv(path, split):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["review", "stars"])
        for text, label in zip(split.texts, split.labels):
            w.writerow([text, ["bad", "good"][label]])


def test_analyze_and_evaluate_reuse_a_csv_corpus_recorded_in_the_checkpoint(tmp_path, monkeypatch):
    # the corpus options (a CSV file and its columns) are given once, to train; evaluate and analyze
    # find the same corpus from the checkpoint's record
    corpus = load_corpus("synthetic", **{**CORPUS, "n_train": 400, "n_validation": 100, "n_test": 100})
    for name in ("train", "validation", "test"):
        _write_csv(tmp_path / f"{name}.csv", corpus.splits[name])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path / "cache"))  # analyze fits its bag of words there
    csv_opts = [
        "--option",
        "train=train.csv",
        "--option",
        "validation=validation.csv",
        "--option",
        "test=test.csv",
        "--option",
        "text_column=review",
        "--option",
        "label_column=stars",
    ]
    out = tmp_path / "ck"
    r = _run(
        "train",
        "--dataset",
        "csv",
        *csv_opts,
        "--hidden-size",
        8,
        "--embed",
        4,
        "--epochs",
        1,
        "--clip-norm",
        0,
        "--threads",
        1,
        "--out",
        out,
        "--no-progress",
    )
    assert r.exit_code == 0, r.output
    settings = load_checkpoint(out).record["settings"]
    assert settings["hidden_size"] == 8 and settings["clip_norm"] is None and settings["num_threads"] == 1
    r = _run("evaluate", out)
    assert r.exit_code == 0, r.output
    assert "test accuracy (fraction correct, n=100)" in r.output and "note:" not in r.output
    r = _run("analyze", out, "-o", tmp_path / "an", "--n-docs", 30, "--n-seeds", 10, "--quiet")
    assert r.exit_code == 0, r.output
    summary = json.loads((tmp_path / "an" / "summary.json").read_text())
    assert summary["provenance"]["trained_on_same_corpus"] is True


def test_console_script_in_a_real_process(checkpoint, tmp_path):
    exe = Path(sys.executable).with_name("rnnlens")
    assert exe.exists(), f"console script not installed next to {sys.executable}; pip install -e ."
    out, _ = checkpoint
    ok = subprocess.run(
        [str(exe), "evaluate", str(out), "--split", "validation"], capture_output=True, text=True, timeout=120
    )
    assert ok.returncode == 0, ok.stderr
    acc = load_checkpoint(out).record["metrics"]["validation"]["accuracy"]
    assert f"validation accuracy (fraction correct, n=200): {acc:.4f}" in ok.stdout
    bad = subprocess.run([str(exe), "evaluate", str(tmp_path / "none")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_analyze_options_through_the_cli_change_what_is_measured(checkpoint, tmp_path):
    # --bow, --input-point mean, --tol, --max-length, the corpus from the checkpoint's record: each
    # option is checked in the numbers it changes, not only in the files written
    out, _ = checkpoint
    r = _run("baseline", *OPTS, "-o", tmp_path / "bow", "--C", 1.0)
    assert r.exit_code == 0, r.output
    bow = tmp_path / "bow" / "bag_of_words.json"
    r = _run(
        "analyze",
        out,
        "--bow",
        bow,
        "--input-point",
        "mean",
        "--tol",
        1e-6,
        "--max-length",
        12,
        "--n-docs",
        60,
        "--n-seeds",
        40,
        "--no-modifiers",
        "-o",
        tmp_path / "an",
        "--quiet",
    )
    assert r.exit_code == 0, r.output
    s = json.loads((tmp_path / "an" / "summary.json").read_text())
    arrays = np.load(tmp_path / "an" / "arrays.npz")
    m, settings = s["metrics"], s["settings"]
    assert settings["fixed_points"]["input_point"] == "mean" and settings["fixed_points"]["tol"] == 1e-6
    assert settings["documents"]["max_length"] == 12
    # the corpus came from the checkpoint's record (synthetic, with its options and seed)
    assert s["provenance"]["dataset"] == "synthetic" and s["provenance"]["trained_on_same_corpus"] is True
    # --tol: the points kept are exactly those under 1e-6
    assert "< 1e-06" in m["fixed_points"]["n_converged"]["definition"]
    assert "mean" in m["fixed_points"]["n_converged"]["definition"]
    assert m["fixed_points"]["n_converged"]["value"] == int((arrays["fp_q"] < 1e-6).sum())
    # --max-length: the documents longer than 12 tokens (of the 60 analysed) were cut and counted
    corpus = load_corpus("synthetic", **CORPUS)
    ck = load_checkpoint(out)
    from rnnlens.analysis.inputs import select_documents

    docs = select_documents(ck.vocab, corpus.splits["test"], 60, None, 0)
    longer = int(sum(len(x) > 12 for x in docs.encoded.ids))
    assert longer > 0 and m["data"]["n_truncated"]["value"] == longer
    assert max(len(x) for x in select_documents(ck.vocab, corpus.splits["test"], 60, 12, 0).encoded.ids) == 12
    # --bow: the word groups and the rank correlation with the bag of words are measured
    assert s["metrics"]["valence"]["bow"]["dataset"] == "synthetic"
    assert -1 <= m["valence"]["spearman_bow"]["value"] <= 1 and "positive_mean" in m["slow_manifold"]
    assert "modifiers" not in m  # --no-modifiers


@pytest.mark.parametrize("chosen", [None, "1"])
def test_the_command_line_turns_numpy_huge_pages_off_unless_the_user_chose(chosen):
    # read by numpy when it is imported, so it must be set before anything imports numpy
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if chosen is not None:
        env["NUMPY_MADVISE_HUGEPAGE"] = chosen
    code = (
        "import os, rnnlens.cli; "
        "import numpy; print(os.environ['NUMPY_MADVISE_HUGEPAGE'], int(numpy._core.multiarray._get_madvise_hugepage()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == (["0", "0"] if chosen is None else ["1", "1"])
