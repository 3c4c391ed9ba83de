"""``rnnlens sweep``: many networks trained and analysed as Ray tasks, and what is universal across them.

- :mod:`rnnlens.sweep.spec`: the SPEC file (TOML or YAML), checked key by key, expanded into trials
  (no torch, no Ray).
- :mod:`rnnlens.sweep.preflight`: the whole sweep checked as its trials would check it, before anything
  starts (each corpus loaded, the splits the stages read, the analysis's solver options); no Ray.
- :mod:`rnnlens.sweep.trial`: one trial (train -> evaluate -> analyze into ``DIR/trials/<id>/``), with its
  status and attempt records; what a Ray worker runs (no Ray import).
- :mod:`rnnlens.sweep.driver`: :func:`run_sweep`, the Ray driver (local or ``address``, with Ray's token
  authentication), retries, resume, progress; a folder made by another SPEC refused (:func:`check_folder`).
- :mod:`rnnlens.sweep.summary`: ``summary.csv``, the spread per architecture and dataset, the agreement of
  word valences between networks, figures and ``report/report.html``.

Ray is an optional dependency (``pip install 'rnnlens[sweep]'``); only :func:`run_sweep` imports it.
"""

from __future__ import annotations

from rnnlens.sweep.spec import SweepSpec, Trial, load_spec, parse_spec

__all__ = ["SweepSpec", "Trial", "load_spec", "parse_spec", "run_sweep", "summarize", "SweepResult"]


def __getattr__(name):
    if name in ("run_sweep", "SweepResult"):
        from rnnlens.sweep import driver

        return getattr(driver, name)
    if name == "summarize":
        from rnnlens.sweep.summary import summarize

        return summarize
    raise AttributeError(f"module 'rnnlens.sweep' has no attribute {name!r}")
