"""The analysis as registered sections: a new section is one module plus one registry line, and then it
is measured by analyze (summary.json, arrays.npz), drawn by the report, shown by the explorer's
/api/scene; the settings are checked the same way by the Python API, the command line and a sweep SPEC."""

from __future__ import annotations

import dataclasses
import importlib
import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from rnnlens.analysis import AnalysisSettings, analyze, load_analysis
from rnnlens.analysis.registry import register, sections, unregister
from rnnlens.checkpoint import save_checkpoint
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError
from rnnlens.model import SentimentRNN

SMALL = dict(n_train=200, n_validation=40, n_test=60, min_length=5, max_length=12)
FAST = dict(n_docs=40, n_seeds=20, n_transitions=200, n_speed=5, speed_steps=5, tol_sweep=(), modifiers=None)

# A whole section in one module: its settings group, measurement, metric, array, figure, table and scene.
DUMMY = """
from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, FigureSpec, Measurement, MetricSpec, Section, metric
from rnnlens.settings import Real, SettingsGroup, setting


@dataclass(frozen=True)
class DummySettings(SettingsGroup):
    name = "dummy"
    dummy_scale: float = setting(2.0, "Scale of the readout norm.", Real(gt=0))


def measure(run):
    w = run.products["documents"].w
    out = Measurement(arrays={"dummy_w": w.copy()})
    out.metrics["dummy"] = {"scaled_norm": metric("dummy.scaled_norm", run.settings.dummy.dummy_scale
                                                  * float(np.linalg.norm(w)), scale=run.settings.dummy.dummy_scale)}
    return out


def draw(summary, arrays):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot(arrays["dummy_w"])
    return fig


def table(summary):
    return "<p id='dummy-table'>scaled norm %.6f</p>" % summary["metrics"]["dummy"]["scaled_norm"]["value"]


def scene(summary, arrays):
    return {"w": np.asarray(arrays["dummy_w"]).round(6).tolist()}


SECTION = Section(name="dummy", title="a dummy section", measure=measure, settings=DummySettings,
                  metrics=(MetricSpec("dummy.scaled_norm", "{scale:g} x ||w||, w the readout direction"),),
                  arrays=(ArraySpec("dummy_w", "f", 1, "[S] the readout direction"),),
                  figures=(FigureSpec("fig_dummy", "rnnlens_dummy_section:draw", "the readout direction"),),
                  table="rnnlens_dummy_section:table", scene="rnnlens_dummy_section:scene")
"""


@pytest.fixture(scope="module")
def corpus():
    return load_corpus("synthetic", seed=0, **SMALL)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, corpus):
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(0)
    model = SentimentRNN(len(vocab), arch="gru", embed_dim=6, hidden_size=8)
    path = tmp_path_factory.mktemp("ck") / "gru"
    save_checkpoint(path, model, vocab, {"dataset": "synthetic", "data_fingerprint": corpus.fingerprint()})
    return path


@pytest.fixture
def dummy_section(tmp_path, monkeypatch):
    (tmp_path / "rnnlens_dummy_section.py").write_text(textwrap.dedent(DUMMY))
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("rnnlens_dummy_section")
    register(module.SECTION)  # the one registry line
    yield module
    unregister("dummy")
    sys.modules.pop("rnnlens_dummy_section", None)


def test_a_new_section_is_one_module_and_one_registry_line(dummy_section, ckpt, corpus, tmp_path):
    from rnnlens.model import SentimentRNN  # noqa: F401
    from rnnlens.report import make_report

    settings = AnalysisSettings.make(dummy_scale=3.0, **FAST)
    assert settings.dummy.dummy_scale == 3.0 and sections()[-1].name == "dummy"
    result = analyze(ckpt, corpus, settings, out_dir=tmp_path / "an")
    w = result.arrays["dummy_w"]
    # summary.json: the metric with its definition, the settings group, the seconds; arrays.npz: the array
    saved = json.loads((tmp_path / "an" / "summary.json").read_text())
    node = saved["metrics"]["dummy"]["scaled_norm"]
    assert node["value"] == pytest.approx(3.0 * np.linalg.norm(w)) and node["definition"].startswith("3 x ||w||")
    assert saved["settings"]["dummy"] == {"dummy_scale": 3.0}
    assert "dummy" in saved["provenance"]["section_seconds"]
    loaded = load_analysis(tmp_path / "an")
    assert np.array_equal(loaded.arrays["dummy_w"], w) and loaded.value("dummy.scaled_norm") == node["value"]
    assert loaded.settings.dummy.dummy_scale == 3.0
    # the report draws its figure and writes its table
    text = make_report([tmp_path / "an"], tmp_path / "rep").read_text()
    assert (tmp_path / "rep" / "an" / "fig_dummy.png").is_file() and "the readout direction" in text
    assert f"scaled norm {node['value']:.6f}" in text
    # the explorer's /api/scene shows its part
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from rnnlens.explore.app import create_app
    from rnnlens.explore.engine import ExploreModel
    from rnnlens.network import Network

    model = ExploreModel.build("gru", Network.resolve(ckpt), loaded)
    scene = TestClient(create_app([model])).get("/api/scene", params={"model": "gru"}).json()
    assert scene["dummy"] == {"w": np.round(w, 6).tolist()}


