"""rnnlens compare: many saved analyses compared by SVCCA, topology and DSA; distance matrices, MDS and the
nearest-neighbour label accuracy, checked on constructed networks with known answers, then end to end."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rnnlens.compare.study import (
    CompareSettings,
    Member,
    compare_members,
    load_members,
    mds_embedding,
    nearest_neighbour_accuracy,
)
from rnnlens.errors import ArgumentError


def _orthogonal(n: int, rng) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q


def _member(name: str, label: str, states: np.ndarray, lengths, index=None, edges=None) -> Member:
    arrays = {"traj_states": states.astype(np.float32), "traj_lengths": np.asarray(lengths)}
    summary: dict = {"metrics": {}, "provenance": {"corpus_fingerprint": "same"}}
    if index is not None:
        arrays.update(
            topo_points=np.zeros((len(index), states.shape[1]), np.float32),
            topo_index=np.asarray(index),
            topo_edges=np.asarray(edges).reshape(-1, 2),
            topo_q=np.zeros(len(index)),
        )
        summary["metrics"]["topology"] = {
            "counts_by_index": {"value": np.bincount(index).tolist()},
            "n_edges": {"value": len(edges)},
            "wl_hash": {"value": "h" + "".join(map(str, index))},
        }
    return Member(name, None, label, summary, arrays)


@pytest.fixture
def two_families():
    """Six 'networks': three rotated, rescaled copies of one state cloud (label a, three attractors joined by
    two saddles) and three of another, unrelated one (label b, two attractors and one saddle)."""
    rng = np.random.default_rng(0)
    lengths = [30] * 10
    base = {lab: rng.standard_normal((300, 6)) @ rng.standard_normal((6, 12)) for lab in "ab"}
    graphs = {"a": ([0, 1, 0, 1, 0], [(1, 0), (1, 2), (3, 2), (3, 4)]), "b": ([0, 1, 0], [(1, 0), (1, 2)])}
    members = []
    for lab in "ab":
        for k in range(3):
            states = base[lab] @ _orthogonal(12, rng) * (1 + k)
            members.append(_member(f"{lab}{k}", lab, states, lengths, *graphs[lab]))
    return members


def test_nearest_neighbour_accuracy_and_its_chance():
    D = np.array([[0, 1, 5, 5], [1, 0, 5, 5], [5, 5, 0, 2], [5, 5, 2, 0]], dtype=float)
    assert nearest_neighbour_accuracy(D, ["x", "x", "y", "y"]) == (1.0, pytest.approx(4 / 12))
    assert nearest_neighbour_accuracy(D, ["x", "y", "x", "y"]) == (0.0, pytest.approx(4 / 12))
    assert nearest_neighbour_accuracy(D, ["x", "x", "x", "y"])[1] == pytest.approx(6 / 12)
    # ties: network 0's nearest are 1 (same label) and 2 (other): it counts one half, whatever the order
    T = np.array([[0, 1, 1], [1, 0, 2], [1, 2, 0]], dtype=float)
    assert nearest_neighbour_accuracy(T, ["x", "x", "y"])[0] == pytest.approx((0.5 + 1 + 0) / 3)


def test_mds_recovers_points_on_a_line():
    x = np.array([0.0, 1.0, 3.0, 7.0])
    xy, stress = mds_embedding(np.abs(x[:, None] - x[None, :]))
    d = np.linalg.norm(xy[:, None] - xy[None, :], axis=-1)
    np.testing.assert_allclose(d, np.abs(x[:, None] - x[None, :]), atol=1e-6)
    assert stress < 1e-6
    assert mds_embedding(np.zeros((3, 3)))[1] == 0.0


def test_rotated_copies_are_one_family_by_geometry_and_topology(two_families):
    c = compare_members(two_families, CompareSettings(measures=("svcca", "topology")))
    sv, top = c.distances("svcca"), c.distances("topology")
    a, b = slice(0, 3), slice(3, 6)
    # SVCCA: a rotated, rescaled copy has the same geometry (distance 0); the two clouds are unrelated
    assert np.abs(sv[a, a]).max() < 1e-9 and np.abs(sv[b, b]).max() < 1e-9
    assert sv[a, b].min() > 0.3
    # topology: isomorphic labelled graphs within a family; 1 + |counts| + |edges| between: 1 + (1 + 1) + 2
    assert np.abs(top[a, a]).max() == 0 and np.abs(top[b, b]).max() == 0
    assert np.all(top[a, b] == 5.0)
    for name in ("svcca", "topology"):
        m = c.measures[name]
        assert m["nn_accuracy"] == 1.0 and m["nn_chance"] == pytest.approx(12 / 30)
        assert "distance" in m["definition"] and m["mds"].shape == (6, 2)
    assert c.missing == {}
    assert [t["counts_by_index"] for t in c.topology] == [[3, 2]] * 3 + [[2, 1]] * 3
    assert "top 10 principal directions" in c.measures["svcca"]["definition"]
    # the 99%-of-variance variant: the same answer here (each cloud spans 6 dimensions)
    c99 = compare_members(two_families, CompareSettings(measures=("svcca",), svcca_dims=None))
    assert (
        np.abs(c99.distances("svcca")[a, a]).max() < 1e-9
        and "0.99 of its variance" in c99.measures["svcca"]["definition"]
    )


def test_svcca_keeps_the_same_number_of_directions_for_every_network():
    # a larger subspace correlates better with anything: X and W are unrelated 3-dimensional clouds and Z an
    # unrelated 40-dimensional one; kept at 99% of their variance, Z looks much nearer to X (0.69) than W does
    # (0.92); with the same 3 directions each, the two unrelated clouds are equally far (0.90 and 0.92)
    from rnnlens.compare.study import top_directions

    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3)) @ rng.standard_normal((3, 20))
    W = rng.standard_normal((400, 3)) @ rng.standard_normal((3, 20))
    Z = rng.standard_normal((400, 40))
    assert top_directions(X, 10).shape == (400, 3) and top_directions(Z, 10).shape == (400, 10)
    members = [_member(n, n, S, [400]) for n, S in (("x", X), ("w", W), ("z", Z))]
    D99 = compare_members(members, CompareSettings(measures=("svcca",), svcca_dims=None)).distances("svcca")
    D3 = compare_members(members, CompareSettings(measures=("svcca",), svcca_dims=3)).distances("svcca")
    assert D99[0, 2] < D99[0, 1] - 0.2  # the bias
    assert abs(D3[0, 2] - D3[0, 1]) < 0.05 and D3[0, 2] > 0.85


def test_dsa_separates_two_dynamical_systems(two_families):
    pytest.importorskip("DSA", reason="dsa-metric is not installed (the compare extra)")
    rng = np.random.default_rng(1)
    members = []
    for lab, angle in (("slow", 0.05), ("fast", 0.6)):
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * 0.98
        for k in range(3):
            trajs, seen = [], rng.standard_normal((2, 5))  # each network sees its 2-D state through a 5-D map
            for _ in range(8):
                h, rows = rng.standard_normal(2), []
                for _ in range(40):
                    h = rot @ h + 0.01 * rng.standard_normal(2)
                    rows.append(h)
                trajs.append(np.array(rows) @ seen)
            members.append(_member(f"{lab}{k}", lab, np.concatenate(trajs), [40] * 8))
    # rank 2, the dynamics' own dimension: at rank 4 two modes fitted to the noise differ between copies as
    # much as the two systems do (within 0.18, between from 0.15)
    c = compare_members(members, CompareSettings(measures=("dsa",), dsa_delays=3, dsa_rank=2, dsa_steps=40))
    D = c.distances("dsa")
    assert D[:3, 3:].min() > 3 * max(D[:3, :3].max(), D[3:, 3:].max())
    assert c.measures["dsa"]["nn_accuracy"] == 1.0 and "40 steps" in c.measures["dsa"]["definition"]


def test_a_measure_without_its_section_is_missing_with_why_and_settings_are_checked(two_families):
    bare = [Member(m.name, None, m.label, {"metrics": {}}, {}) for m in two_families[:3]]
    c = compare_members(bare, CompareSettings(measures=("svcca", "topology")))
    assert c.measures == {} and "section trajectories" in c.missing["svcca"] and "topology" in c.missing["topology"]
    with pytest.raises(ArgumentError, match="no svcca distances"):
        c.distances("svcca")
    with pytest.raises(ArgumentError, match="unknown \\['cka'\\]"):
        CompareSettings(measures=("svcca", "cka"))
    with pytest.raises(ArgumentError, match="svcca_keep"):
        CompareSettings(svcca_keep=1.5)


@pytest.fixture(scope="module")
def analyses(tmp_path_factory):
    """Two untrained networks' quick analyses on the same synthetic sequences (trajectories and topology)."""
    from rnnlens import AnalysisSettings, Network, Sequences, analyze

    root = tmp_path_factory.mktemp("analyses")
    rng = np.random.default_rng(0)
    data = Sequences.from_arrays(rng.standard_normal((30, 20, 3)), targets=rng.standard_normal((30, 20, 2)))
    settings = AnalysisSettings.make(n_docs=30, n_seeds=40, tol_sweep=[], n_trajectories=10)
    out = []
    for k, cls in enumerate((torch.nn.GRU, torch.nn.LSTM, torch.nn.GRU)):
        torch.manual_seed(k)
        net = Network.from_parts(rnn=cls(3, 6, batch_first=True), readout=torch.nn.Linear(6, 2))
        analyze(net, data, settings, out_dir=root / f"net{k}")
        out.append(root / f"net{k}")
    return out


