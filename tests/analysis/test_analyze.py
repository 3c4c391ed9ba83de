"""analyze() and the `rnnlens analyze` command on small checkpoints: outputs, provenance, bad input."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rnnlens.analysis import METRICS, AnalysisSettings, analyze, load_analysis
from rnnlens.analysis.metrics import optional_sections
from rnnlens.checkpoint import load_checkpoint, save_checkpoint
from rnnlens.cli import main
from rnnlens.data import Corpus, Split, Vocab, load_corpus
from rnnlens.errors import ArgumentError, CheckpointError, DataError
from rnnlens.model import SentimentRNN

SMALL = dict(n_train=200, n_validation=40, n_test=60, min_length=5, max_length=12)


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", seed=0, **SMALL)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, corpus):
    """An untrained GRU checkpoint with the corpus's vocabulary (enough to exercise every code path)."""
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=6, hidden_size=8)
    path = tmp_path_factory.mktemp("ck") / "gru"
    save_checkpoint(path, model, vocab, {"dataset": "synthetic", "data_fingerprint": corpus.fingerprint()})
    return path


FAST = dict(n_docs=40, n_seeds=30, n_transitions=200, n_speed=10, speed_steps=5)


def test_analyze_writes_consistent_summary_and_arrays(ckpt, corpus, tmp_path):
    coef = {w: float(v) for w, v in corpus.truth.valence.items()}
    r = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST), bow=coef, out_dir=tmp_path / "an")
    loaded = load_analysis(tmp_path / "an")
    summary, arrays = loaded.summary, loaded.arrays
    assert summary["status"] == "complete" and summary["missing"] == []
    m = summary["metrics"]
    # the numbers agree with the saved arrays and the solver's own result
    n_conv = int(np.asarray(r.fixed_points.converged).sum())
    assert m["fixed_points"]["n_converged"]["value"] == n_conv > 0
    assert arrays["abs_lambda1"].shape == (n_conv,)
    assert m["modes"]["abs_lambda1_median"]["value"] == pytest.approx(float(np.median(arrays["abs_lambda1"])))
    assert m["pca"]["trained_cumulative"]["value"] == pytest.approx(arrays["pca_trained"].tolist())
    assert np.all(np.diff(arrays["pca_trained"]) >= -1e-12) and arrays["pca_trained"][-1] <= 1 + 1e-9
    assert m["data"]["n_docs"]["value"] == 40
    assert len(m["speed"]["median_by_step"]["value"]) == FAST["speed_steps"]  # one median per step
    # the chord from the first to the last node, against the readout the states see
    nodes, w = arrays["sm_points"], load_checkpoint(ckpt).model.readout_matrix()[0].double().numpy()
    chord = nodes[-1] - nodes[0]
    assert m["slow_manifold"]["chord_readout_cos"]["value"] == pytest.approx(
        abs(chord @ w) / (np.linalg.norm(chord) * np.linalg.norm(w)), rel=1e-3
    )  # nodes saved in float32
    assert all(
        {"readout_cos", "top_pc_fraction", "dist_to_visited_median"} <= set(row)
        for row in m["fixed_points"]["by_tolerance"]["value"]
    )
    ev = np.abs(arrays["eigvals"])
    assert m["modes"]["n_slow_modes_median"]["value"] == float(np.median((ev > 0.98).sum(1)))
    assert np.all(ev[:, :-1] >= ev[:, 1:] - 1e-6)  # sorted by |lambda|, descending
    assert m["fixed_points"]["dist_to_visited_median"]["value"] == pytest.approx(
        float(np.median(arrays["fp_dist_to_visited"]))
    )
    assert m["modes"]["null_mean"]["value"] == pytest.approx(m["modes"]["null_mean_closed_form"]["value"], rel=0.05)
    # every metric carries a definition, and every reported metric is one of the table's, and all of
    # the table's metrics are reported (a complete analysis of a synthetic corpus measures them all)
    reported = set()
    for sname, section in m.items():
        for name, node in section.items():
            if isinstance(node, dict) and "value" in node:
                assert isinstance(node["definition"], str) and node["definition"]
                assert "{" not in node["definition"], node["definition"]  # templates filled in
                reported.add(f"{sname}.{name}")
    assert reported == {
        p for p, spec in METRICS.items() if p.split(".")[0] not in optional_sections() and spec.only_when is None
    }
    assert r.value("fixed_points.n_converged") == n_conv
    assert m["fixed_points"]["n_converged"]["definition"].startswith(
        "points with q = (1/N)||F(h*, x*) - h*||^2 < 1e-08"
    )
    prov = summary["provenance"]
    assert prov["corpus_fingerprint"] == corpus.fingerprint() and prov["trained_on_same_corpus"] is True
    assert prov["code_version"] and prov["checkpoint"].endswith("gru")
    assert "readout . r_1 >= 0" in summary["sign_convention"]
    # the true-valence checks are evaluated because the corpus has truth
    names = {c["name"] for c in summary["checks"]}
    assert {"truth_valence_spearman", "truth_lambda1_within_0.02", "readout_aligned"} <= names
    # no temporary files left behind; the arrays file holds no pickled objects
    # (and the output folder's marker of what rnnlens wrote there: rnnlens._atomic)
    assert sorted(p.name for p in (tmp_path / "an").iterdir()) == [
        ".rnnlens-output.json",
        "arrays.npz",
        "fixed_points.safetensors",
        "summary.json",
    ]
    with np.load(tmp_path / "an" / "arrays.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    # the sign convention holds at every point: readout . r_1 >= 0
    assert m["modes"]["readout_dot_r1_median"]["value"] >= 0


def test_n_states_counts_every_token(ckpt, corpus):
    ck = load_checkpoint(ckpt)
    r = analyze(ck, corpus, AnalysisSettings.make(modifiers=None, **FAST))
    chosen = r.summary["metrics"]["data"]["n_docs"]["value"]
    rng = np.random.default_rng(0)
    idx = np.sort(rng.choice(len(corpus.splits["test"].texts), 40, replace=False))
    tokens = sum(len(ck.vocab.encode(corpus.splits["test"].texts[i])) for i in idx)
    assert chosen == 40 and r.summary["metrics"]["data"]["n_states"]["value"] == tokens


def test_no_fixed_point_under_threshold_gives_partial_result(ckpt, corpus, tmp_path):
    r = analyze(
        ckpt,
        corpus,
        AnalysisSettings.make(tol=1e-300, solver_options={"max_iter": 1}, modifiers=None, **FAST),
        out_dir=tmp_path / "p",
    )
    loaded = load_analysis(tmp_path / "p")
    s, arrays = loaded.summary, loaded.arrays
    assert s["status"] == "partial" and r.complete is False
    assert "no fixed point reached q < 1e-300" in s["missing"][0]["why"]
    assert s["missing"][0]["why"].endswith(
        "from 30 seeds (smallest q " + f"{min(r.fixed_points.q.tolist()):.3g}); "
        "try more seeds (n_seeds), more solver iterations or check that the "
        "network was trained"
    )
    assert s["missing"][0]["what"] == "fixed-point geometry, spectra, word valence, linearization"
    assert s["metrics"]["fixed_points"]["n_converged"]["value"] == 0
    assert "manifold" not in s["metrics"] and "eigvals" not in arrays
    assert "pca" in s["metrics"] and "speed" in s["metrics"]  # what does not need fixed points is there
    tol_checks = [c for c in s["checks"] if c["name"].startswith("tol_")]
    assert len(tol_checks) == 3 and all(c["passed"] is None and "not measured" in c["detail"] for c in tol_checks)
    # the slow manifold does not need an exact fixed point: it is traced and checked all the same
    assert s["metrics"]["slow_manifold"]["n_points"]["value"] == 64
    assert next(c for c in s["checks"] if c["name"] == "lambda1_near_one")["passed"] is not None


def test_vocabulary_mismatch_is_a_data_error(ckpt):
    other = Corpus(
        name="csv",
        label_names=["neg", "pos"],
        source="test",
        splits={
            "test": Split(texts=["zzqx yyqw wwqv"] * 5 + ["vvqu"] * 5, labels=np.array([0, 1] * 5, dtype=np.int64))
        },
        info={},
    )
    with pytest.raises(DataError, match="vocabulary does not match"):
        analyze(ckpt, other, AnalysisSettings.make(modifiers=None, **FAST))


def test_label_count_mismatch_is_a_data_error(ckpt):
    three = load_corpus("synthetic", seed=0, num_classes=3, **SMALL)
    with pytest.raises(DataError, match="classifies 2 labels"):
        analyze(ckpt, three, AnalysisSettings.make(modifiers=None, **FAST))


def test_bad_arguments(ckpt, corpus):
    with pytest.raises(ArgumentError, match="n_docs"):
        analyze(ckpt, corpus, AnalysisSettings.make(n_docs=0, modifiers=None))
    with pytest.raises(ArgumentError, match="input_point"):
        analyze(ckpt, corpus, AnalysisSettings.make(input_point="median", modifiers=None))
    with pytest.raises(ArgumentError) as info:
        analyze(load_checkpoint(ckpt).model, corpus)
    assert str(info.value) == (
        "analyze(model, corpus): a bare model needs its vocabulary: pass "
        "rnnlens.Network(model, vocab), or a checkpoint folder / Checkpoint"
    )
    with pytest.raises(DataError, match="no 'dev' split"):
        analyze(ckpt, corpus, AnalysisSettings.make(split="dev", modifiers=None))


def test_checkpoint_problems_are_checkpoint_errors(ckpt, corpus, tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint folder"):
        analyze(tmp_path / "nothing", corpus)
    # a checkpoint written by another format version
    import shutil

    old = tmp_path / "old"
    shutil.copytree(ckpt, old)
    cfg = json.loads((old / "config.json").read_text())
    cfg["format_version"] = 999
    (old / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="format version 999"):
        analyze(old, corpus)
    # a checkpoint with its weights missing
    shutil.copytree(ckpt, tmp_path / "noweights")
    (tmp_path / "noweights" / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.safetensors: file missing"):
        analyze(tmp_path / "noweights", corpus)


def test_cli_analyze_then_report(ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLENS_CACHE_DIR", str(tmp_path / "cache"))  # analyze fits its bag of words there
    runner = CliRunner()
    args = [
        "analyze",
        str(ckpt),
        "--dataset",
        "synthetic",
        "-o",
        str(tmp_path / "an"),
        "--n-docs",
        "30",
        "--n-seeds",
        "20",
    ] + sum((["--option", f"{k}={v}"] for k, v in SMALL.items()), [])
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "n_converged = " in res.output and "--" in res.output and "[checks]" in res.output
    assert (tmp_path / "an" / "summary.json").is_file()
    res = runner.invoke(main, ["report", str(tmp_path / "an"), "-o", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep" / "report.html").is_file()


def test_cli_user_mistakes_exit_2_without_traceback(ckpt, tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["analyze", str(tmp_path / "missing"), "--dataset", "synthetic", "-o", str(tmp_path)])
    assert res.exit_code == 2 and "error:" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["report", str(tmp_path / "empty"), "-o", str(tmp_path / "r")])
    assert res.exit_code == 2 and "no analysis summary here" in res.output


def test_tolerance_sweep_reports_each_tolerance_on_the_same_seeds(ckpt, corpus):
    from rnnlens.fixedpoints import find_fixed_points

    r = analyze(ckpt, corpus, AnalysisSettings.make(tol=1e-12, tol_sweep=(1e-8, 1e-4), modifiers=None, **FAST))
    rows = r.summary["metrics"]["fixed_points"]["by_tolerance"]["value"]
    assert [row["tol"] for row in rows] == [1e-12, 1e-8, 1e-4]
    # the row at tol is the main search
    assert rows[0]["n_converged"] == r.summary["metrics"]["fixed_points"]["n_converged"]["value"]
    # each point stops at its first iterate under the tolerance, on the same trajectory: a looser
    # tolerance can only keep more points
    counts = [row["n_converged"] for row in rows]
    assert counts == sorted(counts)
    # and each row is what a direct search at that tolerance gives
    seeds = r.fixed_points.seeds
    again = find_fixed_points(ckpt_cell(ckpt), seeds, r.fixed_points.inputs, tol=1e-4)
    assert int(np.asarray(again.converged).sum()) == rows[-1]["n_converged"]
    # the points stop where that tolerance stops them (not at the main search's): the same distances travelled
    # (the row's median is torch's, over all seeds: the lower middle value for an even count)
    assert rows[-1]["distance_median"] == pytest.approx(
        float(torch.as_tensor(again.distance).double().median()), rel=1e-6
    )
    assert rows[-1]["distance_median"] != pytest.approx(rows[0]["distance_median"], rel=1e-3)


def ckpt_cell(path):
    return load_checkpoint(path).model.cell


def test_readout_alignment_over_the_coordinates_the_readout_sees(ckpt, corpus, tmp_path):
    # GRU: the readout sees the whole state, so both alignments agree and m is fully visible
    r = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST))
    man = r.summary["metrics"]["manifold"]
    assert man["m_readout_visible_fraction"]["value"] == pytest.approx(1.0)
    assert man["readout_cos_visible"]["value"] == pytest.approx(man["readout_cos"]["value"])
    # LSTM: the readout sees h (first N numbers of [h, c]) only
    vocab = load_checkpoint(ckpt).vocab
    torch.manual_seed(1)
    model = SentimentRNN(len(vocab), arch="lstm", embed_dim=6, hidden_size=8)
    path = tmp_path / "lstm"
    save_checkpoint(path, model, vocab, {"dataset": "synthetic", "data_fingerprint": corpus.fingerprint()})
    r = analyze(path, corpus, AnalysisSettings.make(modifiers=None, **FAST))
    man = r.summary["metrics"]["manifold"]
    pts = r.fixed_points[r.fixed_points.converged].points.double().numpy()
    m = np.linalg.svd(pts - pts.mean(0), full_matrices=False)[2][0]
    w = model.readout.weight.detach().double().numpy()[0]
    assert man["m_readout_visible_fraction"]["value"] == pytest.approx(float(np.sum(m[:8] ** 2)), rel=1e-6)
    want = abs(m[:8] @ w) / (np.linalg.norm(m[:8]) * np.linalg.norm(w))
    assert man["readout_cos_visible"]["value"] == pytest.approx(want, rel=1e-6)
    assert man["readout_cos"]["value"] == pytest.approx(abs(m[:8] @ w) / np.linalg.norm(w), rel=1e-6)


def test_slow_manifold_readout_alignment_recomputed(ckpt, corpus, tmp_path):
    # the check's alignment is the median over nodes of |cos(tangent, Cov(h, w.h))| over every visited
    # state; recompute it from the saved curve tangents' cosines and from the states themselves
    from rnnlens import Network
    from rnnlens.analysis.geometry import readout_covariance_direction
    from rnnlens.analysis.inputs import select_documents

    r = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST), out_dir=tmp_path / "a")
    loaded = load_analysis(tmp_path / "a")
    s, arrays = loaded.summary, loaded.arrays
    sm = s["metrics"]["slow_manifold"]
    assert sm["readout_alignment"]["value"] == sm["tangent_readout_covariance_cos_median"]["value"]
    assert sm["readout_alignment"]["value"] == pytest.approx(float(np.median(arrays["sm_covariance_cos"])))
    ck = load_checkpoint(ckpt)
    docs = select_documents(ck.vocab, corpus.splits["test"], FAST["n_docs"], None, 0)
    X = np.concatenate(Network(ck.model, ck.vocab).states(docs.encoded))
    w = ck.model.readout_matrix().double().numpy()[0]
    c = readout_covariance_direction(X, w)
    t = r.slow_manifold.tangent.cpu().numpy()
    want = np.median(np.abs(t @ c) / (np.linalg.norm(t, axis=1) * np.linalg.norm(c)))
    assert sm["readout_alignment"]["value"] == pytest.approx(float(want), rel=1e-6)
    # the share of the final readout explained by the position along the curve, recomputed from the states
    from rnnlens.analysis.sections.slow_manifold import readout_explained

    curve = r.slow_manifold
    finals = np.stack([x[-1] for x in Network(ck.model, ck.vocab).states(docs.encoded)]).astype(np.float64)
    want = readout_explained(
        finals, finals @ w, curve.points.cpu().numpy(), curve.arclength.cpu().numpy(), curve.readout.cpu().numpy()
    )
    assert sm["readout_explained_by_position"]["value"] == pytest.approx(float(want), rel=1e-6, abs=1e-9)


def test_readout_explained_by_position_on_a_short_straight_curve():
    from rnnlens.analysis.sections.slow_manifold import readout_explained

    # a straight curve from -1 to 1 along e0 (readout = e0 . h); states spread from -3 to 3 along it, plus
    # noise in e1 that the readout ignores: the extension past the ends explains every readout
    g = np.random.default_rng(0)
    nodes = np.stack([np.linspace(-1, 1, 9), np.zeros(9)], 1)
    arc = np.linspace(0, 2, 9)
    X = np.stack([g.uniform(-3, 3, 500), g.normal(0, 0.3, 500)], 1)
    assert readout_explained(X, X[:, 0], nodes, arc, nodes[:, 0]) == pytest.approx(1.0, abs=1e-12)
    # clamping at the ends instead would have explained less: check the states past the ends matter
    inside = np.abs(X[:, 0]) <= 1
    assert (~inside).sum() > 100
    # a readout that does not depend on the position explains nothing (about 0)
    assert abs(readout_explained(X, X[:, 1], nodes, arc, np.zeros(9))) < 0.05


def test_slow_manifold_nodes_are_saved_in_state_space(ckpt, corpus, tmp_path):
    # explore (and users) rebuild the line from a saved analysis: the nodes in state space, consistent
    # with their saved PC coordinates and with the traced curve
    r = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST), out_dir=tmp_path / "a")
    loaded = load_analysis(tmp_path / "a")
    arrays = loaded.arrays
    pts = arrays["sm_points"]
    assert pts.shape == (64, 8) and pts.dtype == np.float32
    np.testing.assert_allclose(pts, r.slow_manifold.points.cpu().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        (pts - arrays["pc_mean"]) @ arrays["pc_components"].T, arrays["sm_pc"], rtol=1e-4, atol=1e-5
    )


