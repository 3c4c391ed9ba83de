"""Generated tasks with per-step targets: the three tasks of Maheswaranathan, Williams, Golub, Ganguli and
Sussillo, "Universality and individuality in neural dynamics across large populations of recurrent networks"
(NeurIPS 2019). Each is a :class:`rnnlens.data.sequences.Sequences` with splits ``train``, ``validation`` and
``test`` whose sequences carry a target after every input (``[T, O]``); a step without a target holds NaN
there (masked out of the training loss and of every metric).

* ``flipflop``: the ``bits``-bit flip-flop (Sussillo & Barak 2013). Every channel sends a +1 or -1 pulse at the
  first step and then, at each step, a pulse with probability ``p`` (sign drawn fairly); inputs are the pulses
  plus Gaussian noise of standard deviation ``noise``. Target of channel k at step t: the sign of channel k's
  last pulse at or before t (the pulses, not the noise). x*: zero input.
* ``sine``: the frequency-cued sine-wave generator. Sequence i draws a frequency index j uniformly from
  ``0..n_freq-1``: ``omega_j = omega_min + j (omega_max - omega_min) / (n_freq - 1)`` rad/step; its one input
  channel holds the static cue ``j / n_freq + cue_offset`` at every step (plus noise), and the target at step t
  (t = 0, 1, ...) is ``sin(omega_j t)``. x*: the cue of the middle frequency ``j = n_freq // 2`` (the cues of
  every frequency are listed in ``info["task"]["input_points"]``).
* ``context``: context-dependent integration (Mante, Sussillo, Shenoy & Newsome 2013). Inputs ``[T, 4]``: two
  sensory streams, each a coherence offset drawn from ``coherences`` plus Gaussian noise (``noise``) at every
  step, and two context channels, one-hot and constant over the sequence. The target (one output) is the sign
  of the relevant stream's offset (stream 1 in context 1, stream 2 in context 2) on the last ``score_steps``
  steps, NaN (no target) before. x*: context 1 on, no sensory evidence ``[0, 0, 1, 0]`` (context 2's is
  listed too).

Splits are generated from independent streams seeded by ``(seed, split)``, so changing ``n_test`` does not
change the training set. ``info["task"]`` holds everything the network's analysis needs to know of the task:
its resolved options, the number of outputs, x* and whether targets are signs (then the fraction of correct
signs is scored).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rnnlens.data.sequences import Sequences, SequenceSplit
from rnnlens.errors import ArgumentError

__all__ = ["TASKS", "Task", "generate_task", "task_options"]

SPLITS = ("train", "validation", "test")
_SPLIT_STREAM = {"train": 0, "validation": 1, "test": 2}


@dataclass(frozen=True)
class Option:
    """One option of a task: its default, what it accepts (``check`` True for a good value) and the words of
    the error otherwise."""

    default: Any
    check: Callable[[Any], bool]
    want: str


def _opt(default: Any, kind: str, low: float = 0.0, *, strict: bool = False, high: float | None = None) -> Option:
    """An integer (``kind="int"``, >= low) or a finite number (``kind="real"``, > or >= low, <= high) option."""

    def check(v: Any) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False
        if kind == "int" and not isinstance(v, int):
            return False
        return (v > low if strict else v >= low) and (high is None or v <= high)

    if kind == "int":
        want = f"use an integer >= {low:g}"
    else:
        want = f"use a number {'>' if strict else '>='} {low:g}" + (f" and <= {high:g}" if high is not None else "")
    return Option(default, check, want)


def _offsets(v: Any) -> bool:
    return (
        isinstance(v, (list, tuple))
        and len(v) > 0
        and all(not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x) and x != 0 for x in v)
    )


_SIZES = {
    "n_train": _opt(2048, "int", 1),
    "n_validation": _opt(256, "int", 1),
    "n_test": _opt(256, "int", 1),
}


@dataclass(frozen=True)
class Task:
    """A generated task: its options (name -> :class:`Option`), how one split is generated
    (``generate(rng, n, options) -> (inputs [n, T, I], targets [n, T, O])``), its named constant inputs
    (``input_points(options)``, the first is x*) and whether its targets are signs (then sign accuracy is
    scored)."""

    name: str
    description: str
    options: dict[str, Option]
    generate: Callable[[np.random.Generator, int, dict], tuple[np.ndarray, np.ndarray]]
    input_points: Callable[[dict], dict[str, list[float]]]
    signs: bool

    def defaults(self) -> dict:
        return {k: o.default for k, o in self.options.items()}


# ------------------------------------------------------------------------------------------ flip-flop


def _flipflop(rng: np.random.Generator, n: int, o: dict) -> tuple[np.ndarray, np.ndarray]:
    T, bits = o["steps"], o["bits"]
    pulses = (rng.random((n, T, bits)) < o["p"]) * rng.choice([-1.0, 1.0], size=(n, T, bits))
    pulses[:, 0] = rng.choice([-1.0, 1.0], size=(n, bits))
    targets = np.empty_like(pulses)
    held = pulses[:, 0]
    for t in range(T):
        held = np.where(pulses[:, t] != 0, pulses[:, t], held)
        targets[:, t] = held
    inputs = pulses + o["noise"] * rng.standard_normal(pulses.shape) if o["noise"] else pulses
    return inputs, targets


# ------------------------------------------------------------------------------------------ sine


def sine_frequencies(o: dict) -> np.ndarray:
    """The frequencies (rad/step) of the sine task's options, ``[n_freq]``."""
    return o["omega_min"] + np.arange(o["n_freq"]) * (o["omega_max"] - o["omega_min"]) / (o["n_freq"] - 1)


