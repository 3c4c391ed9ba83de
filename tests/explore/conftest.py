"""Fixtures of the explorer tests: a tiny GRU trained here on the synthetic corpus and, when the IMDB corpus
is available (RNNLENS_DATA_DIR), the shipped IMDB GRU; each with a quick analysis in small settings."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the explore extra is not installed (pip install 'rnnlens[explore]')")
pytest.importorskip("plotly", reason="the explore extra is not installed (pip install 'rnnlens[explore]')")

SMALL = dict(
    n_docs=80,
    n_seeds=40,
    manifold_points=24,
    n_transitions=2000,
    n_speed=20,
    speed_steps=20,
    tol_sweep=(),
    relax_steps=60,
    n_contexts=30,
    n_boot=0,
    n_eig_contexts=0,
)
SHIPPED = Path(__file__).resolve().parents[2] / "src" / "rnnlens" / "pretrained" / "imdb-gru"


def _build(name, ck, corpus):
    from rnnlens.analysis import analyze
    from rnnlens.analysis.settings import AnalysisSettings
    from rnnlens.explore.engine import ExploreModel
    from rnnlens.network import Network

    network = Network.resolve(ck)
    res = analyze(network, corpus, AnalysisSettings.make(seed=0, **SMALL))
    return ExploreModel.build(name, network, res, nodes=res.slow_manifold.points)


@pytest.fixture(scope="session")
def explore_models(tmp_path_factory):
    import torch

    from rnnlens.checkpoint import load_checkpoint, load_training_corpus
    from rnnlens.data import load_corpus
    from rnnlens.training import TrainSettings, train

    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("explore") / "synthetic-gru"
    corpus = load_corpus("synthetic")
    ck = train(
        corpus,
        TrainSettings(arch="gru", hidden_size=16, embed_dim=16, epochs=2, batch_size=32, lr=5e-3, num_threads=1),
        out,
        progress=False,
    )
    models = [_build("synthetic-gru", ck, corpus)]
    root = os.environ.get("RNNLENS_DATA_DIR")
    if root and (Path(root) / "imdb").is_dir():
        ck2 = load_checkpoint(SHIPPED)
        models.append(_build("imdb-gru", ck2, load_training_corpus(ck2)))
    return models


@pytest.fixture(scope="session")
def client(explore_models):
    from fastapi.testclient import TestClient

    from rnnlens.explore.app import create_app

    return TestClient(create_app(explore_models))


@contextlib.contextmanager
def _serving(make_app):
    """uvicorn in a thread on 127.0.0.1, a free port -> that port; ``make_app(port)`` gives the app."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(make_app(port), log_level="warning"))
    th = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    th.start()
    t0 = time.time()
    while not srv.started:
        if time.time() - t0 > 20:
            raise RuntimeError("the explore server did not start in 20 s")
        time.sleep(0.05)
    try:
        yield port
    finally:
        srv.should_exit = True
        th.join(10)


@pytest.fixture(scope="module")
def serve():
    """``serve(make_app) -> port``: a live server for the module (stopped at its end), the app made for its
    port by ``make_app(port)`` (so its allowed Host names can name the port)."""
    with contextlib.ExitStack() as stack:
        yield lambda make_app: stack.enter_context(_serving(make_app))
