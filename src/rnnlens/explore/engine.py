"""What ``rnnlens explore`` computes: one :class:`ExploreModel` per checkpoint.

Everything that does not depend on the text is computed once, when the model is loaded:

* the traced slow manifold's nodes in state space (exact when the analysis is computed here; from a
  saved analysis, the nodes' saved PC coordinates lifted back into state space and relaxed for
  ``RELAX_LIFTED`` steps of the network's own dynamics at x*, which removes the fast modes the lift
  got wrong and leaves each node on the line near where it was);
* the linearization at every node: J_rec, J_inp, the top right / left eigenvectors r_1, l_1 (oriented as
  the analysis orients them: r_1 points to the high-readout end of the line, l_1 r_1 = 1);
* per node, the row ``v_p = Re(l_1^T J_inp)`` (so a word's push along the line is ``v_p . x_word``) and
  ``g_p = w . Re(r_1)`` (readout change per unit along r_1), and every vocabulary word's push;
* the PCA basis and the scene: visited states, the line, its fixed points, and the part of every
  analysis section that declares one (:attr:`rnnlens.analysis.registry.Section.scene`) and ran.

Per request only the network runs over the tokens (batch 1, ``torch.no_grad``) and a few
vectorised projections follow.

Definitions of the per-token numbers (also in :data:`DEFINITIONS`, which the API returns):

* readout r_t: the logit after token t (binary); with k classes the difference of the last and the
  first class's logits (the analysis's sign convention); r_0 is read at the initial state;
* ``measured``: r_t - r_{t-1}, the readout change in the step that reads the token (it includes fast
  modes that decay within a few tokens);
* ``settled``: readout of F^K(h_t) minus readout of F^(K+1)(h_{t-1}), F the step at x*: the part of the
  change that is still there K = ``SETTLE_STEPS`` tokens later, i.e. the push along the line;
* ``predicted_line``: l_1^T J_inp x_t at the slow-manifold node nearest to h_{t-1} (units: distance
  along r_1); ``predicted``: the same times w . r_1 there, i.e. the linearized prediction of
  ``settled`` in logits.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rnnlens.analysis.registry import metric_node, resolve, sections
from rnnlens.errors import ArgumentError

if TYPE_CHECKING:
    from rnnlens.analysis.result import Analysis
    from rnnlens.analysis.settings import AnalysisSettings
    from rnnlens.network import Network

MAX_TOKENS = 2000  # tokens read per request; the rest is cut, with a note
MAX_CHARS = 100_000  # characters of a paste looked at (before tokenizing); the rest is cut, with a note
SETTLE_STEPS = 10  # K in the definition of the settled push
RELAX_LIFTED = 20  # steps that relax nodes lifted from a saved analysis's PC coordinates
TOP_WORDS_POOL = 5000  # the word lists choose among the most frequent words of the vocabulary
CLOUD_POINTS = 2500  # visited states sent to the page

# C0 and C1 control characters except tab, line feed and carriage return
_CONTROL = {c: None for c in [*range(0, 32), *range(127, 160)] if c not in (9, 10, 13)}

DEFINITIONS = {
    "readout": "readout r_t after token t: the logit of the positive class (binary) or logit[last] - "
    "logit[first] (k classes); r_0 is the readout of the initial state",
    "probs": "probability of each class after token t (sigmoid / softmax of the logits); row 0: before any token",
    "measured": "measured one-step push: r_t - r_{t-1}, the readout change in the step that reads the token "
    "(includes fast modes that decay within a few tokens)",
    "settled": f"measured push along the line: readout of F^{SETTLE_STEPS}(h_t) minus readout of "
    f"F^{SETTLE_STEPS + 1}(h_(t-1)), F one step at x* (no word): the change still there "
    f"{SETTLE_STEPS} tokens later",
    "predicted_line": "linearized push along the line: Re(l_1^T J_inp x_t) at the slow-manifold node nearest "
    "to h_(t-1) (units: distance along r_1)",
    "predicted": "linearized prediction of the settled push: (w . r_1) Re(l_1^T J_inp x_t) at that node (logits)",
    "node": "index of the slow-manifold node nearest to h_(t-1) (0: the low-readout end)",
    "pc": "state projected on the top two principal components of the visited states; row 0: initial state",
    "unknown": "true for tokens not in the vocabulary (read as <unk>)",
    "word_push": "a word's push along the line in logits: (w . r_1) Re(l_1^T J_inp x_word), averaged over the "
    "slow-manifold nodes",
    "word_valence": "a word's valence: Re(l_1^T J_inp x_word) averaged over the slow-manifold nodes "
    "(units: distance along r_1)",
}


def clean_text(text: str, *, max_chars: int = MAX_CHARS) -> tuple[str, dict]:
    """Cut ``text`` to ``max_chars`` characters and drop control characters (tab and newlines kept)."""
    if not isinstance(text, str):
        raise ArgumentError(f"text must be a string, got {type(text).__name__}")
    info = {"chars_received": len(text), "chars_read": min(len(text), max_chars), "control_removed": 0}
    head = text[:max_chars]
    clean = head.translate(_CONTROL)
    info["control_removed"] = len(head) - len(clean)
    return clean, info


def _np(x) -> np.ndarray:
    import torch

    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def input_point(analysis: Analysis) -> str:
    """The name of x* the analysis used (``settings.fixed_points.input_point``; older summaries keep their
    settings in one flat table, ``settings.input_point``)."""
    settings = analysis.summary.get("settings") or {}
    if "input_point" in settings:
        return str(settings["input_point"])
    return analysis.settings.fixed_points.input_point if settings else "zero"


def _pca_basis(name: str, network: Network, arrays) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the top two principal directions of the visited states, float64 ``[S]`` and ``[2, S]``;
    ArgumentError when the analysis has no traced slow manifold or was made on states of another size."""
    for key in ("pc_mean", "pc_components", "sm_pc"):
        if key not in arrays:
            raise ArgumentError(
                f"the analysis for {name!r} has no array {key!r} (no traced slow manifold?); "
                "rerun `rnnlens analyze` with this rnnlens, or leave --analysis out to compute "
                "a quick one"
            )
    S = network.state_size
    mean = np.asarray(arrays["pc_mean"], dtype=np.float64)
    comps = np.asarray(arrays["pc_components"], dtype=np.float64)[:2]
    if mean.shape != (S,) or comps.shape[1] != S:
        raise ArgumentError(
            f"the analysis for {name!r} was made on states of size {mean.shape[0]}, but the "
            f"checkpoint's state size is {S}: give each checkpoint its own analysis "
            "(--analysis in the same order as the checkpoints)"
        )
    return mean, comps


