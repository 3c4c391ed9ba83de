"""Helpers of the sweep tests: a tiny SPEC (synthetic corpus, hidden 8, one epoch, small analysis)."""

import json
from pathlib import Path

import pytest

TINY_SPEC = """
name = "tiny"
architectures = ["gru", "vanilla"]
seeds = [0, 1]

[[datasets]]
name = "synthetic"
seed = 0
options = {{ n_train = 300, n_validation = 60, n_test = 60, min_length = 8, max_length = 20 }}

[settings]
hidden_size = 8
embed_dim = 8
epochs = {epochs}
batch_size = 32
checkpoint_every = 2
{extra_settings}

[analysis]
n_docs = 40
n_seeds = 20
n_linear_docs = 10
n_transitions = 200
n_speed = 10
speed_steps = 10
tol_sweep = []
manifold_points = 12
relax_steps = 20
modifiers = false

[resources]
num_cpus = 1
"""


def write_spec(
    folder: Path,
    extra_settings: str = "",
    name: str = "spec.toml",
    architectures=None,
    seeds=None,
    extra: str = "",
    epochs: int = 1,
) -> Path:
    text = TINY_SPEC.format(extra_settings=extra_settings, epochs=epochs)
    if architectures is not None:
        text = text.replace('architectures = ["gru", "vanilla"]', f"architectures = {json.dumps(architectures)}")
    if seeds is not None:
        text = text.replace("seeds = [0, 1]", f"seeds = {json.dumps(seeds)}")
    path = Path(folder) / name
    path.write_text(text + extra, encoding="utf-8")
    return path


@pytest.fixture
def tiny_spec(tmp_path) -> Path:
    return write_spec(tmp_path)


@pytest.fixture
def spec_writer():
    """``write_spec(folder, extra_settings="", name="spec.toml", architectures=None, seeds=None, extra="",
    epochs=1)``."""
    return write_spec
