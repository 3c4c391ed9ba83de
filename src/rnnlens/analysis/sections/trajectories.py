"""Section ``trajectories``: the raw states of the first analysed documents (input sequences), saved so that
``rnnlens.compare`` can compare networks on the same inputs (CCA / SVCCA, DSA) from saved analyses alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, Measurement, MetricSpec, Section, metric
from rnnlens.settings import Int, SettingsGroup, setting

__all__ = ["TrajectorySettings", "measure", "SECTION"]


@dataclass(frozen=True)
class TrajectorySettings(SettingsGroup):
    """The saved state trajectories."""

    name = "trajectories"
    n_trajectories: int = setting(
        100,
        "Save every state of the first n analysed documents (in the order of the split; 0 saves none).",
        Int(0),
    )
    max_trajectory_values: int = setting(
        4_000_000,
        "At most this many numbers (float32) are saved: whole documents are taken in order while they fit.",
        Int(1),
    )


def applies(run) -> bool:
    """When n_trajectories > 0."""
    return run.settings.trajectories.n_trajectories > 0


def measure(run) -> Measurement:
    """The states of the first ``n_trajectories`` analysed documents, while they fit ``max_trajectory_values``."""
    s, states = run.settings.trajectories, run.products["documents"]
    traj, positions = states.traj, states.docs.positions
    wanted = min(s.n_trajectories, len(traj))
    sizes = np.array([t.size for t in traj[:wanted]], dtype=np.int64)
    n = int(np.searchsorted(np.cumsum(sizes), s.max_trajectory_values, side="right"))
    kept = traj[:n]
    S = traj[0].shape[1]
    out = Measurement()
    out.arrays.update(
        traj_states=(np.concatenate(kept) if kept else np.zeros((0, S))).astype(np.float32),
        traj_lengths=np.array([len(t) for t in kept], dtype=np.int64),
        traj_positions=positions[:n].astype(np.int64),
    )
    out.metrics["trajectories"] = {
        "n_saved": metric("trajectories.n_saved", n, wanted=wanted, cap=s.max_trajectory_values),
        "n_steps": metric("trajectories.n_steps", int(sum(len(t) for t in kept))),
        "n_left_out": metric("trajectories.n_left_out", wanted - n),
    }
    return out


METRICS = (
    MetricSpec(
        "trajectories.n_saved",
        "documents whose every state is saved (traj_states): the first of the {wanted} asked for, in the order of "
        "the analysed documents, while their states fit in {cap} numbers",
    ),
    MetricSpec("trajectories.n_steps", "states saved (one per token or input step of those documents)"),
    MetricSpec("trajectories.n_left_out", "documents asked for but left out by the cap on saved numbers"),
)

ARRAYS = (
    ArraySpec(
        "traj_states",
        "f",
        2,
        "[sum of traj_lengths, S] float32: the state after every input of each saved document, documents one "
        "after the other (document i is rows sum(traj_lengths[:i]) .. + traj_lengths[i]); the same whole state "
        "the fixed points live in (LSTM: [h, c])",
    ),
    ArraySpec("traj_lengths", "i", 1, "[n_saved] number of states of each saved document"),
    ArraySpec(
        "traj_positions",
        "i",
        1,
        "[n_saved] each saved document's position in the analysed split (networks analysed with the same "
        "split, n_docs and seed share them: check before comparing)",
    ),
)

SECTION = Section(
    name="trajectories",
    title="saved state trajectories",
    measure=measure,
    settings=TrajectorySettings,
    applies=applies,
    metrics=METRICS,
    arrays=ARRAYS,
)
