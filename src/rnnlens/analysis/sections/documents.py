"""Section ``documents``: the analysed documents, every state the network visits on them, their PCA
(trained against an untrained copy: the paper's measure of low dimensionality) and the network's accuracy
there.

Random draws go through ``run.rng`` (one generator for the whole analysis, drawn from in section
order), so an analysis is reproducible from its ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnlens.analysis.registry import ArraySpec, FigureSpec, Measurement, MetricSpec, Section, metric
from rnnlens.device import DEVICE_HELP
from rnnlens.settings import DEFAULT_MAX_LENGTH, DeviceName, Int, SettingsGroup, Text, setting

if TYPE_CHECKING:
    from rnnlens.analysis.inputs import Documents

__all__ = ["DocumentSettings", "StateSpace", "measure", "SECTION"]


@dataclass(frozen=True)
class DocumentSettings(SettingsGroup):
    """Which documents are analysed, the seeds of the analysis and the device it computes on."""

    name = "documents"
    split: str = setting("test", "Split whose documents are analysed.", Text())
    n_docs: int = setting(
        1000,
        "Documents analysed (a seeded random subset of the split): PCA, fixed-point seeds and trajectories.",
        Int(2),
    )
    max_length: int | None = setting(
        DEFAULT_MAX_LENGTH, "Cut documents to this many tokens (counted and reported).", Int(), none="no limit"
    )
    max_pca_states: int = setting(
        200_000, "At most this many visited states (a seeded random subset) enter the PCA.", Int(2)
    )
    seed: int = setting(0, "Seed of every random draw of the analysis.", Int(0))
    untrained_seed: int = setting(0, "torch seed of the untrained copy the PCA is compared with.", Int(0))
    device: str = setting("cpu", DEVICE_HELP, DeviceName())


def _checked_documents(run) -> Documents:
    """The analysed documents of the run's corpus (text) or input sequences
    (:mod:`rnnlens.analysis.inputs`), refused when they cannot be analysed (fewer than 2; most tokens unknown
    to the network's vocabulary)."""
    from rnnlens.analysis.inputs import select_documents, select_sequences
    from rnnlens.errors import DataError

    s, corpus = run.settings.documents, run.corpus
    split = corpus.splits[s.split]
    if hasattr(split, "inputs"):
        docs = select_sequences(split, s.n_docs, s.max_length, s.seed)
    else:
        docs = select_documents(run.network.vocab, split, s.n_docs, s.max_length, s.seed)
    if len(docs) < 2:
        raise DataError(
            f"corpus {corpus.name!r} split {s.split!r}: fewer than 2 non-empty documents after "
            "encoding; nothing to analyze"
        )
    if docs.unk_fraction is not None and docs.unk_fraction > 0.5:
        raise DataError(
            f"{100 * docs.unk_fraction:.0f}% of the tokens of corpus {corpus.name!r} ({s.split}) are "
            "unknown to the checkpoint's vocabulary: the vocabulary does not match this dataset. "
            "Analyze the checkpoint on the dataset it was trained on (see its config.json record)."
        )
    return docs


@dataclass
class StateSpace(Measurement):
    """The analysed documents (``docs``), every visited state (``traj`` per document, ``X`` stacked), their
    PCA basis (``mean``, top-2 ``components``, fitted on ``X[pca_rows]``), the readout (``W`` over the
    whole state, direction ``w``) and the network's predictions on the documents."""

    docs: Documents | None = None
    traj: list = field(default_factory=list)
    X: np.ndarray | None = None
    pca_rows: np.ndarray | None = None
    mean: np.ndarray | None = None
    components: np.ndarray | None = None
    W: np.ndarray | None = None
    w: np.ndarray | None = None
    predictions: np.ndarray | None = None
    basis: np.ndarray | None = None  # the top principal directions (those holding 99.9% of the variance, at most 32)
    rms_radius: float | None = None  # RMS distance of X[pca_rows] from their mean (from the PCA's total variance)
    _visited: Any = field(default=None, repr=False)
    _distances: dict = field(default_factory=dict, repr=False)  # visited_distance's answers, by the points' bytes

    def final_states(self) -> np.ndarray:
        """The state after each document's last token, ``[n_docs, S]``."""
        return np.stack([t[-1] for t in self.traj])

    def visited_distance(self, points, device) -> np.ndarray:
        """The distance (float64) from each of ``points`` [P, S] to the nearest visited state of ``X[pca_rows]``.

        The states stay float32 (as computed); the search (:class:`rnnlens.analysis.dynamics.NearestIndex`, on
        ``device``, prepared once per analysis) is exact in float64 on the CPU, pruned by the states' top principal
        components (``basis``: most distances are never computed); elsewhere it screens in float32 and can pick
        another state only where two are equally near within float32 rounding. The distance is in float64."""
        import hashlib

        import torch

        from rnnlens.analysis.dynamics import NearestIndex
        from rnnlens.device import to_device, to_numpy

        # the same points asked again (the fixed points at tol: the tolerance sweep's first row and the manifold
        # section) are answered from memory
        array = np.ascontiguousarray(to_numpy(torch.as_tensor(points).detach()), dtype=np.float64)
        key = (array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).digest())
        if key in self._distances:
            return self._distances[key].copy()
        if self._visited is None:
            visited = to_device(np.ascontiguousarray(self.X[self.pca_rows]), device)
            self._visited = NearestIndex(visited, basis=self.basis, center=self.mean)
        index = self._visited
        pts = torch.as_tensor(points).to(device=index.points.device, dtype=torch.float64)
        near = index.points[index(pts)].double()
        self._distances[key] = to_numpy(torch.linalg.vector_norm(pts - near, dim=1))
        return self._distances[key].copy()