def sine_cues(o: dict) -> np.ndarray:
    """The static cue of each frequency, ``j / n_freq + cue_offset``, ``[n_freq]``."""
    return np.arange(o["n_freq"]) / o["n_freq"] + o["cue_offset"]


def _sine(rng: np.random.Generator, n: int, o: dict) -> tuple[np.ndarray, np.ndarray]:
    T = o["steps"]
    j = rng.integers(0, o["n_freq"], size=n)
    inputs = np.repeat(sine_cues(o)[j][:, None, None], T, axis=1)
    if o["noise"]:
        inputs = inputs + o["noise"] * rng.standard_normal(inputs.shape)
    targets = np.sin(sine_frequencies(o)[j][:, None] * np.arange(T)[None, :])[..., None]
    return inputs, targets


def _sine_points(o: dict) -> dict[str, list[float]]:
    cues, omegas, mid = sine_cues(o), sine_frequencies(o), o["n_freq"] // 2
    order = [mid, *(j for j in range(o["n_freq"]) if j != mid)]
    return {f"cue of omega={omegas[j]:.4g}": [float(cues[j])] for j in order}


# ------------------------------------------------------------------------------------------ context


def _context(rng: np.random.Generator, n: int, o: dict) -> tuple[np.ndarray, np.ndarray]:
    T, coh = o["steps"], np.asarray(o["coherences"], dtype=np.float64)
    offsets = coh[rng.integers(0, len(coh), size=(n, 2))]  # [n, 2]: each stream's offset
    context = rng.integers(0, 2, size=n)  # 0: stream 1 is relevant, 1: stream 2
    inputs = np.zeros((n, T, 4))
    inputs[:, :, :2] = offsets[:, None, :] + o["noise"] * rng.standard_normal((n, T, 2))
    inputs[np.arange(n), :, 2 + context] = 1.0
    targets = np.full((n, T, 1), np.nan)
    targets[:, T - o["score_steps"] :, 0] = np.sign(offsets[np.arange(n), context])[:, None]
    return inputs, targets


