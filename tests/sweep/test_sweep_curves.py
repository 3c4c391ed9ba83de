"""The sweep report's learning curves and its ranking of the trials (a recipe search's first view), from trial
folders written here with known histories."""

import json

import matplotlib

matplotlib.use("Agg")

from rnnlens.sweep import load_spec, summarize  # noqa: E402
from rnnlens.sweep.curves import curves_figure, learning_curves  # noqa: E402

RANDOM = """
[random]
draws = 3
seed = 0
[random.settings]
lr = { log_uniform = [1e-3, 1e-2] }
"""


def _history(peak: float, epochs: int) -> list[dict]:
    return [
        {
            "epoch": e,
            "lr": 1e-3,
            "train_loss": 0.7 - 0.1 * e,
            "train_accuracy": 0.5,
            "validation_loss": 0.6,
            "validation_accuracy": peak - 0.05 * (epochs - e),
        }
        for e in range(1, epochs + 1)
    ]


def _sweep(tmp_path, spec_writer):
    spec = load_spec(spec_writer(tmp_path, architectures=["vanilla"], seeds=[0], extra=RANDOM))
    assert len(spec.trials) == 3
    peaks = {}
    for i, t in enumerate(spec.trials):
        ck = tmp_path / "out" / "trials" / t.id / "checkpoint"
        ck.mkdir(parents=True)
        peaks[t.id] = [0.71, 0.83, 0.77][i]
        hist = _history(peaks[t.id], 2 + i)
        if i == 2:  # still training: only its resume state
            (ck / "resume").mkdir()
            (ck / "resume" / "state.json").write_text(json.dumps({"loop": {"history": hist}}))
        else:
            metrics = {
                "history": hist,
                "best_epoch": 2 + i,
                "epochs_run": 2 + i,
                "test": {"accuracy": 0.7, "within_drop_longer": {"accuracy": 0.9 - i / 10}},
            }
            (ck / "config.json").write_text(json.dumps({"record": {"metrics": metrics}}))
    return spec, peaks


def test_learning_curves_read_every_trial_that_finished_an_epoch(tmp_path, spec_writer):
    spec, peaks = _sweep(tmp_path, spec_writer)
    from rnnlens.sweep.summary import collect_rows

    rows, _ = collect_rows(spec, tmp_path / "out")
    curves = learning_curves(tmp_path / "out", rows)
    assert set(curves) == set(peaks)
    for tid, c in curves.items():
        assert max(h["validation_accuracy"] for h in c["history"]) == peaks[tid]
    first = spec.trials[0].id
    assert curves[first]["test_accuracy_within_drop_longer"] == 0.9 and curves[first]["best_epoch"] == 2
    fig = curves_figure(curves, rows)
    assert [len(ax.lines) for ax in fig.axes] == [3, 3]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        tid.rsplit("-", 1)[-1] for tid in sorted(peaks, key=peaks.get, reverse=True)
    ]


def test_the_report_ranks_the_trials_by_validation_accuracy_and_draws_their_curves(tmp_path, spec_writer):
    spec, peaks = _sweep(tmp_path, spec_writer)
    out = summarize(spec, tmp_path / "out")
    comparison = json.loads(out.json.read_text())
    assert set(comparison["learning_curves"]) == set(peaks)
    assert "validation accuracy" in comparison["learning_curve_definition"]
    page = out.report.read_text()
    order = sorted(peaks, key=peaks.get, reverse=True)
    positions = [page.index(f"<td>{tid}</td>") for tid in order]
    assert positions == sorted(positions)
    assert (out.report.parent / "learning_curves.png").stat().st_size > 10_000
    assert "<th>lr</th>" in page  # the drawn setting is a column