def measure(run) -> StateSpace:
    """PCA of every visited state, trained vs an untrained copy; the network's accuracy on the documents. The
    states are computed on the run's device; the PCA (scikit-learn) runs on the CPU."""
    from rnnlens.analysis.geometry import pca
    from rnnlens.device import to_device

    s, net, rng = run.settings.documents, run.network, run.rng
    docs = _checked_documents(run)
    traj = docs.states(net)
    X = np.concatenate(traj)
    pca_rows = np.arange(X.shape[0])
    if X.shape[0] > s.max_pca_states:
        pca_rows = np.sort(rng.choice(X.shape[0], s.max_pca_states, replace=False))
    # 32 directions (scikit-learn's covariance solver finds them all at once): the metrics read the top 10; the
    # nearest-visited-state search (StateSpace.visited_distance) prunes with as many as hold 99.9% of the variance
    # (fewer make its bounds loose, more make its k-d tree slow)
    buf = np.empty((pca_rows.size, X.shape[1]))  # one float64 copy of the PCA rows, for both fits (centred in place)
    fit = pca(_rows_into(buf, X, pca_rows), 32, overwrite=True)
    cum, mean, basis = fit.cumulative, fit.mean, fit.components
    basis = basis[: int(np.searchsorted(cum, 0.999)) + 1]
    cum, comps = cum[:10], basis[:2]
    # the untrained copy's states: only their PCA rows are gathered (no stacked copy of them all)
    cum0 = pca(_rows_into(buf, docs.states(net.untrained(s.untrained_seed)), pca_rows), 10, overwrite=True).cumulative
    del buf
    out = StateSpace(docs=docs, traj=traj, X=X, pca_rows=pca_rows, mean=mean, components=comps, basis=basis)
    out.rms_radius = fit.rms_radius
    out.metrics["data"] = {
        "n_docs": metric("data.n_docs", len(docs), split=s.split),
        "n_empty_skipped": metric("data.n_empty_skipped", docs.n_empty),
        "n_truncated": metric("data.n_truncated", docs.n_truncated),
        "n_states": metric("data.n_states", int(X.shape[0])),
        "n_states_pca": metric("data.n_states_pca", int(pca_rows.size)),
        "unk_fraction": metric("data.unk_fraction", docs.unk_fraction),
        "state_size": metric("data.state_size", X.shape[1]),
    }
    if docs.unk_fraction is None:  # input sequences: no tokens
        del out.metrics["data"]["unk_fraction"]
    out.metrics["pca"] = {
        "trained_cumulative": metric("pca.trained_cumulative", cum),
        "untrained_cumulative": metric("pca.untrained_cumulative", cum0),
    }
    a = out.arrays
    a.update(pca_trained=cum, pca_untrained=cum0, pc_mean=mean, pc_components=comps)
    proj_sample = rng.choice(X.shape[0], min(X.shape[0], 20000), replace=False)
    a["state_pc"] = ((X[proj_sample] - mean) @ comps.T).astype(np.float32)
    doc_of_state = np.repeat(np.arange(len(traj)), [len(t) for t in traj])
    labels = docs.labels if docs.labels is not None else np.zeros(len(docs), dtype=np.int64)  # unlabelled: one
    a["state_label"] = labels[doc_of_state[proj_sample]]
    finals = out.final_states()
    a["final_pc"] = ((finals - mean) @ comps.T).astype(np.float32)
    a["final_label"] = labels
    if not net.readout_is_linear and not net.readout.linearized:  # a callable readout: fix its linearization
        net = run.network = net.linearize_readout(finals)
    if not net.readout_is_linear:
        out.metrics["data"]["readout_linear_r2"] = metric(
            "data.readout_linear_r2", net.readout.r2, n_states=net.readout.n_states
        )
    out.W = net.readout_matrix()
    a["readout_matrix"], a["readout_bias"] = out.W, net.readout_bias()
    out.w = net.readout_direction()
    a["readout_pc"] = comps @ out.w
    if docs.targets is not None:
        out.metrics["data"].update(_target_fit(net, traj, docs.targets))
    out.predictions = net.predict(to_device(finals, run.device))
    if docs.labels is not None:
        out.metrics["data"]["rnn_accuracy"] = metric(
            "data.rnn_accuracy", float((out.predictions == docs.labels).mean())
        )
    return out


