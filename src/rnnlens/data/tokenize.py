"""Word-level tokenizer and vocabulary.

Tokenization rules (:func:`tokenize`):

* lowercase; HTML line breaks (``<br />``, ``<br>``, ``<br/>``) become spaces; the typographic
  apostrophe ``’`` is read as ``'``;
* contractions are split the way the Penn Treebank and the Stanford Sentiment Treebank split them,
  so IMDB text and SST text give the same tokens: ``don't`` -> ``do n't``, ``can't`` -> ``ca n't``,
  ``it's`` -> ``it 's``, ``we've`` -> ``we 've`` (``'s 're 've 'll 'd 'm`` are split off);
  ``n't`` therefore is one token that carries the negation;
* words are runs of letters/digits/underscore, hyphenated words stay whole (``re-imagining``);
* punctuation is split off: every punctuation character is its own token, except runs of
  ``.``, ``!``, ``?`` and ``-`` which stay one token (``...``, ``!!``, ``--``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from rnnlens.errors import ArgumentError

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1

_BR = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
_TOKEN = re.compile(
    r"\w+(?=n't\b)"  # "do" in "don't"
    r"|n't\b"  # the negation itself
    r"|'(?:s|re|ve|ll|d|m)\b"  # clitics: 's 're 've 'll 'd 'm
    r"|\w+(?:-\w+)*"  # words, hyphenated words whole
    r"|\.+|!+|\?+|-+"  # runs of . ! ? - as one token
    r"|[^\w\s]"  # any other punctuation character alone
)


def tokenize(text: str) -> list[str]:
    """Split ``text`` into lowercase word and punctuation tokens (rules in the module docstring).

    Args:
        text: the document; HTML line breaks (``<br />``) count as spaces, and a typographic apostrophe as ``'``.

    Returns:
        The tokens, in the order of the text (an empty list when there are none).
    """
    text = text.lower()
    if "<br" in text:
        text = _BR.sub(" ", text)
    if "\u2019" in text:
        text = text.replace("\u2019", "'")
    return _TOKEN.findall(text)


def is_empty_text(text: str) -> bool:
    """True when ``text`` yields no tokens (only whitespace and HTML line breaks)."""
    if not text.strip():
        return True
    return "<" in text and not _BR.sub(" ", text).strip()


class Vocab:
    """Token <-> id mapping with ``<pad>`` = 0 and ``<unk>`` = 1.

    ``itos[i]`` is the token of id ``i``; ``stoi`` the reverse. Tokens not in the vocabulary encode
    as ``<unk>``.

    Args:
        itos: the tokens by id, starting with ``<pad>`` and ``<unk>``, each once (copied).
        settings: how the vocabulary was built (:meth:`build` records its arguments and counts); None: none.

    Raises:
        ArgumentError: ``itos`` not starting with ``<pad>``, ``<unk>``, or listing a token twice.
    """

    def __init__(self, itos: list[str], *, settings: dict | None = None):
        if list(itos[:2]) != [PAD, UNK]:
            raise ArgumentError(f"a vocabulary must start with {PAD!r}, {UNK!r}; got {itos[:2]!r}")
        if len(set(itos)) != len(itos):
            raise ArgumentError("a vocabulary lists a token twice")
        self.itos: list[str] = list(itos)
        self.stoi: dict[str, int] = {tok: i for i, tok in enumerate(self.itos)}
        self.settings: dict = dict(settings or {})

    @classmethod
    def build(cls, texts: Iterable[str], *, max_size: int | None = None, min_count: int = 1) -> Vocab:
        """Build from ``texts`` (strings, or already tokenized lists of tokens).

        Keeps tokens seen at least ``min_count`` times, most frequent first (ties alphabetical), and
        at most ``max_size`` entries in total *including* ``<pad>`` and ``<unk>``. ``settings``
        records the arguments and how many distinct tokens were seen and kept.

        Args:
            texts: the documents (strings are split by :func:`tokenize`) or their token lists.
            max_size: the most entries, ``<pad>`` and ``<unk>`` included (at least 2); None: no limit.
            min_count: the fewest times a token must occur to be kept (at least 1).

        Returns:
            The new :class:`Vocab`.

        Raises:
            ArgumentError: ``max_size`` not an integer >= 2 (or None), or ``min_count`` not an integer >= 1.
        """
        if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
            raise ArgumentError(f"max_size must be an integer >= 2 (room for <pad> and <unk>); got {max_size!r}")
        if not isinstance(min_count, int) or min_count < 1:
            raise ArgumentError(f"min_count must be an integer >= 1; got {min_count!r}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(tokenize(text) if isinstance(text, str) else text)
        counts.pop(PAD, None)
        counts.pop(UNK, None)
        kept = sorted((tok for tok, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            kept = kept[: max_size - 2]
        settings = {
            "max_size": max_size,
            "min_count": min_count,
            "n_types_seen": len(counts),
            "n_types_kept": len(kept),
        }
        return cls([PAD, UNK, *kept], settings=settings)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str | list[str]) -> np.ndarray:
        """Token ids (int64) of ``text`` (a string, or a list of tokens); unknown tokens -> 1."""
        tokens = tokenize(text) if isinstance(text, str) else text
        get = self.stoi.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int64, count=len(tokens))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        return [self.itos[int(i)] for i in ids]

    def to_dict(self) -> dict:
        """A JSON-ready description (``{"itos": [...], "settings": {...}}``)."""
        return {"itos": list(self.itos), "settings": dict(self.settings)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        """Inverse of :meth:`to_dict`.

        Args:
            d: ``{"itos": [...], "settings": {...}}`` (``settings`` may be absent).

        Returns:
            The :class:`Vocab`.

        Raises:
            ArgumentError: ``d`` not a dict with an ``itos`` list, or an ``itos`` the constructor refuses.
        """
        if not isinstance(d, dict) or not isinstance(d.get("itos"), list):
            raise ArgumentError("a vocabulary dict needs an 'itos' list of tokens")
        return cls(d["itos"], settings=d.get("settings"))

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocab({len(self)} tokens)"