def _slow_nodes(network: Network, arrays, x_star, mean: np.ndarray, comps: np.ndarray, nodes=None):
    """The slow manifold's nodes in state space, float32 ``[P, S]``, and how they were obtained: ``nodes``
    or the saved ``sm_points`` when known, else the saved PC coordinates lifted and relaxed."""
    import torch

    S = network.state_size
    if nodes is None and "sm_points" in arrays and np.asarray(arrays["sm_points"]).shape[-1] == S:
        nodes = np.asarray(arrays["sm_points"])
    if nodes is not None:
        return torch.as_tensor(nodes).float(), "exact: the nodes traced by the analysis"
    sm_pc = np.asarray(arrays["sm_pc"], dtype=np.float64)
    N = network.relax(torch.from_numpy(mean + sm_pc @ comps).float(), x_star.float(), RELAX_LIFTED)
    return N, (
        f"lifted: the saved nodes' PC coordinates mapped back to state space and relaxed for "
        f"{RELAX_LIFTED} steps of the network at x*"
    )


def _line_modes(network: Network, N, x_star) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At every node of ``N``: ``v_p = Re(l_1^T J_inp)`` ``[P, I]``, ``g_p = w . Re(r_1)`` ``[P]`` and
    |lambda_1| ``[P]``; r_1 points along the nodes' order (towards the high-readout end), l_1 r_1 = 1."""
    from rnnlens.analysis.modes import orient_along
    from rnnlens.linearization import linearize

    P = N.shape[0]
    lin = linearize(network.step, N, x_star.float().expand(P, -1).clone(), modes=1)
    R, L = _np(lin.R), _np(lin.L)
    tangent = np.gradient(_np(N).astype(np.float64), axis=0)
    r1, l1 = orient_along(R[:, :, 0], L[:, 0, :], tangent)
    J_inp = _np(lin.J_inp).astype(np.complex128)
    v = np.einsum("ps,psi->pi", l1, J_inp).real
    g = r1.real @ network.readout_direction()
    return v, g, np.abs(_np(lin.eigvals)[:, 0]).astype(np.float64)