def test_valence_section_records_its_sources(ckpt, corpus):
    from rnnlens.baseline import fit_bag_of_words

    # without a bag of words: one missing item, named once (not once per section)
    r = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST))
    assert r.summary["missing"] == [
        {
            "what": "word valence vs bag-of-words coefficients and the word groups",
            "why": "no bag-of-words baseline was given (bow=...; `rnnlens baseline`)",
        }
    ]
    m = r.summary["metrics"]
    assert "at a fixed point" in m["valence"]["definition"]
    assert m["slow_manifold"]["method"].startswith("relax with the network's dynamics; principal curve")
    # the true valence beside the network's, word by word, for both point sets
    truth = corpus.truth.valence
    vocab = load_checkpoint(ckpt).vocab.itos
    tw = [i for i, w in enumerate(vocab) if w in truth]
    for prefix in ("", "sm_"):
        assert r.arrays[prefix + "truth_valence"].tolist() == [truth[vocab[i]] for i in tw]
        np.testing.assert_allclose(
            r.arrays[prefix + "truth_model_valence"], r.arrays[prefix + "valence_mean"][tw], rtol=1e-6
        )
    # with a fitted bag of words: where it came from, and over how many words the correlation runs
    bow = fit_bag_of_words(corpus)
    m = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST), bow=bow).summary["metrics"]
    info = m["valence"]["bow"]
    assert info["source"] == "rnnlens.baseline.BagOfWords" and info["data_fingerprint"] == corpus.fingerprint()
    assert info["direction"] == "coef[0]" and "warning" not in info and info["accuracy"] == bow.accuracy
    assert isinstance(m["valence"]["spearman_bow"]["value"], float)
    assert len(m["modes"]["tau_median"]["value"]) == 3  # the 3 slowest modes, median over points
    n_shared = len(set(bow.words) & set(vocab) - {"<pad>", "<unk>"})
    assert m["valence"]["spearman_bow"]["definition"].endswith(f"over {n_shared} shared words")