def test_lookups_are_checked_against_the_declarations(ckpt, corpus):
    result = analyze(ckpt, corpus, AnalysisSettings.make(**FAST))
    with pytest.raises(KeyError, match="not a metric"):
        result.value("fixed_points.n_converged_typo")
    with pytest.raises(KeyError, match="not an array any analysis section declares"):
        result.arrays["eigvals_typo"]
    with pytest.raises(KeyError, match="not an array"):
        "eigvals_typo" in result.arrays  # noqa: B015
    assert "eigvals" in result.arrays and "mod_factor" not in result.arrays  # declared; measured or not


def test_a_section_must_declare_what_it_measures(ckpt, corpus):
    from rnnlens.analysis.registry import Measurement, Section

    register(
        Section(
            name="liar",
            title="saves an array it does not declare",
            measure=lambda run: Measurement(arrays={"undeclared": np.zeros(2)}),
        )
    )
    try:
        with pytest.raises(TypeError, match="section 'liar' measured array 'undeclared', which it does not declare"):
            analyze(ckpt, corpus, AnalysisSettings.make(**FAST))
    finally:
        unregister("liar")


def test_registering_a_taken_name_is_refused():
    from rnnlens.analysis.registry import Measurement, MetricSpec, Section

    with pytest.raises(ValueError, match="already registered"):
        register(Section(name="documents", title="", measure=lambda run: Measurement()))
    with pytest.raises(ValueError, match=r"already taken: \['data.n_docs'\]"):
        register(
            Section(
                name="other", title="", measure=lambda run: Measurement(), metrics=(MetricSpec("data.n_docs", "again"),)
            )
        )


def test_settings_round_trip_and_refuse_unknown_names():
    s = AnalysisSettings.make(n_docs=200, tol=1e-10, tol_sweep=[1e-6], modifiers=["not"])
    assert s.documents.n_docs == 200 and s.fixed_points.tol == 1e-10 and s.fixed_points.tol_sweep == (1e-6,)
    assert AnalysisSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert AnalysisSettings.from_dict({"n_docs": 200}).documents.n_docs == 200  # a flat table too
    assert s.replace(n_docs=300).documents.n_docs == 300 and s.documents.n_docs == 200  # frozen
    with pytest.raises(ArgumentError, match=r"unknown analysis settings \['n_dcos'\]"):
        AnalysisSettings.make(n_dcos=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.documents.n_docs = 5
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.documents = None


# every bad value is refused with the same message by the Python API, the command line and a sweep SPEC
BAD = [
    ("n_docs", 1, "1", "analysis setting n_docs=1 is invalid: use an integer >= 2."),
    ("tol", 0.0, "0", "analysis setting tol=0.0 is invalid: use a number > 0."),
    ("relax_steps", -1, "-1", "analysis setting relax_steps=-1 is invalid: use an integer >= 0."),
    ("manifold_points", 2, "2", "analysis setting manifold_points=2 is invalid: use an integer >= 3."),
    (
        "n_linear_docs",
        -4,
        "-4",
        "analysis setting n_linear_docs=-4 is invalid: use a positive integer, or None for all analysed documents.",
    ),
    (
        "input_point",
        "median",
        None,
        "analysis setting input_point='median' is invalid: choose one of zero, mean, task.",
    ),
    (
        "max_length",
        -3,
        "-3",
        "analysis setting max_length=-3 is invalid: use a positive integer, or None for no limit.",
    ),
    ("kclass_share", 1.5, "1.5", "analysis setting kclass_share=1.5 is invalid: use a number in (0, 1]."),
    (
        "tol_sweep",
        [1e-6, -1.0],
        "1e-6,-1",
        "analysis setting tol_sweep=(1e-06, -1.0) is invalid: use a list of finite numbers > 0 (may be empty).",
    ),
]


@pytest.mark.parametrize("name, value, cli, message", BAD, ids=[b[0] for b in BAD])
def test_api_cli_and_spec_refuse_a_bad_setting_with_one_message(name, value, cli, message, ckpt, corpus, tmp_path):
    from rnnlens.cli import main
    from rnnlens.sweep.spec import parse_spec

    with pytest.raises(ArgumentError) as api:
        AnalysisSettings.make(**{name: value})
    assert str(api.value) == message
    if cli is not None:  # (a choice the command line refuses itself, before the settings see it)
        r = CliRunner().invoke(
            main, ["analyze", str(ckpt), "-o", str(tmp_path / "o"), f"--{name.replace('_', '-')}", cli]
        )
        assert r.exit_code == 2 and r.output.strip() == f"error: {message}", r.output
        assert not (tmp_path / "o").exists()
    with pytest.raises(ArgumentError) as spec:
        parse_spec(
            {
                "name": "s",
                "architectures": ["gru"],
                "seeds": [0],
                "datasets": [{"name": "synthetic"}],
                "stages": ["train", "evaluate", "analyze"],
                "analysis": {name: value},
            },
            path="s.toml",
        )
    assert str(spec.value).endswith(f"analysis: {message}")