def _derived() -> Any:
    """A field that build() precomputes: not an argument, not compared, not shown."""
    return field(init=False, repr=False, compare=False)


@dataclass
class ExploreModel:
    """A network with everything the explorer needs precomputed (see the module docstring)."""

    name: str
    network: Any
    analysis: Any
    nodes_source: str
    nodes: np.ndarray = field(repr=False)  # [P, S] float32
    info: dict = field(default_factory=dict)
    # precomputed by build() (not arguments, not compared, not shown)
    _mean: np.ndarray = _derived()
    _comps: np.ndarray = _derived()
    _x_star: Any = _derived()
    _v: np.ndarray = _derived()
    _g: np.ndarray = _derived()
    _node_sq: np.ndarray = _derived()
    _node_pc: np.ndarray = _derived()
    _abs_lambda1: np.ndarray = _derived()
    _ran: list = _derived()
    _scene: dict = _derived()
    _marked: frozenset = _derived()
    _emb: np.ndarray = _derived()
    _word_valence: np.ndarray = _derived()
    _word_push: np.ndarray = _derived()
    _word_push_std: np.ndarray = _derived()
    _pool: np.ndarray = _derived()
    _push_scale: float = _derived()

    # ------------------------------------------------------------------ construction
    @classmethod
    def build(cls, name: str, network: Network, analysis: Analysis, *, nodes=None, seed: int = 0) -> ExploreModel:
        """Precompute from a :class:`rnnlens.Network` (or anything :meth:`rnnlens.Network.resolve` takes) and
        an :class:`rnnlens.analysis.result.Analysis` of it. ``nodes``: the slow manifold's nodes in state space
        when known (an analysis computed here, or ``arrays['sm_points']`` of a saved one); otherwise (older
        analyses) they are lifted from ``arrays['sm_pc']``. ``seed`` picks the visited states sent to the page."""
        from rnnlens.network import Network

        t0 = time.perf_counter()
        network = Network.resolve(network)
        if not network.readout_is_linear and not network.readout.linearized:  # a callable readout
            network = network.linearize_readout(
                matrix=analysis.arrays["readout_matrix"], bias=analysis.arrays["readout_bias"]
            )
        mean, comps = _pca_basis(name, network, analysis.arrays)
        x_star = network.x_star(input_point(analysis))
        N, source = _slow_nodes(network, analysis.arrays, x_star, mean, comps, nodes)
        v, g, abs_lambda1 = _line_modes(network, N, x_star)
        self = cls(name=name, network=network, analysis=analysis, nodes_source=source, nodes=_np(N).astype(np.float32))
        self._mean = mean.astype(np.float32)
        self._comps = comps.astype(np.float32)
        self._x_star = x_star.float()
        self._v = v.astype(np.float32)
        self._g = g.astype(np.float32)
        self._node_sq = (self.nodes.astype(np.float64) ** 2).sum(1)
        self._node_pc = (self.nodes - self._mean) @ self._comps.T
        self._abs_lambda1 = abs_lambda1
        self._word_tables(network.embeddings().numpy(), v, g)
        self._ran = [s for s in sections() if analysis.ran(s)]
        self._scene = self._make_scene(seed)
        self._marked = _marked_words(self._scene, self._ran)
        self.info["setup_seconds"] = time.perf_counter() - t0
        return self

    def _word_tables(self, E: np.ndarray, v: np.ndarray, g: np.ndarray) -> None:
        """Every vocabulary word's push and valence (mean over the nodes), the word pool and the push scale."""
        word_line = E @ v.T  # [V, P]
        word_push = word_line * g[None, :]
        self._emb = E.astype(np.float32)
        self._word_valence = word_line.mean(1)
        self._word_push = word_push.mean(1)
        self._word_push_std = word_push.std(1)
        pool = np.arange(2, min(len(self.network.vocab), TOP_WORDS_POOL + 2))
        self._pool = pool
        scale = float(np.percentile(np.abs(self._word_push[pool]), 95)) if len(pool) else 1.0
        self._push_scale = scale if scale > 0 and math.isfinite(scale) else 1.0

    # ------------------------------------------------------------------ descriptions
    @property
    def summary(self) -> dict:
        """The analysis's summary (``summary.json``)."""
        return self.analysis.summary

    @property
    def arrays(self):
        """The analysis's arrays (``arrays.npz``)."""
        return self.analysis.arrays

    @property
    def num_classes(self) -> int:
        return self.network.num_classes

    def label_names(self) -> list[str]:
        names = self.network.record.get("label_names")
        if names and len(names) == self.num_classes:
            return [str(n) for n in names]
        return [f"class {i}" for i in range(self.num_classes)]

    def describe(self) -> dict:
        rec = self.network.record
        metrics = rec.get("metrics", {}) if isinstance(rec.get("metrics"), dict) else {}
        acc = (metrics.get("validation") or {}).get("accuracy") if isinstance(metrics.get("validation"), dict) else None
        cfg = self.network.config() or {}
        return {
            "name": self.name,
            "arch": cfg.get("arch"),
            "hidden_size": cfg.get("hidden_size"),
            "state_size": self.network.state_size,
            "num_classes": self.num_classes,
            "label_names": self.label_names(),
            "dataset": rec.get("dataset"),
            "validation_accuracy": acc,
            "vocab_size": len(self.network.vocab),
            "checkpoint": self.network.path or "",
            "nodes": int(self.nodes.shape[0]),
            "nodes_source": self.nodes_source,
            "input_point": input_point(self.analysis),
            "push_scale": self._push_scale,
            "push_scale_definition": "95th percentile of |word push| (logits) over the most frequent "
            f"{TOP_WORDS_POOL} words: the colour scale saturates there",
            "sections": [s.name for s in self._ran],
            "setup_seconds": round(self.info.get("setup_seconds", 0.0), 3),
        }

    def _make_scene(self, seed: int) -> dict:
        """The base scene (visited states, the line, its fixed points, the definitions), then under its name
        the scene of every analysis section that declares one and ran here."""
        a = self.analysis.arrays
        cloud = np.asarray(a.get("state_pc", np.zeros((0, 2))), dtype=np.float32)
        labels = np.asarray(a.get("state_label", np.zeros(len(cloud))), dtype=np.int64)
        if len(cloud) > CLOUD_POINTS:
            pick = np.sort(np.random.default_rng(seed).choice(len(cloud), CLOUD_POINTS, replace=False))
            cloud, labels = cloud[pick], labels[pick]
        scene = {
            "model": self.name,
            "axes": ["PC1 of the visited states", "PC2 of the visited states"],
            "cloud": {
                "pc": _r(cloud),
                "label": labels.tolist(),
                "label_names": self.label_names(),
                "definition": f"states visited while reading analysed documents ({len(cloud)} shown), "
                "coloured by the document's true label",
            },
            "line": {
                "pc": _r(np.asarray(a["sm_pc"])),
                "readout": _r(np.asarray(a.get("sm_position", np.zeros(len(a["sm_pc"]))))),
                "abs_lambda1": _r(self._abs_lambda1),
                "definition": "the traced slow manifold (line attractor): nodes of the principal curve "
                "through the slow points; readout = w . h at each node",
            },
            "fixed_points": {
                "pc": _r(np.asarray(a.get("sm_fp_pc", np.zeros((0, 2))))),
                "unstable": np.asarray(a.get("sm_fp_unstable", np.zeros(0)), dtype=int).tolist(),
                "definition": "exact fixed points on the line; unstable = number of eigenvalues "
                "with |lambda| > 1 (0: stable, 1: saddle)",
            },
            "definitions": DEFINITIONS,
        }
        for section in self._ran:
            if section.scene is not None:
                scene[section.name] = json_safe(resolve(section.scene)(self.analysis.summary, self.analysis.arrays))
        return scene

    def scene(self) -> dict:
        return self._scene

    # ------------------------------------------------------------------ words
    def word(self, word: str) -> dict:
        clean, _ = clean_text(word, max_chars=200)
        toks, ids, unknown = self.network.read_tokens(clean)
        if not toks:
            return {
                "model": self.name,
                "word": clean,
                "token": None,
                "known": False,
                "note": "no token in this input: type a word",
            }
        tok, i = toks[0], ids[0]
        out = {
            "model": self.name,
            "word": clean,
            "token": tok,
            "known": not unknown[0],
            "id": i,
            "note": (
                f"read as the token {tok!r}"
                + (f" (the input has {len(toks)} tokens; the first is shown)" if len(toks) > 1 else "")
            ),
            "definitions": {k: DEFINITIONS[k] for k in ("word_push", "word_valence")},
        }
        if unknown[0]:
            out["note"] = f"{tok!r} is not in the vocabulary: the network reads it as <unk> (values below are <unk>'s)"
        out.update(
            push=float(self._word_push[i]),
            push_std=float(self._word_push_std[i]),
            valence=float(self._word_valence[i]),
            push_along_line=_r(self._emb[i] @ self._v.T * self._g),
            rank=int((self._word_push[self._pool] > self._word_push[i]).sum()) + 1,
            rank_of=int(len(self._pool)),
        )
        return out

    def words(self, n: int = 15) -> dict:
        if not isinstance(n, int) or n < 1 or n > 200:
            raise ArgumentError(f"n must be an integer from 1 to 200, got {n!r}")
        itos = self.network.itos
        pool = self._pool
        p = self._word_push[pool]
        order = np.argsort(p)

        def rows(idx):
            return [
                {"word": itos[int(pool[j])], "push": float(p[j]), "valence": float(self._word_valence[pool[j]])}
                for j in idx
            ]

        return {
            "model": self.name,
            "pool": int(len(pool)),
            "pool_definition": f"the {len(pool)} most frequent words of the vocabulary",
            "definition": DEFINITIONS["word_push"],
            "positive": rows(order[::-1][:n]),
            "negative": rows(order[:n]),
            "neutral": rows(np.argsort(np.abs(p))[:n]),
        }

    # ------------------------------------------------------------------ reading a text
    def _readout(self, H):
        """Readout of states ``H`` ``[B, S]``: the logit (binary) or logit[last] - logit[first] (k classes),
        and the class probabilities ``[B, k]``."""
        import torch

        logits = self.network.logits(H)
        if logits.dim() == 1:
            return logits, torch.stack([1 - torch.sigmoid(logits), torch.sigmoid(logits)], -1)
        return logits[:, -1] - logits[:, 0], torch.softmax(logits, -1)

    def _run(self, ids: list[int]):
        """Every state ``[T+1, S]`` (row 0: the initial state), the readout and probabilities of each, and the
        settled push of each token (None without tokens)."""
        import torch

        network = self.network
        with torch.no_grad():
            allH = network.init_state(1)
            if ids:
                allH = torch.cat([allH, network.quick_states(torch.tensor([ids], dtype=torch.long))[0]], 0)
            r, probs = self._readout(allH)
            settled = None
            if ids:
                # settled push: K steps at x* after the token, F^K(h_t), vs K + 1 steps without it,
                # F^(K+1)(h_(t-1)) = F(F^K(h_(t-1))): one relaxation of the trajectory serves both
                A = network.quick_relax(allH, self._x_star, SETTLE_STEPS)  # F^K(h_t), t = 0..T
                without = network.step_fn(self._x_star.expand(len(ids), -1), A[:-1])
                rs, _ = self._readout(torch.cat([A[1:], without], 0))
                settled = (rs[: len(ids)] - rs[len(ids) :]).numpy()
        return allH.numpy(), r.numpy().astype(np.float64), probs.numpy(), settled

    def read(self, text: str, *, max_tokens: int = MAX_TOKENS, max_chars: int = MAX_CHARS) -> dict:
        clean, info = clean_text(text, max_chars=max_chars)
        tokens, ids, unknown = self.network.read_tokens(clean)
        n_all = len(tokens)
        tokens, ids, unknown = tokens[:max_tokens], ids[:max_tokens], unknown[:max_tokens]
        notes = _cut_notes(info, n_all, max_chars, max_tokens)
        if any(unknown):
            notes.append(f"{sum(unknown)} token(s) are not in the vocabulary and are read as <unk>")
        Hn, r, probs, settled = self._run(ids)
        pc = (Hn - self._mean) @ self._comps.T
        out = {
            "model": self.name,
            "text_info": info,
            "truncated": len(notes) > 0 and (info["chars_received"] > info["chars_read"] or n_all > max_tokens),
            "n_tokens": len(tokens),
            "n_tokens_in_text": n_all,
            "max_tokens": max_tokens,
            "tokens": tokens,
            "unknown": unknown,
            "notes": notes,
            "label_names": self.label_names(),
            "probs": _r(probs),
            "readout": _r(r),
            "pc": _r(pc),
            "push_scale": self._push_scale,
        }
        if not ids:
            out.update(empty=True, measured=[], settled=[], predicted=[], predicted_line=[], node=[], modifier=[])
            out["notes"] = [
                "no tokens: the text is empty (or only spaces / control characters); the readout "
                "shown is the initial state's"
            ] + notes
            return out
        X = self._emb[ids]  # [T, I]
        Hb = Hn[:-1].astype(np.float64)
        d2 = (Hb**2).sum(1)[:, None] - 2 * Hb @ self.nodes.T.astype(np.float64) + self._node_sq[None, :]
        near = d2.argmin(1)
        pred_line = np.einsum("ti,ti->t", X, self._v[near])
        out.update(
            empty=False,
            measured=_r(np.diff(r)),
            settled=_r(settled),
            predicted_line=_r(pred_line),
            predicted=_r(pred_line * self._g[near]),
            node=near.tolist(),
            modifier=[t in self._marked for t in tokens],
        )
        return out


