"""Contextual processing: how modifier words bend the integration (issue 11; the ICML 2020 follow-up).

Words such as "not", "never", "very" or "extremely" carry little valence of their own. A network that
learned them pushes the state off its line attractor into a low-dimensional *modifier subspace*;
words read while the state is there are integrated with flipped or scaled valence, and the state
returns to the line within a few tokens. :func:`analyze_modifiers` measures this with the network
itself, in four parts.

**Factors.** A context is a prefix of a document of the analysed split, cut where no modifier-like
word occurs among its last ``max_gap`` tokens. After the prefix the network reads a *lead* token (a
modifier m, or the *control*: a neutral word drawn per context) and then a chain of neutral *filler*
words f_1, f_2, ... (drawn per context; the same chain after every lead). The effect of a valenced
word w at gap k is the readout change it causes in place of the filler f_k::

    effect(lead, k, w) = logit(prefix, lead, f_1..f_{k-1}, w, f_{k+1}..f_{k+s})
                         - logit(prefix, lead, f_1..f_{k-1}, f_k, f_{k+1}..f_{k+s})

(s = ``settle`` further fillers before reading out; 0 reads right after w; ``logit`` is the readout
value along the readout direction). The factor of m at gap k is the least-squares ratio over all
contexts x words of effect(m, k, w) against effect(control, k, w), the same word in the same context
without the modifier: ``sum(num * den) / sum(den^2)``, which weights each pair by its denominator,
so pairs where the word barely moves the readout cannot blow the estimate up. A 95% confidence
interval comes from a bootstrap that resamples contexts and words (independently, with
replacement). The median of the per-pair ratios over pairs whose ``|den|`` is at least a tenth of the
median ``|den|`` is reported beside it as a cross-check. The decay with k gives the modifier's
*reach* (the largest k up to which ``|factor - 1|`` stays at least half its value at k = 1) and a time
constant: a least-squares fit of ``factor(k) = 1 + a exp(-(k - 1) / tau)`` (scipy ``curve_fit``).

**Subspace.** The excursion is the state after the modifier minus the state after the control word
in the same context, e_j after j further fillers. Its dimensionality over contexts: the share of
the top principal direction and the participation ratio ``(sum s_i^2)^2 / sum s_i^4`` of the
singular values of the uncentred excursions e_0 (the mean excursion is part of the subspace); its
angle to the line: ``|cos(e_0, t)|`` with t the tangent of the traced slow manifold
(:func:`rnnlens.manifold.trace_slow_manifold`) at the node nearest the control state. Its return:
from the trajectory, the median over contexts of ``||e_j^perp|| / ||e_0^perp||`` (the part normal to
the local tangent, so that a lasting push along the line, the modifier's own valence, does not count
as "not returned"), fitted by ``exp(-j / tau)`` (least squares on the log through the origin); from
the Jacobian eigenmodes of J_rec at the excursion states (input x*): each mode's share of the
excursion ``|(L e_0)_a| ||r_a||`` and the share-weighted mean time constant over the modes other
than the line mode (the one of the three slowest whose right eigenvector is most aligned with the
tangent).

**Linearized explanation.** At the state just before the word, ``l_1^T J_inp x_w`` with ``J_inp`` =
dF/dx at (h, x*) evaluated there (computed as one vector-Jacobian product) and ``l_1`` the left
eigenvector of the line mode at the slow-manifold node nearest that state (scaled so that l_1 r_1 = 1
and r_1 points to the high-readout end). The predicted factor is the same least-squares ratio of
these projections with and without the modifier; agreement is the Pearson correlation of predicted
and measured factors over all (modifier, gap) pairs and their median ratio.

Valenced words: on a synthetic corpus with a known truth, ``n_words`` words of each sign drawn
(seeded) from all words of that sign; otherwise the ``n_words`` most positive and most negative by
bag-of-words coefficient (``bow=``, seen at least ``min_count`` times in training), or, without a
bag of words, by the network's own valence (mean of ``l_1^T J_inp x`` over the slow-manifold
nodes). Neutral words (fillers and controls): the truth's neutral words; else the ``n_neutral``
alphabetic words with the smallest ``|coefficient|`` among those seen at least 50 times, modifier-like
words excluded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnlens.analysis.metrics import metric, metric_value
from rnnlens.errors import ArgumentError, DataError

__all__ = ["DEFAULT_MODIFIERS", "MODIFIER_LIKE", "ModifierAnalysis", "analyze_modifiers", "measure_modifiers",
           "check_modifier_list", "split_present", "pipeline_measurement",
           "ls_ratio", "bootstrap_ratio", "median_ratio", "fit_factor_decay", "factor_reach", "participation_ratio",
           "decay_time_constant"]

DEFAULT_MODIFIERS = ("not", "n't", "never", "no", "hardly", "very", "extremely")
# Words kept out of the neutral fillers / controls and out of the last max_gap tokens of a context:
# negations, intensifiers, downtoners and contrast words, whether or not they are measured.
MODIFIER_LIKE = frozenset({
    "not", "n't", "no", "never", "nothing", "none", "nobody", "nor", "neither", "without", "hardly", "barely",
    "scarcely", "rarely", "seldom", "very", "extremely", "really", "so", "too", "quite", "pretty", "most", "more",
    "less", "least", "rather", "absolutely", "incredibly", "totally", "completely", "utterly", "highly", "truly",
    "fairly", "somewhat", "slightly", "but", "although", "though", "however", "yet", "only", "just", "even",
    "especially", "particularly", "remarkably", "super", "damn", "terribly", "awfully",
})
NEUTRAL_MIN_COUNT = 50
_SECTION = "modifiers"


@dataclass
class ModifierAnalysis:
    """What :func:`analyze_modifiers` measured: ``metrics`` (``{"modifiers": {name: node}}``, every
    number with its definition), ``arrays`` (for the report's figures, names starting ``mod_``),
    ``missing`` (what could not be measured, and why) and ``seconds``."""

    metrics: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    seconds: float = 0.0

    def value(self, name: str):
        """The value of metric ``modifiers.<name>`` (or a full dotted path); None when not measured."""
        path = name if "." in name else f"{_SECTION}.{name}"
        return metric_value({"metrics": self.metrics}, path)

    def factor(self, modifier: str) -> np.ndarray:
        """The measured factor of ``modifier`` at gaps 1..max_gap."""
        f = self.value("factor") or {}
        if modifier not in f:
            raise ArgumentError(f"modifier {modifier!r} was not measured (measured: {sorted(f)})")
        return np.asarray(f[modifier], dtype=np.float64)


# ------------------------------------------------------------------------------- estimators
def ls_ratio(num, den) -> float:
    """Least-squares ratio ``sum(num * den) / sum(den^2)``: the factor f minimising ``sum (num - f den)^2``
    (nan when every denominator is 0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    d2 = float((den * den).sum())
    return float((num * den).sum() / d2) if d2 > 0 else math.nan


def median_ratio(num, den, rel: float = 0.1) -> float:
    """Median of ``num / den`` over the pairs whose ``|den|`` is at least ``rel`` times the median ``|den|``."""
    num, den = np.ravel(np.asarray(num, dtype=np.float64)), np.ravel(np.asarray(den, dtype=np.float64))
    a = np.abs(den)
    keep = a >= rel * np.median(a)
    keep &= a > 0
    return float(np.median(num[keep] / den[keep])) if keep.any() else math.nan


def bootstrap_ratio(num, den, n_boot: int, rng: np.random.Generator, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`ls_ratio` for ``num``, ``den`` of shape [contexts, words]:
    contexts and words resampled independently with replacement, ``n_boot`` times."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    if n_boot < 1:
        return math.nan, math.nan
    C, W = num.shape
    a = rng.multinomial(C, np.full(C, 1.0 / C), size=n_boot).astype(np.float64)   # [B, C] context weights
    b = rng.multinomial(W, np.full(W, 1.0 / W), size=n_boot).astype(np.float64)   # [B, W] word weights
    top = np.einsum("bc,cw,bw->b", a, num * den, b)
    bottom = np.einsum("bc,cw,bw->b", a, den * den, b)
    ok = bottom > 0
    if not ok.any():
        return math.nan, math.nan
    r = top[ok] / bottom[ok]
    q = (1 - level) / 2
    return float(np.quantile(r, q)), float(np.quantile(r, 1 - q))


def factor_reach(factor) -> int:
    """The largest gap k such that ``|factor(j) - 1| >= |factor(1) - 1| / 2`` for every j <= k (0 when the
    modifier has no effect at gap 1, i.e. the factor is 1 or undefined there)."""
    f = np.asarray(factor, dtype=np.float64)
    if not f.size or not np.isfinite(f[0]) or abs(f[0] - 1) < 1e-12:
        return 0
    dev = np.abs(f - 1)
    k = 0
    while k < f.size and np.isfinite(dev[k]) and dev[k] >= dev[0] / 2:
        k += 1
    return k


def fit_factor_decay(factor) -> float:
    """Time constant tau (tokens) of ``factor(k) = 1 + a exp(-(k - 1) / tau)`` fitted by least squares
    (scipy ``curve_fit``, tau in [0.05, 1000]) to the finite factors at k = 1, 2, ...; nan with fewer
    than 3 finite points or when the fit fails."""
    from scipy.optimize import curve_fit

    f = np.asarray(factor, dtype=np.float64)
    k = np.arange(1, f.size + 1, dtype=np.float64)
    ok = np.isfinite(f)
    if ok.sum() < 3:
        return math.nan
    if np.allclose(f[ok], 1.0, atol=1e-9):
        return 0.0

    def model(kk, a, tau):
        return 1.0 + a * np.exp(-(kk - 1.0) / tau)

    a0 = f[ok][0] - 1.0 if abs(f[ok][0] - 1.0) > 1e-9 else 1e-3
    try:
        (a, tau), _ = curve_fit(model, k[ok], f[ok], p0=(a0, 1.0), bounds=([-np.inf, 0.05], [np.inf, 1000.0]),
                                maxfev=5000)
    except (RuntimeError, ValueError):
        return math.nan
    return float(tau)


def participation_ratio(X) -> tuple[float, float]:
    """(share of the top direction, participation ratio) of the rows of ``X`` [n, dim], uncentred:
    with s_i the singular values, ``s_1^2 / sum s_i^2`` and ``(sum s_i^2)^2 / sum s_i^4`` (1 for
    vectors along one direction, dim for isotropic ones)."""
    X = np.asarray(X, dtype=np.float64)
    s2 = np.linalg.svd(X, compute_uv=False) ** 2
    total = float(s2.sum())
    if total <= 0:
        return math.nan, math.nan
    return float(s2[0] / total), float(total ** 2 / float((s2 ** 2).sum()))


def decay_time_constant(ratio) -> float:
    """tau (tokens) of ``ratio[j] ~ exp(-j / tau)``, j = 0, 1, ..., by least squares on ``log ratio``
    through the origin over the entries above 1e-6 (inf when nothing decays, nan when undefined)."""
    r = np.asarray(ratio, dtype=np.float64)
    j = np.arange(r.size, dtype=np.float64)
    ok = np.isfinite(r) & (r > 1e-6) & (j > 0)
    if not ok.any():
        return math.nan
    slope = float((j[ok] * np.log(r[ok])).sum() / (j[ok] ** 2).sum())
    return math.inf if slope >= 0 else -1.0 / slope


# ------------------------------------------------------------------------------- the network
class _Net:
    """What the measurement needs from a model: one step, the readout value, embeddings, states."""

    def __init__(self, model):
        self.model = model
        self.cell = model.cell
        self.emb = model.embedding.weight.detach()
        self.dtype = self.emb.dtype
        W = model.readout_matrix().detach().double().numpy()
        self.w = W[0] if W.shape[0] == 1 else W[-1] - W[0]   # readout direction over the state
        self.state_size = int(self.cell.state_size)

    def step(self, x, h):
        return self.cell.step(x, h)

    def logit(self, h):
        out = self.model.logits_from_state(h)
        return out if out.dim() == h.dim() - 1 else out[..., -1] - out[..., 0]

    def step_object(self):
        from rnnlens.cells import Cell

        return self.cell if isinstance(self.cell, Cell) else self.cell.step

    @torch.no_grad()
    def final_states(self, docs: list[np.ndarray]) -> torch.Tensor:
        """State after the last token of each id array (batched, padded)."""
        out = torch.empty(len(docs), self.state_size, dtype=self.dtype)
        order = np.argsort([len(d) for d in docs])
        for i in range(0, len(docs), 64):
            rows = order[i:i + 64]
            T = max(len(docs[r]) for r in rows)
            ids = torch.zeros(len(rows), T, dtype=torch.long)
            for j, r in enumerate(rows):
                ids[j, :len(docs[r])] = torch.from_numpy(docs[r])
            lengths = torch.tensor([len(docs[r]) for r in rows])
            x = self.emb[ids]
            if hasattr(self.cell, "final_state"):
                h = self.cell.final_state(x, lengths)
            else:
                h = self.cell.init_state(len(rows)).to(self.dtype)
                for t in range(T):
                    h = torch.where((t < lengths).unsqueeze(1), self.cell.step(x[:, t], h), h)
            out[torch.from_numpy(rows)] = h.to(self.dtype)
        return out

    @torch.no_grad()
    def visited_states(self, docs: list[np.ndarray], limit: int = 20000, rng=None) -> np.ndarray:
        """States after every token of the documents (at most ``limit``, a seeded subset)."""
        states = []
        for d in docs:
            h = self.cell.init_state(1).to(self.dtype)
            x = self.emb[torch.from_numpy(d)]
            if hasattr(self.cell, "run"):
                states.append(self.cell.run(x.unsqueeze(0))[0].double().numpy())
                continue
            rows = []
            for t in range(len(d)):
                h = self.cell.step(x[t:t + 1], h)
                rows.append(h[0].double().numpy())
            states.append(np.stack(rows))
        X = np.concatenate(states)
        if X.shape[0] > limit:
            rng = rng or np.random.default_rng(0)
            X = X[np.sort(rng.choice(X.shape[0], limit, replace=False))]
        return X


def _resolve(checkpoint_or_model, vocab):
    from rnnlens.checkpoint import Checkpoint, load_checkpoint

    if isinstance(checkpoint_or_model, (str,)) or hasattr(checkpoint_or_model, "__fspath__"):
        ck = load_checkpoint(checkpoint_or_model)
        return ck.model, ck.vocab
    if isinstance(checkpoint_or_model, Checkpoint):
        return checkpoint_or_model.model, checkpoint_or_model.vocab
    if isinstance(checkpoint_or_model, torch.nn.Module):
        if vocab is None:
            raise ArgumentError("analyze_modifiers(model, corpus): a bare model needs vocab= (its "
                                "rnnlens.data.Vocab); or pass a checkpoint folder / Checkpoint")
        return checkpoint_or_model, vocab
    raise ArgumentError(f"analyze_modifiers: checkpoint_or_model must be a checkpoint folder, a Checkpoint or a "
                        f"SentimentRNN; got {type(checkpoint_or_model).__name__}")


def _int_arg(name, v, lo):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
        raise ArgumentError(f"analyze_modifiers: {name} must be an integer >= {lo}; got {v!r}")
    return int(v)


def check_modifier_list(modifiers) -> tuple[str, ...]:
    """The modifiers as a tuple of distinct single tokens (a comma-separated string is split); ArgumentError
    naming the bad entry otherwise."""
    from rnnlens.data import tokenize

    if isinstance(modifiers, str):
        modifiers = [m.strip() for m in modifiers.split(",")]
    if not isinstance(modifiers, (list, tuple)) or not modifiers:
        raise ArgumentError(f"analyze_modifiers: modifiers must be a non-empty list of words (e.g. "
                            f"{list(DEFAULT_MODIFIERS)}); got {modifiers!r}")
    out = []
    for m in modifiers:
        if not isinstance(m, str) or not m.strip():
            raise ArgumentError(f"analyze_modifiers: every modifier must be a non-empty word; got {m!r} in "
                                f"modifiers={list(modifiers)!r}")
        m = m.strip().lower()
        if tokenize(m) != [m]:
            raise ArgumentError(f"analyze_modifiers: modifier {m!r} is not a single token (rnnlens.data.tokenize "
                                f"gives {tokenize(m)}); give the tokens themselves, e.g. \"n't\" for the negation "
                                "in \"don't\"")
        if m in out:
            raise ArgumentError(f"analyze_modifiers: modifier {m!r} is listed twice in modifiers")
        out.append(m)
    return tuple(out)


def split_present(modifiers, vocab, strict: bool | None = None) -> tuple[list[str], list[str]]:
    """(modifiers in the vocabulary, modifiers not in it). ``strict`` (default: True unless ``modifiers`` is
    :data:`DEFAULT_MODIFIERS`): a missing one is an ArgumentError."""
    requested = check_modifier_list(modifiers)
    if strict is None:
        strict = requested != DEFAULT_MODIFIERS
    present = [m for m in requested if m in vocab.stoi and vocab.stoi[m] > 1]
    absent = [m for m in requested if m not in present]
    if absent and strict:
        raise ArgumentError(f"analyze_modifiers: modifier(s) {absent} are not in the model's vocabulary; remove "
                            "them from modifiers (or pass strict=False to measure the others and report these "
                            "as missing)")
    return present, absent


def check_modifier_arguments(*, modifiers, max_gap, n_contexts, n_words, n_neutral, return_steps, n_eig_contexts,
                             n_boot, settle, min_count, seed) -> tuple[str, ...]:
    """Raise ArgumentError for a bad argument of :func:`analyze_modifiers` (before any work); returns the
    modifiers as a tuple of tokens."""
    for name, v, lo in (("max_gap", max_gap, 1), ("n_contexts", n_contexts, 2), ("n_words", n_words, 1),
                        ("n_neutral", n_neutral, 1), ("return_steps", return_steps, 1),
                        ("n_eig_contexts", n_eig_contexts, 0), ("n_boot", n_boot, 0), ("settle", settle, 0),
                        ("min_count", min_count, 1), ("seed", seed, 0)):
        _int_arg(name, v, lo)
    return check_modifier_list(modifiers)


def pipeline_measurement(model, vocab, corpus, *, split, bow, modifiers, max_length, x_star, slow_manifold,
                         seed) -> ModifierAnalysis:
    """The modifier analysis as one step of :func:`rnnlens.analysis.analyze`: default settings, the pipeline's
    slow manifold and x*. When no modifier of the default list is in the vocabulary, the section only says so."""
    present, absent = split_present(modifiers, vocab)
    if not present:
        out = ModifierAnalysis()
        out.metrics[_SECTION] = {"modifiers": metric(_SECTION + ".modifiers", []),
                                 "missing_modifiers": metric(_SECTION + ".missing_modifiers", absent)}
        return out
    return measure_modifiers(model, vocab, corpus.splits[split], truth=getattr(corpus, "truth", None), bow=bow,
                             modifiers=modifiers, max_length=max_length, x_star=x_star,
                             slow_manifold=slow_manifold, seed=seed)


# ------------------------------------------------------------------------------- word choice
def _word_sets(vocab, *, truth, bow, net_valence, modifier_ids, n_words, n_neutral, min_count, rng, words=None):
    """(positive ids, negative ids, neutral ids, source string)."""
    stoi, itos = vocab.stoi, vocab.itos
    excluded = set(modifier_ids) | {stoi[w] for w in MODIFIER_LIKE if w in stoi} | {0, 1}

    def ids_of(words):
        return [stoi[w] for w in words if w in stoi and stoi[w] not in excluded]

    if words is not None:
        pos, neg = ids_of(words[0]), ids_of(words[1])
        if truth is not None and getattr(truth, "valence", None):
            cat = getattr(truth, "category", {})
            neu = ids_of(sorted(w for w, v in truth.valence.items() if v == 0 and cat.get(w, "neutral") == "neutral"))
            neu = sorted(rng.choice(neu, min(n_neutral, len(neu)), replace=False).tolist()) if neu else []
        else:
            neu = _word_sets(vocab, truth=None, bow=bow, net_valence=net_valence, modifier_ids=modifier_ids,
                             n_words=n_words, n_neutral=n_neutral, min_count=min_count, rng=rng)[2]
        return pos, neg, neu, "given (words=)"
    if truth is not None and getattr(truth, "num_classes", 2) == 2 and truth.valence:
        val = truth.valence
        cat = getattr(truth, "category", {})
        pos = ids_of(sorted(w for w, v in val.items() if v > 0))
        neg = ids_of(sorted(w for w, v in val.items() if v < 0))
        neu = ids_of(sorted(w for w, v in val.items() if v == 0 and cat.get(w, "neutral") == "neutral"))
        pick = (lambda ids, n: sorted(rng.choice(ids, min(n, len(ids)), replace=False).tolist()) if ids else [])
        return pick(pos, n_words), pick(neg, n_words), pick(neu, n_neutral), \
            "the corpus's true valence (seeded sample of the words of each sign)"
    if bow is not None:
        coef, counts = bow
        ok = [w for w in coef if w in stoi and stoi[w] not in excluded and counts.get(w, 0) >= min_count]
        ranked = sorted(ok, key=lambda w: (-coef[w], w))
        pos = [stoi[w] for w in ranked[:n_words] if coef[w] > 0]
        neg = [stoi[w] for w in ranked[::-1][:n_words] if coef[w] < 0]
        calm = [w for w in ok if w.isalpha() and counts.get(w, 0) >= max(min_count, NEUTRAL_MIN_COUNT)]
        neu = [stoi[w] for w in sorted(calm, key=lambda w: (abs(coef[w]), w))[:n_neutral]]
        return pos, neg, neu, f"bag-of-words coefficients (words seen >= {min_count} times in training)"
    val = net_valence
    cand = [i for i in range(2, len(itos)) if i not in excluded]
    order = sorted(cand, key=lambda i: (-val[i], i))
    pos = [i for i in order[:n_words] if val[i] > 0]
    neg = [i for i in order[::-1][:n_words] if val[i] < 0]
    frequent = [i for i in cand[:2000] if itos[i].isalpha()]
    neu = sorted(frequent, key=lambda i: (abs(val[i]), i))[:n_neutral]
    return pos, neg, neu, "the network's own valence (mean l_1^T J_inp x over the slow-manifold nodes)"


def _bow_coef(bow):
    """({word: coef along the readout direction}, {word: train count}) from a BagOfWords, its JSON, or a dict."""
    if bow is None:
        return None
    if isinstance(bow, dict):
        return {str(k): float(v) for k, v in bow.items()}, {str(k): math.inf for k in bow}
    if not hasattr(bow, "coef"):
        from rnnlens.baseline import load_bag_of_words

        bow = load_bag_of_words(bow)
    coef = np.asarray(bow.coef, dtype=np.float64)
    row = coef[0] if coef.shape[0] == 1 else coef[-1] - coef[0]
    return dict(zip(bow.words, row.tolist())), dict(zip(bow.words, np.asarray(bow.counts).tolist()))


# ------------------------------------------------------------------------------- contexts
def _contexts(docs: list[np.ndarray], n: int, max_gap: int, blocked: set, rng, min_prefix: int = 1):
    """``n`` prefixes: a random document (each used once before any is reused) cut at a random position
    whose last ``max_gap`` tokens hold no blocked id. Returns (prefix id arrays, document index, cut)."""
    prefixes, src, cuts = [], [], []
    blocked_arr = np.fromiter(blocked, dtype=np.int64) if blocked else np.zeros(0, dtype=np.int64)
    order = rng.permutation(len(docs))
    tries = 0
    while len(prefixes) < n and tries < 20 * n + len(docs):
        d = int(order[tries % len(order)])
        tries += 1
        ids = docs[d]
        if len(ids) < min_prefix:
            continue
        bad = np.isin(ids, blocked_arr)
        # a cut t (prefix ids[:t]) is valid when ids[t - max_gap : t] holds no blocked id
        cum = np.concatenate([[0], np.cumsum(bad)])
        t = np.arange(min_prefix, len(ids) + 1)
        ok = t[(cum[t] - cum[np.maximum(t - max_gap, 0)]) == 0]
        if not ok.size:
            continue
        cut = int(rng.choice(ok))
        prefixes.append(ids[:cut])
        src.append(d)
        cuts.append(cut)
    return prefixes, np.asarray(src), np.asarray(cuts)


# ------------------------------------------------------------------------------- measurement
@torch.no_grad()
def _chains(net: _Net, h0: torch.Tensor, lead_ids: np.ndarray, fillers: np.ndarray) -> torch.Tensor:
    """States [n_leads, T + 1, C, S]: after the lead (j = 0) and after each of the T fillers."""
    n_leads, C = lead_ids.shape[0], h0.shape[0]
    h = h0.unsqueeze(0).expand(n_leads, -1, -1).reshape(n_leads * C, -1)
    x = net.emb[torch.from_numpy(lead_ids).reshape(-1)]
    h = net.step(x, h)
    out = [h]
    fill = torch.from_numpy(fillers)          # [C, T]
    for j in range(fillers.shape[1]):
        x = net.emb[fill[:, j]].repeat(n_leads, 1)
        h = net.step(x, h)
        out.append(h)
    return torch.stack(out, 0).reshape(len(out), n_leads, C, -1).transpose(0, 1)


@torch.no_grad()
def _word_effects(net: _Net, traj: torch.Tensor, fillers: np.ndarray, word_ids: np.ndarray, max_gap: int,
                  settle: int, chunk: int = 200000) -> np.ndarray:
    """effect[lead, k - 1, c, w] (see the module docstring), float64."""
    n_leads, _, C, S = traj.shape
    W = len(word_ids)
    xw = net.emb[torch.from_numpy(word_ids)]                # [W, I]
    fill = torch.from_numpy(fillers)
    out = np.empty((n_leads, max_gap, C, W))
    base_logit = net.logit(traj.reshape(-1, S)).reshape(n_leads, -1, C).double().numpy()
    rows_per = max(1, chunk // max(W, 1))
    for k in range(1, max_gap + 1):
        before = traj[:, k - 1].reshape(n_leads * C, S)
        for i in range(0, n_leads * C, rows_per):
            hb = before[i:i + rows_per]
            n = hb.shape[0]
            h = net.step(xw.repeat(n, 1), hb.repeat_interleave(W, 0))
            ctx = (torch.arange(i, i + n) % C).repeat_interleave(W)
            for s in range(settle):
                h = net.step(net.emb[fill[ctx, k + s]], h)
            lg = net.logit(h).double().reshape(n, W).numpy()
            lead = np.arange(i, i + n) // C
            cidx = np.arange(i, i + n) % C
            out[lead, k - 1, cidx, :] = lg - base_logit[lead, k + settle, cidx][:, None]
    return out


def _slow_mode_at_nodes(step_obj, curve, x_star):
    """(l1 [n, S] real, tangent [n, S]) of the line mode at the curve's nodes: of the three slowest modes the
    one whose right eigenvector is most aligned with the tangent, oriented so that r_1 . tangent > 0, l_1 r_1 = 1."""
    from rnnlens.linearization import linearize

    nodes = curve.points.double()
    lin = linearize(step_obj, nodes, x_star.expand(nodes.shape[0], -1).clone())
    R, L = lin.R.numpy(), lin.L.numpy()
    t = curve.tangent.double().numpy()
    top = min(3, R.shape[2])
    Rr = R[:, :, :top].real
    cos = np.abs(np.einsum("psk,ps->pk", Rr, t)) / np.maximum(np.linalg.norm(Rr, axis=1), 1e-300)
    a = cos.argmax(1)
    P = np.arange(R.shape[0])
    r1, l1 = R[P, :, a], L[P, a, :]
    sign = np.where(np.einsum("ps,ps->p", r1.real, t) < 0, -1.0, 1.0)
    return (l1 * sign[:, None]).real, t


def _nearest(points: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    d = (points ** 2).sum(1)[:, None] - 2 * points @ nodes.T + (nodes ** 2).sum(1)[None]
    return d.argmin(1)


def _input_projection(net: _Net, h: torch.Tensor, l1: torch.Tensor, x_star: torch.Tensor) -> torch.Tensor:
    """g [B, I] = l1^T dF/dx at (h, x*) for each row, one vector-Jacobian product."""
    x = x_star.to(net.dtype).expand(h.shape[0], -1).clone().requires_grad_(True)
    with torch.enable_grad():
        out = net.step(x, h.to(net.dtype))
        (g,) = torch.autograd.grad((out * l1.to(out.dtype)).sum(), x)
    return g.detach().double()


def _net_valence(net: _Net, step_obj, curve, x_star, l1) -> np.ndarray:
    """Mean over the slow-manifold nodes of l_1^T J_inp x for every word of the vocabulary."""
    g = _input_projection(net, curve.points.to(net.dtype), torch.from_numpy(l1), x_star)   # [n, I]
    return (net.emb.double() @ g.T).mean(1).numpy()


def _check_words(words, vocab, modifiers):
    """``words`` as (positive list, negative list), or None; ArgumentError naming a word the vocabulary lacks."""
    if words is None:
        return None
    if isinstance(words, dict):
        if set(words) != {"positive", "negative"}:
            raise ArgumentError(f"analyze_modifiers: words must have the keys 'positive' and 'negative'; got "
                                f"{sorted(words)}")
        words = (words["positive"], words["negative"])
    if not isinstance(words, (list, tuple)) or len(words) != 2 or any(isinstance(g, str) for g in words):
        raise ArgumentError("analyze_modifiers: words must be {'positive': [...], 'negative': [...]} (or a pair of "
                            f"lists); got {words!r}")
    out = []
    for kind, group in zip(("positive", "negative"), words):
        group = [str(w) for w in group]
        if not group:
            raise ArgumentError(f"analyze_modifiers: words[{kind!r}] is empty")
        unknown = [w for w in group if w not in vocab.stoi or vocab.stoi[w] < 2]
        if unknown:
            raise ArgumentError(f"analyze_modifiers: words[{kind!r}] holds words not in the model's vocabulary: "
                                f"{unknown[:10]}")
        mods = [w for w in group if w in modifiers or w in MODIFIER_LIKE]
        if mods:
            raise ArgumentError(f"analyze_modifiers: words[{kind!r}] holds modifier-like words {mods}; the valenced "
                                "words must not be modifiers themselves")
        out.append(group)
    return tuple(out)


def _agreement(pred: np.ndarray, factor: np.ndarray) -> tuple[float, float]:
    """(Pearson correlation over the finite (modifier, gap) pairs, median predicted / measured over those with
    |measured| > 0.1)."""
    ok = np.isfinite(pred) & np.isfinite(factor)
    corr = math.nan
    if ok.sum() >= 3 and np.std(factor[ok]) > 0 and np.std(pred[ok]) > 0:
        corr = float(np.corrcoef(pred[ok], factor[ok])[0, 1])
    big = ok & (np.abs(factor) > 0.1)
    return corr, (float(np.median(pred[big] / factor[big])) if big.any() else math.nan)


def measure_modifiers(model, vocab, split, *, truth=None, bow=None, modifiers=DEFAULT_MODIFIERS, strict=None,
                      words=None,
                      max_gap: int = 8, n_contexts: int = 200, n_words: int = 20, n_neutral: int = 50,
                      return_steps: int = 20, n_eig_contexts: int = 50, n_boot: int = 1000, settle: int = 0,
                      min_count: int = 10, max_length: int | None = None, x_star=None, slow_manifold=None,
                      seed: int = 0) -> ModifierAnalysis:
    """The measurement on a model and an ``rnnlens.data.Split`` (see :func:`analyze_modifiers`)."""
    from rnnlens.data import encode
    from rnnlens.settings import DEFAULT_MAX_LENGTH

    t0 = time.perf_counter()
    requested = check_modifier_arguments(
        modifiers=modifiers, max_gap=max_gap, n_contexts=n_contexts, n_words=n_words, n_neutral=n_neutral,
        return_steps=return_steps, n_eig_contexts=n_eig_contexts, n_boot=n_boot, settle=settle,
        min_count=min_count, seed=seed)
    present, absent = split_present(requested, vocab, strict)
    if not present:
        raise ArgumentError(f"analyze_modifiers: none of modifiers={list(requested)} is in the model's vocabulary; "
                            "give words the model knows")
    given_words = _check_words(words, vocab, present)
    rng = np.random.default_rng(seed)
    net = _Net(model)
    model.eval()
    step_obj = net.step_object()
    if x_star is None:
        x_star = torch.zeros(net.emb.shape[1], dtype=torch.float64)
    x_star = torch.as_tensor(x_star).double()
    out = ModifierAnalysis()
    mod_ids = np.array([vocab.stoi[m] for m in present], dtype=np.int64)

    # documents and contexts
    n_docs_pool = min(len(split.texts), max(4 * n_contexts, 200))
    rows = np.sort(rng.choice(len(split.texts), n_docs_pool, replace=False))
    enc = encode(vocab, split, max_length=max_length or DEFAULT_MAX_LENGTH, rows=rows, skip_empty=True)
    docs = list(enc.ids)
    blocked = set(mod_ids.tolist()) | {vocab.stoi[w] for w in MODIFIER_LIKE if w in vocab.stoi}
    prefixes, _, cuts = _contexts(docs, n_contexts, max_gap, blocked, rng)
    if len(prefixes) < 2:
        raise DataError(f"analyze_modifiers: found {len(prefixes)} usable contexts in the split (a prefix whose "
                        f"last max_gap={max_gap} tokens hold no modifier-like word); use a larger split or a "
                        "smaller max_gap")
    C = len(prefixes)

    # the slow manifold (for the angle to the line, l_1 and the fallback valence)
    curve = slow_manifold
    if curve is None:
        from rnnlens.manifold import trace_slow_manifold

        visited = net.visited_states(docs[:min(len(docs), 300)], rng=np.random.default_rng([seed, 1]))
        curve = trace_slow_manifold(step_obj, torch.from_numpy(visited).to(net.dtype), readout=net.w,
                                    inputs=x_star.to(net.dtype), seed=seed)
    nodes = curve.points.double().numpy()
    l1_nodes, tangents = _slow_mode_at_nodes(step_obj, curve, x_star)

    # word sets
    bow_pair = _bow_coef(bow)
    net_val = None
    if bow_pair is None and (truth is None or not getattr(truth, "valence", None)):
        net_val = _net_valence(net, step_obj, curve, x_star, l1_nodes)
    pos, neg, neu, source = _word_sets(vocab, truth=truth, bow=bow_pair, net_valence=net_val, modifier_ids=mod_ids,
                                       n_words=n_words, n_neutral=n_neutral, min_count=min_count, rng=rng,
                                       words=given_words)
    if not pos or not neg:
        raise DataError(f"analyze_modifiers: no {'positive' if not pos else 'negative'} words to measure with "
                        f"(from {source}); lower min_count or give a bag of words")
    if not neu:
        raise DataError(f"analyze_modifiers: no neutral words for the fillers and controls (from {source}); lower "
                        "min_count or give a bag of words")
    words = np.array(pos + neg, dtype=np.int64)
    neu = np.array(neu, dtype=np.int64)
    T = max(max_gap + settle, return_steps)
    fillers = neu[rng.integers(0, len(neu), size=(C, T))]
    control = neu[rng.integers(0, len(neu), size=C)]
    lead_ids = np.concatenate([np.repeat(mod_ids[:, None], C, 1), control[None]], 0)     # [M + 1, C]
    M = len(present)

    # states and effects
    h_prefix = net.final_states(prefixes)
    traj = _chains(net, h_prefix, lead_ids, fillers)                                  # [M + 1, T + 1, C, S]
    eff = _word_effects(net, traj, fillers, words, max_gap, settle)                   # [M + 1, K, C, W]

    factor = np.full((M, max_gap), np.nan)
    lo, hi, med = factor.copy(), factor.copy(), factor.copy()
    brng = np.random.default_rng([seed, 2])
    for i in range(M):
        for k in range(max_gap):
            num, den = eff[i, k], eff[M, k]
            factor[i, k] = ls_ratio(num, den)
            med[i, k] = median_ratio(num, den)
            lo[i, k], hi[i, k] = bootstrap_ratio(num, den, n_boot, brng)

    # the truth, where the corpus has one
    truth_factor = None
    if truth is not None and getattr(truth, "valence", None) and hasattr(truth, "score"):
        truth_factor = _truth_factors(truth, vocab, prefixes[:10], lead_ids[:, :10], fillers[:10], words, max_gap,
                                      settle)

    # the excursion
    X = traj.double().numpy()                                                          # [M + 1, T + 1, C, S]
    exc = X[:M] - X[M][None]                                                           # [M, T + 1, C, S]
    near = _nearest(X[M].reshape(-1, X.shape[-1]), nodes).reshape(T + 1, C)           # control states -> node
    tan = tangents[near]                                                               # [T + 1, C, S]
    w = net.w
    along = np.einsum("mjcs,jcs->mjc", exc, tan)
    perp = exc - along[..., None] * tan[None]
    perp_norm = np.linalg.norm(perp, axis=-1)                                          # [M, T + 1, C]
    ratio = np.median(perp_norm / np.maximum(perp_norm[:, :1], 1e-300), axis=2)       # [M, T + 1]
    e0 = exc[:, 0]                                                                     # [M, C, S]
    e0_norm = np.linalg.norm(e0, axis=-1)
    cos_t = np.abs(np.einsum("mcs,cs->mc", e0, tan[0])) / np.maximum(e0_norm, 1e-300)
    shares = [participation_ratio(e0[i]) for i in range(M)]
    joint = participation_ratio(e0.reshape(-1, e0.shape[-1]))
    life = participation_ratio(exc[:, :max_gap].reshape(-1, exc.shape[-1]))

    # eigenmodes at the excursion states (and at the control states)
    n_eig = min(n_eig_contexts, C)
    eig_exc = eig_ctrl = None
    tau_eig = np.full(M, np.nan)
    slow_exc = np.full(M, np.nan)
    slow_ctrl = complex_ctrl = math.nan
    complex_exc = np.full(M, np.nan)
    if n_eig:
        from rnnlens.linearization import linearize

        pts = torch.from_numpy(X[:, 0, :n_eig].reshape(-1, X.shape[-1])).to(net.dtype)   # [(M + 1) n_eig, S]
        lin = linearize(step_obj, pts, x_star.to(net.dtype).expand(pts.shape[0], -1).clone())
        lam = lin.eigvals.numpy().reshape(M + 1, n_eig, -1)
        Rm = lin.R.numpy().reshape(M + 1, n_eig, X.shape[-1], -1)
        Lm = lin.L.numpy().reshape(M + 1, n_eig, -1, X.shape[-1])
        tau_all = lin.tau.double().numpy().reshape(M + 1, n_eig, -1)
        keep = min(12, lam.shape[-1])
        eig_exc, eig_ctrl = lam[:M, :, :keep], lam[M, :, :keep]
        slow = (np.abs(lam) > 0.9).sum(-1)
        cplx = (np.abs(lam[..., :3].imag) > 1e-3).any(-1)
        slow_exc, slow_ctrl = np.median(slow[:M], axis=1), float(np.median(slow[M]))
        complex_exc, complex_ctrl = cplx[:M].mean(1), float(cplx[M].mean())
        tan0 = tan[0, :n_eig]                                                          # [n_eig, S]
        for i in range(M):
            vals = []
            for c in range(n_eig):
                R_, L_ = Rm[i, c], Lm[i, c]
                coef = np.abs(L_ @ e0[i, c]) * np.linalg.norm(R_, axis=0)
                top = min(3, R_.shape[1])
                line = int(np.argmax(np.abs(R_[:, :top].real.T @ tan0[c]) /
                                     np.maximum(np.linalg.norm(R_[:, :top].real, axis=0), 1e-300)))
                coef[line] = 0.0
                ta = tau_all[i, c]
                ok = ~np.isnan(ta) & ~np.isnan(coef)
                if coef[ok].sum() > 0:
                    # a mode with |lambda| = 1 has tau = inf: if it carries part of the excursion, the
                    # linearized excursion never decays along it, and the weighted mean is inf (leaving
                    # such modes out would report the remaining, fast modes: a return that does not happen)
                    if np.any(coef[ok & np.isinf(ta)] > 0):
                        vals.append(math.inf)
                    else:
                        fin = ok & np.isfinite(ta)
                        vals.append(float((coef[fin] * ta[fin]).sum() / coef[fin].sum()))
            tau_eig[i] = float(np.median(vals)) if vals else math.nan

    # the linearized explanation: l_1^T J_inp x_w (and readout^T J_inp x_w) at the state before the word
    pred = np.full((M, max_gap), np.nan)
    pred_w = pred.copy()
    xw = net.emb[torch.from_numpy(words)].double() - x_star                             # [W, I]
    w_t = torch.from_numpy(net.w)
    for k in range(1, max_gap + 1):
        hb = X[:, k - 1].reshape(-1, X.shape[-1])                                       # [(M + 1) C, S]
        for target, vec in ((pred, torch.from_numpy(l1_nodes[_nearest(hb, nodes)])),
                            (pred_w, w_t.expand(hb.shape[0], -1))):
            g = _input_projection(net, torch.from_numpy(hb), vec, x_star)               # [(M + 1) C, I]
            p = (g @ xw.T).numpy().reshape(M + 1, C, -1)
            for i in range(M):
                target[i, k - 1] = ls_ratio(p[i], p[M])
    corr, ratio_pm = _agreement(pred, factor)
    corr_w, ratio_w = _agreement(pred_w, factor)

    # summary
    reach = {m: factor_reach(factor[i]) for i, m in enumerate(present)}
    tau_f = {m: fit_factor_decay(factor[i]) for i, m in enumerate(present)}
    per = lambda arr: {m: arr[i].tolist() for i, m in enumerate(present)}  # noqa: E731
    one = lambda arr: {m: float(arr[i]) for i, m in enumerate(present)}  # noqa: E731
    P = _SECTION + "."
    vocab_words = lambda ids: [vocab.itos[i] for i in ids]  # noqa: E731
    mm = {
        "modifiers": metric(P + "modifiers", list(present)),
        "missing_modifiers": metric(P + "missing_modifiers", absent),
        "n_contexts": metric(P + "n_contexts", C, split_size=len(split.texts)),
        "max_gap": metric(P + "max_gap", max_gap),
        "settle": metric(P + "settle", settle),
        "words": {"positive": vocab_words(pos), "negative": vocab_words(neg), "neutral": vocab_words(neu[:20]),
                  "source": source},
        "factor": metric(P + "factor", per(factor), settle=settle),
        "factor_ci_low": metric(P + "factor_ci_low", per(lo), n_boot=n_boot),
        "factor_ci_high": metric(P + "factor_ci_high", per(hi), n_boot=n_boot),
        "factor_median_ratio": metric(P + "factor_median_ratio", per(med)),
        "reach": metric(P + "reach", reach),
        "factor_tau": metric(P + "factor_tau", tau_f),
        "excursion_norm": metric(P + "excursion_norm", one(np.median(e0_norm, axis=1))),
        "excursion_readout": metric(P + "excursion_readout", one(np.median(e0 @ w, axis=1))),
        "lasting_readout": metric(P + "lasting_readout", one(np.median(exc[:, -1] @ w, axis=1)), steps=T),
        "excursion_top_share": metric(P + "excursion_top_share", {**{m: s[0] for m, s in zip(present, shares)},
                                                                  "all": joint[0]}),
        "excursion_participation_ratio": metric(P + "excursion_participation_ratio",
                                                {**{m: s[1] for m, s in zip(present, shares)}, "all": joint[1],
                                                 "lifetime": life[1]}, K=max_gap),
        "excursion_tangent_cos": metric(P + "excursion_tangent_cos", one(np.median(cos_t, axis=1))),
        "excursion_line_angle_deg": metric(P + "excursion_line_angle_deg",
                                           one(np.degrees(np.arccos(np.clip(np.median(cos_t, axis=1), 0, 1))))),
        "return_tau_trajectory": metric(P + "return_tau_trajectory",
                                        {m: decay_time_constant(ratio[i]) for i, m in enumerate(present)}, steps=T),
        "return_tau_eigen": metric(P + "return_tau_eigen", one(tau_eig), n=n_eig),
        "n_slow_modes_excursion": metric(P + "n_slow_modes_excursion", one(slow_exc), n=n_eig),
        "n_slow_modes_control": metric(P + "n_slow_modes_control", slow_ctrl, n=n_eig),
        "complex_top_fraction": metric(P + "complex_top_fraction", {**one(complex_exc), "control": complex_ctrl}),
        "predicted_factor": metric(P + "predicted_factor", per(pred)),
        "prediction_correlation": metric(P + "prediction_correlation", corr, n=M * max_gap),
        "prediction_ratio_median": metric(P + "prediction_ratio_median", ratio_pm),
        "predicted_factor_readout": metric(P + "predicted_factor_readout", per(pred_w)),
        "prediction_readout_correlation": metric(P + "prediction_readout_correlation", corr_w),
        "prediction_readout_ratio_median": metric(P + "prediction_readout_ratio_median", ratio_w),
    }
    if truth_factor is not None:
        mm["truth_factor"] = metric(P + "truth_factor", per(truth_factor))
    if absent:
        out.missing.append({"what": f"modifier factors and subspace of {absent}",
                            "why": "not in the model's vocabulary"})
    a = out.arrays
    a.update(mod_names=np.array(present), mod_factor=factor, mod_ci_low=lo, mod_ci_high=hi, mod_predicted=pred, mod_predicted_readout=pred_w,
             mod_return=ratio, mod_excursion_readout=(e0 @ w).astype(np.float32))
    if truth_factor is not None:
        a["mod_truth"] = truth_factor
    if eig_exc is not None:
        a.update(mod_eig_excursion=eig_exc.astype(np.complex64), mod_eig_control=eig_ctrl.astype(np.complex64))
    a.update(_view_3d(net, vocab, present, h_prefix, mod_ids, control, fillers, pos, nodes, e0, truth))
    mm["seconds"] = metric(P + "seconds", time.perf_counter() - t0)
    out.metrics[_SECTION] = mm
    out.seconds = time.perf_counter() - t0
    return out


def _truth_factors(truth, vocab, prefixes, lead_ids, fillers, words, max_gap, settle) -> np.ndarray:
    """The factor the corpus's rules give, measured the same way on the true score (a few contexts)."""
    itos = vocab.itos
    M = lead_ids.shape[0] - 1
    out = np.full((M, max_gap), np.nan)
    for k in range(1, max_gap + 1):
        eff = np.zeros((M + 1, len(prefixes), len(words)))
        for c, pre in enumerate(prefixes):
            head = [itos[i] for i in pre]
            for i in range(M + 1):
                chain = [itos[lead_ids[i, c]]] + [itos[j] for j in fillers[c]]
                after = chain[k + 1:k + 1 + settle]
                base = truth.score(head + chain[:k + 1] + after)[0]
                for j, wid in enumerate(words):
                    eff[i, c, j] = truth.score(head + chain[:k] + [itos[wid]] + after)[0] - base
        for i in range(M):
            out[i, k - 1] = ls_ratio(eff[i], eff[M])
    return out


@torch.no_grad()
def _view_3d(net, vocab, present, h_prefix, mod_ids, control, fillers, pos, nodes, e0, truth) -> dict:
    """Arrays of the report's 3-D view: trajectories of "<modifier> <word> <fillers>" and "<word> <fillers>" (the
    word after the context's control) for a few contexts, in a basis of the line (first axis: the chord of
    the slow manifold) and the top two directions of the excursions normal to it."""
    stoi = vocab.stoi
    leads = [m for m in ("not", "very") if m in present] or list(present[:2])
    word = "good" if "good" in stoi else vocab.itos[pos[0]]      # the paper's example when the vocabulary has it
    if truth is not None and getattr(truth, "valence", None):
        ones = [i for i in pos if truth.valence.get(vocab.itos[i]) == 1.0]
        word = vocab.itos[ones[0]] if ones else word
    chord = nodes[-1] - nodes[0]
    u1 = chord / max(np.linalg.norm(chord), 1e-300)
    E = e0.reshape(-1, e0.shape[-1])
    E = E - np.outer(E @ u1, u1)
    _, _, Vt = np.linalg.svd(E, full_matrices=False)
    basis = np.stack([u1, Vt[0], Vt[1] if Vt.shape[0] > 1 else np.zeros_like(u1)])
    origin = nodes.mean(0)
    n_ex = min(5, h_prefix.shape[0])
    wid = stoi[word]
    seqs, names = [], []
    for lead in leads + [None]:
        rows = []
        for c in range(n_ex):
            toks = ([stoi[lead]] if lead is not None else [int(control[c])]) + [wid] + fillers[c, :6].tolist()
            h = h_prefix[c:c + 1]
            states = [h]
            for t in toks:
                h = net.step(net.emb[torch.tensor([t])], h)
                states.append(h)
            rows.append(torch.cat(states).double().numpy())
        seqs.append(np.stack(rows))
        names.append(f"{lead} {word}" if lead is not None else f"{word} (after a neutral word)")
    S = np.stack(seqs)                                                 # [n_seq, n_ex, L, S]
    return {"mod_3d_traj": (S - origin) @ basis.T, "mod_3d_nodes": (nodes - origin) @ basis.T,
            "mod_3d_names": np.array(names), "mod_3d_word": np.array(word)}


def analyze_modifiers(checkpoint_or_model, corpus, *, vocab=None, bow=None, modifiers=DEFAULT_MODIFIERS,
                      strict: bool | None = None, words=None, split: str = "test", max_gap: int = 8, n_contexts: int = 200,
                      n_words: int = 20, n_neutral: int = 50, return_steps: int = 20, n_eig_contexts: int = 50,
                      n_boot: int = 1000, settle: int = 0, min_count: int = 10, max_length: int | None = None,
                      input_point: str = "zero", slow_manifold=None, seed: int = 0) -> ModifierAnalysis:
    """How modifier words bend the integration of a trained sentiment RNN (definitions: the module docstring).

    Args:
        checkpoint_or_model: a checkpoint folder, a ``Checkpoint``, or a ``SentimentRNN`` (then ``vocab=``).
        corpus: an ``rnnlens.data.Corpus``; contexts are prefixes of its ``split`` documents; a synthetic
            corpus's ``truth`` chooses the words and adds the true factors (``truth_factor``).
        bow: bag-of-words coefficients (``BagOfWords``, its JSON file or ``{word: coef}``) choosing the valenced
            and neutral words on real corpora; without one, the network's own valence is used.
        modifiers: the modifier tokens (a list, or a comma-separated string). With the default list, those
            missing from the vocabulary are reported under ``missing_modifiers`` (and in ``missing``); with a
            list of your own, a missing one is an ArgumentError unless ``strict=False``.
        words: the valenced words to measure with, ``{"positive": [...], "negative": [...]}``; None chooses
            them (see the module docstring).
        max_gap: gaps k = 1..max_gap between the modifier and the word.
        n_contexts, n_words, n_neutral: contexts (prefixes), valenced words of each sign, neutral words.
        return_steps: filler tokens after the modifier over which the return to the line is followed.
        n_eig_contexts: contexts whose excursion states are linearized for the eigenmodes (0: skip).
        n_boot: bootstrap resamples for the confidence intervals (0: none).
        settle: filler tokens read after the word before the readout (0: right after the word).
        min_count: a bag-of-words word must have been seen this often in training to be chosen.
        input_point: x* for the Jacobians: ``"zero"`` (the paper) or ``"mean"`` (mean embedding).
        slow_manifold: a traced :class:`rnnlens.manifold.SlowManifold` of this model at x* (traced here
            when None).

    Returns a :class:`ModifierAnalysis` (metrics under the section ``modifiers``).
    """
    model, vocab = _resolve(checkpoint_or_model, vocab)
    if split not in corpus.splits:
        raise DataError(f"analyze_modifiers: corpus {corpus.name!r} has no {split!r} split (it has "
                        f"{sorted(corpus.splits)}); pass split= one of those")
    if input_point not in ("zero", "mean"):
        raise ArgumentError(f"analyze_modifiers: input_point={input_point!r}: choose 'zero' (the paper) or 'mean'")
    n_classes = getattr(model, "num_classes", None)
    if n_classes is not None and n_classes != corpus.num_classes:
        raise DataError(f"analyze_modifiers: the model classifies {n_classes} labels but corpus {corpus.name!r} has "
                        f"{corpus.num_classes}; analyze it on the dataset it was trained on")
    emb = model.embedding.weight.detach().double()
    x_star = emb[1:].mean(0) if input_point == "mean" else torch.zeros(emb.shape[1], dtype=torch.float64)
    return measure_modifiers(model, vocab, corpus.splits[split], truth=getattr(corpus, "truth", None), bow=bow,
                             modifiers=modifiers, strict=strict, words=words, max_gap=max_gap, n_contexts=n_contexts,
                             n_words=n_words, n_neutral=n_neutral, return_steps=return_steps,
                             n_eig_contexts=n_eig_contexts, n_boot=n_boot, settle=settle, min_count=min_count,
                             max_length=max_length, x_star=x_star, slow_manifold=slow_manifold, seed=seed)
