"""SPEC parsing and checking, without Ray: every mistake names the key, before anything runs."""

import pytest

from rnnlens.errors import ArgumentError
from rnnlens.sweep.spec import load_spec, parse_spec

BASE = {"architectures": ["gru"], "datasets": [{"name": "synthetic", "options": {"n_train": 50}}]}


def spec(**more):
    return parse_spec({**BASE, **more}, path="s.toml")


def fails(match, **more):
    with pytest.raises(ArgumentError, match=match):
        spec(**more)


def test_tiny_spec_file_expands_to_four_trials(tiny_spec):
    s = load_spec(tiny_spec)
    assert len(s.trials) == 4
    assert {(t.arch, t.seed) for t in s.trials} == {("gru", 0), ("gru", 1), ("vanilla", 0), ("vanilla", 1)}
    t = s.trials[0]
    assert t.settings["hidden_size"] == 8 and t.settings["num_threads"] == 1
    assert t.train_settings().arch == t.arch
    assert t.analysis["n_docs"] == 40 and t.analysis["tol_sweep"] == []
    assert len({t.id for t in s.trials}) == 4
    assert t.id.startswith("synthetic-")
    # ids and hashes are stable: parsing again gives the same
    assert [x.id for x in load_spec(tiny_spec).trials] == [x.id for x in s.trials]


def test_yaml_spec_is_read_like_toml(tmp_path, tiny_spec):
    yaml = pytest.importorskip("yaml")
    import tomllib

    raw = tomllib.loads(tiny_spec.read_text())
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(raw))
    assert [t.id for t in load_spec(p).trials] == [t.id for t in load_spec(tiny_spec).trials]


def test_grid_and_random_draws_cross_and_are_seeded():
    s = spec(
        seeds=2,
        grid={"hidden_size": [8, 16]},
        random={
            "draws": 3,
            "seed": 7,
            "settings": {
                "lr": {"log_uniform": [1e-4, 1e-2]},
                "embed_dim": {"choice": [8, 16]},
                "batch_size": {"int_uniform": [16, 64]},
            },
        },
    )
    assert len(s.trials) == 1 * 1 * 2 * 3 * 2
    draws = {t.draw: (t.varied["lr"], t.varied["embed_dim"], t.varied["batch_size"]) for t in s.trials}
    assert len(draws) == 3
    for lr, e, b in draws.values():
        assert 1e-4 <= lr <= 1e-2 and e in (8, 16) and 16 <= b <= 64 and isinstance(b, int)
    again = spec(
        seeds=2,
        grid={"hidden_size": [8, 16]},
        random={
            "draws": 3,
            "seed": 7,
            "settings": {
                "lr": {"log_uniform": [1e-4, 1e-2]},
                "embed_dim": {"choice": [8, 16]},
                "batch_size": {"int_uniform": [16, 64]},
            },
        },
    )
    assert [t.id for t in again.trials] == [t.id for t in s.trials]


def test_the_recipe_settings_are_drawn_and_checked_like_the_others():
    s = spec(
        settings={"drop_longer": 1000, "embedding_init": "orthogonal", "lr_decay_steps": 500},
        random={
            "draws": 4,
            "seed": 0,
            "settings": {
                "recurrent_init": {"choice": ["default", "normal", "orthogonal"]},
                "initial_state": {"choice": ["zero", "learned"]},
                "adam_eps": {"log_uniform": [1e-8, 1e-1]},
                "l2_penalty": {"choice": [0.0, 1e-4]},
            },
        },
    )
    for t in s.trials:
        ts = t.train_settings()
        assert ts.drop_longer == 1000 and ts.embedding_init == "orthogonal" and ts.lr_decay_steps == 500
        assert ts.recurrent_init in ("default", "normal", "orthogonal") and ts.initial_state in ("zero", "learned")
        assert 1e-8 <= ts.adam_eps <= 1e-1 and ts.l2_penalty in (0.0, 1e-4)
    assert len({t.id for t in s.trials}) == 4  # each draw is another network
    fails(
        r"random\.settings\.initial_state.*choose one of zero, learned",
        random={"draws": 1, "settings": {"initial_state": {"choice": ["zero", "random"]}}},
    )
    fails(r"settings\.adam_eps: training setting adam_eps=0 is invalid", settings={"adam_eps": 0})


