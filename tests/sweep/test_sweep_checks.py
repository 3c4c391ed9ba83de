"""Issue 23, item 5: a sweep is checked as a whole before anything starts, also with --dry-run: the number
of trials against a cap (before any list is built), seeds a 64-bit integer holds, corpus options, the
analysis's solver options and tolerances, the split; a folder made by another SPEC is refused unless the
user asks to reuse it, and a bag of words is reused only for the corpus it was fitted on."""

import json
import time
import tracemalloc

import pytest
from click.testing import CliRunner

from rnnlens.errors import ArgumentError
from rnnlens.sweep.spec import parse_spec

BASE = {
    "architectures": ["gru"],
    "stages": ["train"],
    "datasets": [{"name": "synthetic", "options": {"n_train": 50, "n_validation": 20, "n_test": 20}}],
}


def spec(**more):
    return parse_spec({**BASE, **more}, path="s.toml")


def cli(*args):
    from rnnlens.cli import main

    return CliRunner().invoke(main, ["sweep", *map(str, args)])


def small(fn):
    """(result or exception, seconds, peak MiB of Python allocations) of fn()."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out = fn()
    except Exception as exc:  # noqa: BLE001
        out = exc
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return out, seconds, peak


@pytest.mark.parametrize(
    "more, what",
    [
        ({"seeds": 100_000_000}, "100000000 seeds"),
        ({"random": {"draws": 100_000_000, "settings": {"lr": {"uniform": [1e-3, 1e-2]}}}}, "100000000 random draws"),
        ({"seeds": 200, "grid": {"hidden_size": list(range(8, 108))}}, "100 grid points"),
    ],
)
def test_too_many_trials_fail_before_expansion(more, what):
    spec()  # imports done
    out, seconds, peak = small(lambda: spec(**more))
    assert isinstance(out, ArgumentError), out
    assert "above the cap of 10000 trials" in str(out) and what in str(out) and "max_trials" in str(out)
    assert seconds < 2 and peak < 20, (seconds, peak)


def test_the_cap_is_set_in_the_spec_or_by_the_caller():
    assert len(spec(seeds=5, max_trials=5).trials) == 5
    with pytest.raises(
        ArgumentError, match=r"s\.toml: max_trials: the SPEC makes 6 trials .* above the cap of 5 trials"
    ):
        spec(seeds=6, max_trials=5)
    assert len(parse_spec({**BASE, "seeds": 6, "max_trials": 5}, path="s.toml", max_trials=6).trials) == 6
    with pytest.raises(ArgumentError, match=r"max_trials: must be an integer in \[1, 1000000\]"):
        spec(max_trials=0)
    with pytest.raises(ArgumentError, match=r"--max-trials: must be an integer in \[1, 1000000\]"):
        parse_spec(BASE, path="s.toml", max_trials=10**9)


@pytest.mark.parametrize(
    "more, key",
    [
        ({"seeds": 2**64 + 1}, "seeds"),
        ({"seeds": [0, 2**63]}, r"seeds\[1\]"),
        ({"datasets": [{"name": "synthetic", "seed": 2**70}]}, r"datasets\[0\]\.seed"),
        ({"random": {"draws": 1, "seed": -(2**64), "settings": {"lr": {"uniform": [1e-3, 1e-2]}}}}, r"random\.seed"),
        ({"stages": ["train", "analyze"], "analysis": {"seed": 2**64}}, r"analysis\.seed"),
    ],
)
def test_integers_beyond_64_bits_are_a_clear_error(more, key):
    with pytest.raises(ArgumentError, match=key + r": .*64-bit"):
        spec(**more)


def test_cli_cap_and_huge_seeds_with_dry_run(tmp_path):
    p = tmp_path / "big.yaml"
    p.write_text("architectures: [gru]\nseeds: 100000000\nstages: [train]\ndatasets: [{name: synthetic}]\n")
    r = cli(p, "-o", tmp_path / "out", "--dry-run")
    assert r.exit_code == 2 and "above the cap of 10000 trials" in r.output and "max_trials" in r.output
    q = tmp_path / "huge.toml"
    q.write_text(
        'architectures = ["gru"]\nseeds = 18446744073709551617\nstages = ["train"]\n[[datasets]]\nname = "synthetic"\n'
    )
    r = cli(q, "-o", tmp_path / "out", "--dry-run")
    assert r.exit_code == 2 and "seeds" in r.output and "64-bit" in r.output and "Traceback" not in r.output
    p.write_text("architectures: [gru]\nseeds: 3\nstages: [train]\ndatasets: [{name: synthetic}]\nmax_trials: 2\n")
    assert cli(p, "-o", tmp_path / "out", "--dry-run").exit_code == 2
    r = cli(p, "-o", tmp_path / "out", "--dry-run", "--max-trials", "3")
    assert r.exit_code == 0 and "3 trials (3 to run)" in r.output, r.output
    assert not (tmp_path / "out").exists()


ANALYZE = {"stages": ["train", "analyze"], "bag_of_words": False}


@pytest.mark.parametrize(
    "more, match",
    [
        ({"datasets": [{"name": "synthetic", "options": {"n_train": -5}}]}, r"datasets\[0\] \(synthetic\): .*n_train"),
        ({"datasets": [{"name": "csv", "options": {"path": "no-such.csv"}}]}, r"datasets\[0\] \(csv\): .*no-such\.csv"),
        ({**ANALYZE, "analysis": {"solver_options": {"solver": "bogus"}}}, r"analysis\.solver_options: .*bogus"),
        ({**ANALYZE, "analysis": {"solver_options": {"dampign": 0.1}}}, r"analysis\.solver_options: .*dampign"),
        ({**ANALYZE, "analysis": {"solver_options": {"max_iter": -3}}}, r"analysis\.solver_options: .*max_iter"),
        (
            {**ANALYZE, "analysis": {"tol_sweep": [1e-6], "solver_options": {"refine_iter": -1}}},
            r"analysis\.solver_options: .*refine_iter",
        ),
        ({**ANALYZE, "analysis": {"split": "tset"}}, r"analysis\.split: .*'tset'.*\['test', 'train', 'validation'\]"),
        (
            {
                "stages": ["train", "evaluate"],
                "datasets": [{"name": "synthetic", "options": {"n_train": 50, "n_validation": 20, "n_test": 0}}],
            },
            r"stages: .*evaluate.*no test split",
        ),
    ],
)
def test_options_the_trials_would_refuse_fail_before_anything_starts(tmp_path, more, match):
    from rnnlens.sweep.driver import run_sweep

    s = spec(**more)
    with pytest.raises(ArgumentError, match=match):
        run_sweep(s, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()  # nothing started: no folder, no Ray
    p = tmp_path / "s.json"
    p.write_text(json.dumps({**BASE, **more}))
    y = tmp_path / "s.yaml"
    y.write_text(p.read_text())  # JSON is YAML
    r = cli(y, "-o", tmp_path / "out", "--dry-run")
    assert r.exit_code == 2 and "Traceback" not in r.output, r.output
    assert not (tmp_path / "out").exists()


def test_a_good_spec_passes_the_checks():
    from rnnlens.sweep.preflight import check_spec

    s = spec(
        **{
            **ANALYZE,
            "bag_of_words": True,
            "analysis": {
                "solver_options": {"solver": "lm", "max_iter": 20},
                "tol_sweep": [1e-6],
                "split": "validation",
            },
        }
    )
    fingerprints = check_spec(s)
    assert list(fingerprints) == ["synthetic"] and len(fingerprints["synthetic"]) == 64


OTHER = {**BASE, "datasets": [{"name": "synthetic", "seed": 1, "options": BASE["datasets"][0]["options"]}]}


def test_a_folder_made_by_another_spec_is_refused_unless_reused(tmp_path):
    from rnnlens.sweep.driver import _record_run, check_folder, run_sweep

    out = tmp_path / "out"
    out.mkdir()
    first = parse_spec(BASE, path=tmp_path / "a.toml")
    _record_run(first, out, "run0", "2026-01-01T00:00:00+00:00", pending=1)
    check_folder(first, out)  # the same SPEC again: fine
    other = parse_spec(OTHER, path=tmp_path / "b.toml")
    with pytest.raises(ArgumentError, match=r"was made by another SPEC .*a\.toml.*--reuse"):
        check_folder(other, out)
    with pytest.raises(ArgumentError, match="another SPEC"):
        run_sweep(other, out, progress=False)
    b = tmp_path / "b.toml"
    b.write_text('architectures = ["gru"]\nstages = ["train"]\n[[datasets]]\nname = "synthetic"\nseed = 1\n')
    r = cli(b, "-o", out, "--dry-run")
    assert r.exit_code == 2 and "another SPEC" in r.output and "--reuse" in r.output
    r = cli(b, "-o", out, "--dry-run", "--reuse")
    assert r.exit_code == 0 and "1 trials (1 to run)" in r.output, r.output
    check_folder(other, out, reuse=True)
    renamed = parse_spec({**BASE, "name": "renamed"}, path=tmp_path / "c.toml")
    check_folder(renamed, out)  # the name and the file's place are no part of the fingerprint
    assert json.loads((out / "sweep.json").read_text())["fingerprint"] == first.fingerprint()


def test_a_bag_of_words_of_another_corpus_is_fitted_again(tmp_path):
    from rnnlens.baseline import fit_bag_of_words
    from rnnlens.sweep.trial import fit_dataset_baseline, load_dataset

    a, b = (parse_spec(x, path="s.toml").datasets[0] for x in (BASE, OTHER))
    path = tmp_path / "datasets" / "synthetic" / "bag_of_words.json"
    path.parent.mkdir(parents=True)
    fit_bag_of_words(load_dataset({"label": a.label, **a.corpus_key()}), Cs=(1.0,)).save(path)
    before = json.loads(path.read_text())["data_fingerprint"]
    fit_dataset_baseline({"label": b.label, **b.corpus_key()}, str(path))
    after = json.loads(path.read_text())["data_fingerprint"]
    assert before != after == load_dataset({"label": b.label, **b.corpus_key()}).fingerprint()
    mtime = path.stat().st_mtime_ns
    fit_dataset_baseline({"label": b.label, **b.corpus_key()}, str(path))  # its own corpus: kept
    assert path.stat().st_mtime_ns == mtime


def test_the_driver_reuses_a_bag_of_words_only_of_the_same_corpus(tmp_path):
    from rnnlens.sweep.driver import _bags_of_words

    class Ray:  # what _bags_of_words uses of Ray: remote(fn).options().remote()
        def __init__(self):
            self.fitted = []

        def remote(self, fn):
            ray = self

            class Task:
                def options(self, **kw):
                    return self

                def remote(self, dataset, path):
                    ray.fitted.append(dataset["label"])
                    return "task"

            return Task()

    s = parse_spec({**BASE, "stages": ["train", "analyze"]}, path="s.toml")
    path = tmp_path / "datasets" / "synthetic" / "bag_of_words.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"data_fingerprint": "a" * 64}))
    for known, reused in (("a" * 64, True), ("b" * 64, False), (None, False)):
        ray = Ray()
        bows = _bags_of_words(ray, s, tmp_path, list(s.trials), 0, {"synthetic": known})
        assert (bows == {"synthetic": str(path)}) == reused and ray.fitted == ([] if reused else ["synthetic"])
