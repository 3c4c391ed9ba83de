"""Section ``speed``: how fast visited states move when the network runs on with constant input x*."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, FigureSpec, Measurement, MetricSpec, Section, metric
from rnnlens.settings import Int, SettingsGroup, setting

__all__ = ["SpeedSettings", "measure", "SECTION"]


@dataclass(frozen=True)
class SpeedSettings(SettingsGroup):
    """The approach to the attractor."""

    name = "speed"
    n_speed: int = setting(200, "Visited states run on with constant input x*.", Int())
    speed_steps: int = setting(100, "Steps they are run for.", Int())


def measure(run) -> Measurement:
    """The normalised speed ||h_(t+1) - h_t|| / ||h_t|| of ``n_speed`` visited states at x*, step by step."""
    import torch

    from rnnlens.analysis.dynamics import approach_speed
    from rnnlens.device import to_device, to_numpy

    s, visited, rng = run.settings.speed, run.products["documents"].X, run.rng
    h0 = to_device(visited[rng.choice(visited.shape[0], min(s.n_speed, visited.shape[0]), replace=False)], run.device)
    with torch.no_grad():
        speed = to_numpy(approach_speed(run.network.step_fn, h0, run.x_star.float(), s.speed_steps).double())
    med = np.median(speed, axis=0)
    out = Measurement(arrays={"speed": speed.astype(np.float32)})
    out.metrics["speed"] = {
        "median_by_step": metric(
            "speed.median_by_step",
            med,
            n=h0.shape[0],
            last=s.speed_steps - 1,
            input_point=run.settings.fixed_points.input_point,
        ),
        "median_first": metric("speed.median_first", float(med[0])),
        "median_last": metric("speed.median_last", float(med[-1]), steps=s.speed_steps),
    }
    return out


METRICS = (
    MetricSpec(
        "speed.median_by_step",
        "median over {n} visited starting states of ||h_(t+1) - h_t|| / ||h_t||, "
        "t = 0..{last}, running with constant input x* ({input_point})",
    ),
    MetricSpec("speed.median_first", "median normalised speed at the first step"),
    MetricSpec(
        "speed.median_last",
        "median normalised speed after {steps} steps",
        "median normalised speed after running with constant input",
        "{:.2e}",
    ),
)

ARRAYS = (ArraySpec("speed", "f", 2, "[n_speed, speed_steps] normalised speed of each state at each step"),)

FIGURES = (
    FigureSpec(
        "speed",
        "rnnlens.report.figures:fig_speed",
        "How fast the state moves when the network runs with constant input from visited states (median "
        "and 10-90% band): slow motion means an attractor has been reached.",
    ),
)

SECTION = Section(
    name="speed",
    title="approach to the attractor",
    measure=measure,
    settings=SpeedSettings,
    metrics=METRICS,
    arrays=ARRAYS,
    figures=FIGURES,
)
