"""Section ``linearization``: how well the network's dynamics are described by their linearization around the
nearest fixed point with q < tol (the paper's check of the linearized dynamics): the one-step error, an example
trajectory, and classification by the linearized dynamics alone. The slow-manifold section measures the same around
its nodes (:func:`linear_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnlens.analysis.registry import ArraySpec, FigureSpec, Measurement, MetricSpec, Section, metric
from rnnlens.analysis.sections.fixed_points import applies_to_points
from rnnlens.progress import track
from rnnlens.settings import Int, SettingsGroup, setting

__all__ = ["LinearizationSettings", "linear_fit", "linearization_specs", "linearization_arrays", "measure", "SECTION"]


@dataclass(frozen=True)
class LinearizationSettings(SettingsGroup):
    """The checks of the linearized dynamics."""

    name = "linearization"
    n_transitions: int = setting(20000, "Transitions sampled for the one-step linearization error.", Int())
    n_linear_docs: int | None = setting(
        None, "Documents classified by the linearized dynamics alone.", Int(), none="all analysed documents"
    )


def _transitions(run, rng):
    """A seeded sample of transitions (h_{t-1}, x_t) -> h_t of the analysed documents (h_{-1}: the initial
    state; x_t the input vector read at step t)."""
    from rnnlens.device import to_numpy

    states = run.products["documents"]
    traj = states.traj
    init = to_numpy(run.network.init_state(1).double())[0]
    lengths = np.array([len(t) for t in traj])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    pick = np.sort(rng.choice(offsets[-1], min(run.settings.linearization.n_transitions, offsets[-1]), replace=False))
    d = np.searchsorted(offsets, pick, side="right") - 1
    t = pick - offsets[d]
    X = states.X  # the states stacked in document order: row offsets[d] + t is state t of document d
    h_next = X[pick].astype(np.float64)
    h_prev = X[np.maximum(pick - 1, 0)].astype(np.float64)
    h_prev[t == 0] = init  # a document's first step starts from the initial state
    return h_prev, h_next, states.docs.inputs_at(run.network, d, t), init, lengths


def _on_cpu(run, points, lin) -> tuple:
    """``(points, x*, J_rec, J_inp)`` on the CPU, float64 Jacobians: :func:`rnnlens.analysis.dynamics.linear_step`
    and :func:`~rnnlens.analysis.dynamics.linear_rollout` allocate their results on the CPU, so the one-step errors
    and the linear rollouts run there whatever the analysis's device (the network's own steps and readout stay on
    it)."""
    import torch

    return (
        points.cpu(),
        run.x_star.cpu(),
        torch.as_tensor(lin.J_rec).double().cpu(),
        torch.as_tensor(lin.J_inp).double().cpu(),
    )


def _one_step(run, linear: tuple, rng, prefix: str) -> tuple[dict, dict, int]:
    """The one-step errors over sampled transitions, and the example trajectory (the median-length document)
    with its length; ``linear``: :func:`_on_cpu`'s."""
    import torch

    from rnnlens.analysis.dynamics import one_step_errors

    states = run.products["documents"]
    points, x_star, J_rec, J_inp = linear
    h_prev, h_next, x_next, init, lengths = _transitions(run, rng)
    err, h_lin1, near = one_step_errors(
        torch.from_numpy(h_prev), x_next.cpu(), torch.from_numpy(h_next), points, x_star, J_rec, J_inp
    )
    err = err.numpy()
    miss = np.linalg.norm(h_next - h_lin1.numpy(), axis=1)
    moved = np.linalg.norm(h_next - h_prev, axis=1)
    step_err = miss / np.maximum(moved, 1e-12)  # relative to the step the network took
    still_err = moved / np.maximum(np.linalg.norm(h_next, axis=1), 1e-12)  # predicting "no change"
    expansion = np.linalg.norm(h_prev - points.numpy()[near.numpy()], axis=1)
    ex = int(np.argsort(lengths)[len(lengths) // 2])
    H = states.traj[ex].astype(np.float64)
    Hp = np.vstack([init[None], H[:-1]])
    _, h_lin, _ = one_step_errors(
        torch.from_numpy(Hp),
        states.docs.inputs_of(run.network, ex).cpu(),
        torch.from_numpy(H),
        points,
        x_star,
        J_rec,
        J_inp,
    )
    mean, comps = states.mean, states.components
    arrays = {
        prefix + "one_step_error": err.astype(np.float32),
        prefix + "example_true_pc": (H - mean) @ comps.T,
        prefix + "example_lin_pc": (h_lin.numpy() - mean) @ comps.T,
    }
    values = {
        "one_step_error_median": (float(np.median(err)), {"n": err.size}),
        "one_step_error_mean": (float(err.mean()), {}),
        "one_step_error_p90": (float(np.percentile(err, 90)), {}),
        "step_relative_error_median": (float(np.median(step_err)), {}),
        "no_change_error_median": (float(np.median(still_err)), {}),
        "expansion_distance_median": (float(np.median(expansion)), {}),
    }
    return values, arrays, int(lengths[ex])


def _linear_classification(run, linear: tuple, rng) -> dict:
    """Accuracy of the readout of the state the linearized dynamics alone reach, on a seeded subset (labelled
    documents only: nothing for unlabelled input sequences); ``linear``: :func:`_on_cpu`'s."""
    from rnnlens.analysis.dynamics import linear_rollout
    from rnnlens.device import to_device

    states, net = run.products["documents"], run.network
    docs, traj = states.docs, states.traj
    if docs.labels is None:
        return {}
    n_linear_docs = run.settings.linearization.n_linear_docs
    n_lin = len(traj) if n_linear_docs is None else min(n_linear_docs, len(traj))
    sel = np.sort(rng.choice(len(traj), n_lin, replace=False))
    sub = docs.subset(sel)
    points, x_star, J_rec, J_inp = linear
    rnn_pred = states.predictions
    correct, agree, diverged = 0, 0, 0
    for x, lengths, pos in track(sub.batches(net, 128), "linear rollouts", -(-n_lin // 128), unit="batch"):
        h0 = net.init_state(len(pos)).double().cpu()
        final, div = linear_rollout(x.cpu(), lengths, h0, points, x_star, J_rec, J_inp)
        ok = ~div
        pred = np.full(len(pos), -1)
        if ok.any():
            pred[ok.numpy()] = net.predict(to_device(final[ok], run.device))
        correct += int((pred == sub.labels[pos]).sum())
        agree += int((pred == rnn_pred[sel[pos]]).sum())
        diverged += int(div.sum())
    return {
        "linear_accuracy": (correct / n_lin, {"n": n_lin}),
        "rnn_accuracy_same_docs": (float((rnn_pred[sel] == docs.labels[sel]).mean()), {}),
        "linear_rnn_agreement": (agree / n_lin, {}),
        "linear_diverged": (diverged, {}),
    }


def linear_fit(
    run, points, lin, rng: np.random.Generator, section: str = "linearization", prefix: str = ""
) -> Measurement:
    """How well the dynamics are described by their linearization ``lin`` around the nearest of ``points``;
    metrics under ``section`` (``linearization``: the fixed points with q < tol; ``slow_manifold``: the
    traced curve's nodes), arrays named ``prefix + ...``."""
    import torch

    with torch.no_grad():
        linear = _on_cpu(run, points, lin)
        values, arrays, example_length = _one_step(run, linear, rng, prefix)
        values.update(_linear_classification(run, linear, rng))
    values["example_doc_length"] = (example_length, {})
    out = Measurement(arrays=arrays)
    out.metrics[section] = {k: metric(f"{section}.{k}", v, **f) for k, (v, f) in values.items()}
    return out


def measure(run) -> Measurement:
    """The linearization around the fixed points with q < tol, checked on the analysed documents."""
    return linear_fit(run, run.products["fixed_points"].points, run.products["modes"].lin, run.rng)


def linearization_specs(section: str, around: str) -> tuple[MetricSpec, ...]:
    """The metrics of the linearized dynamics around ``around`` (``linearization``: the fixed points;
    ``slow_manifold``: its nodes)."""
    return (
        MetricSpec(
            f"{section}.one_step_error_median",
            "median over {n} sampled transitions of the analysed "
            "documents of ||h_next - h_lin|| / ||h_next||, h_lin = h* + J_rec (h - h*) + J_inp (x - x*) "
            f"around {around} nearest to h (the paper's one-step error, about 10% there)",
            f"median one-step error of the linearization around {around}s"
            if section == "slow_manifold"
            else "median one-step error of the linearization",
            "{:.1%}",
        ),
        MetricSpec(f"{section}.one_step_error_mean", "mean of the same relative one-step error"),
        MetricSpec(f"{section}.one_step_error_p90", "90th percentile of the same"),
        MetricSpec(
            f"{section}.step_relative_error_median",
            "median of ||h_next - h_lin|| / ||h_next - h||: the "
            "error relative to the step the network actually took (1 = no better than predicting no change)",
        ),
        MetricSpec(
            f"{section}.no_change_error_median",
            "median of ||h_next - h|| / ||h_next||: the one-step error "
            "of predicting no change at all, the baseline the linearization must beat",
        ),
        MetricSpec(
            f"{section}.expansion_distance_median",
            f"median distance ||h - h*|| from the state to {around} the linearization expands around",
        ),
        MetricSpec(
            f"{section}.linear_accuracy",
            "accuracy on {n} documents of the readout applied to the state "
            "reached by the linearized dynamics alone (every step linearized around the "
            f"{around.removeprefix('the ')} nearest the current linearized state; diverged runs count as "
            "wrong)",
            "accuracy with the linearized dynamics alone" + (" (slow manifold)" if section == "slow_manifold" else ""),
            "{:.1%}",
        ),
        MetricSpec(
            f"{section}.rnn_accuracy_same_docs",
            "accuracy of the network itself on the same documents",
            "network accuracy on the same documents" if section == "linearization" else None,
            "{:.1%}" if section == "linearization" else None,
        ),
        MetricSpec(
            f"{section}.linear_rnn_agreement",
            "fraction of those documents where the linearized and the true dynamics predict the same label",
        ),
        MetricSpec(f"{section}.linear_diverged", "linearized runs whose state became non-finite"),
        MetricSpec(f"{section}.example_doc_length", "tokens in the example trajectory (median-length document)"),
    )


def linearization_arrays(prefix: str) -> tuple[ArraySpec, ...]:
    """The arrays of the linearized dynamics, names starting with ``prefix``."""
    return (
        ArraySpec(
            prefix + "one_step_error", "f", 1, "[n_transitions] relative one-step error of each sampled transition"
        ),
        ArraySpec(prefix + "example_true_pc", "f", 2, "[T, 2] the example document's true states in PC coordinates"),
        ArraySpec(prefix + "example_lin_pc", "f", 2, "[T, 2] its one-step linearized states in PC coordinates"),
    )


FIGURES = (
    FigureSpec(
        "fig5_linearization",
        "rnnlens.report.figures:fig_linear",
        "Left: one document's trajectory and its one-step linearized prediction. Right: the relative one-"
        "step error over many transitions.",
    ),
)

SECTION = Section(
    name="linearization",
    title="linearized dynamics around the fixed points",
    measure=measure,
    applies=applies_to_points,
    settings=LinearizationSettings,
    metrics=linearization_specs("linearization", "the fixed point"),
    arrays=linearization_arrays(""),
    figures=FIGURES,
)