def _cut_notes(info: dict, n_all: int, max_chars: int, max_tokens: int) -> list[str]:
    """Notes on what was cut from a text or removed from it."""
    notes = []
    if info["chars_received"] > info["chars_read"]:
        notes.append(
            f"the text was cut: only its first {max_chars:,} of {info['chars_received']:,} characters were read"
        )
    if n_all > max_tokens:
        notes.append(f"the text was cut to its first {max_tokens:,} tokens (of {n_all:,})")
    if info["control_removed"]:
        notes.append(f"{info['control_removed']} control character(s) were removed")
    return notes


def _marked_words(scene: dict, ran) -> frozenset:
    """The words the page marks in a text (``modifier`` of a read): those a section's scene lists under
    ``"words"`` (the modifier words the analysis measured)."""
    marked: set[str] = set()
    for section in ran:
        part = scene.get(section.name)
        if isinstance(part, dict) and isinstance(part.get("words"), list):
            marked.update(str(w) for w in part["words"])
    return frozenset(marked)


def json_safe(obj):
    """A section's scene as strict JSON: non-finite floats (nan, inf; e.g. a factor without a bootstrap
    interval) become None, numpy numbers and arrays plain numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _r(x, nd: int = 5):
    """A float array as (nested) lists rounded to ``nd`` decimals; non-finite entries become None."""
    a = np.round(np.asarray(x, dtype=np.float64), nd)
    if np.isfinite(a).all():
        return a.tolist()
    obj = a.astype(object)
    obj[~np.isfinite(a)] = None
    return obj.tolist()


def modifier_scene(summary: dict, arrays) -> dict | None:
    """The modifier section's part of the scene: the modifier words and, per modifier, its factor at gap
    k = 1..K with its bootstrap interval and reach (None when the summary has none of these metrics)."""
    nodes = {
        name: metric_node(summary, f"modifiers.{name}")
        for name in ("modifiers", "missing_modifiers", "factor", "factor_ci_low", "factor_ci_high", "reach")
    }
    if all(node is None for node in nodes.values()):
        return None

    def value(name):
        return None if nodes[name] is None else nodes[name].get("value")

    def definition(name):
        return None if nodes[name] is None else nodes[name].get("definition")

    return {
        "words": [str(w) for w in value("modifiers") or []],
        "factor": value("factor"),
        "factor_definition": definition("factor"),
        "factor_ci_low": value("factor_ci_low"),
        "factor_ci_high": value("factor_ci_high"),
        "reach": value("reach"),
        "reach_definition": definition("reach"),
        "missing": value("missing_modifiers"),
    }


def kclass_scene(summary: dict, arrays) -> dict | None:
    """The k-class section's part of the scene: its metrics as they are in the summary (None when absent)."""
    node = summary.get("metrics", {}).get("kclass")
    return node if isinstance(node, dict) else None


