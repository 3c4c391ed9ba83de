"""Progress on stderr: one on/off switch, a tqdm bar for long loops and one-line messages.

Everything rnnlens shows while it works goes through here, so one switch turns it on or off. The switch
has two parts: ``bars`` (tqdm bars, for a terminal) and ``lines`` (one plain line per step, also readable
in a log file). It is off by default; :func:`show` turns it on for a block (a run), and lasts in the
current thread (a :class:`contextvars.ContextVar`; threads started inside see it off)::

    from rnnlens import progress

    with progress.show(bars=sys.stderr.isatty(), lines=True):
        analyze(network, corpus)

Inside, :func:`track` wraps a loop in a bar (nothing when bars are off: the iterable is passed through)
and :func:`say` prints a line (through tqdm when a bar is open, so the bar stays intact). No torch here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Shown", "show", "shown", "track", "say"]

T = TypeVar("T")


@dataclass(frozen=True)
class Shown:
    """What is shown: ``bars`` (tqdm bars on stderr) and ``lines`` (messages on stderr)."""

    bars: bool = False
    lines: bool = False


_SHOWN: ContextVar[Shown] = ContextVar("rnnlens_progress", default=Shown())


def shown() -> Shown:
    """What is shown now (off unless inside :func:`show`)."""
    return _SHOWN.get()


@contextmanager
def show(bars: bool = True, lines: bool = True) -> Iterator[Shown]:
    """Show bars and/or lines inside the block (the previous setting comes back after it)."""
    token = _SHOWN.set(Shown(bool(bars), bool(lines)))
    try:
        yield _SHOWN.get()
    finally:
        _SHOWN.reset(token)


def track(
    iterable: Iterable[T],
    desc: str,
    total: int | None = None,
    *,
    unit: str = "it",
    describe: Callable[[T], str] | None = None,
    leave: bool = False,
) -> Iterator[T]:
    """The items of ``iterable``, with a tqdm bar on stderr while bars are shown (``desc`` its label,
    ``total`` its length when ``iterable`` has none; ``describe(item)``, when given, relabels the bar for
    each item). With bars off the items come through untouched and nothing is imported."""
    if not _SHOWN.get().bars:
        yield from iterable
        return
    from tqdm.auto import tqdm

    with tqdm(iterable, desc=desc, total=total, unit=unit, leave=leave, file=sys.stderr, dynamic_ncols=True) as bar:
        for item in bar:
            if describe is not None:
                bar.set_description_str(f"{desc}: {describe(item)}")
            yield item


def say(message: str) -> None:
    """Print ``message`` on stderr while lines are shown (through tqdm when bars are, so a bar stays whole)."""
    now = _SHOWN.get()
    if not now.lines:
        return
    if now.bars:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)
    else:
        print(message, file=sys.stderr, flush=True)