def test_seeds_as_count_and_defaults():
    s = spec(seeds=3)
    assert [t.seed for t in s.trials] == [0, 1, 2]
    assert s.stages == ("train", "evaluate", "analyze") and s.bag_of_words
    assert spec().trials[0].seed == 0


@pytest.mark.parametrize(
    "more, match",
    [
        ({"epochs": 3}, r"s\.toml: epochs: unknown key"),
        ({"settings": {"hidden_sise": 8}}, r"settings\.hidden_sise: unknown training setting"),
        ({"grid": {"hidden_size": []}}, r"grid\.hidden_size: is an empty list"),
        ({"grid": {"hidden_size": [8, 0]}}, r"grid\.hidden_size\[1\]: training setting hidden_size=0 is invalid"),
        ({"settings": {"lr_decay": 1.5}}, r"settings\.lr_decay: training setting lr_decay=1\.5 is invalid.*\(0, 1\]"),
        ({"settings": {"fast_path": "warp"}}, r"settings\.fast_path: .*choose one of auto, fused, scan"),
        ({"settings": {"seed": 3}}, r"settings\.seed: give seed with the top-level key 'seeds'"),
        ({"grid": {"arch": ["gru"]}}, r"grid\.arch: give arch with the top-level key 'architectures'"),
        ({"architectures": []}, r"architectures: is an empty list"),
        ({"architectures": ["gru", "transformer"]}, r"architectures\[1\]: unknown architecture 'transformer'"),
        ({"seeds": []}, r"seeds: is an empty list"),
        ({"seeds": [0, -1]}, r"seeds\[1\]: must be an integer >= 0"),
        ({"datasets": []}, r"datasets: is an empty list"),
        ({"datasets": [{"name": "imbd"}]}, r"datasets\[0\]\.name: unknown corpus 'imbd'"),
        ({"datasets": [{"name": "synthetic", "options": {"n_trian": 5}}]}, r"datasets\[0\]\.options\.n_trian: unknown"),
        ({"datasets": [{"name": "synthetic", "colour": 1}]}, r"datasets\[0\]\.colour: unknown key"),
        ({"datasets": [{"name": "synthetic"}, {"name": "synthetic"}]}, r"two datasets are labelled 'synthetic'"),
        ({"stages": ["analyze"]}, r"stages: must start with train"),
        ({"stages": ["train", "plot"]}, r"stages\[1\]: unknown stage 'plot'"),
        ({"analysis": {"n_dcos": 5}}, r"analysis: unknown analysis settings \['n_dcos'\]"),
        ({"analysis": {"n_docs": 1}}, r"analysis: analysis setting n_docs=1 is invalid: use an integer >= 2\."),
        ({"stages": ["train"], "analysis": {"n_docs": 10}}, r"analysis: analysis options are given but stages"),
        ({"random": {"draws": 2, "settings": {"lr": {"normal": [0, 1]}}}}, r"random\.settings\.lr: must be one of"),
        (
            {"random": {"draws": 2, "settings": {"lr": {"uniform": [0, 1]}}}},
            r"random\.settings\.lr\.uniform: training setting lr=0 is invalid",
        ),
        ({"random": {"draws": 2, "settings": {"lr": {"log_uniform": [1e-2, 1e-4]}}}}, r"lower bound .* above"),
        (
            {"random": {"draws": 0, "settings": {"lr": {"uniform": [0.1, 1]}}}},
            r"random\.draws: must be an integer >= 1",
        ),
        ({"random": {"settings": {"lr": {"uniform": [0.1, 1]}}}}, r"random\.draws: missing"),
        ({"resources": {"num_cpus": -1}}, r"resources\.num_cpus: must be a number >= 0"),
        ({"resources": {"num_gpu": 1}}, r"resources\.num_gpu: unknown key"),
        ({"grid": {"hidden_size": [8]}, "settings": {"hidden_size": 8}}, r"grid\.hidden_size: is also under"),
        ({"architectures": ["ugrnn"], "settings": {"fast_path": "fused"}}, r"settings\.fast_path: .*UGRNN"),
    ],
)
def test_bad_spec_names_the_key(more, match):
    fails(match, **more)