TASKS: dict[str, Task] = {
    "flipflop": Task(
        name="flipflop",
        description="the bits-bit flip-flop: hold the sign of each channel's last pulse",
        options={
            "bits": _opt(3, "int", 1),
            "steps": _opt(100, "int", 1),
            "p": _opt(0.05, "real", 0.0, high=1.0),
            "noise": _opt(0.0, "real", 0.0),
            **_SIZES,
        },
        generate=_flipflop,
        input_points=lambda o: {"zero": [0.0] * o["bits"]},
        signs=True,
    ),
    "sine": Task(
        name="sine",
        description="frequency-cued sine-wave generator: a static cue sets omega, the target is sin(omega t)",
        options={
            "n_freq": _opt(51, "int", 2),
            "omega_min": _opt(0.1, "real", 0.0, strict=True),
            "omega_max": _opt(0.6, "real", 0.0, strict=True),
            "cue_offset": _opt(0.25, "real", -math.inf),
            "steps": _opt(100, "int", 1),
            "noise": _opt(0.0, "real", 0.0),
            **_SIZES,
        },
        generate=_sine,
        input_points=_sine_points,
        signs=False,
    ),
    "context": Task(
        name="context",
        description="context-dependent integration: report the sign of the stream the context cue selects",
        options={
            "steps": _opt(60, "int", 1),
            "score_steps": _opt(10, "int", 1),
            "coherences": Option(
                (-0.2, -0.1, -0.05, 0.05, 0.1, 0.2), _offsets, "use a non-empty list of finite non-zero numbers"
            ),
            "noise": _opt(0.5, "real", 0.0),
            **_SIZES,
        },
        generate=_context,
        input_points=lambda o: {
            "context 1, no evidence": [0.0, 0.0, 1.0, 0.0],
            "context 2, no evidence": [0.0, 0.0, 0.0, 1.0],
        },
        signs=True,
    ),
}


def task_options(name: str) -> tuple[str, ...]:
    """The option names of task ``name`` (what ``load_corpus(name, **options)`` accepts)."""
    return tuple(TASKS[name].options)


def _resolved(task: Task, options: dict) -> dict:
    """The task's options with the given ones over the defaults, each checked (ArgumentError naming it)."""
    unknown = sorted(set(options) - set(task.options))
    if unknown:
        raise ArgumentError(f"unknown option(s) {unknown} for task {task.name!r}; known: {sorted(task.options)}")
    out = task.defaults()
    for k, v in options.items():
        if not task.options[k].check(v):
            raise ArgumentError(f"task {task.name!r}: option {k}={v!r} is invalid: {task.options[k].want}")
        out[k] = list(v) if isinstance(v, tuple) else v
    out = {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}
    if task.name == "sine" and out["omega_max"] <= out["omega_min"]:
        raise ArgumentError(
            f"task 'sine': option omega_max={out['omega_max']!r} is invalid: it must exceed omega_min="
            f"{out['omega_min']!r}"
        )
    if task.name == "context" and out["score_steps"] > out["steps"]:
        raise ArgumentError(
            f"task 'context': option score_steps={out['score_steps']!r} is invalid: at most steps={out['steps']!r}"
        )
    return out


def generate_task(name: str, seed: int = 0, **options: Any) -> Sequences:
    """Generate task ``name`` (one of :data:`TASKS`) from ``seed``: a :class:`Sequences` with splits ``train``,
    ``validation`` and ``test`` of ``n_train``, ``n_validation`` and ``n_test`` sequences, each with per-step
    targets (NaN where a step has no target).

    Args:
        name: ``"flipflop"``, ``"sine"`` or ``"context"``.
        seed: integer >= 0; split k is drawn from the stream ``(seed, k)``.
        **options: the task's options (module docstring); the others keep their defaults.

    Returns:
        The :class:`Sequences` (``source`` ``"generated"``, ``info`` ``{"options": as given, "seed", "task":
        {"name", "options" (resolved), "n_out", "input_size", "x_star", "x_star_name", "input_points",
        "signs"}}``).

    Raises:
        ArgumentError: an unknown task or option, or an option value the task does not accept (the error names
            the option).
    """
    if name not in TASKS:
        raise ArgumentError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ArgumentError(f"seed must be an integer >= 0; got {seed!r}")
    task = TASKS[name]
    o = _resolved(task, options)
    splits = {}
    for split in SPLITS:
        rng = np.random.default_rng([seed, _SPLIT_STREAM[split]])
        x, y = task.generate(rng, o[f"n_{split}"], o)
        splits[split] = SequenceSplit(list(x.astype(np.float64)), None, list(y.astype(np.float64)))
    points = task.input_points(o)
    first = next(iter(points))
    info = {
        "options": dict(options),
        "seed": seed,
        "task": {
            "name": name,
            "description": task.description,
            "options": o,
            "n_out": int(splits["train"].targets[0].shape[1]) if splits["train"].targets else 0,
            "input_size": int(splits["train"].inputs[0].shape[1]),
            "x_star": points[first],
            "x_star_name": first,
            "input_points": points,
            "signs": task.signs,
        },
        "n": {s: len(splits[s]) for s in SPLITS},
    }
    return Sequences(name=name, splits=splits, label_names=[], source="generated", info=info)