def unique_names(paths) -> list[str]:
    """Short display names for checkpoint folders: the folder name, made unique with its parent."""
    names = []
    for p in paths:
        p = Path(p)
        name = p.name or str(p)
        if name in names:
            name = f"{p.parent.name}/{p.name}"
        k = 2
        base = name
        while name in names:
            name = f"{base}-{k}"
            k += 1
        names.append(name)
    return names


def _model_names(items) -> list[str]:
    """Display names: checkpoint folders as :func:`unique_names` names them, a user's networks by their
    architecture, numbered when repeated."""
    paths = [i for i in items if isinstance(i, (str, Path))]
    from_paths = iter(unique_names(paths))
    names: list[str] = []
    for item in items:
        name = next(from_paths) if isinstance(item, (str, Path)) else (item.config() or {}).get("arch", "network")
        base, k = name, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def quick_settings(quick: AnalysisSettings | dict | None = None, seed: int = 0) -> AnalysisSettings:
    """The settings of the quick analysis of a checkpoint given without one: ``quick`` itself when it is an
    :class:`rnnlens.analysis.settings.AnalysisSettings`; otherwise :data:`rnnlens.analysis.settings.QUICK`
    with ``seed`` and the flat settings of the dict ``quick`` (e.g. ``{"n_docs": 80}``) replaced."""
    from rnnlens.analysis.settings import QUICK, AnalysisSettings

    if isinstance(quick, AnalysisSettings):
        return quick
    if quick is not None and not isinstance(quick, dict):
        raise ArgumentError(
            f"quick must be an AnalysisSettings or a dict of analysis settings, got {type(quick).__name__}"
        )
    return QUICK.replace(**{"seed": seed, **(quick or {})})


