"""``rnnlens explore``: a local web app that shows a network reading a review.

:mod:`rnnlens.explore.engine` precomputes per checkpoint and answers the per-text questions;
:mod:`rnnlens.explore.app` serves them as a JSON API and a static page (``static/``). Needs the
``explore`` extra (``pip install 'rnnlens[explore]'``: fastapi, uvicorn, plotly).
"""

from __future__ import annotations

__all__ = ["ExploreModel", "load_models", "create_app", "MAX_TOKENS", "MAX_CHARS", "DEFINITIONS"]


def __getattr__(name):
    if name in ("ExploreModel", "load_models", "MAX_TOKENS", "MAX_CHARS", "DEFINITIONS"):
        from rnnlens.explore import engine

        return getattr(engine, name)
    if name == "create_app":
        from rnnlens.explore.app import create_app

        return create_app
    raise AttributeError(f"module 'rnnlens.explore' has no attribute {name!r}")
