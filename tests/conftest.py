"""Shared test helpers."""

import os
from pathlib import Path

import pytest

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per pytest worker (./run.sh test runs two): two workers of two threads each on two cores
    # ran the suite 12% slower than two of one (tests that ask for threads still set them)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def real_corpus_dir():
    """``get(name)``: the folder ``$RNNLENS_DATA_DIR/<name>`` of a real corpus. The test is skipped when
    the variable is unset and fails (loudly, not skipped) when it is set but the corpus is missing."""

    def get(name: str) -> Path:
        root = os.environ.get("RNNLENS_DATA_DIR")
        if not root:
            pytest.skip("RNNLENS_DATA_DIR is not set")
        folder = Path(root) / name
        if not folder.is_dir():
            pytest.fail(f"RNNLENS_DATA_DIR={root} is set but holds no {name}/ folder")
        return folder

    return get


# ------------------------------------------------------------------------------------------- stored networks
# Small networks the truth tests analyse, trained once by scripts/make_test_networks.py into tests/networks/<name>
# instead of in every run (20-30 s of training each time). name -> (options of load_corpus("synthetic", seed=0),
# TrainSettings fields). A test reads one through the ``stored_network`` fixture, which checks that the stored
# checkpoint was trained by this recipe on this corpus (its recorded settings and data fingerprint), so a changed
# recipe or corpus generator fails until the script is run again.
_GRU = dict(arch="gru", embed_dim=16, hidden_size=32, batch_size=32, patience=None, seed=0, checkpoint_every=0)
_TRUTH_CORPUS = dict(n_train=3000, n_validation=300, n_test=300, min_length=10, max_length=30)
_KCLASS = dict(_GRU, epochs=10, lr=0.01, num_threads=1)
RECIPES = {
    # the modifier truth test (tests/analysis/test_modifiers.py)
    "toy-modifier-gru": (
        dict(
            n_train=20000,
            n_validation=300,
            n_test=300,
            min_length=10,
            max_length=20,
            p_evidence=0.5,
            negation=True,
            intensifier=True,
            not_scope=4,
            p_modifier=0.2,
        ),
        dict(_GRU, epochs=10, lr=0.01, lr_decay=0.9, num_threads=1),
    ),
    # the line-attractor truth test (tests/analysis/test_truth.py)
    "line-gru": (_TRUTH_CORPUS, dict(_GRU, epochs=20, lr=0.01, lr_decay=0.9, num_threads=1)),
    # the k-class truth tests (tests/analysis/test_kclass.py)
    "kclass3-gru": (dict(_TRUTH_CORPUS, num_classes=3), _KCLASS),
    "kclass4-gru": (dict(_TRUTH_CORPUS, num_classes=4), _KCLASS),
    "kclass3-ordered-gru": (dict(_TRUTH_CORPUS, num_classes=3, ordered=True), _KCLASS),
}
NETWORKS = Path(__file__).resolve().parent / "networks"


@pytest.fixture
def stored_network():
    """``get(name)``: ``(checkpoint, corpus)`` of the stored network ``name`` of :data:`RECIPES`."""
    from rnnlens.checkpoint import load_checkpoint
    from rnnlens.data import load_corpus

    def get(name: str):
        corpus_options, settings = RECIPES[name]
        corpus = load_corpus("synthetic", seed=0, **corpus_options)
        ck = load_checkpoint(NETWORKS / name)
        stale = f"tests/networks/{name} was not trained by its recipe (tests/conftest.py): "
        stale += "run scripts/make_test_networks.py"
        assert ck.record["data_fingerprint"] == corpus.fingerprint(), stale
        assert {k: ck.record["settings"][k] for k in settings} == settings, stale
        return ck, corpus

    return get
