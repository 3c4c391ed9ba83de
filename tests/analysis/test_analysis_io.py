"""Analysis folders on disk: the JSON encoding of non-finite numbers, no pickle, and errors that name the file."""

import json
import math

import numpy as np
import pytest
import torch

from rnnlens.analysis.io import SCHEMA, from_jsonable, to_jsonable, write_arrays, write_json
from rnnlens.analysis.result import load_analysis
from rnnlens.errors import ArgumentError


def test_non_finite_numbers_round_trip_through_strings():
    obj = {
        "a": float("nan"),
        "b": np.float32("inf"),
        "c": -math.inf,
        "d": [np.float64(0.5), np.int64(3)],
        "e": np.array([1.0, np.nan]),
        "f": np.bool_(True),
        7: (1, 2),
    }
    enc = to_jsonable(obj)
    assert enc == {"a": "nan", "b": "inf", "c": "-inf", "d": [0.5, 3], "e": [1.0, "nan"], "f": True, "7": [1, 2]}
    assert type(enc["d"][1]) is int and type(enc["f"]) is bool
    json.dumps(enc, allow_nan=False)  # plain JSON
    back = from_jsonable(enc)
    assert math.isnan(back["a"]) and back["b"] == math.inf and back["c"] == -math.inf and back["d"] == [0.5, 3]


def _folder(tmp_path, summary=None, arrays=None):
    folder = tmp_path / "an"
    folder.mkdir()
    write_json(
        folder / "summary.json",
        {"schema": SCHEMA, "run_id": "r1", "x": float("nan"), "provenance": {"checkpoint": "runs/gru"}}
        if summary is None
        else summary,
    )
    if arrays is not None:
        write_arrays(folder / "arrays.npz", arrays)
    return folder


def test_load_reads_back_what_was_written(tmp_path):
    folder = _folder(tmp_path, arrays={"v": np.arange(3.0), "run_id": np.array("r1")})
    loaded = load_analysis(folder)
    summary, arrays = loaded.summary, loaded.arrays
    assert math.isnan(summary["x"]) and arrays.keys() == {"v"} and arrays["v"].tolist() == [0.0, 1.0, 2.0]


def test_object_arrays_are_refused_on_write_and_pickles_on_read(tmp_path):
    with pytest.raises(TypeError, match="array 'bad' has dtype object; only numeric/string arrays are saved"):
        write_arrays(tmp_path / "a.npz", {"ok": np.zeros(2), "bad": np.array([{"a": 1}], dtype=object)})
    assert not (tmp_path / "a.npz").exists()
    folder = _folder(tmp_path)
    np.savez(folder / "arrays.npz", run_id=np.array("r1"), bad=np.array([{"a": 1}], dtype=object))  # a pickle
    with pytest.raises(ArgumentError, match=r"arrays\.npz: not a readable \.npz file .*rnnlens analyze runs/gru -o "):
        load_analysis(folder)


def test_damaged_or_foreign_summaries_name_the_file_and_the_command(tmp_path):
    folder = _folder(tmp_path)
    (folder / "summary.json").write_text("{not json")
    with pytest.raises(
        ArgumentError,
        match=r"summary\.json: not valid JSON .*the file is damaged: rebuild it with "
        r"`rnnlens analyze CHECKPOINT -o .*an` \(rerun `rnnlens analyze`",
    ):
        load_analysis(folder)
    (folder / "summary.json").write_text(json.dumps({"schema": "rnnlens-analysis/0"}))
    with pytest.raises(
        ArgumentError,
        match=r"summary\.json: schema 'rnnlens-analysis/0', this rnnlens reads "
        r"'rnnlens-analysis/1'; rerun `rnnlens analyze` with this version\.",
    ):
        load_analysis(folder)
    (folder / "summary.json").write_text("[1, 2]")
    with pytest.raises(ArgumentError, match=r"summary\.json: expected a JSON object"):
        load_analysis(folder)


def test_a_damaged_fixed_points_file_names_the_folder_to_rebuild(tmp_path):
    folder = _folder(tmp_path)
    (folder / "fixed_points.safetensors").write_bytes(b"junk")
    with pytest.raises(
        ArgumentError,
        match=r"fixed_points\.safetensors: not a readable safetensors file .*"
        r"rebuild it with `rnnlens analyze runs/gru -o .*an`",
    ):
        load_analysis(folder)


def _zero_fixed_points():
    from rnnlens.fixedpoints import _TENSOR_FIELDS, FixedPoints

    return FixedPoints(
        **{k: torch.zeros(2, 3) if k in ("points", "inputs", "seeds") else torch.zeros(2) for k in _TENSOR_FIELDS},
        tol=1e-8,
        solver="test",
        info={},
    )


def test_run_ids_must_agree_and_a_missing_arrays_file_is_allowed(tmp_path):
    fp = _zero_fixed_points()
    folder = _folder(tmp_path)  # summary of run r1, no arrays.npz
    fp.save(folder / "fixed_points.safetensors", run_id="r1")
    loaded = load_analysis(folder)
    summary, arrays = loaded.summary, loaded.arrays
    assert summary["run_id"] == "r1" and arrays == {}
    fp.save(folder / "fixed_points.safetensors", run_id="r2")
    with pytest.raises(
        ArgumentError,
        match=r"an: fixed_points\.safetensors and summary\.json come from different "
        r"runs \(an analyze was interrupted .*rebuild it with "
        r"`rnnlens analyze runs/gru -o ",
    ):
        load_analysis(folder)


def test_paths_and_folders_without_run_ids(tmp_path):
    from pathlib import Path

    assert to_jsonable({"p": Path("runs/gru")}) == {"p": "runs/gru"}
    folder = _folder(tmp_path, summary={"schema": SCHEMA, "x": 1})  # written before run ids existed
    write_arrays(folder / "arrays.npz", {"v": np.zeros(2)})
    loaded = load_analysis(folder)
    summary, arrays = loaded.summary, loaded.arrays
    assert summary["x"] == 1 and set(arrays) == {"v"}


def test_run_id_mismatches_name_every_file_and_arrays_alone_count(tmp_path):
    fp = _zero_fixed_points()
    folder = _folder(tmp_path, arrays={"v": np.zeros(1), "run_id": np.array("r2")})  # summary of r1
    fp.save(folder / "fixed_points.safetensors", run_id="r3")
    with pytest.raises(
        ArgumentError,
        match=r"an: arrays\.npz, fixed_points\.safetensors and summary\.json come "
        r"from different runs",
    ):
        load_analysis(folder)
    # a summary without a run id beside arrays that have one: copied in from another run
    other = tmp_path / "other"
    other.mkdir()
    write_json(other / "summary.json", {"schema": SCHEMA})
    write_arrays(other / "arrays.npz", {"v": np.zeros(1), "run_id": np.array("r9")})
    with pytest.raises(ArgumentError, match="arrays.npz and summary.json come from different runs"):
        load_analysis(other)


def test_a_damaged_arrays_file_names_the_error_and_the_folder(tmp_path):
    folder = _folder(tmp_path)
    (folder / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(
        ArgumentError,
        match=r"arrays\.npz: not a readable \.npz file \((BadZipFile|ValueError|OSError|"
        r"EOFError): .*damaged: rebuild it with "
        r"`rnnlens analyze runs/gru -o .*an`",
    ):
        load_analysis(folder)
