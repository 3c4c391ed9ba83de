"""SST-2, SST-5, Yelp, CSV and JSONL loaders on tiny files, and every kind of bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rnnlens.data import load_corpus
from rnnlens.errors import ArgumentError, DataError

SST2_TRAIN = "sentence\tlabel\n" + "".join(f"good movie {i} \t1\nbad movie {i} \t0\n" for i in range(10))


def test_sst2_reads_three_files_dev_is_validation(tmp_path, write):
    write("sst2/train.tsv", SST2_TRAIN)
    write("sst2/dev.tsv", "sentence\tlabel\nit 's fine \t1\n")
    write("sst2/test.tsv", "sentence\tlabel\nawful .\t0\nsuperb .\t1\nmeh\t0\n")
    c = load_corpus("sst2", data_dir=tmp_path)
    assert c.label_names == ["negative", "positive"]
    assert [len(c.splits[s]) for s in ("train", "validation", "test")] == [20, 1, 3]
    assert c.splits["validation"].texts == ["it 's fine "]
    assert c.splits["test"].labels.tolist() == [0, 1, 0]
    assert c.splits["train"].texts[:2] == ["good movie 0 ", "bad movie 0 "]
    assert c.info["validation"] == {"source": "file"}
    assert c.info["class_counts"]["train"] == [10, 10]


def test_sst2_without_dev_carves_stratified_validation(tmp_path, write):
    write("train.tsv", SST2_TRAIN)  # directly in the data dir
    c = load_corpus("sst2", data_dir=tmp_path, validation_fraction=0.2, seed=3)
    assert len(c.splits["train"]) == 16 and len(c.splits["validation"]) == 4
    assert c.splits["validation"].labels.tolist().count(1) == 2  # stratified: 20% of each class
    assert "test" not in c.splits
    assert c.info["validation"] == {"source": "carved from train", "fraction": 0.2, "seed": 3, "stratified": True}
    assert set(c.splits["train"].texts).isdisjoint(c.splits["validation"].texts)
    again = load_corpus("sst2", data_dir=tmp_path, validation_fraction=0.2, seed=3)
    assert again.splits["validation"].texts == c.splits["validation"].texts
    other = load_corpus("sst2", data_dir=tmp_path, validation_fraction=0.2, seed=4)
    assert other.splits["validation"].texts != c.splits["validation"].texts


def test_sst5_labels_0_to_4(tmp_path, write):
    write("sst5/train.txt", "".join(f"{i % 5} sentence number {i}\n" for i in range(10)))
    write("sst5/dev.txt", "4 a stirring , funny film\r\n0 drivel\r\n")
    write("sst5/test.txt", "2 so-so .\n")
    c = load_corpus("sst5", data_dir=tmp_path)
    assert c.num_classes == 5 and c.label_names[0] == "very negative" and c.label_names[4] == "very positive"
    assert c.splits["validation"].texts == ["a stirring , funny film", "drivel"]
    assert c.splits["validation"].labels.tolist() == [4, 0]
    assert c.splits["train"].labels.tolist() == [i % 5 for i in range(10)]


YELP_FULL = (
    '"1","Horrible.\\nNever again."\n"5","Best ""tacos"" ever"\n"3","ok, I guess"\n'
    '"2","meh\nsecond line"\n"4","good"\n"5","great"\n"1","bad"\n"4","nice"\n'
)


def test_yelp_full_and_binary(tmp_path, write):
    write("yelp/train.csv", YELP_FULL)
    write("yelp/test.csv", '"3","fine"\n"4","lovely"\n')
    full = load_corpus("yelp", data_dir=tmp_path, validation_fraction=0.3)
    assert full.label_names == ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    assert full.splits["test"].labels.tolist() == [2, 3]
    texts = full.splits["train"].texts + full.splits["validation"].texts
    assert "Horrible.\nNever again." in texts and 'Best "tacos" ever' in texts and "meh\nsecond line" in texts
    binary = load_corpus("yelp-binary", data_dir=tmp_path, validation_fraction=0.3)
    assert binary.label_names == ["negative", "positive"]
    assert binary.info["dropped_3_star"] == {"train": 1, "test": 1}
    assert binary.splits["test"].texts == ["lovely"] and binary.splits["test"].labels.tolist() == [1]
    n_train = len(binary.splits["train"]) + len(binary.splits["validation"])
    assert n_train == 7
    labels = np.concatenate([binary.splits["train"].labels, binary.splits["validation"].labels])
    assert sorted(labels.tolist()) == [0, 0, 0, 1, 1, 1, 1]


def test_yelp_polarity_files(tmp_path, write):
    write("yelp_review_polarity_csv/train.csv", '"1","bad"\n"2","good"\n"1","awful"\n"2","great"\n')
    c = load_corpus("yelp", data_dir=tmp_path, validation_fraction=0.5)
    assert c.info["variant"] == "polarity" and c.label_names == ["negative", "positive"]
    assert sorted(c.splits["train"].texts + c.splits["validation"].texts) == ["awful", "bad", "good", "great"]
    write("p2/train.csv", '"1","bad"\n"5","good"\n')
    with pytest.raises(DataError, match=r"p2/train\.csv, line 2: unknown label '5'"):
        load_corpus("yelp", data_dir=tmp_path / "p2", variant="polarity")


def test_csv_generic_columns_and_sorted_label_names(tmp_path, write):
    rows = "id,review,stars\n" + "".join(f'{i},"text, number {i}",{s}\n' for i, s in enumerate([10, 2, 10, 2, 7, 7]))
    write("my/train.csv", rows)
    write("my/test.csv", 'id,review,stars\n0,"a test",7\n')
    c = load_corpus(
        "csv",
        train=tmp_path / "my/train.csv",
        test=tmp_path / "my/test.csv",
        text_column="review",
        label_column="stars",
        validation_fraction=0.5,
    )
    assert c.label_names == ["2", "7", "10"]  # numeric sort, not "10" < "2"
    assert c.splits["test"].labels.tolist() == [1]
    assert len(c.splits["train"]) == 3 and sorted(c.splits["validation"].labels.tolist()) == [0, 1, 2]
    # a relative path is also looked up under the data dir
    rel = load_corpus(
        "csv",
        data_dir=tmp_path / "my",
        path="train.csv",
        text_column="review",
        label_column="stars",
        validation_fraction=0.5,
    )
    assert rel.fingerprint() != c.fingerprint() and rel.source == str(tmp_path / "my" / "train.csv")


def test_tsv_by_extension_or_delimiter_option(tmp_path, write):
    # quotes are ordinary characters in TSV (as in GLUE); commas stay inside the text
    rows = "review\tstars\n" + "".join(f'a "quoted, {i} word\t{s}\n' for i, s in enumerate("pnpnpn"))
    write("t/train.tsv", rows)
    write("t/test.tsv", 'review\tstars\nit\'s "fine"\tp\n')
    c = load_corpus(
        "csv",
        train=tmp_path / "t/train.tsv",
        test=tmp_path / "t/test.tsv",
        text_column="review",
        label_column="stars",
        validation_fraction=0.5,
    )
    assert c.label_names == ["n", "p"] and c.splits["test"].texts == ['it\'s "fine"']
    assert sorted(c.splits["train"].texts + c.splits["validation"].texts) == [f'a "quoted, {i} word' for i in range(6)]
    assert c.info["delimiters"] == {"train": "\t", "test": "\t"}
    # another name: delimiter="\t", or the two characters \t typed on a command line
    write("t/train.txt", rows)
    for sep in ("\t", "\\t", "tab"):
        d = load_corpus(
            "csv",
            path=tmp_path / "t/train.txt",
            text_column="review",
            label_column="stars",
            validation_fraction=0.5,
            delimiter=sep,
        )
        assert len(d.splits["train"]) + len(d.splits["validation"]) == 6
    # ';' keeps CSV quoting
    write("t/semi.csv", 'text;label\n"x; y";1\n"z";0\n"w";1\n"v";0\n')
    e = load_corpus("csv", path=tmp_path / "t/semi.csv", delimiter=";", validation_fraction=0.5)
    assert sorted(e.splits["train"].texts + e.splits["validation"].texts) == ["v", "w", "x; y", "z"]
    # a TSV row with a missing field names the file and line
    write("t/bad.tsv", "review\tstars\ngood\tp\nno label here\n")
    with pytest.raises(DataError, match=r"bad.tsv, line 3: malformed row: 1 fields"):
        load_corpus("csv", path=tmp_path / "t/bad.tsv", text_column="review", label_column="stars")
    with pytest.raises(ArgumentError, match="delimiter must be one character"):
        load_corpus("csv", path=tmp_path / "t/train.tsv", delimiter="::")
    with pytest.raises(ArgumentError, match="delimiter= is an option of the csv corpus"):
        load_corpus("jsonl", path=tmp_path / "t/train.tsv", delimiter="\t")


def test_jsonl_generic(tmp_path, write):
    lines = [
        {"text": "great", "label": "pos"},
        {"text": "bad", "label": "neg"},
        {"text": "fine", "label": "pos"},
        {"text": "awful", "label": "neg"},
    ]
    p = write("d.jsonl", "".join(json.dumps(x) + "\n" for x in lines))
    c = load_corpus("jsonl", path=p, validation_fraction=0.5)
    assert c.label_names == ["neg", "pos"]
    assert sorted(zip(c.splits["train"].texts, c.splits["train"].labels.tolist())) in (
        [("bad", 0), ("great", 1)],
        [("bad", 0), ("fine", 1)],
        [("awful", 0), ("great", 1)],
        [("awful", 0), ("fine", 1)],
    )
    fixed = load_corpus("jsonl", path=p, validation_fraction=0.5, label_names=["pos", "neg"])
    assert fixed.label_names == ["pos", "neg"] and set(fixed.splits["train"].labels.tolist()) == {0, 1}
    # the given order decides the ids: "pos" is 0 and "neg" is 1, in every split
    truth = {"great": 0, "fine": 0, "bad": 1, "awful": 1}
    for split in fixed.splits.values():
        assert [truth[t] for t in split.texts] == split.labels.tolist()
    for split in c.splits.values():  # sorted names when none are given: "neg" 0, "pos" 1
        assert [1 - truth[t] for t in split.texts] == split.labels.tolist()


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "name,files,pattern",
    [
        (
            "sst2",
            {"sst2/train.tsv": "sentence\tlabel\nok\t1\nno tab here\n"},
            r"sst2/train\.tsv, line 3: malformed row: 1 tab-separated fields",
        ),
        ("sst2", {"sst2/train.tsv": "sentence\tlabel\nok\t1\nhuh\t2\n"}, r"train\.tsv, line 3: unknown label '2'"),
        ("sst2", {"sst2/train.tsv": "sentence\tlabel\nok\t1\n  \t0\n"}, r"train\.tsv, line 3: empty document"),
        (
            "sst2",
            {"sst2/train.tsv": b"sentence\tlabel\nok\t1\nbad \xe9 byte\t0\n"},
            r"train\.tsv, line 3: invalid UTF-8",
        ),
        ("sst2", {"sst2/train.tsv": "index\tsentence\n0\tok\n"}, r"train\.tsv, line 1: header .* lacks"),
        ("sst5", {"sst5/train.txt": "1 fine\n3\n"}, r"train\.txt, line 2: malformed row"),
        ("sst5", {"sst5/train.txt": "1 fine\n7 great\n"}, r"train\.txt, line 2: unknown label '7'"),
        ("sst5", {"sst5/train.txt": "1 fine\n\n2 ok\n"}, r"train\.txt, line 2: malformed row"),
        ("yelp", {"yelp/train.csv": '"1","a"\n"2","b","c"\n'}, r"train\.csv, line 2: malformed row: 3 fields"),
        ("yelp", {"yelp/train.csv": '"1","a"\n"2","unterminated\n'}, r"train\.csv, line 2: malformed CSV"),
        ("yelp", {"yelp/train.csv": '"1","a"\n"6","b"\n'}, r"train\.csv, line 2: unknown label '6'"),
        ("yelp", {"yelp/train.csv": '"1","a\nb"\n"2",""\n'}, r"train\.csv, line 3: empty document"),
        ("yelp-binary", {"yelp/train.csv": '"1","a"\n"x","b"\n'}, r"train\.csv, line 2: unknown label 'x'"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, write, name, files, pattern):
    for rel, content in files.items():
        write(rel, content)
    with pytest.raises(DataError, match=pattern):
        load_corpus(name, data_dir=tmp_path)


@pytest.mark.parametrize(
    "name,content,options,pattern",
    [
        ("a.csv", "text,label\nfine,1\nbroken\n", {}, r"a\.csv, line 3: malformed row: 1 fields, the header has 2"),
        ("b.csv", "body,label\nfine,1\n", {}, r"b\.csv, line 1: no column 'text'.*text_column"),
        ("c.jsonl", '{"text": "ok", "label": 1}\n{"text": "ok", "label": 1\n', {}, r"c\.jsonl, line 2: malformed JSON"),
        (
            "d.jsonl",
            '{"text": "ok", "label": "a"}\n{"text": "", "label": "b"}\n',
            {},
            r"d\.jsonl, line 2: empty document",
        ),
        (
            "e.jsonl",
            '{"text": "ok", "label": "a"}\n{"text": "x", "label": "c"}\n',
            {"label_names": ["a", "b"]},
            r"e\.jsonl, line 2: unknown label 'c'",
        ),
        (
            "f.jsonl",
            b'{"text": "ok", "label": 1}\n{"text": "\xff", "label": 1}\n',
            {},
            r"f\.jsonl, line 2: invalid UTF-8",
        ),
        ("g.jsonl", '{"text": "ok", "label": 1}\n{"txt": "x", "label": 1}\n', {}, r"g\.jsonl, line 2: no key 'text'"),
    ],
)
def test_bad_generic_files(write, name, content, options, pattern):
    p = write(name, content)
    with pytest.raises(DataError, match=pattern):
        load_corpus(name.split(".")[1], path=p, **options)


def test_missing_generic_file(tmp_path):
    with pytest.raises(DataError, match=r"(?s)not found.*nope\.csv"):
        load_corpus("csv", path="nope.csv", data_dir=tmp_path)


def test_missing_corpus_names_paths_and_fix(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setenv("RNNLENS_DATA_DIR", str(tmp_path / "env"))
    with pytest.raises(DataError) as e:
        load_corpus("sst5", data_dir=tmp_path / "arg")
    msg = str(e.value)
    tried = [
        str(p)
        for p in (
            tmp_path / "arg" / "sst5" / "train.txt",
            tmp_path / "arg" / "train.txt",
            tmp_path / "env" / "sst5" / "train.txt",
            isolated_env / "sst5" / "train.txt",
        )
    ]
    assert all(t in msg for t in tried)
    assert [msg.index(t) for t in tried] == sorted(msg.index(t) for t in tried)
    assert "--data-dir" in msg and "RNNLENS_DATA_DIR" in msg


def test_argument_errors():
    with pytest.raises(ArgumentError, match="unknown corpus 'imbd'"):
        load_corpus("imbd")
    with pytest.raises(ArgumentError, match=r"unknown option\(s\) \['n_trian'\]"):
        load_corpus("synthetic", n_trian=5)
    with pytest.raises(ArgumentError, match="validation_fraction must be a number strictly between 0 and 1"):
        load_corpus("synthetic", validation_fraction=1.5)
    with pytest.raises(ArgumentError, match="needs a file"):
        load_corpus("csv")
    with pytest.raises(ArgumentError, match="variant must be"):
        load_corpus("yelp", variant="stars")
