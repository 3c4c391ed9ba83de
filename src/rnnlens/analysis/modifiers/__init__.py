"""Contextual processing: how modifier words bend the integration (the ICML 2020 follow-up).

Words such as "not", "never", "very" or "extremely" carry little valence of their own. A network that
learned them pushes the state off its line attractor into a low-dimensional *modifier subspace*;
words read while the state is there are integrated with flipped or scaled valence, and the state
returns to the line within a few tokens. :func:`analyze_modifiers` measures this with the network
itself, in four parts (the options named below are the fields of the ``modifiers`` settings group).

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

The package: :mod:`.estimators` (the ratios, intervals, reach and time constants), :mod:`.words` (modifiers and
word choice), :mod:`.dynamics` (the network's side, through :class:`rnnlens.network.Network`), :mod:`.design`
(contexts, slow manifold, words: every random draw), :mod:`.measure` (the four parts), :mod:`.summary` (metric
nodes, arrays, the 3-D view) and :mod:`.entry` (:func:`analyze_modifiers`, :func:`pipeline_measurement`).
"""

from rnnlens.analysis.modifiers.design import ModifierRequest
from rnnlens.analysis.modifiers.entry import analyze_modifiers, pipeline_measurement
from rnnlens.analysis.modifiers.estimators import (
    bootstrap_ratio,
    decay_time_constant,
    factor_reach,
    fit_factor_decay,
    ls_ratio,
    median_ratio,
    participation_ratio,
)
from rnnlens.analysis.modifiers.measure import measure_modifiers
from rnnlens.analysis.modifiers.result import ModifierAnalysis
from rnnlens.analysis.modifiers.words import MODIFIER_LIKE, check_modifier_list, split_present
from rnnlens.constants import DEFAULT_MODIFIERS

__all__ = [
    "DEFAULT_MODIFIERS",
    "MODIFIER_LIKE",
    "ModifierAnalysis",
    "ModifierRequest",
    "analyze_modifiers",
    "measure_modifiers",
    "check_modifier_list",
    "split_present",
    "pipeline_measurement",
    "ls_ratio",
    "bootstrap_ratio",
    "median_ratio",
    "fit_factor_decay",
    "factor_reach",
    "participation_ratio",
    "decay_time_constant",
]
