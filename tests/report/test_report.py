"""The report only reads saved analyses: figures (PNG + SVG), grid, self-contained HTML, stated failures."""

import base64
import html
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from rnnlens.analysis import AnalysisSettings, analyze, load_analysis
from rnnlens.analysis.io import write_json
from rnnlens.analysis.registry import sections
from rnnlens.checkpoint import save_checkpoint
from rnnlens.data import Vocab, load_corpus
from rnnlens.errors import ArgumentError
from rnnlens.model import SentimentRNN
from rnnlens.report import make_report

SMALL = dict(n_train=150, n_validation=30, n_test=40, min_length=5, max_length=10)


@pytest.fixture(scope="module")
def analysis_dir(tmp_path_factory):
    corpus = load_corpus("synthetic", seed=0, **SMALL)
    vocab = Vocab.build(corpus.splits["train"].texts)
    torch.manual_seed(1)
    model = SentimentRNN(len(vocab), arch="lstm", embed_dim=5, hidden_size=6)
    root = tmp_path_factory.mktemp("rep")
    save_checkpoint(root / "ck", model, vocab, {"dataset": "synthetic"})
    coef = dict(corpus.truth.valence)
    analyze(root / "ck", corpus,
            AnalysisSettings.make(n_docs=30, n_seeds=20, n_transitions=100, n_speed=5, speed_steps=5, modifiers=None),
            bow=coef, out_dir=root / "an")
    return root / "an"


def test_report_writes_every_figure_png_and_svg(analysis_dir, tmp_path):
    html_path = make_report([analysis_dir], tmp_path / "out")
    sub = tmp_path / "out" / "an"
    core = [f.name for s in sections() if not s.optional for f in s.figures]    # an analysis without modifiers
    assert len(core) == 10
    for name in core:
        png, svg = sub / f"{name}.png", sub / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert svg.read_text()[:200].lstrip().startswith(("<?xml", "<svg")), name
    text = html_path.read_text()
    # self-contained: every image is embedded, nothing is fetched from elsewhere
    imgs = re.findall(r'<img [^>]*src="([^"]+)"', text)
    assert len(imgs) == len(core) and all(s.startswith("data:image/png;base64,") for s in imgs)
    assert base64.b64decode(imgs[0].split(",", 1)[1])[:4] == b"\x89PNG"
    assert "http://" not in text and "https://" not in text
    loaded = load_analysis(analysis_dir)
    summary = loaded.summary
    n = summary["metrics"]["fixed_points"]["n_converged"]["value"]
    assert f"<td class='num'>{n}</td>" in text
    plain = html.unescape(text)
    for c in summary["checks"]:
        assert c["claim"] in plain


def test_failed_and_missing_checks_are_stated_plainly(analysis_dir, tmp_path):
    loaded = load_analysis(analysis_dir)
    summary, _ = loaded.summary, loaded.arrays
    summary["checks"] = [{"name": "lambda1_near_one", "claim": "|lambda_1| > 0.98 at most (> 50%) fixed points",
                          "metric": "modes.frac_abs_lambda1_gt_0_98", "value": 0.4, "passed": False,
                          "detail": "modes.frac_abs_lambda1_gt_0_98 = 0.4 (needs > 0.5)"}]
    summary["missing"] = [{"what": "word valence", "why": "no bag-of-words baseline was given"}]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "arrays.npz").write_bytes((analysis_dir / "arrays.npz").read_bytes())
    write_json(bad / "summary.json", summary)
    text = make_report([bad], tmp_path / "out").read_text()
    assert "<b>FAIL</b> |lambda_1| &gt; 0.98 at most (&gt; 50%) fixed points" in text
    assert "= 0.4 (needs &gt; 0.5)" in text
    assert "Partial analysis" in text and "no bag-of-words baseline was given" in text


def test_grid_across_models_and_unique_names(analysis_dir, tmp_path):
    make_report([analysis_dir, analysis_dir], tmp_path / "g")
    assert (tmp_path / "g" / "fig6_grid.png").is_file() and (tmp_path / "g" / "fig6_grid.svg").is_file()
    assert (tmp_path / "g" / "an").is_dir() and (tmp_path / "g" / "an-2").is_dir()


def test_partial_analysis_draws_what_exists(analysis_dir, tmp_path):
    loaded = load_analysis(analysis_dir)
    summary, arrays = loaded.summary, loaded.arrays
    part = tmp_path / "part"
    part.mkdir()
    keep = {k: v for k, v in arrays.items() if k.startswith("pca") or k in ("speed",)}
    np.savez(part / "arrays.npz", run_id=summary["run_id"], **keep)   # files of one run carry its id
    write_json(part / "summary.json", summary)
    text = make_report([part], tmp_path / "out").read_text()
    assert text.count("<img ") == 2                       # PCA curve and speed
    assert "Figure fig3a_eigenvalues not drawn" in text


def test_redrawing_does_not_load_the_solver(analysis_dir, tmp_path):
    code = ("import sys; from rnnlens.report import make_report; "
            f"make_report([{str(analysis_dir)!r}], {str(tmp_path / 'o')!r}); "
            "bad = [m for m in ('rnnlens.fixedpoints', 'rnnlens.linearization', 'rnnlens.solvers') "
            "if m in sys.modules]; "
            "assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_report_errors(tmp_path):
    with pytest.raises(ArgumentError, match="no analysis summary here"):
        make_report([tmp_path], tmp_path / "o")
    with pytest.raises(ArgumentError, match="at least one analysis folder"):
        make_report([], tmp_path / "o")
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "summary.json").write_text("{not json")
    with pytest.raises(ArgumentError, match="not valid JSON"):
        make_report([tmp_path / "x"], tmp_path / "o")
