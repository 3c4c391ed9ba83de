"""Issue 23, item 4: the label set of a generic CSV / TSV / JSONL corpus comes from its training file, and a
stray label (a typo, a label of another type, a label only a validation or test file has) is an error
naming the file and the line, never a silently added class. ``label_names=`` declares the set explicitly."""

from __future__ import annotations

import json

import pytest

from rnnlens.data import load_corpus
from rnnlens.errors import DataError


def _csv(rows, header="text,label"):
    return header + "\n" + "".join(f"{t},{lab}\n" for t, lab in rows)


def _jsonl(objs):
    return "".join(json.dumps(o) + "\n" for o in objs)


BINARY = [(f"good film {i}", 1) if i % 2 else (f"bad film {i}", 0) for i in range(40)]


def test_a_stray_integer_label_in_a_0_1_csv_names_file_and_line(write):
    rows = BINARY[:17] + [("odd one", 7)] + BINARY[17:]
    p = write("t.csv", _csv(rows))
    with pytest.raises(DataError, match=r"t\.csv, line 19: label '7'.*1 of 41 .*label_names="):
        load_corpus("csv", path=p)
    # declared explicitly, the third class is the user's choice
    c = load_corpus("csv", path=p, label_names=["0", "1", "7"])
    assert c.label_names == ["0", "1", "7"]


@pytest.mark.parametrize("stray,shown", [(True, "True"), (1.0, "1.0"), ("1", None), ("yes", "yes")])
def test_a_label_of_another_kind_in_a_0_1_jsonl_names_file_and_line(write, stray, shown):
    objs = [{"text": t, "label": lab} for t, lab in BINARY]
    objs[5]["label"] = stray
    p = write("t.jsonl", _jsonl(objs))
    if shown is None:  # the string "1" is the label 1: the same class
        assert load_corpus("jsonl", path=p).label_names == ["0", "1"]
        return
    with pytest.raises(DataError, match=rf"t\.jsonl, line 6: label '{shown}' .*integer"):
        load_corpus("jsonl", path=p)


def test_a_label_only_the_test_file_has_is_an_error(write):
    train = write("train.csv", _csv(BINARY))
    test = write("test.csv", _csv([("fine", 1), ("so so", 2), ("bad", 0)]))
    with pytest.raises(DataError, match=r"test\.csv, line 3: unknown label '2' .*train\.csv"):
        load_corpus("csv", path=train, test=test)
    val = write("val.csv", _csv([("fine", 1), ("meh", "neutral")]))
    with pytest.raises(DataError, match=r"val\.csv, line 3: unknown label 'neutral'"):
        load_corpus("csv", path=train, validation=val)


def test_labels_differing_only_in_case_are_refused(write):
    rows = [(f"a {i}", "positive" if i % 2 else "negative") for i in range(20)] + [("b", "Positive")] * 3
    p = write("t.csv", _csv(rows))
    with pytest.raises(DataError, match=r"t\.csv, line 22: label 'Positive'.*'positive'"):
        load_corpus("csv", path=p)


@pytest.mark.parametrize(
    "labels,names",
    [
        ([-1, 1], ["-1", "1"]),
        ([1, 2, 3, 4, 5], ["1", "2", "3", "4", "5"]),
        ([2, 7, 10], ["2", "7", "10"]),
        (["neg", "pos"], ["neg", "pos"]),
        ([True, False], ["False", "True"]),
        ([0.5, 1.5], ["0.5", "1.5"]),
    ],
)
def test_consistent_label_sets_are_read_as_before(write, labels, names):
    objs = [{"text": f"doc {i}", "label": labels[i % len(labels)]} for i in range(30)]
    p = write("ok.jsonl", _jsonl(objs))
    assert load_corpus("jsonl", path=p).label_names == names