def _rows_into(buf: np.ndarray, X: np.ndarray | list, rows: np.ndarray) -> np.ndarray:
    """``buf[:] = X[rows]`` (converted to ``buf``'s dtype) a block of rows at a time, with no full-size temporary.
    ``X`` may be a list of arrays (one per document), ``rows`` (sorted) then index their stack."""
    if isinstance(X, list):
        offsets = np.concatenate([[0], np.cumsum([len(t) for t in X])])
        # sorted rows: each document's are one run of them, from bounds[d] to bounds[d + 1]
        bounds = np.searchsorted(rows, offsets)
        for d, part in enumerate(X):
            a, b = bounds[d], bounds[d + 1]
            if b > a:
                buf[a:b] = part[rows[a:b] - offsets[d]]
        return buf
    for a in range(0, rows.size, 8192):
        buf[a : a + 8192] = X[rows[a : a + 8192]]
    return buf


def _target_fit(net, traj: list[np.ndarray], targets: list[np.ndarray]) -> dict:
    """How well the readout's output after every input matches the per-step targets (input sequences)."""
    import torch

    from rnnlens.device import to_device, to_numpy
    from rnnlens.errors import DataError

    with torch.no_grad():
        Y = np.concatenate([to_numpy(net.logits(to_device(h, net.device)).double().reshape(len(h), -1)) for h in traj])
    T = np.concatenate(targets)
    if Y.shape[1] != T.shape[1]:
        raise DataError(
            f"the per-step targets have {T.shape[1]} outputs but the readout gives {Y.shape[1]}; give "
            "targets of the readout's width"
        )
    has = ~np.isnan(T)  # NaN: no target at this step (e.g. the context task before its scored steps)
    means = np.array([T[has[:, k], k].mean() if has[:, k].any() else 0.0 for k in range(T.shape[1])])
    sse = float(np.where(has, (Y - np.nan_to_num(T)) ** 2, 0.0).sum())
    sst = float(np.where(has, (np.nan_to_num(T) - means) ** 2, 0.0).sum())
    n = int(has.sum())
    out = {
        "target_mse": metric("data.target_mse", sse / n, n_steps=T.shape[0], n_out=T.shape[1], n_scored=n),
        "target_r2": metric("data.target_r2", 1.0 - sse / sst if sst > 0 else float("nan")),
    }
    scored = T[has]
    if np.all(np.abs(scored) == 1.0):  # sign targets (flip-flop, context): the fraction of right signs
        out["target_sign_accuracy"] = metric(
            "data.target_sign_accuracy", float((np.sign(Y[has]) == scored).mean()), n_scored=n
        )
    return out