def test_compare_reads_saved_analyses_and_writes_its_folder(analyses, tmp_path):
    from rnnlens.cli import main

    out = tmp_path / "cmp"
    args = ["compare", *map(str, analyses), "-o", str(out), "--measures", "svcca,topology"]
    r = CliRunner().invoke(main, [*args, "--label", "x", "--label", "y", "--label", "x"])
    assert r.exit_code == 0, r.output
    assert "svcca: nearest-neighbour label accuracy" in r.output and "report:" in r.output
    got = json.loads((out / "comparison.json").read_text())
    assert got["labels"] == ["x", "y", "x"] and got["names"] == ["net0", "net1", "net2"]
    D = np.array(got["measures"]["svcca"]["distances"])
    assert D.shape == (3, 3) and np.allclose(D, D.T) and np.all(np.diag(D) == 0) and D[0, 1] > 0
    assert "SVCCA distance" in got["measures"]["svcca"]["definition"]
    assert (out / "comparison.png").is_file() and "Does each measure separate" in (out / "report.html").read_text()
    # a second run replaces its own outputs; a file of the user's named like one is refused
    assert CliRunner().invoke(main, args).exit_code == 0
    (out / "comparison.json").unlink()
    (out / "comparison.json").write_text("mine")
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and "rnnlens did not write" in r.output
    assert (out / "comparison.json").read_text() == "mine"