def load_models(
    checkpoints,
    analyses=None,
    *,
    data_dir=None,
    progress: bool = True,
    quick: AnalysisSettings | dict | None = None,
    seed: int = 0,
) -> list[ExploreModel]:
    """Load each checkpoint (a folder, or an :class:`rnnlens.network.Network`) with its saved analysis
    (``analyses[i]``, or None: a quick analysis on the corpus the checkpoint records is computed here with
    :func:`quick_settings` of ``quick`` and ``seed``) and precompute."""
    from rnnlens.analysis import analyze, load_analysis
    from rnnlens.checkpoint import load_training_corpus
    from rnnlens.network import Network

    checkpoints = list(checkpoints)
    if not checkpoints:
        raise ArgumentError("give at least one CHECKPOINT folder")
    analyses = list(analyses or [])
    if len(analyses) > len(checkpoints):
        raise ArgumentError(
            f"--analysis was given {len(analyses)} times for {len(checkpoints)} checkpoint(s): give "
            "at most one per checkpoint, in the same order"
        )
    analyses += [None] * (len(checkpoints) - len(analyses))
    settings = quick_settings(quick, seed)
    names = _model_names(checkpoints)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(checkpoints), desc="explore: preparing models", unit="model")
    out = []
    try:
        for name, ck_path, an in zip(names, checkpoints, analyses):
            if bar is not None:
                bar.set_postfix_str(f"{name}: " + ("loading the analysis" if an else "quick analysis"))
            network = Network.resolve(ck_path)
            if an is not None:
                out.append(ExploreModel.build(name, network, load_analysis(an), seed=seed))
            elif network.path is None:
                raise ArgumentError(
                    f"{name}: a network of your own records no corpus to analyse it on; give its "
                    "saved analysis (rnnlens analyze --network ... -o DIR, then --analysis DIR)"
                )
            else:
                corpus = load_training_corpus(network.path or network.record, data_dir=data_dir)
                res = analyze(network, corpus, settings)
                nodes = res.slow_manifold.points if res.slow_manifold is not None else None
                out.append(ExploreModel.build(name, network, res, nodes=nodes, seed=seed))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out