METRICS = (
    MetricSpec("data.n_docs", "documents of the {split!r} split analysed (seeded random subset)"),
    MetricSpec("data.n_empty_skipped", "documents with no tokens after encoding, skipped"),
    MetricSpec("data.n_truncated", "documents cut to max_length tokens"),
    MetricSpec("data.n_states", "visited states (one per token of the analysed documents)"),
    MetricSpec(
        "data.n_states_pca",
        "states used for PCA (all, or a seeded random subset of max_pca_states when there are more)",
    ),
    MetricSpec("data.unk_fraction", "fraction of tokens not in the model's vocabulary"),
    MetricSpec("data.state_size", "S, numbers per state (2N for the LSTM: [h, c])"),
    MetricSpec(
        "data.rnn_accuracy",
        "accuracy of the network on the analysed documents",
        "network accuracy on the analysed documents",
        "{:.1%}",
    ),
    MetricSpec(
        "data.target_mse",
        "per-step targets of input sequences: mean squared error of the readout's "
        "output after every input, (1/n_scored) sum (y - target)^2 over the analysed sequences' "
        "{n_steps} steps and {n_out} outputs, the {n_scored} entries that have a target (NaN: none)",
        "readout's mean squared error on the per-step targets",
        "{:.4g}",
        only_when="the input sequences have per-step targets",
    ),
    MetricSpec(
        "data.target_r2",
        "per-step targets: 1 - SS_res/SS_tot of the readout's outputs against the "
        "targets (SS_tot about each output's mean), over the entries that have a target",
        "readout's R^2 on the per-step targets",
        "{:.3f}",
        only_when="the input sequences have per-step targets",
    ),
    MetricSpec(
        "data.target_sign_accuracy",
        "per-step targets that are all +1 or -1 (the flip-flop, context-dependent integration): the fraction "
        "of the {n_scored} entries with a target where the readout's output has the target's sign",
        "readout's fraction of correct signs on the per-step targets",
        "{:.1%}",
        only_when="every per-step target is +1 or -1",
    ),
    MetricSpec(
        "data.readout_linear_r2",
        "for a readout that is not a linear map (a callable, e.g. an MLP head): "
        "the share of its logits' variance over the analysed documents' final states that its "
        "linearization explains (1 - SS_res/SS_tot); the linearization, W = the readout's Jacobian "
        "averaged over those {n_states} states, b = mean(g(h) - W h), is the readout every section uses",
        only_when="the readout is a callable, not an nn.Linear",
    ),
    MetricSpec(
        "pca.trained_cumulative",
        "cumulative fraction of state variance explained by PCs 1..k (k=1..10), "
        "PCA (scikit-learn) of every visited state of the analysed documents",
        "state variance in the top 3 PCs (trained)",
        "pc3",
    ),
    MetricSpec(
        "pca.untrained_cumulative",
        "the same for an untrained copy (same architecture, fresh init with "
        "torch seed untrained_seed) on the same documents",
        "state variance in the top 3 PCs (untrained copy)",
        "pc3",
    ),
)

ARRAYS = (
    ArraySpec("pca_trained", "f", 1, "cumulative variance fractions of the visited states' PCs 1..10"),
    ArraySpec("pca_untrained", "f", 1, "the same for the untrained copy"),
    ArraySpec("pc_mean", "f", 1, "[S] mean of the visited states (the PCA's centre)"),
    ArraySpec("pc_components", "f", 2, "[2, S] the top two principal directions of the visited states"),
    ArraySpec("state_pc", "f", 2, "[n, 2] a seeded sample of at most 20,000 visited states in PC coordinates"),
    ArraySpec("state_label", "i", 1, "[n] label of the document of each of those states"),
    ArraySpec("final_pc", "f", 2, "[n_docs, 2] each document's final state in PC coordinates"),
    ArraySpec("final_label", "i", 1, "[n_docs] each document's label"),
    ArraySpec("readout_pc", "f", 1, "[2] the readout direction in PC coordinates"),
    ArraySpec(
        "readout_matrix",
        "f",
        2,
        "[n_out, S] the readout's matrix over the whole state (its linearization "
        "for a callable readout, see data.readout_linear_r2)",
    ),
    ArraySpec("readout_bias", "f", 1, "[n_out] the readout's bias (likewise)"),
)

FIGURES = (
    FigureSpec(
        "fig2a_pca",
        "rnnlens.report.figures:fig_pca",
        "Variance of the visited states explained by the top principal components, for the trained "
        "network and an untrained copy. A few PCs suffice after training.",
    ),
    FigureSpec(
        "fig2b_states",
        "rnnlens.report.figures:fig_states",
        "Visited states projected on the top two PCs, coloured by the document's label, with the readout "
        "direction (arrow), the traced slow manifold (coloured by log10 q), its exact fixed points "
        "(circle: stable, cross: saddle) and, in grey, the paper's fixed points with q < tol.",
    ),
)

SECTION = Section(
    name="documents",
    title="documents, visited states and PCA",
    measure=measure,
    settings=DocumentSettings,
    metrics=METRICS,
    arrays=ARRAYS,
    figures=FIGURES,
)