def test_missing_required_keys():
    with pytest.raises(ArgumentError, match="datasets: missing"):
        parse_spec({"architectures": ["gru"]}, path="s.toml")
    with pytest.raises(ArgumentError, match="architectures: missing"):
        parse_spec({"datasets": [{"name": "synthetic"}]}, path="s.toml")


def test_bad_files(tmp_path):
    with pytest.raises(ArgumentError, match="no such file"):
        load_spec(tmp_path / "nope.toml")
    p = tmp_path / "s.toml"
    p.write_text("architectures = [gru")
    with pytest.raises(ArgumentError, match=r"s\.toml: not valid TOML"):
        load_spec(p)
    q = tmp_path / "s.json"
    q.write_text("{}")
    with pytest.raises(ArgumentError, match="unknown format"):
        load_spec(q)


def test_cli_bad_spec_fails_before_anything_starts(tmp_path):
    from click.testing import CliRunner

    from rnnlens.cli import main

    p = tmp_path / "bad.toml"
    p.write_text('architectures = ["gru"]\n[[datasets]]\nname = "synthetic"\n[grid]\nhidden_size = [8, -3]\n')
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["sweep", str(p), "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert "grid.hidden_size[1]" in r.output and "hidden_size=-3" in r.output
    assert not out.exists()  # nothing started: no folder, no Ray


def test_cli_dry_run_lists_trials(tmp_path, tiny_spec):
    from click.testing import CliRunner

    from rnnlens.cli import main

    r = CliRunner().invoke(main, ["sweep", str(tiny_spec), "-o", str(tmp_path / "out"), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "4 trials (4 to run)" in r.output
    assert not (tmp_path / "out").exists()


def test_data_dir_is_resolved_and_not_part_of_the_trial_identity(tmp_path):
    a = parse_spec({**BASE, "datasets": [{"name": "synthetic", "data_dir": "data"}]}, path=tmp_path / "s.toml")
    b = parse_spec({**BASE, "datasets": [{"name": "synthetic", "data_dir": "/elsewhere"}]}, path=tmp_path / "s.toml")
    assert a.datasets[0].data_dir == str((tmp_path / "data").resolve())
    assert [t.id for t in a.trials] == [t.id for t in b.trials]
    assert a.trials[0].config_hash() == b.trials[0].config_hash()


def test_analysis_options_change_the_config_not_the_trial_id():
    a = spec(analysis={"n_docs": 10})
    b = spec(analysis={"n_docs": 20})
    assert a.trials[0].id == b.trials[0].id and a.trials[0].config_hash() != b.trials[0].config_hash()


def test_zero_means_none_as_on_the_command_line():
    t = spec(settings={"patience": 0, "max_length": 0}, grid={"clip_norm": [0, 1.0]}).trials
    assert t[0].settings["patience"] is None and t[0].settings["max_length"] is None
    assert [x.settings["clip_norm"] for x in t] == [None, 1.0]
    assert t[0].train_settings().patience is None
    fails(r"settings\.epochs: training setting epochs=0 is invalid", settings={"epochs": 0})


def test_the_analysis_table_reads_as_the_command_line_does():
    from rnnlens.constants import DEFAULT_MODIFIERS
    from rnnlens.sweep.spec import analysis_settings

    s = analysis_settings({"max_length": 0, "modifiers": False, "n_docs": 50, "tol_sweep": []})
    assert s.documents.max_length is None and s.modifiers.modifiers is None and s.documents.n_docs == 50
    assert s.fixed_points.tol_sweep == ()
    assert analysis_settings({"modifiers": True}).modifiers.modifiers == DEFAULT_MODIFIERS
    assert analysis_settings({"modifiers": ["not"]}).modifiers.modifiers == ("not",)
