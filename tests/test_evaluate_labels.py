"""Issue 23, item 4 on the command line: ``evaluate`` matches labels with the checkpoint's by name (never by
alphabetical position), refuses names it cannot match (naming both sets and ``--label-map``), and scores a
test-only file whole with ``--test-file`` (CSV, TSV or JSONL by extension)."""

from __future__ import annotations

import csv
import json
import re

import pytest
from click.testing import CliRunner

from rnnlens.checkpoint import load_checkpoint
from rnnlens.cli import main
from rnnlens.data import load_corpus
from rnnlens.training import TrainSettings, evaluate, train

SYN = dict(n_train=800, n_validation=100, n_test=120, min_length=6, max_length=14, n_neutral=20, n_per_valence=10)


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def _write(path, split, names, columns=("text", "label")):
    rows = [(t, names[lab]) for t, lab in zip(split.texts, split.labels)]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({columns[0]: t, columns[1]: lab}) + "\n" for t, lab in rows))
        return path
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter="\t" if path.suffix == ".tsv" else ",")
        w.writerow(columns)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A checkpoint trained on a CSV with labels negative/positive; the synthetic test split beside it."""
    root = tmp_path_factory.mktemp("evlabels")
    corpus = load_corpus("synthetic", **SYN)
    train_csv = _write(root / "train.csv", corpus.splits["train"], ["negative", "positive"])
    val_csv = _write(root / "val.csv", corpus.splits["validation"], ["negative", "positive"])
    data = load_corpus("csv", path=train_csv, validation=val_csv)
    s = TrainSettings(arch="gru", hidden_size=16, embed_dim=8, epochs=4, batch_size=32, lr=0.03, num_threads=1)
    ck = train(data, s, root / "ck", progress=False, verbose=False)
    assert ck.record["label_names"] == ["negative", "positive"]
    want = evaluate(ck.model, ck.vocab, corpus.splits["test"], max_length=s.max_length)
    assert 0.6 < want["accuracy"] < 1.0  # far from both 0.5 and its inversion
    return root, corpus.splits["test"], want


def _accuracy(output: str) -> float:
    return float(re.search(r"test accuracy \(fraction correct, n=\d+\): (\d\.\d+)", output).group(1))


def test_other_label_names_are_refused_not_mapped_alphabetically(trained):
    root, test, want = trained
    f = _write(root / "fav.csv", test, ["unfavorable", "favorable"])
    fav_train = _write(
        root / "fav_train.csv", load_corpus("synthetic", **SYN).splits["train"], ["unfavorable", "favorable"]
    )
    corpus = ["--dataset", "csv", "--option", f"path={fav_train}", "--option", f"test={f}"]
    r = _run("evaluate", root / "ck", *corpus)
    assert r.exit_code == 2, r.output
    msg = r.output
    assert "'favorable', 'unfavorable'" in msg and "'negative', 'positive'" in msg and "--label-map" in msg
    assert "Traceback" not in msg
    r = _run("evaluate", root / "ck", *corpus, "--label-map", "favorable=positive,unfavorable=negative")
    assert r.exit_code == 0 and _accuracy(r.output) == pytest.approx(want["accuracy"], abs=1e-4), r.output
    r = _run("evaluate", root / "ck", "--test-file", f)
    assert r.exit_code == 2 and "--label-map" in r.output and "fav.csv, line 2" in r.output, r.output
    # mapped explicitly: the accuracy of the true labels, not its inversion
    r = _run("evaluate", root / "ck", "--test-file", f, "--label-map", "favorable=positive,unfavorable=negative")
    assert r.exit_code == 0, r.output
    assert _accuracy(r.output) == pytest.approx(want["accuracy"], abs=1e-4)
    r = _run("evaluate", root / "ck", "--test-file", f, "--label-map", "favorable=great")
    assert r.exit_code == 2 and "'great' is not a label of the checkpoint" in r.output, r.output


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_a_test_only_file_is_scored_whole(trained, suffix):
    root, test, want = trained
    f = _write(root / f"t{suffix}", test, ["negative", "positive"])
    r = _run("evaluate", root / "ck", "--test-file", f)
    assert r.exit_code == 0, r.output
    assert f"test accuracy (fraction correct, n={len(test)})" in r.output
    assert _accuracy(r.output) == pytest.approx(want["accuracy"], abs=1e-4)
    r = _run("evaluate", root / "ck", "--test-file", f, "--max-length", 0)
    assert r.exit_code == 0 and "cut to" not in r.output, r.output
    assert _accuracy(r.output) == pytest.approx(want["accuracy"], abs=1e-4)
    # other columns: --option text_column=... label_column=...
    g = _write(root / f"cols{suffix}", test, ["negative", "positive"], columns=("review", "y"))
    r = _run("evaluate", root / "ck", "--test-file", g, "--option", "text_column=review", "--option", "label_column=y")
    assert r.exit_code == 0 and _accuracy(r.output) == pytest.approx(want["accuracy"], abs=1e-4), r.output


def test_test_file_mistakes_are_clear_errors(trained):
    root, test, _ = trained
    f = _write(root / "t.csv", test, ["negative", "positive"])
    for args, pattern in [
        (["--split", "train"], r"--test-file .* scored whole.*--split"),
        (["--dataset", "csv"], r"--test-file or --dataset"),
        (["--option", "path=x.csv"], r"--option path.*--test-file"),
    ]:
        r = _run("evaluate", root / "ck", "--test-file", f, *args)
        assert r.exit_code == 2 and re.search(pattern, r.output), (args, r.output)
    txt = root / "t.txt"
    txt.write_text("text,label\nok,positive\n")
    r = _run("evaluate", root / "ck", "--test-file", txt)
    assert r.exit_code == 2 and ".csv, .tsv or .jsonl" in r.output, r.output
    stray = root / "stray.csv"
    stray.write_text("text,label\ngood film,positive\nbad film,neutral\n")
    r = _run("evaluate", root / "ck", "--test-file", stray)
    assert r.exit_code == 2 and "stray.csv, line 3: unknown label 'neutral'" in r.output, r.output


def test_a_test_only_file_through_the_corpus_options_is_not_scored_in_part(trained):
    root, test, _ = trained
    f = _write(root / "only.csv", test, ["negative", "positive"])
    # the file becomes a train split with a carved validation part: scoring "train" would score 90% of it
    for split in ("train", "validation"):
        r = _run("evaluate", root / "ck", "--dataset", "csv", "--option", f"path={f}", "--split", split)
        assert r.exit_code == 2 and f"--test-file {f}" in r.output and "carved" in r.output, r.output
    r = _run("evaluate", root / "ck", "--dataset", "csv", "--option", f"path={f}", "--split", "test")
    assert r.exit_code == 2 and "--test-file" in r.output, r.output


def test_help_documents_test_file_and_label_map():
    out = _run("evaluate", "--help").output
    assert "--test-file" in out and "--label-map" in out and ".jsonl" in out


def test_same_names_in_another_order_are_matched_by_name(trained):
    root, test, want = trained
    # label_names fixes "positive" as id 0 in the corpus; the checkpoint's id 0 is "negative"
    _write(root / "t_order.csv", test, ["negative", "positive"])
    r = _run(
        "evaluate",
        root / "ck",
        "--option",
        f"test={root / 't_order.csv'}",
        "--option",
        'label_names=["positive","negative"]',
    )
    assert r.exit_code == 0, r.output
    assert _accuracy(r.output) == pytest.approx(want["accuracy"], abs=1e-4)
    ck = load_checkpoint(root / "ck")
    assert ck.record["label_names"] == ["negative", "positive"]