def test_a_checkpoint_without_a_folder_records_none(ckpt, corpus):
    from rnnlens.checkpoint import Checkpoint

    ck = load_checkpoint(ckpt)
    r = analyze(
        Checkpoint(ck.model, ck.vocab, ck.record, None),
        corpus,
        AnalysisSettings.make(n_docs=10, n_seeds=5, n_transitions=20, n_speed=2, speed_steps=2, modifiers=None),
    )
    assert r.summary["provenance"]["checkpoint"] is None
    with pytest.raises(ArgumentError, match=r"^analysis setting seed=-1 is invalid: use an integer >= 0\.$"):
        analyze(ckpt, corpus, AnalysisSettings.make(seed=-1, modifiers=None))


def test_a_checkpoint_object_records_its_folder(ckpt, corpus):
    r = analyze(
        load_checkpoint(ckpt),
        corpus,
        AnalysisSettings.make(n_docs=10, n_seeds=5, n_transitions=20, n_speed=2, speed_steps=2, modifiers=None),
    )
    assert r.summary["provenance"]["checkpoint"] == str(ckpt)


def test_analyze_refuses_what_is_not_a_model(corpus):
    with pytest.raises(ArgumentError) as info:
        analyze(42, corpus)
    assert str(info.value) == (
        "analyze: the network must be a checkpoint folder, a Checkpoint, a rnnlens.Network "
        "or a SentimentRNN with its vocabulary; got int"
    )


def test_the_arrays_hold_every_key_the_report_reads(ckpt, corpus, tmp_path):
    # the report finds its figures' data by name: a renamed or missing array would silently drop a figure
    import re
    from pathlib import Path

    import rnnlens.report as report_pkg

    names = set()
    for src in Path(report_pkg.__file__).parent.glob("*.py"):
        text = src.read_text()
        names |= set(re.findall(r'arrays(?:\.get\()?\[?"([a-z_0-9]+)"', text))
        for call in re.findall(r"_has\(arrays, ([^)]*)\)", text):
            names |= set(re.findall(r'"([a-z_0-9]+)"', call))
    binary = {n for n in names if not n.startswith(("kc_", "mod_"))}
    assert {"readout_pc", "state_pc", "fp_theta", "sm_q", "speed", "group_positive"} <= binary
    coef = {w: float(v) for w, v in corpus.truth.valence.items()}
    r = analyze(ckpt, corpus, AnalysisSettings.make(modifiers=None, **FAST), bow=coef)
    assert binary <= set(r.arrays), sorted(binary - set(r.arrays))
    assert r.arrays["state_pc"].dtype == np.float32