def test_a_sweep_folder_gives_its_trials_analyses_and_other_inputs_are_refused(analyses, tmp_path):
    from rnnlens.cli.compare import analysis_folders

    sweep = tmp_path / "sweep"
    for k, a in enumerate(analyses):
        shutil.copytree(a, sweep / "trials" / f"t{k}" / "analysis")
    (sweep / "trials" / "t9").mkdir()  # a trial that did not finish
    assert [p.parent.name for p in analysis_folders([sweep])] == ["t0", "t1", "t2"]
    with pytest.raises(ArgumentError, match="not an analysis folder"):
        analysis_folders([tmp_path])
    members = load_members(analysis_folders([sweep]))
    assert [m.name for m in members] == ["t0", "t1", "t2"] and [m.label for m in members] == ["GRU", "LSTM", "GRU"]
    other = tmp_path / "other"
    shutil.copytree(analyses[1], other)
    summary = json.loads((other / "summary.json").read_text())
    summary["provenance"]["corpus_fingerprint"] = "0" * 64
    (other / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(ArgumentError, match="analysed other data"):
        load_members([analyses[0], other])
    with pytest.raises(ArgumentError, match="at least 2"):
        load_members([analyses[0]])


def test_a_sweep_compares_each_datasets_finished_analyses_when_its_spec_asks(analyses, tmp_path):
    from types import SimpleNamespace

    from rnnlens.sweep.summary import _comparisons_html, comparisons

    rows = [{"dataset": "ff", "state": "done", "trial": f"t{k}", "arch": a} for k, a in enumerate(["gru", "lstm"])]
    rows += [{"dataset": "ff", "state": "failed", "trial": "t2", "arch": "gru"}]
    rows += [{"dataset": "other", "state": "done", "trial": "t3", "arch": "gru"}]
    for k in range(2):
        shutil.copytree(analyses[k], tmp_path / "trials" / f"t{k}" / "analysis")
    shutil.copytree(analyses[2], tmp_path / "trials" / "t3" / "analysis")
    assert comparisons(SimpleNamespace(compare={}), tmp_path, rows) == {}  # not asked for
    got = comparisons(SimpleNamespace(compare={"measures": ("svcca",)}), tmp_path, rows)
    assert got["ff"]["networks"] == 2 and set(got["ff"]["measures"]) == {"svcca"}
    assert got["other"] == {"why": "1 finished analyses; a comparison needs 2"}
    assert (tmp_path / got["ff"]["report"]).is_file()
    assert json.loads((tmp_path / "compare" / "ff" / "comparison.json").read_text())["labels"] == ["gru", "lstm"]
    page = _comparisons_html(got)
    assert "ff: 2 networks" in page and "other: no comparison" in page


def test_a_sweep_of_task_networks_has_no_word_valences_to_agree_on(analyses, tmp_path):
    # the flip-flop sweep's summary once failed here: a task network's checkpoint has no vocabulary
    from rnnlens.sweep.summary import _valences

    trial = tmp_path / "t0"
    shutil.copytree(analyses[0], trial / "analysis")
    (trial / "checkpoint").mkdir()
    (trial / "checkpoint" / "config.json").write_text(json.dumps({"vocab": None}))
    assert _valences(trial) is None
