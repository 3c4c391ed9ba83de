"""The tutorials' scripts (examples/tutorials/<name>.py), imported as tests/test_examples.py imports the
examples: ``tutorial(name)`` gives the module, whose ``main(argv)`` the tests run at a small size."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

TUTORIALS = Path(__file__).resolve().parents[2] / "examples" / "tutorials"


@pytest.fixture
def tutorial():
    """``tutorial(name)``: the module of ``examples/tutorials/<name>.py``, loaded afresh."""

    def load(name: str):
        spec = importlib.util.spec_from_file_location(f"tutorial_{name}", TUTORIALS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return load
