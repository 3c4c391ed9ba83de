"""The recurrent cells: the paper's four (:mod:`rnnlens.cells.paper`: vanilla, UGRNN, GRU, LSTM) and four whose
state update is elementwise linear at a fixed input (:mod:`rnnlens.cells.diagonal`: minGRU, minLSTM, LRU, S6),
all :class:`Cell` objects (:mod:`rnnlens.cells.base`), built by name with :func:`make_cell`."""

from __future__ import annotations

from rnnlens.cells.base import Cell
from rnnlens.cells.diagonal import DiagonalCell, LRUCell, MinGRUCell, MinLSTMCell, S6Cell
from rnnlens.cells.paper import GRUCell, LSTMCell, UGRNNCell, VanillaCell, cell_from_torch, cell_of_layer
from rnnlens.constants import ARCHS, INITS
from rnnlens.errors import ArgumentError

__all__ = [
    "ARCHS",
    "INITS",
    "Cell",
    "VanillaCell",
    "GRUCell",
    "LSTMCell",
    "UGRNNCell",
    "DiagonalCell",
    "MinGRUCell",
    "MinLSTMCell",
    "LRUCell",
    "S6Cell",
    "make_cell",
    "cell_from_torch",
    "cell_of_layer",
]

_CELLS = {c.arch: c for c in (VanillaCell, GRUCell, LSTMCell, UGRNNCell, MinGRUCell, MinLSTMCell, LRUCell, S6Cell)}


def make_cell(arch: str, input_size: int, hidden_size: int, *, fast_path: str | None = None) -> Cell:
    """Build a cell by name: one of ``ARCHS``, the paper's ``"vanilla"``, ``"ugrnn"``, ``"gru"``, ``"lstm"`` and the
    elementwise-linear ``"mingru"``, ``"minlstm"``, ``"lru"``, ``"s6"`` (:mod:`rnnlens.cells.diagonal`).

    ``fast_path`` picks how :meth:`Cell.final_state` runs: ``"fused"`` (torch's kernel; the default
    for vanilla/gru/lstm) or ``"scan"`` (hand-written BPTT; the only one for the UGRNN; the chunked scan of
    :mod:`rnnlens.scan` for the elementwise-linear cells). It can be
    changed later by setting ``cell.fast_path``; both give the same numbers.

    Args:
        arch: the architecture's name.
        input_size: I, the width of each input vector (a positive integer).
        hidden_size: N, the number of units (a positive integer; the LSTM's state has 2N numbers).
        fast_path: ``"fused"`` or ``"scan"``; None: the architecture's default (its first fast path).

    Returns:
        The new :class:`Cell` (torch's initial weights; no trained initial state).

    Raises:
        ArgumentError: an unknown ``arch``, a size that is not a positive integer, or a ``fast_path`` the
            architecture does not have.
    """
    if arch not in _CELLS:
        raise ArgumentError(f"unknown architecture arch={arch!r}: choose one of {', '.join(ARCHS)}.")
    return _CELLS[arch](input_size, hidden_size, fast_path=fast_path)
